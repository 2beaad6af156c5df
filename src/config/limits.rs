//! Upper bounds of the numeric settings, checked when the configuration is read.
//!
//! Sizes are bounded because they allocate (a queue of 10^18 slots aborts the process, 10^8
//! takes gigabytes) or loop (rotated files, retries); durations because a deadline past the end
//! of time panics. Each bound is far above any sensible value, and `config/default.toml` states
//! it next to its key.

/// `tracing.max_traces`: records kept in the ring buffer.
pub(crate) const MAX_TRACES: u64 = 10_000_000;
/// `exporters.*.queue_size`: records waiting for one exporter.
pub(crate) const QUEUE_SIZE: u64 = 1_000_000;
/// `exporters.*.batch_size`: records per batch (also at most the exporter's `queue_size`).
pub(crate) const BATCH_SIZE: u64 = 100_000;
/// `exporters.*.max_retries`.
pub(crate) const MAX_RETRIES: u64 = 100;
/// `exporters.*.max_files`: rotated files kept.
pub(crate) const MAX_FILES: u64 = 1_000;
/// `tracing.max_bytes`: the ring buffer's estimated size, 1 TiB.
pub(crate) const MAX_BYTES: u64 = 1 << 40;
/// `tracing.max_age_ms`: a year (an age, not a deadline: longer than the other durations).
pub(crate) const MAX_AGE_MS: u64 = 365 * 86_400_000;
/// `exporters.*.max_rows` of a SQLite store.
pub(crate) const MAX_ROWS: u64 = 1_000_000_000;
/// `exporters.*.max_age_ms` of a SQLite store: a hundred years (a store keeps history).
pub(crate) const STORE_MAX_AGE_MS: u64 = 100 * 365 * 86_400_000;
/// `provider.max_concurrency`: plugin calls in flight.
pub(crate) const MAX_CONCURRENCY: u64 = 10_000;
/// `memory_limit_mb` of an isolated plugin: 1 TiB.
pub(crate) const MEMORY_LIMIT_MB: u64 = 1_048_576;
/// Every `*_ms` duration: one day.
pub(crate) const MILLIS: u64 = 86_400_000;
/// `requests` of a `rate_limit` layer: calls per window.
pub(crate) const RATE_REQUESTS: u64 = 1_000_000;
