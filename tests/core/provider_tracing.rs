//! Client-level tracing: the reference's `TestProviderTracing`, then what it leaves out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use llmtrace::sink::{self, TraceQuery};
// The crate's own re-export: a user needs no `uuid` dependency to look a trace up.
use llmtrace::{GenerateRequest, Message, Uuid};
use serde_json::json;

use crate::support::{STUB_MODEL, failing, overloaded, rejected, stub, traced};

fn prompts(traces: &[Arc<llmtrace::TraceRecord>]) -> Vec<&str> {
    traces.iter().map(|t| t.prompt.as_str()).collect()
}

#[tokio::test]
async fn tracing_off_records_nothing_and_returns_no_trace_id() {
    let client = stub().tracing(false).build();
    assert!(!client.tracing_enabled());

    let response = client.generate("Test").await.unwrap();

    assert_eq!(response.content, "Echo: Test");
    assert!(response.trace_id().is_none());
    assert!(!response.metadata.contains_key("trace_id"));
    assert!(client.store().is_empty());
}

#[tokio::test]
async fn tracing_on_by_default_with_a_ring_buffer_of_100() {
    let client = stub().build();
    assert!(client.tracing_enabled());
    assert_eq!(client.store().capacity(), 100);
    assert!(client.store().is_empty());
}

#[tokio::test]
async fn a_generation_is_captured_with_its_trace_id() {
    let client = traced(10);

    let response = client
        .generate(GenerateRequest::new("Say 'Hello World' exactly").temperature(0.0))
        .await
        .unwrap();

    let trace_id = response.trace_id().expect("trace_id in response metadata");
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(trace.trace_id, trace_id);
    assert_eq!(trace.provider, "echo");
    assert_eq!(trace.model, STUB_MODEL);
    assert_eq!(trace.prompt, "Say 'Hello World' exactly");
    assert_eq!(trace.response.as_ref().unwrap().content, response.content);
    assert_eq!(trace.parameters.temperature, Some(0.0));
}

#[tokio::test]
async fn a_trace_is_found_by_id() {
    let client = traced(10);
    let first = client.generate("Test 1").await.unwrap();
    client.generate("Test 2").await.unwrap();

    let trace = client.get_trace(&first.trace_id().unwrap()).unwrap();

    assert_eq!(trace.trace_id, first.trace_id().unwrap());
    assert_eq!(trace.prompt, "Test 1");
}

/// Ids that sort by time keep a store's index on them growing at its end (see the SQLite
/// store's insert figures), and let a user order traces by id.
#[tokio::test]
async fn trace_ids_carry_the_calls_start_and_sort_by_time() {
    let client = traced(10);
    let first = client.generate("Test 1").await.unwrap().trace_id().unwrap();
    let started = client.get_trace(&first).unwrap().timestamp;
    // A later millisecond, polled for rather than slept for.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while chrono::Utc::now().timestamp_millis() == started.timestamp_millis() {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock did not move"
        );
        std::hint::spin_loop();
    }
    let second = client.generate("Test 2").await.unwrap().trace_id().unwrap();

    for id in [first, second] {
        let trace = client.get_trace(&id).unwrap();
        assert_eq!(id.get_version_num(), 7, "{id}");
        let (seconds, nanos) = id.get_timestamp().unwrap().to_unix();
        let millis = seconds as i64 * 1000 + i64::from(nanos / 1_000_000);
        assert_eq!(millis, trace.timestamp.timestamp_millis(), "{id}");
    }
    assert!(first < second, "{first} then {second}");
}

#[tokio::test]
async fn an_unknown_trace_id_is_none_not_an_error() {
    let client = traced(10);
    client.generate("Test").await.unwrap();

    assert!(client.get_trace(&Uuid::new_v4()).is_none());
    assert!(client.get_trace(&Uuid::nil()).is_none());
}

