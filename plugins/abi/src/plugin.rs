//! The safe side: what plugin authors implement.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{GenerateRequest, GenerateResponse, TraceRecord};

/// An exporter: receives batches of trace records.
///
/// The host calls one instance from one thread at a time (never concurrently), on a blocking
/// thread off its async executor, so methods may block on I/O. Export it with
/// [`export_exporter!`](crate::export_exporter).
pub trait ExporterPlugin: Sized + Send + 'static {
    /// Builds an instance from the component's `options` table (a JSON object; `null` when
    /// there is none).
    ///
    /// # Errors
    /// When the options are invalid or a resource cannot be opened; the host refuses to load
    /// the plugin and reports the error's message.
    fn create(options: Value) -> Result<Self, PluginError>;

    /// Delivers one batch, oldest record first.
    ///
    /// # Errors
    /// A [retryable](PluginError::retryable) error makes the host retry the batch later; any
    /// other counts it as failed.
    fn export(&mut self, records: Vec<TraceRecord>) -> Result<(), PluginError>;

    /// Makes everything exported so far durable. Called on flush and shutdown.
    ///
    /// # Errors
    /// When buffered data cannot be written.
    fn flush(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// A provider: answers generation requests, blocking until the answer is complete.
///
/// Unless exported with `thread_safe` (which requires `Self: Sync`), the host never calls one
/// instance from two threads at once, so interior mutability through `Cell` or `RefCell` is
/// fine. Export it with [`export_provider!`](crate::export_provider).
pub trait ProviderPlugin: Sized + Send + 'static {
    /// Builds an instance from the component's `options` table (a JSON object; `null` when
    /// there is none).
    ///
    /// # Errors
    /// When the options are invalid; the host refuses to load the plugin and reports the
    /// error's message.
    fn create(options: Value) -> Result<Self, PluginError>;

    /// Answers one request.
    ///
    /// # Errors
    /// The failure, classified by its [`kind`](PluginError::kind): the host records it in the
    /// trace and returns it to the caller.
    fn generate(&self, request: GenerateRequest) -> Result<GenerateResponse, PluginError>;
}

/// The error kinds the host understands; any other string is accepted and treated as a
/// plugin failure.
pub mod error_kind {
    /// The upstream asked to slow down. Retryable.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The call took too long. Retryable.
    pub const TIMEOUT: &str = "timeout";
    /// The upstream cannot be reached or is overloaded. Retryable.
    pub const UNAVAILABLE: &str = "unavailable";
    /// The request (or the options) cannot be served as they are.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The credentials were refused.
    pub const AUTHENTICATION: &str = "authentication";
    /// Anything else going wrong inside the plugin.
    pub const INTERNAL: &str = "internal";
}

/// A failure reported by a plugin, as it travels to the host:
/// `{"kind": "...", "message": "...", "retryable": bool}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// Class of failure, one of [`error_kind`] (others are accepted).
    pub kind: String,
    /// What happened, lowercase, without trailing period.
    pub message: String,
    /// Whether trying again may help.
    #[serde(default)]
    pub retryable: bool,
}

impl PluginError {
    /// An error of `kind`, retryable when the kind usually is (rate limits, timeouts,
    /// unavailability).
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        let kind = kind.into();
        let retryable = matches!(
            kind.as_str(),
            error_kind::RATE_LIMITED | error_kind::TIMEOUT | error_kind::UNAVAILABLE
        );
        PluginError {
            kind,
            message: message.into(),
            retryable,
        }
    }

    /// An [`INTERNAL`](error_kind::INTERNAL) error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(error_kind::INTERNAL, message)
    }

    /// An [`INVALID_REQUEST`](error_kind::INVALID_REQUEST) error, also for invalid options.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(error_kind::INVALID_REQUEST, message)
    }

    /// An [`UNAVAILABLE`](error_kind::UNAVAILABLE) error (retryable).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(error_kind::UNAVAILABLE, message)
    }

    /// A [`TIMEOUT`](error_kind::TIMEOUT) error (retryable).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(error_kind::TIMEOUT, message)
    }

    /// A [`RATE_LIMITED`](error_kind::RATE_LIMITED) error (retryable).
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(error_kind::RATE_LIMITED, message)
    }

    /// Overrides whether a retry may help.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for PluginError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_kinds_are_retryable_by_default() {
        assert!(PluginError::rate_limited("slow down").retryable);
        assert!(PluginError::unavailable("down").retryable);
        assert!(!PluginError::internal("bug").retryable);
        assert!(
            !PluginError::invalid_request("bad")
                .with_retryable(false)
                .retryable
        );
        assert!(
            PluginError::internal("flaky")
                .with_retryable(true)
                .retryable
        );
    }

    #[test]
    fn errors_travel_as_the_documented_json() {
        let json = serde_json::to_value(PluginError::timeout("took too long")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "timeout", "message": "took too long", "retryable": true})
        );
    }
}
