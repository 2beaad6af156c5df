use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::worker::{self, Control, Queue};
use super::{ExportOptions, Exporter, Overflow};
use crate::TraceRecord;
use crate::sink::RecordSink;

/// How many records one exporter has handled, and why it last failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Delivered successfully.
    pub exported: u64,
    /// Dropped because the queue was full (or the exporter was shut down).
    pub dropped: u64,
    /// Given up on after a permanent failure or the last retry.
    pub failed: u64,
    /// Retry attempts made.
    pub retries: u64,
    /// Why the exporter last gave up on records (the error, or its panic), so a failure can
    /// be reported where it matters (the CLI prints it) and not only in the logs.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Counters {
    /// Counts `count` records as failed because of `error`.
    pub(crate) fn fail(&self, count: u64, error: String) {
        self.failed.fetch_add(count, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

/// The record sink that feeds exporters: one bounded queue and worker thread per exporter.
///
/// Cloning gives another handle to the same exporters. Records are queued without blocking
/// (unless an exporter is configured with [`Overflow::Wait`]) and without waking the worker
/// until a batch is full; [`shutdown`](Self::shutdown) delivers everything queued. When the
/// last handle is dropped, the queues are drained on a best-effort basis (up to 10 seconds);
/// call `shutdown` to be sure.
#[derive(Clone)]
pub struct ExportSink {
    inner: Arc<Inner>,
}

struct Inner {
    exporters: Vec<Handle>,
}

struct Handle {
    name: String,
    queue: Arc<Queue>,
    overflow: Overflow,
    /// The worker thread, to wake it.
    worker: Thread,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl ExportSink {
    /// A builder with no exporters.
    pub fn builder() -> ExportSinkBuilder {
        ExportSinkBuilder::default()
    }

    /// True when there are no exporters.
    pub fn is_empty(&self) -> bool {
        self.inner.exporters.is_empty()
    }

    /// Each exporter's name and counters, in the order they were added.
    pub fn stats(&self) -> Vec<(String, ExporterStats)> {
        self.inner
            .exporters
            .iter()
            .map(|handle| {
                let c = &handle.queue.counters;
                let stats = ExporterStats {
                    exported: c.exported.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    failed: c.failed.load(Ordering::Relaxed),
                    retries: c.retries.load(Ordering::Relaxed),
                    last_error: c
                        .last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone(),
                };
                (handle.name.clone(), stats)
            })
            .collect()
    }

    /// Delivers every record queued so far and flushes every exporter.
    pub async fn flush(&self) {
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.signal(Control::Flush, None)).await;
    }

    /// Delivers every queued record, flushes, and stops the workers. Records arriving later
    /// are counted as dropped. Safe to call more than once.
    pub async fn shutdown(&self) {
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.shutdown(None)).await;
    }

    /// [`shutdown`](Self::shutdown) for code outside an async context.
    pub fn shutdown_blocking(&self) {
        self.inner.shutdown(None);
    }
}

impl Inner {
    /// Sends a control to every worker and waits for the answers (until `deadline`, if any).
    fn signal(&self, control: fn(mpsc::Sender<()>) -> Control, deadline: Option<Instant>) {
        let (done, answers) = mpsc::channel();
        let expected = self
            .exporters
            .iter()
            .filter(|handle| handle.queue.control(control(done.clone()), &handle.worker))
            .count();
        drop(done);
        for _ in 0..expected {
            let answered = match deadline {
                Some(deadline) => answers
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .is_ok(),
                None => answers.recv().is_ok(),
            };
            if !answered {
                break;
            }
        }
    }

    fn shutdown(&self, deadline: Option<Instant>) {
        for handle in &self.exporters {
            handle.queue.close();
        }
        self.signal(Control::Shutdown, deadline);
        for handle in &self.exporters {
            let join = handle
                .join
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(join) = join.filter(|j| deadline.is_none() || j.is_finished()) {
                let _ = join.join();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: give the workers a bounded time to deliver their queues.
        self.shutdown(Some(Instant::now() + Duration::from_secs(10)));
    }
}

impl RecordSink for ExportSink {
    fn record(&self, record: &Arc<TraceRecord>) {
        for handle in &self.inner.exporters {
            if !handle
                .queue
                .push(record.clone(), handle.overflow, &handle.worker)
            {
                let dropped = handle
                    .queue
                    .counters
                    .dropped
                    .fetch_add(1, Ordering::Relaxed)
                    + 1;
                // Say so on the first drop and then at every power of ten, not on every record.
                if is_power_of_ten(dropped) {
                    tracing::warn!(exporter = %handle.name, dropped, "Export queue full; dropping traces.");
                }
            }
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

impl fmt::Debug for ExportSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .inner
            .exporters
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        f.debug_struct("ExportSink")
            .field("exporters", &names)
            .finish()
    }
}

/// Collects exporters, then starts their workers.
#[derive(Default)]
pub struct ExportSinkBuilder {
    exporters: Vec<(String, Box<dyn Exporter>, ExportOptions)>,
}

impl ExportSinkBuilder {
    /// Adds an exporter named `name` (used in logs and stats) fed as `options` says.
    pub fn exporter(
        mut self,
        name: impl Into<String>,
        exporter: impl Exporter,
        options: ExportOptions,
    ) -> Self {
        self.exporters
            .push((name.into(), Box::new(exporter), options));
        self
    }

    /// Starts one worker thread per exporter.
    ///
    /// # Errors
    /// When a thread or its runtime cannot be started.
    pub fn build(self) -> std::io::Result<ExportSink> {
        let mut exporters = Vec::with_capacity(self.exporters.len());
        for (name, exporter, options) in self.exporters {
            let (queue, join) = worker::spawn(&name, exporter, options)?;
            exporters.push(Handle {
                name,
                queue,
                overflow: options.overflow,
                worker: join.thread().clone(),
                join: Mutex::new(Some(join)),
            });
        }
        Ok(ExportSink {
            inner: Arc::new(Inner { exporters }),
        })
    }
}

impl fmt::Debug for ExportSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.exporters.iter().map(|(n, _, _)| n.as_str()).collect();
        f.debug_struct("ExportSinkBuilder")
            .field("exporters", &names)
            .finish()
    }
}
