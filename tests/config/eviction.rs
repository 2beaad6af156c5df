//! `[tracing]` eviction bounds (`max_traces`, `max_bytes`, `max_age_ms`) from a file alone.

use std::sync::Arc;
use std::time::Duration;

use figment::Jail;
use llmtrace::sink::EvictionPolicy;
use llmtrace::{Client, TraceQuery, TraceRecord};

use crate::{issue, load};

const MIB: u64 = 1 << 20;

/// The client `toml` describes, loaded the way an application does (inside a jail).
fn client(toml: &str) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, toml).unwrap();
    let mut built = None;
    Jail::expect_with(|_| {
        built = Some(Client::from_config(&path).unwrap());
        Ok(())
    });
    built.unwrap()
}

#[tokio::test]
async fn max_traces_from_a_file_evicts_by_count() {
    let client = client("[tracing]\nmax_traces = 2\n");

    for i in 0..5 {
        client.generate(format!("Test {i}")).await.unwrap();
    }

    let stats = client.store().stats();
    assert_eq!((stats.held, stats.evicted_by_count), (2, 3));
    assert_eq!(client.store().policy(), EvictionPolicy::new(2));
}

#[tokio::test]
async fn max_bytes_from_a_file_bounds_the_buffer_under_1_mib_prompts() {
    let client = client("[tracing]\nmax_traces = 1000\nmax_bytes = 4194304\n");
    let prompt = "p".repeat(MIB as usize);

    for _ in 0..20 {
        client.generate(prompt.as_str()).await.unwrap();
        let stats = client.store().stats();
        assert!(stats.bytes <= 4 * MIB, "{stats:?}");
    }

    // A trace holds the prompt and its echo, 2 MiB and a little: one fits.
    let stats = client.store().stats();
    assert_eq!((stats.held, stats.evicted_by_bytes), (1, 19), "{stats:?}");
    assert_eq!(client.get_traces(TraceQuery::all()).len(), 1);
}

#[tokio::test]
async fn max_age_ms_from_a_file_drops_traces_older_than_it() {
    let client = client("[tracing]\nmax_age_ms = 60000\n");
    let fresh = client.generate("now").await.unwrap().trace_id().unwrap();
    // A trace of a call that started two minutes ago, as a slow call or a replay produces.
    let mut old: TraceRecord = (*client.get_trace(&fresh).unwrap()).clone();
    old.trace_id = uuid::Uuid::new_v4();
    old.timestamp -= chrono::TimeDelta::minutes(2);

    client.store().push(Arc::new(old.clone()));

    assert!(client.get_trace(&old.trace_id).is_none());
    assert!(client.get_trace(&fresh).is_some());
    assert_eq!(client.store().stats().evicted_by_age, 1);
}

#[test]
fn the_three_bounds_combine_and_come_from_the_environment_too() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[tracing]\nmax_traces = 50\nmax_bytes = 1048576\n",
        )?;
        jail.set_env("LLMTRACE_TRACING__MAX_AGE_MS", "90000");

        let config = load("a.toml").unwrap();

        let expected = EvictionPolicy::new(50)
            .max_bytes(MIB)
            .max_age(Duration::from_secs(90));
        assert_eq!(config.tracing.eviction(), expected);
        assert_eq!(config.build().unwrap().store().policy(), expected);
        Ok(())
    });
}

#[test]
fn zero_or_negative_bounds_are_rejected_by_key() {
    Jail::expect_with(|jail| {
        jail.create_file("a.toml", "[tracing]\nmax_bytes = 0\nmax_age_ms = -5\n")?;

        let error = load("a.toml").unwrap_err();

        assert_eq!(error.issues.len(), 2, "{error}");
        let bytes = &issue(&error, "tracing.max_bytes").message;
        assert!(bytes.contains("must be at least 1, found 0"), "{bytes}");
        let age = &issue(&error, "tracing.max_age_ms").message;
        assert!(age.contains("must be at least 1, found -5"), "{age}");
        Ok(())
    });
}
