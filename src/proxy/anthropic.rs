//! The Anthropic Messages wire format, both ways: request in, answer and events out.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{Api, Encoder, error_type, take_prompt, tool_schema, write_json};
use crate::{
    GenerateRequest, GenerateResponse, Message, ProviderError, Role, StreamChunk, Tool, ToolCall,
};

/// `POST /v1/messages`.
#[derive(Debug)]
pub(crate) struct Anthropic;

/// The fields we read; each is named in `Api::FIELDS` too (a test checks), or it would also
/// be forwarded as a parameter we have no field for.
#[derive(Deserialize)]
pub(crate) struct MessagesRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    tools: Vec<InTool>,
    #[serde(default)]
    stream: bool,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    #[serde(default)]
    stop_sequences: Vec<String>,
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    content: Content,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Content>,
    },
    /// Images, documents, thinking: not representable in our request, dropped.
    #[serde(other)]
    Other,
}

impl Content {
    fn text(self) -> String {
        match self {
            Content::Text(text) => text,
            Content::Blocks(blocks) => blocks
                .into_iter()
                .filter_map(|block| match block {
                    Block::Text { text } => Some(text),
                    _ => None,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct InTool {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    input_schema: Option<Value>,
}

/// Our messages for one Anthropic message: tool results become tool messages of their own.
fn messages(message: InMessage, out: &mut Vec<Message>) {
    let role = if message.role == "assistant" {
        Role::Assistant
    } else {
        Role::User
    };
    let blocks = match message.content {
        Content::Text(text) => return out.push(Message::new(role, text)),
        Content::Blocks(blocks) => blocks,
    };
    let mut turn = Message::new(role, "");
    for block in blocks {
        match block {
            Block::Text { text } => turn.content.push_str(&text),
            Block::ToolUse { id, name, input } => turn.tool_calls.push(ToolCall {
                id: Some(id),
                name,
                arguments: input,
            }),
            Block::ToolResult {
                tool_use_id,
                content,
            } => out.push(Message::tool(
                tool_use_id,
                content.map(Content::text).unwrap_or_default(),
            )),
            Block::Other => {}
        }
    }
    if !turn.content.is_empty() || !turn.tool_calls.is_empty() {
        out.push(turn);
    }
}

/// Anthropic's words for why generation stopped, from any provider's.
fn stop_reason(reason: Option<&str>) -> &str {
    match reason {
        None | Some("stop") => "end_turn",
        Some("length") => "max_tokens",
        Some("tool_calls") => "tool_use",
        Some(other) => other,
    }
}

/// A content block of an answer, or as a stream starts it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: Input<'a>,
    },
}

/// A tool's input: always an object in this API.
#[derive(Serialize)]
#[serde(untagged)]
enum Input<'a> {
    Object(&'a Value),
    Empty(Empty),
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

impl Input<'_> {
    fn of(call: &ToolCall) -> Input<'_> {
        if call.arguments.is_object() {
            Input::Object(&call.arguments)
        } else {
            Input::Empty(Empty {})
        }
    }
}

fn tool_use<'a>(call: &'a ToolCall, index: usize, input: Input<'a>) -> OutBlock<'a> {
    let id = call
        .id
        .as_deref()
        .map_or_else(|| Cow::Owned(format!("toolu_{index}")), Cow::Borrowed);
    OutBlock::ToolUse {
        id,
        name: &call.name,
        input,
    }
}

/// A `message` object: the complete answer, or the empty one `message_start` carries.
#[derive(Serialize)]
pub(crate) struct Answer<'a> {
    id: Cow<'a, str>,
    r#type: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: Option<&'a str>,
    stop_sequence: (),
    usage: AnswerUsage,
}

#[derive(Serialize)]
struct AnswerUsage {
    input_tokens: u64,
    output_tokens: u64,
}

/// The streaming events, each named by its `type`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: Answer<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: OutBlock<'a>,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: StopDelta<'a>,
        usage: OutputUsage,
    },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'a str,
    stop_sequence: (),
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
}

fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

impl Api for Anthropic {
    type Body = MessagesRequest;
    type Encoder = EventEncoder;
    type Answer<'a> = Answer<'a>;
    const PROVIDER: &'static str = "anthropic";

