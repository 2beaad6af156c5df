//! The stack called as plain functions, for a [`Client`](super::Client) whose layers keep no
//! per-call state: layers that only tag the request (session, metadata), then at most the trace
//! layer, then the provider (the default stack, and a client with tracing off). Such a call
//! clones no boxed stack and boxes no future but the trace's (the provider's own future is
//! not boxed again), so it costs what the layers' own work costs.

use std::any::Any;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use tower::{Service, ServiceExt};

use crate::layer::metadata::inject;
use crate::layer::session::stamp;
use crate::layer::{LayerSpec, SessionSpec, TraceLayer};
use crate::provider::ProviderFuture;
use crate::{GenerateRequest, Generation, Metadata, ProviderError};

/// A provider that can be called through `&self`.
pub(crate) trait DirectCall: Send + Sync {
    /// Calls a clone of the provider with `request`.
    fn call(&self, request: GenerateRequest) -> ProviderFuture;
}

/// A provider (any service a [`ClientBuilder`](super::ClientBuilder) accepts) as a
/// [`DirectCall`].
pub(crate) struct Direct<S>(pub(crate) S);

impl<S> DirectCall for Direct<S>
where
    S: Service<GenerateRequest, Response = Generation, Error = ProviderError>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    fn call(&self, request: GenerateRequest) -> ProviderFuture {
        let mut service = self.0.clone();
        // Providers are ready at once; asking without a waker spares `oneshot`'s state
        // machine and its box. A service that is not ready yet (a limit, a buffer) is
        // driven by `oneshot`, which polls it again with the caller's waker.
        match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => boxed(service.call(request)),
            Poll::Ready(Err(error)) => Box::pin(std::future::ready(Err(error))),
            Poll::Pending => Box::pin(service.oneshot(request)),
        }
    }
}

/// `future` as a [`ProviderFuture`], without boxing it again when it already is one (as every
/// built-in provider's is).
fn boxed<F>(future: F) -> ProviderFuture
where
    F: Future<Output = Result<Generation, ProviderError>> + Send + 'static,
{
    let mut future = Some(future);
    match (&mut future as &mut dyn Any).downcast_mut::<Option<ProviderFuture>>() {
        Some(already) => already.take().expect("the future was just put there"),
        None => Box::pin(future.expect("not taken: it is not a ProviderFuture")),
    }
}

/// A [`Client`](super::Client)'s stack when every layer is one [`DirectStack::new`] accepts.
pub(crate) struct DirectStack {
    /// What the session and metadata layers add, outermost first.
    tags: Vec<Tag>,
    trace: Option<TraceLayer>,
    provider: Box<dyn DirectCall>,
}

enum Tag {
    Metadata(Metadata),
    Session(String),
}

impl DirectStack {
    /// `layers` (outermost first, session ids resolved) over `provider`, or `None` when one
    /// of them keeps state across calls (a timeout, retries, a limit) or tags the request
    /// inside the trace layer.
    pub(crate) fn new(
        layers: &[LayerSpec],
        trace: Option<&TraceLayer>,
        provider: Box<dyn DirectCall>,
    ) -> Option<Self> {
        let mut tags = Vec::new();
        let mut traced = None;
        for layer in layers {
            match layer {
                LayerSpec::Metadata(metadata) if traced.is_none() => {
                    tags.push(Tag::Metadata(metadata.clone()));
                }
                LayerSpec::Session(SessionSpec::Id(id)) if traced.is_none() => {
                    tags.push(Tag::Session(id.clone()));
                }
                LayerSpec::Trace if traced.is_none() => traced = Some(trace?.clone()),
                _ => return None,
            }
        }
        Some(Self {
            tags,
            trace: traced,
            provider,
        })
    }

    /// Whether a call would start now; false while the trace's sink applies back-pressure (a
    /// full exporter queue in `wait` mode): the caller then waits for room on the boxed stack,
    /// which registers its waker.
    pub(crate) fn ready(&self) -> bool {
        let mut now = Context::from_waker(Waker::noop());
        (self.trace.as_ref()).is_none_or(|trace| trace.poll_room(&mut now).is_ready())
    }

    /// Calls the stack; see [`ready`](Self::ready).
    pub(crate) fn call(&self, mut request: GenerateRequest) -> ProviderFuture {
        for tag in &self.tags {
            match tag {
                Tag::Metadata(metadata) => inject(metadata, &mut request),
                Tag::Session(id) => stamp(&mut request.metadata, id),
            }
        }
        match &self.trace {
            None => self.provider.call(request),
            Some(trace) => Box::pin(trace.start(request, |request| self.provider.call(request))),
        }
    }
}
