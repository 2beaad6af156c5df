//! The messages servers write in error responses: found in each provider's error shape, and
//! cut to a quotable length after secrets are scrubbed.

use std::error::Error as StdError;

use reqwest::StatusCode;
use serde_json::Value;

/// Server messages are quoted in errors and traces; beyond this many bytes they are cut.
pub(super) const MAX_MESSAGE_BYTES: usize = 2048;

/// The error message in an error response body, as the providers write it:
/// `{"error": {"type", "message"}}` (OpenAI, Anthropic), `{"error": "..."}` (Ollama),
/// `{"message", "type"}` (vLLM); else the body itself, else the status's reason.
///
/// `scrub` is applied to the whole message before it is cut to [`MAX_MESSAGE_BYTES`]: a secret
/// straddling the cut would otherwise leave its prefix behind, unrecognisable.
pub(super) fn error_message(
    body: &[u8],
    status: StatusCode,
    scrub: impl Fn(String) -> String,
) -> String {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(value) => message_in(&value),
        Err(_) => None,
    };
    let message = message.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if message.is_empty() {
        return status.canonical_reason().unwrap_or("no message").to_owned();
    }
    let mut message = scrub(message);
    message.truncate(truncate(&message, MAX_MESSAGE_BYTES).len());
    message
}

/// The message of an error object found in a JSON body, if there is one.
pub(crate) fn message_in(value: &Value) -> Option<String> {
    let error = match value.get("error") {
        Some(Value::String(message)) => return Some(message.clone()),
        Some(error @ Value::Object(_)) => error,
        _ => value,
    };
    let message = error.get("message")?.as_str()?;
    match error.get("type").and_then(Value::as_str) {
        Some(kind) if !kind.is_empty() => Some(format!("{kind}: {message}")),
        _ => Some(message.to_owned()),
    }
}

/// `error: source: source ...`, which is what tells a refused connection from a reset one.
pub(super) fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_each_providers_error_shape() {
        let status = StatusCode::BAD_REQUEST;
        let openai = br#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#;
        assert_eq!(
            error_message(openai, status, |m| m),
            "invalid_request_error: bad model"
        );
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#, status, |m| m),
            "model not found"
        );
        let vllm = br#"{"object":"error","message":"too long","type":"BadRequestError"}"#;
        assert_eq!(
            error_message(vllm, status, |m| m),
            "BadRequestError: too long"
        );
        assert_eq!(
            error_message(b"plain failure\n", status, |m| m),
            "plain failure"
        );
        assert_eq!(error_message(b"", status, |m| m), "Bad Request");
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
