use crate::{BoxError, ErrorKind, ProviderError, TraceError};

/// An error the trace layer can describe in a record's `error` field.
///
/// Implemented for [`ProviderError`] and for [`BoxError`] (the error type of stacks with tower
/// middleware such as `Timeout`): a boxed `ProviderError` is described as itself, tower's
/// `Elapsed` as a retryable `timeout`, anything else as kind `other` with its message.
pub trait TraceableError {
    /// The record's `error` field for this error, after `generation_time_ms`.
    fn trace_error(&self, generation_time_ms: f64) -> TraceError;
}

impl TraceableError for ProviderError {
    fn trace_error(&self, generation_time_ms: f64) -> TraceError {
        TraceError {
            kind: self.kind(),
            message: self.message().to_owned(),
            retryable: self.is_retryable(),
            status: self.status(),
            generation_time_ms,
        }
    }
}

impl TraceableError for BoxError {
    fn trace_error(&self, generation_time_ms: f64) -> TraceError {
        if let Some(error) = self.downcast_ref::<ProviderError>() {
            return error.trace_error(generation_time_ms);
        }
        let kind = if self.is::<tower::timeout::error::Elapsed>() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Other
        };
        ProviderError::new(kind, self.to_string()).trace_error(generation_time_ms)
    }
}
