use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::sse::SseEvent as Event;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tower::Service;

use super::http::{Auth, EndpointSpec, HttpEndpoint};
use super::stream::{Decode, Step, sse};
use super::{BuildError, Provider, ProviderInfo, ProviderOptions, arguments_from_text};
use crate::{
    ErrorKind, GenerateRequest, GenerateResponse, Generation, Message, ProviderError, Role,
    StreamChunk, Tool, ToolCall, Usage,
};

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
#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    endpoint: Arc<HttpEndpoint>,
    model: Arc<str>,
    verbatim: bool,
}

impl AnthropicProvider {
    /// The base URL used when none is set.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";

    /// The variable the key is read from when none is named.
    pub const DEFAULT_API_KEY_ENV: &'static str = "ANTHROPIC_API_KEY";

    /// The API version sent in `anthropic-version`.
    pub const API_VERSION: &'static str = "2023-06-01";

    /// `max_tokens` sent when the request sets no output limit (the API requires one).
    pub const DEFAULT_MAX_TOKENS: u32 = 4096;

    /// A provider configured by `options`.
    ///
    /// # Errors
    /// No model; an unset key variable; an invalid base URL; an HTTP client that cannot be set
    /// up.
    pub fn new(options: ProviderOptions) -> Result<Self, BuildError> {
        let spec = EndpointSpec {
            provider: "anthropic",
            default_base_url: Self::DEFAULT_BASE_URL,
            path: "/v1/messages",
            auth: Auth::Header("x-api-key"),
            default_key_env: Some(Self::DEFAULT_API_KEY_ENV),
            headers: &[("anthropic-version", Self::API_VERSION)],
        };
        Ok(Self {
            endpoint: Arc::new(HttpEndpoint::new(spec, &options)?),
            model: options.model.as_str().into(),
            verbatim: options.verbatim,
        })
    }

    /// This provider's name (`anthropic`), model and server.
    pub fn info(&self) -> ProviderInfo {
        self.endpoint.info(&self.model)
    }

    async fn generate(self, body: Vec<u8>, stream: bool) -> Result<Generation, ProviderError> {
        let response = self.endpoint.post(body, stream).await?;
        if stream {
            let decoder = EventDecoder::new(self.endpoint.clone());
            return Ok(Generation::Stream(sse(self.endpoint, response, decoder)));
        }
        let value = self.endpoint.read_json(response).await?;
        let response = parse_message(&self.endpoint, &value)?;
        Ok(Generation::Complete(GenerateResponse {
            raw_response: self.verbatim.then_some(value),
            ..response
        }))
    }
}

impl Service<GenerateRequest> for AnthropicProvider {
    type Response = Generation;
    type Error = ProviderError;
    type Future = Pin<Box<dyn Future<Output = Result<Generation, ProviderError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        let body = self.endpoint.encode_with(
            &MessagesRequest::new(&self.model, &request),
            &request.parameters.extra,
        );
        let this = self.clone();
        Box::pin(async move { this.generate(body?, request.stream).await })
    }
}

impl Provider for AnthropicProvider {
    fn info(&self) -> ProviderInfo {
        AnthropicProvider::info(self)
    }
}

// ===== request =====

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: WireContent<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(&'a str),
    Blocks(Vec<WireBlock<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Cow<'a, Value>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
    },
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    input_schema: &'a Value,
}

impl<'a> MessagesRequest<'a> {
    fn new(model: &'a str, request: &'a GenerateRequest) -> Self {
        let system: Vec<&str> = request
            .system_prompt
            .as_deref()
            .into_iter()
            .chain(
                request
                    .messages
                    .iter()
                    .filter(|m| m.role == Role::System)
                    .map(|m| m.content.as_str()),
            )
            .collect();
        let mut messages: Vec<WireMessage<'a>> = Vec::new();
        for message in &request.messages {
            push_message(&mut messages, message);
        }
        if !request.prompt.is_empty() {
            messages.push(WireMessage {
                role: "user",
                content: WireContent::Text(&request.prompt),
            });
        }
        let parameters = &request.parameters;
        Self {
            model,
            max_tokens: parameters
                .output_limit()
                .unwrap_or(AnthropicProvider::DEFAULT_MAX_TOKENS),
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            messages,
            tools: request
                .tools
                .iter()
                .map(|tool: &Tool| WireTool {
                    name: &tool.name,
                    description: &tool.description,
                    input_schema: &tool.parameters,
                })
                .collect(),
            temperature: parameters.temperature,
            top_p: parameters.top_p,
            top_k: parameters.top_k,
            stop_sequences: &parameters.stop,
            stream: request.stream,
        }
    }
}