#[tokio::test]
async fn a_trace_id_kept_as_text_finds_its_trace() {
    let client = traced(10);
    let response = client.generate("Test").await.unwrap();
    let text = response.metadata["trace_id"].as_str().unwrap().to_owned();

    let id = llmtrace::uuid::Uuid::parse_str(&text).unwrap();

    assert_eq!(client.get_trace(&id).unwrap().prompt, "Test");
}

#[tokio::test]
async fn last_n_returns_the_most_recent_in_call_order() {
    let client = traced(10);
    for i in 0..5 {
        client.generate(format!("Test {i}")).await.unwrap();
    }

    let traces = client.get_traces(TraceQuery::last(3));

    assert_eq!(prompts(&traces), ["Test 2", "Test 3", "Test 4"]);
}

#[tokio::test]
async fn last_n_edge_cases_zero_is_empty_and_more_than_stored_is_all() {
    let client = traced(10);
    for i in 0..3 {
        client.generate(format!("Test {i}")).await.unwrap();
    }

    assert!(client.get_traces(TraceQuery::last(0)).is_empty());
    assert_eq!(
        prompts(&client.get_traces(TraceQuery::last(10))),
        ["Test 0", "Test 1", "Test 2"]
    );
    assert_eq!(prompts(&client.get_traces(TraceQuery::last(1))), ["Test 2"]);
}

#[tokio::test]
async fn the_ring_buffer_evicts_the_oldest() {
    let client = traced(3);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            client
                .generate(format!("Test {i}"))
                .await
                .unwrap()
                .trace_id()
                .unwrap(),
        );
    }

    let traces = client.get_traces(TraceQuery::all());

    assert_eq!(prompts(&traces), ["Test 2", "Test 3", "Test 4"]);
    assert!(
        client.get_trace(&ids[0]).is_none(),
        "evicted traces are gone by id too"
    );
    assert!(client.get_trace(&ids[4]).is_some());
}

#[tokio::test]
async fn the_default_buffer_keeps_the_last_100() {
    let client = stub().build();
    for i in 0..150 {
        client.generate(format!("Test {i}")).await.unwrap();
    }

    let traces = client.get_traces(TraceQuery::all());

    assert_eq!(traces.len(), 100);
    assert_eq!(traces[0].prompt, "Test 50");
    assert_eq!(traces[99].prompt, "Test 149");
}

#[tokio::test]
async fn max_traces_zero_keeps_nothing_but_still_issues_ids_and_feeds_sinks() {
    let exported = Arc::new(AtomicUsize::new(0));
    let counter = {
        let exported = exported.clone();
        sink::from_fn(move |_| {
            exported.fetch_add(1, Ordering::SeqCst);
        })
    };
    let client = stub().max_traces(0).sink(counter).build();

    let response = client.generate("Test").await.unwrap();

    let trace_id = response
        .trace_id()
        .expect("a trace id even with max_traces 0");
    assert!(client.get_trace(&trace_id).is_none());
    assert!(client.get_traces(TraceQuery::all()).is_empty());
    assert_eq!(exported.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn custom_metadata_is_recorded() {
    let client = traced(10);

    let response = client
        .generate(
            GenerateRequest::new("Test")
                .metadata("step", "code_generation")
                .metadata("attempt", 1)
                .metadata("user_id", "test_user"),
        )
        .await
        .unwrap();

    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.metadata["step"], "code_generation");
    assert_eq!(trace.metadata["attempt"], 1);
    assert_eq!(trace.metadata["user_id"], "test_user");
}

#[tokio::test]
async fn client_metadata_is_injected_and_a_request_value_wins() {
    let client = stub()
        .metadata("environment", "dev")
        .metadata("team", "search")
        .build();

    let response = client
        .generate(GenerateRequest::new("Test").metadata("team", "ads"))
        .await
        .unwrap();

    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.metadata["environment"], "dev");
    assert_eq!(trace.metadata["team"], "ads");
}

