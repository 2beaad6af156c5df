//! A complete chat completion, and the error objects some servers send in place of one.

use serde::Deserialize;
use serde_json::Value;

use super::super::arguments_from_text;
use super::super::http::{HttpEndpoint, message_in};
use crate::{ErrorKind, GenerateResponse, ProviderError, ToolCall, Usage};

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
pub(super) struct WireUsage {
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

pub(super) fn parse_completion(
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
pub(super) fn error_in_body(endpoint: &HttpEndpoint, value: &Value) -> ProviderError {
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
