//! Capture every generation as a [`TraceRecord`].
//!
//! [`Trace`] times the inner call and builds one record per call — success, failure, or a call
//! the caller dropped before it finished — then hands it to a [`RecordSink`]. It never changes
//! the response or the error, except for adding `trace_id` to the response metadata. The
//! request's metadata, which exists for the trace, moves into the record: services below the
//! trace layer see it empty. A [retry](crate::layer::retry) below the trace layer adds
//! `attempts` (how many it made) to that metadata.
//!
//! # Example
//!
//! ```
//! use llmtrace::layer::TraceLayer;
//! use llmtrace::provider::EchoProvider;
//! use llmtrace::sink::TraceStore;
//! use llmtrace::GenerateRequest;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), llmtrace::ProviderError> {
//! let provider = EchoProvider::new();
//! let store = TraceStore::new(100);
//! let service = TraceLayer::new(provider.info(), store.clone()).layer(provider);
//!
//! let request = GenerateRequest::new("Say hello").temperature(0.0);
//! let response = service.oneshot(request).await?.into_response().await?;
//!
//! let trace = store.get(&response.trace_id().unwrap()).unwrap();
//! assert_eq!(trace.prompt, "Say hello");
//! assert_eq!(trace.parameters.temperature, Some(0.0));
//! assert_eq!(trace.response.as_ref().unwrap().content, response.content);
//! # Ok(())
//! # }
//! ```
//!
//! # When the record is made
//!
//! - A complete answer: when the inner future resolves.
//! - A stream: when it ends, when it yields an error (the record then holds the partial
//!   content and the error), or when the caller drops it early (error kind `cancelled`).
//!   `time_to_first_token_ms` is the time to the first chunk.
//! - An error: when the inner future fails; `response` is `None` and `error` says what
//!   happened (see [`TraceableError`]).
//! - A dropped call: when the response future is dropped before it resolves (error kind
//!   `cancelled`).
//!
//! # Cost
//!
//! On the request path the layer clones the request's text (prompt, system prompt, history,
//! tools) and the answer's text once, moves the metadata, reads the clock three times, draws a
//! UUID, and looks the model up in the price table (a hash lookup, then a scan of the prefix
//! aliases when the name is not in the table) to set `cost_usd`; see [`crate::cost`].
//! Serialization and I/O happen only in sinks that export, off the request path.
//!
//! [`TraceRecord`]: crate::TraceRecord
//! [`RecordSink`]: crate::sink::RecordSink

mod error;
pub mod future;
mod layer;
mod recorder;
mod service;
mod stream;

pub use error::TraceableError;
pub use layer::TraceLayer;
pub use service::Trace;
