//! Nothing lost: every record offered to an exporter is exported, dropped or failed, and
//! counted; back-pressure waits without blocking the runtime; shutdown and drop are bounded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use llmtrace::exporter::{
    Exporter, ExporterError, ExporterOptions, ExporterSink, ExporterStats, Overflow, async_trait,
};
use llmtrace::sink::RecordSink;
use llmtrace::{Client, TraceRecord};

use crate::quick;
use crate::support::eventually;

/// Counts the records it exports.
#[derive(Clone, Default)]
struct Count(Arc<AtomicU64>);

#[async_trait]
impl Exporter for Count {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Blocks in `export` until the test opens the gate (or 10 s pass), after saying it entered.
#[derive(Clone)]
struct Gated {
    entered: Arc<AtomicU64>,
    exported: Arc<AtomicU64>,
    gate: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Gated {
    fn new() -> (Self, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        let gated = Self {
            entered: Arc::default(),
            exported: Arc::default(),
            gate: Arc::new(Mutex::new(gate)),
        };
        (gated, open)
    }
}

/// A sink whose only exporter is gated, with room for one record and `overflow = "wait"`:
/// the second record in flight makes callers wait.
fn one_slot_waiting_sink(options: ExporterOptions) -> (Gated, mpsc::Sender<()>, ExporterSink) {
    let (gated, open) = Gated::new();
    let options = options.queue_size(1).batch_size(1).overflow(Overflow::Wait);
    let sink = ExporterSink::builder()
        .exporter("gated", gated.clone(), options)
        .build()
        .unwrap();
    (gated, open, sink)
}

#[async_trait]
impl Exporter for Gated {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let _ = self
            .gate
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        self.exported
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

/// Fails every attempt with a retryable error, counting attempts.
#[derive(Clone, Default)]
struct Flaky(Arc<AtomicU64>);

#[async_trait]
impl Exporter for Flaky {
    async fn export(&mut self, _: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(ExporterError::retryable("connection refused"))
    }
}

fn record() -> Arc<TraceRecord> {
    Arc::new(TraceRecord {
        trace_id: uuid::Uuid::new_v4(),
        timestamp: chrono::Utc::now(),
        provider: "echo".into(),
        model: "echo-1".into(),
        server_address: None,
        server_port: None,
        stream: false,
        system_prompt: None,
        prompt: "x".into(),
        messages: Vec::new(),
        tools: Vec::new(),
        parameters: Default::default(),
        response: None,
        cost_usd: None,
        error: None,
        metadata: Default::default(),
        redactions: 0,
    })
}

/// Polls `condition` every millisecond until it holds; panics after 10 s. For the plain
/// `#[test]`s, which have no runtime to yield to (async tests use `support::eventually`).
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn accounted(stats: &ExporterStats) -> u64 {
    stats.exported + stats.dropped + stats.failed
}

#[test]
fn producers_racing_shutdown_lose_no_record() {
    const ROUNDS: usize = 100;
    const PRODUCERS: usize = 8;
    let started = Instant::now();
    let mut total = 0;
    for round in 0..ROUNDS {
        let count = Count::default();
        // Roomy, so that records are queued, not refused, until shutdown.
        let options = quick().queue_size(4096).batch_size(64);
        let sink = ExporterSink::builder()
            .exporter("race", count.clone(), options)
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let pushed = Arc::new(AtomicU64::new(0));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let (sink, stop, pushed) = (sink.clone(), stop.clone(), pushed.clone());
                std::thread::spawn(move || {
                    let record = record();
                    while !stop.load(Ordering::Relaxed) {
                        sink.record(&record);
                        pushed.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Shut down while every producer is pushing, and keep them pushing until after.
        wait_until("the producers are pushing", || {
            pushed.load(Ordering::Relaxed) >= 1000
        });
        sink.shutdown_blocking();
        stop.store(true, Ordering::Relaxed);
        for producer in producers {
            producer.join().unwrap();
        }
        let offered = pushed.load(Ordering::Relaxed);
        total += offered;

        let stats = sink.stats()[0].1.clone();
        assert_eq!(stats.offered, offered, "round {round}: {stats:?}");
        assert_eq!(accounted(&stats), offered, "round {round}: {stats:?}");
        assert_eq!(
            stats.exported,
            count.0.load(Ordering::Relaxed),
            "round {round}"
        );
    }
    eprintln!(
        "{ROUNDS} rounds x {PRODUCERS} producers: {total} records in {:?}",
        started.elapsed()
    );
}

#[test]
fn overflow_wait_keeps_the_runtime_running_while_a_caller_waits() {
    let (gated, open, sink) = one_slot_waiting_sink(quick());
    let client = Client::builder().exporters(sink).build();
    // If a waiting caller blocked the only thread, the ticker below could not run until the
    // gate's 10 s fallback opened, and the waiting call would have finished by then.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The first record is taken by the worker, which then blocks in the exporter.
        client.generate("first").await.unwrap();
        wait_until("the exporter is busy", || {
            gated.entered.load(Ordering::SeqCst) == 1
        });
        // The second fills the queue; the third must wait for room.
        client.generate("second").await.unwrap();
        let waiting = tokio::spawn({
            let client = client.clone();
            async move { client.generate("third").await.unwrap() }
        });
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                for _ in 0..20 {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            }
        });
        ticker.await.unwrap();
        assert_eq!(ticks.load(Ordering::SeqCst), 20);
        assert!(
            !waiting.is_finished(),
            "the third call waits while the queue is full"
        );

        // Room is made: the waiting call completes, nothing is dropped.
        open.send(()).unwrap();
        open.send(()).unwrap();
        open.send(()).unwrap();
        waiting.await.unwrap();
        client.shutdown().await;
        let stats = client.exporter_stats()[0].1.clone();
        assert_eq!((stats.offered, stats.exported, stats.dropped), (3, 3, 0));
    });
}

#[tokio::test(flavor = "current_thread")]
async fn a_waiting_caller_is_released_by_shutdown_and_its_record_counted_as_dropped() {
    let (gated, open, sink) =
        one_slot_waiting_sink(quick().shutdown_timeout(Duration::from_millis(100)));
    let client = Client::builder().exporters(sink).build();
    client.generate("first").await.unwrap();
    eventually("the exporter is busy", || {
        gated.entered.load(Ordering::SeqCst) == 1
    })
    .await;
    client.generate("second").await.unwrap();
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.generate("third").await.unwrap() }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());

