//! The thread behind each exporter: drains its queue, batches, retries.
//!
//! Producers (the request path) push records into a lock-free bounded queue and wake the
//! worker only when a batch is full, so recording a trace costs no system call. The worker
//! otherwise sleeps until the batch interval runs out.
//!
//! # Nothing lost
//!
//! Every record offered is counted exactly once as exported, dropped or failed, by whoever
//! takes it out of the queue. Shutdown races producers that saw the queue open: the worker
//! drains, marks the queue `drained`, and drains again; a producer pushes, then checks
//! `drained`, and if set takes back what is left (counting it as dropped). A `SeqCst` fence on
//! both sides (the store-buffer pattern) guarantees that either the worker's second drain sees
//! the record or the producer sees the mark, so no record stays in the queue uncounted.
//!
//! # Back-pressure
//!
//! With [`Overflow::Wait`], admission waits, not the hand-off: the trace layer's `poll_ready`
//! asks [`Queue::poll_room`], which registers the task's waker when the queue is full; the
//! worker wakes the waiters whenever it takes records out. A call already admitted never
//! waits on completion: if the queue filled meanwhile, its record goes to a small overflow
//! list (locked only then) that the worker drains along with the queue. A thread outside
//! any async runtime that calls `record` directly has no `poll_ready` to wait in: it parks
//! until the worker makes room.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use futures_util::FutureExt;

use super::{Exporter, ExporterOptions, Overflow};
use crate::TraceRecord;
use crate::sink::exporters::Counters;

/// A request to the worker, answered on the sender once done.
pub(crate) enum Control {
    /// Deliver everything queued so far and flush the exporter.
    Flush(mpsc::Sender<()>),
    /// Like `Flush`, then stop.
    Shutdown(mpsc::Sender<()>),
}

/// What producers and the worker share.
pub(crate) struct Queue {
    /// The exporter's name, for logs.
    name: String,
    records: ArrayQueue<Arc<TraceRecord>>,
    /// [`Overflow::Wait`] only: records of admitted calls that found the queue full.
    overflow: Mutex<VecDeque<Arc<TraceRecord>>>,
    /// Length of `overflow`, read without its lock.
    overflow_len: AtomicUsize,
    /// Tasks waiting in `poll_room` for the queue to have room.
    waiters: Mutex<Vec<Waker>>,
    /// Exported records the worker held the last reference to, for producers to free: a
    /// record is allocated by a producer, and freeing it on the worker thread would make the
    /// two threads contend for the allocator (glibc's arena lock).
    spent: ArrayQueue<Arc<TraceRecord>>,
    controls: Mutex<Vec<Control>>,
    /// Set by shutdown: later records are refused, waits end, retries stop backing off.
    closed: AtomicBool,
    /// Set once the queue is no longer consumed (the worker's final drain, or abandonment at
    /// the shutdown deadline): whoever pushes afterwards takes back what is left.
    drained: AtomicBool,
    /// Set when shutdown gave up waiting: the worker stops at the next opportunity.
    abandoned: AtomicBool,
    /// Set by the worker as it exits: nobody will answer controls any more.
    finished: AtomicBool,
    /// Records of the batch being delivered, not yet counted; whoever swaps it to zero counts
    /// them (the worker as exported or failed, an abandoning shutdown as dropped).
    in_flight: AtomicU64,
    mode: Overflow,
    batch_size: usize,
    pub(crate) counters: Counters,
}

impl Queue {
    /// Queues a record, or counts it as dropped (full with [`Overflow::Drop`], or closed);
    /// wakes the worker when a batch is ready.
    pub(crate) fn push(&self, record: Arc<TraceRecord>, worker: &Thread) {
        // Free a couple of spent records: bounded work, in step with the records made.
        for _ in 0..2 {
            drop(self.spent.pop());
        }
        self.counters.offered.fetch_add(1, Ordering::Relaxed);
        let mut record = record;
        loop {
            if self.closed.load(Ordering::Acquire) {
                self.count_dropped(1);
                return;
            }
            match self.records.push(record) {
                Ok(()) => {
                    // Pairs with the fence in `mark_drained`: see the module docs.
                    fence(Ordering::SeqCst);
                    if self.drained.load(Ordering::Relaxed) {
                        self.reclaim();
                    } else if self.records.len() >= self.batch_size {
                        worker.unpark();
                    }
                    return;
                }
                Err(_) if self.mode != Overflow::Wait => {
                    self.count_dropped(1);
                    return;
                }
                Err(back) if tokio::runtime::Handle::try_current().is_ok() => {
                    self.push_overflow(back, worker);
                    return;
                }
                Err(back) => {
                    record = back;
                    self.wait_for_room(worker);
                }
            }
        }
    }

