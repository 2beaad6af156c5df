//! The Messages request body: the history as content blocks, tool results grouped.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use super::AnthropicProvider;
use crate::{GenerateRequest, Message, Role, Tool};

/// The body of `POST /v1/messages`.
#[derive(Debug, Serialize)]
pub struct MessagesRequest<'a> {
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

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: WireContent<'a>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(&'a str),
    Blocks(Vec<WireBlock<'a>>),
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    input_schema: &'a Value,
}

impl<'a> MessagesRequest<'a> {
    pub(super) fn new(model: &'a str, request: &'a GenerateRequest) -> Self {
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
