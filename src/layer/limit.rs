//! Limits on the calls that reach the provider: tower's
//! [`ConcurrencyLimit`](tower::limit::ConcurrencyLimit) and [`RateLimit`](tower::limit::RateLimit).
//!
//! Both hold a call back (in `poll_ready`) rather than fail it. A concurrency limit is shared
//! by every clone of the stack (one semaphore). A rate limit keeps its window in one service,
//! which tower does not share between clones; it is therefore run behind a
//! [`tower::buffer::Buffer`] whose worker task is spawned on the Tokio runtime of the
//! first call (and lives as long as that runtime).

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tower::buffer::{Buffer, future::ResponseFuture};
use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer};
use tower::{Layer, Service};

use super::stack::{ClientService, provider_error};
use crate::{ErrorKind, GenerateRequest, Generation, ProviderError};

/// `concurrency_limit` layer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyLimitSpec {
    /// Calls in flight at most; the next one waits for one of them to finish.
    pub max_concurrency: usize,
}

impl ConcurrencyLimitSpec {
    /// At most `max_concurrency` calls in flight.
    pub fn new(max_concurrency: usize) -> Self {
        Self { max_concurrency }
    }

    pub(crate) fn wrap(&self, inner: ClientService) -> ClientService {
        ClientService::new(ConcurrencyLimitLayer::new(self.max_concurrency).layer(inner))
    }
}

/// `rate_limit` layer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSpec {
    /// Calls allowed per window.
    pub requests: u64,
    /// The window.
    pub per: Duration,
}

impl RateLimitSpec {
    /// At most `requests` calls per `per`.
    pub fn new(requests: u64, per: Duration) -> Self {
        Self { requests, per }
    }

    pub(crate) fn wrap(&self, inner: ClientService) -> ClientService {
        /// Calls that may wait for the rate limit before callers wait to queue.
        const QUEUE: usize = 1024;
        let limited = RateLimitLayer::new(self.requests, self.per).layer(inner);
        let (buffer, worker) = Buffer::pair(limited, QUEUE);
        ClientService::new(SharedRateLimit {
            buffer,
            worker: Arc::new(Mutex::new(Some(Box::pin(worker)))),
        })
    }
}

type Worker = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
type BufferFuture = <ClientService as Service<GenerateRequest>>::Future;

/// The buffered rate limit, which starts its worker on the first call.
#[derive(Clone)]
struct SharedRateLimit {
    buffer: Buffer<GenerateRequest, BufferFuture>,
    worker: Arc<Mutex<Option<Worker>>>,
}

impl Service<GenerateRequest> for SharedRateLimit {
    type Response = Generation;
    type Error = ProviderError;
    type Future = futures_util::future::MapErr<
        ResponseFuture<BufferFuture>,
        fn(crate::BoxError) -> ProviderError,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Taken once; the lock is never held across an await.
        let worker = self.worker.lock().map(|mut w| w.take()).unwrap_or(None);
        if let Some(worker) = worker {
            tokio::spawn(worker);
        }
        self.buffer.poll_ready(cx).map_err(closed)
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        use futures_util::TryFutureExt;
        self.buffer.call(request).map_err(closed as fn(_) -> _)
    }
}

/// The buffer's own errors: its worker is gone (the runtime it ran on has shut down).
fn closed(error: crate::BoxError) -> ProviderError {
    provider_error(error, |error| {
        ProviderError::new(
            ErrorKind::Other,
            format!("the rate limit's worker stopped: {error}"),
        )
    })
}
