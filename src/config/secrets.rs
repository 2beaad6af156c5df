//! Whether the environment variables a configuration names as holding secrets are set, so
//! that `check-config` reports a missing key before anything runs. Names only: the values are
//! never read into a message.

use super::error::{ConfigIssue, Origin};
use super::{Config, ConfigError, ExporterKind, HttpProviderConfig, ProviderConfig};
use crate::provider::{AnthropicProvider, OpenAiProvider};

impl Config {
    /// Checks that every environment variable named as holding a secret is set and not empty:
    /// the provider's `api_key_env` (or the provider's default variable where it needs a key),
    /// each exporter's `secret_headers`; and the variable of a `session` layer's `env`.
    ///
    /// # Errors
    /// Every variable that is missing, by the key that names it; `file` is the file the
    /// configuration was loaded from, for the message.
    pub fn check_environment(&self, file: Option<&std::path::Path>) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        let mut require = |key: String, var: &str| {
            if std::env::var_os(var).is_none_or(|value| value.is_empty()) {
                issues.push(ConfigIssue {
                    key,
                    message: format!("environment variable {var} is not set"),
                    origin: Origin::Nowhere,
                });
            }
        };
        let api_key = |http: &HttpProviderConfig, default: Option<&'static str>| {
            http.api_key_env.clone().or(default.map(str::to_owned))
        };
        let api_key_env = match &self.provider {
            ProviderConfig::Openai(http) => api_key(
                http,
                http.base_url
                    .is_none()
                    .then_some(OpenAiProvider::DEFAULT_API_KEY_ENV),
            ),
            ProviderConfig::Anthropic(http) => {
                api_key(http, Some(AnthropicProvider::DEFAULT_API_KEY_ENV))
            }
            ProviderConfig::Ollama(http) => api_key(http, None),
            ProviderConfig::Echo { .. } | ProviderConfig::Plugin { .. } => None,
        };
        if let Some(var) = api_key_env {
            require("provider.api_key_env".to_owned(), &var);
        }
        for (name, exporter) in &self.exporters {
            let secret_headers = match &exporter.kind {
                ExporterKind::Webhook { secret_headers, .. } => secret_headers,
                ExporterKind::Otlp(options) => &options.secret_headers,
                _ => continue,
            };
            for (header, var) in secret_headers {
                require(format!("exporters.{name}.secret_headers.{header}"), var);
            }
        }
        issues.extend(self.check_layers());
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                file: file.map(std::path::Path::to_path_buf),
                issues,
            })
        }
    }
}
