//! The provider called as it is, for a [`Client`](super::Client) whose stack has no layer
//! (tracing off, no layers, no metadata): no cloned boxed service and no second boxed future
//! per call, so such a client costs what the bare provider costs.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tower::{Service, ServiceExt};

use crate::{GenerateRequest, Generation, ProviderError};

/// What a provider call returns once type-erased: the future every built-in provider
/// already returns.
pub(crate) type CallFuture =
    Pin<Box<dyn Future<Output = Result<Generation, ProviderError>> + Send>>;

/// A provider that can be called through `&self`.
pub(crate) trait DirectCall: Send + Sync {
    /// Calls a clone of the provider with `request`.
    fn call(&self, request: GenerateRequest) -> CallFuture;
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
    fn call(&self, request: GenerateRequest) -> CallFuture {
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

/// `future` as a [`CallFuture`], without boxing it again when it already is one (as every
/// built-in provider's is).
fn boxed<F>(future: F) -> CallFuture
where
    F: Future<Output = Result<Generation, ProviderError>> + Send + 'static,
{
    let mut future = Some(future);
    match (&mut future as &mut dyn Any).downcast_mut::<Option<CallFuture>>() {
        Some(already) => already.take().expect("the future was just put there"),
        None => Box::pin(future.expect("not taken: it is not a CallFuture")),
    }
}
