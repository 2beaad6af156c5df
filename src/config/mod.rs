//! Build a whole stack from a TOML file: provider, buffer, metadata, exporters.
//!
//! Values come from, in order of precedence (later wins): the built-in defaults, the TOML file,
//! then `LLMTRACE_*` environment variables, with `__` between nested keys
//! (`LLMTRACE_TRACING__MAX_TRACES=500`, `LLMTRACE_EXPORTERS__ARCHIVE__PATH=/var/log/t.jsonl`).
//!
//! Loading is strict: unknown keys, values of the wrong type, unknown `type`s, missing required
//! keys, sizes and durations out of their bounds, URLs that are not http(s) with a host, names
//! of environment variables that are not names (or look like the secret itself), and a missing
//! file are all rejected before anything is built, and every problem is reported at once, each
//! with its key path, the bad value (unless it may be a secret) and where it was set.
//! [`Config::check_environment`] then reports the secret variables that are not set.
//! `config/default.toml` lists every option at its default, with its bound.
//!
//! ```
//! use llmtrace::config::Config;
//!
//! let config = Config::from_toml_str(r#"
//!     [tracing]
//!     max_traces = 500
//!
//!     [metadata]
//!     environment = "dev"
//! "#).unwrap();
//! assert_eq!(config.tracing.max_traces, 500);
//!
//! let error = Config::from_toml_str("[tracing]\nmax_trace = 5\nenabled = \"yes\"").unwrap_err();
//! assert_eq!(error.issues.len(), 2); // both problems, not just the first
//! assert_eq!(error.issues[0].key, "tracing.enabled");
//! ```

mod build;
mod env;
mod error;
mod limits;
mod parse;
mod reader;
mod redact;
mod sample;
mod secrets;
#[cfg(test)]
mod tests;
mod validate;

pub use error::{ConfigError, ConfigIssue, Origin};
pub use redact::{RedactConfig, RuleConfig};
pub use sample::SampleConfig;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Serialize;

use crate::Metadata;
use crate::exporter::{OtlpOptions, Overflow, StdoutFormat};

/// A complete, validated configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The model provider.
    pub provider: ProviderConfig,
    /// Trace capture and the ring buffer.
    pub tracing: TracingConfig,
    /// Metadata recorded in every trace.
    pub metadata: Metadata,
    /// Named exporters.
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// `[redact]`: the redaction policy applied to every record; none when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redact: Option<RedactConfig>,
    /// `[sample]`: the sample policy of exporters without their own; none when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            provider: ProviderConfig::Echo {
                model: crate::provider::EchoProvider::DEFAULT_MODEL.to_owned(),
                latency_ms: 0,
            },
            tracing: TracingConfig::default(),
            metadata: Metadata::new(),
            exporters: BTreeMap::new(),
            redact: None,
            sample: None,
        }
    }
}

/// `[tracing]`: capture and the ring buffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracingConfig {
    /// Whether the trace layer is in the stack.
    pub enabled: bool,
    /// Ring buffer size; 0 keeps none (exporters still get every trace).
    pub max_traces: usize,
    /// Bound on the buffered records' estimated size in bytes; absent: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Buffered records older than this many milliseconds are dropped; absent: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
    /// Keep the provider's raw response in traces.
    pub verbatim: bool,
    /// Also emit one `tracing` event per generation (target `llmtrace`).
    pub events: bool,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_traces: 100,
            max_bytes: None,
            max_age_ms: None,
            verbatim: false,
            events: false,
        }
    }
}

impl TracingConfig {
    /// The ring buffer's eviction policy these keys describe.
    pub fn eviction(&self) -> crate::sink::EvictionPolicy {
        let mut policy = crate::sink::EvictionPolicy::new(self.max_traces);
        if let Some(max_bytes) = self.max_bytes {
            policy = policy.max_bytes(max_bytes);
        }
        if let Some(max_age_ms) = self.max_age_ms {
            policy = policy.max_age(std::time::Duration::from_millis(max_age_ms));
        }
        policy
    }
}

