//! [`Client`]: a traced provider stack with its trace store, ready to use.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};
use uuid::Uuid;

use crate::cost::PriceTable;
use crate::exporter::{ExporterSink, ExporterStats};
use crate::layer::{LayerSpec, Stack, TraceLayer};
use crate::provider::{EchoProvider, Provider, ProviderInfo};
use crate::redact::RedactPolicy;
use crate::session::{Session, SessionRegistry};
use crate::sink::{Clock, EvictionPolicy, RecordSink, SystemClock, TraceQuery, TraceStore};
use crate::{
    GenerateRequest, GenerateResponse, Generation, Metadata, ProviderError, ResponseStream,
    TraceRecord,
};

mod direct;

use direct::{Direct, DirectCall, DirectStack};

/// The type-erased stack inside a [`Client`] (by default `InjectMetadata -> Trace -> provider`;
/// see [`ClientBuilder::layers`]).
pub type ClientService = BoxCloneSyncService<GenerateRequest, Generation, ProviderError>;

/// A traced LLM client: the provider wrapped in the metadata and trace layers, plus the ring
/// buffer the traces land in.
///
/// `Client` is cheap to clone (clones share everything) and `Send + Sync`: use it from as many
/// tasks as you like.
///
/// ```
/// use llmtrace::{Client, GenerateRequest, TraceQuery};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), llmtrace::ProviderError> {
/// let client = Client::builder().max_traces(50).metadata("environment", "dev").build();
///
/// let response = client.generate(GenerateRequest::new("Hello").temperature(0.0)).await?;
/// let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
/// assert_eq!(trace.prompt, "Hello");
/// assert_eq!(trace.metadata["environment"], "dev");
/// assert_eq!(client.get_traces(TraceQuery::last(10)).len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    service: ClientService,
    /// The stack as plain functions when its layers allow (see [`DirectStack`]): calls skip
    /// `service`'s clone and boxes.
    direct: Option<DirectStack>,
    provider: ProviderInfo,
    stack: Stack,
    store: TraceStore,
    sessions: SessionRegistry,
    exporters: ExporterSink,
    tracing: bool,
}

impl Client {
    /// The client a configuration file describes: defaults, then the file, then `LLMTRACE_*`
    /// environment variables (see [`config`](crate::config)).
    ///
    /// # Errors
    /// Every problem in the file, the environment, or building its components, at once.
    pub fn from_config(
        path: impl AsRef<std::path::Path>,
    ) -> Result<Self, crate::config::ConfigError> {
        let path = path.as_ref();
        crate::config::Config::load(Some(path))?
            .build()
            .map_err(|mut error| {
                error.file = Some(path.to_owned());
                error
            })
    }

    /// A builder with the defaults: echo provider, tracing on, `max_traces` 100, no byte or
    /// age bound.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Generates a complete answer (a streaming provider's answer is read to its end).
    ///
    /// The response metadata carries `trace_id` when tracing is on.
    ///
    /// # Errors
    /// The provider's error, unchanged (it is traced too).
    pub async fn generate(
        &self,
        request: impl Into<GenerateRequest>,
    ) -> Result<GenerateResponse, ProviderError> {
        let mut request = request.into();
        request.stream = false;
        self.call(request).await?.into_response().await
    }

    /// Generates a streamed answer. One trace is recorded when the stream ends, breaks, or is
    /// dropped; its id is in [`ResponseStream::trace_id`].
    ///
    /// # Errors
    /// The provider's error when the call fails before streaming starts.
    pub async fn stream(
        &self,
        request: impl Into<GenerateRequest>,
    ) -> Result<ResponseStream, ProviderError> {
        let mut request = request.into();
        request.stream = true;
        Ok(self.call(request).await?.into_stream())
    }

    /// Sends `request` through the stack as it is and returns what the provider produced.
    ///
    /// # Errors
    /// The provider's error, unchanged.
    pub async fn call(&self, request: GenerateRequest) -> Result<Generation, ProviderError> {
        match &self.inner.direct {
            Some(direct) if direct.ready() => direct.call(request).await,
            _ => self.service().oneshot(request).await,
        }
    }

    /// A handle to the stack, to wrap in more middleware or call as a `tower::Service`.
    pub fn service(&self) -> ClientService {
        self.inner.service.clone()
    }

    /// The trace with this id, while it is in the ring buffer. An unknown id is `None`.
    pub fn get_trace(&self, trace_id: &Uuid) -> Option<Arc<TraceRecord>> {
        self.inner.store.get(trace_id)
    }

    /// The buffered traces matching `query`, oldest first.
    pub fn get_traces(&self, query: TraceQuery) -> Vec<Arc<TraceRecord>> {
        self.inner.store.query(&query)
    }

    /// The ring buffer of this client's traces.
    pub fn store(&self) -> &TraceStore {
        &self.inner.store
    }

