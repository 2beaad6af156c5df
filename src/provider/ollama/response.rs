//! One answer object: the complete answer, or one line of a stream.

use serde::Deserialize;
use serde_json::Value;

use super::super::http::{HttpEndpoint, message_in};
use crate::{ErrorKind, ProviderError, ToolCall, Usage};

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
pub(super) struct Answer {
    pub(super) content: String,
    pub(super) tool_calls: Vec<ToolCall>,
    pub(super) finish_reason: Option<String>,
    pub(super) usage: Option<Usage>,
    pub(super) model: Option<String>,
    pub(super) done: bool,
}

pub(super) fn parse_answer(
    endpoint: &HttpEndpoint,
    value: &Value,
) -> Result<Answer, ProviderError> {
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