/// `[provider]`: which model server answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ProviderConfig {
    /// The built-in offline provider.
    Echo {
        /// Model name reported in traces.
        model: String,
        /// Simulated latency.
        latency_ms: u64,
    },
    /// An OpenAI-compatible chat completions server.
    Openai(HttpProviderConfig),
    /// Ollama's native API.
    Ollama(HttpProviderConfig),
    /// Anthropic's Messages API.
    Anthropic(HttpProviderConfig),
    /// A provider plugin (a `cdylib` built against `llmtrace-plugin-abi`).
    Plugin {
        /// The library.
        path: PathBuf,
        /// Calls in flight at most.
        max_concurrency: usize,
        /// Passed to the plugin as JSON.
        options: serde_json::Map<String, serde_json::Value>,
        /// Where it runs.
        #[serde(flatten)]
        isolation: PluginIsolation,
    },
}

/// Settings shared by the HTTP providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpProviderConfig {
    /// The model to ask for.
    pub model: String,
    /// Server base URL; the provider's public endpoint when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Longest a stream may go without a byte; `timeout_ms` unless set.
    pub stall_timeout_ms: u64,
    /// Longest a streamed call may take in all.
    pub stream_timeout_ms: u64,
}

/// `[exporters.<name>]`: one exporter and how it is fed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExporterConfig {
    /// What kind of exporter, with its own settings.
    #[serde(flatten)]
    pub kind: ExporterKind,
    /// Queue capacity.
    pub queue_size: usize,
    /// Records per batch.
    pub batch_size: usize,
    /// Longest wait for a batch to fill.
    pub batch_interval_ms: u64,
    /// Full queue behaviour.
    pub overflow: Overflow,
    /// Retries of retryable failures.
    pub max_retries: u32,
    /// First retry delay, doubled each retry.
    pub retry_initial_backoff_ms: u64,
    /// Longest retry delay.
    pub retry_max_backoff_ms: u64,
    /// Longest wait at shutdown for this exporter's queue; what is left is dropped.
    pub shutdown_timeout_ms: u64,
    /// Which records it is sent (`sample = { ratio = 0.05 }`); `[sample]`, else all, when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleConfig>,
}

/// The exporter types and their own settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ExporterKind {
    /// Print to standard output.
    Stdout {
        /// `jsonl` or `markdown`.
        format: StdoutFormat,
    },
    /// Append JSON lines to a file.
    Jsonl {
        /// The file.
        path: PathBuf,
        /// Rotate before the file grows past this size.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_bytes: Option<u64>,
        /// Rotated files kept.
        max_files: u32,
    },
    /// Keep a JSON array file.
    Json {
        /// The file.
        path: PathBuf,
    },
    /// Append to a Markdown report.
    Markdown {
        /// The file.
        path: PathBuf,
    },
    /// POST JSON batches to a URL.
    Webhook {
        /// Where to POST.
        url: String,
        /// Headers sent as written.
        headers: BTreeMap<String, String>,
        /// Headers whose value is read from the named environment variable.
        secret_headers: BTreeMap<String, String>,
        /// Per-request timeout.
        timeout_ms: u64,
    },
    /// Send OpenTelemetry spans over OTLP/HTTP.
    Otlp(OtlpOptions),
    /// Keep traces in a SQLite file the viewer (`llmtrace ui`) reads.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Traces kept at most (the newest).
        #[serde(skip_serializing_if = "Option::is_none")]
        max_rows: Option<u64>,
        /// Traces older than this many seconds are deleted (`max_age` in the file: `"30d"`).
        #[serde(skip_serializing_if = "Option::is_none")]
        max_age_secs: Option<u64>,
    },
    /// An exporter plugin (a `cdylib` built against `llmtrace-plugin-abi`).
    Plugin {
        /// The library.
        path: PathBuf,
        /// Passed to the plugin as JSON.
        options: serde_json::Map<String, serde_json::Value>,
        /// Where it runs.
        #[serde(flatten)]
        isolation: PluginIsolation,
    },
}