    /// [`Overflow::Wait`] on a runtime thread, which must not block: the call was admitted
    /// by `poll_room`, so its record is kept in the overflow list.
    fn push_overflow(&self, record: Arc<TraceRecord>, worker: &Thread) {
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        if self.drained.load(Ordering::Relaxed) {
            drop(overflow);
            self.count_dropped(1);
        } else {
            overflow.push_back(record);
            self.overflow_len.store(overflow.len(), Ordering::Relaxed);
            drop(overflow);
            worker.unpark();
        }
    }

    /// [`Overflow::Wait`] on a thread outside any async runtime, which may block: parks until
    /// the worker takes records out or shutdown begins.
    fn wait_for_room(&self, worker: &Thread) {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(waker);
        worker.unpark();
        // Registered under the lock the worker takes after making room: no lost wake-up.
        if self.records.is_full() && !self.closed.load(Ordering::Acquire) {
            std::thread::park();
        }
    }

    /// Ready when a record would be queued without overflowing (or would be dropped anyway);
    /// otherwise registers the task to be woken when the worker makes room.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>, worker: &Thread) -> Poll<()> {
        if self.mode != Overflow::Wait || self.has_room() {
            return Poll::Ready(());
        }
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(cx.waker().clone());
        worker.unpark();
        // The worker may have made room before the waker was registered.
        if self.has_room() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn has_room(&self) -> bool {
        self.closed.load(Ordering::Acquire)
            || (!self.records.is_full() && self.overflow_len.load(Ordering::Relaxed) == 0)
    }