    const FIELDS: &'static [&'static str] = &[
        "model",
        "messages",
        "system",
        "tools",
        "stream",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
    ];

    fn request(body: MessagesRequest) -> (GenerateRequest, String) {
        let mut request = GenerateRequest {
            stream: body.stream,
            system_prompt: body.system.map(Content::text),
            ..GenerateRequest::default()
        };
        for message in body.messages {
            messages(message, &mut request.messages);
        }
        take_prompt(&mut request);
        request.tools = body
            .tools
            .into_iter()
            .map(|tool| Tool {
                name: tool.name,
                description: tool.description,
                parameters: tool_schema(tool.input_schema),
            })
            .collect();
        let parameters = &mut request.parameters;
        parameters.max_tokens = body.max_tokens;
        parameters.temperature = body.temperature;
        parameters.top_p = body.top_p;
        parameters.top_k = body.top_k;
        parameters.stop = body.stop_sequences;
        (request, body.model)
    }

    fn response<'a>(response: &'a GenerateResponse, model: &'a str) -> Answer<'a> {
        let mut content = Vec::with_capacity(response.tool_calls.len() + 1);
        if !response.content.is_empty() || response.tool_calls.is_empty() {
            content.push(OutBlock::Text {
                text: &response.content,
            });
        }
        content.extend(
            response
                .tool_calls
                .iter()
                .enumerate()
                .map(|(i, call)| tool_use(call, i, Input::of(call))),
        );
        let usage = response.usage.unwrap_or_default();
        Answer {
            id: response
                .id
                .as_deref()
                .map_or_else(|| Cow::Owned(new_id()), Cow::Borrowed),
            r#type: "message",
            role: "assistant",
            model: response.model.as_deref().unwrap_or(model),
            content,
            stop_reason: Some(stop_reason(response.finish_reason.as_deref())),
            stop_sequence: (),
            usage: AnswerUsage {
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
            },
        }
    }

    fn encoder(model: &str) -> EventEncoder {
        EventEncoder {
            model: model.to_owned(),
            started: false,
            text_block: None,
            blocks: 0,
            stop_reason: None,
            output_tokens: 0,
        }
    }

    fn error(status: u16, message: &str) -> Value {
        json!({
            "type": "error",
            "error": { "type": error_type(status), "message": message },
        })
    }
}

/// Turns our chunks into the Messages streaming events: `message_start`, content blocks,
/// `message_delta`, `message_stop`.
#[derive(Debug)]
pub(crate) struct EventEncoder {
    model: String,
    started: bool,
    /// The index of the open text block, if one is open.
    text_block: Option<usize>,
    /// Blocks opened so far: the next block's index.
    blocks: usize,
    stop_reason: Option<String>,
    output_tokens: u64,
}

impl EventEncoder {
    fn event(out: &mut Vec<u8>, name: &str, data: &impl Serialize) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        write_json(out, data);
        out.extend_from_slice(b"\n\n");
    }

    fn send(out: &mut Vec<u8>, event: &Event<'_>) {
        Self::event(out, event.name(), event);
    }

    fn start(&mut self, chunk: &StreamChunk, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = Answer {
            id: chunk
                .id
                .as_deref()
                .map_or_else(|| Cow::Owned(new_id()), Cow::Borrowed),
            r#type: "message",
            role: "assistant",
            model: chunk.model.as_deref().unwrap_or(&self.model),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: (),
            usage: AnswerUsage {
                input_tokens: 0,
                output_tokens: 0,
            },
        };
        Self::send(out, &Event::MessageStart { message });
    }

    fn close_text(&mut self, out: &mut Vec<u8>) {
        if let Some(index) = self.text_block.take() {
            Self::send(out, &Event::ContentBlockStop { index });
        }
    }
}

impl Encoder for EventEncoder {
    fn chunk(&mut self, chunk: &StreamChunk, out: &mut Vec<u8>) {
        self.start(chunk, out);
        if !chunk.content.is_empty() {
            let index = match self.text_block {
                Some(index) => index,
                None => {
                    let index = self.blocks;
                    self.blocks += 1;
                    self.text_block = Some(index);
                    let content_block = OutBlock::Text { text: "" };
                    Self::send(
                        out,
                        &Event::ContentBlockStart {
                            index,
                            content_block,
                        },
                    );
                    index
                }
            };
            let delta = BlockDelta::TextDelta {
                text: &chunk.content,
            };
            Self::send(out, &Event::ContentBlockDelta { index, delta });
        }
        for call in &chunk.tool_calls {
            self.close_text(out);
            let index = self.blocks;
            self.blocks += 1;
            // The block starts empty; its input follows as one JSON delta.
            let content_block = tool_use(call, index, Input::Empty(Empty {}));
            Self::send(
                out,
                &Event::ContentBlockStart {
                    index,
                    content_block,
                },
            );
            let input = match Input::of(call) {
                Input::Object(input) => Cow::Owned(input.to_string()),
                Input::Empty(_) => Cow::Borrowed("{}"),
            };
            let delta = BlockDelta::InputJsonDelta {
                partial_json: &input,
            };
            Self::send(out, &Event::ContentBlockDelta { index, delta });
            Self::send(out, &Event::ContentBlockStop { index });
        }
        if chunk.finish_reason.is_some() {
            self.stop_reason.clone_from(&chunk.finish_reason);
        }
        if let Some(usage) = &chunk.usage {
            self.output_tokens = usage.completion_tokens;
        }
    }

