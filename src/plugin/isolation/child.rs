//! The child side: `llmtrace plugin-host` loads one plugin and serves the host's calls over
//! stdin/stdout until the host closes stdin.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use llmtrace_plugin_abi::{Bytes, Status};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::protocol::{self, Op, Reply};
use crate::plugin::instance::Instance;
use crate::plugin::loader::{self, Vtable};
use crate::plugin::provider::generate_raw;
use crate::plugin::{AbiVersion, PluginError, PluginInfo, PluginKind};

/// A status no plugin returns: the child itself failed (loading, a protocol error of the
/// plugin); the error buffer is the message.
pub(super) const HOST_FAILURE: u32 = u32::MAX;

/// What the child tells the host about the plugin it loaded.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Hello {
    pub(super) name: String,
    pub(super) plugin_version: String,
    pub(super) abi_major: u16,
    pub(super) abi_minor: u16,
    pub(super) api_version: Option<String>,
    pub(super) thread_safe: bool,
}

impl Hello {
    fn new(info: &PluginInfo) -> Self {
        Hello {
            name: info.name.clone(),
            plugin_version: info.plugin_version.clone(),
            abi_major: info.abi_version.major,
            abi_minor: info.abi_version.minor,
            api_version: info.api_version.clone(),
            thread_safe: info.thread_safe,
        }
    }

    pub(super) fn into_info(self, path: std::path::PathBuf, kind: PluginKind) -> PluginInfo {
        PluginInfo {
            path,
            name: self.name,
            kind,
            plugin_version: self.plugin_version,
            abi_version: AbiVersion {
                major: self.abi_major,
                minor: self.abi_minor,
            },
            api_version: self.api_version,
            thread_safe: self.thread_safe,
        }
    }
}

/// Serves one plugin of `kind` at `path` to the parent process, over this process's stdin and
/// stdout, until stdin closes. Blocking. This is what the hidden `llmtrace plugin-host`
/// subcommand runs; the host starts it for plugins configured with `isolation = "process"`.
///
/// The plugin's own writes to stdout go to stderr (the protocol keeps stdout for itself).
/// With `memory_limit_mb`, the process's address space is limited first (Unix
/// `RLIMIT_AS`), so a plugin that allocates without bound fails here, not in the host.
///
/// # Errors
/// When the pipes cannot be set up or break.
pub fn serve_plugin_host(
    path: &Path,
    kind: PluginKind,
    memory_limit_mb: Option<u64>,
) -> io::Result<()> {
    let protocol_out = take_stdout()?;
    if let Some(limit) = memory_limit_mb {
        limit_memory(limit.saturating_mul(1 << 20))?;
    }
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(protocol_out);

    let Some((Op::Create, options)) = protocol::read_request(&mut input)? else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the first request must create the plugin",
        ));
    };
    let (instance, vtable) = match create(path, kind, &options) {
        Ok(created) => created,
        Err(reply) => return protocol::write_reply(&mut output, &reply),
    };
    let hello = serde_json::to_vec(&Hello::new(instance.info())).map_err(io::Error::other)?;
    protocol::write_reply(&mut output, &ok(hello))?;

    while let Some((op, body)) = protocol::read_request(&mut input)? {
        let result = match (op, vtable) {
            (Op::Export, Vtable::Exporter(vtable)) => instance
                .call(|raw, err| {
                    // SAFETY: `export` is this exporter plugin's, checked when loading; `raw`
                    // is the live instance, used by this thread only; `body` outlives the
                    // call; `err` is a valid place for a buffer.
                    unsafe { (vtable.export)(raw, Bytes::borrowed(&body), err) }
                })
                .map(|()| Vec::new()),
            (Op::Flush, Vtable::Exporter(vtable)) => instance
                .call(|raw, err| {
                    // SAFETY: as for `export`, for `flush`.
                    unsafe { (vtable.flush)(raw, err) }
                })
                .map(|()| Vec::new()),
            (Op::Generate, Vtable::Provider(vtable)) => {
                generate_raw(&instance, vtable.generate, &body)
            }
            (op, _) => Err(crate::plugin::instance::protocol(
                instance.info(),
                format!("the host asked a {} for {op:?}", kind),
            )),
        };
        let reply = match result {
            Ok(body) => ok(body),
            Err(error) => failure(&error),
        };
        protocol::write_reply(&mut output, &reply)?;
    }
    Ok(())
}

fn create(path: &Path, kind: PluginKind, options: &[u8]) -> Result<(Instance, Vtable), Reply> {
    let options: Value = serde_json::from_slice(options).map_err(|error| Reply {
        status: HOST_FAILURE,
        err: format!("invalid options from the host: {error}").into_bytes(),
        body: Vec::new(),
    })?;
    // Loading errors travel as their text, which names the library as in process.
    let host_failure = |error: PluginError| Reply {
        status: HOST_FAILURE,
        err: error.to_string().into_bytes(),
        body: Vec::new(),
    };
    let loaded = loader::load(path, Some(kind)).map_err(host_failure)?;
    let common = match loaded.vtable {
        Vtable::Exporter(vtable) => vtable.common,
        Vtable::Provider(vtable) => vtable.common,
    };
    let instance = Instance::create(loaded.info, common, &options).map_err(host_failure)?;
    Ok((instance, loaded.vtable))
}

fn ok(body: Vec<u8>) -> Reply {
    Reply {
        status: Status::OK.0,
        err: Vec::new(),
        body,
    }
}

/// A failure as the plugin reported it (so the host reads it as it would in process), or as
/// [`HOST_FAILURE`] with the error's text.
fn failure(error: &PluginError) -> Reply {
    let (status, err) = match error {
        PluginError::Plugin {
            kind,
            message,
            retryable,
            ..
        } => (
            Status::ERROR.0,
            serde_json::json!({ "kind": kind, "message": message, "retryable": retryable })
                .to_string()
                .into_bytes(),
        ),
        PluginError::Panicked { message, .. } => (Status::PANICKED.0, message.clone().into_bytes()),
        other => (HOST_FAILURE, other.to_string().into_bytes()),
    };
    Reply {
        status,
        err,
        body: Vec::new(),
    }
}

/// A new handle on the real stdout for the protocol; fd 1 then points to stderr, so that
/// whatever the plugin prints cannot corrupt the protocol.
#[cfg(unix)]
fn take_stdout() -> io::Result<File> {
    use std::os::fd::FromRawFd;

    io::stdout().flush()?;
    // SAFETY: `dup` of fd 1, which is open (the host made it a pipe); the new descriptor is
    // owned by the `File` below and by nothing else.
    let protocol = unsafe { libc::dup(libc::STDOUT_FILENO) };
    if protocol < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are open; `dup2` only re-points fd 1.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `protocol` is a fresh descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(protocol) })
}

#[cfg(not(unix))]
fn take_stdout() -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "process isolation of plugins needs a Unix system",
    ))
}

/// Limits this process's address space to `bytes` (`RLIMIT_AS`).
#[cfg(unix)]
fn limit_memory(bytes: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    };
    // SAFETY: `limit` is a valid `rlimit` for the duration of the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(unix))]
fn limit_memory(_bytes: u64) -> io::Result<()> {
    Ok(())
}
