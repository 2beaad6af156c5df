use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::sse::SseEvent as Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::Service;

use super::http::{Auth, EndpointSpec, HttpEndpoint, message_in};
use super::stream::{Decode, Step, sse};
use super::{BuildError, Provider, ProviderInfo, ProviderOptions, arguments_from_text};
use crate::{
    ErrorKind, GenerateRequest, GenerateResponse, Generation, Message, ProviderError, Role,
    StreamChunk, Tool, ToolCall, Usage,
};

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
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    endpoint: Arc<HttpEndpoint>,
    model: Arc<str>,
    verbatim: bool,
}

impl OpenAiProvider {
    /// The base URL used when none is set.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";

    /// The variable the key is read from, with the default base URL, when none is named.
    pub const DEFAULT_API_KEY_ENV: &'static str = "OPENAI_API_KEY";

    /// A provider configured by `options`.
    ///
    /// # Errors
    /// No model; a named (or, with the default base URL, the default) key variable that is
    /// unset; an invalid base URL; an HTTP client that cannot be set up.
    pub fn new(options: ProviderOptions) -> Result<Self, BuildError> {
        let spec = EndpointSpec {
            provider: "openai",
            default_base_url: Self::DEFAULT_BASE_URL,
            path: "/chat/completions",
            auth: Auth::Bearer,
            // Only OpenAI itself needs a key; a local server must not receive it unasked.
            default_key_env: options
                .base_url
                .is_none()
                .then_some(Self::DEFAULT_API_KEY_ENV),
            headers: &[],
        };
        Ok(Self {
            endpoint: Arc::new(HttpEndpoint::new(spec, &options)?),
            model: options.model.as_str().into(),
            verbatim: options.verbatim,
        })
    }

    /// This provider's name (`openai`), model and server.
    pub fn info(&self) -> ProviderInfo {
        self.endpoint.info(&self.model)
    }

    async fn generate(self, body: Vec<u8>, stream: bool) -> Result<Generation, ProviderError> {
        let response = self.endpoint.post(body, stream).await?;
        if stream {
            let decoder = ChunkDecoder::new(self.endpoint.clone());
            return Ok(Generation::Stream(sse(self.endpoint, response, decoder)));
        }
        let value = self.endpoint.read_json(response).await?;
        let response = parse_completion(&self.endpoint, &value)?;
        Ok(Generation::Complete(GenerateResponse {
            raw_response: self.verbatim.then_some(value),
            ..response
        }))
    }
}

impl Service<GenerateRequest> for OpenAiProvider {
    type Response = Generation;
    type Error = ProviderError;
    type Future = Pin<Box<dyn Future<Output = Result<Generation, ProviderError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        let body = self.endpoint.encode_with(
            &ChatRequest::new(&self.model, &request),
            &request.parameters.extra,
        );
        let this = self.clone();
        Box::pin(async move { this.generate(body?, request.stream).await })
    }
}

impl Provider for OpenAiProvider {
    fn info(&self) -> ProviderInfo {
        OpenAiProvider::info(self)
    }
}

// ===== request =====

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `null` for an assistant turn that only calls tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    r#type: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    /// The arguments as JSON text, which is what the API takes.
    arguments: String,
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

