//! The record path: where finished [`TraceRecord`]s go.
//!
//! The trace layer builds one record per call and hands it to a [`RecordSink`]. A sink is an
//! observer: it sees every record, keeps or forwards what it wants, and must return quickly,
//! because it runs on the request path. Sinks compose the way `tracing-subscriber` layers do:
//! `Option<S>` (none = no-op), `Vec<S>` and tuples (fan-out), `Arc<S>` and
//! `Box<dyn RecordSink>` (sharing and type erasure).
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use llmtrace::sink::{self, RecordSink, TraceStore};
//!
//! let seen = Arc::new(AtomicUsize::new(0));
//! let counter = {
//!     let seen = seen.clone();
//!     sink::from_fn(move |_record| {
//!         seen.fetch_add(1, Ordering::Relaxed);
//!     })
//! };
//! // Both the store and the counter observe every record.
//! let store = TraceStore::new(100);
//! let fan_out = (store.clone(), counter);
//! # let _: &dyn RecordSink = &fan_out;
//! ```
//!
//! [`TraceRecord`]: crate::TraceRecord

mod eviction;
mod store;
mod tracing_events;

pub use eviction::{Clock, EvictionPolicy, ManualClock, StoreStats, SystemClock, estimated_size};
pub use store::{TraceQuery, TraceStore};
pub use tracing_events::TracingEvents;

use std::fmt;
use std::sync::Arc;

use crate::TraceRecord;

/// An observer of finished trace records.
///
/// `record` runs on the request path, once per generation: it must not block or do I/O.
/// Sinks that do I/O hand the record to a background worker (see the exporters).
pub trait RecordSink: Send + Sync + 'static {
    /// Observes one record. Clone the `Arc` to keep it.
    fn record(&self, record: &Arc<TraceRecord>);
}

impl<S: RecordSink + ?Sized> RecordSink for Arc<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        (**self).record(record);
    }
}

impl<S: RecordSink + ?Sized> RecordSink for Box<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        (**self).record(record);
    }
}

impl<S: RecordSink> RecordSink for Option<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        if let Some(sink) = self {
            sink.record(record);
        }
    }
}

impl<S: RecordSink> RecordSink for Vec<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        for sink in self {
            sink.record(record);
        }
    }
}

impl<A: RecordSink, B: RecordSink> RecordSink for (A, B) {
    fn record(&self, record: &Arc<TraceRecord>) {
        self.0.record(record);
        self.1.record(record);
    }
}

impl<A: RecordSink, B: RecordSink, C: RecordSink> RecordSink for (A, B, C) {
    fn record(&self, record: &Arc<TraceRecord>) {
        self.0.record(record);
        self.1.record(record);
        self.2.record(record);
    }
}

/// A sink that calls `f` with every record.
pub fn from_fn<F>(f: F) -> FromFn<F>
where
    F: Fn(&Arc<TraceRecord>) + Send + Sync + 'static,
{
    FromFn(f)
}

/// The sink returned by [`from_fn`].
#[derive(Clone)]
pub struct FromFn<F>(F);

impl<F> RecordSink for FromFn<F>
where
    F: Fn(&Arc<TraceRecord>) + Send + Sync + 'static,
{
    fn record(&self, record: &Arc<TraceRecord>) {
        (self.0)(record);
    }
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFn")
    }
}
