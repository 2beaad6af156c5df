//! A whole request path from a list of [`LayerSpec`]s, outermost first: what
//! [`ClientBuilder::layers`](crate::ClientBuilder::layers) and a configuration's `[[layers]]`
//! both build, so code and configuration give the same stack.

use std::fmt;
use std::time::Duration;

use tower::Layer;

pub use crate::client::ClientService;
use crate::{BoxError, Metadata, ProviderError};

use super::{
    ConcurrencyLimitSpec, InjectMetadataLayer, RateLimitSpec, RetrySpec, SessionSpec,
    SetSessionLayer, TimeoutSpec, TraceLayer,
};

/// One layer of the request path and its options.
///
/// ```
/// use std::time::Duration;
/// use llmtrace::layer::{LayerSpec, RetrySpec, TimeoutSpec};
/// use llmtrace::Client;
///
/// // Each attempt is its own trace (retry outside trace), each bounded by 30 s.
/// let client = Client::builder()
///     .layer(LayerSpec::Retry(RetrySpec::new(3)))
///     .layer(LayerSpec::Trace)
///     .layer(LayerSpec::Timeout(TimeoutSpec::new(Duration::from_secs(30))))
///     .build();
/// assert_eq!(
///     client.stack().to_string(),
///     "retry(3 attempts) -> trace -> timeout(30s) -> provider echo(echo-1)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LayerSpec {
    /// Tags every request with a session id ([`SetSessionLayer`]).
    Session(SessionSpec),
    /// Adds these metadata entries to every request ([`InjectMetadataLayer`]).
    Metadata(Metadata),
    /// Records every call that reaches it ([`TraceLayer`]): the timing boundary.
    Trace,
    /// A deadline per call ([`TimeoutSpec`]).
    Timeout(TimeoutSpec),
    /// Retries of retryable failures ([`RetrySpec`]).
    Retry(RetrySpec),
    /// At most this many calls in flight ([`ConcurrencyLimitSpec`]).
    ConcurrencyLimit(ConcurrencyLimitSpec),
    /// At most this many calls per window ([`RateLimitSpec`]).
    RateLimit(RateLimitSpec),
}

impl LayerSpec {
    /// The `type` of this layer in a configuration file.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerSpec::Session(_) => "session",
            LayerSpec::Metadata(_) => "metadata",
            LayerSpec::Trace => "trace",
            LayerSpec::Timeout(_) => "timeout",
            LayerSpec::Retry(_) => "retry",
            LayerSpec::ConcurrencyLimit(_) => "concurrency_limit",
            LayerSpec::RateLimit(_) => "rate_limit",
        }
    }

    /// Wraps `inner` in this layer; `trace` is the trace layer of the client (`None`: tracing
    /// is off, and a `Trace` spec adds nothing).
    fn wrap(&self, inner: ClientService, trace: Option<&TraceLayer>) -> ClientService {
        match self {
            LayerSpec::Session(spec) => {
                ClientService::new(SetSessionLayer::new(spec.resolve_or_new()).layer(inner))
            }
            LayerSpec::Metadata(metadata) => {
                ClientService::new(InjectMetadataLayer::new(metadata.clone()).layer(inner))
            }
            LayerSpec::Trace => match trace {
                Some(trace) => ClientService::new(trace.layer(inner)),
                None => inner,
            },
            LayerSpec::Timeout(spec) => spec.wrap(inner),
            LayerSpec::Retry(spec) => spec.wrap(inner),
            LayerSpec::ConcurrencyLimit(spec) => spec.wrap(inner),
            LayerSpec::RateLimit(spec) => spec.wrap(inner),
        }
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())?;
        match self {
            LayerSpec::Session(SessionSpec::Id(id)) => write!(f, "(id {id:?})"),
            LayerSpec::Session(SessionSpec::Env(var)) => write!(f, "(env {var})"),
            LayerSpec::Metadata(metadata) if metadata.len() == 1 => f.write_str("(1 key)"),
            LayerSpec::Metadata(metadata) => write!(f, "({} keys)", metadata.len()),
            LayerSpec::Trace => Ok(()),
            LayerSpec::Timeout(spec) => write!(f, "({})", human(spec.timeout)),
            LayerSpec::Retry(spec) => write!(f, "({} attempts)", spec.attempts),
            LayerSpec::ConcurrencyLimit(spec) => write!(f, "({})", spec.max_concurrency),
            LayerSpec::RateLimit(spec) => write!(f, "({} per {})", spec.requests, human(spec.per)),
        }
    }
}

/// The effective request path of a client, outermost first, ending at the provider; its
/// `Display` is the one-line form `llmtrace check-config` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// The layers, outermost first.
    pub layers: Vec<LayerSpec>,
    /// The provider, as `name(model)`.
    pub provider: String,
}

impl Stack {
    /// The stack a builder or configuration asks for, made explicit: without a list, today's
    /// default `metadata -> trace`; `metadata` (the builder's or `[metadata]`) is added
    /// outermost when it has entries; when tracing is on and the list has no `trace`, it is
    /// added right inside the leading `session` and `metadata` layers (outside timeouts,
    /// retries and limits); when tracing is off, `trace` entries are removed.
    pub fn effective(
        layers: Option<Vec<LayerSpec>>,
        metadata: &Metadata,
        tracing: bool,
        provider: String,
    ) -> Self {
        let mut layers = layers.unwrap_or_default();
        if !metadata.is_empty() {
            layers.insert(0, LayerSpec::Metadata(metadata.clone()));
        }
        if !tracing {
            layers.retain(|layer| *layer != LayerSpec::Trace);
        } else if !layers.contains(&LayerSpec::Trace) {
            // Inside the layers that only tag the request, outside everything else: the trace
            // then times the call as the caller sees it, and records a timeout as a timeout.
            let tagging =
                |layer: &LayerSpec| matches!(layer, LayerSpec::Session(_) | LayerSpec::Metadata(_));
            let at = layers.iter().position(|layer| !tagging(layer));
            layers.insert(at.unwrap_or(layers.len()), LayerSpec::Trace);
        }
        Self { layers, provider }
    }

    /// The same stack with each session id read from its variable now (a new random one, with
    /// a warning, when it is not set), so that every stack built from it tags the same session.
    pub(crate) fn resolved(&self) -> Self {
        let resolve = |layer: &LayerSpec| match layer {
            LayerSpec::Session(spec) => LayerSpec::Session(SessionSpec::Id(spec.resolve_or_new())),
            other => other.clone(),
        };
        Self {
            layers: self.layers.iter().map(resolve).collect(),
            provider: self.provider.clone(),
        }
    }

    /// Wraps `provider` in every layer, outermost first.
    pub(crate) fn build(
        &self,
        provider: ClientService,
        trace: Option<&TraceLayer>,
    ) -> ClientService {
        (self.layers.iter().rev()).fold(provider, |inner, layer| layer.wrap(inner, trace))
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for layer in &self.layers {
            write!(f, "{layer} -> ")?;
        }
        write!(f, "provider {}", self.provider)
    }
}

/// A tower middleware's error as a [`ProviderError`]: a boxed `ProviderError` (the provider's
/// own, passed through) is itself; anything else (tower's `Elapsed`, a closed buffer) is what
/// `other` makes of it.
pub(crate) fn provider_error(
    error: BoxError,
    other: impl FnOnce(BoxError) -> ProviderError,
) -> ProviderError {
    match error.downcast::<ProviderError>() {
        Ok(error) => *error,
        Err(error) => other(error),
    }
}

/// `30s`, `1500ms`: a duration as a person writes it.
pub(crate) fn human(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}
