//! What arrives: one GenAI client span per generation, with the record's ids, times and
//! attributes; content only when asked for.

use std::sync::Arc;

use llmtrace::cost::{ModelPrice, PriceTable};
use llmtrace::exporter::{ExporterSink, OtlpExporter, OtlpOptions};
use llmtrace::provider::ProviderInfo;
use llmtrace::sink::TraceQuery;
use llmtrace::{
    Client, GenerateRequest, Generation, Message, ProviderError, Tool, ToolCall, TraceRecord, Usage,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Value, json};
use tower::service_fn;

use super::{MODEL, exporting, fast_export};
use crate::support::collector::{
    Collector, boolean, double, int, resource_string, string, strings,
};

const CONTENT_KEYS: [&str; 4] = [
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
];

/// The one span carrying `record`'s trace id; fails unless there is exactly one.
fn span_of<'a>(spans: &'a [Span], record: &TraceRecord) -> &'a Span {
    let matching: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == record.trace_id.as_bytes())
        .collect();
    assert_eq!(matching.len(), 1, "spans of {}", record.trace_id);
    matching[0]
}

fn unix_nanos(record: &TraceRecord) -> u64 {
    record.timestamp.timestamp_nanos_opt().unwrap() as u64
}

fn json_attribute(span: &Span, key: &str) -> Value {
    serde_json::from_str(string(span, key).unwrap_or_else(|| panic!("{key} missing"))).unwrap()
}

#[tokio::test]
async fn every_generation_arrives_once_as_a_genai_client_span() {
    let collector = Collector::accepting().await;
    let client = exporting(OtlpOptions::new(collector.endpoint()), fast_export())
        .metadata("environment", "dev")
        .build();

    let tuned = GenerateRequest::new("Hello")
        .temperature(0.2)
        .max_tokens(64)
        .top_p(0.9)
        .top_k(40)
        .seed(7)
        .stop("END")
        .metadata("user_id", "user_123")
        .metadata("tags", json!(["a", "b"]));
    client.generate(tuned).await.unwrap();
    let session = client.session();
    session.generate("In a session").await.unwrap();
    client.generate("Plain").await.unwrap();
    client.shutdown().await;

    let records = client.get_traces(TraceQuery::all());
    let spans = collector.spans();
    assert_eq!(records.len(), 3);
    assert_eq!(spans.len(), 3, "every trace exactly once");
    assert_eq!(client.exporter_stats()[0].1.exported, 3);
    for record in &records {
        let span = span_of(&spans, record);
        assert_eq!(span.span_id, &record.trace_id.as_bytes()[8..]);
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.name, format!("chat {MODEL}"));
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, unix_nanos(record));
        let duration = span.end_time_unix_nano - span.start_time_unix_nano;
        assert_eq!(duration, (record.duration_ms() * 1e6).round() as u64);
        assert_eq!(span.status, None, "success leaves the status unset");

        let usage = record.response.as_ref().unwrap().usage.unwrap();
        assert_eq!(string(span, "gen_ai.operation.name"), Some("chat"));
        assert_eq!(string(span, "gen_ai.provider.name"), Some("echo"));
        assert_eq!(string(span, "gen_ai.request.model"), Some(MODEL));
        assert_eq!(
            strings(span, "gen_ai.response.finish_reasons"),
            Some(vec!["stop".to_owned()])
        );
        assert_eq!(
            int(span, "gen_ai.usage.input_tokens"),
            Some(usage.prompt_tokens as i64)
        );
        assert_eq!(
            int(span, "gen_ai.usage.output_tokens"),
            Some(usage.completion_tokens as i64)
        );
        assert_eq!(
            string(span, "llmtrace.trace_id"),
            Some(record.trace_id.to_string().as_str())
        );
        assert_eq!(string(span, "llmtrace.metadata.environment"), Some("dev"));
        assert_eq!(string(span, "error.type"), None);
        for key in CONTENT_KEYS {
            assert_eq!(string(span, key), None, "{key} is opt-in");
        }
    }

    let tuned = span_of(&spans, &records[0]);
    assert_eq!(double(tuned, "gen_ai.request.temperature"), Some(0.2));
    assert_eq!(int(tuned, "gen_ai.request.max_tokens"), Some(64));
    assert_eq!(double(tuned, "gen_ai.request.top_p"), Some(0.9));
    assert_eq!(int(tuned, "gen_ai.request.top_k"), Some(40));
    assert_eq!(int(tuned, "gen_ai.request.seed"), Some(7));
    assert_eq!(
        strings(tuned, "gen_ai.request.stop_sequences"),
        Some(vec!["END".to_owned()])
    );
    assert_eq!(string(tuned, "llmtrace.metadata.user_id"), Some("user_123"));
    assert_eq!(
        string(tuned, "llmtrace.metadata.tags"),
        Some(r#"["a","b"]"#)
    );
    assert_eq!(string(tuned, "session.id"), None);
    assert_eq!(string(tuned, "gen_ai.conversation.id"), None);

    let in_session = span_of(&spans, &records[1]);
    assert_eq!(string(in_session, "session.id"), Some(session.id()));
    assert_eq!(
        string(in_session, "gen_ai.conversation.id"),
        Some(session.id())
    );
    assert_eq!(
        string(in_session, "llmtrace.metadata.session_id"),
        Some(session.id())
    );
    assert_eq!(
        string(in_session, "llmtrace.metadata.step_type"),
        Some("chat")
    );
    assert_eq!(int(in_session, "llmtrace.metadata.attempt_number"), Some(1));

    let plain = span_of(&spans, &records[2]);
    for key in [
        "gen_ai.request.temperature",
        "gen_ai.request.max_tokens",
        "gen_ai.request.seed",
        "gen_ai.request.stop_sequences",
        "gen_ai.request.stream",
    ] {
        assert_eq!(
            crate::support::collector::attribute(plain, key),
            None,
            "{key} unset"
        );
    }
}

