//! The OpenTelemetry peer of the benches: an SDK span carrying what an llmtrace record holds,
//! and two exporters for it (one that discards, one that writes JSON lines to a file).

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use llmtrace::{GenerateRequest, GenerateResponse};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span, Tracer};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Value, json};

/// `call`, wrapped in a span with the request's and the answer's data, as a user would write
/// it by hand.
pub(crate) async fn span_around<F, Fut>(
    tracer: &impl Tracer,
    request: GenerateRequest,
    call: F,
) -> GenerateResponse
where
    F: FnOnce(GenerateRequest) -> Fut,
    Fut: Future<Output = GenerateResponse>,
{
    let mut span = tracer.start("generate");
    span.set_attributes([
        KeyValue::new("gen_ai.system", "echo"),
        KeyValue::new("gen_ai.request.model", "echo"),
        KeyValue::new("gen_ai.prompt", request.prompt.clone()),
        KeyValue::new(
            "gen_ai.request.temperature",
            request.parameters.temperature.unwrap_or_default(),
        ),
        KeyValue::new("user_id", "u-42"),
    ]);
    let response = call(request).await;
    let usage = response.usage.unwrap_or_default();
    span.set_attributes([
        KeyValue::new("gen_ai.completion", response.content.clone()),
        KeyValue::new("gen_ai.usage.input_tokens", usage.prompt_tokens as i64),
        KeyValue::new("gen_ai.usage.output_tokens", usage.completion_tokens as i64),
        KeyValue::new("gen_ai.response.finish_reason", "stop"),
    ]);
    span.end();
    response
}

/// An OpenTelemetry exporter that drops every batch: the peer writes nothing anywhere.
#[derive(Debug)]
pub(crate) struct Discard(pub(crate) Arc<AtomicUsize>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
        drop(std::hint::black_box(batch));
        Ok(())
    }
}

/// An OpenTelemetry exporter that writes each span as a JSON line to a file, as a user would
/// by hand: the peer doing the work our jsonl exporter does.
#[derive(Debug)]
pub(crate) struct JsonLines(pub(crate) Arc<Mutex<File>>);

fn json_value(value: &opentelemetry::Value) -> Value {
    match value {
        opentelemetry::Value::Bool(b) => Value::from(*b),
        opentelemetry::Value::I64(i) => Value::from(*i),
        opentelemetry::Value::F64(f) => Value::from(*f),
        other => Value::from(other.as_str().into_owned()),
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

impl SpanExporter for JsonLines {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = Vec::new();
        for span in &batch {
            let attributes: serde_json::Map<String, Value> = (span.attributes.iter())
                .map(|kv| (kv.key.to_string(), json_value(&kv.value)))
                .collect();
            let line = json!({
                "trace_id": span.span_context.trace_id().to_string(),
                "span_id": span.span_context.span_id().to_string(),
                "name": span.name,
                "start_unix_nano": unix_nanos(span.start_time),
                "end_unix_nano": unix_nanos(span.end_time),
                "attributes": attributes,
            });
            serde_json::to_writer(&mut out, &line).unwrap();
            out.push(b'\n');
        }
        (self.0.lock().unwrap().write_all(&out))
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }
}
