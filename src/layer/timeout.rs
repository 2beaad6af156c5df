//! A deadline on each call: tower's [`Timeout`](tower::timeout::Timeout), with its `Elapsed`
//! turned into a [`ProviderError`] of kind `timeout` so the trace records the right kind and a
//! retry outside it sees a retryable failure.
//!
//! List it inside the trace layer (after `trace`) for that: a timeout outside the trace layer
//! drops the traced call, which is then recorded as kind `cancelled`.

use std::time::Duration;

use tower::Layer;
use tower::timeout::TimeoutLayer;
use tower::util::MapErrLayer;

use super::stack::{ClientService, human, provider_error};
use crate::{ErrorKind, ProviderError};

/// `timeout` layer options: how long one call may take, up to the answer's first byte for a
/// stream (a stream's own pace is the provider's `stall_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutSpec {
    /// The deadline of one call.
    pub timeout: Duration,
}

impl TimeoutSpec {
    /// A deadline of `timeout` per call.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    pub(crate) fn wrap(&self, inner: ClientService) -> ClientService {
        let timeout = self.timeout;
        let to_provider_error = move |error| {
            provider_error(error, |_| {
                let message = format!("no answer within the timeout layer's {}", human(timeout));
                ProviderError::new(ErrorKind::Timeout, message)
            })
        };
        let service = TimeoutLayer::new(timeout).layer(inner);
        ClientService::new(MapErrLayer::new(to_provider_error).layer(service))
    }
}
