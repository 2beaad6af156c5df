//! The OpenAI chat completions wire format, both ways: request in, answer and chunks out.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{Api, Encoder, error_type, take_prompt, tool_schema, unix_now, write_json};
use crate::{
    GenerateRequest, GenerateResponse, Message, ProviderError, Role, StreamChunk, Tool, ToolCall,
};

/// `POST /v1/chat/completions`.
#[derive(Debug)]
pub(crate) struct OpenAi;

/// The fields we read; each is named in `Api::FIELDS` too (a test checks), or it would also
/// be forwarded as a parameter we have no field for.
#[derive(Deserialize)]
pub(crate) struct ChatRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    tools: Vec<InTool>,
    #[serde(default)]
    stream: bool,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    seed: Option<u64>,
    top_p: Option<f64>,
    stop: Option<Stop>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Vec<InToolCall>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

/// Message content: a string, or an array of parts of which the text ones are kept.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    fn into_text(self) -> String {
        match self {
            Content::Text(text) => text,
            Content::Parts(parts) => parts.into_iter().filter_map(|p| p.text).collect(),
        }
    }
}

#[derive(Deserialize)]
struct InToolCall {
    #[serde(default)]
    id: Option<String>,
    function: InFunctionCall,
}

#[derive(Deserialize)]
struct InFunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct InTool {
    function: InFunction,
}

#[derive(Deserialize)]
struct InFunction {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Option<Value>,
}

/// Arguments arrive as JSON text; kept as text when they do not parse.
fn parse_arguments(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

fn role(name: &str) -> Role {
    match name {
        "system" | "developer" => Role::System,
        "assistant" => Role::Assistant,
        "tool" | "function" => Role::Tool,
        _ => Role::User,
    }
}

/// OpenAI's words for why generation stopped, from any provider's.
fn finish_reason(reason: Option<&str>) -> Option<&str> {
    reason.map(|reason| match reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        other => other,
    })
}

/// A tool call, in the answer and in a chunk.
#[derive(Serialize)]
struct WireCall<'a> {
    index: usize,
    id: Cow<'a, str>,
    r#type: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    /// JSON text, as the API has it.
    arguments: Cow<'a, str>,
}

fn wire_call(index: usize, call: &ToolCall) -> WireCall<'_> {
    let arguments = match &call.arguments {
        Value::String(text) => Cow::Borrowed(text.as_str()),
        Value::Null => Cow::Borrowed("{}"),
        other => Cow::Owned(other.to_string()),
    };
    WireCall {
        index,
        id: call
            .id
            .as_deref()
            .map_or_else(|| Cow::Owned(format!("call_{index}")), Cow::Borrowed),
        r#type: "function",
        function: WireFunction {
            name: &call.name,
            arguments,
        },
    }
}

#[derive(Serialize)]
struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

fn wire_usage(usage: &crate::Usage) -> WireUsage {
    WireUsage {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        total_tokens: usage.total_tokens,
    }
}

/// A `chat.completion` object.
#[derive(Serialize)]
pub(crate) struct Completion<'a> {
    id: Cow<'a, str>,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<WireUsage>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AnswerMessage<'a>,
    /// Always `null`: we do not have them.
    logprobs: (),
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    role: &'static str,
    /// `null` when the answer only calls tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
}

/// A `chat.completion.chunk` object.
#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChunkChoice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<WireUsage>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct Delta<'a> {
    /// On the first chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
}

impl Api for OpenAi {
    type Body = ChatRequest;
    type Encoder = ChunkEncoder;
    type Answer<'a> = Completion<'a>;
    const PROVIDER: &'static str = "openai";