/// Appends one history message in the API's shape. Results of parallel tool calls go into one
/// user turn, as the API expects them.
fn push_message<'a>(messages: &mut Vec<WireMessage<'a>>, message: &'a Message) {
    let wire = match message.role {
        Role::System => return,
        Role::User => WireMessage {
            role: "user",
            content: WireContent::Text(&message.content),
        },
        Role::Assistant if message.tool_calls.is_empty() => WireMessage {
            role: "assistant",
            content: WireContent::Text(&message.content),
        },
        Role::Assistant => {
            let text = (!message.content.is_empty()).then_some(WireBlock::Text {
                text: &message.content,
            });
            let calls = message.tool_calls.iter().map(|call| WireBlock::ToolUse {
                id: call.id.as_deref().unwrap_or_default(),
                name: &call.name,
                input: match &call.arguments {
                    Value::Null => Cow::Owned(Value::Object(Map::new())),
                    arguments => Cow::Borrowed(arguments),
                },
            });
            WireMessage {
                role: "assistant",
                content: WireContent::Blocks(text.into_iter().chain(calls).collect()),
            }
        }
        Role::Tool => {
            let result = WireBlock::ToolResult {
                tool_use_id: message.tool_call_id.as_deref().unwrap_or_default(),
                content: &message.content,
            };
            if let Some(WireMessage {
                role: "user",
                content: WireContent::Blocks(blocks),
            }) = messages.last_mut()
                && blocks
                    .iter()
                    .all(|b| matches!(b, WireBlock::ToolResult { .. }))
            {
                blocks.push(result);
                return;
            }
            WireMessage {
                role: "user",
                content: WireContent::Blocks(vec![result]),
            }
        }
    };
    messages.push(wire);
}

// ===== complete answer =====

#[derive(Deserialize)]
struct WireResponse {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    content: Vec<WireBlockOut>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlockOut {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: Option<String>,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Thinking, server tools, and whatever the API adds: not part of the answer we report.
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// All input tokens: the API counts cache writes and reads apart from `input_tokens`.
    fn prompt_tokens(&self) -> Option<u64> {
        let input = self.input_tokens?;
        Some(
            input
                + self.cache_creation_input_tokens.unwrap_or(0)
                + self.cache_read_input_tokens.unwrap_or(0),
        )
    }
}

fn parse_message(
    endpoint: &HttpEndpoint,
    value: &Value,
) -> Result<GenerateResponse, ProviderError> {
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Err(error_event(endpoint, value));
    }
    let wire =
        WireResponse::deserialize(value).map_err(|e| endpoint.malformed(&e, &value.to_string()))?;
    let mut response = GenerateResponse {
        finish_reason: wire.stop_reason,
        usage: wire.usage.map(|usage| {
            Usage::new(
                usage.prompt_tokens().unwrap_or(0),
                usage.output_tokens.unwrap_or(0),
            )
        }),
        model: wire.model,
        id: wire.id,
        ..GenerateResponse::default()
    };
    for block in wire.content {
        match block {
            WireBlockOut::Text { text } => response.content.push_str(&text),
            WireBlockOut::ToolUse { id, name, input } => response.tool_calls.push(ToolCall {
                id,
                name,
                arguments: input,
            }),
            WireBlockOut::Other => {}
        }
    }
    Ok(response)
}

/// An error object (`{"type": "error", "error": {"type", "message"}}`), sent in a stream.
fn error_event(endpoint: &HttpEndpoint, value: &Value) -> ProviderError {
    let kind_name = value
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let message = value
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("the server reported an error without a message");
    let kind = match kind_name {
        "rate_limit_error" => ErrorKind::RateLimited,
        "authentication_error" | "permission_error" => ErrorKind::Authentication,
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            ErrorKind::InvalidRequest
        }
        "timeout_error" => ErrorKind::Timeout,
        // overloaded_error, api_error, and types this code does not know yet.
        _ => ErrorKind::Server,
    };
    ProviderError::new(
        kind,
        endpoint.server_message(format!("{kind_name}: {message}")),
    )
}