impl<'a> ChatRequest<'a> {
    fn new(model: &'a str, request: &'a GenerateRequest) -> Self {
        let system = request.system_prompt.as_deref().map(|system| WireMessage {
            role: Role::System.as_str(),
            content: Some(system),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
        let prompt = (!request.prompt.is_empty()).then(|| WireMessage {
            role: Role::User.as_str(),
            content: Some(&request.prompt),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
        let messages = system
            .into_iter()
            .chain(request.messages.iter().map(WireMessage::from_message))
            .chain(prompt)
            .collect();
        let parameters = &request.parameters;
        Self {
            model,
            messages,
            tools: request.tools.iter().map(WireTool::from_tool).collect(),
            temperature: parameters.temperature,
            max_tokens: parameters.output_limit(),
            seed: parameters.seed,
            top_p: parameters.top_p,
            stop: &parameters.stop,
            stream: request.stream,
            stream_options: request.stream.then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }
}

impl<'a> WireMessage<'a> {
    fn from_message(message: &'a Message) -> Self {
        let calls_only = message.content.is_empty() && !message.tool_calls.is_empty();
        Self {
            role: message.role.as_str(),
            content: (!calls_only).then_some(message.content.as_str()),
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireToolCall {
                    id: call.id.as_deref(),
                    r#type: "function",
                    function: WireFunctionCall {
                        name: &call.name,
                        arguments: arguments_text(&call.arguments),
                    },
                })
                .collect(),
            tool_call_id: message.tool_call_id.as_deref(),
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

/// Arguments as the JSON text the API wants; a string is taken to be that text already (it is
/// how unparseable arguments were kept).
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

// ===== complete answer =====

#[derive(Deserialize)]
struct Completion {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    message: Option<ChoiceMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
    tool_calls: Option<Vec<CompletedCall>>,
}

#[derive(Deserialize)]
struct CompletedCall {
    id: Option<String>,
    function: CompletedFunction,
}

#[derive(Deserialize)]
struct CompletedFunction {
    name: String,
    /// JSON text per the API; some compatible servers send the object itself.
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    total_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        let computed = Usage::new(usage.prompt_tokens, usage.completion_tokens);
        Usage {
            total_tokens: usage.total_tokens.unwrap_or(computed.total_tokens),
            ..computed
        }
    }
}

fn parse_completion(
    endpoint: &HttpEndpoint,
    value: &Value,
) -> Result<GenerateResponse, ProviderError> {
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(error_in_body(endpoint, value));
    }
    let completion =
        Completion::deserialize(value).map_err(|e| endpoint.malformed(&e, &value.to_string()))?;
    let choice = completion
        .choices
        .into_iter()
        .find(|choice| choice.index == 0)
        .ok_or_else(|| endpoint.malformed(&"no choice in the answer", &value.to_string()))?;
    let message = choice.message.unwrap_or(ChoiceMessage {
        content: None,
        tool_calls: None,
    });
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: match call.function.arguments {
                Value::String(text) => arguments_from_text(&text),
                other => other,
            },
        })
        .collect();
    Ok(GenerateResponse {
        content: message.content.unwrap_or_default(),
        tool_calls,
        finish_reason: choice.finish_reason,
        usage: completion.usage.map(Usage::from),
        model: completion.model,
        id: completion.id,
        ..GenerateResponse::default()
    })
}

/// An `{"error": ...}` object sent in place of an answer (with a success status, or inside a
/// stream, as vLLM does).
fn error_in_body(endpoint: &HttpEndpoint, value: &Value) -> ProviderError {
    let message = endpoint.server_message(message_in(value).unwrap_or_else(|| value.to_string()));
    let status = value
        .pointer("/error/code")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code));
    match status {
        Some(status) => ProviderError::http(status, message),
        None => ProviderError::new(ErrorKind::Server, message),
    }
}

// ===== stream =====

#[derive(Deserialize)]
struct WireChunk {
    id: Option<String>,
    model: Option<String>,
    choices: Option<Vec<ChunkChoice>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    tool_calls: Option<Vec<CallDelta>>,
}

#[derive(Deserialize)]
struct CallDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

/// A tool call whose pieces are still arriving.
#[derive(Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

impl PartialCall {
    fn finish(self) -> ToolCall {
        ToolCall {
            id: self.id,
            name: self.name,
            arguments: arguments_from_text(&self.arguments),
        }
    }
}

/// Reads `chat.completion.chunk` events.
struct ChunkDecoder {
    endpoint: Arc<HttpEndpoint>,
    /// The model and completion id the server names, until a chunk carries them to the caller.
    model: Option<String>,
    id: Option<String>,
    model_sent: bool,
    /// Tool calls being assembled, by their index in the answer.
    calls: BTreeMap<u32, PartialCall>,
}

impl ChunkDecoder {
    fn new(endpoint: Arc<HttpEndpoint>) -> Self {
        Self {
            endpoint,
            model: None,
            id: None,
            model_sent: false,
            calls: BTreeMap::new(),
        }
    }

    fn take_calls(&mut self) -> Vec<ToolCall> {
        std::mem::take(&mut self.calls)
            .into_values()
            .map(PartialCall::finish)
            .collect()
    }

    fn absorb_calls(&mut self, deltas: Vec<CallDelta>) {
        for delta in deltas {
            let call = self.calls.entry(delta.index).or_default();
            if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
                call.id = Some(id);
            }
            let Some(function) = delta.function else {
                continue;
            };
            if let Some(name) = function.name
                && call.name.is_empty()
            {
                call.name = name;
            }
            if let Some(arguments) = function.arguments {
                call.arguments.push_str(&arguments);
            }
        }
    }

    fn emit(&mut self, mut chunk: StreamChunk) -> StreamChunk {
        if !self.model_sent {
            chunk.model = self.model.take();
            chunk.id = self.id.take();
            self.model_sent = chunk.model.is_some() || chunk.id.is_some();
        }
        chunk
    }
}

impl Decode for ChunkDecoder {
    type Frame = Event;

    const TERMINATOR: &'static str = "data: [DONE]";

    fn decode(&mut self, event: Event) -> Result<Step, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            // A server that gave no finish reason still had its tool calls finished by [DONE].
            let calls = self.take_calls();
            return Ok(Step::End((!calls.is_empty()).then(|| {
                self.emit(StreamChunk {
                    tool_calls: calls,
                    ..StreamChunk::default()
                })
            })));
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| self.endpoint.malformed(&e, data))?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error_in_body(&self.endpoint, &value));
        }
        let wire = WireChunk::deserialize(&value).map_err(|e| self.endpoint.malformed(&e, data))?;
        if !self.model_sent {
            self.model = self.model.take().or(wire.model);
            self.id = self.id.take().or(wire.id);
        }
        let mut chunk = StreamChunk {
            usage: wire.usage.map(Usage::from),
            ..StreamChunk::default()
        };
        for choice in wire.choices.unwrap_or_default() {
            // Only the first choice is an answer we report.
            if choice.index != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                chunk
                    .content
                    .push_str(delta.content.as_deref().unwrap_or(""));
                self.absorb_calls(delta.tool_calls.unwrap_or_default());
            }
            if let Some(reason) = choice.finish_reason {
                chunk.finish_reason = Some(reason);
                chunk.tool_calls = self.take_calls();
            }
        }
        let empty = chunk.content.is_empty()
            && chunk.tool_calls.is_empty()
            && chunk.finish_reason.is_none()
            && chunk.usage.is_none();
        Ok(if empty {
            Step::Skip
        } else {
            Step::Chunk(self.emit(chunk))
        })
    }
}
