//! A complete message, its usage counts, and the error objects of the API.

use serde::Deserialize;
use serde_json::Value;

use super::super::http::HttpEndpoint;
use crate::{ErrorKind, GenerateResponse, ProviderError, ToolCall, Usage};

#[derive(Deserialize)]
struct WireResponse {
    /// `error` for an error object sent in place of a message.
    r#type: Option<BodyType>,
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    content: Vec<ContentBlock>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum BodyType {
    Error,
    #[serde(other)]
    Other,
}

/// A content block of an answer, whole or as a stream starts it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ContentBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: Option<String>,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Thinking, server tools, and whatever the API adds: not part of the answer we report.
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(super) struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// The usage reported so far: a stream reports it in pieces (`message_start`, then
/// `message_delta`), each count replacing the earlier one. `None` fields were never reported.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct UsageCount {
    input: Option<u64>,
    output: Option<u64>,
    cache_creation: Option<u64>,
    cache_read: Option<u64>,
}

impl UsageCount {
    pub(super) fn add(&mut self, usage: WireUsage) {
        self.input = usage.input_tokens.or(self.input);
        self.output = usage.output_tokens.or(self.output);
        self.cache_creation = usage.cache_creation_input_tokens.or(self.cache_creation);
        self.cache_read = usage.cache_read_input_tokens.or(self.cache_read);
    }

    /// The counts, `None` when the server reported none (never made-up zeros). Prompt tokens
    /// are all input tokens: the API counts cache writes and reads apart from `input_tokens`.
    pub(super) fn usage(&self) -> Option<Usage> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let prompt = [self.input, self.cache_creation, self.cache_read]
            .into_iter()
            .flatten()
            .fold(0u64, u64::saturating_add);
        Some(Usage {
            cached_prompt_tokens: self.cache_read,
            cache_creation_tokens: self.cache_creation,
            ..Usage::new(prompt, self.output.unwrap_or(0))
        })
    }
}

/// Reads a message from its body, straight into typed structs. A body they do not accept, or
/// an error object, is read again as a `Value` tree, so that the server's error or what is
/// wrong with the answer is reported as the tree shows it.
pub(super) fn read_message(
    endpoint: &HttpEndpoint,
    body: &[u8],
) -> Result<GenerateResponse, ProviderError> {
    match serde_json::from_slice::<WireResponse>(body) {
        Ok(wire) if wire.r#type != Some(BodyType::Error) => Ok(answer(wire)),
        _ => parse_message(endpoint, &endpoint.parse_json(body)?),
    }
}

fn parse_message(
    endpoint: &HttpEndpoint,
    value: &Value,
) -> Result<GenerateResponse, ProviderError> {
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Err(error_event(endpoint, value));
    }
    let wire =
        WireResponse::deserialize(value).map_err(|e| endpoint.malformed(&e, &value.to_string()))?;
    Ok(answer(wire))
}

fn answer(wire: WireResponse) -> GenerateResponse {
    let mut response = GenerateResponse {
        finish_reason: wire.stop_reason,
        usage: wire.usage.and_then(|usage| {
            let mut counted = UsageCount::default();
            counted.add(usage);
            counted.usage()
        }),
        model: wire.model,
        id: wire.id,
        ..GenerateResponse::default()
    };
    for block in wire.content {
        match block {
            ContentBlock::Text { text } => response.content.push_str(&text),
            ContentBlock::ToolUse { id, name, input } => response.tool_calls.push(ToolCall {
                id,
                name,
                arguments: input,
            }),
            ContentBlock::Other => {}
        }
    }
    response
}

/// An error object (`{"type": "error", "error": {"type", "message"}}`), sent in a stream.
pub(super) fn error_event(endpoint: &HttpEndpoint, value: &Value) -> ProviderError {
    let kind_name = value
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let message = value
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("the server reported an error without a message");
    let kind = match kind_name {
        "rate_limit_error" => ErrorKind::RateLimited,
        "authentication_error" | "permission_error" => ErrorKind::Authentication,
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            ErrorKind::InvalidRequest
        }
        "timeout_error" => ErrorKind::Timeout,
        // overloaded_error, api_error, and types this code does not know yet.
        _ => ErrorKind::Server,
    };
    ProviderError::new(
        kind,
        endpoint.server_message(format!("{kind_name}: {message}")),
    )
}
