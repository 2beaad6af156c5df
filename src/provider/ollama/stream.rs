//! A streamed answer: one answer object a line, the last with `done: true`.

use std::sync::Arc;

use serde_json::Value;

use super::super::http::HttpEndpoint;
use super::super::stream::{Decode, Step};
use super::response::parse_answer;
use crate::{ProviderError, StreamChunk};

/// Reads the lines of a streamed answer (`pub` only to be named by
/// [`WireApi`](super::super::WireApi)).
#[derive(Debug)]
pub struct LineDecoder {
    endpoint: Arc<HttpEndpoint>,
    model_sent: bool,
}

impl Decode for LineDecoder {
    type Frame = String;

    const TERMINATOR: &'static str = "the line with \"done\": true";

    fn new(endpoint: Arc<HttpEndpoint>) -> Self {
        Self {
            endpoint,
            model_sent: false,
        }
    }

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
