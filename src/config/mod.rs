//! Build a whole stack from a TOML file: provider, buffer, metadata, exporters.
//!
//! Values come from, in order of precedence (later wins): the built-in defaults, the TOML file,
//! then `LLMTRACE_*` environment variables, with `__` between nested keys
//! (`LLMTRACE_TRACING__MAX_TRACES=500`, `LLMTRACE_EXPORTERS__ARCHIVE__PATH=/var/log/t.jsonl`).
//!
//! Loading is strict: unknown keys, values of the wrong type, unknown `type`s, missing required
//! keys, sizes and durations out of their bounds, URLs that are not http(s) with a host, header
//! names and values HTTP refuses, names of environment variables that are not names (or look
//! like the secret itself), and a missing file are all rejected before anything is built, and
//! every problem is reported at once, each with its key path, the bad value (unless it may be a
//! secret) and where it was set (the file, or the `LLMTRACE_*` variable).
//! [`Config::check_environment`] then reports the secret variables that are not set. Only
//! effectful steps wait for [`Config::build`] (reading a secret's value, opening a store,
//! loading a plugin, starting worker threads), and what fails there is reported the same way.
//! `config/default.toml` lists every option at its default, with its bound. Every duration is
//! an integer of milliseconds in a key ending in `_ms`.
//!
//! Each component kind has one registry mapping `type` to the component's reader
//! ([`provider_types`], [`exporter_types`]); each type's options struct lives beside its
//! component ([`JsonlConfig`](crate::exporter::JsonlConfig),
//! [`OpenAiConfig`](crate::provider::OpenAiConfig), ...) and builds it.
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
mod exporters;
pub(crate) mod fields;
mod layers;
pub(crate) mod limits;
mod parse;
mod prices;
mod providers;
pub(crate) mod reader;
mod redact;
mod registry;
mod sample;
pub(crate) mod secrets;
#[cfg(test)]
mod tests;
pub(crate) mod validate;

pub use error::{ConfigError, ConfigIssue, Origin};
pub(crate) use exporters::ExporterComponent;
pub use exporters::{ExporterConfig, ExporterSpec};
pub use prices::PricesConfig;
pub(crate) use providers::ProviderComponent;
pub use providers::ProviderSpec;
pub use redact::{RedactConfig, RuleConfig};
pub use sample::SampleConfig;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Serialize;

use crate::Metadata;
use crate::provider::EchoConfig;

/// A complete, validated configuration.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// The model provider: its type and options.
    pub provider: Box<dyn ProviderSpec>,
    /// Trace capture and the ring buffer.
    pub tracing: TracingConfig,
    /// Metadata recorded in every trace.
    pub metadata: Metadata,
    /// Named exporters.
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// Model prices replacing or extending the shipped table.
    #[serde(skip_serializing_if = "is_default")]
    pub prices: PricesConfig,
    /// `[redact]`: the redaction policy applied to every record; none when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redact: Option<RedactConfig>,
    /// `[sample]`: the sample policy of exporters without their own; none when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleConfig>,
    /// `[[layers]]`, outermost first, as written; empty: the default stack. See
    /// [`Config::stack`] for the stack they make.
    #[serde(skip)]
    pub layers: Vec<crate::layer::LayerSpec>,
    /// Where the values came from, for the problems found when building.
    #[serde(skip)]
    pub(crate) provenance: Provenance,
}

fn is_default(prices: &PricesConfig) -> bool {
    *prices == PricesConfig::default()
}

/// The file a configuration was read from and where each of its values was set, so that a
/// problem found when building names its origin as one found when reading does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    pub(crate) file: Option<PathBuf>,
    /// Key path -> origin, for every key read.
    pub(crate) origins: BTreeMap<String, Origin>,
}

impl Provenance {
    /// Where `key` was set: its own origin, else that of the nearest table holding it.
    pub(crate) fn origin(&self, key: &str) -> Origin {
        let mut key = key;
        loop {
            if let Some(origin) = self.origins.get(key) {
                return origin.clone();
            }
            match key.rfind('.') {
                Some(dot) => key = &key[..dot],
                None => return Origin::Nowhere,
            }
        }
    }

    /// A problem with `key` found when building, with its origin.
    pub(crate) fn issue(&self, key: String, message: String) -> ConfigIssue {
        ConfigIssue {
            origin: self.origin(&key),
            key,
            message,
        }
    }

    /// `issues` as an error naming the file.
    pub(crate) fn error(&self, issues: Vec<ConfigIssue>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            issues,
        }
    }
}

/// The `type` names of the providers, as `[provider] type` accepts them.
pub fn provider_types() -> Vec<&'static str> {
    providers::PROVIDERS.names()
}

/// The `type` names of the exporters, as `[exporters.<name>] type` accepts them.
pub fn exporter_types() -> Vec<&'static str> {
    exporters::EXPORTERS.names()
}

/// What a value that may be a secret is shown as.
pub(crate) const MASK: &str = "********";

/// A component's options as a table with `type` first.
fn tagged(type_name: &str, options: serde_json::Value) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert("type".to_owned(), type_name.into());
    if let serde_json::Value::Object(options) = options {
        map.extend(options);
    }
    serde_json::Value::Object(map)
}

/// A problem with `key` (relative to a component's table) found when building; the builder's
/// caller adds the table's path and the origin.
pub(crate) fn build_issue(key: &str, message: impl Into<String>) -> ConfigIssue {
    ConfigIssue {
        key: key.to_owned(),
        message: message.into(),
        origin: Origin::Nowhere,
    }
}

/// Equal when they say the same, wherever their values came from: a file that sets every
/// default equals the defaults.
impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            provider: Box::new(EchoConfig::default()),
            tracing: TracingConfig::default(),
            metadata: Metadata::new(),
            exporters: BTreeMap::new(),
            prices: PricesConfig::default(),
            redact: None,
            sample: None,
            layers: Vec::new(),
            provenance: Provenance::default(),
        }
    }
}

/// `[tracing]`: capture and the ring buffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
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
        parse::parse(figment, file.clone()).map_err(|issues| ConfigError { file, issues })
    }

    /// The configuration with secrets masked, as TOML, for display: every header value (headers
    /// written as they are carry tokens as often as `secret_headers` do), tokens in URLs, and
    /// values whose key names a credential.
    pub fn to_masked_toml(&self) -> String {
        let mut config = self.clone();
        config.provider.mask();
        for exporter in config.exporters.values_mut() {
            exporter.spec.mask();
        }
        let mut value = serde_json::to_value(&config).unwrap_or_default();
        if let (Some(table), false) = (value.as_object_mut(), config.layers.is_empty()) {
            let layers = config.layers.iter().map(layers::table).collect();
            table.insert("layers".into(), serde_json::Value::Array(layers));
        }
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
