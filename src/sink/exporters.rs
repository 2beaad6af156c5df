use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::{RecordSink, SamplePolicy};
use crate::TraceRecord;
use crate::exporter::worker::{self, Control, Queue};
use crate::exporter::{Exporter, ExporterOptions, Overflow};

/// How many records one exporter has handled, and why it last failed.
///
/// Every record offered is counted once more as exported, dropped or failed, so once
/// [`ExporterSink::shutdown`] has returned, `exported + dropped + failed == offered` holds for
/// every exporter (before that, the difference is what is queued or being delivered).
///
/// It may gain counters: a pattern naming its fields needs `..`.
///
/// ```compile_fail,E0638
/// # fn check(stats: llmtrace::sink::ExporterStats) {
/// let llmtrace::sink::ExporterStats { offered, exported, dropped, failed, retries, last_error } = stats;
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExporterStats {
    /// Records given to the exporter's queue (every record traced since the sink was built).
    pub offered: u64,
    /// Delivered successfully.
    pub exported: u64,
    /// Dropped because the queue was full, the exporter was shut down, or shutdown's deadline
    /// passed before they were delivered.
    pub dropped: u64,
    /// Given up on after a permanent failure or the last retry.
    pub failed: u64,
    /// Retry attempts made.
    pub retries: u64,
    /// Records its [`SamplePolicy`] left out: not offered, so not part of the sum above.
    pub sampled_out: u64,
    /// Why the exporter last gave up on records (the error, or its panic), so a failure can
    /// be reported where it matters (the CLI prints it) and not only in the logs.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) offered: AtomicU64,
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) sampled_out: AtomicU64,
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
/// and without waking the worker until a batch is full. An exporter configured with
/// [`Overflow::Wait`] (the default of file exporters) applies back-pressure asynchronously: the trace layer's `poll_ready` is
/// pending while its queue is full. [`shutdown`](Self::shutdown) delivers everything queued,
/// waiting at most each exporter's
/// [`shutdown_timeout`](crate::exporter::ExporterOptions::shutdown_timeout). Dropping the last handle
/// never blocks: it starts the same shutdown and lets the workers finish on their own
/// threads; call `shutdown` to be sure everything was delivered.
#[derive(Clone)]
pub struct ExporterSink {
    inner: Arc<Inner>,
}

struct Inner {
    exporters: Vec<Handle>,
}

struct Handle {
    name: String,
    queue: Arc<Queue>,
    shutdown_timeout: Duration,
    /// Which records it is offered; all when `None`.
    sample: Option<SamplePolicy>,
    /// The worker thread, to wake it.
    worker: Thread,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl ExporterSink {
    /// A builder with no exporters.
    pub fn builder() -> ExporterSinkBuilder {
        ExporterSinkBuilder::default()
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
                    offered: c.offered.load(Ordering::Relaxed),
                    exported: c.exported.load(Ordering::Relaxed),
                    dropped: c.dropped.load(Ordering::Relaxed),
                    failed: c.failed.load(Ordering::Relaxed),
                    retries: c.retries.load(Ordering::Relaxed),
                    sampled_out: c.sampled_out.load(Ordering::Relaxed),
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
        let _ = tokio::task::spawn_blocking(move || inner.flush()).await;
    }

    /// Delivers every queued record, flushes, and stops the workers. Records arriving later
    /// are counted as dropped. An exporter still busy after its
    /// [`shutdown_timeout`](crate::exporter::ExporterOptions::shutdown_timeout) is abandoned: what it had
    /// queued or was delivering is counted as dropped and logged with its name. Safe to call
    /// more than once.
    pub async fn shutdown(&self) {
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.shutdown()).await;
    }

    /// [`shutdown`](Self::shutdown) for code outside an async context.
    pub fn shutdown_blocking(&self) {
        self.inner.shutdown();
    }
}

impl Inner {
    fn flush(&self) {
        let (done, answers) = mpsc::channel();
        let expected = self
            .exporters
            .iter()
            .filter(|handle| {
                handle
                    .queue
                    .control(Control::Flush(done.clone()), &handle.worker)
            })
            .count();
        drop(done);
        for _ in 0..expected {
            if answers.recv().is_err() {
                break;
            }
        }
    }

    /// Closes every queue and asks every worker to stop; returns, per exporter, the channel
    /// its answer comes on (`None` when its worker has already exited).
    fn begin_shutdown(&self) -> Vec<Option<mpsc::Receiver<()>>> {
        for handle in &self.exporters {
            handle.queue.close();
        }
        self.exporters
            .iter()
            .map(|handle| {
                let (done, answer) = mpsc::channel();
                let sent = handle
                    .queue
                    .control(Control::Shutdown(done), &handle.worker);
                sent.then_some(answer)
            })
            .collect()
    }

