//! Add fixed metadata (environment, service name, ...) to every request.
//!
//! [`InjectMetadata`] adds each configured entry to the request metadata unless the request
//! already has that key: a value set on the request wins over the configured default.
//!
//! ```
//! use llmtrace::layer::InjectMetadataLayer;
//! use llmtrace::{GenerateRequest, Metadata};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut defaults = Metadata::new();
//! defaults.insert("environment".into(), "dev".into());
//! defaults.insert("team".into(), "search".into());
//!
//! let echo_metadata = service_fn(|request: GenerateRequest| async move {
//!     Ok::<_, std::convert::Infallible>(request.metadata)
//! });
//! let service = InjectMetadataLayer::new(defaults).layer(echo_metadata);
//!
//! let metadata = service.oneshot(GenerateRequest::new("hi").metadata("team", "ads")).await.unwrap();
//! assert_eq!(metadata["environment"], "dev");
//! assert_eq!(metadata["team"], "ads");
//! # }
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::{GenerateRequest, Metadata};

/// Layer that applies [`InjectMetadata`].
#[derive(Debug, Clone)]
pub struct InjectMetadataLayer {
    metadata: Arc<Metadata>,
}

impl InjectMetadataLayer {
    /// Adds `metadata` to every request that does not already set those keys.
    pub fn new(metadata: Metadata) -> Self {
        Self {
            metadata: Arc::new(metadata),
        }
    }
}

impl<S> Layer<S> for InjectMetadataLayer {
    type Service = InjectMetadata<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InjectMetadata {
            inner,
            metadata: self.metadata.clone(),
        }
    }
}

/// Middleware that adds fixed metadata to requests; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct InjectMetadata<S> {
    inner: S,
    metadata: Arc<Metadata>,
}

impl<S> InjectMetadata<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<GenerateRequest> for InjectMetadata<S>
where
    S: Service<GenerateRequest>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: GenerateRequest) -> Self::Future {
        inject(&self.metadata, &mut request);
        self.inner.call(request)
    }
}

/// Adds the entries of `metadata` that `request` does not set itself.
pub(crate) fn inject(metadata: &Metadata, request: &mut GenerateRequest) {
    for (key, value) in metadata.iter() {
        if !request.metadata.contains_key(key) {
            request.metadata.insert(key.clone(), value.clone());
        }
    }
}
