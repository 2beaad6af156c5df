//! Ollama's native chat API: [`OllamaProvider`]; the wire format in [`request`], [`response`]
//! and [`stream`].

mod request;
mod response;
mod stream;

use super::http::{Auth, EndpointSpec, HttpEndpoint};
use super::{HttpProvider, ProviderOptions, WireApi};
use crate::{GenerateRequest, GenerateResponse, ProviderError};

/// A provider speaking Ollama's native chat API (`POST {base_url}/api/chat`).
///
/// - **Key**: none by default. When [`api_key_env`](ProviderOptions::api_key_env) names a
///   variable (an Ollama behind an authenticating proxy), its value is sent as
///   `Authorization: Bearer`.
/// - **Request**: `messages` with the system prompt first and the prompt last (left out when
///   empty), `tools`, and `options` with `temperature`, `num_predict` (the request's
///   [`output_limit`](crate::Parameters::output_limit)), `seed`, `top_p`, `top_k`, `stop`.
///   `stream` is always sent, since Ollama streams unless told not to. A tool result is sent
///   with the `tool_name` of the call it answers, looked up by id in the history.
/// - **Answer**: `message.content`, `message.tool_calls` (arguments are JSON objects),
///   `done_reason` as the finish reason, `prompt_eval_count` and `eval_count` as usage.
/// - **Streaming**: newline-delimited JSON objects; the last one has `done: true`, with the
///   finish reason and the counts. Tool calls arrive whole.
///
/// ```no_run
/// use llmtrace::provider::{OllamaProvider, ProviderOptions};
/// use llmtrace::Client;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ollama = OllamaProvider::new(ProviderOptions::new("llama3.2"))?; // 127.0.0.1:11434
/// let client = Client::builder().provider(ollama).build();
/// let response = client.generate("Why is the sky blue?").await?;
/// println!("{}", response.content);
/// # Ok(())
/// # }
/// ```
pub type OllamaProvider = HttpProvider<Ollama>;

impl OllamaProvider {
    /// The base URL used when none is set.
    pub const DEFAULT_BASE_URL: &'static str = "http://127.0.0.1:11434";
}

/// Ollama's native chat wire API, spoken by [`OllamaProvider`].
#[derive(Debug, Clone, Copy)]
pub struct Ollama;

impl WireApi for Ollama {
    type Decoder = stream::LineDecoder;
    type Request<'a> = request::ChatRequest<'a>;

    fn endpoint(_options: &ProviderOptions) -> EndpointSpec {
        EndpointSpec {
            provider: "ollama",
            default_base_url: OllamaProvider::DEFAULT_BASE_URL,
            path: "/api/chat",
            auth: Auth::Bearer,
            default_key_env: None,
            headers: &[],
        }
    }

    fn request<'a>(model: &'a str, request: &'a GenerateRequest) -> Self::Request<'a> {
        request::ChatRequest::new(model, request)
    }

    fn answer(endpoint: &HttpEndpoint, body: &[u8]) -> Result<GenerateResponse, ProviderError> {
        let answer = response::parse_answer(endpoint, &endpoint.parse_json(body)?)?;
        Ok(GenerateResponse {
            content: answer.content,
            tool_calls: answer.tool_calls,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            model: answer.model,
            ..GenerateResponse::default()
        })
    }
}
