//! Compose the layers by hand with `tower::ServiceBuilder`, with a timeout inside the trace
//! layer, and see a timeout recorded like any other call.
//!
//! Run with `cargo run --example compose_layers`.

use std::time::Duration;

use llmtrace::layer::ServiceBuilderExt;
use llmtrace::provider::EchoProvider;
use llmtrace::sink::{self, TraceStore};
use llmtrace::{BoxError, GenerateRequest, Metadata};
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let provider = EchoProvider::new().latency(Duration::from_millis(30));
    let store = TraceStore::new(100);
    // A second observer of the record path: print every record as it is made.
    let printer = sink::from_fn(|record| {
        let outcome = match &record.error {
            Some(error) => format!("{} after {:.1} ms", error.kind, error.generation_time_ms),
            None => format!("ok in {:.1} ms", record.duration_ms()),
        };
        println!(
            "recorded {} {:?}: {outcome}",
            record.trace_id, record.prompt
        );
    });
    let mut metadata = Metadata::new();
    metadata.insert("service".into(), "billing-bot".into());

    // Outermost first: session, metadata, trace, then a timeout around the provider.
    let stack = ServiceBuilder::new()
        .set_session("conversation-1")
        .inject_metadata(metadata)
        .trace(provider.info(), (store.clone(), printer))
        .map_err(BoxError::from)
        .timeout(Duration::from_millis(100))
        .service(provider);

    let response = stack
        .clone()
        .oneshot(GenerateRequest::new("What is my balance?"))
        .await?
        .into_response()
        .await?;
    println!("answer: {}", response.content);

    // The same stack with a 10 ms budget: the provider's 30 ms latency times out.
    let impatient = ServiceBuilder::new()
        .trace(
            llmtrace::provider::ProviderInfo::new("echo", "echo-1"),
            store.clone(),
        )
        .map_err(BoxError::from)
        .timeout(Duration::from_millis(10))
        .service(EchoProvider::new().latency(Duration::from_millis(30)));
    let error = impatient
        .oneshot(GenerateRequest::new("Too slow"))
        .await
        .unwrap_err();
    println!("error:  {error}");

    println!("\n{} traces in the store", store.len());
    for trace in store.all() {
        println!(
            "  {} session={:?} error={:?}",
            trace.prompt,
            trace.session_id(),
            trace.error.as_ref().map(|e| &e.kind)
        );
    }
    Ok(())
}
