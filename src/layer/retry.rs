//! Retries of retryable failures: tower's [`Retry`](tower::retry::Retry) with a policy that
//! retries only [`ProviderError`]s that say a retry may help, after a jittered exponential
//! back-off.
//!
//! Where it sits decides what is traced:
//!
//! - **outside** the trace layer (listed before `trace`): every attempt is a trace of its own,
//!   its metadata `attempt_number` 1, 2, 3...;
//! - **inside** it (listed after `trace`): one trace per call, covering every attempt, whose
//!   metadata `attempts` says how many were made (unless a `rate_limit` sits between the
//!   two: its buffer runs the retry on a task of its own, out of the trace layer's sight).

use std::cell::Cell;
use std::time::Duration;

use serde_json::Value;
use tower::Layer;
use tower::retry::{Policy, RetryLayer};
use tower::util::MapRequestLayer;

use super::stack::ClientService;
use crate::{GenerateRequest, Generation, ProviderError};

/// `retry` layer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySpec {
    /// Attempts in all, the first included (1 never retries).
    pub attempts: u32,
    /// The wait before the first retry; it doubles for each next one.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// Waits a random time between half the back-off and all of it, so that clients failing
    /// together do not retry together.
    pub jitter: bool,
}

impl RetrySpec {
    /// Up to `attempts` attempts, waiting 100 ms, 200 ms, 400 ms... (at most 5 s), jittered.
    pub fn new(attempts: u32) -> Self {
        Self {
            attempts,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            jitter: true,
        }
    }

    /// Sets the first back-off.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the longest back-off.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Turns the jitter on or off.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    pub(crate) fn wrap(&self, inner: ClientService) -> ClientService {
        let policy = RetryPolicy {
            spec: *self,
            made: 1,
        };
        let retry = RetryLayer::new(policy).layer(inner);
        // The first attempt is numbered too (the caller's own number, if it set one, wins).
        ClientService::new(MapRequestLayer::new(first_attempt).layer(retry))
    }

    /// The wait before attempt `next` of a call (2 for the first retry).
    fn backoff(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(31);
        let full = (self.initial_backoff.saturating_mul(1 << doublings)).min(self.max_backoff);
        if !self.jitter {
            return full;
        }
        // A v4 UUID is 122 random bits from a fast thread-local generator: no extra crate.
        let random = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
        full.mul_f64(0.5 + random / 2.0)
    }
}

/// The [`Policy`] of a [`RetrySpec`].
///
/// Tower gives each call its own copy of the policy, in the call's future, and calls `retry`
/// only on that copy, so `made` counts the attempts of one call.
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    spec: RetrySpec,
    /// Attempts made so far by this call.
    made: u32,
}

impl Policy<GenerateRequest, Generation, ProviderError> for RetryPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut GenerateRequest,
        result: &mut Result<Generation, ProviderError>,
    ) -> Option<Self::Future> {
        let Err(error) = result else {
            return None;
        };
        if !error.is_retryable() || self.made >= self.spec.attempts {
            return None;
        }
        self.made += 1;
        // Counted on from the caller's own number, if it set one (an application-level retry).
        let next = attempt_number(request).saturating_add(1);
        request
            .metadata
            .insert("attempt_number".into(), Value::from(next));
        Some(tokio::time::sleep(self.spec.backoff(self.made)))
    }

    fn clone_request(&mut self, request: &GenerateRequest) -> Option<GenerateRequest> {
        // Called before each attempt is sent: the moment to tell an enclosing trace.
        attempts::record(self.made);
        Some(request.clone())
    }
}

fn first_attempt(mut request: GenerateRequest) -> GenerateRequest {
    (request.metadata)
        .entry("attempt_number")
        .or_insert_with(|| Value::from(1));
    request
}

/// The request's `attempt_number`, 1 when it has none (or one that is not a number).
fn attempt_number(request: &GenerateRequest) -> u32 {
    (request.metadata.get("attempt_number"))
        .and_then(Value::as_u64)
        .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// How a retry inside a trace layer tells that layer how many attempts it made.
///
/// The trace layer moves the request's metadata into its record, so nothing below it can write
/// there; instead, while the trace layer calls and polls its inner service, the number of
/// attempts so far lives in a thread-local slot that the retry policy (called synchronously
/// from inside that call or poll) updates. Outside any trace layer the slot is `None` and
/// updates are ignored.
pub(crate) mod attempts {
    use super::Cell;

    thread_local! {
        static SLOT: Cell<Option<u32>> = const { Cell::new(None) };
    }

    /// Runs `f` with `slot` as the current count, writing back what `f` left in it. The
    /// previous count is restored after, so nested trace layers each keep their own.
    pub(crate) fn scope<R>(slot: &mut Option<u32>, f: impl FnOnce() -> R) -> R {
        let outer = SLOT.replace(slot.or(Some(0)));
        let result = f();
        let count = SLOT.replace(outer);
        *slot = count.filter(|&n| n > 0);
        result
    }

    /// Records that attempt `attempt` is starting, if a trace layer is listening.
    pub(crate) fn record(attempt: u32) {
        SLOT.with(|slot| {
            if slot.get().is_some() {
                slot.set(Some(attempt));
            }
        });
    }
}
