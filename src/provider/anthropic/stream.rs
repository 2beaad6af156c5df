//! The Messages streaming events: text deltas, tool calls whole when their block stops.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::super::arguments_from_text;
use super::super::http::HttpEndpoint;
use super::super::sse::SseEvent as Event;
use super::super::stream::{Decode, Identity, Step};
use super::response::{ContentBlock, UsageCount, WireUsage, error_event};
use crate::{ProviderError, StreamChunk, ToolCall};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: ContentBlock,
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
#[derive(Debug)]
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

/// Reads the Messages streaming events (`pub` only to be named by
/// [`WireApi`](super::super::WireApi)).
#[derive(Debug)]
pub struct EventDecoder {
    endpoint: Arc<HttpEndpoint>,
    /// The model and message id the server names.
    identity: Identity,
    usage: UsageCount,
    /// Open `tool_use` blocks, by block index.
    tool_uses: BTreeMap<u32, PendingToolUse>,
}

impl EventDecoder {
    /// The event `data` holds, read straight into [`WireEvent`]; one it does not accept is
    /// read again as a `Value` tree, so that what is wrong is reported as before.
    fn wire_event(&self, data: &str) -> Result<WireEvent, ProviderError> {
        if let Ok(wire) = serde_json::from_str::<WireEvent>(data) {
            return Ok(wire);
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| self.endpoint.malformed(&e, data))?;
        WireEvent::deserialize(&value).map_err(|e| self.endpoint.malformed(&e, data))
    }

    fn emit(&mut self, chunk: StreamChunk) -> Step {
        Step::Chunk(self.identity.stamp(chunk))
    }
}

impl Decode for EventDecoder {
    type Frame = Event;

    const TERMINATOR: &'static str = "the message_stop event";

    fn new(endpoint: Arc<HttpEndpoint>) -> Self {
        Self {
            endpoint,
            identity: Identity::default(),
            usage: UsageCount::default(),
            tool_uses: BTreeMap::new(),
        }
    }

    fn decode(&mut self, event: Event) -> Result<Step, ProviderError> {
        let data = event.data.trim();
        match self.wire_event(data)? {
            WireEvent::MessageStart { message } => {
                self.identity
                    .learn(message.model.as_deref(), message.id.as_deref());
                self.usage.add(message.usage.unwrap_or_default());
                Ok(Step::Skip)
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                ContentBlock::Text { text } if !text.is_empty() => {
                    Ok(self.emit(StreamChunk::text(text)))
                }
                ContentBlock::ToolUse { id, name, input } => {
                    let pending = PendingToolUse {
                        id,
                        name,
                        input,
                        json: String::new(),
                    };
                    self.tool_uses.insert(index, pending);
                    Ok(Step::Skip)
                }
                ContentBlock::Text { .. } | ContentBlock::Other => Ok(Step::Skip),
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
                self.usage.add(usage.unwrap_or_default());
                Ok(self.emit(StreamChunk {
                    finish_reason: delta.stop_reason,
                    usage: self.usage.usage(),
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
            WireEvent::Error => {
                let value: Value =
                    serde_json::from_str(data).map_err(|e| self.endpoint.malformed(&e, data))?;
                Err(error_event(&self.endpoint, &value))
            }
        }
    }
}