#[tokio::test]
async fn the_system_prompt_is_recorded() {
    let client = traced(10);

    let response = client
        .generate(GenerateRequest::new("Test").system_prompt("You are a helpful assistant"))
        .await
        .unwrap();

    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(
        trace.system_prompt.as_deref(),
        Some("You are a helpful assistant")
    );
}

#[tokio::test]
async fn messages_are_recorded() {
    let client = traced(10);
    let messages = vec![Message::user("Hello"), Message::assistant("Hi there!")];

    let response = client
        .generate(GenerateRequest::new("How are you?").messages(messages.clone()))
        .await
        .unwrap();

    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.messages, messages);
}

#[tokio::test]
async fn stored_traces_are_snapshots_the_caller_cannot_alter() {
    let client = traced(10);
    let mut messages = vec![Message::user("Hello")];
    let request = GenerateRequest::new("Test")
        .messages(messages.clone())
        .metadata("user_id", "u1");

    let response = client.generate(request.clone()).await.unwrap();
    let trace_id = response.trace_id().unwrap();
    // The caller changes everything it still holds...
    messages.push(Message::user("injected"));
    let mut request = request;
    request.metadata.insert("user_id".into(), json!("changed"));
    let mut copy = (*client.get_trace(&trace_id).unwrap()).clone();
    copy.prompt = "changed".into();
    copy.metadata.insert("user_id".into(), json!("changed"));

    // ...and the stored trace is as it was.
    let stored = client.get_trace(&trace_id).unwrap();
    assert_eq!(stored.prompt, "Test");
    assert_eq!(stored.messages, [Message::user("Hello")]);
    assert_eq!(stored.metadata["user_id"], "u1");
}

#[tokio::test]
async fn a_failed_generation_is_traced_and_the_error_reaches_the_caller_unchanged() {
    let client = failing(overloaded(), Duration::from_millis(20));

    let error = client
        .generate(GenerateRequest::new("Test").metadata("user_id", "u1"))
        .await
        .unwrap_err();

    assert_eq!(error.kind(), llmtrace::ErrorKind::Server);
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.message(), "model is overloaded");
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert!(trace.response.is_none());
    assert_eq!(trace.prompt, "Test");
    assert_eq!(trace.provider, "flaky");
    assert_eq!(trace.metadata["user_id"], "u1");
    let traced = trace.error.as_ref().unwrap();
    assert_eq!(traced.kind, "server");
    assert_eq!(traced.message, "model is overloaded");
    assert!(traced.retryable);
    assert_eq!(traced.status, Some(503));
    assert!(
        traced.generation_time_ms >= 20.0,
        "{}",
        traced.generation_time_ms
    );
    assert_eq!(client.get_traces(TraceQuery::all().errors()).len(), 1);
}

#[tokio::test]
async fn a_permanent_failure_is_traced_as_not_retryable() {
    let client = failing(rejected(), Duration::ZERO);

    client.generate("Test").await.unwrap_err();

    let trace = &client.get_traces(TraceQuery::last(1))[0];
    let error = trace.error.as_ref().unwrap();
    assert_eq!(error.kind, "invalid_request");
    assert!(!error.retryable);
    assert_eq!(error.status, None);
}

#[tokio::test]
async fn a_generation_dropped_by_the_caller_is_traced_as_cancelled() {
    let client = stub()
        .provider(llmtrace::provider::EchoProvider::new().latency(Duration::from_secs(5)))
        .build();

    let outcome = tokio::time::timeout(Duration::from_millis(30), client.generate("slow")).await;

    assert!(outcome.is_err(), "the call should still be running");
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1);
    assert!(traces[0].response.is_none());
    let error = traces[0].error.as_ref().unwrap();
    assert_eq!(error.kind, "cancelled");
    assert!(error.generation_time_ms >= 30.0);
}

