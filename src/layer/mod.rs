//! The request path: tower middleware that enrich and trace generation requests.
//!
//! Outermost first, a traced stack is:
//!
//! ```text
//! SetSession -> InjectMetadata -> Trace -> [Timeout / Retry / ConcurrencyLimit] -> provider
//! ```
//!
//! A [`LayerSpec`] list, outermost first, builds such a stack from code
//! ([`ClientBuilder::layers`](crate::ClientBuilder::layers)) or from a configuration file's
//! `[[layers]]`; [`Stack`] is the result, as `llmtrace check-config` prints it.
//!
//! Session and metadata layers only add metadata to the request, so they sit outside the trace
//! layer, which records the request as the provider receives it. Middleware between the trace
//! layer and the provider is inside the timing: a retry there is one trace per call, a retry
//! outside it is one trace per attempt.
//!
//! Each layer is a [`Layer`](tower::Layer) + [`Service`](tower::Service) pair, and
//! [`ServiceBuilderExt`] adds them to `tower::ServiceBuilder` by name:
//!
//! ```
//! use llmtrace::layer::ServiceBuilderExt;
//! use llmtrace::provider::EchoProvider;
//! use llmtrace::sink::TraceStore;
//! use llmtrace::{GenerateRequest, Metadata};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), llmtrace::ProviderError> {
//! let provider = EchoProvider::new();
//! let store = TraceStore::new(100);
//! let mut metadata = Metadata::new();
//! metadata.insert("environment".into(), "dev".into());
//!
//! let service = ServiceBuilder::new()
//!     .set_session("session-1")
//!     .inject_metadata(metadata)
//!     .trace(provider.info(), store.clone())
//!     .service(provider);
//!
//! let response = service.oneshot(GenerateRequest::new("hi")).await?.into_response().await?;
//! let trace = store.get(&response.trace_id().unwrap()).unwrap();
//! assert_eq!(trace.metadata["environment"], "dev");
//! assert_eq!(trace.metadata["session_id"], "session-1");
//! # Ok(())
//! # }
//! ```

pub mod limit;
pub mod metadata;
pub mod retry;
pub mod session;
pub mod stack;
pub mod timeout;
pub mod trace;

pub use limit::{ConcurrencyLimitSpec, RateLimitSpec};
pub use metadata::{InjectMetadata, InjectMetadataLayer};
pub use retry::RetrySpec;
pub use session::{SessionSpec, SetSession, SetSessionLayer};
pub use stack::{LayerSpec, Stack};
pub use timeout::TimeoutSpec;
pub use trace::{Trace, TraceLayer, TraceableError};

use tower::ServiceBuilder;

use crate::Metadata;
use crate::provider::ProviderInfo;
use crate::sink::RecordSink;

/// Adds llmtrace's layers to [`ServiceBuilder`] by name.
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// Stamps `session_id`, `step_type` and `attempt_number`; see [`SetSessionLayer`].
    fn set_session(
        self,
        session_id: impl Into<String>,
    ) -> ServiceBuilder<tower::layer::util::Stack<SetSessionLayer, L>>;

    /// Adds metadata to every request; see [`InjectMetadataLayer`].
    fn inject_metadata(
        self,
        metadata: Metadata,
    ) -> ServiceBuilder<tower::layer::util::Stack<InjectMetadataLayer, L>>;

    /// Records every call into `sink`; see [`TraceLayer`].
    fn trace(
        self,
        provider: ProviderInfo,
        sink: impl RecordSink,
    ) -> ServiceBuilder<tower::layer::util::Stack<TraceLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn set_session(
        self,
        session_id: impl Into<String>,
    ) -> ServiceBuilder<tower::layer::util::Stack<SetSessionLayer, L>> {
        self.layer(SetSessionLayer::new(session_id))
    }

    fn inject_metadata(
        self,
        metadata: Metadata,
    ) -> ServiceBuilder<tower::layer::util::Stack<InjectMetadataLayer, L>> {
        self.layer(InjectMetadataLayer::new(metadata))
    }

    fn trace(
        self,
        provider: ProviderInfo,
        sink: impl RecordSink,
    ) -> ServiceBuilder<tower::layer::util::Stack<TraceLayer, L>> {
        self.layer(TraceLayer::new(provider, sink))
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}
