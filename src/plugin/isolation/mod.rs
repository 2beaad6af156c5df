//! Process isolation: a plugin in a child process (`llmtrace plugin-host`), so that its crash,
//! abort, hang or memory blow-up costs only its own in-flight call.
//!
//! The child loads the same library with the same loader and serves the same JSON payloads
//! over pipes ([`protocol`]). When it dies, hangs past the call timeout, writes garbage or
//! panics, the host kills it, fails that one call with [`PluginError::Crashed`], and starts a
//! new child (with the same options) for the next call, after a back-off that doubles from
//! 100 ms to 5 s while it keeps failing and resets on the first success. A restarted plugin
//! starts from a fresh state.

mod child;
mod protocol;

use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use llmtrace_plugin_abi::Status;
use serde_json::Value;

pub use child::serve_plugin_host;
pub(super) use protocol::Op;

use super::{PluginError, PluginInfo, PluginKind, instance, loader};

/// Environment variable naming the program that hosts isolated plugins (an `llmtrace`
/// binary), when [`ProcessIsolation::host_binary`] does not.
pub const HOST_BINARY_ENV: &str = "LLMTRACE_PLUGIN_HOST";

/// Where a plugin runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// In this process (the default, and the fastest): the plugin is trusted code, and its
    /// crash ends the process.
    #[default]
    InProcess,
    /// In a child process of its own (`isolation = "process"`).
    Process(ProcessIsolation),
}

/// Settings of a plugin running in a child process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessIsolation {
    /// Address-space limit of the child, in MiB (Unix `RLIMIT_AS`); `None` for no limit.
    pub memory_limit_mb: Option<u64>,
    /// How long one call may take before the child is killed.
    pub call_timeout: Duration,
    /// The `llmtrace` binary that hosts the plugin: this, else the `LLMTRACE_PLUGIN_HOST`
    /// environment variable, else the running executable.
    pub host_binary: Option<PathBuf>,
}

impl Default for ProcessIsolation {
    fn default() -> Self {
        ProcessIsolation {
            memory_limit_mb: None,
            call_timeout: Self::DEFAULT_CALL_TIMEOUT,
            host_binary: None,
        }
    }
}

impl ProcessIsolation {
    /// [`call_timeout`](Self::call_timeout) unless set.
    pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

    /// Sets [`memory_limit_mb`](Self::memory_limit_mb).
    pub fn with_memory_limit_mb(mut self, memory_limit_mb: Option<u64>) -> Self {
        self.memory_limit_mb = memory_limit_mb;
        self
    }

    /// Sets [`call_timeout`](Self::call_timeout).
    pub fn with_call_timeout(mut self, call_timeout: Duration) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    /// Sets [`host_binary`](Self::host_binary).
    pub fn with_host_binary(mut self, host_binary: impl Into<PathBuf>) -> Self {
        self.host_binary = Some(host_binary.into());
        self
    }