// ===== stream =====

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDelta,
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error,
    /// Event types added after this code was written are skipped, as the API asks.
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct StartMessage {
    id: Option<String>,
    model: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: Option<String>,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

/// A `tool_use` block whose input is still arriving.
struct PendingToolUse {
    id: Option<String>,
    name: String,
    /// The input the block started with, used when no JSON delta follows.
    input: Value,
    json: String,
}

impl PendingToolUse {
    fn finish(self) -> ToolCall {
        let arguments = if self.json.trim().is_empty() {
            self.input
        } else {
            arguments_from_text(&self.json)
        };
        ToolCall {
            id: self.id,
            name: self.name,
            arguments,
        }
    }
}

/// Reads the Messages streaming events.
struct EventDecoder {
    endpoint: Arc<HttpEndpoint>,
    /// The model and message id the server names, until a chunk carries them to the caller.
    model: Option<String>,
    id: Option<String>,
    model_sent: bool,
    prompt_tokens: u64,
    completion_tokens: u64,
    /// Open `tool_use` blocks, by block index.
    tool_uses: BTreeMap<u32, PendingToolUse>,
}

impl EventDecoder {
    fn new(endpoint: Arc<HttpEndpoint>) -> Self {
        Self {
            endpoint,
            model: None,
            id: None,
            model_sent: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            tool_uses: BTreeMap::new(),
        }
    }

    fn count(&mut self, usage: WireUsage) {
        if let Some(prompt) = usage.prompt_tokens() {
            self.prompt_tokens = prompt;
        }
        if let Some(completion) = usage.output_tokens {
            self.completion_tokens = completion;
        }
    }

    fn emit(&mut self, mut chunk: StreamChunk) -> Step {
        if !self.model_sent {
            chunk.model = self.model.take();
            chunk.id = self.id.take();
            self.model_sent = chunk.model.is_some() || chunk.id.is_some();
        }
        Step::Chunk(chunk)
    }
}

impl Decode for EventDecoder {
    type Frame = Event;

    const TERMINATOR: &'static str = "the message_stop event";

    fn decode(&mut self, event: Event) -> Result<Step, ProviderError> {
        let data = event.data.trim();
        let value: Value =
            serde_json::from_str(data).map_err(|e| self.endpoint.malformed(&e, data))?;
        let wire = WireEvent::deserialize(&value).map_err(|e| self.endpoint.malformed(&e, data))?;
        match wire {
            WireEvent::MessageStart { message } => {
                self.model = message.model;
                self.id = message.id;
                self.count(message.usage.unwrap_or_default());
                Ok(Step::Skip)
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                StartBlock::Text { text } if !text.is_empty() => {
                    Ok(self.emit(StreamChunk::text(text)))
                }
                StartBlock::ToolUse { id, name, input } => {
                    let pending = PendingToolUse {
                        id,
                        name,
                        input,
                        json: String::new(),
                    };
                    self.tool_uses.insert(index, pending);
                    Ok(Step::Skip)
                }
                StartBlock::Text { .. } | StartBlock::Other => Ok(Step::Skip),
            },
            WireEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => {
                    Ok(self.emit(StreamChunk::text(text)))
                }
                BlockDelta::InputJsonDelta { partial_json } => {
                    if let Some(pending) = self.tool_uses.get_mut(&index) {
                        pending.json.push_str(&partial_json);
                    }
                    Ok(Step::Skip)
                }
                BlockDelta::TextDelta { .. } | BlockDelta::Other => Ok(Step::Skip),
            },
            WireEvent::ContentBlockStop { index } => match self.tool_uses.remove(&index) {
                Some(pending) => Ok(self.emit(StreamChunk {
                    tool_calls: vec![pending.finish()],
                    ..StreamChunk::default()
                })),
                None => Ok(Step::Skip),
            },
            WireEvent::MessageDelta { delta, usage } => {
                self.count(usage.unwrap_or_default());
                Ok(self.emit(StreamChunk {
                    finish_reason: delta.stop_reason,
                    usage: Some(Usage::new(self.prompt_tokens, self.completion_tokens)),
                    ..StreamChunk::default()
                }))
            }
            WireEvent::MessageStop => {
                // Blocks the server never closed are complete as far as the message goes.
                let calls: Vec<ToolCall> = std::mem::take(&mut self.tool_uses)
                    .into_values()
                    .map(PendingToolUse::finish)
                    .collect();
                Ok(Step::End((!calls.is_empty()).then(|| StreamChunk {
                    tool_calls: calls,
                    ..StreamChunk::default()
                })))
            }
            WireEvent::Ping | WireEvent::Unknown => Ok(Step::Skip),
            WireEvent::Error => Err(error_event(&self.endpoint, &value)),
        }
    }
}
