//! `chat.completion.chunk` events: text deltas, tool calls assembled from their pieces.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::super::arguments_from_text;
use super::super::http::HttpEndpoint;
use super::super::sse::SseEvent as Event;
use super::super::stream::{Decode, Identity, Step};
use super::response::{WireUsage, error_in_body};
use crate::{ProviderError, StreamChunk, ToolCall};

/// One chunk, borrowing what is only copied on from the event's text.
#[derive(Deserialize)]
struct WireChunk<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    model: Option<Text<'a>>,
    #[serde(borrow)]
    choices: Option<Vec<ChunkChoice<'a>>>,
    usage: Option<WireUsage>,
    /// Set (not `null`) when the server sent an error object in place of a chunk.
    #[serde(default)]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow)]
    delta: Option<Delta<'a>>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow)]
    content: Option<Text<'a>>,
    tool_calls: Option<Vec<CallDelta>>,
}

/// A string borrowed from the event when it has no escapes (serde borrows a `Cow` only as a
/// field of its own, not inside an `Option`).
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
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
#[derive(Debug, Default)]
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

/// Reads `chat.completion.chunk` events (`pub` only to be named by
/// [`WireApi`](super::super::WireApi)).
#[derive(Debug)]
pub struct ChunkDecoder {
    endpoint: Arc<HttpEndpoint>,
    /// The model and completion id the server names.
    identity: Identity,
    /// Tool calls being assembled, by their index in the answer.
    calls: BTreeMap<u32, PartialCall>,
}

impl ChunkDecoder {
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
}

impl Decode for ChunkDecoder {
    type Frame = Event;

    const TERMINATOR: &'static str = "data: [DONE]";

    fn new(endpoint: Arc<HttpEndpoint>) -> Self {
        Self {
            endpoint,
            identity: Identity::default(),
            calls: BTreeMap::new(),
        }
    }

    fn decode(&mut self, event: Event) -> Result<Step, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            // A server that gave no finish reason still had its tool calls finished by [DONE].
            let calls = self.take_calls();
            return Ok(Step::End((!calls.is_empty()).then(|| {
                self.identity.stamp(StreamChunk {
                    tool_calls: calls,
                    ..StreamChunk::default()
                })
            })));
        }
        // Straight into typed structs; an event they do not accept, or an error object, is
        // read again as a `Value` tree, which names the server's error or what is wrong.
        let wire = match serde_json::from_str::<WireChunk>(data) {
            Ok(wire) if wire.error.is_none() => wire,
            _ => {
                let value: Value =
                    serde_json::from_str(data).map_err(|e| self.endpoint.malformed(&e, data))?;
                if value.get("error").is_some_and(|e| !e.is_null()) {
                    return Err(error_in_body(&self.endpoint, &value));
                }
                WireChunk::deserialize(value).map_err(|e| self.endpoint.malformed(&e, data))?
            }
        };
        self.identity.learn(
            wire.model.as_ref().map(Text::as_str),
            wire.id.as_ref().map(Text::as_str),
        );
        let mut chunk = StreamChunk {
            usage: wire.usage.and_then(WireUsage::into_usage),
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
                    .push_str(delta.content.as_ref().map_or("", Text::as_str));
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
            Step::Chunk(self.identity.stamp(chunk))
        })
    }
}
