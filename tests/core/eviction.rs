//! The store's eviction policy: count, bytes and age bounds, their counters, and the same
//! bounds on a session's own trace list.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use llmtrace::sink::{Clock, EvictionPolicy, ManualClock, StoreStats, TraceStore, estimated_size};
use llmtrace::{TraceQuery, TraceRecord};
use uuid::Uuid;

use crate::support::stub;

const MIB: usize = 1 << 20;

/// A record of a call that started `ago` before now.
fn record_from(ago: Duration) -> Arc<TraceRecord> {
    record_at(Utc::now() - TimeDelta::from_std(ago).unwrap())
}

/// A record of a call that started at `timestamp`.
fn record_at(timestamp: DateTime<Utc>) -> Arc<TraceRecord> {
    let json = format!(
        r#"{{"trace_id":"{}","timestamp":"{}","provider":"echo","model":"echo-1","prompt":"p"}}"#,
        Uuid::new_v4(),
        timestamp.to_rfc3339()
    );
    Arc::new(serde_json::from_str(&json).unwrap())
}

#[test]
fn max_traces_evicts_the_oldest_and_counts_them() {
    let store = TraceStore::with_policy(EvictionPolicy::new(2));
    let records: Vec<_> = (0..5).map(|_| record_from(Duration::ZERO)).collect();
    for record in &records {
        store.push(record.clone());
    }

    assert!(store.get(&records[2].trace_id).is_none());
    assert!(store.get(&records[3].trace_id).is_some());
    let stats = store.stats();
    assert_eq!(stats.held, 2);
    assert_eq!(stats.evicted_by_count, 3);
    assert_eq!((stats.evicted_by_bytes, stats.evicted_by_age), (0, 0));
    let sizes: u64 = records[3..].iter().map(|r| estimated_size(r)).sum();
    assert_eq!(stats.bytes, sizes);
}

#[test]
fn the_estimated_size_counts_the_strings_a_record_holds() {
    let small = record_from(Duration::ZERO);
    let mut large = (*small).clone();
    large.prompt = "x".repeat(MIB);
    large
        .metadata
        .insert("note".into(), "y".repeat(1000).into());

    let grown = estimated_size(&large) - estimated_size(&small);
    assert!(
        (MIB as u64 + 1000..MIB as u64 + 1200).contains(&grown),
        "{grown}"
    );
}

#[tokio::test]
async fn max_bytes_keeps_the_store_under_its_bound_under_a_burst_of_1_mib_prompts() {
    let bound = 8 * MIB as u64;
    let client = stub().max_traces(1000).max_bytes(bound).build();
    let prompt = "p".repeat(MIB);

    let mut last = None;
    for _ in 0..40 {
        let response = client.generate(prompt.as_str()).await.unwrap();
        let stats = client.store().stats();
        assert!(stats.bytes <= bound, "{stats:?}");
        last = response.trace_id();
    }

    let stats = client.store().stats();
    let held = client.get_traces(TraceQuery::all());
    // Each trace holds the prompt and its echo: 2 MiB and a little.
    assert_eq!(held.len(), 3, "{stats:?}");
    assert_eq!(stats.held, 3);
    assert_eq!(stats.evicted_by_bytes, 37);
    assert_eq!(stats.evicted_by_count, 0);
    let held_bytes: u64 = held.iter().map(|r| estimated_size(r)).sum();
    assert_eq!(stats.bytes, held_bytes);
    assert!(held_bytes >= 3 * 2 * MIB as u64);
    assert_eq!(held.last().unwrap().trace_id, last.unwrap());
}

#[test]
fn a_record_larger_than_max_bytes_is_not_kept_and_the_store_keeps_the_others() {
    let store = TraceStore::with_policy(EvictionPolicy::new(10).max_bytes(64 * 1024));
    let kept = record_from(Duration::ZERO);
    store.push(kept.clone());
    let mut huge = (*record_from(Duration::ZERO)).clone();
    huge.prompt = "x".repeat(MIB);
    let huge = Arc::new(huge);

    store.push(huge.clone());

    assert!(store.get(&huge.trace_id).is_none());
    assert!(store.get(&kept.trace_id).is_some());
    assert_eq!(store.stats().evicted_by_bytes, 1);
}

