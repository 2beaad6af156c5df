//! Tag requests with a session: `session_id`, `step_type` and `attempt_number`.
//!
//! [`SetSession`] writes its session id into the request metadata (replacing a caller's
//! `session_id`) and defaults `step_type` to `"chat"` and `attempt_number` to `1` when the
//! caller did not set them. Every other metadata key is left alone.
//!
//! ```
//! use llmtrace::layer::SetSessionLayer;
//! use llmtrace::GenerateRequest;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let echo_metadata = service_fn(|request: GenerateRequest| async move {
//!     Ok::<_, std::convert::Infallible>(request.metadata)
//! });
//! let service = SetSessionLayer::new("s-1").layer(echo_metadata);
//!
//! let request = GenerateRequest::new("plot ages").step_type("code_generation").metadata("user", "ann");
//! let metadata = service.oneshot(request).await.unwrap();
//! assert_eq!(metadata["session_id"], "s-1");
//! assert_eq!(metadata["step_type"], "code_generation");
//! assert_eq!(metadata["attempt_number"], 1);
//! assert_eq!(metadata["user"], "ann");
//! # }
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::Value;
use tower::{Layer, Service};

use crate::{GenerateRequest, Metadata};

/// Layer that applies [`SetSession`].
#[derive(Debug, Clone)]
pub struct SetSessionLayer {
    session_id: Arc<str>,
}

impl SetSessionLayer {
    /// Tags every request with `session_id`.
    pub fn new(session_id: impl Into<String>) -> Self {
        Self {
            session_id: session_id.into().into(),
        }
    }
}

impl<S> Layer<S> for SetSessionLayer {
    type Service = SetSession<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetSession {
            inner,
            session_id: self.session_id.clone(),
        }
    }
}

/// Middleware that tags requests with a session; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct SetSession<S> {
    inner: S,
    session_id: Arc<str>,
}

impl<S> SetSession<S> {
    /// Wraps `inner`, tagging its requests with `session_id`.
    pub fn new(inner: S, session_id: impl Into<String>) -> Self {
        SetSessionLayer::new(session_id).layer(inner)
    }

    /// The session id this service stamps.
    pub fn session_id(&self) -> &str {
        &self.session_id
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

impl<S> Service<GenerateRequest> for SetSession<S>
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
        stamp(&mut request.metadata, &self.session_id);
        self.inner.call(request)
    }
}

/// Tags `metadata` with the session: its id, and step 1 of type `chat` unless set.
pub(crate) fn stamp(metadata: &mut Metadata, session_id: &str) {
    metadata.insert("session_id".into(), Value::from(session_id));
    if !metadata.contains_key("step_type") {
        metadata.insert("step_type".into(), Value::from("chat"));
    }
    if !metadata.contains_key("attempt_number") {
        metadata.insert("attempt_number".into(), Value::from(1));
    }
}

/// `session` layer options: where the session id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionSpec {
    /// This id.
    Id(String),
    /// The value of this environment variable, read when the stack is built (a
    /// [`Config`](crate::config::Config) with the variable unset is an error; a
    /// [`ClientBuilder`](crate::ClientBuilder) then uses a new random id and logs a warning).
    Env(String),
}

impl SessionSpec {
    /// The session id, or the variable that should hold it.
    pub(crate) fn resolve(&self) -> Result<String, &str> {
        match self {
            SessionSpec::Id(id) => Ok(id.clone()),
            SessionSpec::Env(var) => std::env::var(var).map_err(|_| var.as_str()),
        }
    }

    /// The session id; a new random one, with a warning, when the variable is not set.
    pub(crate) fn resolve_or_new(&self) -> String {
        self.resolve().unwrap_or_else(|var| {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::warn!(target: "llmtrace", variable = var, session_id = %id,
                "session variable is not set; using a new session id");
            id
        })
    }
}
