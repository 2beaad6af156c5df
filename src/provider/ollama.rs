use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower::Service;

use super::http::{Auth, EndpointSpec, HttpEndpoint, message_in};
use super::stream::{Decode, Step, ndjson};
use super::{BuildError, Provider, ProviderInfo, ProviderOptions};
use crate::{
    ErrorKind, GenerateRequest, GenerateResponse, Generation, Message, ProviderError, Role,
    StreamChunk, Tool, ToolCall, Usage,
};

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
#[derive(Debug, Clone)]
pub struct OllamaProvider {
    endpoint: Arc<HttpEndpoint>,
    model: Arc<str>,
    verbatim: bool,
}

impl OllamaProvider {
    /// The base URL used when none is set.
    pub const DEFAULT_BASE_URL: &'static str = "http://127.0.0.1:11434";

    /// A provider configured by `options`.
    ///
    /// # Errors
    /// No model; a named key variable that is unset; an invalid base URL; an HTTP client that
    /// cannot be set up.
    pub fn new(options: ProviderOptions) -> Result<Self, BuildError> {
        let spec = EndpointSpec {
            provider: "ollama",
            default_base_url: Self::DEFAULT_BASE_URL,
            path: "/api/chat",
            auth: Auth::Bearer,
            default_key_env: None,
            headers: &[],
        };
        Ok(Self {
            endpoint: Arc::new(HttpEndpoint::new(spec, &options)?),
            model: options.model.as_str().into(),
            verbatim: options.verbatim,
        })
    }

    /// This provider's name (`ollama`), model and server.
    pub fn info(&self) -> ProviderInfo {
        self.endpoint.info(&self.model)
    }

    async fn generate(self, body: Vec<u8>, stream: bool) -> Result<Generation, ProviderError> {
        let response = self.endpoint.post(body, stream).await?;
        if stream {
            let decoder = LineDecoder {
                endpoint: self.endpoint.clone(),
                model_sent: false,
            };
            return Ok(Generation::Stream(ndjson(self.endpoint, response, decoder)));
        }
        let value = self.endpoint.read_json(response).await?;
        let answer = parse_answer(&self.endpoint, &value)?;
        Ok(Generation::Complete(GenerateResponse {
            content: answer.content,
            tool_calls: answer.tool_calls,
            finish_reason: answer.finish_reason,
            usage: answer.usage,
            model: answer.model,
            raw_response: self.verbatim.then_some(value),
            ..GenerateResponse::default()
        }))
    }
}

impl Service<GenerateRequest> for OllamaProvider {
    type Response = Generation;
    type Error = ProviderError;
    type Future = Pin<Box<dyn Future<Output = Result<Generation, ProviderError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        let body = self
            .endpoint
            .encode(&ChatRequest::new(&self.model, &request));
        let this = self.clone();
        Box::pin(async move { this.generate(body?, request.stream).await })
    }
}

impl Provider for OllamaProvider {
    fn info(&self) -> ProviderInfo {
        OllamaProvider::info(self)
    }
}

// ===== request =====

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "WireOptions::is_empty")]
    options: WireOptions<'a>,
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'a str>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: Cow<'a, Value>,
}

#[derive(Serialize)]
struct WireTool<'a> {
    r#type: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

#[derive(Serialize, Default)]
struct WireOptions<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_predict: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
}

impl WireOptions<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.num_predict.is_none()
            && self.seed.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.stop.is_empty()
    }
}

impl<'a> ChatRequest<'a> {
    fn new(model: &'a str, request: &'a GenerateRequest) -> Self {
        // Ollama matches a tool result to its call by the tool's name, not by an id.
        let names: HashMap<&str, &str> = request
            .messages
            .iter()
            .flat_map(|message| &message.tool_calls)
            .filter_map(|call| Some((call.id.as_deref()?, call.name.as_str())))
            .collect();
        let system = request
            .system_prompt
            .as_deref()
            .map(|system| WireMessage::text(Role::System, system));
        let prompt =
            (!request.prompt.is_empty()).then(|| WireMessage::text(Role::User, &request.prompt));
        let messages = system
            .into_iter()
            .chain(
                request
                    .messages
                    .iter()
                    .map(|m| WireMessage::from_message(m, &names)),
            )
            .chain(prompt)
            .collect();
        let parameters = &request.parameters;
        Self {
            model,
            messages,
            tools: request.tools.iter().map(WireTool::from_tool).collect(),
            options: WireOptions {
                temperature: parameters.temperature,
                num_predict: parameters.output_limit(),
                seed: parameters.seed,
                top_p: parameters.top_p,
                top_k: parameters.top_k,
                stop: &parameters.stop,
            },
            stream: request.stream,
        }
    }
}

