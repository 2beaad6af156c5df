//! The Anthropic Messages wire format, both ways: request in, answer and events out.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::api::{Api, Encoder, error_type, take_prompt, tool_schema};
use crate::{
    GenerateRequest, GenerateResponse, Message, ProviderError, Role, StreamChunk, Tool, ToolCall,
};

/// `POST /v1/messages`.
#[derive(Debug)]
pub(crate) struct Anthropic;

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
    /// Everything our request type has no field for (`tool_choice`, `metadata`, ...).
    #[serde(flatten)]
    extra: Map<String, Value>,
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

fn tool_use(call: &ToolCall, index: usize) -> Value {
    json!({
        "type": "tool_use",
        "id": call.id.clone().unwrap_or_else(|| format!("toolu_{index}")),
        "name": call.name,
        "input": if call.arguments.is_object() { call.arguments.clone() } else { json!({}) },
    })
}

fn new_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

impl Api for Anthropic {
    type Body = MessagesRequest;
    type Encoder = EventEncoder;
    const PROVIDER: &'static str = "anthropic";

    fn request(body: MessagesRequest) -> (GenerateRequest, String, Map<String, Value>) {
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
        (request, body.model, body.extra)
    }

    fn response(response: &GenerateResponse, model: &str) -> Value {
        let mut content = Vec::new();
        if !response.content.is_empty() || response.tool_calls.is_empty() {
            content.push(json!({ "type": "text", "text": response.content }));
        }
        content.extend(
            response
                .tool_calls
                .iter()
                .enumerate()
                .map(|(i, call)| tool_use(call, i)),
        );
        let usage = response.usage.unwrap_or_default();
        json!({
            "id": response.id.clone().unwrap_or_else(new_id),
            "type": "message",
            "role": "assistant",
            "model": response.model.as_deref().unwrap_or(model),
            "content": content,
            "stop_reason": stop_reason(response.finish_reason.as_deref()),
            "stop_sequence": null,
            "usage": {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
            },
        })
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
    fn event(out: &mut String, name: &str, data: &Value) {
        out.push_str("event: ");
        out.push_str(name);
        out.push_str("\ndata: ");
        out.push_str(&data.to_string());
        out.push_str("\n\n");
    }

    fn start(&mut self, chunk: &StreamChunk, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let model = chunk.model.as_deref().unwrap_or(&self.model);
        let message = json!({
            "id": chunk.id.clone().unwrap_or_else(new_id),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": { "input_tokens": 0, "output_tokens": 0 },
        });
        Self::event(
            out,
            "message_start",
            &json!({ "type": "message_start", "message": message }),
        );
    }

    fn close_text(&mut self, out: &mut String) {
        if let Some(index) = self.text_block.take() {
            let stop = json!({ "type": "content_block_stop", "index": index });
            Self::event(out, "content_block_stop", &stop);
        }
    }
}

impl Encoder for EventEncoder {
    fn chunk(&mut self, chunk: &StreamChunk, out: &mut String) {
        self.start(chunk, out);
        if !chunk.content.is_empty() {
            let index = match self.text_block {
                Some(index) => index,
                None => {
                    let index = self.blocks;
                    self.blocks += 1;
                    self.text_block = Some(index);
                    let start = json!({
                        "type": "content_block_start",
                        "index": index,
                        "content_block": { "type": "text", "text": "" },
                    });
                    Self::event(out, "content_block_start", &start);
                    index
                }
            };
            let delta = json!({
                "type": "content_block_delta",
                "index": index,
                "delta": { "type": "text_delta", "text": chunk.content },
            });
            Self::event(out, "content_block_delta", &delta);
        }
        for call in &chunk.tool_calls {
            self.close_text(out);
            let index = self.blocks;
            self.blocks += 1;
            let mut block = tool_use(call, index);
            let input = block["input"].take().to_string();
            block["input"] = json!({});
            let start =
                json!({ "type": "content_block_start", "index": index, "content_block": block });
            Self::event(out, "content_block_start", &start);
            let delta = json!({
                "type": "content_block_delta",
                "index": index,
                "delta": { "type": "input_json_delta", "partial_json": input },
            });
            Self::event(out, "content_block_delta", &delta);
            let stop = json!({ "type": "content_block_stop", "index": index });
            Self::event(out, "content_block_stop", &stop);
        }
        if chunk.finish_reason.is_some() {
            self.stop_reason.clone_from(&chunk.finish_reason);
        }
        if let Some(usage) = &chunk.usage {
            self.output_tokens = usage.completion_tokens;
        }
    }

    fn error(&mut self, error: &ProviderError, status: u16, out: &mut String) {
        Self::event(out, "error", &Anthropic::error(status, error.message()));
    }

    fn end(&mut self, out: &mut String) {
        self.start(&StreamChunk::default(), out);
        self.close_text(out);
        let delta = json!({
            "type": "message_delta",
            "delta": { "stop_reason": stop_reason(self.stop_reason.as_deref()), "stop_sequence": null },
            "usage": { "output_tokens": self.output_tokens },
        });
        Self::event(out, "message_delta", &delta);
        Self::event(out, "message_stop", &json!({ "type": "message_stop" }));
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
        let mut out = String::new();
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
        assert_eq!(out, expected);
    }

    #[test]
    fn an_empty_stream_still_starts_and_stops_its_message_and_errors_are_events() {
        let mut encoder = Anthropic::encoder("asked");
        let mut out = String::new();
        encoder.end(&mut out);
        assert!(
            out.starts_with(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_"
            ),
            "{out}"
        );
        assert!(out.ends_with("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":0}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "{out}");

        let mut out = String::new();
        let error = ProviderError::http(529, "overloaded");
        encoder.error(&error, 529, &mut out);
        assert_eq!(
            out,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"overloaded\"}}\n\n"
        );
    }
}
