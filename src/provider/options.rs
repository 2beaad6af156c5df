//! [`ProviderOptions`]: how to reach an HTTP provider, and [`BuildError`]: why it could not be
//! set up.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::BoxError;

/// Settings shared by the HTTP providers ([`OpenAiProvider`], [`OllamaProvider`],
/// [`AnthropicProvider`]).
///
/// They mirror the `[provider]` table of the configuration file (`model`, `base_url`,
/// `api_key_env`, `timeout_ms`, `stall_timeout_ms`, `stream_timeout_ms`, `verbatim`) one to one. Setters consume and return the options:
///
/// ```
/// use std::time::Duration;
/// use llmtrace::provider::{OpenAiProvider, ProviderOptions};
///
/// let options = ProviderOptions::new("qwen2.5-7b-instruct")
///     .base_url("http://127.0.0.1:8080/v1") // a local llama.cpp or vLLM server
///     .timeout(Duration::from_secs(30));
/// let provider = OpenAiProvider::new(options)?; // no key: a local server needs none
/// assert_eq!(provider.info().model, "qwen2.5-7b-instruct");
/// # Ok::<(), llmtrace::provider::BuildError>(())
/// ```
///
/// A configuration names the API key's environment variable ([`api_key_env`](Self::api_key_env)),
/// never the key: the variable is read when the provider is built. However it arrives, the key
/// is kept out of every `Debug` output, error message and trace.
///
/// [`OpenAiProvider`]: super::OpenAiProvider
/// [`OllamaProvider`]: super::OllamaProvider
/// [`AnthropicProvider`]: super::AnthropicProvider
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProviderOptions {
    pub(crate) model: String,
    pub(crate) base_url: Option<String>,
    pub(crate) api_key_env: Option<String>,
    pub(crate) api_key: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stall_timeout: Option<Duration>,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) verbatim: bool,
}

impl ProviderOptions {
    /// The timeout used when none is set: 60 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// The overall deadline of a streamed call when none is set: 10 minutes.
    pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(600);

    /// Options for serving `model`, everything else at its default.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }

    /// Sets the model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Sets the base URL the API paths are appended to (`http://127.0.0.1:8080/v1` for an
    /// OpenAI-compatible server). Defaults to the provider's public endpoint.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets the name of the environment variable that holds the API key. The variable is read
    /// once, when the provider is built; if it is named but unset, building fails with
    /// [`BuildError::MissingApiKey`]. Defaults to the provider's conventional variable where
    /// the provider requires a key (see each provider), and to no key otherwise.
    pub fn api_key_env(mut self, name: impl Into<String>) -> Self {
        self.api_key_env = Some(name.into());
        self
    }

    /// Sets the API key directly, for programs that get it from elsewhere than the environment
    /// (a secret store). Wins over [`api_key_env`](Self::api_key_env). Not for configuration
    /// files: keys do not belong in them.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets how long a call may take. A complete (non-streaming) answer must arrive within it;
    /// a stream must start (send its status and headers) within it. Connecting is bounded by
    /// it too, and so are a stream's stalls unless [`stall_timeout`](Self::stall_timeout) is
    /// set. Defaults to [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the longest a started stream may go without sending a byte; the call then fails
    /// with a `timeout` error saying the stream stalled. Defaults to the
    /// [`timeout`](Self::timeout).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = Some(timeout);
        self
    }

    /// Sets the longest a streamed call may take, from sending the request to the stream's
    /// last byte, however steadily the server sends; the call then fails with a `timeout`
    /// error saying the deadline passed. Defaults to
    /// [`DEFAULT_STREAM_TIMEOUT`](Self::DEFAULT_STREAM_TIMEOUT).
    pub fn stream_timeout(mut self, timeout: Duration) -> Self {
        self.stream_timeout = Some(timeout);
        self
    }

    /// Keeps the provider's response JSON in [`GenerateResponse::raw_response`] (complete
    /// answers only). Defaults to `false`, as it doubles the memory a trace takes.
    ///
    /// [`GenerateResponse::raw_response`]: crate::GenerateResponse::raw_response
    pub fn verbatim(mut self, verbatim: bool) -> Self {
        self.verbatim = verbatim;
        self
    }

    pub(crate) fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(Self::DEFAULT_TIMEOUT)
    }

    pub(crate) fn effective_stall_timeout(&self) -> Duration {
        self.stall_timeout
            .unwrap_or_else(|| self.effective_timeout())
    }

    pub(crate) fn effective_stream_timeout(&self) -> Duration {
        self.stream_timeout.unwrap_or(Self::DEFAULT_STREAM_TIMEOUT)
    }
}

impl fmt::Debug for ProviderOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderOptions")
            .field("model", &self.model)
            // A URL can carry a password or a query-string token.
            .field(
                "base_url",
                &self.base_url.as_deref().map(crate::scrub_secrets),
            )
            .field("api_key_env", &self.api_key_env)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("stream_timeout", &self.stream_timeout)
            .field("verbatim", &self.verbatim)
            .finish()
    }
}

/// Why a provider could not be built from its [`ProviderOptions`].
///
/// Messages name the setting at fault, never a key's value.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No model was configured.
    #[error("no model is configured for the {provider} provider")]
    MissingModel {
        /// The provider being built.
        provider: &'static str,
    },
    /// The environment variable that should hold the API key is not set.
    #[error("environment variable {var} is not set; it must hold the {provider} api key")]
    MissingApiKey {
        /// The provider being built.
        provider: &'static str,
        /// The variable's name.
        var: String,
    },
    /// The API key (or the variable holding it) cannot be sent in an HTTP header.
    #[error("the {provider} api key from {origin} is not valid in an http header")]
    InvalidApiKey {
        /// The provider being built.
        provider: &'static str,
        /// Where the key came from: `environment variable NAME`, or `api_key`.
        origin: String,
    },
    /// The base URL is not an absolute `http`/`https` URL.
    #[error("invalid base url {url:?} for the {provider} provider: {reason}")]
    InvalidBaseUrl {
        /// The provider being built.
        provider: &'static str,
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be set up (TLS initialisation, for instance).
    #[error("could not set up the http client")]
    Client(#[source] BoxError),
}