    /// The provider behind this client.
    pub fn provider(&self) -> &ProviderInfo {
        &self.inner.provider
    }

    /// The request path, outermost first, as it was built.
    pub fn stack(&self) -> &Stack {
        &self.inner.stack
    }

    /// Whether calls are traced.
    pub fn tracing_enabled(&self) -> bool {
        self.inner.tracing
    }

    /// Each exporter's name and counters (offered, exported, dropped, failed, retries, and
    /// `sampled_out`: records its sample policy left out, never offered); after
    /// [`shutdown`](Self::shutdown), `exported + dropped + failed == offered`.
    pub fn exporter_stats(&self) -> Vec<(String, ExporterStats)> {
        self.inner.exporters.stats()
    }

    /// Delivers every trace queued for export so far.
    pub async fn flush(&self) {
        self.inner.exporters.flush().await;
    }

    /// Delivers every queued trace and stops the exporters, waiting for each at most its
    /// [`shutdown_timeout`](crate::exporter::ExporterOptions::shutdown_timeout) (what is left
    /// then is counted as dropped). Safe to call more than once; generations still work
    /// afterwards, but their traces are no longer exported (they are counted as dropped).
    ///
    /// Dropping the last `Client` handle starts the same shutdown without waiting for it.
    pub async fn shutdown(&self) {
        self.inner.exporters.shutdown().await;
    }

    /// Starts a conversation with a new session id.
    pub fn session(&self) -> Session {
        self.session_with_id(Uuid::new_v4().to_string())
    }

    /// Starts (or joins) the conversation `session_id`. Live sessions with the same id share
    /// one trace list.
    pub fn session_with_id(&self, session_id: impl Into<String>) -> Session {
        Session::new(self.clone(), session_id.into(), &self.inner.sessions)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.inner.provider)
            .field("tracing", &self.inner.tracing)
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// The fewest traces a session's own list keeps by default (see
/// [`ClientBuilder::session_eviction`]).
pub const SESSION_MAX_TRACES: usize = 10_000;

/// Configures and builds a [`Client`].
pub struct ClientBuilder {
    provider: Option<(ProviderInfo, ClientService, Box<dyn DirectCall>)>,
    layers: Option<Vec<LayerSpec>>,
    eviction: EvictionPolicy,
    session_eviction: Option<EvictionPolicy>,
    clock: Arc<dyn Clock>,
    metadata: Metadata,
    tracing: bool,
    sinks: Vec<Box<dyn RecordSink>>,
    exporters: Option<ExporterSink>,
    prices: Option<Arc<PriceTable>>,
    redact: Option<Arc<RedactPolicy>>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            provider: None,
            layers: None,
            eviction: EvictionPolicy::default(),
            session_eviction: None,
            clock: Arc::new(SystemClock),
            metadata: Metadata::new(),
            tracing: true,
            sinks: Vec::new(),
            exporters: None,
            prices: None,
            redact: None,
        }
    }
}

impl ClientBuilder {
    /// Sets the provider. Defaults to [`EchoProvider`].
    pub fn provider(self, provider: impl Provider) -> Self {
        let info = provider.info();
        self.service(info, provider)
    }

