//! Provider plugins behind a real `Client`.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use llmtrace::plugin::{PluginError, PluginProvider};
use llmtrace::{Client, ErrorKind, GenerateRequest};
use serde_json::json;

use super::support::{ECHO_PROVIDER, TEST_PROVIDER, plugin, plugin_error};

#[tokio::test]
async fn a_provider_plugin_serves_generations_traced_like_any_other() {
    let provider =
        PluginProvider::load(plugin(ECHO_PROVIDER), json!({ "model": "echo-plugin-7" })).unwrap();
    let client = Client::builder().provider(provider).build();

    let response = client
        .generate(
            GenerateRequest::new("hello there")
                .system_prompt("be brief")
                .temperature(0.2)
                .metadata("user_id", "u-1"),
        )
        .await
        .unwrap();
    assert_eq!(response.content, "Plugin echo: hello there");
    assert_eq!(response.model.as_deref(), Some("echo-plugin-7"));

    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    assert_eq!(trace.provider, "llmtrace-echo-provider");
    assert_eq!(trace.model, "echo-plugin-7");
    assert_eq!(trace.system_prompt.as_deref(), Some("be brief"));
    assert_eq!(trace.parameters.temperature, Some(0.2));
    assert_eq!(trace.metadata["user_id"], "u-1");
    let traced = trace.response.as_ref().unwrap();
    assert_eq!(traced.content, "Plugin echo: hello there");
    assert_eq!(traced.finish_reason.as_deref(), Some("stop"));
    let usage = traced.usage.unwrap();
    assert_eq!(Some(usage), response.usage);
    // "be brief" (2) + "hello there" (3) in, "Plugin echo: hello there" (6) out.
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (5, 6, 11)
    );
    assert!(trace.error.is_none());

    // Asked to stream, an ABI 1 provider answers whole, as one chunk; it is traced as well.
    let mut stream = client.stream("streamed").await.unwrap();
    let mut content = String::new();
    while let Some(chunk) = stream.next().await {
        content.push_str(&chunk.unwrap().content);
    }
    assert_eq!(content, "Plugin echo: streamed");
    assert_eq!(client.store().len(), 2);
}

#[test]
fn without_a_model_option_the_model_is_the_plugin_name_and_version() {
    let provider = PluginProvider::load(plugin(ECHO_PROVIDER), json!({})).unwrap();
    let info = provider.info();
    assert_eq!(info.name, "llmtrace-echo-provider");
    assert_eq!(info.model, "llmtrace-echo-provider/0.1.0");
}

#[tokio::test]
async fn a_provider_plugin_error_keeps_its_kind_and_retryability() {
    let provider = PluginProvider::load(plugin(TEST_PROVIDER), json!({ "mode": "error" })).unwrap();
    let client = Client::builder().provider(provider).build();

    let error = client.generate("hi").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable());
    assert_eq!(error.message(), "upstream says slow down");
    let source = plugin_error(&error).unwrap();
    assert!(matches!(source, PluginError::Plugin { .. }), "{source:?}");
    assert!(
        source.to_string().contains("llmtrace-test-plugins"),
        "{source}"
    );

    let trace = &client.get_traces(llmtrace::TraceQuery::last(1))[0];
    let traced = trace.error.as_ref().unwrap();
    assert_eq!(
        (traced.kind.as_str(), traced.retryable),
        ("rate_limited", true)
    );
    assert_eq!(trace.provider, "llmtrace-test-plugins");
}

#[tokio::test]
async fn a_panicking_provider_plugin_fails_then_is_poisoned() {
    let path = plugin(TEST_PROVIDER);
    let provider = PluginProvider::load(path, json!({ "mode": "panic" })).unwrap();
    let client = Client::builder().provider(provider).build();

    let first = client.generate("hi").await.unwrap_err();
    assert_eq!(first.kind(), ErrorKind::Plugin);
    assert!(!first.is_retryable());
    assert!(
        matches!(plugin_error(&first), Some(PluginError::Panicked { message, .. })
            if message == "test provider panicked on purpose"),
        "{first:?}"
    );

    for _ in 0..2 {
        let later = client.generate("hi again").await.unwrap_err();
        assert_eq!(later.kind(), ErrorKind::Plugin);
        assert!(
            matches!(plugin_error(&later), Some(PluginError::Poisoned { .. })),
            "{later:?}"
        );
        let message = later.to_string();
        assert!(message.contains("poisoned"), "{message}");
        let path = std::fs::canonicalize(path).unwrap();
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    let traces = client.get_traces(llmtrace::TraceQuery::last(10));
    assert_eq!(traces.len(), 3, "failures are traced too");
    assert!(
        traces
            .iter()
            .all(|t| t.error.as_ref().unwrap().kind == "plugin")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_on_a_non_thread_safe_provider_are_serialized_and_all_succeed() {
    const CALLS: u32 = 6;
    const DELAY: Duration = Duration::from_millis(25);
    // The test provider fails any call that overlaps another on the same instance.
    let provider = PluginProvider::load(
        plugin(TEST_PROVIDER),
        json!({ "delay_ms": DELAY.as_millis() as u64 }),
    )
    .unwrap()
    .max_concurrency(8);
    assert!(!provider.plugin().thread_safe);
    let client = Client::builder().provider(provider).build();

    let started = Instant::now();
    let calls = (0..CALLS).map(|n| {
        let client = client.clone();
        tokio::spawn(async move { client.generate(format!("call {n}")).await })
    });
    let responses = join_all(calls).await;
    let elapsed = started.elapsed();

    for (n, response) in responses.into_iter().enumerate() {
        assert_eq!(
            response.unwrap().unwrap().content,
            format!("test: call {n}")
        );
    }
    assert!(elapsed >= DELAY * CALLS, "one at a time: {elapsed:?}");
}

#[tokio::test]
async fn a_provider_answering_invalid_json_fails_with_a_plugin_error() {
    let path = plugin("test_invalid_json");
    let provider = PluginProvider::load(path, json!({})).unwrap();
    let client = Client::builder().provider(provider).build();

    let error = client.generate("hi").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Plugin);
    assert!(
        matches!(
            plugin_error(&error),
            Some(PluginError::InvalidJson {
                what: "response",
                ..
            })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("invalid JSON"), "{error}");
    // Not poisoned: the plugin did not panic, and the next call reaches it again.
    let again = client.generate("hi").await.unwrap_err();
    assert!(
        matches!(plugin_error(&again), Some(PluginError::InvalidJson { .. })),
        "{again:?}"
    );
}
