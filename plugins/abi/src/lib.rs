//! The plugin ABI of [llmtrace](https://docs.rs/llmtrace): the single source of truth shared by
//! the host and every plugin.
//!
//! A plugin is a `cdylib` that exports one C function, [`ENTRY_SYMBOL`], returning a pointer to
//! a static declaration: a frozen [`PluginHeader`] followed by `extern "C"` function pointers
//! ([`ExporterDeclV1`] or [`ProviderDeclV1`]). Only `repr(C)` types, integer newtypes and
//! byte buffers cross the boundary; the data itself travels as versioned JSON (see
//! [`payload`]). No Rust trait object, future, runtime or panic ever crosses it.
//!
//! Plugin authors do not touch any of that: they implement a safe trait and call one macro.
//!
//! # Writing an exporter
//!
//! ```
//! use llmtrace_plugin_abi::{ExporterPlugin, PluginError, TraceRecord};
//!
//! /// Counts the traces it sees.
//! struct Counter {
//!     seen: u64,
//! }
//!
//! impl ExporterPlugin for Counter {
//!     fn create(options: serde_json::Value) -> Result<Self, PluginError> {
//!         let start = options.get("start").and_then(|v| v.as_u64()).unwrap_or(0);
//!         Ok(Counter { seen: start })
//!     }
//!
//!     fn export(&mut self, records: Vec<TraceRecord>) -> Result<(), PluginError> {
//!         self.seen += records.len() as u64;
//!         Ok(())
//!     }
//! }
//!
//! llmtrace_plugin_abi::export_exporter!(Counter);
//! ```
//!
//! # Writing a provider
//!
//! ```
//! use llmtrace_plugin_abi::{GenerateRequest, GenerateResponse, PluginError, ProviderPlugin, Usage};
//!
//! /// Answers in capitals.
//! struct Shout;
//!
//! impl ProviderPlugin for Shout {
//!     fn create(_options: serde_json::Value) -> Result<Self, PluginError> {
//!         Ok(Shout)
//!     }
//!
//!     fn generate(&self, request: GenerateRequest) -> Result<GenerateResponse, PluginError> {
//!         let mut response = GenerateResponse::new(request.prompt.to_uppercase());
//!         response.usage = Some(Usage::new(1, 1));
//!         Ok(response)
//!     }
//! }
//!
//! // `thread_safe`: `Shout` is `Sync`, so the host may call one instance from many threads.
//! llmtrace_plugin_abi::export_provider!(Shout, thread_safe);
//! ```
//!
//! Build it with `crate-type = ["cdylib"]` and keep `panic = "unwind"` (the default): the
//! generated shims catch panics and report them to the host, which then stops calling the
//! instance. With `panic = "abort"` a plugin panic ends the host process.
//!
//! # Blocking calls, private runtimes
//!
//! Every call is blocking: the host runs it on a blocking thread (`tokio::task::spawn_blocking`),
//! never on its async executor. A plugin that needs async I/O owns a private runtime: it
//! builds one in `create`, `block_on`s inside its calls, and drops it (`shutdown_background`)
//! when the instance is dropped. It must not try to use the host's runtime: the plugin has its
//! own copy of tokio, whose thread-local context the host never sets.
//!
//! # Versions
//!
//! - [`ABI_MAJOR`] changes when the declaration layout changes incompatibly; the host refuses
//!   any other major. [`ABI_MINOR`] grows when optional functions are appended to a
//!   declaration; the host reads them only when the plugin's `decl_size` covers them.
//! - [`API_VERSION`] is this crate's semver, recorded in every header for information only:
//!   the host never checks it, so plugins in other languages leave it empty and a plugin
//!   built against any version of this crate loads in any host of the same ABI major.
//! - [`SCHEMA_VERSION`] versions the JSON payloads. Readers ignore unknown fields, so new
//!   optional fields only bump its minor.

#![allow(unsafe_code)] // the whole crate is the FFI boundary; every block says why it holds

mod ffi;
mod macros;
pub mod payload;
mod plugin;
pub mod shim;

pub use ffi::{
    Bytes, CreateFn, DestroyFn, ExportFn, ExporterDeclV1, Flags, FlushFn, FreeBufFn, GenerateFn,
    Kind, OwnedBuf, PluginHeader, ProviderDeclV1, Status,
};
pub use payload::{
    ExportBatch, GenerateRequest, GenerateResponse, Message, Parameters, ProviderRequest,
    ProviderResponse, Tool, ToolCall, TraceError, TraceRecord, TraceResponse, Usage,
};
pub use plugin::{ExporterPlugin, PluginError, ProviderPlugin, error_kind};

/// First field of every header: the bytes `LLMTRACE` read as a little-endian `u64`
/// (a literal so that the generated C header carries it).
pub const ABI_MAGIC: u64 = 0x45434152544D4C4C;

/// Major version of the C ABI. The host refuses a plugin with any other major.
pub const ABI_MAJOR: u16 = 1;

/// Minor version of the C ABI: counts optional additions to the declarations.
pub const ABI_MINOR: u16 = 0;

/// Name of the function every plugin exports, NUL-terminated. Never renamed.
pub const ENTRY_SYMBOL: &[u8] = b"llmtrace_plugin_entry\0";

/// [`ENTRY_SYMBOL`] without its NUL, for messages.
pub const ENTRY_SYMBOL_NAME: &str = "llmtrace_plugin_entry";

/// The semver of this crate, written into every plugin header as `api_version`
/// (informational: `llmtrace plugin check` shows it; the host never checks it).
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Version of the JSON payload envelopes (`{"schema": "1.0", ...}`).
pub const SCHEMA_VERSION: &str = "1.0";

/// Whether a payload of schema `schema` can be read by this crate: same major version.
///
/// ```
/// assert!(llmtrace_plugin_abi::schema_is_compatible("1.3"));
/// assert!(!llmtrace_plugin_abi::schema_is_compatible("2.0"));
/// ```
pub fn schema_is_compatible(schema: &str) -> bool {
    let major = |s: &str| s.split('.').next().map(str::to_owned);
    major(schema).is_some_and(|m| Some(m) == major(SCHEMA_VERSION))
}
