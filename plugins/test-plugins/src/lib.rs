//! Plugins that misbehave on purpose, for llmtrace's plugin tests.
//!
//! Each example of this package is one test plugin (a `cdylib`):
//!
//! | example | what it is |
//! |---|---|
//! | `test_exporter` | [`TestExporter`], exported with the real macro |
//! | `test_provider` | [`TestProvider`], exported with the real macro, not thread-safe |
//! | `test_wrong_magic` | a provider whose header has the wrong magic number |
//! | `test_abi_major` | a provider declaring the next ABI major |
//! | `test_api_version` | a provider built "against" llmtrace-plugin-abi 99.0.0 |
//! | `test_small_decl` | a provider whose declared size is smaller than a declaration |
//! | `test_invalid_utf8` | a provider whose name is not UTF-8 |
//! | `test_null_entry` | an entry function returning null |
//! | `test_no_entry` | a library without the entry function |
//! | `test_invalid_json` | a provider answering with bytes that are not JSON |
//!
//! The broken headers are built from [`provider_decl`] with one field changed, so each
//! plugin is wrong in exactly one way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use llmtrace_plugin_abi::{
    ExporterPlugin, GenerateRequest, GenerateResponse, PluginError, ProviderDeclV1, ProviderPlugin,
    TraceRecord, Usage,
};
use serde_json::Value;

/// What a test plugin does on each call, from its `mode` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Work normally (`"ok"`, the default).
    Ok,
    /// Return an error (`"error"`); retryable when the `retryable` option is true.
    Error,
    /// Panic (`"panic"`).
    Panic,
    /// Write through a null pointer (`"segfault"`): SIGSEGV.
    Segfault,
    /// Abort the process (`"abort"`): SIGABRT.
    Abort,
    /// Never return (`"hang"`).
    Hang,
    /// Allocate and touch memory until the allocator gives up (`"allocate"`).
    Allocate,
}

