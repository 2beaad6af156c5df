//! The `Trace` middleware alone, over a `tower_test` mock provider: the test answers each call
//! by hand, so readiness, errors and cancellation happen exactly when the test says.

use std::task::Poll;

use llmtrace::layer::TraceLayer;
use llmtrace::provider::ProviderInfo;
use llmtrace::sink::TraceStore;
use llmtrace::{BoxError, ErrorKind, GenerateRequest, GenerateResponse, Generation, ProviderError};
use tower_test::mock::{self, Handle, Spawn};

type Traced = Spawn<llmtrace::layer::Trace<mock::Mock<GenerateRequest, Generation>>>;

/// A traced mock provider recording into a fresh store.
fn traced_mock() -> (Traced, Handle<GenerateRequest, Generation>, TraceStore) {
    let store = TraceStore::new(100);
    let layer = TraceLayer::new(ProviderInfo::new("mock", "mock-1"), store.clone());
    let (service, handle) = mock::spawn_layer(layer);
    (service, handle, store)
}

fn answer(content: &str) -> Generation {
    Generation::Complete(GenerateResponse::new(content))
}

#[tokio::test]
async fn readiness_is_the_providers() {
    let (mut service, mut handle, _store) = traced_mock();

    handle.allow(0);
    assert!(
        service.poll_ready().is_pending(),
        "ready before the provider"
    );
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));

    handle.send_error(ProviderError::http(503, "overloaded"));
    let error = match service.poll_ready() {
        Poll::Ready(Err(error)) => error,
        other => panic!("the provider's readiness error must pass through: {other:?}"),
    };
    assert!(error.to_string().contains("overloaded"), "{error}");
}

#[tokio::test]
async fn every_call_is_one_record_of_what_the_provider_received_and_answered() {
    let (mut service, mut handle, store) = traced_mock();
    handle.allow(2);

    for prompt in ["one", "two"] {
        assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
        let call = service.call(GenerateRequest::new(prompt));
        let (request, respond) = handle
            .next_request()
            .await
            .expect("the call reaches the provider");
        assert_eq!(request.prompt, prompt);
        respond.send_response(answer(&format!("re: {prompt}")));
        let response = call.await.unwrap().into_response().await.unwrap();
        let trace = store.get(&response.trace_id().unwrap()).expect("recorded");
        assert_eq!(trace.prompt, prompt);
        assert_eq!(
            trace.response.as_ref().unwrap().content,
            format!("re: {prompt}")
        );
        assert_eq!(trace.provider, "mock");
        assert!(trace.error.is_none());
    }
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn a_provider_error_reaches_the_caller_and_is_recorded() {
    let (mut service, mut handle, store) = traced_mock();
    handle.allow(1);

    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let call = service.call(GenerateRequest::new("hi"));
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_error(ProviderError::http(429, "slow down"));
    let error: BoxError = call.await.unwrap_err();

    let error = error
        .downcast_ref::<ProviderError>()
        .expect("the provider's error, unchanged");
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let traces = store.all();
    assert_eq!(traces.len(), 1);
    let recorded = traces[0].error.as_ref().expect("the failure is recorded");
    assert_eq!(recorded.kind, ErrorKind::RateLimited.as_str());
    assert_eq!(recorded.status, Some(429));
    assert!(recorded.retryable);
    assert!(traces[0].response.is_none());
}

#[tokio::test]
async fn a_call_dropped_before_the_provider_answers_is_recorded_as_cancelled() {
    let (mut service, mut handle, store) = traced_mock();
    handle.allow(1);

    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let call = service.call(GenerateRequest::new("never mind"));
    let (_, respond) = handle.next_request().await.unwrap();
    assert!(store.is_empty(), "recorded before it ended");
    drop(call);

    let traces = store.all();
    assert_eq!(
        traces.len(),
        1,
        "one record, written when the call was dropped"
    );
    assert_eq!(traces[0].prompt, "never mind");
    assert_eq!(
        traces[0].error.as_ref().unwrap().kind,
        ErrorKind::Cancelled.as_str()
    );
    // The provider answering afterwards changes nothing.
    respond.send_response(answer("too late"));
    assert_eq!(store.len(), 1);
}
