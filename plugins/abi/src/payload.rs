//! The JSON payloads, as plugins read and write them.
//!
//! | direction | payload |
//! |---|---|
//! | host → exporter `export` | [`ExportBatch`]: `{"schema": "1.0", "records": [TraceRecord, ...]}` |
//! | host → provider `generate` | [`ProviderRequest`]: `{"schema": "1.0", "request": GenerateRequest}` |
//! | provider `generate` → host | [`ProviderResponse`]: `{"schema": "1.0", "response": GenerateResponse}` |
//! | plugin → host, on failure | [`PluginError`](crate::PluginError): `{"kind": ..., "message": ..., "retryable": bool}` |
//! | host → `create` | the component's `options` table, as a JSON object |
//!
//! These types mirror llmtrace's own (same field names as the trace record format) but are
//! deliberately tolerant: every field has a default and unknown fields are ignored, so a
//! plugin keeps working when a later host adds fields. They are `#[non_exhaustive]` for the
//! same reason; build them with `Default` or their constructors and set fields.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::SCHEMA_VERSION;

/// Free-form metadata (`session_id`, `step_type`, `attempt_number`, custom keys).
pub type Metadata = Map<String, Value>;

/// A batch of trace records for an exporter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExportBatch<R = TraceRecord> {
    /// Payload version, [`SCHEMA_VERSION`].
    pub schema: String,
    /// The records, oldest first.
    pub records: Vec<R>,
}

impl<R> ExportBatch<R> {
    /// A batch of the current schema.
    pub fn new(records: Vec<R>) -> Self {
        ExportBatch {
            schema: SCHEMA_VERSION.to_owned(),
            records,
        }
    }
}

/// A generation request for a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderRequest<Q = GenerateRequest> {
    /// Payload version, [`SCHEMA_VERSION`].
    pub schema: String,
    /// The request.
    pub request: Q,
}

impl<Q> ProviderRequest<Q> {
    /// A request of the current schema.
    pub fn new(request: Q) -> Self {
        ProviderRequest {
            schema: SCHEMA_VERSION.to_owned(),
            request,
        }
    }
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderResponse<P = GenerateResponse> {
    /// Payload version, [`SCHEMA_VERSION`].
    pub schema: String,
    /// The answer.
    pub response: P,
}

impl<P> ProviderResponse<P> {
    /// A response of the current schema.
    pub fn new(response: P) -> Self {
        ProviderResponse {
            schema: SCHEMA_VERSION.to_owned(),
            response,
        }
    }
}

/// One traced generation, success or failure (the trace record format).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TraceRecord {
    /// Unique id of the trace (a UUID).
    pub trace_id: String,
    /// When the call started, RFC 3339 with offset.
    pub timestamp: String,
    /// Provider name.
    pub provider: String,
    /// Configured model.
    pub model: String,
    /// System prompt, if any.
    pub system_prompt: Option<String>,
    /// The prompt.
    pub prompt: String,
    /// Conversation history sent with the prompt.
    pub messages: Vec<Message>,
    /// Tools offered to the model.
    pub tools: Vec<Tool>,
    /// The parameters that were set.
    pub parameters: Parameters,
    /// What came back; `None` when the call failed before any answer.
    pub response: Option<TraceResponse>,
    /// Why the call failed; `None` on success.
    pub error: Option<TraceError>,
    /// Caller, session and injected metadata.
    pub metadata: Metadata,
}

impl TraceRecord {
    /// The `session_id` metadata entry, when it is a string.
    pub fn session_id(&self) -> Option<&str> {
        self.metadata.get("session_id")?.as_str()
    }

    /// Milliseconds the call took, whether it succeeded or not.
    pub fn generation_time_ms(&self) -> f64 {
        match (&self.error, &self.response) {
            (Some(error), _) => error.generation_time_ms,
            (None, Some(response)) => response.generation_time_ms,
            (None, None) => 0.0,
        }
    }
}

