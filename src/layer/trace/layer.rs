use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Layer;

use super::Trace;
use super::future::ResponseFuture;
use super::recorder::Shared;
use crate::GenerateRequest;
use crate::cost::PriceTable;
use crate::provider::ProviderInfo;
use crate::redact::RedactPolicy;
use crate::sink::RecordSink;

/// Layer that applies [`Trace`]: records every call of the wrapped provider into a sink.
#[derive(Clone)]
pub struct TraceLayer {
    shared: Arc<Shared>,
}

impl TraceLayer {
    /// Records calls to the provider described by `provider` into `sink`, priced with the
    /// shipped [`PriceTable::builtin`].
    pub fn new(provider: ProviderInfo, sink: impl RecordSink) -> Self {
        Self::with_prices(provider, sink, PriceTable::builtin())
    }

    /// Like [`new`](Self::new), pricing records (`cost_usd`) with `prices`.
    pub fn with_prices(
        provider: ProviderInfo,
        sink: impl RecordSink,
        prices: Arc<PriceTable>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                provider,
                sink: Arc::new(sink),
                prices,
                redact: None,
            }),
        }
    }

    /// Masks every record with `policy` before the sink sees it (see [`crate::redact`]).
    /// The sink given to [`new`](Self::new) receives only masked records, so whatever it fans
    /// out to (store, sessions, exporters, events) cannot see the unmasked one.
    pub fn redact(self, policy: impl Into<Arc<RedactPolicy>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                provider: self.shared.provider.clone(),
                sink: self.shared.sink.clone(),
                prices: self.shared.prices.clone(),
                redact: Some(policy.into()),
            }),
        }
    }

    /// The provider named in the records.
    pub fn provider(&self) -> &ProviderInfo {
        &self.shared.provider
    }

    /// Whether the sink takes a record now: [`Trace::poll_ready`](tower::Service::poll_ready)'s
    /// back-pressure, for callers that hold the layer but no service.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.sink.poll_ready(cx)
    }

    /// [`Trace::call`](tower::Service::call) of a service that `call` stands for.
    pub(crate) fn start<F>(
        &self,
        request: GenerateRequest,
        call: impl FnOnce(GenerateRequest) -> F,
    ) -> ResponseFuture<F> {
        super::service::start(&self.shared, request, call)
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Trace::from_shared(inner, self.shared.clone())
    }
}

impl fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceLayer")
            .field("provider", &self.shared.provider)
            .finish_non_exhaustive()
    }
}