#[tokio::test]
async fn traces_are_queried_by_metadata_and_session() {
    let client = traced(10);
    client
        .generate(GenerateRequest::new("a").metadata("user_id", "u1"))
        .await
        .unwrap();
    client
        .generate(GenerateRequest::new("b").metadata("user_id", "u2"))
        .await
        .unwrap();
    client
        .generate(
            GenerateRequest::new("c")
                .metadata("user_id", "u1")
                .metadata("session_id", "s1"),
        )
        .await
        .unwrap();

    assert_eq!(
        prompts(&client.get_traces(TraceQuery::all().metadata("user_id", "u1"))),
        ["a", "c"]
    );
    assert_eq!(
        prompts(&client.get_traces(TraceQuery::all().session("s1"))),
        ["c"]
    );
    assert_eq!(
        prompts(&client.get_traces(TraceQuery::all().metadata("user_id", "u1").last_n(1))),
        ["c"]
    );
    assert!(
        client
            .get_traces(TraceQuery::all().metadata("user_id", "nobody"))
            .is_empty()
    );
}

#[test]
fn a_record_stored_twice_survives_the_eviction_of_its_older_copy() {
    let store = llmtrace::TraceStore::new(2);
    let record = |prompt: &str| {
        Arc::new(llmtrace::TraceRecord {
            trace_id: Uuid::new_v4(),
            timestamp: chrono::Utc::now(),
            provider: "p".into(),
            model: "m".into(),
            server_address: None,
            server_port: None,
            stream: false,
            system_prompt: None,
            prompt: prompt.into(),
            messages: Vec::new(),
            tools: Vec::new(),
            parameters: Default::default(),
            response: None,
            cost_usd: None,
            error: None,
            metadata: Default::default(),
            redactions: 0,
        })
    };
    let twice = record("twice");

    store.push(twice.clone());
    store.push(twice.clone());
    store.push(record("other")); // evicts the first copy only

    assert_eq!(store.len(), 2);
    assert!(store.get(&twice.trace_id).is_some());
}

/// A `tower_test` mock as a client's provider (its errors are `ProviderError`s again).
fn mock_client() -> (
    llmtrace::Client,
    tower_test::mock::Handle<GenerateRequest, llmtrace::Generation>,
) {
    use tower::ServiceExt;

    let (mock, handle) = tower_test::mock::pair::<GenerateRequest, llmtrace::Generation>();
    let provider = mock.map_err(|error: llmtrace::BoxError| {
        *error
            .downcast::<llmtrace::ProviderError>()
            .expect("the test sends only provider errors")
    });
    let info = llmtrace::provider::ProviderInfo::new("mock", "mock-1");
    let client = llmtrace::Client::builder()
        .service(info, provider)
        .tracing(false)
        .build();
    (client, handle)
}

#[tokio::test]
async fn tracing_off_waits_until_the_provider_is_ready() {
    let (client, mut handle) = mock_client();
    handle.allow(0);

    let caller = client.clone();
    let call = tokio::spawn(async move { caller.generate("hi").await });
    // The call can only reach the provider once it is ready, and must then be woken.
    handle.allow(1);
    let (request, respond) = handle.next_request().await.expect("the call arrives");
    assert_eq!(request.prompt, "hi");
    respond.send_response(llmtrace::Generation::Complete(
        llmtrace::GenerateResponse::new("hello"),
    ));

    let response = call.await.unwrap().unwrap();
    assert_eq!(response.content, "hello");
    assert!(client.store().is_empty());
}

#[tokio::test]
async fn tracing_off_returns_the_providers_readiness_and_call_errors_unchanged() {
    let (client, mut handle) = mock_client();

    handle.send_error(llmtrace::ProviderError::http(503, "not ready"));
    let error = client.generate("one").await.unwrap_err();
    assert_eq!(error.status(), Some(503));
    assert!(error.to_string().contains("not ready"), "{error}");

    handle.allow(1);
    let caller = client.clone();
    let call = tokio::spawn(async move { caller.generate("two").await });
    let (_, respond) = handle.next_request().await.expect("the call arrives");
    respond.send_error(llmtrace::ProviderError::http(429, "slow down"));
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(error.status(), Some(429));
}
