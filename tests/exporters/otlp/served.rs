//! Spans of calls to a real OpenAI-compatible server on 127.0.0.1: the backend learns the
//! response id and the serving model without `verbatim` (streams too), the server's address
//! and port, and that a request streamed even when it failed before its first chunk.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use llmtrace::exporter::{ExporterSink, OtlpExporter, OtlpOptions};
use llmtrace::provider::{OpenAiProvider, ProviderOptions};
use llmtrace::{Client, TraceQuery};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::fast_export;
use crate::support::collector::{Collector, attribute, boolean, int, string};

pub(crate) const SERVED: &str = "gpt-4o-mini-2024-07-18";

/// Answers every chat completion as the API does: a completion object, or its chunks as
/// server-sent events when the request asks for a stream; or `refuse` with an error body.
pub(crate) async fn llm_server(refuse: Option<u16>) -> SocketAddr {
    let app = Router::new().fallback(move |body: String| async move {
        if let Some(status) = refuse {
            let error = json!({"error": {"message": "overloaded", "type": "server_error"}});
            return (StatusCode::from_u16(status).unwrap(), error.to_string()).into_response();
        }
        let request: Value = serde_json::from_str(&body).unwrap();
        if request["stream"] == true {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-stream", "object": "chat.completion.chunk", "model": SERVED,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let events = format!(
                "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
                chunk(json!({"content": "Hi"}), Value::Null),
                chunk(json!({}), json!("stop"))
            );
            return sse(events);
        }
        let completion = json!({
            "id": "chatcmpl-complete", "object": "chat.completion", "model": SERVED,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                         "finish_reason": "stop"}]
        });
        (
            [(header::CONTENT_TYPE, "application/json")],
            completion.to_string(),
        )
            .into_response()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn sse(events: String) -> Response {
    ([(header::CONTENT_TYPE, "text/event-stream")], events).into_response()
}

/// A client of the server at `llm`, exporting to `collector` (the provider keeps no body).
fn client(llm: SocketAddr, collector: &Collector) -> Client {
    let provider = OpenAiProvider::new(
        ProviderOptions::new("gpt-4o-mini").base_url(format!("http://{llm}/v1")),
    )
    .unwrap();
    let exporter = OtlpExporter::new(OtlpOptions::new(collector.endpoint())).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("collector", exporter, fast_export())
        .build()
        .unwrap();
    Client::builder()
        .provider(provider)
        .exporters(exporters)
        .build()
}

fn the_span(client: &Client, collector: &Collector) -> Span {
    let record = client.get_traces(TraceQuery::all()).pop().unwrap();
    let spans = collector.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].trace_id, record.trace_id.as_bytes());
    spans[0].clone()
}

fn assert_server(span: &Span, llm: SocketAddr) {
    assert_eq!(string(span, "server.address"), Some("127.0.0.1"));
    assert_eq!(int(span, "server.port"), Some(llm.port().into()));
}

#[tokio::test]
async fn a_completion_span_has_the_response_id_model_and_server() {
    let llm = llm_server(None).await;
    let collector = Collector::accepting().await;
    let client = client(llm, &collector);

    client.generate("Hello").await.unwrap();
    client.shutdown().await;

    let span = the_span(&client, &collector);
    assert_eq!(
        string(&span, "gen_ai.response.id"),
        Some("chatcmpl-complete")
    );
    assert_eq!(string(&span, "gen_ai.response.model"), Some(SERVED));
    assert_eq!(string(&span, "gen_ai.request.model"), Some("gpt-4o-mini"));
    assert_server(&span, llm);
    assert_eq!(attribute(&span, "gen_ai.request.stream"), None);
}

#[tokio::test]
async fn a_stream_span_has_the_response_id_model_and_server() {
    let llm = llm_server(None).await;
    let collector = Collector::accepting().await;
    let client = client(llm, &collector);

    let stream = client.stream("Hello").await.unwrap();
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.iter().all(Result::is_ok));
    client.shutdown().await;

    let span = the_span(&client, &collector);
    assert_eq!(string(&span, "gen_ai.response.id"), Some("chatcmpl-stream"));
    assert_eq!(string(&span, "gen_ai.response.model"), Some(SERVED));
    assert_eq!(boolean(&span, "gen_ai.request.stream"), Some(true));
    assert_server(&span, llm);
}

#[tokio::test]
async fn a_stream_refused_before_its_first_chunk_is_marked_streamed() {
    let llm = llm_server(Some(503)).await;
    let collector = Collector::accepting().await;
    let client = client(llm, &collector);

    client.stream("Hello").await.expect_err("a refusal");
    client.shutdown().await;

    let span = the_span(&client, &collector);
    assert_eq!(boolean(&span, "gen_ai.request.stream"), Some(true));
    assert_eq!(int(&span, "http.response.status_code"), Some(503));
    assert_server(&span, llm);
}
