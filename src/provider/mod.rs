//! LLM providers: the innermost service of a stack.
//!
//! A provider is a `tower::Service<GenerateRequest, Response = Generation, Error =
//! ProviderError>` that also says who it is ([`Provider::info`]), so traces can name it.
//!
//! | provider | API | streaming |
//! |---|---|---|
//! | [`EchoProvider`] | none: offline and deterministic | word by word |
//! | [`OpenAiProvider`] | `POST {base_url}/chat/completions` (also vLLM, llama.cpp, LM Studio) | SSE |
//! | [`OllamaProvider`] | `POST {base_url}/api/chat` | NDJSON |
//! | [`AnthropicProvider`] | `POST {base_url}/v1/messages` | SSE |
//!
//! The HTTP providers are one [`HttpProvider`] each, parameterised by the [`WireApi`] it
//! speaks ([`OpenAi`], [`Ollama`], [`Anthropic`]). They are configured by [`ProviderOptions`]
//! and fail to build with a [`BuildError`]. Their calls fail with [`ProviderError`]s classified by [`ErrorKind`]:
//!
//! - the server cannot be reached: `connect`; no answer within the timeout, a stream that
//!   stalls longer than its stall timeout or runs past its overall deadline: `timeout`, the
//!   message saying which;
//! - an error status: the kind the status implies (`rate_limited` for 429, `server` for 5xx,
//!   ...), with the status and the server's error message;
//! - an answer that is not the provider's JSON: `malformed_response` (not retryable); so is a
//!   complete answer over 64 MiB, and a stream event or line over 8 MiB;
//! - a stream that breaks off, or ends without the provider's terminator: `stream`; an error the
//!   server reports inside a stream: the kind its type implies.
//!
//! API keys are read from the environment when a provider is built and never appear in a
//! `Debug` output, an error message or a trace. What a server writes back is quoted only after
//! [`scrub_secrets`](crate::scrub_secrets) has masked anything that looks like a credential,
//! and only then cut to length.
//!
//! [`ErrorKind`]: crate::ErrorKind

mod anthropic;
mod config;
mod echo;
mod function_tool;
#[cfg(test)]
mod fuzz;
mod http;
mod ollama;
mod openai;
mod options;
mod sse;
mod stream;
mod wire;

pub use anthropic::{Anthropic, AnthropicProvider};
pub use config::{AnthropicConfig, EchoConfig, HttpProviderConfig, OllamaConfig, OpenAiConfig};
pub use echo::EchoProvider;
pub use ollama::{Ollama, OllamaProvider};
pub use openai::{OpenAi, OpenAiProvider};
pub use options::{BuildError, ProviderOptions};
pub use wire::{HttpProvider, WireApi};

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use tower::Service;

use crate::{GenerateRequest, Generation, ProviderError};

/// The future every built-in provider's `call` returns. A [`Client`](crate::Client) calls a
/// provider whose future is this type without boxing it again.
pub type ProviderFuture = Pin<Box<dyn Future<Output = Result<Generation, ProviderError>> + Send>>;

/// Who answers: the provider's name, the model it is configured with and, for HTTP providers,
/// the server it calls (recorded in traces as `server_address` / `server_port`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderInfo {
    /// Provider name, as recorded in traces (`echo`, `openai`, ...).
    pub name: String,
    /// Configured model.
    pub model: String,
    /// Host name or IP address of the server the provider calls, when it calls one.
    pub server_address: Option<String>,
    /// Port of that server.
    pub server_port: Option<u16>,
}

impl ProviderInfo {
    /// Describes provider `name` serving `model`, with no server.
    pub fn new(name: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            model: model.into(),
            server_address: None,
            server_port: None,
        }
    }

    /// Names the server the provider calls: its host (no scheme, path or credentials) and
    /// port.
    pub fn server(mut self, address: impl Into<String>, port: Option<u16>) -> Self {
        self.server_address = Some(address.into());
        self.server_port = port;
        self
    }
}

/// A generation service that can name itself.
///
/// Any `Service` with the right types becomes usable by [`Client`](crate::Client) once it
/// implements [`info`](Self::info); services that cannot implement it (a `service_fn`, a
/// provider wrapped in tower middleware) are passed with an explicit [`ProviderInfo`] to
/// [`ClientBuilder::service`](crate::ClientBuilder::service).
pub trait Provider:
    Service<
        GenerateRequest,
        Response = Generation,
        Error = ProviderError,
        Future: Future<Output = Result<Generation, ProviderError>> + Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The provider's name and model.
    fn info(&self) -> ProviderInfo;
}

/// Tool-call arguments received as JSON text: the JSON value, or the text itself as a string
/// value when it is not JSON (a model can emit broken arguments; they are kept, not dropped).
fn arguments_from_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}