#[tokio::test]
async fn the_resource_names_the_service_and_the_scope_names_llmtrace() {
    let collector = Collector::accepting().await;
    let options = OtlpOptions::new(collector.endpoint())
        .service_name("checkout")
        .resource_attribute("deployment.environment.name", "staging");
    let client = exporting(options, fast_export()).build();

    client.generate("Hello").await.unwrap();
    client.shutdown().await;

    let received = collector.received();
    assert_eq!(received.len(), 1);
    let resource_spans = &received[0].request.resource_spans[0];
    let resource = resource_spans.resource.as_ref().unwrap();
    assert_eq!(
        resource_string(&resource.attributes, "service.name"),
        Some("checkout")
    );
    // Phoenix files the spans under the service's project, not `default`.
    assert_eq!(
        resource_string(&resource.attributes, "openinference.project.name"),
        Some("checkout")
    );
    assert_eq!(
        resource_string(&resource.attributes, "deployment.environment.name"),
        Some("staging")
    );
    let scope = resource_spans.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(scope.name, "llmtrace");
    assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn the_default_service_name_is_llmtrace_and_headers_are_sent() {
    let collector = Collector::accepting().await;
    // Cargo sets CARGO_PKG_NAME in the environment of the tests it runs.
    let options = OtlpOptions::new(collector.endpoint())
        .header("x-tenant", "dev")
        .secret_header("x-package", "CARGO_PKG_NAME");
    let client = exporting(options, fast_export()).build();

    client.generate("Hello").await.unwrap();
    client.shutdown().await;

    let received = collector.received();
    let resource = received[0].request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap();
    assert_eq!(
        resource_string(&resource.attributes, "service.name"),
        Some("llmtrace")
    );
    assert_eq!(
        resource_string(&resource.attributes, "openinference.project.name"),
        Some("llmtrace")
    );
    let header = |name: &str| received[0].headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("x-tenant"), "dev");
    assert_eq!(
        header("x-package"),
        std::env::var("CARGO_PKG_NAME").unwrap()
    );
    assert_eq!(header("content-type"), "application/x-protobuf");
}

