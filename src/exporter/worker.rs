//! The thread behind each exporter: drains its queue, batches, retries.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Instant;

use futures_util::FutureExt;

use super::sink::Counters;
use super::{ExportOptions, Exporter};
use crate::TraceRecord;

/// What travels down an exporter's queue.
pub(crate) enum Message {
    Record(Arc<TraceRecord>),
    /// Deliver everything queued so far, flush the exporter, then answer.
    Flush(mpsc::Sender<()>),
    /// Like `Flush`, then stop.
    Shutdown(mpsc::Sender<()>),
}

/// Starts the worker thread of exporter `name`; returns its queue and thread.
pub(crate) fn spawn(
    name: &str,
    exporter: Box<dyn Exporter>,
    options: ExportOptions,
    counters: Arc<Counters>,
) -> std::io::Result<(SyncSender<Message>, JoinHandle<()>)> {
    let (queue, receiver) = mpsc::sync_channel(options.queue_size.max(1));
    // Exporters may await network I/O; a runtime of their own keeps that off the caller's
    // runtime and lets the worker finish its queue even after the caller's runtime is gone.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let worker = Worker {
        name: name.to_owned(),
        exporter,
        options,
        counters,
        runtime,
        batch: Vec::with_capacity(options.batch_size),
        disabled: false,
    };
    let thread = std::thread::Builder::new()
        .name(format!("llmtrace-export-{name}"))
        .spawn(move || worker.run(receiver))?;
    Ok((queue, thread))
}

struct Worker {
    name: String,
    exporter: Box<dyn Exporter>,
    options: ExportOptions,
    counters: Arc<Counters>,
    runtime: tokio::runtime::Runtime,
    batch: Vec<Arc<TraceRecord>>,
    /// Set when the exporter panicked: its state is unknown, so it is not called again.
    disabled: bool,
}

impl Worker {
    fn run(mut self, queue: Receiver<Message>) {
        // When the oldest record of the current batch must be delivered.
        let mut deadline: Option<Instant> = None;
        loop {
            let message = match deadline {
                Some(deadline) => {
                    match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(message) => Some(message),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                None => match queue.recv() {
                    Ok(message) => Some(message),
                    Err(_) => break,
                },
            };
            match message {
                None => {
                    self.deliver();
                    deadline = None;
                }
                Some(Message::Record(record)) => {
                    if self.batch.is_empty() {
                        deadline = Some(Instant::now() + self.options.batch_interval);
                    }
                    if self.push(record) {
                        deadline = None;
                    }
                }
                Some(Message::Flush(done)) => {
                    self.deliver();
                    self.flush();
                    deadline = None;
                    let _ = done.send(());
                }
                Some(Message::Shutdown(done)) => {
                    self.drain(&queue);
                    let _ = done.send(());
                    return;
                }
            }
        }
        // Every handle is gone: deliver what is left.
        self.drain(&queue);
    }

    /// Adds a record; delivers the batch when full. Returns whether it delivered.
    fn push(&mut self, record: Arc<TraceRecord>) -> bool {
        self.batch.push(record);
        let full = self.batch.len() >= self.options.batch_size.max(1);
        if full {
            self.deliver();
        }
        full
    }

    /// Delivers everything still queued, then flushes.
    fn drain(&mut self, queue: &Receiver<Message>) {
        while let Ok(message) = queue.try_recv() {
            match message {
                Message::Record(record) => {
                    self.push(record);
                }
                Message::Flush(done) | Message::Shutdown(done) => {
                    let _ = done.send(());
                }
            }
        }
        self.deliver();
        self.flush();
    }

    fn deliver(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let count = self.batch.len() as u64;
        if self.disabled {
            self.counters.failed.fetch_add(count, Ordering::Relaxed);
            self.batch.clear();
            return;
        }
        let policy = self.options.retry;
        let mut retry = 0;
        loop {
            let outcome = self.call(|exporter, batch| exporter.export(batch));
            match outcome {
                Some(Ok(())) => {
                    self.counters.exported.fetch_add(count, Ordering::Relaxed);
                    break;
                }
                Some(Err(error)) if error.is_retryable() && retry < policy.max_retries => {
                    retry += 1;
                    let backoff = policy.backoff(retry);
                    tracing::warn!(
                        exporter = %self.name, %error, retry, backoff_ms = backoff.as_millis() as u64,
                        "Export failed; retrying."
                    );
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(backoff);
                }
                Some(Err(error)) => {
                    tracing::error!(
                        exporter = %self.name, %error, records = count, retryable = error.is_retryable(),
                        "Export failed; giving up on this batch."
                    );
                    self.counters.failed.fetch_add(count, Ordering::Relaxed);
                    break;
                }
                None => {
                    self.counters.failed.fetch_add(count, Ordering::Relaxed);
                    break;
                }
            }
        }
        self.batch.clear();
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