/// Where a plugin runs: `isolation = "in_process"` (the default) or `"process"`, with
/// `memory_limit_mb` and `call_timeout_ms` for the latter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "isolation", rename_all = "snake_case")]
pub enum PluginIsolation {
    /// In the llmtrace process: trusted code, whose crash ends the process.
    InProcess,
    /// In a child process of its own, restarted when it fails.
    Process {
        /// Address-space limit of the child, in MiB.
        #[serde(skip_serializing_if = "Option::is_none")]
        memory_limit_mb: Option<u64>,
        /// How long one call may take before the child is killed.
        call_timeout_ms: u64,
    },
}

impl PluginIsolation {
    /// The plugin loader's [`Isolation`](crate::plugin::Isolation).
    pub fn to_isolation(&self) -> crate::plugin::Isolation {
        match self {
            PluginIsolation::InProcess => crate::plugin::Isolation::InProcess,
            PluginIsolation::Process {
                memory_limit_mb,
                call_timeout_ms,
            } => crate::plugin::Isolation::Process(crate::plugin::ProcessIsolation {
                memory_limit_mb: *memory_limit_mb,
                call_timeout: std::time::Duration::from_millis(*call_timeout_ms),
                ..Default::default()
            }),
        }
    }
}

impl Config {
    /// Loads defaults, then `path` (when given), then `LLMTRACE_*` environment variables.
    ///
    /// # Errors
    /// Every problem found, each with its key and origin; a missing file is an error.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if let Err(message) = check_file(path) {
                return Err(ConfigError::single(
                    Some(path.to_owned()),
                    "",
                    message,
                    Origin::Nowhere,
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let (env, env_issues) = env::provider();
        let loaded = Self::from_figment(&figment.merge(env), path.map(Path::to_path_buf));
        if env_issues.is_empty() {
            return loaded;
        }
        // The variables left out are problems too, reported with any others.
        let mut error = loaded.err().unwrap_or_else(|| ConfigError {
            file: path.map(Path::to_path_buf),
            issues: Vec::new(),
        });
        error.issues.extend(env_issues);
        Err(error)
    }

    /// Parses TOML text alone (no file, no environment), for tests and embedding.
    ///
    /// # Errors
    /// Every problem found.
    pub fn from_toml_str(toml: &str) -> Result<Self, ConfigError> {
        Self::from_figment(&Figment::from(Toml::string(toml)), None)
    }

    /// Reads a configuration out of any figment (for applications that layer their own).
    ///
    /// # Errors
    /// Every problem found.
    pub fn from_figment(figment: &Figment, file: Option<PathBuf>) -> Result<Self, ConfigError> {
        parse::parse(figment).map_err(|issues| ConfigError { file, issues })
    }

    /// The configuration with secrets masked, as TOML, for display.
    pub fn to_masked_toml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        mask_secrets(&mut value);
        toml::to_string_pretty(&value).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Checks that `path` is a file that can be read, saying why not: `Path::is_file` folds every
/// failure (a symlink loop, a denied permission) into "does not exist".
fn check_file(path: &Path) -> Result<(), String> {
    /// `ELOOP`, too many levels of symbolic links: 40 on Linux, 62 on macOS and the BSDs.
    const ELOOP: i32 = if cfg!(any(target_os = "linux", target_os = "android")) {
        40
    } else {
        62
    };
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(()),
        Ok(_) => Err(format!("{shown} is not a file")),
        Err(error) if error.raw_os_error() == Some(ELOOP) => {
            Err(format!("symlink loop at {shown}"))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{shown} does not exist"))
        }
        Err(error) => Err(format!("cannot read {shown}: {error}")),
    }
}

/// Replaces values whose key looks like a credential.
fn mask_secrets(value: &mut serde_json::Value) {
    const SECRET_WORDS: [&str; 6] = [
        "key",
        "token",
        "secret",
        "password",
        "authorization",
        "auth",
    ];
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let lower = key.to_lowercase();
                // `api_key_env` and `secret_headers` hold variable names, not secrets.
                if lower.ends_with("_env") || lower == "secret_headers" {
                    continue;
                }
                if value.is_string() && SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                    *value = "********".into();
                } else {
                    mask_secrets(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}
