//! Anthropic's Messages API: [`AnthropicProvider`]; the wire format in [`request`],
//! [`response`] and [`stream`].

mod request;
mod response;
mod stream;

use super::http::{Auth, EndpointSpec, HttpEndpoint};
use super::{HttpProvider, ProviderOptions, WireApi};
use crate::{GenerateRequest, GenerateResponse, ProviderError};

/// A provider speaking Anthropic's Messages API (`POST {base_url}/v1/messages`).
///
/// - **Key**: required, sent as `x-api-key` with `anthropic-version: 2023-06-01`; read from
///   `ANTHROPIC_API_KEY` unless [`api_key_env`](ProviderOptions::api_key_env) names another
///   variable.
/// - **Request**: the system prompt as the top-level `system` field (system messages of the
///   history are appended to it, as the API has no system turns), the history as content
///   blocks (an assistant's tool calls as `tool_use` blocks, tool results as `tool_result`
///   blocks of a user turn), the prompt as the last user turn (left out when empty), tools as
///   `{name, description, input_schema}`. `max_tokens` is required by the API: the request's
///   [`output_limit`](crate::Parameters::output_limit), else
///   [`DEFAULT_MAX_TOKENS`](Self::DEFAULT_MAX_TOKENS). Also `temperature`, `top_p`, `top_k` and
///   `stop_sequences`; `seed` is not an Anthropic parameter and is not sent.
/// - **Answer**: the `text` blocks concatenated, `tool_use` blocks as tool calls, `stop_reason`
///   as the finish reason, usage from `input_tokens` (plus cache reads and writes, which the
///   API counts apart) and `output_tokens`.
/// - **Streaming**: server-sent events: text deltas as they come, each tool call whole when
///   its block stops, the finish reason and usage with `message_delta`. The stream must end
///   with `message_stop`; an `error` event ends it with an error of the kind its type says
///   (`overloaded_error` is a retryable `server` error, `rate_limit_error` is `rate_limited`).
///
/// ```no_run
/// use llmtrace::provider::{AnthropicProvider, ProviderOptions};
/// use llmtrace::{Client, GenerateRequest};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let claude = AnthropicProvider::new(ProviderOptions::new("claude-sonnet-4-5"))?;
/// let client = Client::builder().provider(claude).build();
/// let request = GenerateRequest::new("Hello, Claude").max_output_tokens(1024);
/// println!("{}", client.generate(request).await?.content);
/// # Ok(())
/// # }
/// ```
pub type AnthropicProvider = HttpProvider<Anthropic>;

impl AnthropicProvider {
    /// The base URL used when none is set.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";

    /// The variable the key is read from when none is named.
    pub const DEFAULT_API_KEY_ENV: &'static str = "ANTHROPIC_API_KEY";

    /// The API version sent in `anthropic-version`.
    pub const API_VERSION: &'static str = "2023-06-01";

    /// `max_tokens` sent when the request sets no output limit (the API requires one).
    pub const DEFAULT_MAX_TOKENS: u32 = 4096;
}

/// Anthropic's Messages wire API, spoken by [`AnthropicProvider`].
#[derive(Debug, Clone, Copy)]
pub struct Anthropic;

impl WireApi for Anthropic {
    type Decoder = stream::EventDecoder;
    type Request<'a> = request::MessagesRequest<'a>;

    fn endpoint(_options: &ProviderOptions) -> EndpointSpec {
        EndpointSpec {
            provider: "anthropic",
            default_base_url: AnthropicProvider::DEFAULT_BASE_URL,
            path: "/v1/messages",
            auth: Auth::Header("x-api-key"),
            default_key_env: Some(AnthropicProvider::DEFAULT_API_KEY_ENV),
            headers: &[("anthropic-version", AnthropicProvider::API_VERSION)],
        }
    }

    fn request<'a>(model: &'a str, request: &'a GenerateRequest) -> Self::Request<'a> {
        request::MessagesRequest::new(model, request)
    }

    fn answer(endpoint: &HttpEndpoint, body: &[u8]) -> Result<GenerateResponse, ProviderError> {
        response::read_message(endpoint, body)
    }
}
