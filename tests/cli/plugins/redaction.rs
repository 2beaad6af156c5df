//! The redaction guarantee, end to end: a secret and an e-mail address placed in every field of
//! a request and its answer reach none of the places a trace goes.
//!
//! Here because it needs every kind of sink at once, the plugin exporter included: the store,
//! a session, JSONL, JSON and Markdown files, a webhook and an OTLP collector (real HTTP
//! servers on 127.0.0.1), a plugin exporter's input, and the `tracing` events.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::routing::post;
use llmtrace::exporter::{
    ExporterOptions, ExporterSink, JsonExporter, JsonlExporter, MarkdownExporter, OtlpExporter,
    OtlpOptions, WebhookExporter,
};
use llmtrace::plugin::PluginExporter;
use llmtrace::provider::ProviderInfo;
use llmtrace::redact::RedactPolicy;
use llmtrace::sink::{TraceQuery, TracingEvents};
use llmtrace::{
    Client, ErrorKind, GenerateRequest, GenerateResponse, Generation, Message, ProviderError, Role,
    Tool, ToolCall,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use serde_json::json;
use tower::service_fn;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::support::{TEST_EXPORTER, plugin};

/// An e-mail address and a provider key, both distinctive enough to search for in any output.
const EMAIL: &str = "leakme@example.com";
const KEY: &str = "sk-proj-LEAKLEAKLEAKLEAK1234";

fn secrets(place: &str) -> String {
    format!("{place}: write to {EMAIL}, use {KEY}")
}

/// The bodies POSTed to `/hook` and `/v1/traces`, as they arrived.
#[derive(Clone, Default)]
struct Bodies {
    webhook: Arc<Mutex<Vec<Bytes>>>,
    otlp: Arc<Mutex<Vec<Bytes>>>,
}

async fn serve() -> (String, Bodies) {
    let bodies = Bodies::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(b): State<Bodies>, body: Bytes| async move {
                b.webhook.lock().unwrap().push(body);
            }),
        )
        .route(
            "/v1/traces",
            post(|State(b): State<Bodies>, body: Bytes| async move {
                b.otlp.lock().unwrap().push(body);
                let answer = ExportTraceServiceResponse::default().encode_to_vec();
                ([(header::CONTENT_TYPE, "application/x-protobuf")], answer)
            }),
        )
        .with_state(bodies.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, bodies)
}

/// Every field of every `tracing` event, as text.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<String>>);

struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!("{}={value:?}\n", field.name()));
    }
}

impl Subscriber for Events {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        event.record(&mut Text(&mut self.0.lock().unwrap()));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A request with the secrets in the prompt, system prompt, history (text, tool calls, tool
/// results), tool definitions and metadata.
fn request(prompt: &str) -> GenerateRequest {
    let assistant = Message {
        tool_calls: vec![ToolCall::new("lookup", json!({ "who": EMAIL, "key": KEY }))],
        ..Message::new(Role::Assistant, secrets("assistant turn"))
    };
    GenerateRequest::new(secrets(prompt))
        .system_prompt(secrets("system prompt"))
        .messages([
            Message::user(secrets("earlier turn")),
            assistant,
            Message::tool("call-1", secrets("tool result")),
        ])
        .tool(Tool::new(
            "lookup",
            secrets("tool description"),
            json!({ "type": "object", "description": secrets("tool schema") }),
        ))
        .metadata("owner", secrets("metadata"))
}

/// Answers with the secrets in its content, tool call arguments and raw body; `fail` fails
/// with them in the error message.
fn leaky_provider(request: GenerateRequest) -> Result<Generation, ProviderError> {
    if request.prompt.starts_with("fail") {
        return Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            secrets("error"),
        ));
    }
    let response = GenerateResponse {
        tool_calls: vec![ToolCall::new(
            "lookup",
            json!({ "args": secrets("tool call") }),
        )],
        raw_response: Some(json!({ "choices": [{ "text": secrets("raw response") }] })),
        ..GenerateResponse::new(secrets("answer"))
    };
    Ok(Generation::Complete(response))
}

