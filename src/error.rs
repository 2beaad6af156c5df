//! Error types.
//!
//! Generation failures are [`ProviderError`]s: a [`ErrorKind`], a message, the HTTP status where
//! there is one, and whether a retry may help. Everything else has its own error type next to
//! the code that raises it ([`ReportError`](crate::ReportError), ...).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Alias for a type-erased error, as tower middleware use.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The class of a generation failure.
///
/// Serialized as its snake_case name (`rate_limited`); a name this version does not know, read
/// from an older or foreign trace file, is kept as [`Unknown`](Self::Unknown).
///
/// ```
/// use llmtrace::ErrorKind;
///
/// assert_eq!(serde_json::to_string(&ErrorKind::RateLimited).unwrap(), r#""rate_limited""#);
/// let foreign: ErrorKind = serde_json::from_str(r#""APIConnectionError""#).unwrap();
/// assert_eq!(foreign, ErrorKind::Unknown("APIConnectionError".into()));
/// assert_eq!(foreign, "APIConnectionError");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server could not be reached.
    Connect,
    /// The call took longer than allowed.
    Timeout,
    /// The server asked us to slow down (HTTP 429).
    RateLimited,
    /// The credentials were refused (HTTP 401, 403).
    Authentication,
    /// The server rejected the request as invalid (other HTTP 4xx).
    InvalidRequest,
    /// The server failed (HTTP 5xx).
    Server,
    /// The server answered with something that is not the expected format.
    MalformedResponse,
    /// A stream ended before it was complete.
    Stream,
    /// The caller dropped the call or stream before it finished.
    Cancelled,
    /// A plugin failed.
    Plugin,
    /// Anything else.
    Other,
    /// A kind this version does not know, as a trace file names it.
    Unknown(String),
}

impl ErrorKind {
    /// The snake_case name recorded in traces (`error.kind`).
    pub fn as_str(&self) -> &str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Authentication => "authentication",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Server => "server",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::Stream => "stream",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Plugin => "plugin",
            ErrorKind::Other => "other",
            ErrorKind::Unknown(name) => name,
        }
    }

    /// The kind named `name` in a trace; a name no kind has is [`Unknown`](Self::Unknown).
    pub fn from_name(name: &str) -> Self {
        const KNOWN: [ErrorKind; 11] = [
            ErrorKind::Connect,
            ErrorKind::Timeout,
            ErrorKind::RateLimited,
            ErrorKind::Authentication,
            ErrorKind::InvalidRequest,
            ErrorKind::Server,
            ErrorKind::MalformedResponse,
            ErrorKind::Stream,
            ErrorKind::Cancelled,
            ErrorKind::Plugin,
            ErrorKind::Other,
        ];
        KNOWN
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .unwrap_or_else(|| ErrorKind::Unknown(name.to_owned()))
    }

    /// Whether a failure of this kind is worth retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::RateLimited
                | ErrorKind::Server
                | ErrorKind::Stream
        )
    }

    /// The kind an HTTP error status belongs to.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 | 403 => ErrorKind::Authentication,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::InvalidRequest,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
}

/// Compares with a trace's `error.kind` text.
impl PartialEq<str> for ErrorKind {
    fn eq(&self, name: &str) -> bool {
        self.as_str() == name
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

/// A failed generation.
///
/// ```
/// use llmtrace::{ErrorKind, ProviderError};
///
/// let error = ProviderError::http(503, "model is overloaded");
/// assert_eq!(error.kind(), ErrorKind::Server);
/// assert!(error.is_retryable());
/// assert_eq!(error.to_string(), "server error (http 503): model is overloaded");
/// ```
#[derive(Debug, Clone)]
pub struct ProviderError {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    retryable: bool,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl ProviderError {
    /// An error of `kind`; retryable as the kind says.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            retryable: kind.is_retryable(),
            kind,
            message: message.into(),
            status: None,
            source: None,
        }
    }

    /// An HTTP error response: kind from the status, message from the body.
    pub fn http(status: u16, body: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            ..Self::new(ErrorKind::from_status(status), body)
        }
    }

    /// Overrides whether a retry may help.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind.clone()
    }

    /// What happened, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, for HTTP error responses.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            ErrorKind::Connect => "connection failed",
            ErrorKind::Timeout => "timed out",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Server => "server error",
            ErrorKind::MalformedResponse => "malformed response",
            ErrorKind::Stream => "stream broken",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Plugin => "plugin failed",
            ErrorKind::Other | ErrorKind::Unknown(_) => "generation failed",
        };
        match self.status {
            Some(status) => write!(f, "{what} (http {status}): {}", self.message),
            None => write!(f, "{what}: {}", self.message),
        }
    }
}

impl StdError for ProviderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
