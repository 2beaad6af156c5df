//! Streams are traced once, when they end, break, or are dropped (the reference traces none).

use std::time::Duration;

use futures_util::StreamExt;
use llmtrace::provider::{EchoProvider, ProviderInfo};
use llmtrace::sink::TraceQuery;
use llmtrace::{
    Client, ErrorKind, GenerateRequest, Generation, ProviderError, ReportFormat, ResponseStream,
    StreamChunk, export_traces, summarize_traces,
};
use tower::service_fn;

use crate::support::traced;

/// A provider streaming `chunks`, `gap` apart, then `ending` (an error, or nothing).
fn streaming(
    chunks: &'static [&'static str],
    gap: Duration,
    ending: Option<ProviderError>,
) -> Client {
    let provider = service_fn(move |_request: GenerateRequest| {
        let ending = ending.clone();
        async move {
            let items =
                futures_util::stream::iter(chunks.iter().map(|c| Ok(StreamChunk::text(*c))))
                    .then(move |item| async move {
                        tokio::time::sleep(gap).await;
                        item
                    })
                    .chain(futures_util::stream::iter(ending.map(Err)));
            Ok::<_, ProviderError>(Generation::Stream(ResponseStream::new(items)))
        }
    });
    Client::builder()
        .service(ProviderInfo::new("streamer", "s-1"), provider)
        .build()
}

#[tokio::test]
async fn a_stream_is_traced_once_when_it_ends() {
    let client = Client::builder()
        .provider(EchoProvider::new().latency(Duration::from_millis(20)))
        .build();

    let mut stream = client.stream("one two three").await.unwrap();
    let trace_id = stream.trace_id().unwrap();
    let mut chunks = 0;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        text.push_str(&chunk.content);
        chunks += 1;
        if chunks == 1 {
            assert!(
                client.get_trace(&trace_id).is_none(),
                "no trace before the stream ends"
            );
        }
    }
    assert!(chunks > 2);

    assert_eq!(client.get_traces(TraceQuery::all()).len(), 1);
    let trace = client.get_trace(&trace_id).unwrap();
    let response = trace.response.as_ref().unwrap();
    assert_eq!(response.content, "Echo: one two three");
    assert_eq!(response.content, text);
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert!(response.usage.unwrap().total_tokens > 0);
    let ttft = response.time_to_first_token_ms.unwrap();
    assert!(ttft >= 20.0, "{ttft}");
    assert!(response.generation_time_ms >= ttft);
    assert!(trace.error.is_none());
    assert!(trace.parameters.is_empty());
}

#[tokio::test]
async fn a_stream_dropped_halfway_is_traced_as_cancelled_with_the_partial_content() {
    let client = streaming(&["Hello", ", ", "world"], Duration::from_millis(5), None);

    let mut stream = client.stream("Say hello").await.unwrap();
    let trace_id = stream.trace_id().unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.content, "Hello");
    drop(stream);

    let trace = client
        .get_trace(&trace_id)
        .expect("a trace for the dropped stream");
    assert_eq!(trace.response.as_ref().unwrap().content, "Hello");
    assert!(
        trace
            .response
            .as_ref()
            .unwrap()
            .time_to_first_token_ms
            .is_some()
    );
    assert_eq!(trace.error.as_ref().unwrap().kind, "cancelled");
}

#[tokio::test]
async fn a_broken_stream_is_traced_with_the_error_and_the_partial_content() {
    let broken = ProviderError::new(ErrorKind::Stream, "connection reset after 2 chunks");
    let client = streaming(&["Hel", "lo"], Duration::ZERO, Some(broken));

    let mut stream = client.stream("Say hello").await.unwrap();
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }

    assert_eq!(items.len(), 3);
    let error = items[2].as_ref().unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Stream,
        "the caller gets the error unchanged"
    );
    let trace = &client.get_traces(TraceQuery::all())[0];
    assert_eq!(trace.response.as_ref().unwrap().content, "Hello");
    let traced = trace.error.as_ref().unwrap();
    assert_eq!(traced.kind, "stream");
    assert_eq!(traced.message, "connection reset after 2 chunks");
    assert!(traced.retryable);
}

/// The contract for a call that ends early: `error` says it failed, `response` keeps what
/// arrived, and every reader of the record agrees that it is a failure.
#[tokio::test]
async fn a_partial_answer_is_a_failure_everywhere_and_keeps_its_content() {
    let broken = ProviderError::new(ErrorKind::Stream, "connection reset after 2 chunks");
    let client = streaming(&["Hel", "lo"], Duration::ZERO, Some(broken));
    let mut stream = client.stream("Say hello").await.unwrap();
    while stream.next().await.is_some() {}

    let failures = client.get_traces(TraceQuery::all().errors());
    assert_eq!(failures.len(), 1, "the store's error filter sees it");
    let trace = &failures[0];
    assert!(trace.is_error());
    assert_eq!(summarize_traces(&failures).failed_interactions, 1);

    let report = export_traces(&failures, ReportFormat::Markdown, None).unwrap();
    assert!(report.contains("Hello"), "the partial answer is reported");
    assert!(
        report.contains("connection reset after 2 chunks"),
        "{report}"
    );

    let line = export_traces(&failures, ReportFormat::Jsonl, None).unwrap();
    let value: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(value["response"]["content"], "Hello");
    assert_eq!(value["error"]["kind"], "stream");
}

/// A stream that breaks before its first chunk is still a stream that was opened: its
/// `response` is there, empty, with no time to first token.
#[tokio::test]
async fn a_stream_broken_before_its_first_chunk_has_an_empty_response_and_an_error() {
    let broken = ProviderError::new(ErrorKind::Stream, "reset before any chunk");
    let client = streaming(&[], Duration::ZERO, Some(broken));
    let mut stream = client.stream("Say hello").await.unwrap();
    while stream.next().await.is_some() {}

    let trace = &client.get_traces(TraceQuery::all())[0];
    let response = trace.response.as_ref().unwrap();
    assert_eq!(response.content, "");
    assert_eq!(response.time_to_first_token_ms, None);
    assert_eq!(trace.error.as_ref().unwrap().kind, "stream");
}

#[tokio::test]
async fn generate_on_a_streaming_provider_collects_the_whole_answer() {
    let client = streaming(&["a", "b", "c"], Duration::ZERO, None);

    let response = client.generate("x").await.unwrap();

    assert_eq!(response.content, "abc");
    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.response.as_ref().unwrap().content, "abc");
}

#[tokio::test]
async fn streaming_a_non_streaming_answer_gives_one_chunk() {
    let client = traced(10);
    let mut request = GenerateRequest::new("hi");
    request.stream = false;

    let generation = client.call(request).await.unwrap();
    assert!(matches!(generation, Generation::Complete(_)));
    let mut stream = generation.into_stream();

    assert_eq!(stream.next().await.unwrap().unwrap().content, "Echo: hi");
    assert!(stream.next().await.is_none());
    assert!(stream.trace_id().is_some());
}