    fn wake_waiters(&self) {
        if self.mode == Overflow::Wait {
            let waiters =
                std::mem::take(&mut *self.waiters.lock().unwrap_or_else(PoisonError::into_inner));
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// Counts `n` records as dropped; says so on the first drop and then at every power of
    /// ten, not on every record.
    fn count_dropped(&self, n: u64) {
        if n == 0 {
            return;
        }
        let before = self.counters.dropped.fetch_add(n, Ordering::Relaxed);
        if (before + 1..=before + n).any(is_power_of_ten) {
            let dropped = before + n;
            tracing::warn!(exporter = %self.name, dropped, "Export queue full or shut down; dropping traces.");
        }
    }

    /// Marks the queue drained and returns the overflow list. After this, a producer that
    /// pushes takes back what is left; the caller must drain the queue once more.
    fn mark_drained(&self) -> VecDeque<Arc<TraceRecord>> {
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        self.drained.store(true, Ordering::Relaxed);
        self.overflow_len.store(0, Ordering::Relaxed);
        let taken = std::mem::take(&mut *overflow);
        drop(overflow);
        // Pairs with the fence in `push`: see the module docs.
        fence(Ordering::SeqCst);
        taken
    }

    /// Takes every record left in the queue and counts it as dropped; returns how many.
    fn reclaim(&self) -> u64 {
        let mut count = self.mark_drained().len() as u64;
        while self.records.pop().is_some() {
            count += 1;
        }
        self.count_dropped(count);
        count
    }

    /// Gives up on the worker (shutdown deadline passed): what is queued or being delivered
    /// is counted as dropped, and the worker stops at its next step. Returns how many.
    pub(crate) fn abandon(&self) -> u64 {
        self.abandoned.store(true, Ordering::Release);
        let in_flight = self.in_flight.swap(0, Ordering::AcqRel);
        self.count_dropped(in_flight);
        in_flight + self.reclaim()
    }

    /// Hands `control` to the worker; false when the worker has exited.
    pub(crate) fn control(&self, control: Control, worker: &Thread) -> bool {
        let mut controls = self.controls.lock().unwrap_or_else(PoisonError::into_inner);
        if self.finished.load(Ordering::Acquire) {
            return false;
        }
        controls.push(control);
        drop(controls);
        worker.unpark();
        true
    }

    /// Refuses records from now on and ends every wait for room.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake_waiters();
    }

    fn take_controls(&self) -> Vec<Control> {
        std::mem::take(&mut *self.controls.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The next record: from the queue, else from the overflow list. None once abandoned:
    /// what is left belongs to the abandoning shutdown (or `Exit`) to count as dropped.
    fn pop(&self) -> Option<Arc<TraceRecord>> {
        if self.abandoned.load(Ordering::Acquire) {
            return None;
        }
        if let Some(record) = self.records.pop() {
            return Some(record);
        }
        if self.overflow_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        let record = overflow.pop_front();
        self.overflow_len.store(overflow.len(), Ordering::Relaxed);
        record
    }
}

/// Wakes a thread parked in `wait_for_room`.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Starts the worker thread of exporter `name`.
pub(crate) fn spawn(
    name: &str,
    exporter: Box<dyn Exporter>,
    options: ExporterOptions,
) -> std::io::Result<(Arc<Queue>, JoinHandle<()>)> {
    let queue = Arc::new(Queue {
        name: name.to_owned(),
        records: ArrayQueue::new(options.queue_size.max(1)),
        overflow: Mutex::default(),
        overflow_len: AtomicUsize::new(0),
        waiters: Mutex::default(),
        spent: ArrayQueue::new(options.queue_size.max(1)),
        controls: Mutex::default(),
        closed: AtomicBool::new(false),
        drained: AtomicBool::new(false),
        abandoned: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        in_flight: AtomicU64::new(0),
        mode: options.overflow,
        batch_size: options.batch_size.max(1),
        counters: Counters::default(),
    });
    // Exporters may await network I/O; a runtime of their own keeps that off the caller's
    // runtime and lets the worker finish its queue even after the caller's runtime is gone.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let worker = Worker {
        name: name.to_owned(),
        exporter,
        options,
        queue: queue.clone(),
        runtime,
        batch: Vec::with_capacity(options.batch_size),
        disabled: false,
    };
    let thread = std::thread::Builder::new()
        .name(format!("llmtrace-export-{name}"))
        .spawn(move || worker.run())?;
    Ok((queue, thread))
}

struct Worker {
    name: String,
    exporter: Box<dyn Exporter>,
    options: ExporterOptions,
    queue: Arc<Queue>,
    runtime: tokio::runtime::Runtime,
    batch: Vec<Arc<TraceRecord>>,
    /// Set when the exporter panicked: its state is unknown, so it is not called again.
    disabled: bool,
}

impl Worker {
    fn run(mut self) {
        let _exit = Exit(self.queue.clone());
        let interval = self.options.batch_interval;
        // When the oldest record of the current partial batch was taken from the queue.
        let mut oldest: Option<Instant> = None;
        let mut timed_out = false;
        loop {
            if self.queue.abandoned.load(Ordering::Acquire) {
                return;
            }
            let controls = self.queue.take_controls();
            while let Some(record) = self.queue.pop() {
                if self.batch.is_empty() {
                    oldest = Some(Instant::now());
                }
                self.batch.push(record);
                if self.batch.len() >= self.queue.batch_size {
                    self.deliver();
                    oldest = None;
                }
            }
            self.queue.wake_waiters();
            let due = timed_out || oldest.is_some_and(|t| t.elapsed() >= interval);
            if due || !controls.is_empty() {
                self.deliver();
                oldest = None;
            }
            for control in controls {
                match control {
                    Control::Flush(done) => {
                        self.flush();
                        let _ = done.send(());
                    }
                    Control::Shutdown(done) => {
                        self.final_drain();
                        self.flush();
                        let _ = done.send(());
                        return;
                    }
                }
            }
            let wait = oldest.map_or(interval, |t| interval.saturating_sub(t.elapsed()));
            let parked = Instant::now();
            std::thread::park_timeout(wait);
            timed_out = parked.elapsed() >= wait;
        }
    }

    /// Delivers what is queued, marks the queue drained, and delivers what producers that
    /// saw it open pushed meanwhile (see the module docs).
    fn final_drain(&mut self) {
        self.drain_and_deliver();
        self.batch.extend(self.queue.mark_drained());
        self.drain_and_deliver();
    }

    fn drain_and_deliver(&mut self) {
        while let Some(record) = self.queue.pop() {
            self.batch.push(record);
            if self.batch.len() >= self.queue.batch_size {
                self.deliver();
            }
        }
        self.deliver();
    }

    fn deliver(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.queue.wake_waiters();
        self.queue
            .in_flight
            .store(self.batch.len() as u64, Ordering::Release);
        if self.disabled {
            let count = self.queue.in_flight.swap(0, Ordering::AcqRel);
            self.queue
                .counters
                .fail(count, "the exporter is disabled after a panic".to_owned());
            self.release_batch();
            return;
        }
        let policy = self.options.retry;
        let mut retry = 0;
        loop {
            let outcome = self.call(|exporter, batch| exporter.export(batch));
            let retryable = matches!(&outcome, Some(Err(error)) if error.is_retryable());
            if retryable
                && retry < policy.max_retries
                && !self.queue.abandoned.load(Ordering::Acquire)
            {
                retry += 1;
                let backoff = policy.backoff(retry);
                if let Some(Err(error)) = &outcome {
                    tracing::warn!(
                        exporter = %self.name, %error, retry, backoff_ms = backoff.as_millis() as u64,
                        "Export failed; retrying."
                    );
                }
                self.queue.counters.retries.fetch_add(1, Ordering::Relaxed);
                self.back_off(backoff);
                continue;
            }
            let counters = &self.queue.counters;
            // Zero when an abandoning shutdown already counted the batch as dropped.
            let count = self.queue.in_flight.swap(0, Ordering::AcqRel);
            match outcome {
                Some(Ok(())) => {
                    counters.exported.fetch_add(count, Ordering::Relaxed);
                }
                Some(Err(error)) => {
                    tracing::error!(
                        exporter = %self.name, %error, records = count, retryable = error.is_retryable(),
                        "Export failed; giving up on this batch."
                    );
                    counters.fail(count, error.to_string());
                }
                None => {
                    counters.fail(count, "the exporter panicked".to_owned());
                }
            }
            break;
        }
        self.release_batch();
    }

    /// Waits `backoff` before a retry, or less once shutdown has begun: shutdown unparks the
    /// worker, and the remaining retries then follow each other without waiting.
    fn back_off(&self, backoff: Duration) {
        let until = Instant::now() + backoff;
        while !self.queue.closed.load(Ordering::Acquire) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::park_timeout(left);
        }
    }

    /// Empties the batch, handing records nobody else holds (the ring buffer already evicted
    /// them) to the producers to free.
    fn release_batch(&mut self) {
        for record in self.batch.drain(..) {
            if Arc::strong_count(&record) == 1 {
                let _ = self.queue.spent.push(record);
            }
        }
    }

    fn flush(&mut self) {
        if self.disabled {
            return;
        }
        if let Some(Err(error)) = self.call(|exporter, _| exporter.flush()) {
            tracing::error!(exporter = %self.name, %error, "Exporter flush failed.");
        }
    }

    /// Runs one exporter call to completion; `None` when it panicked (the exporter is then
    /// disabled: every later record counts as failed).
    fn call<T>(
        &mut self,
        f: impl for<'a> FnOnce(
            &'a mut Box<dyn Exporter>,
            &'a [Arc<TraceRecord>],
        ) -> futures_util::future::BoxFuture<'a, T>,
    ) -> Option<T> {
        let future = f(&mut self.exporter, &self.batch);
        let outcome = self
            .runtime
            .block_on(AssertUnwindSafe(future).catch_unwind());
        match outcome {
            Ok(value) => Some(value),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                tracing::error!(exporter = %self.name, panic = %message, "Exporter panicked; disabling it.");
                self.disabled = true;
                None
            }
        }
    }
}

/// Marks the queue finished when the worker exits, however it exits, answers the controls
/// nobody will handle (dropping their senders wakes whoever waits on them), counts what is
/// left in the queue as dropped and ends every wait for room.
struct Exit(Arc<Queue>);

impl Drop for Exit {
    fn drop(&mut self) {
        let mut controls = self
            .0
            .controls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.0.finished.store(true, Ordering::Release);
        self.0.closed.store(true, Ordering::Release);
        controls.clear();
        drop(controls);
        self.0.reclaim();
        self.0.wake_waiters();
    }
}
