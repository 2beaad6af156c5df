//! One [`TraceRecord`] as one OTLP span of the GenAI conventions.

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::SpanKind, status::StatusCode};
use serde_json::Value;
use uuid::Uuid;

use super::content;
use super::semconv::*;
use crate::TraceRecord;

/// W3C `sampled` trace flag, plus "the parent is known not to be remote" (there is no parent):
/// what an OpenTelemetry SDK writes for a local root span.
const ROOT_SPAN_FLAGS: u32 = 0x01 | 0x100;

/// The span of `record`; prompts and completions only when `capture_content` is set.
pub(super) fn span(record: &TraceRecord, capture_content: bool) -> Span {
    let start = unix_nanos(record);
    let duration = (record.duration_ms().max(0.0) * 1e6).round() as u64;
    let mut attributes = attributes(record);
    if capture_content {
        content_attributes(record, &mut attributes);
    }
    Span {
        trace_id: trace_id(&record.trace_id).to_vec(),
        span_id: span_id(&record.trace_id).to_vec(),
        flags: ROOT_SPAN_FLAGS,
        name: format!("{OPERATION_CHAT} {}", record.model),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add(duration),
        attributes: attributes.0,
        status: record.error.as_ref().map(|error| Status {
            message: error.message.clone(),
            code: StatusCode::Error as i32,
        }),
        ..Span::default()
    }
}

/// The OTLP trace id of a record: the 128 bits of its UUID, so the hex trace id a backend
/// shows is the UUID without dashes.
pub(super) fn trace_id(id: &Uuid) -> [u8; 16] {
    *id.as_bytes()
}

/// The OTLP span id of a record: the low 64 bits of its UUID (never zero for a v4 or v7 UUID,
/// whose variant bits live there); for the odd UUID whose low half is zero, the high half, or 1.
pub(super) fn span_id(id: &Uuid) -> [u8; 8] {
    let (high, low) = id.as_u64_pair();
    let id = [low, high, 1]
        .into_iter()
        .find(|half| *half != 0)
        .unwrap_or(1);
    id.to_be_bytes()
}

fn unix_nanos(record: &TraceRecord) -> u64 {
    let nanos = record.timestamp.timestamp_nanos_opt().unwrap_or(0);
    u64::try_from(nanos).unwrap_or(0)
}

fn attributes(record: &TraceRecord) -> Attributes {
    let mut a = Attributes(Vec::with_capacity(16 + record.metadata.len()));
    a.string(GEN_AI_OPERATION_NAME, OPERATION_CHAT);
    a.string(GEN_AI_PROVIDER_NAME, &record.provider);
    a.string(GEN_AI_REQUEST_MODEL, &record.model);
    if let Some(address) = &record.server_address {
        a.string(SERVER_ADDRESS, address);
    }
    if let Some(port) = record.server_port {
        a.int(SERVER_PORT, port.into());
    }
    if record.stream {
        a.bool(GEN_AI_REQUEST_STREAM, true);
    }

    let parameters = &record.parameters;
    if let Some(temperature) = parameters.temperature {
        a.double(GEN_AI_REQUEST_TEMPERATURE, temperature);
    }
    if let Some(max_tokens) = parameters.output_limit() {
        a.int(GEN_AI_REQUEST_MAX_TOKENS, max_tokens.into());
    }
    if let Some(top_p) = parameters.top_p {
        a.double(GEN_AI_REQUEST_TOP_P, top_p);
    }
    if let Some(top_k) = parameters.top_k {
        a.int(GEN_AI_REQUEST_TOP_K, top_k.into());
    }
    // An int attribute is an i64: a seed beyond i64::MAX is left out rather than altered.
    if let Some(seed) = parameters.seed.and_then(|seed| i64::try_from(seed).ok()) {
        a.int(GEN_AI_REQUEST_SEED, seed);
    }
    if !parameters.stop.is_empty() {
        a.strings(GEN_AI_REQUEST_STOP_SEQUENCES, &parameters.stop);
    }

    if let Some(response) = &record.response {
        if let Some(id) = &response.id {
            a.string(GEN_AI_RESPONSE_ID, id);
        }
        if let Some(model) = &response.model {
            a.string(GEN_AI_RESPONSE_MODEL, model);
        }
        if let Some(usage) = response.usage {
            a.int(
                GEN_AI_USAGE_INPUT_TOKENS,
                saturating_i64(usage.prompt_tokens),
            );
            a.int(
                GEN_AI_USAGE_OUTPUT_TOKENS,
                saturating_i64(usage.completion_tokens),
            );
            if let Some(read) = usage.cached_prompt_tokens {
                a.int(GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, saturating_i64(read));
            }
            if let Some(written) = usage.cache_creation_tokens {
                a.int(
                    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
                    saturating_i64(written),
                );
            }
        }
        if let Some(ttft_ms) = response.time_to_first_token_ms {
            a.double(GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttft_ms / 1000.0);
        }
    }
    if let Some(cost) = record.cost_usd {
        a.double(GEN_AI_USAGE_COST, cost);
        a.double(LLM_COST_TOTAL, cost);
    }
    let finish_reason = match (&record.error, &record.response) {
        (Some(_), _) => Some(FINISH_REASON_ERROR),
        (None, Some(response)) => response.finish_reason.as_deref(),
        (None, None) => None,
    };
    if let Some(reason) = finish_reason {
        a.strings(GEN_AI_RESPONSE_FINISH_REASONS, [reason]);
    }

    if let Some(error) = &record.error {
        a.string(ERROR_TYPE, error.kind.as_str());
        if let Some(status) = error.status {
            a.int(HTTP_RESPONSE_STATUS_CODE, status.into());
        }
        a.bool(LLMTRACE_ERROR_RETRYABLE, error.retryable);
    }

    if let Some(session_id) = record.session_id() {
        a.string(SESSION_ID, session_id);
        a.string(GEN_AI_CONVERSATION_ID, session_id);
    }
    a.string(LLMTRACE_TRACE_ID, &record.trace_id.to_string());
    for (key, value) in &record.metadata {
        if let Some(value) = metadata_value(value) {
            a.push(format!("{LLMTRACE_METADATA_PREFIX}{key}"), value);
        }
    }
    a
}