    fn error(&mut self, error: &ProviderError, status: u16, out: &mut Vec<u8>) {
        Self::event(out, "error", &Anthropic::error(status, error.message()));
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        self.start(&StreamChunk::default(), out);
        self.close_text(out);
        let delta = StopDelta {
            stop_reason: stop_reason(self.stop_reason.as_deref()),
            stop_sequence: (),
        };
        let usage = OutputUsage {
            output_tokens: self.output_tokens,
        };
        Self::send(out, &Event::MessageDelta { delta, usage });
        Self::send(out, &Event::MessageStop);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Usage;

    fn call(id: Option<&str>, arguments: Value) -> ToolCall {
        ToolCall {
            id: id.map(str::to_owned),
            name: "weather".into(),
            arguments,
        }
    }

    #[test]
    fn an_answer_keeps_its_wire_shape() {
        let response = GenerateResponse {
            content: "Hi \"there\"\n".into(),
            tool_calls: vec![
                call(Some("toolu_a"), json!({"city": "Paris"})),
                call(None, Value::String("not json".into())),
            ],
            finish_reason: Some("tool_calls".into()),
            usage: Some(Usage::new(5, 3)),
            model: Some("up".into()),
            id: Some("msg_1".into()),
            ..GenerateResponse::default()
        };
        let text = serde_json::to_string(&Anthropic::response(&response, "asked")).unwrap();
        assert_eq!(
            text,
            r#"{"id":"msg_1","type":"message","role":"assistant","model":"up","content":[{"type":"text","text":"Hi \"there\"\n"},{"type":"tool_use","id":"toolu_a","name":"weather","input":{"city":"Paris"}},{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":3}}"#
        );
    }

    #[test]
    fn an_empty_answer_has_one_empty_text_block_and_zero_usage() {
        let response = GenerateResponse {
            id: Some("msg_2".into()),
            ..GenerateResponse::default()
        };
        let text = serde_json::to_string(&Anthropic::response(&response, "asked")).unwrap();
        assert_eq!(
            text,
            r#"{"id":"msg_2","type":"message","role":"assistant","model":"asked","content":[{"type":"text","text":""}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}"#
        );
    }

    #[test]
    fn streamed_events_keep_their_wire_shape() {
        let mut encoder = Anthropic::encoder("asked");
        let mut out = Vec::new();
        let first = StreamChunk {
            model: Some("up".into()),
            id: Some("msg_3".into()),
            ..StreamChunk::text("Hel\"lo")
        };
        encoder.chunk(&first, &mut out);
        encoder.chunk(&StreamChunk::text(", you"), &mut out);
        let calls = StreamChunk {
            tool_calls: vec![
                call(None, json!({"city": "Paris"})),
                call(Some("toolu_b"), json!(1)),
            ],
            ..StreamChunk::default()
        };
        encoder.chunk(&calls, &mut out);
        let last = StreamChunk {
            finish_reason: Some("length".into()),
            usage: Some(Usage::new(5, 3)),
            ..StreamChunk::default()
        };
        encoder.chunk(&last, &mut out);
        encoder.end(&mut out);
        let expected = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_3","type":"message","role":"assistant","model":"up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel\"lo"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", you"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\"}"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"weather","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":2}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":3}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ];
        let expected: String = expected
            .iter()
            .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
            .collect();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn an_empty_stream_still_starts_and_stops_its_message_and_errors_are_events() {
        let mut encoder = Anthropic::encoder("asked");
        let mut out = Vec::new();
        encoder.end(&mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_"
            ),
            "{out}"
        );
        assert!(out.ends_with("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":0}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "{out}");

        let mut out = Vec::new();
        let error = ProviderError::http(529, "overloaded");
        encoder.error(&error, 529, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"overloaded\"}}\n\n"
        );
    }
}