impl<'a> WireMessage<'a> {
    fn text(role: Role, content: &'a str) -> Self {
        Self {
            role: role.as_str(),
            content,
            tool_calls: Vec::new(),
            tool_name: None,
        }
    }

    fn from_message(message: &'a Message, names: &HashMap<&str, &'a str>) -> Self {
        let tool_name = match message.role {
            Role::Tool => message
                .tool_call_id
                .as_deref()
                .and_then(|id| names.get(id).copied()),
            _ => None,
        };
        Self {
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireToolCall {
                    function: WireFunctionCall {
                        name: &call.name,
                        // Ollama wants an object; a call recorded without arguments had none.
                        arguments: match &call.arguments {
                            Value::Null => Cow::Owned(Value::Object(Map::new())),
                            arguments => Cow::Borrowed(arguments),
                        },
                    },
                })
                .collect(),
            tool_name,
            ..Self::text(message.role, &message.content)
        }
    }
}

impl<'a> WireTool<'a> {
    fn from_tool(tool: &'a Tool) -> Self {
        Self {
            r#type: "function",
            function: WireFunction {
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters,
            },
        }
    }
}

// ===== answer (complete, or one line of a stream) =====

#[derive(Deserialize)]
struct WireAnswer {
    model: Option<String>,
    message: Option<AnswerMessage>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
    tool_calls: Option<Vec<AnswerCall>>,
}

#[derive(Deserialize)]
struct AnswerCall {
    id: Option<String>,
    function: AnswerFunction,
}

#[derive(Deserialize)]
struct AnswerFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

/// What one answer object says.
struct Answer {
    content: String,
    tool_calls: Vec<ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    model: Option<String>,
    done: bool,
}

fn parse_answer(endpoint: &HttpEndpoint, value: &Value) -> Result<Answer, ProviderError> {
    if value.get("error").is_some_and(|e| !e.is_null()) {
        let message = message_in(value).unwrap_or_else(|| value.to_string());
        return Err(ProviderError::new(
            ErrorKind::Server,
            endpoint.server_message(message),
        ));
    }
    let wire =
        WireAnswer::deserialize(value).map_err(|e| endpoint.malformed(&e, &value.to_string()))?;
    let (content, calls) = match wire.message {
        Some(message) => (
            message.content.unwrap_or_default(),
            message.tool_calls.unwrap_or_default(),
        ),
        None => (String::new(), Vec::new()),
    };
    let usage = (wire.prompt_eval_count.is_some() || wire.eval_count.is_some()).then(|| {
        Usage::new(
            wire.prompt_eval_count.unwrap_or(0),
            wire.eval_count.unwrap_or(0),
        )
    });
    Ok(Answer {
        content,
        tool_calls: calls
            .into_iter()
            .map(|call| ToolCall {
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
            })
            .collect(),
        finish_reason: wire.done_reason,
        usage,
        model: wire.model,
        done: wire.done,
    })
}

// ===== stream =====

/// Reads the lines of a streamed answer.
struct LineDecoder {
    endpoint: Arc<HttpEndpoint>,
    model_sent: bool,
}

impl Decode for LineDecoder {
    type Frame = String;

    const TERMINATOR: &'static str = "the line with \"done\": true";

    fn decode(&mut self, line: String) -> Result<Step, ProviderError> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(Step::Skip);
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| self.endpoint.malformed(&e, line))?;
        let answer = parse_answer(&self.endpoint, &value)?;
        let mut chunk = StreamChunk {
            content: answer.content,
            tool_calls: answer.tool_calls,
            ..StreamChunk::default()
        };
        if answer.done {
            chunk.finish_reason = answer.finish_reason;
            chunk.usage = answer.usage;
        }
        if !self.model_sent {
            chunk.model = answer.model;
        }
        if answer.done {
            return Ok(Step::End(Some(chunk)));
        }
        if chunk.content.is_empty() && chunk.tool_calls.is_empty() {
            return Ok(Step::Skip);
        }
        self.model_sent |= chunk.model.is_some();
        Ok(Step::Chunk(chunk))
    }
}