#[tokio::test]
async fn content_is_exported_as_genai_json_only_when_enabled() {
    let collector = Collector::accepting().await;
    let client = exporting(
        OtlpOptions::new(collector.endpoint()).capture_content(true),
        fast_export(),
    )
    .build();
    let mut call = ToolCall::new("get_weather", json!({ "location": "Paris" }));
    call.id = Some("call_1".into());
    let history = vec![
        Message::user("Weather in Paris?"),
        Message {
            tool_calls: vec![call],
            ..Message::assistant("")
        },
        Message::tool("call_1", "rainy, 57°F"),
    ];
    let weather = Tool::new(
        "get_weather",
        "Current weather",
        json!({ "type": "object", "properties": { "location": { "type": "string" } } }),
    );

    let request = GenerateRequest::new("And tomorrow?")
        .system_prompt("You are a weather bot.")
        .messages(history)
        .tool(weather);
    client.generate(request).await.unwrap();
    // The echo provider calls a tool whose name is in the prompt.
    let calls_tool = GenerateRequest::new("use add").tool(Tool::new("add", "Adds", json!({})));
    client.generate(calls_tool).await.unwrap();
    client.shutdown().await;

    let records = client.get_traces(TraceQuery::all());
    let spans = collector.spans();
    let span = span_of(&spans, &records[0]);
    assert_eq!(
        json_attribute(span, "gen_ai.system_instructions"),
        json!([{ "type": "text", "content": "You are a weather bot." }])
    );
    assert_eq!(
        json_attribute(span, "gen_ai.input.messages"),
        json!([
            { "role": "user", "parts": [{ "type": "text", "content": "Weather in Paris?" }] },
            { "role": "assistant", "parts": [{
                "type": "tool_call", "id": "call_1", "name": "get_weather",
                "arguments": { "location": "Paris" }
            }] },
            { "role": "tool", "parts": [{
                "type": "tool_call_response", "id": "call_1", "response": "rainy, 57°F"
            }] },
            { "role": "user", "parts": [{ "type": "text", "content": "And tomorrow?" }] },
        ])
    );
    assert_eq!(
        json_attribute(span, "gen_ai.output.messages"),
        json!([{
            "role": "assistant",
            "parts": [{ "type": "text", "content": "Echo: And tomorrow?" }],
            "finish_reason": "stop",
        }])
    );
    assert_eq!(
        json_attribute(span, "gen_ai.tool.definitions"),
        json!([{
            "type": "function",
            "name": "get_weather",
            "description": "Current weather",
            "parameters": { "type": "object", "properties": { "location": { "type": "string" } } },
        }])
    );

    let tool_span = span_of(&spans, &records[1]);
    assert_eq!(string(tool_span, "gen_ai.system_instructions"), None);
    assert_eq!(
        json_attribute(tool_span, "gen_ai.output.messages"),
        json!([{
            "role": "assistant",
            "parts": [{
                "type": "tool_call", "id": "call_add", "name": "add",
                "arguments": { "prompt": "use add" }
            }],
            "finish_reason": "tool_calls",
        }])
    );
}