    // How we stream is ours to choose (usage is always asked for): `stream_options` is dropped.
    const FIELDS: &'static [&'static str] = &[
        "model",
        "messages",
        "tools",
        "stream",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "top_p",
        "stop",
        "stream_options",
    ];

    fn request(body: ChatRequest) -> (GenerateRequest, String) {
        let mut request = GenerateRequest {
            stream: body.stream,
            ..GenerateRequest::default()
        };
        let mut system = Vec::new();
        for message in body.messages {
            let role = role(&message.role);
            let content = message.content.map(Content::into_text).unwrap_or_default();
            if role == Role::System {
                system.push(content);
                continue;
            }
            request.messages.push(Message {
                role,
                content,
                tool_calls: message
                    .tool_calls
                    .into_iter()
                    .map(|call| ToolCall {
                        id: call.id,
                        name: call.function.name,
                        arguments: parse_arguments(call.function.arguments),
                    })
                    .collect(),
                tool_call_id: message.tool_call_id,
            });
        }
        if !system.is_empty() {
            request.system_prompt = Some(system.join("\n\n"));
        }
        take_prompt(&mut request);
        request.tools = body
            .tools
            .into_iter()
            .map(|tool| Tool {
                name: tool.function.name,
                description: tool.function.description,
                parameters: tool_schema(tool.function.parameters),
            })
            .collect();
        let parameters = &mut request.parameters;
        parameters.temperature = body.temperature;
        parameters.max_tokens = body.max_tokens;
        parameters.max_output_tokens = body.max_completion_tokens;
        parameters.seed = body.seed;
        parameters.top_p = body.top_p;
        parameters.stop = match body.stop {
            Some(Stop::One(stop)) => vec![stop],
            Some(Stop::Many(stops)) => stops,
            None => Vec::new(),
        };
        (request, body.model)
    }

    fn response<'a>(response: &'a GenerateResponse, model: &'a str) -> Completion<'a> {
        let tool_calls: Vec<WireCall<'a>> = response
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| wire_call(i, call))
            .collect();
        let content = (!response.content.is_empty() || tool_calls.is_empty())
            .then_some(response.content.as_str());
        let id = response.id.as_deref().map_or_else(
            || Cow::Owned(format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())),
            Cow::Borrowed,
        );
        Completion {
            id,
            object: "chat.completion",
            created: unix_now(),
            model: response.model.as_deref().unwrap_or(model),
            choices: [Choice {
                index: 0,
                message: AnswerMessage {
                    role: "assistant",
                    content,
                    tool_calls,
                },
                logprobs: (),
                finish_reason: finish_reason(response.finish_reason.as_deref()).unwrap_or("stop"),
            }],
            usage: response.usage.as_ref().map(wire_usage),
        }
    }

    fn encoder(model: &str) -> ChunkEncoder {
        ChunkEncoder {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            model: model.to_owned(),
            created: unix_now(),
            sent_role: false,
            calls: 0,
        }
    }

    fn error(status: u16, message: &str) -> Value {
        json!({
            "error": {
                "message": message,
                "type": error_type(status),
                "param": null,
                "code": null,
            }
        })
    }
}

/// Turns our chunks into `chat.completion.chunk` server-sent events.
#[derive(Debug)]
pub(crate) struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    sent_role: bool,
    /// Tool calls sent so far: the next call's `index`.
    calls: usize,
}

impl ChunkEncoder {
    fn event(out: &mut Vec<u8>, data: &impl Serialize) {
        out.extend_from_slice(b"data: ");
        write_json(out, data);
        out.extend_from_slice(b"\n\n");
    }
}

