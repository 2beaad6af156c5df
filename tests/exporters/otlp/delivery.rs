//! How delivery survives the collector: retried while it fails or is down, never in the way of
//! a generation, and given up at once on what retrying cannot fix.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use llmtrace::exporter::OtlpOptions;

use super::{exporting, fast_export};
use crate::support::collector::{Collector, Reply, free_addr};
use crate::support::eventually;

/// A generation must not wait for the collector: a generous bound for a loaded 2-core CI
/// machine, still orders of magnitude below the collector delays used here.
const GENERATION_BUDGET: Duration = Duration::from_millis(50);

/// The trace ids of the accepted spans, each once; fails on duplicates.
fn unique_trace_ids(collector: &Collector) -> BTreeSet<Vec<u8>> {
    let spans = collector.spans();
    let ids: BTreeSet<Vec<u8>> = spans.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(ids.len(), spans.len(), "a span arrived twice");
    ids
}

fn trace_ids(client: &llmtrace::Client) -> BTreeSet<Vec<u8>> {
    client
        .get_traces(llmtrace::sink::TraceQuery::all())
        .iter()
        .map(|r| r.trace_id.as_bytes().to_vec())
        .collect()
}

#[tokio::test]
async fn a_collector_answering_503_twice_receives_every_span_once() {
    let collector = Collector::scripted([Reply::Status(503), Reply::Status(503)]).await;
    let client = exporting(OtlpOptions::new(collector.endpoint()), fast_export()).build();

    for prompt in ["one", "two", "three"] {
        client.generate(prompt).await.unwrap();
    }
    client.shutdown().await;

    assert_eq!(unique_trace_ids(&collector), trace_ids(&client));
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!(stats.exported, 3);
    assert_eq!(stats.failed, 0);
    assert!(stats.retries >= 2, "{stats:?}");
    let refused = collector.received().iter().filter(|r| !r.accepted).count();
    assert_eq!(refused, 2);
}

#[tokio::test]
async fn a_down_collector_costs_nothing_and_gets_the_traces_when_it_comes_up() {
    let addr = free_addr().await;
    let client = exporting(OtlpOptions::new(format!("http://{addr}")), fast_export()).build();

    for prompt in ["one", "two", "three"] {
        let started = Instant::now();
        client.generate(prompt).await.unwrap();
        assert!(
            started.elapsed() < GENERATION_BUDGET,
            "{:?}",
            started.elapsed()
        );
    }
    // The exporter fails against nothing a few times before the collector comes up.
    eventually("retries against the down collector", || {
        client.exporter_stats()[0].1.retries >= 2
    })
    .await;
    let collector = Collector::accepting_on(addr).await;
    client.shutdown().await;

    assert_eq!(unique_trace_ids(&collector), trace_ids(&client));
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.failed, stats.dropped), (3, 0, 0));
}

#[tokio::test]
async fn a_slow_collector_costs_the_generation_nothing() {
    let collector = Collector::slow(Duration::from_millis(300)).await;
    let client = exporting(OtlpOptions::new(collector.endpoint()), fast_export()).build();

    client.generate("warm up").await.unwrap();
    // The first batch reaches the collector, which takes its time to answer.
    eventually("the first batch at the collector", || {
        collector.arrived() == 1
    })
    .await;
    for prompt in ["one", "two"] {
        let started = Instant::now();
        client.generate(prompt).await.unwrap();
        assert!(
            started.elapsed() < GENERATION_BUDGET,
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(collector.answered(), 0, "the export was still pending");
    client.shutdown().await;

    assert_eq!(unique_trace_ids(&collector), trace_ids(&client));
    assert_eq!(client.exporter_stats()[0].1.exported, 3);
}

#[tokio::test]
async fn a_400_is_permanent_and_counted_as_failed() {
    let collector = Collector::always(Reply::Status(400)).await;
    let client = exporting(OtlpOptions::new(collector.endpoint()), fast_export()).build();

    client.generate("one").await.unwrap();
    client.shutdown().await;

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.failed, stats.retries), (0, 1, 0));
    assert_eq!(collector.received().len(), 1, "sent once, never retried");
}

#[tokio::test]
async fn a_500_is_not_retried_as_the_otlp_specification_says() {
    let collector = Collector::always(Reply::Status(500)).await;
    let client = exporting(OtlpOptions::new(collector.endpoint()), fast_export()).build();

    client.generate("one").await.unwrap();
    client.shutdown().await;

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.failed, stats.retries), (1, 0));
}

#[tokio::test]
async fn a_partial_success_is_delivered_and_not_retried() {
    let collector = Collector::scripted([Reply::PartialSuccess { rejected: 1 }]).await;
    let client = exporting(OtlpOptions::new(collector.endpoint()), fast_export()).build();

    client.generate("one").await.unwrap();
    client.shutdown().await;

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.failed, stats.retries), (1, 0, 0));
    assert_eq!(collector.received().len(), 1);
}
