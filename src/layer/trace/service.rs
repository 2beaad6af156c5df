use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tower::Service;

use super::future::ResponseFuture;
use super::recorder::{Recorder, Shared};
use super::{TraceLayer, TraceableError};
use crate::layer::retry::attempts;
use crate::provider::ProviderInfo;
use crate::sink::RecordSink;
use crate::{GenerateRequest, Generation};

/// Middleware that records every call as a trace; see the [module docs](super).
#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Trace<S> {
    /// Wraps `inner`, recording its calls into `sink`.
    pub fn new(inner: S, provider: ProviderInfo, sink: impl RecordSink) -> Self {
        tower::Layer::layer(&TraceLayer::new(provider, sink), inner)
    }

    pub(super) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> Service<GenerateRequest> for Trace<S>
where
    S: Service<GenerateRequest, Response = Generation>,
    S::Error: TraceableError,
{
    type Response = Generation;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    /// Pending while a sink applies back-pressure (an exporter queue in
    /// [`Overflow::Wait`](crate::exporter::Overflow::Wait) mode is full), then the inner
    /// service's readiness.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.shared.sink.poll_ready(cx));
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        start(&self.shared, request, |request| self.inner.call(request))
    }
}

/// Starts recording `request` and makes the call `call` makes of it: the whole of
/// [`Trace::call`], shared with callers that hold the layer but no service.
pub(super) fn start<F>(
    shared: &Arc<Shared>,
    mut request: GenerateRequest,
    call: impl FnOnce(GenerateRequest) -> F,
) -> ResponseFuture<F> {
    let recorder = Recorder::start(shared.clone(), &mut request);
    let mut attempts = None;
    let inner = attempts::scope(&mut attempts, || call(request));
    ResponseFuture::new(inner, recorder, attempts)
}

impl<S: fmt::Debug> fmt::Debug for Trace<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("inner", &self.inner)
            .field("provider", &self.shared.provider)
            .finish_non_exhaustive()
    }
}