    client.shutdown().await;
    waiting.await.unwrap();
    drop(open);

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!(stats.offered, 3, "{stats:?}");
    assert_eq!(accounted(&stats), 3, "{stats:?}");
    assert_eq!(stats.dropped, 3, "in flight, queued and refused: {stats:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_last_handle_does_not_wait_for_a_busy_exporter() {
    let (gated, open) = Gated::new();
    let options = quick().batch_size(1);
    let sink = ExporterSink::builder()
        .exporter("gated", gated.clone(), options)
        .build()
        .unwrap();
    let client = Client::builder().exporters(sink).build();
    client.generate("busy").await.unwrap();
    client.generate("queued").await.unwrap();
    eventually("the exporter is busy", || {
        gated.entered.load(Ordering::SeqCst) == 1
    })
    .await;

    let started = Instant::now();
    drop(client);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "drop took {took:?}");

    // The worker still delivers everything on its own thread.
    open.send(()).unwrap();
    open.send(()).unwrap();
    eventually("both records are exported", || {
        gated.exported.load(Ordering::SeqCst) == 2
    })
    .await;
}

#[tokio::test]
async fn shutdown_gives_up_at_its_deadline_and_counts_what_is_left_as_dropped() {
    let (gated, _open) = Gated::new();
    let options = quick()
        .batch_size(1)
        .shutdown_timeout(Duration::from_millis(200));
    let sink = ExporterSink::builder()
        .exporter("stuck", gated.clone(), options)
        .build()
        .unwrap();
    let client = Client::builder().exporters(sink).build();
    for i in 0..5 {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    eventually("the exporter is busy", || {
        gated.entered.load(Ordering::SeqCst) == 1
    })
    .await;

    let started = Instant::now();
    client.shutdown().await;
    let took = started.elapsed();

    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "shutdown took {took:?}"
    );
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.offered, stats.dropped), (5, 5), "{stats:?}");
    assert_eq!(accounted(&stats), 5);
}

#[tokio::test]
async fn retry_backoff_stops_waiting_when_shutdown_begins() {
    let flaky = Flaky::default();
    let mut options = quick().batch_size(1);
    options.retry.max_retries = 3;
    options.retry.initial_backoff = Duration::from_secs(30);
    options.retry.max_backoff = Duration::from_secs(30);
    let sink = ExporterSink::builder()
        .exporter("flaky", flaky.clone(), options)
        .build()
        .unwrap();
    let client = Client::builder().exporters(sink).build();
    client.generate("doomed").await.unwrap();
    eventually("the first attempt failed", || {
        flaky.0.load(Ordering::SeqCst) == 1
    })
    .await;

    let started = Instant::now();
    client.shutdown().await;
    let took = started.elapsed();

    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.failed, stats.retries), (1, 3), "{stats:?}");
    assert_eq!(flaky.0.load(Ordering::SeqCst), 4);
}

#[test]
fn overflow_wait_parks_a_thread_outside_any_runtime_until_there_is_room() {
    let (gated, open, sink) = one_slot_waiting_sink(quick());
    let pushed = Arc::new(AtomicU64::new(0));
    let producer = std::thread::spawn({
        let (sink, pushed) = (sink.clone(), pushed.clone());
        move || {
            for _ in 0..3 {
                sink.record(&record());
                pushed.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    wait_until("the exporter is busy and the queue full", || {
        gated.entered.load(Ordering::SeqCst) == 1 && pushed.load(Ordering::SeqCst) == 2
    });
    for _ in 0..3 {
        open.send(()).unwrap();
    }
    producer.join().unwrap();
    sink.shutdown_blocking();

    let stats = sink.stats()[0].1.clone();
    assert_eq!((stats.offered, stats.exported, stats.dropped), (3, 3, 0));
}
