//! [`Config`] -> a running [`Client`]: providers, exporters and their worker threads.

use std::time::Duration;

use super::error::{ConfigIssue, Origin};
use super::{
    Config, ConfigError, ExporterConfig, ExporterKind, HttpProviderConfig, ProviderConfig,
};
use crate::exporter::{
    Exporter, ExporterOptions, ExporterSink, JsonExporter, JsonlExporter, MarkdownExporter,
    OtlpExporter, Retention, RetryPolicy, SqliteExporter, StdoutExporter, WebhookExporter,
};
use crate::plugin::{PluginExporter, PluginProvider};
use crate::provider::{
    AnthropicProvider, BuildError, EchoProvider, OllamaProvider, OpenAiProvider, ProviderOptions,
};
use crate::sink::TracingEvents;
use crate::{Client, ClientBuilder};

impl Config {
    /// Builds the client this configuration describes: provider, tracing, metadata, and every
    /// exporter with its worker.
    ///
    /// # Errors
    /// Every component that cannot be built (an API key variable that is not set, a header
    /// secret that is missing, ...), each named by its key.
    pub fn build(&self) -> Result<Client, ConfigError> {
        let mut issues = Vec::new();
        let mut builder = Client::builder()
            .eviction(self.tracing.eviction())
            .tracing(self.tracing.enabled);
        if self.tracing.events {
            builder = builder.sink(TracingEvents::new());
        }
        let builder = self.metadata.iter().fold(builder, |builder, (key, value)| {
            builder.metadata(key.clone(), value.clone())
        });
        let builder = match self.provider(builder) {
            Ok(builder) => Some(builder),
            Err(issue) => {
                issues.push(issue);
                None
            }
        };
        let builder = match self.redact.as_ref().map(|r| r.policy()).transpose() {
            Ok(policy) => builder.map(|b| match policy {
                Some(policy) => b.redact(policy),
                None => b,
            }),
            Err(message) => {
                issues.push(ConfigIssue {
                    key: "redact".to_owned(),
                    message,
                    origin: Origin::Nowhere,
                });
                None
            }
        };
        let mut sink = ExporterSink::builder();
        if let Some(sample) = &self.sample {
            sink = sink.sample(sample.policy());
        }
        for (name, config) in &self.exporters {
            match (exporter(name, config), config.sample) {
                (Ok(exporter), None) => {
                    sink = sink.exporter(name.clone(), exporter, options(config))
                }
                (Ok(exporter), Some(sample)) => {
                    sink = sink.sampled_exporter(
                        name.clone(),
                        exporter,
                        options(config),
                        sample.policy(),
                    );
                }
                (Err(issue), _) => issues.push(issue),
            }
        }
        let (Some(builder), true) = (builder, issues.is_empty()) else {
            return Err(ConfigError { file: None, issues });
        };
        let sink = sink.build().map_err(|e| {
            let message = format!("cannot start exporter threads: {e}");
            ConfigError::single(None, "exporters", message, Origin::Nowhere)
        })?;
        Ok(builder.exporters(sink).build())
    }

    fn provider(&self, builder: ClientBuilder) -> Result<ClientBuilder, ConfigIssue> {
        let verbatim = self.tracing.verbatim;
        let options = |http: &HttpProviderConfig| {
            let mut options = ProviderOptions::new(&http.model)
                .timeout(Duration::from_millis(http.timeout_ms))
                .stall_timeout(Duration::from_millis(http.stall_timeout_ms))
                .stream_timeout(Duration::from_millis(http.stream_timeout_ms))
                .verbatim(verbatim);
            if let Some(url) = &http.base_url {
                options = options.base_url(url);
            }
            if let Some(var) = &http.api_key_env {
                options = options.api_key_env(var);
            }
            options
        };
        let built = match &self.provider {
            ProviderConfig::Echo { model, latency_ms } => Ok(builder.provider(
                EchoProvider::new()
                    .model(model)
                    .latency(Duration::from_millis(*latency_ms)),
            )),
            ProviderConfig::Openai(http) => {
                OpenAiProvider::new(options(http)).map(|p| builder.provider(p))
            }
            ProviderConfig::Ollama(http) => {
                OllamaProvider::new(options(http)).map(|p| builder.provider(p))
            }
            ProviderConfig::Anthropic(http) => {
                AnthropicProvider::new(options(http)).map(|p| builder.provider(p))
            }
            ProviderConfig::Plugin {
                path,
                max_concurrency,
                options,
                isolation,
            } => {
                let loaded = PluginProvider::load_with(
                    path,
                    serde_json::Value::Object(options.clone()),
                    &isolation.to_isolation(),
                );
                return loaded
                    .map(|p| builder.provider(p.max_concurrency(*max_concurrency)))
                    .map_err(|error| ConfigIssue {
                        key: "provider.path".to_owned(),
                        message: error.to_string(),
                        origin: Origin::Nowhere,
                    });
            }
        };
        built.map_err(|error| {
            let key = match &error {
                BuildError::MissingApiKey { .. } | BuildError::InvalidApiKey { .. } => {
                    "provider.api_key_env"
                }
                BuildError::InvalidBaseUrl { .. } => "provider.base_url",
                BuildError::MissingModel { .. } => "provider.model",
                _ => "provider",
            };
            ConfigIssue {
                key: key.to_owned(),
                message: error.to_string(),
                origin: Origin::Nowhere,
            }
        })
    }
}

