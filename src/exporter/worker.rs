//! The thread behind each exporter: drains its queue, batches, retries.
//!
//! Producers (the request path) push records into a lock-free bounded queue and wake the
//! worker only when a batch is full, so recording a trace costs no system call. The worker
//! otherwise sleeps until the batch interval runs out.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use futures_util::FutureExt;

use super::sink::Counters;
use super::{ExportOptions, Exporter, Overflow};
use crate::TraceRecord;

/// A request to the worker, answered on the sender once done.
pub(crate) enum Control {
    /// Deliver everything queued so far and flush the exporter.
    Flush(mpsc::Sender<()>),
    /// Like `Flush`, then stop.
    Shutdown(mpsc::Sender<()>),
}

/// What producers and the worker share.
pub(crate) struct Queue {
    records: ArrayQueue<Arc<TraceRecord>>,
    /// Exported records the worker held the last reference to, for producers to free: a
    /// record is allocated by a producer, and freeing it on the worker thread would make the
    /// two threads contend for the allocator (glibc's arena lock).
    spent: ArrayQueue<Arc<TraceRecord>>,
    controls: Mutex<Vec<Control>>,
    /// Set by shutdown: later records are refused.
    closed: AtomicBool,
    /// Set by the worker as it exits: nobody will answer controls any more.
    finished: AtomicBool,
    batch_size: usize,
    pub(crate) counters: Counters,
}

impl Queue {
    /// Queues a record; wakes the worker when a batch is ready. False when the record could
    /// not be queued (full with [`Overflow::Drop`], or closed).
    pub(crate) fn push(
        &self,
        record: Arc<TraceRecord>,
        overflow: Overflow,
        worker: &Thread,
    ) -> bool {
        // Free a couple of spent records: bounded work, in step with the records made.
        for _ in 0..2 {
            drop(self.spent.pop());
        }
        let mut record = record;
        loop {
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            match self.records.push(record) {
                Ok(()) => {
                    if self.records.len() >= self.batch_size {
                        worker.unpark();
                    }
                    return true;
                }
                Err(_) if overflow == Overflow::Drop => return false,
                Err(back) => {
                    // Overflow::Wait: hurry the worker and try again shortly.
                    record = back;
                    worker.unpark();
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
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

    /// Refuses records from now on.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn take_controls(&self) -> Vec<Control> {
        std::mem::take(&mut *self.controls.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Starts the worker thread of exporter `name`.
pub(crate) fn spawn(
    name: &str,
    exporter: Box<dyn Exporter>,
    options: ExportOptions,
) -> std::io::Result<(Arc<Queue>, JoinHandle<()>)> {
    let queue = Arc::new(Queue {
        records: ArrayQueue::new(options.queue_size.max(1)),
        spent: ArrayQueue::new(options.queue_size.max(1)),
        controls: Mutex::default(),
        closed: AtomicBool::new(false),
        finished: AtomicBool::new(false),
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
    options: ExportOptions,
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
            let controls = self.queue.take_controls();
            while let Some(record) = self.queue.records.pop() {
                if self.batch.is_empty() {
                    oldest = Some(Instant::now());
                }
                self.batch.push(record);
                if self.batch.len() >= self.queue.batch_size {
                    self.deliver();
                    oldest = None;
                }
            }
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
                        // A producer that saw the queue open just before it closed may have
                        // pushed since the drain above.
                        while let Some(record) = self.queue.records.pop() {
                            self.batch.push(record);
                            if self.batch.len() >= self.queue.batch_size {
                                self.deliver();
                            }
                        }
                        self.deliver();
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

    fn deliver(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let count = self.batch.len() as u64;
        let counters = &self.queue.counters;
        if self.disabled {
            counters.fail(count, "the exporter is disabled after a panic".to_owned());
            self.release_batch();
            return;
        }
        let policy = self.options.retry;
        let mut retry = 0;
        loop {
            let outcome = self.call(|exporter, batch| exporter.export(batch));
            let counters = &self.queue.counters;
            match outcome {
                Some(Ok(())) => {
                    counters.exported.fetch_add(count, Ordering::Relaxed);
                    break;
                }
                Some(Err(error)) if error.is_retryable() && retry < policy.max_retries => {
                    retry += 1;
                    let backoff = policy.backoff(retry);
                    tracing::warn!(
                        exporter = %self.name, %error, retry, backoff_ms = backoff.as_millis() as u64,
                        "Export failed; retrying."
                    );
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(backoff);
                }
                Some(Err(error)) => {
                    tracing::error!(
                        exporter = %self.name, %error, records = count, retryable = error.is_retryable(),
                        "Export failed; giving up on this batch."
                    );
                    counters.fail(count, error.to_string());
                    break;
                }
                None => {
                    counters.fail(count, "the exporter panicked".to_owned());
                    break;
                }
            }
        }
        self.release_batch();
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

/// Marks the queue finished when the worker exits, however it exits, and answers the
/// controls nobody will handle (dropping their senders wakes whoever waits on them).
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
    }
}
