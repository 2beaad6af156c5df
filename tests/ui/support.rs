//! Records, stores filled through the real exporter pipeline, and a served viewer.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use llmtrace::TraceRecord;
use llmtrace::exporter::{ExporterOptions, ExporterSink, SqliteExporter, SqliteStore};
use llmtrace::sink::RecordSink;
use serde_json::json;

/// What a test record is made of.
#[derive(Clone)]
pub(crate) struct Spec<'a> {
    pub(crate) at: DateTime<Utc>,
    pub(crate) model: &'a str,
    pub(crate) provider: &'a str,
    pub(crate) session: Option<&'a str>,
    pub(crate) step: &'a str,
    pub(crate) attempt: i64,
    pub(crate) prompt: &'a str,
    pub(crate) answer: &'a str,
    pub(crate) error: Option<&'a str>,
    pub(crate) user: &'a str,
    /// `prompt_name` "plot" at this `prompt_version`.
    pub(crate) prompt_version: Option<&'a str>,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Self {
            at: "2025-11-08T12:00:00Z".parse().unwrap(),
            model: "gpt-4o",
            provider: "openai",
            session: None,
            step: "chat",
            attempt: 1,
            prompt: "Hello",
            answer: "Hi there",
            error: None,
            user: "ann",
            prompt_version: None,
        }
    }
}

/// A record as a provider would have produced it.
pub(crate) fn record(spec: &Spec<'_>) -> TraceRecord {
    let mut metadata = json!({
        "step_type": spec.step,
        "attempt_number": spec.attempt,
        "user": spec.user,
        "cost_usd": 0.0125,
    });
    if let Some(version) = spec.prompt_version {
        metadata["prompt_name"] = json!("plot");
        metadata["prompt_version"] = json!(version);
    }
    if let Some(session) = spec.session {
        metadata["session_id"] = json!(session);
    }
    let error = spec.error.map(|kind| {
        json!({"kind": kind, "message": format!("the call failed: {kind}"), "retryable": true,
               "status": 503, "generation_time_ms": 40.0})
    });
    let value = json!({
        "trace_id": uuid::Uuid::new_v4(),
        "timestamp": spec.at.to_rfc3339(),
        "provider": spec.provider,
        "model": spec.model,
        "system_prompt": "You are terse.",
        "prompt": spec.prompt,
        "messages": [{"role": "user", "content": "earlier question"},
                     {"role": "assistant", "content": "earlier answer"}],
        "tools": [{"name": "lookup", "description": "Finds things",
                   "parameters": {"type": "object"}}],
        "parameters": {"temperature": 0.2, "max_tokens": 256},
        "response": {
            "content": spec.answer, "tool_calls": [], "finish_reason": "stop",
            "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
            "generation_time_ms": 850.0, "time_to_first_token_ms": 120.0,
        },
        "error": error,
        "metadata": metadata,
    });
    let mut record: TraceRecord = serde_json::from_value(value).unwrap();
    if spec.error.is_some() {
        record.response = None;
    }
    record
}

/// Writes `records` through an [`ExporterSink`] (queue, worker, batches), as a running client
/// does, and waits for the worker to deliver them.
pub(crate) fn export(path: &Path, exporter: SqliteExporter, records: &[TraceRecord]) {
    let options = ExporterOptions::default()
        .queue_size(records.len().max(1))
        .batch_interval(Duration::from_millis(10));
    let sink = ExporterSink::builder()
        .exporter("local", exporter, options)
        .build()
        .unwrap();
    for record in records {
        sink.record(&Arc::new(record.clone()));
    }
    sink.shutdown_blocking();
    let stats = &sink.stats()[0].1;
    assert_eq!(
        (stats.exported, stats.failed, stats.dropped),
        (records.len() as u64, 0, 0),
        "{path:?}: {stats:?}"
    );
}

/// A store at `dir/traces.db` holding `records`.
pub(crate) fn store_with(dir: &Path, records: &[TraceRecord]) -> SqliteStore {
    let path = dir.join("traces.db");
    export(&path, SqliteExporter::new(&path), records);
    SqliteStore::open(&path).unwrap()
}

/// The fixture most tests use: two sessions of a code-generation workflow with a retry, a
/// failure, another provider, and a prompt holding a script.
pub(crate) fn workflow() -> Vec<TraceRecord> {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let base = Spec::default();
    vec![
        record(&Spec {
            at: at("2025-11-08T10:00:00Z"),
            session: Some("s-1"),
            step: "code_generation",
            prompt: "Plot the ages as a histogram",
            prompt_version: Some("1"),
            answer: "import matplotlib",
            ..base.clone()
        }),
        record(&Spec {
            at: at("2025-11-08T10:00:05Z"),
            session: Some("s-1"),
            step: "code_generation",
            attempt: 2,
            error: Some("timeout"),
            prompt: "Plot the ages again",
            prompt_version: Some("1"),
            ..base.clone()
        }),
        record(&Spec {
            at: at("2025-11-08T10:00:09Z"),
            session: Some("s-1"),
            step: "code_generation",
            attempt: 3,
            prompt: "Plot the ages, third try",
            prompt_version: Some("2"),
            answer: "plt.hist(ages)",
            ..base.clone()
        }),
        record(&Spec {
            at: at("2025-11-09T08:30:00Z"),
            session: Some("s-2"),
            model: "claude-sonnet",
            provider: "anthropic",
            user: "bob",
            prompt: "Summarize the quarterly report",
            answer: "Revenue grew by ten percent",
            ..base.clone()
        }),
        record(&Spec {
            at: at("2025-11-09T09:00:00Z"),
            prompt: "<script>document.title='pwned'</script> what is this?",
            answer: "<img src=x onerror=\"document.title='pwned'\">",
            ..base
        }),
    ]
}

/// Serves the viewer for `store` on 127.0.0.1; returns its base URL.
pub(crate) async fn serve(store: SqliteStore) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(llmtrace::ui::serve(listener, store));
    format!("http://{address}")
}