#[tokio::test(flavor = "current_thread")]
async fn secrets_in_every_field_reach_no_sink() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let (url, bodies) = serve().await;
    let fast = ExporterOptions::default().batch_interval(Duration::from_millis(5));
    let plugin_input = file("plugin.jsonl");
    let exporters = ExporterSink::builder()
        .exporter("jsonl", JsonlExporter::new(file("t.jsonl")), fast)
        .exporter("json", JsonExporter::new(file("t.json")), fast)
        .exporter("markdown", MarkdownExporter::new(file("t.md")), fast)
        .exporter(
            "webhook",
            WebhookExporter::new(format!("{url}/hook"), Duration::from_secs(5)).unwrap(),
            fast,
        )
        .exporter(
            "otlp",
            OtlpExporter::new(OtlpOptions::new(&url).capture_content(true)).unwrap(),
            fast,
        )
        .exporter(
            "plugin",
            PluginExporter::load(
                plugin(TEST_EXPORTER),
                json!({ "records_path": plugin_input }),
            )
            .unwrap(),
            fast,
        )
        .build()
        .unwrap();
    let provider = service_fn(|request| async move { leaky_provider(request) });
    let client = Client::builder()
        .service(ProviderInfo::new("leaky", "leaky-1"), provider)
        .redact(RedactPolicy::all_detectors())
        .sink(TracingEvents::new().content(true))
        .exporters(exporters)
        .build();
    let session = client.session();
    let events = Events::default();
    {
        let _guard = tracing::subscriber::set_default(events.clone());
        let answer = session.generate(request("prompt")).await.unwrap();
        assert!(
            answer.content.contains(EMAIL),
            "the caller gets the answer as it is"
        );
        client.generate(request("fail")).await.unwrap_err();
    }
    client.shutdown().await;

    let stats = client.exporter_stats();
    assert!(
        stats.iter().all(|(_, s)| s.exported == 2),
        "every exporter delivered both records: {stats:?}"
    );
    let otlp = bodies.otlp.lock().unwrap().clone();
    for body in &otlp {
        ExportTraceServiceRequest::decode(body.clone()).expect("an OTLP protobuf body");
    }
    let bytes = |all: Vec<Bytes>| String::from_utf8_lossy(&all.concat()).into_owned();
    let read = |name: &str| std::fs::read_to_string(file(name)).unwrap();
    let json = |records: Vec<Arc<llmtrace::TraceRecord>>| {
        let records: Vec<&llmtrace::TraceRecord> = records.iter().map(|r| &**r).collect();
        serde_json::to_string(&records).unwrap()
    };
    let outputs = [
        ("store", json(client.get_traces(TraceQuery::all()))),
        ("session", json(session.traces())),
        ("jsonl", read("t.jsonl")),
        ("json", read("t.json")),
        ("markdown", read("t.md")),
        ("webhook", bytes(bodies.webhook.lock().unwrap().clone())),
        ("otlp", bytes(otlp)),
        ("plugin", std::fs::read_to_string(&plugin_input).unwrap()),
        ("tracing events", events.0.lock().unwrap().clone()),
    ];
    for (sink, output) in outputs {
        // The local part and the key's body, so that no escaping can hide a leak.
        for secret in ["leakme", "LEAKLEAK"] {
            assert!(!output.contains(secret), "{sink} leaks {secret}:\n{output}");
        }
        assert!(
            output.contains("REDACTED:email"),
            "{sink} got no content:\n{output}"
        );
    }
    // Two per field holding the secrets: 9 in the request (prompt, system prompt, three
    // turns, a tool call, a tool description and schema, metadata), 3 in the answer (content,
    // tool call, raw body) or 1 in the error.
    let counts: Vec<u32> = client
        .get_traces(TraceQuery::all())
        .iter()
        .map(|r| r.redactions)
        .collect();
    assert_eq!(counts, [24, 20]);
}
