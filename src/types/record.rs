use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Message, Metadata, Parameters, Tool, ToolCall, Usage};
use crate::ErrorKind;

/// A new trace id for a call that started `at`: a UUID v7, whose first 48 bits are `at` in
/// milliseconds and whose other 74 free bits are random.
///
/// Ids made this way sort by time, so a store's index on them grows at its end: with random
/// (v4) ids every insert lands on a random page of the index, which in a SQLite store of a
/// million traces cost as much as its full-text index.
pub(crate) fn new_trace_id(at: DateTime<Utc>) -> Uuid {
    // `NoContext`: no counter shared between threads (the uuid crate's own v7 clock takes a
    // global lock per id); ids made in the same millisecond differ in their random bits.
    let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        seconds,
        at.timestamp_subsec_nanos(),
    ))
}

/// Everything about one generation, success or failure: the trace.
///
/// # Failed and partial calls
///
/// A call failed exactly when `error` is present ([`is_error`](Self::is_error)); every reader
/// of records (the store's [`errors`](crate::TraceQuery::errors) filter, the summary's
/// `failed_interactions`, the Markdown report, OTLP's ERROR status) goes by that alone.
/// `response` is `None` when the call failed before any answer began (a refused request, a
/// timeout, a call cancelled while waiting). Once a stream is open, `response` holds what
/// arrived, even if that is nothing: a stream that broke or was dropped has both its partial
/// `response` and the `error` that ended it.
///
/// The serialized field names are a stable format that users' tools read (see the crate docs).
/// Records are shared as `Arc<TraceRecord>` and never change once built.
///
/// Reading is more lenient than writing, so that files written by the reference implementation
/// (AbstractCore's `export_traces`) load too:
/// - a timestamp without offset (`2025-11-08T12:34:56.789`) is read as UTC;
/// - `null` stands for empty in `messages`, `tools`, `metadata`, `prompt`, `parameters` and in
///   the response's `content` and `tool_calls`; `null` usage or `raw_response` is absent;
///   a `null` `generation_time_ms` (the provider did not time the call) reads as 0;
/// - usage may name its counts `input_tokens` / `output_tokens`; a missing `total_tokens` is
///   their (saturating) sum;
/// - `parameters` entries this type cannot hold (unknown keys, values of another type or out of
///   range, such as a `max_tokens` above `u32::MAX`) are kept, unchanged, in the metadata
///   object `unmapped_parameters`, so nothing read is lost;
/// - `provider` is kept as written (the reference writes a class name, `OllamaProvider`);
/// - keys no field holds are ignored: a tool's `required_args` (its JSON Schema says the
///   same), usage's `visual_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "super::lenient::RecordWire")]
pub struct TraceRecord {
    /// Unique id of this trace, also stamped in the response metadata. llmtrace makes UUID v7
    /// ids, which carry the call's start (in milliseconds) and so sort by time; records read
    /// from files keep whatever UUID they carry (AbstractCore writes v4).
    pub trace_id: Uuid,
    /// When the call started, in UTC; serialized as RFC 3339 with microseconds and `+00:00`.
    #[serde(with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// Provider name (`echo`, `openai`, `ollama`, `anthropic`, or a plugin's name).
    pub provider: String,
    /// The configured model.
    pub model: String,
    /// Host name or IP address of the provider's server, from its base URL; absent for
    /// providers that are not HTTP endpoints (echo, plugins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_address: Option<String>,
    /// Port of the provider's server (the scheme's default when the base URL names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_port: Option<u16>,
    /// True when the answer was asked for as a stream, whatever came of it: also for a call
    /// that failed before the first chunk. Absent (false) otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// The system prompt, if any.
    pub system_prompt: Option<String>,
    /// The prompt.
    pub prompt: String,
    /// Conversation history sent with the prompt.
    pub messages: Vec<Message>,
    /// Tools offered to the model.
    pub tools: Vec<Tool>,
    /// The parameters that were set.
    pub parameters: Parameters,
    /// What came back: the whole answer, or for a stream that ended early what arrived;
    /// `None` when the call failed before any answer began.
    pub response: Option<TraceResponse>,
    /// What the call cost in US dollars, from the client's [price table](crate::cost):
    /// absent (never 0) when the model has no price or the provider reported no usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Why the call failed; absent on success.
    // Boxed: most records succeed, and a stored record should not carry the room for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<TraceError>>,
    /// Caller, session and injected metadata.
    pub metadata: Metadata,
    /// How many pieces of text the [redaction policy](crate::redact) masked or removed in
    /// this record; absent (0) when none were, or no policy was set.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redactions: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TraceRecord {
    /// The `session_id` metadata entry, when the call was made in a session.
    pub fn session_id(&self) -> Option<&str> {
        self.metadata.get("session_id")?.as_str()
    }

    /// True when the call failed (or a stream broke or was dropped).
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }

    /// `response.usage.total_tokens`, or 0.
    pub fn total_tokens(&self) -> u64 {
        self.response
            .as_ref()
            .and_then(|r| r.usage)
            .map_or(0, |u| u.total_tokens)
    }

    /// How long the call took, in milliseconds, whether it succeeded or not.
    pub fn duration_ms(&self) -> f64 {
        match (&self.response, &self.error) {
            (_, Some(error)) => error.generation_time_ms,
            (Some(response), None) => response.generation_time_ms,
            (None, None) => 0.0,
        }
    }
}

/// The answer part of a [`TraceRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "super::lenient::ResponseWire")]
pub struct TraceResponse {
    /// Generated text (for a broken or dropped stream: what arrived).
    pub content: String,
    /// The provider's response body, only when the provider keeps it (`verbatim`).
    // Boxed: a JSON value is 72 bytes even when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_response: Option<Box<Value>>,
    /// Tools the model asked to call.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped.
    pub finish_reason: Option<String>,
    /// Token counts, when reported.
    pub usage: Option<Usage>,
    /// Wall time of the call in milliseconds, measured by the trace layer.
    pub generation_time_ms: f64,
    /// For streams: milliseconds until the first chunk arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_token_ms: Option<f64>,
    /// The provider's id for the answer (OpenAI `chatcmpl-...`, Anthropic `msg_...`), when it
    /// sent one, for streams too; recorded whether or not the body is kept `verbatim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model that actually answered, as the provider names it (`gpt-4o-2024-08-06` for a
    /// configured `gpt-4o`), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The failure part of a [`TraceRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceError {
    /// Machine-readable class, written as its name: `timeout`, `connect`, `rate_limited`,
    /// `cancelled`, ...
    pub kind: ErrorKind,
    /// Human-readable description.
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// HTTP status, when the failure was an HTTP error response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Milliseconds from the start of the call to the failure.
    pub generation_time_ms: f64,
}

/// RFC 3339 timestamps with a fixed precision and an explicit offset, so that files sort and
/// compare the same way everywhere.
///
/// Reading also accepts a timestamp without an offset (`2025-11-08T12:34:56.789`, as the
/// reference implementation writes its naive local time) and takes it as UTC: the writer's
/// time zone is not in the file, and UTC is the one guess that does not depend on the reader's.
pub(crate) mod rfc3339 {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, false))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| {
            D::Error::custom(format!(
                "timestamp {text:?} is neither RFC 3339 nor an ISO 8601 date and time"
            ))
        })
    }

    /// RFC 3339, or an ISO 8601 date and time without offset read as UTC.
    pub(crate) fn parse(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
            })
            .ok()
    }
}
