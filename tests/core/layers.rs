//! Composing the layers by hand with `tower::ServiceBuilder`.

use std::time::Duration;

use llmtrace::layer::{ServiceBuilderExt, TraceLayer};
use llmtrace::provider::EchoProvider;
use llmtrace::sink::{TraceQuery, TraceStore};
use llmtrace::{BoxError, GenerateRequest, Metadata};
use tower::{ServiceBuilder, ServiceExt};

#[tokio::test]
async fn hand_composed_stack_stamps_session_and_metadata_and_traces() {
    let provider = EchoProvider::new();
    let store = TraceStore::new(10);
    let mut metadata = Metadata::new();
    metadata.insert("environment".into(), "prod".into());
    let service = ServiceBuilder::new()
        .set_session("s-42")
        .inject_metadata(metadata)
        .trace(provider.info(), store.clone())
        .service(provider);

    let response = service
        .oneshot(GenerateRequest::new("hi").attempt_number(3))
        .await
        .unwrap()
        .into_response()
        .await
        .unwrap();

    assert_eq!(response.content, "Echo: hi");
    let trace = store.get(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.metadata["session_id"], "s-42");
    assert_eq!(trace.metadata["step_type"], "chat");
    assert_eq!(trace.metadata["attempt_number"], 3);
    assert_eq!(trace.metadata["environment"], "prod");
    assert_eq!(store.query(&TraceQuery::all().session("s-42")).len(), 1);
}

#[tokio::test]
async fn the_trace_layer_changes_nothing_but_the_trace_id() {
    let provider = EchoProvider::new();
    let request = GenerateRequest::new("same").temperature(0.1);
    let untraced = provider
        .clone()
        .oneshot(request.clone())
        .await
        .unwrap()
        .into_response()
        .await
        .unwrap();

    let traced = TraceLayer::new(provider.info(), TraceStore::new(1));
    let mut response = tower::Layer::layer(&traced, provider)
        .oneshot(request)
        .await
        .unwrap()
        .into_response()
        .await
        .unwrap();

    assert!(response.metadata.remove("trace_id").is_some());
    assert_eq!(response, untraced);
}

#[tokio::test]
async fn a_tower_timeout_inside_the_trace_layer_is_traced_as_a_retryable_timeout() {
    let provider = EchoProvider::new().latency(Duration::from_secs(5));
    let store = TraceStore::new(10);
    let service = ServiceBuilder::new()
        .trace(provider.info(), store.clone())
        .map_err(BoxError::from)
        .timeout(Duration::from_millis(20))
        .service(provider);

    let error = service
        .oneshot(GenerateRequest::new("slow"))
        .await
        .unwrap_err();

    assert!(error.is::<tower::timeout::error::Elapsed>());
    let trace = &store.all()[0];
    let traced = trace.error.as_ref().unwrap();
    assert_eq!(traced.kind, "timeout");
    assert!(traced.retryable);
    assert!(traced.generation_time_ms >= 20.0);
    assert!(trace.response.is_none());
}

#[tokio::test]
async fn tracing_left_out_of_the_stack_records_nothing() {
    let provider = EchoProvider::new();
    let service = ServiceBuilder::new().set_session("s").service(provider);

    let response = service
        .oneshot(GenerateRequest::new("hi"))
        .await
        .unwrap()
        .into_response()
        .await
        .unwrap();

    assert!(response.trace_id().is_none());
}

#[tokio::test]
async fn client_builder_layers_build_the_listed_stack_in_order() {
    use llmtrace::layer::{LayerSpec, SessionSpec, TimeoutSpec};
    use llmtrace::{Client, ErrorKind};

    let client = Client::builder()
        .provider(EchoProvider::new().latency(Duration::from_secs(10)))
        .metadata("environment", "prod")
        .layer(LayerSpec::Session(SessionSpec::Env(
            "APP_NO_SUCH_SESSION_VAR".into(),
        )))
        .layer(LayerSpec::Trace)
        .layer(LayerSpec::Timeout(TimeoutSpec::new(Duration::from_millis(
            20,
        ))))
        .build();

    let error = client.generate("slow").await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(
        client.stack().to_string(),
        "metadata(1 key) -> session(env APP_NO_SUCH_SESSION_VAR) -> trace -> timeout(20ms) -> provider echo(echo-1)"
    );
    let trace = &client.get_traces(TraceQuery::all())[0];
    assert_eq!(trace.error.as_ref().unwrap().kind, "timeout");
    assert_eq!(trace.metadata["environment"], "prod");
    // The variable is not set: a new random session id, not a missing or empty one.
    let session = trace.metadata["session_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(session).is_ok(), "{session}");
}

#[tokio::test]
async fn client_builder_with_tracing_off_drops_a_listed_trace_layer() {
    use llmtrace::Client;
    use llmtrace::layer::LayerSpec;

    let client = Client::builder()
        .tracing(false)
        .layer(LayerSpec::Trace)
        .build();

    let response = client.generate("hi").await.unwrap();

    assert!(response.trace_id().is_none());
    assert_eq!(client.stack().to_string(), "provider echo(echo-1)");
}

/// `generate` calls the stack as plain functions and `service()` as a tower service; both are
/// one client, so both tag the same session, even when its variable is unset and the id is a
/// new random one.
#[tokio::test]
async fn generate_and_the_service_handle_tag_the_same_session() {
    use llmtrace::Client;
    use llmtrace::layer::{LayerSpec, SessionSpec};

    let client = Client::builder()
        .metadata("environment", "prod")
        .layer(LayerSpec::Session(SessionSpec::Env(
            "APP_NO_SUCH_SESSION_VAR_EITHER".into(),
        )))
        .build();
    client.generate("through generate").await.unwrap();
    let generation = client
        .service()
        .oneshot(GenerateRequest::new("through the service"))
        .await
        .unwrap();
    generation.into_response().await.unwrap();

    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 2);
    let sessions: Vec<_> = traces.iter().map(|t| &t.metadata["session_id"]).collect();
    assert_eq!(sessions[0], sessions[1]);
    assert!(uuid::Uuid::parse_str(sessions[0].as_str().unwrap()).is_ok());
    for trace in &traces {
        assert_eq!(trace.metadata["environment"], "prod");
        assert_eq!(trace.metadata["step_type"], "chat");
    }
}