fn options(config: &ExporterConfig) -> ExporterOptions {
    ExporterOptions {
        queue_size: config.queue_size,
        batch_size: config.batch_size,
        batch_interval: Duration::from_millis(config.batch_interval_ms),
        overflow: config.overflow,
        retry: RetryPolicy {
            max_retries: config.max_retries,
            initial_backoff: Duration::from_millis(config.retry_initial_backoff_ms),
            max_backoff: Duration::from_millis(config.retry_max_backoff_ms),
        },
        shutdown_timeout: Duration::from_millis(config.shutdown_timeout_ms),
    }
}

fn exporter(name: &str, config: &ExporterConfig) -> Result<Box<dyn Exporter>, ConfigIssue> {
    let issue = |key: &str, message: String| ConfigIssue {
        key: format!("exporters.{name}.{key}"),
        message,
        origin: Origin::Nowhere,
    };
    Ok(match &config.kind {
        ExporterKind::Stdout { format } => Box::new(StdoutExporter::new(*format)),
        ExporterKind::Jsonl {
            path,
            max_bytes,
            max_files,
        } => {
            let exporter = JsonlExporter::new(path).max_files(*max_files);
            Box::new(match max_bytes {
                Some(max_bytes) => exporter.max_bytes(*max_bytes),
                None => exporter,
            })
        }
        ExporterKind::Json { path } => Box::new(JsonExporter::new(path)),
        ExporterKind::Sqlite {
            path,
            max_rows,
            max_age_secs,
        } => Box::new(
            // Opened now: a bad path or a file from a newer llmtrace fails the build, named.
            SqliteExporter::new(path)
                .retention(Retention {
                    max_rows: *max_rows,
                    max_age: max_age_secs.map(Duration::from_secs),
                })
                .open()
                .map_err(|e| issue("path", e.to_string()))?,
        ),
        ExporterKind::Markdown { path } => Box::new(MarkdownExporter::new(path)),
        ExporterKind::Webhook {
            url,
            headers,
            secret_headers,
            timeout_ms,
        } => {
            let mut webhook = WebhookExporter::new(url, Duration::from_millis(*timeout_ms))
                .map_err(|e| issue("url", e.to_string()))?;
            for (header, value) in headers {
                webhook = webhook
                    .header(header, value, false)
                    .map_err(|e| issue(&format!("headers.{header}"), e.to_string()))?;
            }
            for (header, var) in secret_headers {
                let key = format!("secret_headers.{header}");
                let value = std::env::var(var)
                    .map_err(|_| issue(&key, format!("environment variable {var} is not set")))?;
                webhook = webhook
                    .header(header, &value, true)
                    .map_err(|e| issue(&key, e.to_string()))?;
            }
            Box::new(webhook)
        }
        ExporterKind::Plugin {
            path,
            options,
            isolation,
        } => Box::new(
            PluginExporter::load_with(
                path,
                serde_json::Value::Object(options.clone()),
                &isolation.to_isolation(),
            )
            .map_err(|e| issue("path", e.to_string()))?,
        ),
        ExporterKind::Otlp(options) => {
            Box::new(OtlpExporter::new(options.clone()).map_err(|e| {
                // The message names the setting at fault (endpoint, timeout, a header variable).
                ConfigIssue {
                    key: format!("exporters.{name}"),
                    message: e.to_string(),
                    origin: Origin::Nowhere,
                }
            })?)
        }
    })
}