impl Encoder for ChunkEncoder {
    fn chunk(&mut self, chunk: &StreamChunk, out: &mut Vec<u8>) {
        if let Some(model) = &chunk.model {
            self.model.clone_from(model);
        }
        let role = (!self.sent_role).then_some("assistant");
        self.sent_role = true;
        let content = (!chunk.content.is_empty() || chunk.tool_calls.is_empty())
            .then_some(chunk.content.as_str());
        let tool_calls = chunk
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| wire_call(self.calls + i, call))
            .collect();
        self.calls += chunk.tool_calls.len();
        let event = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: [ChunkChoice {
                index: 0,
                delta: Delta {
                    role,
                    content,
                    tool_calls,
                },
                logprobs: (),
                finish_reason: finish_reason(chunk.finish_reason.as_deref()),
            }],
            usage: chunk.usage.as_ref().map(wire_usage),
        };
        Self::event(out, &event);
    }

    fn error(&mut self, error: &ProviderError, status: u16, out: &mut Vec<u8>) {
        Self::event(out, &OpenAi::error(status, error.message()));
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Usage;

    /// The JSON text of an answer, its `created` time zeroed.
    fn text(answer: impl serde::Serialize) -> String {
        let mut value = serde_json::to_value(answer).unwrap();
        value["created"] = 0.into();
        value.to_string()
    }

    fn call(id: Option<&str>, arguments: Value) -> ToolCall {
        ToolCall {
            id: id.map(str::to_owned),
            name: "weather".into(),
            arguments,
        }
    }

    #[test]
    fn a_text_answer_keeps_its_wire_shape() {
        let response = GenerateResponse {
            content: "Hi \"there\"\n".into(),
            finish_reason: Some("end_turn".into()),
            usage: Some(Usage::new(5, 3)),
            model: Some("up".into()),
            id: Some("chatcmpl-1".into()),
            ..GenerateResponse::default()
        };
        assert_eq!(
            text(OpenAi::response(&response, "asked")),
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\"\n"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#
        );
    }

    #[test]
    fn a_tool_calling_answer_keeps_its_wire_shape() {
        let response = GenerateResponse {
            tool_calls: vec![
                call(None, json!({"city": "Paris"})),
                call(Some("c2"), Value::String("not json".into())),
                call(None, Value::Null),
            ],
            id: Some("chatcmpl-2".into()),
            ..GenerateResponse::default()
        };
        assert_eq!(
            text(OpenAi::response(&response, "asked")),
            r#"{"id":"chatcmpl-2","object":"chat.completion","created":0,"model":"asked","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_0","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},{"index":1,"id":"c2","type":"function","function":{"name":"weather","arguments":"not json"}},{"index":2,"id":"call_2","type":"function","function":{"name":"weather","arguments":"{}"}}]},"logprobs":null,"finish_reason":"stop"}]}"#
        );
    }

    #[test]
    fn streamed_chunks_keep_their_wire_shape() {
        let mut encoder = OpenAi::encoder("asked");
        encoder.id = "chatcmpl-3".into();
        encoder.created = 0;
        let mut out = Vec::new();
        let first = StreamChunk {
            model: Some("up".into()),
            ..StreamChunk::text("Hel\"lo")
        };
        encoder.chunk(&first, &mut out);
        encoder.chunk(&StreamChunk::text(""), &mut out);
        let calls = StreamChunk {
            tool_calls: vec![
                call(None, json!({"city": "Paris"})),
                call(Some("c2"), json!(1)),
            ],
            ..StreamChunk::default()
        };
        encoder.chunk(&calls, &mut out);
        let last = StreamChunk {
            finish_reason: Some("tool_use".into()),
            usage: Some(Usage::new(5, 3)),
            ..StreamChunk::default()
        };
        encoder.chunk(&last, &mut out);
        encoder.end(&mut out);
        let expected = [
            r#"data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":0,"model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel\"lo"},"logprobs":null,"finish_reason":null}]}"#,
            r#"data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":0,"model":"up","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":0,"model":"up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_0","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},{"index":1,"id":"c2","type":"function","function":{"name":"weather","arguments":"1"}}]},"logprobs":null,"finish_reason":null}]}"#,
            r#"data: {"id":"chatcmpl-3","object":"chat.completion.chunk","created":0,"model":"up","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
            "data: [DONE]",
        ];
        let expected = expected.map(|event| format!("{event}\n\n")).concat();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn an_error_breaking_a_stream_is_an_error_event() {
        let mut out = Vec::new();
        let error = ProviderError::http(429, "slow \"down\"");
        OpenAi::encoder("asked").error(&error, 429, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data: {\"error\":{\"message\":\"slow \\\"down\\\"\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":null}}\n\n"
        );
    }
}
