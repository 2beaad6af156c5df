//! The OpenAI chat completions API: [`OpenAiProvider`]; the wire format in [`request`],
//! [`response`] and [`stream`].

mod request;
mod response;
mod stream;

use super::http::{Auth, EndpointSpec, HttpEndpoint};
use super::{HttpProvider, ProviderOptions, WireApi};
use crate::{GenerateRequest, GenerateResponse, ProviderError};

/// A provider speaking the OpenAI chat completions API (`POST {base_url}/chat/completions`).
///
/// The same wire format is served by vLLM, the llama.cpp server, LM Studio and many others:
/// point [`ProviderOptions::base_url`] at them (`http://127.0.0.1:8080/v1`).
///
/// - **Key**: sent as `Authorization: Bearer`. With the default base URL
///   (`https://api.openai.com/v1`) a key is required, read from `OPENAI_API_KEY` unless
///   [`api_key_env`](ProviderOptions::api_key_env) names another variable; with a custom base
///   URL it is optional, and sent only when a variable is named.
/// - **Request**: the system prompt as a leading `system` message, then the history, then the
///   prompt as a `user` message (left out when empty, as when answering tool results). Tools
///   as `function` tools. Parameters `temperature`, `max_tokens` (the request's
///   [`output_limit`](crate::Parameters::output_limit)), `seed`, `top_p`, `stop`; `top_k` is not
///   an OpenAI parameter and is not sent.
/// - **Answer**: the first choice's text and tool calls (arguments parsed from their JSON text;
///   text that is not JSON is kept as a string), its `finish_reason`, the `usage` counts, and
///   the model the server names.
/// - **Streaming**: server-sent events with usage requested (`stream_options.include_usage`);
///   text arrives as it is generated, tool calls are assembled from their deltas and delivered
///   whole on the chunk with the finish reason, usage on the chunk that brings it. The stream
///   must end with `data: [DONE]`.
///
/// ```no_run
/// use llmtrace::provider::{OpenAiProvider, ProviderOptions};
/// use llmtrace::{Client, GenerateRequest};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let openai = OpenAiProvider::new(ProviderOptions::new("gpt-4o-mini"))?; // OPENAI_API_KEY
/// let client = Client::builder().provider(openai).build();
/// let response = client.generate(GenerateRequest::new("Say hello").temperature(0.0)).await?;
/// println!("{}", response.content);
/// # Ok(())
/// # }
/// ```
pub type OpenAiProvider = HttpProvider<OpenAi>;

impl OpenAiProvider {
    /// The base URL used when none is set.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";

    /// The variable the key is read from, with the default base URL, when none is named.
    pub const DEFAULT_API_KEY_ENV: &'static str = "OPENAI_API_KEY";
}

/// The OpenAI chat completions wire API, spoken by [`OpenAiProvider`].
#[derive(Debug, Clone, Copy)]
pub struct OpenAi;

impl WireApi for OpenAi {
    type Decoder = stream::ChunkDecoder;
    type Request<'a> = request::ChatRequest<'a>;

    fn endpoint(options: &ProviderOptions) -> EndpointSpec {
        EndpointSpec {
            provider: "openai",
            default_base_url: OpenAiProvider::DEFAULT_BASE_URL,
            path: "/chat/completions",
            auth: Auth::Bearer,
            // Only OpenAI itself needs a key; a local server must not receive it unasked.
            default_key_env: options
                .base_url
                .is_none()
                .then_some(OpenAiProvider::DEFAULT_API_KEY_ENV),
            headers: &[],
        }
    }

    fn request<'a>(model: &'a str, request: &'a GenerateRequest) -> Self::Request<'a> {
        request::ChatRequest::new(model, request)
    }

    fn answer(endpoint: &HttpEndpoint, body: &[u8]) -> Result<GenerateResponse, ProviderError> {
        response::read_completion(endpoint, body)
    }
}