/// The answer part of a [`TraceRecord`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TraceResponse {
    /// Generated text.
    pub content: String,
    /// The provider's response body, when the host keeps it.
    pub raw_response: Option<Value>,
    /// Tools the model asked to call.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped.
    pub finish_reason: Option<String>,
    /// Token counts, when reported.
    pub usage: Option<Usage>,
    /// Wall time of the call in milliseconds.
    pub generation_time_ms: f64,
    /// For streams: milliseconds until the first chunk.
    pub time_to_first_token_ms: Option<f64>,
}

/// The failure part of a [`TraceRecord`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TraceError {
    /// Machine-readable class (`timeout`, `rate_limited`, `plugin`, ...).
    pub kind: String,
    /// Human-readable description.
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// HTTP status, for HTTP error responses.
    pub status: Option<u16>,
    /// Milliseconds from the start of the call to the failure.
    pub generation_time_ms: f64,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the input.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

impl Usage {
    /// Usage with `total_tokens` = `prompt_tokens + completion_tokens`.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// What was written.
    pub content: String,
    /// Tool calls made in this turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For tool messages: the call answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A tool the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Tool {
    /// The name the model calls it by.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// A call the model asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ToolCall {
    /// The provider's id for the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name.
    pub name: String,
    /// The arguments.
    pub arguments: Value,
}

impl ToolCall {
    /// A call of `name` with `arguments`.
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            id: None,
            name: name.into(),
            arguments,
        }
    }
}

/// Sampling and length parameters; only the set ones are present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Parameters {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Output token limit (OpenAI naming).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Output token limit; wins over `max_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Nucleus sampling mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

/// What a provider is asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GenerateRequest {
    /// The user's prompt for this turn.
    pub prompt: String,
    /// Instructions for the model.
    pub system_prompt: Option<String>,
    /// Earlier turns, oldest first.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<Tool>,
    /// Sampling and length parameters.
    pub parameters: Parameters,
    /// Metadata recorded in the trace (not meant for the model).
    pub metadata: Metadata,
    /// Whether the caller asked for a stream. ABI 1 providers always answer whole; the host
    /// turns the answer into a one-chunk stream.
    pub stream: bool,
}

impl GenerateRequest {
    /// A request for `prompt`.
    pub fn new(prompt: impl Into<String>) -> Self {
        GenerateRequest {
            prompt: prompt.into(),
            ..GenerateRequest::default()
        }
    }
}

/// What a provider answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct GenerateResponse {
    /// The generated text.
    pub content: String,
    /// Tools the model asked to call.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped (`stop`, `length`, `tool_calls`, ...).
    pub finish_reason: Option<String>,
    /// Token counts.
    pub usage: Option<Usage>,
    /// The model that answered.
    pub model: Option<String>,
    /// Response metadata.
    pub metadata: Metadata,
}

impl GenerateResponse {
    /// A response carrying `content`.
    pub fn new(content: impl Into<String>) -> Self {
        GenerateResponse {
            content: content.into(),
            ..GenerateResponse::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn records_ignore_unknown_fields_and_default_missing_ones() {
        let record: TraceRecord = serde_json::from_value(json!({
            "trace_id": "t-1",
            "prompt": "hi",
            "response": {"content": "hello", "usage": {"prompt_tokens": 1}},
            "a_field_from_the_future": [1, 2, 3],
            "system_prompt": null,
        }))
        .unwrap();
        assert_eq!(record.prompt, "hi");
        let response = record.response.unwrap();
        assert_eq!(response.content, "hello");
        assert_eq!(response.usage.unwrap().prompt_tokens, 1);
        assert!(record.error.is_none());
    }

    #[test]
    fn envelopes_carry_the_schema_version() {
        let batch = ExportBatch::new(vec![TraceRecord::default()]);
        let value = serde_json::to_value(&batch).unwrap();
        assert_eq!(value["schema"], "1.0");
        assert_eq!(value["records"].as_array().unwrap().len(), 1);
    }
}