impl Mode {
    /// Does what the crashing modes do; returns for the others.
    fn misbehave(self) {
        match self {
            Mode::Segfault => {
                let null = std::hint::black_box(std::ptr::null_mut::<u64>());
                // SAFETY: it is not: this write crashes the process on purpose.
                #[allow(unsafe_code)]
                unsafe {
                    null.write_volatile(1)
                };
            }
            Mode::Abort => std::process::abort(),
            Mode::Hang => loop {
                std::thread::park();
            },
            Mode::Allocate => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    // 64 MiB at a time, every page touched so that it is really used.
                    hoard.push(vec![1; 64 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Ok | Mode::Error | Mode::Panic => {}
        }
    }
}

/// The options both test plugins understand.
#[derive(Debug, Clone)]
struct Options {
    mode: Mode,
    delay: Duration,
    retryable: bool,
    path: Option<String>,
    records_path: Option<String>,
    crash_on: Option<String>,
}

impl Options {
    /// The mode for a record or request with this prompt: `mode` applies to every prompt,
    /// or only to the `crash_on` one when that option is set.
    fn mode_for(&self, prompt: &str) -> Mode {
        match &self.crash_on {
            Some(crash_on) if crash_on != prompt => Mode::Ok,
            _ => self.mode,
        }
    }
}

fn options(options: &Value) -> Result<Options, PluginError> {
    if let Some(message) = options.get("fail_create").and_then(Value::as_str) {
        return Err(PluginError::invalid_request(message));
    }
    let mode = match options.get("mode").and_then(Value::as_str).unwrap_or("ok") {
        "ok" => Mode::Ok,
        "error" => Mode::Error,
        "panic" => Mode::Panic,
        "segfault" => Mode::Segfault,
        "abort" => Mode::Abort,
        "hang" => Mode::Hang,
        "allocate" => Mode::Allocate,
        other => {
            return Err(PluginError::invalid_request(format!(
                "unknown mode {other:?}"
            )));
        }
    };
    Ok(Options {
        mode,
        delay: Duration::from_millis(options.get("delay_ms").and_then(Value::as_u64).unwrap_or(0)),
        retryable: options
            .get("retryable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        path: options
            .get("path")
            .and_then(Value::as_str)
            .map(str::to_owned),
        records_path: options
            .get("records_path")
            .and_then(Value::as_str)
            .map(str::to_owned),
        crash_on: options
            .get("crash_on")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// An exporter for tests. Options: `mode` ([`Mode`]), `crash_on` (a prompt: `mode` then
/// applies to that record only), `delay_ms` (sleep in every export), `retryable`, `path` (a
/// file it appends each record's `trace_id` to, one per line), `records_path` (a file it
/// appends each whole record it was given to, as a JSON line), and `fail_create` (a message
/// `create` fails with).
#[derive(Debug)]
pub struct TestExporter {
    options: Options,
}

impl ExporterPlugin for TestExporter {
    fn create(options: Value) -> Result<Self, PluginError> {
        Ok(TestExporter {
            options: self::options(&options)?,
        })
    }

    fn export(&mut self, records: Vec<TraceRecord>) -> Result<(), PluginError> {
        std::thread::sleep(self.options.delay);
        for record in &records {
            match self.options.mode_for(&record.prompt) {
                Mode::Error => {
                    return Err(PluginError::internal("export refused on purpose")
                        .with_retryable(self.options.retryable));
                }
                Mode::Panic => panic!("test exporter panicked on purpose"),
                mode => mode.misbehave(),
            }
        }
        if let Some(path) = &self.options.path {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| PluginError::internal(format!("cannot open {path}: {e}")))?;
            for record in &records {
                writeln!(file, "{}", record.trace_id)
                    .map_err(|e| PluginError::internal(format!("cannot write {path}: {e}")))?;
            }
        }
        if let Some(path) = &self.options.records_path {
            append(
                path,
                records.iter().map(|r| serde_json::json!(r).to_string()),
            )?;
        }
        Ok(())
    }
}

/// Appends `lines` to the file at `path`.
fn append(path: &str, lines: impl Iterator<Item = String>) -> Result<(), PluginError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| PluginError::internal(format!("cannot open {path}: {e}")))?;
    for line in lines {
        writeln!(file, "{line}")
            .map_err(|e| PluginError::internal(format!("cannot write {path}: {e}")))?;
    }
    Ok(())
}

/// A provider for tests, declared not thread-safe. Answers `test: {prompt}` after `delay_ms`,
/// and fails with "concurrent call" when it finds itself called while another call on the
/// same instance is in progress (which the host must prevent). Options as for
/// [`TestExporter`]; an `error` mode fails as `rate_limited`.
#[derive(Debug)]
pub struct TestProvider {
    options: Options,
    in_flight: AtomicUsize,
}

impl ProviderPlugin for TestProvider {
    fn create(options: Value) -> Result<Self, PluginError> {
        Ok(TestProvider {
            options: self::options(&options)?,
            in_flight: AtomicUsize::new(0),
        })
    }

    fn generate(&self, request: GenerateRequest) -> Result<GenerateResponse, PluginError> {
        // An atomic rather than a `Cell`: if the host broke its promise, this reports it
        // instead of racing.
        let concurrent = self.in_flight.fetch_add(1, Ordering::SeqCst) > 0;
        std::thread::sleep(self.options.delay);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if concurrent {
            return Err(PluginError::internal(
                "concurrent call on a non-thread-safe instance",
            ));
        }
        match self.options.mode_for(&request.prompt) {
            Mode::Ok => {
                let mut response = GenerateResponse::new(format!("test: {}", request.prompt));
                response.usage = Some(Usage::new(3, 2));
                response.finish_reason = Some("stop".to_owned());
                Ok(response)
            }
            Mode::Error => Err(PluginError::rate_limited("upstream says slow down")),
            Mode::Panic => panic!("test provider panicked on purpose"),
            mode => {
                mode.misbehave();
                unreachable!("{mode:?} does not return")
            }
        }
    }
}

/// A correct declaration of [`TestProvider`], for the examples to break one field of.
pub const fn provider_decl() -> ProviderDeclV1 {
    ProviderDeclV1::new::<TestProvider>(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

/// Defines `llmtrace_plugin_entry` returning a pointer to the static declaration built by
/// the expression given, as the real export macros do.
#[macro_export]
macro_rules! provider_entry {
    ($decl:expr) => {
        static DECLARATION: ::llmtrace_plugin_abi::ProviderDeclV1 = $decl;

        #[allow(unsafe_code)] // `no_mangle` is what makes the entry findable
        #[unsafe(no_mangle)]
        extern "C" fn llmtrace_plugin_entry() -> *const ::llmtrace_plugin_abi::PluginHeader {
            (&raw const DECLARATION).cast::<::llmtrace_plugin_abi::PluginHeader>()
        }
    };
}
