use std::time::Duration;

/// What to do with a record when an exporter's queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Overflow {
    /// The exporter's own choice ([`Exporter::default_overflow`](super::Exporter::default_overflow)):
    /// [`Wait`](Self::Wait) for exporters writing local files (jsonl, json, markdown, sqlite),
    /// which keep up unless the application outruns the disk, so none of their records is
    /// lost; [`Drop`](Self::Drop) for the others (webhook, otlp, stdout, plugins), so a
    /// server that is down or slow never stalls the application. The default.
    #[default]
    Auto,
    /// Drop the record and count it in [`ExporterStats::dropped`](super::ExporterStats).
    /// The request path never waits.
    Drop,
    /// Make new calls wait until the queue has room: no record is lost, at the price of
    /// back-pressure on the request path while the exporter is behind. The wait is
    /// asynchronous (the trace layer's `poll_ready` is pending; no thread is blocked), and
    /// ends when shutdown begins (records are then counted as dropped).
    Wait,
}

/// Retries of retryable export failures, with exponential backoff.
///
/// Built from [`Default`] and its setters (it may gain fields):
///
/// ```
/// use std::time::Duration;
/// use llmtrace::exporter::RetryPolicy;
///
/// let retry = RetryPolicy::default()
///     .max_retries(3)
///     .initial_backoff(Duration::from_millis(50));
/// assert_eq!(retry.backoff(2), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// Wait before the first retry; doubled each time.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Sets [`max_retries`](Self::max_retries).
    pub const fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets [`initial_backoff`](Self::initial_backoff).
    pub const fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// Sets [`max_backoff`](Self::max_backoff).
    pub const fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// The wait before retry number `retry` (counted from 1).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Records per batch when nothing says otherwise: what [`ExporterOptions::default`] holds, and
/// what a configuration file gives an exporter type that asks for no other.
pub const DEFAULT_BATCH_SIZE: usize = 64;

/// How one exporter is fed: queue, batching and retries.
///
/// Built from [`Default`] and its setters (it may gain fields):
///
/// ```
/// use std::time::Duration;
/// use llmtrace::exporter::{ExporterOptions, Overflow};
///
/// let options = ExporterOptions::default()
///     .batch_size(16)
///     .batch_interval(Duration::from_millis(200))
///     .overflow(Overflow::Wait);
/// assert_eq!(options.queue_size, 1024);
/// ```
///
/// A struct literal does not compile, so a new field breaks no caller:
///
/// ```compile_fail,E0639
/// # use llmtrace::exporter::ExporterOptions;
/// let options = ExporterOptions { batch_size: 16, ..ExporterOptions::default() };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExporterOptions {
    /// Records the queue holds before [`overflow`](Self::overflow) applies. Default 1024.
    pub queue_size: usize,
    /// Records per batch at most. Default 64.
    pub batch_size: usize,
    /// Longest time a record waits for its batch to fill. Default 1 s.
    pub batch_interval: Duration,
    /// What a full queue does. Default [`Overflow::Auto`]: the exporter's own choice.
    pub overflow: Overflow,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
    /// Longest time shutdown waits for this exporter to deliver its queue; what is left then
    /// is counted as dropped. Default 10 s.
    pub shutdown_timeout: Duration,
}

impl Default for ExporterOptions {
    fn default() -> Self {
        Self {
            queue_size: 1024,
            batch_size: DEFAULT_BATCH_SIZE,
            batch_interval: Duration::from_secs(1),
            overflow: Overflow::Auto,
            retry: RetryPolicy::default(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl ExporterOptions {
    /// Sets [`queue_size`](Self::queue_size).
    pub const fn queue_size(mut self, queue_size: usize) -> Self {
        self.queue_size = queue_size;
        self
    }

    /// Sets [`batch_size`](Self::batch_size).
    pub const fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`batch_interval`](Self::batch_interval).
    pub const fn batch_interval(mut self, batch_interval: Duration) -> Self {
        self.batch_interval = batch_interval;
        self
    }

    /// Sets [`overflow`](Self::overflow).
    pub const fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Sets [`retry`](Self::retry).
    pub const fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`shutdown_timeout`](Self::shutdown_timeout).
    pub const fn shutdown_timeout(mut self, shutdown_timeout: Duration) -> Self {
        self.shutdown_timeout = shutdown_timeout;
        self
    }
}