    fn shutdown(&self) {
        let started = Instant::now();
        let answers = self.begin_shutdown();
        for (handle, answer) in self.exporters.iter().zip(answers) {
            let deadline = started + handle.shutdown_timeout;
            let answered = answer.is_none_or(|answer| {
                // A closed channel means the worker exited: nothing left to wait for.
                !matches!(
                    answer.recv_timeout(deadline.saturating_duration_since(Instant::now())),
                    Err(mpsc::RecvTimeoutError::Timeout)
                )
            });
            if !answered {
                let dropped = handle.queue.abandon();
                tracing::warn!(
                    exporter = %handle.name, dropped, timeout_ms = handle.shutdown_timeout.as_millis() as u64,
                    "Exporter did not finish within its shutdown timeout; dropping its remaining traces."
                );
                continue;
            }
            let join = handle
                .join
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(join) = join {
                // The worker answered: it is returning, so this join is immediate.
                let _ = join.join();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone, often on an executor thread: start the shutdown and let
        // the workers finish on their own threads, without waiting for them.
        drop(self.begin_shutdown());
    }
}

impl RecordSink for ExporterSink {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut ready = Poll::Ready(());
        for handle in &self.inner.exporters {
            if handle.queue.poll_room(cx, &handle.worker).is_pending() {
                ready = Poll::Pending;
            }
        }
        ready
    }

    fn record(&self, record: &Arc<TraceRecord>) {
        for handle in &self.inner.exporters {
            if let Some(sample) = &handle.sample
                && !sample.keeps(record)
            {
                let counters = &handle.queue.counters;
                counters.sampled_out.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            handle.queue.push(record.clone(), &handle.worker);
        }
    }
}

impl fmt::Debug for ExporterSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .inner
            .exporters
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        f.debug_struct("ExporterSink")
            .field("exporters", &names)
            .finish()
    }
}

/// Collects exporters, then starts their workers.
#[derive(Default)]
pub struct ExporterSinkBuilder {
    exporters: Vec<Added>,
    sample: Option<SamplePolicy>,
}

struct Added {
    name: String,
    exporter: Box<dyn Exporter>,
    options: ExporterOptions,
    sample: Option<SamplePolicy>,
}

impl ExporterSinkBuilder {
    /// Adds an exporter named `name` (used in logs and stats) fed as `options` says; an
    /// [`Overflow::Auto`] there becomes the exporter's
    /// [`default_overflow`](Exporter::default_overflow).
    pub fn exporter(
        mut self,
        name: impl Into<String>,
        exporter: impl Exporter,
        mut options: ExporterOptions,
    ) -> Self {
        if options.overflow == Overflow::Auto {
            options.overflow = match exporter.default_overflow() {
                Overflow::Wait => Overflow::Wait,
                Overflow::Auto | Overflow::Drop => Overflow::Drop,
            };
        }
        self.exporters.push(Added {
            name: name.into(),
            exporter: Box::new(exporter),
            options,
            sample: None,
        });
        self
    }

    /// Adds an exporter that is offered only the records `sample` keeps (the others are
    /// counted in its [`ExporterStats::sampled_out`]); the store still keeps every record.
    pub fn sampled_exporter(
        self,
        name: impl Into<String>,
        exporter: impl Exporter,
        options: ExporterOptions,
        sample: SamplePolicy,
    ) -> Self {
        let mut this = self.exporter(name, exporter, options);
        if let Some(added) = this.exporters.last_mut() {
            added.sample = Some(sample);
        }
        this
    }

    /// Samples every exporter that has no policy of its own with `sample`.
    pub fn sample(mut self, sample: SamplePolicy) -> Self {
        self.sample = Some(sample);
        self
    }

    /// Starts one worker thread per exporter.
    ///
    /// # Errors
    /// When a thread or its runtime cannot be started.
    pub fn build(self) -> std::io::Result<ExporterSink> {
        let mut exporters = Vec::with_capacity(self.exporters.len());
        for added in self.exporters {
            let Added {
                name,
                exporter,
                options,
                sample,
            } = added;
            let (queue, join) = worker::spawn(&name, exporter, options)?;
            exporters.push(Handle {
                name,
                queue,
                shutdown_timeout: options.shutdown_timeout,
                sample: sample.or(self.sample),
                worker: join.thread().clone(),
                join: Mutex::new(Some(join)),
            });
        }
        Ok(ExporterSink {
            inner: Arc::new(Inner { exporters }),
        })
    }
}

impl fmt::Debug for ExporterSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.exporters.iter().map(|a| a.name.as_str()).collect();
        f.debug_struct("ExporterSinkBuilder")
            .field("exporters", &names)
            .finish()
    }
}