    /// Sets the provider as any service, named by `info` in traces: a `service_fn`, or a
    /// provider already wrapped in tower middleware (timeouts, retries, limits).
    pub fn service<S>(mut self, info: ProviderInfo, service: S) -> Self
    where
        S: Service<GenerateRequest, Response = Generation, Error = ProviderError>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let direct = Box::new(Direct(service.clone()));
        self.provider = Some((info, BoxCloneSyncService::new(service), direct));
        self
    }

    /// Adds a layer to the request path, inside those added before (the first added is the
    /// outermost), replacing the default `metadata -> trace` stack.
    ///
    /// The [`metadata`](Self::metadata) entries, if any, stay the outermost layer. When
    /// tracing is on and no [`LayerSpec::Trace`] is listed, the trace layer goes right inside
    /// the leading session and metadata layers, outside the others; when tracing is off,
    /// `Trace` entries add nothing. See [`Stack::effective`] and [`Client::stack`].
    pub fn layer(mut self, layer: LayerSpec) -> Self {
        self.layers.get_or_insert_with(Vec::new).push(layer);
        self
    }

    /// Adds these layers, outermost first; see [`layer`](Self::layer).
    pub fn layers(mut self, layers: impl IntoIterator<Item = LayerSpec>) -> Self {
        self.layers.get_or_insert_with(Vec::new).extend(layers);
        self
    }

    /// How many traces the ring buffer keeps. Defaults to 100; 0 keeps none (responses still
    /// carry trace ids, and sinks still see every record).
    pub fn max_traces(mut self, max_traces: usize) -> Self {
        self.eviction = self.eviction.max_traces(max_traces);
        self
    }

    /// Bounds the ring buffer by its records' [estimated size](crate::sink::estimated_size)
    /// too, so that a burst of huge prompts cannot exhaust memory. Defaults to no byte bound.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.eviction = self.eviction.max_bytes(max_bytes);
        self
    }

    /// Drops buffered traces older than `max_age` (by their timestamp) when the buffer is next
    /// appended to or read. Defaults to no age bound.
    pub fn max_age(mut self, max_age: std::time::Duration) -> Self {
        self.eviction = self.eviction.max_age(max_age);
        self
    }

    /// Sets the ring buffer's whole eviction policy at once (replacing `max_traces`,
    /// `max_bytes` and `max_age` set before).
    pub fn eviction(mut self, policy: EvictionPolicy) -> Self {
        self.eviction = policy;
        self
    }

    /// Bounds each [`Session`]'s own trace list by `policy`.
    ///
    /// By default a session's list takes the ring buffer's `max_bytes` and `max_age`, and keeps
    /// at least [`SESSION_MAX_TRACES`] traces (more when `max_traces` is larger): a session
    /// keeps its traces after the ring buffer evicted them, but no longer without bound.
    pub fn session_eviction(mut self, policy: EvictionPolicy) -> Self {
        self.session_eviction = Some(policy);
        self
    }

    /// The clock the age bounds are measured on. Defaults to [`SystemClock`]; tests age traces
    /// with a [`ManualClock`](crate::sink::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Adds metadata recorded in every trace (a request's own value for the key wins).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Turns tracing on or off. Defaults to on. Off means the trace layer is not in the stack
    /// at all: no cost, no records, no `trace_id` in responses.
    pub fn tracing(mut self, enabled: bool) -> Self {
        self.tracing = enabled;
        self
    }

    /// Adds a sink that observes every record besides the ring buffer.
    pub fn sink(mut self, sink: impl RecordSink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Prices every record (`cost_usd`) with `prices`. Defaults to the shipped table,
    /// [`PriceTable::builtin`]; an empty [`PriceTable::new`] prices nothing.
    pub fn prices(mut self, prices: impl Into<Arc<PriceTable>>) -> Self {
        self.prices = Some(prices.into());
        self
    }

    /// Sends every record to these exporters (off the request path); see
    /// [`Client::shutdown`].
    pub fn exporters(mut self, exporters: ExporterSink) -> Self {
        self.exporters = Some(exporters);
        self
    }

    /// Masks every record with `policy` before the ring buffer, sessions, exporters or any
    /// added sink sees it (see [`crate::redact`]). Defaults to no redaction, at no cost.
    pub fn redact(mut self, policy: impl Into<Arc<RedactPolicy>>) -> Self {
        self.redact = Some(policy.into());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Client {
        let mut this = match self.provider {
            Some(_) => self,
            None => self.provider(EchoProvider::new()),
        };
        let (provider, service, direct) = this.provider.take().expect("the provider was just set");
        let store = TraceStore::with_clock(this.eviction, this.clock.clone());
        let session_eviction = this.session_eviction.unwrap_or_else(|| {
            let max_traces = this.eviction.max_traces.max(SESSION_MAX_TRACES);
            this.eviction.max_traces(max_traces)
        });
        let sessions = SessionRegistry::new(session_eviction, this.clock);
        let exporters = match this.exporters {
            Some(exporters) => exporters,
            None => ExporterSink::builder()
                .build()
                .expect("no exporter, no thread to start"),
        };
        let trace = this.tracing.then(|| {
            let sinks = (
                store.clone(),
                (sessions.clone(), exporters.clone()),
                this.sinks,
            );
            let prices = this.prices.unwrap_or_else(PriceTable::builtin);
            let layer = TraceLayer::with_prices(provider.clone(), sinks, prices);
            match this.redact {
                Some(policy) => layer.redact(policy),
                None => layer,
            }
        });
        let name = format!("{}({})", provider.name, provider.model);
        let stack = Stack::effective(this.layers, &this.metadata, this.tracing, name);
        // Session ids resolved once, for both forms of the stack.
        let built = stack.resolved();
        Client {
            inner: Arc::new(Inner {
                service: built.build(service, trace.as_ref()),
                direct: DirectStack::new(&built.layers, trace.as_ref(), direct),
                provider,
                stack,
                store,
                sessions,
                exporters,
                tracing: this.tracing,
            }),
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("provider", &self.provider.as_ref().map(|(info, ..)| info))
            .field("layers", &self.layers)
            .field("eviction", &self.eviction)
            .field("session_eviction", &self.session_eviction)
            .field("metadata", &self.metadata)
            .field("tracing", &self.tracing)
            .field("sinks", &self.sinks.len())
            .field("exporters", &self.exporters)
            .field("custom_prices", &self.prices.is_some())
            .field("redact", &self.redact.is_some())
            .finish()
    }
}
