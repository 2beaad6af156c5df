use std::io;
use std::path::{Path, PathBuf};
use std::str::Utf8Error;

use super::PluginKind;

/// Why a plugin could not be loaded or called. Every variant names the library's path.
///
/// Loading checks stop at the first problem, in the order of the variants below (see the
/// [module docs](super#loading)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// Nothing exists at the configured path.
    #[error("plugin library {} does not exist", .path.display())]
    #[non_exhaustive]
    NotFound {
        /// The path as configured.
        path: PathBuf,
        /// The error resolving it.
        source: io::Error,
    },

    /// The path exists but cannot be resolved or inspected (permissions, ...).
    #[error("cannot access plugin library {}", .path.display())]
    #[non_exhaustive]
    Inaccessible {
        /// The path as configured.
        path: PathBuf,
        /// The error resolving it.
        source: io::Error,
    },

    /// The path is a directory or another non-regular file.
    #[error("plugin path {} is not a regular file", .path.display())]
    #[non_exhaustive]
    NotAFile {
        /// The resolved path.
        path: PathBuf,
    },

    /// The dynamic loader refused the file: not a shared library, wrong architecture, missing
    /// dependencies.
    #[error("{} is not a loadable shared library", .path.display())]
    #[non_exhaustive]
    NotALibrary {
        /// The resolved path.
        path: PathBuf,
        /// The loader's error.
        source: libloading::Error,
    },

    /// The library does not export the entry symbol.
    #[error(
        "{} is not an llmtrace plugin: it does not export `{}`",
        .path.display(), llmtrace_plugin_abi::ENTRY_SYMBOL_NAME
    )]
    #[non_exhaustive]
    MissingEntry {
        /// The resolved path.
        path: PathBuf,
        /// The loader's error.
        source: libloading::Error,
    },

    /// The entry function returned a null or misaligned pointer.
    #[error(
        "{} is not an llmtrace plugin: `{}` returned {problem}",
        .path.display(), llmtrace_plugin_abi::ENTRY_SYMBOL_NAME
    )]
    #[non_exhaustive]
    BadEntry {
        /// The resolved path.
        path: PathBuf,
        /// What is wrong with the pointer.
        problem: &'static str,
    },

    /// The header does not start with the llmtrace magic number.
    #[error(
        "{} is not an llmtrace plugin: wrong magic number {found:#018x} (expected {expected:#018x})",
        .path.display()
    )]
    #[non_exhaustive]
    WrongMagic {
        /// The resolved path.
        path: PathBuf,
        /// The magic number found.
        found: u64,
        /// [`ABI_MAGIC`](llmtrace_plugin_abi::ABI_MAGIC).
        expected: u64,
    },

    /// The plugin was built for another major version of the C ABI.
    #[error(
        "plugin {} has an incompatible ABI major version: found {found}, expected {expected}",
        .path.display()
    )]
    #[non_exhaustive]
    IncompatibleAbi {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's ABI major.
        found: u16,
        /// The host's ABI major.
        expected: u16,
    },

    /// The plugin declares a kind this host does not know.
    #[error("plugin {} declares an unknown kind ({found})", .path.display())]
    #[non_exhaustive]
    UnknownKind {
        /// The resolved path.
        path: PathBuf,
        /// The raw kind value.
        found: u32,
    },

    /// The plugin is of another kind than the one configured (a provider in an exporter
    /// section, or the other way round).
    #[error(
        "plugin {} is of the wrong kind: found {found}, expected {expected}",
        .path.display()
    )]
    #[non_exhaustive]
    WrongKind {
        /// The resolved path.
        path: PathBuf,
        /// What the plugin is.
        found: PluginKind,
        /// What was asked for.
        expected: PluginKind,
    },

    /// The declared size is too small for the declaration of its kind.
    #[error(
        "plugin {} declares a {kind} declaration of {found} bytes, smaller than the {required} \
         bytes ABI {} requires",
        .path.display(), llmtrace_plugin_abi::ABI_MAJOR
    )]
    #[non_exhaustive]
    DeclTooSmall {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's kind.
        kind: PluginKind,
        /// The declared size.
        found: u32,
        /// The size of the declaration the host reads.
        required: usize,
    },

    /// A header string is not UTF-8.
    #[error("plugin {}: its {field} is not valid UTF-8", .path.display())]
    #[non_exhaustive]
    InvalidUtf8 {
        /// The resolved path.
        path: PathBuf,
        /// Which header field (`name`, `plugin_version`, `api_version`).
        field: &'static str,
        /// Where the bytes go wrong.
        source: Utf8Error,
    },

    /// A required function pointer of the declaration is null.
    #[error("plugin {name} ({}) declares no `{function}` function", .path.display())]
    #[non_exhaustive]
    MissingFunction {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The missing function.
        function: &'static str,
    },

    /// The plugin returned bytes that are not the expected JSON.
    #[error("plugin {name} ({}) returned invalid JSON as its {what}", .path.display())]
    #[non_exhaustive]
    InvalidJson {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// Which payload (`response`, `error`).
        what: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },

    /// The plugin reported a failure (also when `create` refuses the options).
    #[error("plugin {name} ({}) returned an error ({kind}): {message}", .path.display())]
    #[non_exhaustive]
    Plugin {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The plugin's error kind (`rate_limited`, `invalid_request`, ...).
        kind: String,
        /// The plugin's message.
        message: String,
        /// Whether the plugin says a retry may help.
        retryable: bool,
    },

    /// The plugin panicked in this call. The instance is poisoned: it is never called again.
    #[error("plugin {name} ({}) panicked and is now poisoned: {message}", .path.display())]
    #[non_exhaustive]
    Panicked {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// The panic message.
        message: String,
    },

    /// The instance panicked in an earlier call and is no longer called.
    #[error(
        "plugin {name} ({}) is poisoned by an earlier panic and is no longer called",
        .path.display()
    )]
    #[non_exhaustive]
    Poisoned {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's name.
        name: String,
    },

    /// An isolated plugin's process died, hung past its call timeout, or broke the pipe
    /// protocol during a call. Only that call fails: the process is restarted for the next.
    #[error(
        "plugin {name} ({}) failed in its isolated process: {detail}; it is restarted for the \
         next call",
        .path.display()
    )]
    #[non_exhaustive]
    Crashed {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// How the process ended, or what it did wrong.
        detail: String,
    },

    /// The child process that hosts an isolated plugin cannot be started or talked to.
    #[error("cannot run plugin {} in a child process: {detail}", .path.display())]
    #[non_exhaustive]
    Isolation {
        /// The resolved path.
        path: PathBuf,
        /// What failed.
        detail: String,
        /// The system's error.
        source: io::Error,
    },

    /// The child process of an isolated plugin could not load or create it; `message` is its
    /// error, as an in-process load would have said it.
    #[error("{message}")]
    #[non_exhaustive]
    IsolatedLoad {
        /// The resolved path.
        path: PathBuf,
        /// The child's error message (it names the library).
        message: String,
    },

    /// The plugin broke the calling convention (an unknown status, no instance, a payload
    /// of an unknown schema).
    #[error("plugin {name} ({}) broke the plugin protocol: {detail}", .path.display())]
    #[non_exhaustive]
    Protocol {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's name.
        name: String,
        /// What went wrong.
        detail: String,
    },
}

impl PluginError {
    /// The library the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PluginError::NotFound { path, .. }
            | PluginError::Inaccessible { path, .. }
            | PluginError::NotAFile { path }
            | PluginError::NotALibrary { path, .. }
            | PluginError::MissingEntry { path, .. }
            | PluginError::BadEntry { path, .. }
            | PluginError::WrongMagic { path, .. }
            | PluginError::IncompatibleAbi { path, .. }
            | PluginError::UnknownKind { path, .. }
            | PluginError::WrongKind { path, .. }
            | PluginError::DeclTooSmall { path, .. }
            | PluginError::InvalidUtf8 { path, .. }
            | PluginError::MissingFunction { path, .. }
            | PluginError::InvalidJson { path, .. }
            | PluginError::Plugin { path, .. }
            | PluginError::Panicked { path, .. }
            | PluginError::Poisoned { path, .. }
            | PluginError::Protocol { path, .. }
            | PluginError::Crashed { path, .. }
            | PluginError::Isolation { path, .. }
            | PluginError::IsolatedLoad { path, .. } => path,
        }
    }

    /// Whether trying the same call again may succeed: only for failures the plugin itself
    /// reports as retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PluginError::Plugin {
                retryable: true,
                ..
            }
        )
    }
}
