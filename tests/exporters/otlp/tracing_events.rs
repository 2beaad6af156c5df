//! `TracingEvents`: one `tracing` event per generation, captured by a subscriber of our own.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use llmtrace::provider::{EchoProvider, ProviderInfo};
use llmtrace::sink::TracingEvents;
use llmtrace::{Client, GenerateRequest, Generation, ProviderError};
use tower::service_fn;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::MODEL;

/// One captured event: target, level and fields (values as text).
#[derive(Debug, Clone)]
struct Captured {
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A subscriber that keeps every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The events with target `llmtrace` emitted while `f` runs on this thread.
async fn llmtrace_events<F: Future<Output = ()>>(f: F) -> Vec<Captured> {
    let capture = Capture::default();
    {
        let _guard = tracing::subscriber::set_default(capture.clone());
        f.await;
    }
    capture
        .events()
        .into_iter()
        .filter(|e| e.target == "llmtrace")
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_success_is_an_info_event_with_the_generation_fields() {
    let client = Client::builder()
        .provider(EchoProvider::new().model(MODEL))
        .sink(TracingEvents::new())
        .build();
    let session = client.session();

    let events = llmtrace_events(async {
        session.generate("Hello").await.unwrap();
    })
    .await;

    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    let record = &session.traces()[0];
    let usage = record.response.as_ref().unwrap().usage.unwrap();
    assert_eq!(event.level, Level::INFO);
    assert_eq!(event.field("message"), Some("Generation traced."));
    assert_eq!(
        event.field("trace_id"),
        Some(record.trace_id.to_string().as_str())
    );
    assert_eq!(event.field("provider"), Some("echo"));
    assert_eq!(event.field("model"), Some(MODEL));
    assert_eq!(event.field("session_id"), Some(session.id()));
    assert_eq!(
        event.field("input_tokens"),
        Some(usage.prompt_tokens.to_string().as_str())
    );
    assert_eq!(
        event.field("output_tokens"),
        Some(usage.completion_tokens.to_string().as_str())
    );
    assert_eq!(
        event.field("total_tokens"),
        Some(usage.total_tokens.to_string().as_str())
    );
    let duration_ms: f64 = event.field("duration_ms").unwrap().parse().unwrap();
    assert_eq!(duration_ms, record.duration_ms());
    assert_eq!(event.field("finish_reason"), Some("stop"));
    for absent in ["prompt", "completion", "system_prompt", "error_kind"] {
        assert_eq!(event.field(absent), None, "{absent}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failure_is_a_warn_event_with_the_error() {
    let provider = service_fn(|_request: GenerateRequest| async {
        Err::<Generation, _>(ProviderError::http(503, "model is overloaded"))
    });
    let client = Client::builder()
        .service(ProviderInfo::new("flaky", "flaky-1"), provider)
        .sink(TracingEvents::new())
        .build();

    let events = llmtrace_events(async {
        client.generate("Hello").await.unwrap_err();
    })
    .await;

    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.level, Level::WARN);
    assert_eq!(event.field("message"), Some("Generation failed."));
    assert_eq!(event.field("provider"), Some("flaky"));
    assert_eq!(event.field("error_kind"), Some("server"));
    assert_eq!(event.field("error_status"), Some("503"));
    assert!(
        event.field("error_message").unwrap().contains("overloaded"),
        "{event:?}"
    );
    assert_eq!(event.field("session_id"), None);
}

#[tokio::test(flavor = "current_thread")]
async fn content_fields_are_recorded_only_when_asked() {
    let client = Client::builder()
        .provider(EchoProvider::new().model(MODEL))
        .sink(TracingEvents::new().content(true))
        .build();

    let events = llmtrace_events(async {
        let request = GenerateRequest::new("Hello").system_prompt("Be brief.");
        client.generate(request).await.unwrap();
    })
    .await;

    let event = &events[0];
    assert_eq!(event.field("system_prompt"), Some("Be brief."));
    assert_eq!(event.field("prompt"), Some("Hello"));
    assert_eq!(event.field("completion"), Some("Echo: Hello"));
}
