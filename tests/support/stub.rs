//! Shared helpers: clients over the echo provider (the reference's stub answers the same way),
//! and providers that fail.

use std::time::Duration;

use llmtrace::provider::{EchoProvider, ProviderInfo};
use llmtrace::{Client, ClientBuilder, ErrorKind, GenerateRequest, Generation, ProviderError};
use tower::service_fn;

/// The model name of the reference's stub provider.
pub(crate) const STUB_MODEL: &str = "qwen3:4b-instruct";

/// A builder over the echo provider serving [`STUB_MODEL`].
pub(crate) fn stub() -> ClientBuilder {
    Client::builder().provider(EchoProvider::new().model(STUB_MODEL))
}

/// A traced client keeping `max_traces` traces.
pub(crate) fn traced(max_traces: usize) -> Client {
    stub().max_traces(max_traces).build()
}

/// A client whose provider fails every call with `error` after `delay`.
pub(crate) fn failing(error: ProviderError, delay: Duration) -> Client {
    let provider = service_fn(move |_request: GenerateRequest| {
        let error = error.clone();
        async move {
            tokio::time::sleep(delay).await;
            Err::<Generation, _>(error)
        }
    });
    Client::builder()
        .service(ProviderInfo::new("flaky", "flaky-1"), provider)
        .build()
}

/// A retryable server error, as an overloaded provider returns it.
pub(crate) fn overloaded() -> ProviderError {
    ProviderError::http(503, "model is overloaded")
}

/// A permanent error.
pub(crate) fn rejected() -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, "prompt too long")
}