#[test]
fn max_age_drops_old_records_on_read_and_on_append() {
    let clock = ManualClock::new(Utc::now());
    let policy = EvictionPolicy::new(10).max_age(Duration::from_secs(3600));
    let store = TraceStore::with_clock(policy, Arc::new(clock.clone()));
    let older = record_at(clock.now() - TimeDelta::minutes(30));
    let newer = record_at(clock.now());
    store.push(older.clone());
    store.push(newer.clone());
    clock.advance(Duration::from_secs(31 * 60));

    // Read: `older` is now over an hour old, `newer` is not.
    assert!(store.get(&older.trace_id).is_none());
    assert!(store.get(&newer.trace_id).is_some());
    assert_eq!(store.stats().evicted_by_age, 1);

    // Append: `newer` ages out when the next record arrives.
    clock.advance(Duration::from_secs(3600));
    let latest = record_at(clock.now());
    store.push(latest.clone());
    let stats = store.stats();
    assert_eq!((stats.held, stats.evicted_by_age), (1, 2));
    assert_eq!(store.all()[0].trace_id, latest.trace_id);
    assert_eq!(stats.bytes, estimated_size(&latest));
}

#[tokio::test]
async fn a_client_with_max_age_stops_returning_traces_once_they_are_older() {
    let clock = ManualClock::new(Utc::now());
    let client = stub()
        .max_age(Duration::from_secs(3600))
        .clock(clock.clone())
        .build();
    let session = client.session();
    let id = session.generate("hi").await.unwrap().trace_id().unwrap();
    assert!(client.get_trace(&id).is_some());

    clock.advance(Duration::from_secs(3601));

    assert!(client.get_trace(&id).is_none());
    assert!(client.get_traces(TraceQuery::all()).is_empty());
    assert_eq!(client.store().stats().evicted_by_age, 1);
    assert!(session.traces().is_empty());
}

#[test]
fn an_expired_trace_behind_a_younger_one_is_never_returned() {
    // Calls that overlap finish out of order: an old call's record can land after a young one.
    let store = TraceStore::with_policy(EvictionPolicy::new(10).max_age(Duration::from_secs(60)));
    let young = record_from(Duration::from_secs(1));
    store.push(young.clone());
    let old = record_from(Duration::from_secs(50));
    store.push(old.clone());
    let clock_moved = record_from(Duration::from_secs(120));
    store.push(clock_moved.clone());

    assert!(store.get(&clock_moved.trace_id).is_none());
    assert_eq!(store.stats().evicted_by_age, 1);
    assert_eq!(store.all().len(), 2);
    assert_eq!(store.last(5).len(), 2);
}

#[test]
fn stats_start_at_zero_and_clear_is_not_an_eviction() {
    let store = TraceStore::with_policy(EvictionPolicy::new(1));
    assert_eq!(store.stats(), StoreStats::default());
    store.push(record_from(Duration::ZERO));
    store.push(record_from(Duration::ZERO));

    store.clear();

    let stats = store.stats();
    assert_eq!((stats.held, stats.bytes, stats.evicted_by_count), (0, 0, 1));
}

#[tokio::test]
async fn a_long_lived_session_keeps_its_last_traces_under_its_policy() {
    let client = stub()
        .max_traces(2)
        .session_eviction(EvictionPolicy::new(3))
        .build();
    let session = client.session();

    for i in 0..10 {
        session.generate(format!("turn {i}")).await.unwrap();
    }

    let prompts: Vec<_> = session.traces().iter().map(|t| t.prompt.clone()).collect();
    assert_eq!(prompts, ["turn 7", "turn 8", "turn 9"]);
    assert_eq!(session.trace_store().stats().evicted_by_count, 7);
    assert_eq!(client.get_traces(TraceQuery::all()).len(), 2);
}

#[tokio::test]
async fn by_default_a_session_takes_the_clients_byte_bound_and_outlives_its_count() {
    let bound = 5 * MIB as u64;
    let client = stub().max_traces(1).max_bytes(bound).build();
    let session = client.session();
    let prompt = "p".repeat(MIB);

    for _ in 0..10 {
        session.generate(prompt.as_str()).await.unwrap();
    }

    let policy = session.trace_store().policy();
    assert_eq!(policy.max_bytes, Some(bound));
    assert_eq!(policy.max_traces, llmtrace::client::SESSION_MAX_TRACES);
    let stats = session.trace_store().stats();
    // Turn n carries the history, 2n MiB more: turn 1 (4 MiB) evicts turn 0, and turns 2..9
    // are over the bound on their own, so not kept.
    assert!(stats.bytes <= bound, "{stats:?}");
    assert_eq!((stats.held, stats.evicted_by_bytes), (1, 9), "{stats:?}");
    assert_eq!(session.traces()[0].messages.len(), 2);
}
