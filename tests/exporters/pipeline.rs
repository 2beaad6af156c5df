//! Queues, batching, back-pressure, isolation and flushing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmtrace::exporter::{
    Exporter, ExporterError, ExporterOptions, ExporterSink, JsonlExporter, Overflow, async_trait,
};
use llmtrace::{Client, TraceRecord};

use crate::quick;
use crate::support::eventually;

/// Records every batch it is given, after `delay` each.
#[derive(Clone, Default)]
struct Collect {
    batches: Arc<Mutex<Vec<usize>>>,
    delay: Duration,
}

#[async_trait]
impl Exporter for Collect {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        std::thread::sleep(self.delay);
        self.batches.lock().unwrap().push(batch.len());
        Ok(())
    }
}

impl Collect {
    fn total(&self) -> usize {
        self.batches.lock().unwrap().iter().sum()
    }
}

struct AlwaysFails;

#[async_trait]
impl Exporter for AlwaysFails {
    async fn export(&mut self, _: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        Err(ExporterError::permanent("the disk is on fire"))
    }
}

struct Panics;

#[async_trait]
impl Exporter for Panics {
    async fn export(&mut self, _: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        panic!("exporter bug");
    }
}

fn client_with(exporters: Vec<(&str, Box<dyn Exporter>, ExporterOptions)>) -> Client {
    let mut sink = ExporterSink::builder();
    for (name, exporter, options) in exporters {
        sink = sink.exporter(name, exporter, options);
    }
    Client::builder().exporters(sink.build().unwrap()).build()
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking_generation() {
    let slow = Collect {
        delay: Duration::from_millis(50),
        ..Collect::default()
    };
    let options = quick().queue_size(2).batch_size(1);
    let client = client_with(vec![("slow", Box::new(slow.clone()), options)]);

    let started = Instant::now();
    for i in 0..50 {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    let elapsed = started.elapsed();
    client.shutdown().await;

    let stats = client.exporter_stats()[0].1.clone();
    assert!(
        elapsed < Duration::from_millis(40),
        "generation waited for the exporter: {elapsed:?}"
    );
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.exported + stats.dropped, 50, "{stats:?}");
    assert_eq!(slow.total() as u64, stats.exported);
}

#[tokio::test(flavor = "multi_thread")]
async fn overflow_wait_loses_nothing() {
    let slow = Collect {
        delay: Duration::from_millis(2),
        ..Collect::default()
    };
    let options = quick().queue_size(2).batch_size(1).overflow(Overflow::Wait);
    let client = client_with(vec![("slow", Box::new(slow.clone()), options)]);

    for i in 0..30 {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    client.shutdown().await;

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.dropped), (30, 0), "{stats:?}");
    assert_eq!(slow.total(), 30);
}

#[tokio::test]
async fn records_are_batched_by_size() {
    let collect = Collect::default();
    let options = quick()
        .batch_size(10)
        .batch_interval(Duration::from_secs(60));
    let client = client_with(vec![("c", Box::new(collect.clone()), options)]);

    for i in 0..25 {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    client.shutdown().await;

    assert_eq!(
        *collect.batches.lock().unwrap(),
        [10, 10, 5],
        "two full batches, the rest at shutdown"
    );
}

#[tokio::test]
async fn a_partial_batch_is_delivered_after_the_interval() {
    let collect = Collect::default();
    let options = quick()
        .batch_size(1000)
        .batch_interval(Duration::from_millis(30));
    let client = client_with(vec![("c", Box::new(collect.clone()), options)]);

    client.generate("Test").await.unwrap();

    // Neither a shutdown nor a full batch: only the interval can deliver it.
    eventually("the partial batch delivered", || collect.total() == 1).await;
    client.flush().await;
}

#[tokio::test]
async fn a_failing_or_panicking_exporter_fails_neither_generations_nor_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    let client = client_with(vec![
        ("broken", Box::new(AlwaysFails), quick()),
        ("buggy", Box::new(Panics), quick()),
        ("archive", Box::new(JsonlExporter::new(&path)), quick()),
    ]);

    for i in 0..20 {
        client.generate(format!("Test {i}")).await.unwrap();
        if i == 10 {
            // Every exporter has had a batch (the panicking one has panicked) before the rest.
            eventually("a first batch at every exporter", || {
                client
                    .exporter_stats()
                    .iter()
                    .all(|(_, stats)| stats.exported + stats.failed > 0)
            })
            .await;
        }
    }
    client.shutdown().await;

    let stats: std::collections::HashMap<_, _> = client.exporter_stats().into_iter().collect();
    assert_eq!(stats["archive"].exported, 20);
    assert_eq!(stats["broken"].failed, 20);
    assert_eq!(
        stats["buggy"].failed, 20,
        "a panicked exporter is disabled; its records count as failed"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 20);
}

#[tokio::test]
async fn dropping_the_last_client_handle_delivers_the_queues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    {
        let options = quick().batch_interval(Duration::from_secs(60));
        let client = client_with(vec![(
            "archive",
            Box::new(JsonlExporter::new(&path)),
            options,
        )]);
        let session = client.session();
        for i in 0..7 {
            session.generate(format!("Test {i}")).await.unwrap();
        }
    }

    // Drop does not wait: the worker delivers the queue on its own thread.
    let lines = || std::fs::read_to_string(&path).map_or(0, |text| text.lines().count());
    eventually("the queue delivered after the drop", || lines() >= 7).await;
    assert_eq!(lines(), 7);
}

#[tokio::test]
async fn shutdown_twice_is_fine_and_later_traces_are_counted_as_dropped() {
    let collect = Collect::default();
    let client = client_with(vec![("c", Box::new(collect.clone()), quick())]);
    client.generate("before").await.unwrap();

    client.shutdown().await;
    client.shutdown().await;
    let response = client.generate("after").await;

    assert!(response.is_ok(), "generation still works");
    assert_eq!(collect.total(), 1);
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.dropped), (1, 1));
}

/// Options as a user leaves them, but a queue small enough that a tight loop fills it at once.
fn default_overflow_small_queue() -> ExporterOptions {
    ExporterOptions::default().queue_size(4).batch_size(4)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_exporter_at_its_default_overflow_loses_nothing_under_a_tight_loop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    let exporter = JsonlExporter::new(&path);
    let client = client_with(vec![(
        "archive",
        Box::new(exporter),
        default_overflow_small_queue(),
    )]);

    const CALLS: u64 = 5_000;
    for i in 0..CALLS {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    client.shutdown().await;

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.dropped), (CALLS, 0), "{stats:?}");
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert_eq!(lines as u64, CALLS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_exporter_at_its_default_overflow_never_stalls_generation_when_its_server_is_down()
 {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/traces", listener.local_addr().unwrap())
    };
    let webhook =
        llmtrace::exporter::WebhookExporter::new(closed_port, Duration::from_secs(1)).unwrap();
    let client = client_with(vec![(
        "hook",
        Box::new(webhook),
        default_overflow_small_queue(),
    )]);

    // Each failed batch is retried with backoff (0.1 s, then 0.2 s, ...): were the calls
    // waiting for room in the queue, 200 of them would take seconds.
    let started = Instant::now();
    for i in 0..200 {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    let elapsed = started.elapsed();

    assert!(
        elapsed < Duration::from_millis(500),
        "generation waited on an exporter whose server is down: {elapsed:?}"
    );
    let stats = client.exporter_stats()[0].1.clone();
    assert!(stats.dropped > 0, "{stats:?}");
    // Dropping the client starts the shutdown without waiting for the retries.
}
