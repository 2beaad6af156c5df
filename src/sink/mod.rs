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
pub(crate) mod exporters;
mod sample;
mod store;
mod tracing_events;

pub use eviction::{Clock, EvictionPolicy, ManualClock, StoreStats, SystemClock, estimated_size};
pub use exporters::{ExporterSink, ExporterSinkBuilder, ExporterStats};
pub use sample::SamplePolicy;
pub use store::{TraceQuery, TraceStore};
pub use tracing_events::TracingEvents;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::TraceRecord;

/// An observer of finished trace records.
///
/// `record` runs on the request path, once per generation: it must not block or do I/O.
/// Sinks that do I/O hand the record to a background worker (see the exporters).
///
/// A sink that can fall behind (an exporter with [`Overflow::Wait`]) applies back-pressure
/// through [`poll_ready`](Self::poll_ready), which the trace layer polls before admitting a
/// call: waiting happens there, asynchronously, never in `record`.
///
/// [`Overflow::Wait`]: crate::exporter::Overflow::Wait
pub trait RecordSink: Send + Sync + 'static {
    /// Observes one record. Clone the `Arc` to keep it.
    fn record(&self, record: &Arc<TraceRecord>);

    /// Ready when the sink can take another record without falling behind; when pending, the
    /// task in `cx` is woken once it can. Ready by default.
    fn poll_ready(&self, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// Polls every sink (so that each registers the waker), ready when all are.
fn all_ready(polls: impl IntoIterator<Item = Poll<()>>) -> Poll<()> {
    polls.into_iter().fold(
        Poll::Ready(()),
        |all, poll| if poll.is_pending() { poll } else { all },
    )
}

impl<S: RecordSink + ?Sized> RecordSink for Arc<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        (**self).record(record);
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_ready(cx)
    }
}

impl<S: RecordSink + ?Sized> RecordSink for Box<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        (**self).record(record);
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_ready(cx)
    }
}

impl<S: RecordSink> RecordSink for Option<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        if let Some(sink) = self {
            sink.record(record);
        }
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.as_ref()
            .map_or(Poll::Ready(()), |sink| sink.poll_ready(cx))
    }
}

impl<S: RecordSink> RecordSink for Vec<S> {
    fn record(&self, record: &Arc<TraceRecord>) {
        for sink in self {
            sink.record(record);
        }
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        all_ready(self.iter().map(|sink| sink.poll_ready(cx)))
    }
}

impl<A: RecordSink, B: RecordSink> RecordSink for (A, B) {
    fn record(&self, record: &Arc<TraceRecord>) {
        self.0.record(record);
        self.1.record(record);
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        all_ready([self.0.poll_ready(cx), self.1.poll_ready(cx)])
    }
}

impl<A: RecordSink, B: RecordSink, C: RecordSink> RecordSink for (A, B, C) {
    fn record(&self, record: &Arc<TraceRecord>) {
        self.0.record(record);
        self.1.record(record);
        self.2.record(record);
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        all_ready([
            self.0.poll_ready(cx),
            self.1.poll_ready(cx),
            self.2.poll_ready(cx),
        ])
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
