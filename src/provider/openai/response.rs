//! A complete chat completion, and the error objects some servers send in place of one.

use serde::Deserialize;
use serde::de::IgnoredAny;
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
    /// Set (not `null`) when the server sent an error object in place of an answer.
    #[serde(default)]
    error: Option<IgnoredAny>,
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
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptTokensDetails>,
}

/// The breakdown of `prompt_tokens`: how many were read from the prompt cache (`null` or
/// absent on servers without one).
#[derive(Deserialize, Clone, Copy)]
struct PromptTokensDetails {
    cached_tokens: Option<u64>,
}

impl WireUsage {
    /// The counts; `None` for a usage object without any (`{}`): no counts, not zeros.
    pub(super) fn into_usage(self) -> Option<Usage> {
        let (prompt, completion) = (self.prompt_tokens, self.completion_tokens);
        if prompt.is_none() && completion.is_none() && self.total_tokens.is_none() {
            return None;
        }
        let computed = Usage::new(prompt.unwrap_or(0), completion.unwrap_or(0));
        Some(Usage {
            total_tokens: self.total_tokens.unwrap_or(computed.total_tokens),
            cached_prompt_tokens: self.prompt_tokens_details.and_then(|d| d.cached_tokens),
            ..computed
        })
    }
}

/// Reads a completion from its body, straight into typed structs. A body they do not accept,
/// or one carrying an error object, is read again as a `Value` tree, so that the server's
/// error or what is wrong with the answer is reported as the tree shows it.
pub(super) fn read_completion(
    endpoint: &HttpEndpoint,
    body: &[u8],
) -> Result<GenerateResponse, ProviderError> {
    match serde_json::from_slice::<Completion>(body) {
        Ok(completion) if completion.error.is_none() => {
            answer(completion).ok_or_else(|| no_choice(endpoint, &String::from_utf8_lossy(body)))
        }
        _ => parse_completion(endpoint, &endpoint.parse_json(body)?),
    }
}

fn parse_completion(
    endpoint: &HttpEndpoint,
    value: &Value,
) -> Result<GenerateResponse, ProviderError> {
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(error_in_body(endpoint, value));
    }
    let completion =
        Completion::deserialize(value).map_err(|e| endpoint.malformed(&e, &value.to_string()))?;
    answer(completion).ok_or_else(|| no_choice(endpoint, &value.to_string()))
}

fn no_choice(endpoint: &HttpEndpoint, body: &str) -> ProviderError {
    endpoint.malformed(&"no choice in the answer", body)
}

/// The answer of the first choice; `None` when there is none.
fn answer(completion: Completion) -> Option<GenerateResponse> {
    let choice = completion
        .choices
        .into_iter()
        .find(|choice| choice.index == 0)?;
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
    Some(GenerateResponse {
        content: message.content.unwrap_or_default(),
        tool_calls,
        finish_reason: choice.finish_reason,
        usage: completion.usage.and_then(WireUsage::into_usage),
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
