//! Build a whole stack from a TOML file: provider, buffer, metadata, exporters.
//!
//! Values come from, in order of precedence (later wins): the built-in defaults, the TOML file,
//! then `LLMTRACE_*` environment variables, with `__` between nested keys
//! (`LLMTRACE_TRACING__MAX_TRACES=500`, `LLMTRACE_EXPORTERS__ARCHIVE__PATH=/var/log/t.jsonl`).
//!
//! Loading is strict: unknown keys, values of the wrong type, unknown `type`s, missing required
//! keys, sizes that must be positive, and a missing file are all rejected before anything is
//! built, and every problem is reported at once, each with its key path, the bad value and
//! where it was set. `config/default.toml` lists every option at its default.
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
mod error;
mod parse;
mod reader;
#[cfg(test)]
mod tests;

pub use error::{ConfigError, ConfigIssue, Origin};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
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
            verbatim: false,
            events: false,
        }
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
    },
}

impl Config {
    /// Loads defaults, then `path` (when given), then `LLMTRACE_*` environment variables.
    ///
    /// # Errors
    /// Every problem found, each with its key and origin; a missing file is an error.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.is_file() {
                let message = if path.exists() {
                    "is not a file"
                } else {
                    "does not exist"
                };
                return Err(ConfigError::single(
                    Some(path.to_owned()),
                    "",
                    format!("{} {message}", path.display()),
                    Origin::Nowhere,
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed(reader::ENV_PREFIX).split("__"));
        Self::from_figment(&figment, path.map(Path::to_path_buf))
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