    fn binary(&self) -> Result<PathBuf, std::io::Error> {
        match (&self.host_binary, std::env::var_os(HOST_BINARY_ENV)) {
            (Some(binary), _) => Ok(binary.clone()),
            (None, Some(binary)) => Ok(binary.into()),
            (None, None) => std::env::current_exe(),
        }
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A plugin instance living in a child process, restarted when it fails.
pub(super) struct Isolated {
    info: Arc<PluginInfo>,
    binary: PathBuf,
    options: Vec<u8>,
    settings: ProcessIsolation,
    state: Mutex<State>,
    /// The running child's pid (0: none), for killing it on a timeout. A dead child keeps its
    /// pid until it is waited for, which only the call that owns it does.
    pid: AtomicU32,
}

#[derive(Default)]
struct State {
    running: Option<Running>,
    backoff: Option<Duration>,
    restart_at: Option<Instant>,
}

struct Running {
    process: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Isolated {
    /// Starts the child for the plugin at `path` and creates the instance. Blocking.
    pub(super) fn start(
        path: &Path,
        kind: PluginKind,
        options: &Value,
        settings: &ProcessIsolation,
    ) -> Result<Self, PluginError> {
        let path = loader::resolve(path)?;
        let binary = settings.binary().map_err(|source| PluginError::Isolation {
            path: path.clone(),
            detail: "cannot find the llmtrace binary to host it".to_owned(),
            source,
        })?;
        let options = options.to_string().into_bytes();
        let pid = AtomicU32::new(0);
        let (running, hello) = spawn(&binary, &path, kind, settings, &options, &pid)?;
        let info = Arc::new(hello.into_info(path, kind));
        let isolated = Isolated {
            info,
            binary,
            options,
            settings: settings.clone(),
            pid,
            state: Mutex::new(State {
                running: Some(running),
                ..State::default()
            }),
        };
        Ok(isolated)
    }

    pub(super) fn info(&self) -> &Arc<PluginInfo> {
        &self.info
    }

    /// One call, under the call timeout: the reply's body. Calls are serialized.
    pub(super) async fn call(
        self: &Arc<Self>,
        op: Op,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, PluginError> {
        // The restart back-off is waited for here, asynchronously and outside the call
        // timeout. `try_lock`: a held lock means a call in progress, hence a running child.
        let restart_at = match self.state.try_lock() {
            Ok(state) if state.running.is_none() => state.restart_at,
            _ => None,
        };
        if let Some(restart_at) = restart_at {
            tokio::time::sleep_until(restart_at.into()).await;
        }
        let this = self.clone();
        let call = tokio::task::spawn_blocking(move || this.call_blocking(op, &body));
        match tokio::time::timeout(self.settings.call_timeout, call).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(self.crashed(format!("the call did not complete: {join}"))),
            Err(_) => {
                // The blocked call sees its pipe close, reaps the child and arms the restart.
                self.kill();
                Err(self.crashed(format!(
                    "no answer within {:?}, so its process was killed",
                    self.settings.call_timeout
                )))
            }
        }
    }

    fn call_blocking(&self, op: Op, body: &[u8]) -> Result<Vec<u8>, PluginError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.running.is_none() {
            if let Some(restart_at) = state.restart_at {
                // The back-off was waited for in `call`; this covers a call that raced it.
                std::thread::sleep(restart_at.saturating_duration_since(Instant::now()));
            }
            match spawn(
                &self.binary,
                &self.info.path,
                self.info.kind,
                &self.settings,
                &self.options,
                &self.pid,
            ) {
                Ok((running, _)) => state.running = Some(running),
                Err(error) => {
                    state.arm_restart();
                    return Err(error);
                }
            }
        }
        let running = state.running.as_mut().expect("started above");
        let exchanged = protocol::write_request(&mut running.stdin, op, body)
            .and_then(|()| protocol::read_reply(&mut running.stdout));
        let reply = match exchanged {
            Ok(reply) => reply,
            Err(error) => {
                // A closed pipe only means the process is gone: how it ended says more.
                let what = match error.kind() {
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => String::new(),
                    _ => error.to_string(),
                };
                let detail = state.stop(&self.pid, &what);
                return Err(self.crashed(detail));
            }
        };
        if reply.status == Status::PANICKED.0 {
            // A fresh process is a clean instance: restart rather than poison.
            state.stop(&self.pid, "");
        } else {
            state.backoff = None;
        }
        if reply.status == child::HOST_FAILURE {
            return Err(instance::protocol(
                &self.info,
                String::from_utf8_lossy(&reply.err).into_owned(),
            ));
        }
        instance::outcome(&self.info, Status(reply.status), &reply.err)?;
        Ok(reply.body)
    }

    fn kill(&self) {
        let pid = self.pid.load(Ordering::Acquire);
        if pid != 0 {
            kill(pid);
        }
    }

    fn crashed(&self, detail: String) -> PluginError {
        PluginError::Crashed {
            path: self.info.path.clone(),
            name: self.info.name.clone(),
            detail,
        }
    }
}

impl State {
    /// Kills and reaps the child; says how it ended, after `what` went wrong.
    fn stop(&mut self, pid: &AtomicU32, what: &str) -> String {
        let mut detail = what.to_owned();
        if let Some(mut running) = self.running.take() {
            let _ = running.process.kill();
            pid.store(0, Ordering::Release);
            if let Ok(status) = running.process.wait() {
                let ended = describe_exit(status);
                detail = if detail.is_empty() {
                    ended
                } else {
                    format!("{ended} ({detail})")
                };
            }
        }
        self.arm_restart();
        detail
    }

    fn arm_restart(&mut self) {
        let backoff = self
            .backoff
            .map_or(FIRST_BACKOFF, |backoff| (backoff * 2).min(MAX_BACKOFF));
        self.backoff = Some(backoff);
        self.restart_at = Some(Instant::now() + backoff);
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = state.running.take() {
            // Closing stdin tells the child to destroy the instance and exit; it is reaped on
            // a thread of its own so that dropping never waits for a plugin.
            let Running {
                mut process,
                stdin,
                stdout,
            } = running;
            drop(stdin);
            drop(stdout);
            std::thread::spawn(move || process.wait());
        }
    }
}

/// Starts a child and creates the instance in it.
fn spawn(
    binary: &Path,
    path: &Path,
    kind: PluginKind,
    settings: &ProcessIsolation,
    options: &[u8],
    pid: &AtomicU32,
) -> Result<(Running, child::Hello), PluginError> {
    let isolation_error = |detail: String, source: std::io::Error| PluginError::Isolation {
        path: path.to_owned(),
        detail,
        source,
    };
    let mut command = Command::new(binary);
    command
        .args(["plugin-host", "--kind", kind.as_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(limit) = settings.memory_limit_mb {
        command.args(["--memory-limit-mb", &limit.to_string()]);
    }
    command.arg(path);
    let mut process = command
        .spawn()
        .map_err(|source| isolation_error(format!("cannot start {}", binary.display()), source))?;
    // Known before `create` runs, so that a hanging `create` can be killed too.
    pid.store(process.id(), Ordering::Release);
    let (Some(stdin), Some(stdout)) = (process.stdin.take(), process.stdout.take()) else {
        unreachable!("both pipes were asked for")
    };
    let mut running = Running {
        process,
        stdin: BufWriter::new(stdin),
        stdout: BufReader::new(stdout),
    };
    let reply = protocol::write_request(&mut running.stdin, Op::Create, options)
        .and_then(|()| protocol::read_reply(&mut running.stdout));
    let reply = match reply {
        Ok(reply) => reply,
        Err(source) => {
            let _ = running.process.kill();
            pid.store(0, Ordering::Release);
            let ended = running
                .process
                .wait()
                .map(describe_exit)
                .unwrap_or_default();
            return Err(isolation_error(
                format!(
                    "its host process {} failed to start it: {ended}",
                    binary.display()
                ),
                source,
            ));
        }
    };
    if reply.status != Status::OK.0 {
        let _ = running.process.kill();
        pid.store(0, Ordering::Release);
        let _ = running.process.wait();
        return Err(PluginError::IsolatedLoad {
            path: path.to_owned(),
            message: String::from_utf8_lossy(&reply.err).into_owned(),
        });
    }
    let hello: child::Hello = serde_json::from_slice(&reply.body).map_err(|error| {
        isolation_error(
            "its host process answered with an unreadable description".to_owned(),
            std::io::Error::other(error),
        )
    })?;
    Ok((running, hello))
}

/// "exited with status 3", "killed by signal 11 (SIGSEGV)".
fn describe_exit(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGILL => " (SIGILL)",
                libc::SIGFPE => " (SIGFPE)",
                _ => "",
            };
            return format!("its process was killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("its process exited with status {code}"),
        None => "its process ended".to_owned(),
    }
}

#[cfg(unix)]
fn kill(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: a plain system call. `pid` is our own child, not yet reaped (only the call that
    // owns the child reaps it, after this), so the pid cannot name another process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[cfg(not(unix))]
fn kill(_pid: u32) {}
