//! The `[provider]` options of each built-in provider type: one struct, reader and builder
//! each, registered in `config::providers`.

use std::time::Duration;

use super::{
    AnthropicProvider, BuildError, EchoProvider, OllamaProvider, OpenAiProvider, Provider,
    ProviderOptions,
};
use crate::ClientBuilder;
use crate::config::reader::Table;
use crate::config::{ConfigIssue, ProviderComponent, build_issue, limits, validate};

/// `type = "echo"`: the built-in offline provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EchoConfig {
    /// `model`: the model name reported in traces.
    pub model: String,
    /// `latency_ms`: simulated latency.
    pub latency_ms: u64,
}

impl Default for EchoConfig {
    fn default() -> Self {
        Self {
            model: EchoProvider::DEFAULT_MODEL.to_owned(),
            latency_ms: 0,
        }
    }
}

impl ProviderComponent for EchoConfig {
    const TYPE: &'static str = "echo";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let defaults = Self::default();
        Some(Self {
            model: table.get("model").unwrap_or(defaults.model),
            latency_ms: table.int_in("latency_ms", 0, limits::MILLIS, 0),
        })
    }

    fn build(&self, builder: ClientBuilder, _verbatim: bool) -> Result<ClientBuilder, ConfigIssue> {
        let echo = EchoProvider::new()
            .model(&self.model)
            .latency(Duration::from_millis(self.latency_ms));
        Ok(builder.provider(echo))
    }
}

/// The keys every HTTP provider (`openai`, `ollama`, `anthropic`) takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HttpProviderConfig {
    /// `model`: the model to ask for (required, not empty).
    pub model: String,
    /// `base_url`: the server; the provider's public endpoint when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `api_key_env`: NAME of the environment variable holding the API key (never the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// `timeout_ms`: per-request timeout.
    pub timeout_ms: u64,
    /// `stall_timeout_ms`: longest a stream may go without a byte; `timeout_ms` unless set.
    pub stall_timeout_ms: u64,
    /// `stream_timeout_ms`: longest a streamed call may take in all.
    pub stream_timeout_ms: u64,
}

impl HttpProviderConfig {
    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let model = table.required::<String>("model", "the model to ask for");
        if model
            .as_deref()
            .is_some_and(|model| model.trim().is_empty())
        {
            table.issue("model", "must not be empty");
        }
        let timeout_ms = table.int_in("timeout_ms", 1, limits::MILLIS, 60_000);
        let stream_timeout = ProviderOptions::DEFAULT_STREAM_TIMEOUT.as_millis() as u64;
        let base_url = table.get("base_url");
        let api_key_env = table.get("api_key_env");
        Some(Self {
            base_url: table.checked("base_url", base_url, validate::http_url),
            api_key_env: table.checked("api_key_env", api_key_env, validate::env_name),
            timeout_ms,
            stall_timeout_ms: table.int_in("stall_timeout_ms", 1, limits::MILLIS, timeout_ms),
            stream_timeout_ms: (table.int_in(
                "stream_timeout_ms",
                1,
                limits::MILLIS,
                stream_timeout,
            )),
            model: model.filter(|model| !model.trim().is_empty())?,
        })
    }

    /// Builds provider `P` with `new` into `builder`.
    fn build<P: Provider>(
        &self,
        builder: ClientBuilder,
        verbatim: bool,
        new: fn(ProviderOptions) -> Result<P, BuildError>,
    ) -> Result<ClientBuilder, ConfigIssue> {
        let mut options = ProviderOptions::new(&self.model)
            .timeout(Duration::from_millis(self.timeout_ms))
            .stall_timeout(Duration::from_millis(self.stall_timeout_ms))
            .stream_timeout(Duration::from_millis(self.stream_timeout_ms))
            .verbatim(verbatim);
        if let Some(url) = &self.base_url {
            options = options.base_url(url);
        }
        if let Some(var) = &self.api_key_env {
            options = options.api_key_env(var);
        }
        new(options).map(|p| builder.provider(p)).map_err(|error| {
            let key = match &error {
                BuildError::MissingApiKey { .. } | BuildError::InvalidApiKey { .. } => {
                    "api_key_env"
                }
                BuildError::InvalidBaseUrl { .. } => "base_url",
                BuildError::MissingModel { .. } => "model",
                // Not about one key (the HTTP client could not be set up).
                _ => "",
            };
            build_issue(key, error.to_string())
        })
    }

    /// `api_key_env`, else `default`.
    fn key_var(&self, default: Option<&str>) -> Vec<(String, String)> {
        (self.api_key_env.as_deref().or(default))
            .map(|var| ("api_key_env".to_owned(), var.to_owned()))
            .into_iter()
            .collect()
    }

    fn mask(&mut self) {
        if let Some(url) = &mut self.base_url {
            *url = crate::scrub_secrets(url).into_owned();
        }
    }
}

/// `type = "openai"`: an OpenAI-compatible chat completions server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenAiConfig(pub HttpProviderConfig);

impl ProviderComponent for OpenAiConfig {
    const TYPE: &'static str = "openai";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        HttpProviderConfig::read(table).map(Self)
    }

    fn build(&self, builder: ClientBuilder, verbatim: bool) -> Result<ClientBuilder, ConfigIssue> {
        self.0.build(builder, verbatim, OpenAiProvider::new)
    }

    /// A key is needed for the public endpoint; a local server needs none unless named.
    fn secret_vars(&self) -> Vec<(String, String)> {
        let public = self.0.base_url.is_none();
        (self.0).key_var(public.then_some(OpenAiProvider::DEFAULT_API_KEY_ENV))
    }

    fn mask(&mut self) {
        self.0.mask();
    }
}

/// `type = "ollama"`: Ollama's native API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OllamaConfig(pub HttpProviderConfig);

impl ProviderComponent for OllamaConfig {
    const TYPE: &'static str = "ollama";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        HttpProviderConfig::read(table).map(Self)
    }

    fn build(&self, builder: ClientBuilder, verbatim: bool) -> Result<ClientBuilder, ConfigIssue> {
        self.0.build(builder, verbatim, OllamaProvider::new)
    }

    fn secret_vars(&self) -> Vec<(String, String)> {
        self.0.key_var(None)
    }

    fn mask(&mut self) {
        self.0.mask();
    }
}

/// `type = "anthropic"`: Anthropic's Messages API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AnthropicConfig(pub HttpProviderConfig);

impl ProviderComponent for AnthropicConfig {
    const TYPE: &'static str = "anthropic";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        HttpProviderConfig::read(table).map(Self)
    }

    fn build(&self, builder: ClientBuilder, verbatim: bool) -> Result<ClientBuilder, ConfigIssue> {
        self.0.build(builder, verbatim, AnthropicProvider::new)
    }

    /// The API always needs a key.
    fn secret_vars(&self) -> Vec<(String, String)> {
        self.0.key_var(Some(AnthropicProvider::DEFAULT_API_KEY_ENV))
    }

    fn mask(&mut self) {
        self.0.mask();
    }
}