fn content_attributes(record: &TraceRecord, a: &mut Attributes) {
    if let Some(system_prompt) = &record.system_prompt {
        a.string(
            GEN_AI_SYSTEM_INSTRUCTIONS,
            &content::system_instructions(system_prompt),
        );
    }
    a.string(GEN_AI_INPUT_MESSAGES, &content::input_messages(record));
    if let Some(output) = content::output_messages(record) {
        a.string(GEN_AI_OUTPUT_MESSAGES, &output);
    }
    if !record.tools.is_empty() {
        a.string(
            GEN_AI_TOOL_DEFINITIONS,
            &content::tool_definitions(&record.tools),
        );
    }
}

/// A metadata value as an attribute value: strings, booleans and numbers as themselves,
/// arrays and objects as JSON text, `null` left out.
fn metadata_value(value: &Value) -> Option<any_value::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64()?),
        },
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Array(_) | Value::Object(_) => any_value::Value::StringValue(value.to_string()),
    })
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Span attributes under construction.
struct Attributes(Vec<KeyValue>);

impl Attributes {
    fn push(&mut self, key: impl Into<String>, value: any_value::Value) {
        self.0.push(KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        });
    }

    fn string(&mut self, key: &str, value: &str) {
        self.push(key, any_value::Value::StringValue(value.to_owned()));
    }

    fn int(&mut self, key: &str, value: i64) {
        self.push(key, any_value::Value::IntValue(value));
    }

    fn double(&mut self, key: &str, value: f64) {
        self.push(key, any_value::Value::DoubleValue(value));
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.push(key, any_value::Value::BoolValue(value));
    }

    fn strings<S: AsRef<str>>(&mut self, key: &str, values: impl IntoIterator<Item = S>) {
        let values = values
            .into_iter()
            .map(|s| AnyValue {
                value: Some(any_value::Value::StringValue(s.as_ref().to_owned())),
            })
            .collect();
        self.push(key, any_value::Value::ArrayValue(ArrayValue { values }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_id_is_the_uuid_and_the_span_id_its_low_half() {
        let id = Uuid::parse_str("0af7651916cd43dd8448eb211c80319c").unwrap();

        assert_eq!(
            trace_id(&id),
            0x0af7651916cd43dd8448eb211c80319c_u128.to_be_bytes()
        );
        assert_eq!(span_id(&id), 0x8448eb211c80319c_u64.to_be_bytes());
    }

    #[test]
    fn the_span_id_is_never_zero() {
        let low_zero = Uuid::from_u64_pair(7, 0);
        assert_eq!(span_id(&low_zero), 7u64.to_be_bytes());
        assert_eq!(span_id(&Uuid::nil()), 1u64.to_be_bytes());
    }

    #[test]
    fn metadata_values_keep_their_type_or_become_json() {
        use serde_json::json;
        assert_eq!(
            metadata_value(&json!(3)),
            Some(any_value::Value::IntValue(3))
        );
        assert_eq!(
            metadata_value(&json!(0.5)),
            Some(any_value::Value::DoubleValue(0.5))
        );
        assert_eq!(
            metadata_value(&json!(u64::MAX)),
            Some(any_value::Value::DoubleValue(u64::MAX as f64))
        );
        assert_eq!(
            metadata_value(&json!({"a": [1]})),
            Some(any_value::Value::StringValue(r#"{"a":[1]}"#.into()))
        );
        assert_eq!(metadata_value(&Value::Null), None);
    }
}