#[tokio::test]
async fn a_failed_generation_is_an_error_span() {
    let collector = Collector::accepting().await;
    let provider = service_fn(|_request: GenerateRequest| async {
        Err::<Generation, _>(ProviderError::http(503, "model is overloaded"))
    });
    let exporter = OtlpExporter::new(OtlpOptions::new(collector.endpoint())).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("collector", exporter, fast_export())
        .build()
        .unwrap();
    let client = Client::builder()
        .service(ProviderInfo::new("openai", "gpt-4o"), provider)
        .exporters(exporters)
        .build();

    let error = client.generate("Hello").await.unwrap_err();
    client.shutdown().await;

    assert_eq!(error.status(), Some(503));
    let record = client.get_traces(TraceQuery::all()).pop().unwrap();
    let spans = collector.spans();
    let span = span_of(&spans, &record);
    assert_eq!(span.name, "chat gpt-4o");
    let status = span.status.as_ref().expect("an error status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, record.error.as_ref().unwrap().message);
    assert_eq!(string(span, "error.type"), Some("server"));
    assert_eq!(int(span, "http.response.status_code"), Some(503));
    assert_eq!(boolean(span, "llmtrace.error.retryable"), Some(true));
    assert_eq!(
        strings(span, "gen_ai.response.finish_reasons"),
        Some(vec!["error".to_owned()])
    );
    assert_eq!(string(span, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(int(span, "gen_ai.usage.input_tokens"), None);
    let duration = span.end_time_unix_nano - span.start_time_unix_nano;
    assert_eq!(duration, (record.duration_ms() * 1e6).round() as u64);
}

#[tokio::test]
async fn a_stream_reports_its_time_to_first_chunk() {
    let collector = Collector::accepting().await;
    let client = exporting(OtlpOptions::new(collector.endpoint()), fast_export()).build();

    let mut stream = client.stream("one two three").await.unwrap();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
    drop(stream);
    client.shutdown().await;

    let record: Arc<TraceRecord> = client.get_traces(TraceQuery::all()).pop().unwrap();
    let ttft_ms = record.response.as_ref().unwrap().time_to_first_token_ms;
    let spans = collector.spans();
    let span = span_of(&spans, &record);
    assert_eq!(boolean(span, "gen_ai.request.stream"), Some(true));
    assert_eq!(
        double(span, "gen_ai.response.time_to_first_chunk"),
        Some(ttft_ms.expect("streams measure it") / 1000.0)
    );
}

#[tokio::test]
async fn the_cost_and_cached_tokens_are_span_attributes_and_an_unpriced_call_has_none() {
    let collector = Collector::accepting().await;
    let provider = service_fn(|request: GenerateRequest| async move {
        let usage = Usage {
            cached_prompt_tokens: Some(600),
            cache_creation_tokens: Some(100),
            ..Usage::new(1000, 50)
        };
        let mut response = llmtrace::GenerateResponse::new("Hi");
        // The second call names a model nobody priced.
        response.model = Some(request.prompt.clone());
        response.usage = Some(usage);
        Ok::<_, ProviderError>(Generation::Complete(response))
    });
    let exporter = OtlpExporter::new(OtlpOptions::new(collector.endpoint())).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("collector", exporter, fast_export())
        .build()
        .unwrap();
    let mut prices = PriceTable::new();
    prices
        .set(
            "priced",
            ModelPrice::new(1.0, 2.0)
                .cached_input(0.5)
                .cache_write(1.25),
        )
        .unwrap();
    let client = Client::builder()
        .service(ProviderInfo::new("openai", "house"), provider)
        .prices(prices)
        .exporters(exporters)
        .build();

    client.generate("priced").await.unwrap();
    client.generate("unpriced").await.unwrap();
    client.shutdown().await;

    let records = client.get_traces(TraceQuery::all());
    let spans = collector.spans();
    // 300 plain at $1, 600 read at $0.50, 100 written at $1.25, 50 output at $2 (per million).
    let cost = (300.0 + 300.0 + 125.0 + 100.0) / 1e6;
    assert_eq!(records[0].cost_usd, Some(cost));
    let priced = span_of(&spans, &records[0]);
    assert_eq!(double(priced, "gen_ai.usage.cost"), Some(cost));
    assert_eq!(double(priced, "llm.cost.total"), Some(cost));
    assert_eq!(int(priced, "gen_ai.usage.input_tokens"), Some(1000));
    assert_eq!(
        int(priced, "gen_ai.usage.cache_read.input_tokens"),
        Some(600)
    );
    assert_eq!(
        int(priced, "gen_ai.usage.cache_creation.input_tokens"),
        Some(100)
    );

    assert_eq!(records[1].cost_usd, None);
    let unpriced = span_of(&spans, &records[1]);
    assert_eq!(double(unpriced, "gen_ai.usage.cost"), None);
    assert_eq!(double(unpriced, "llm.cost.total"), None);
}
