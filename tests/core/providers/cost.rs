//! Cost per trace: cached-token usage read from OpenAI and Anthropic answers and streams, and
//! the `cost_usd` the trace layer computes from it, against real servers on 127.0.0.1.

use llmtrace::cost::{ModelPrice, PriceTable};
use llmtrace::provider::{AnthropicProvider, OpenAiProvider, ProviderOptions};
use llmtrace::{Client, TraceRecord, Usage};
use serde_json::{Value, json};

use crate::support::{Reply, TestServer};

fn openai(server: &TestServer, model: &str) -> OpenAiProvider {
    let options = ProviderOptions::new(model)
        .base_url(server.url("/v1"))
        .api_key("sk-test");
    OpenAiProvider::new(options).expect("a valid configuration")
}

fn anthropic(server: &TestServer, model: &str) -> AnthropicProvider {
    let options = ProviderOptions::new(model)
        .base_url(server.url(""))
        .api_key("sk-ant-test");
    AnthropicProvider::new(options).expect("a valid configuration")
}

/// OpenAI's usage object with a cache hit (the shape the API documents for prompt caching).
fn openai_usage() -> Value {
    json!({
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0}
    })
}

fn openai_completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": openai_usage()
    })
}

fn openai_chunks(usage: Option<Value>) -> Vec<Value> {
    let mut chunks = vec![
        json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06",
               "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ];
    if let Some(usage) = usage {
        chunks.push(json!({"id": "c", "object": "chat.completion.chunk",
                           "model": "gpt-4o-2024-08-06", "choices": [], "usage": usage}));
    }
    chunks
}

/// gpt-4o: 86 uncached input tokens at $2.50, 1920 cached at $1.25, 300 output at $10 (per
/// million tokens).
const GPT_4O_COST: f64 = (86.0 * 2.5 + 1920.0 * 1.25 + 300.0 * 10.0) / 1e6;

fn openai_expected_usage() -> Usage {
    Usage {
        cached_prompt_tokens: Some(1920),
        ..Usage::new(2006, 300)
    }
}

/// The only trace of `client`.
fn the_trace(client: &Client) -> std::sync::Arc<TraceRecord> {
    let traces = client.get_traces(Default::default());
    assert_eq!(traces.len(), 1);
    traces[0].clone()
}

fn usage_of(trace: &TraceRecord) -> Option<Usage> {
    trace.response.as_ref().and_then(|r| r.usage)
}

fn assert_close(found: Option<f64>, expected: f64) {
    let found = found.expect("a cost");
    assert!((found - expected).abs() < 1e-9, "{found} != {expected}");
}

#[tokio::test]
async fn an_openai_answer_with_cached_tokens_is_priced_at_the_cached_rate() {
    let server = TestServer::start(Reply::json(openai_completion("gpt-4o-2024-08-06"))).await;
    let client = Client::builder()
        .provider(openai(&server, "gpt-4o"))
        .build();

    client.generate("Hello").await.expect("an answer");

    let trace = the_trace(&client);
    assert_eq!(usage_of(&trace), Some(openai_expected_usage()));
    assert_close(trace.cost_usd, GPT_4O_COST);
    let json = serde_json::to_value(&*trace).unwrap();
    assert_eq!(json["response"]["usage"]["cached_prompt_tokens"], 1920);
    assert!(
        json["response"]["usage"]
            .get("cache_creation_tokens")
            .is_none()
    );
}

#[tokio::test]
async fn an_openai_stream_with_cached_tokens_is_priced_too() {
    let server = TestServer::start(Reply::sse(
        &openai_chunks(Some(openai_usage())),
        "data: [DONE]\n\n",
    ))
    .await;
    let client = Client::builder()
        .provider(openai(&server, "gpt-4o"))
        .build();

    let mut stream = client.stream("Hello").await.expect("a stream");
    while let Some(chunk) = stream.next().await {
        chunk.expect("a chunk");
    }

    let trace = the_trace(&client);
    assert_eq!(usage_of(&trace), Some(openai_expected_usage()));
    assert_close(trace.cost_usd, GPT_4O_COST);
}

#[tokio::test]
async fn a_stream_that_ends_without_usage_has_no_usage_and_no_cost_rather_than_zeros() {
    let server = TestServer::start(Reply::sse(&openai_chunks(None), "data: [DONE]\n\n")).await;
    let client = Client::builder()
        .provider(openai(&server, "gpt-4o"))
        .build();

    let response = client
        .stream("Hello")
        .await
        .expect("a stream")
        .collect_response()
        .await
        .expect("an answer");

    assert_eq!(response.content, "Hi");
    let trace = the_trace(&client);
    assert_eq!(usage_of(&trace), None);
    assert_eq!(trace.cost_usd, None);
    let json = serde_json::to_value(&*trace).unwrap();
    assert_eq!(json["response"]["usage"], Value::Null);
    assert!(json.get("cost_usd").is_none());
}

#[tokio::test]
async fn an_anthropic_stream_without_usage_reports_none_not_zeros() {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
               "content": [], "model": "claude-sonnet-4-20250514"}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hi"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
        json!({"type": "message_stop"}),
    ];
    let server = TestServer::start(Reply::named_sse(&events)).await;
    let client = Client::builder()
        .provider(anthropic(&server, "claude-sonnet-4-0"))
        .build();

    client
        .stream("Hello")
        .await
        .expect("a stream")
        .collect_response()
        .await
        .expect("an answer");

    let trace = the_trace(&client);
    assert_eq!(usage_of(&trace), None);
    assert_eq!(trace.cost_usd, None);
}

/// Anthropic's usage with a cache read and a cache write: `input_tokens` counts neither.
fn anthropic_usage() -> Value {
    json!({
        "input_tokens": 50,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 4000,
        "output_tokens": 200
    })
}

/// claude-sonnet-4: 50 input at $3, 1000 cache writes at $3.75, 4000 cache reads at $0.30,
/// 200 output at $15 (per million tokens).
const SONNET_4_COST: f64 = (50.0 * 3.0 + 1000.0 * 3.75 + 4000.0 * 0.30 + 200.0 * 15.0) / 1e6;

fn anthropic_expected_usage() -> Usage {
    Usage {
        cached_prompt_tokens: Some(4000),
        cache_creation_tokens: Some(1000),
        ..Usage::new(5050, 200)
    }
}

#[tokio::test]
async fn an_anthropic_answer_with_cache_reads_and_writes_is_priced_at_each_rate() {
    let message = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
        "usage": anthropic_usage()
    });
    let server = TestServer::start(Reply::json(message)).await;
    let client = Client::builder()
        .provider(anthropic(&server, "claude-sonnet-4-0"))
        .build();

    client.generate("Hello").await.expect("an answer");

    let trace = the_trace(&client);
    assert_eq!(usage_of(&trace), Some(anthropic_expected_usage()));
    assert_close(trace.cost_usd, SONNET_4_COST);
}

#[tokio::test]
async fn an_anthropic_stream_with_cache_reads_and_writes_is_priced_too() {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
               "content": [], "model": "claude-sonnet-4-20250514",
               "usage": {"input_tokens": 50, "cache_creation_input_tokens": 1000,
                         "cache_read_input_tokens": 4000, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 200}}),
        json!({"type": "message_stop"}),
    ];
    let server = TestServer::start(Reply::named_sse(&events)).await;
    let client = Client::builder()
        .provider(anthropic(&server, "claude-sonnet-4-0"))
        .build();

    let mut stream = client.stream("Hello").await.expect("a stream");
    while let Some(chunk) = stream.next().await {
        chunk.expect("a chunk");
    }

    let trace = the_trace(&client);
    assert_eq!(usage_of(&trace), Some(anthropic_expected_usage()));
    assert_close(trace.cost_usd, SONNET_4_COST);
}

#[tokio::test]
async fn a_model_without_a_price_gets_no_cost() {
    let server = TestServer::start(Reply::json(openai_completion("llama-3.1-8b-instruct"))).await;
    let client = Client::builder()
        .provider(openai(&server, "llama-3.1-8b-instruct"))
        .build();

    client.generate("Hello").await.expect("an answer");

    let trace = the_trace(&client);
    assert!(usage_of(&trace).is_some());
    assert_eq!(trace.cost_usd, None);
    assert!(
        serde_json::to_value(&*trace)
            .unwrap()
            .get("cost_usd")
            .is_none()
    );
}

#[tokio::test]
async fn the_client_s_own_table_prices_a_local_model_through_a_prefix_alias() {
    let server = TestServer::start(Reply::json(openai_completion("house-llama-2025-01"))).await;
    let mut prices = PriceTable::new();
    prices
        .set("house-llama", ModelPrice::new(1.0, 2.0).cached_input(0.0))
        .unwrap();
    prices.alias("house-llama-*", "house-llama").unwrap();
    let client = Client::builder()
        .provider(openai(&server, "house-llama"))
        .prices(prices)
        .build();

    client.generate("Hello").await.expect("an answer");

    // 86 uncached at $1, 1920 cached at $0, 300 output at $2.
    assert_close(the_trace(&client).cost_usd, (86.0 + 600.0) / 1e6);
}

#[tokio::test]
async fn an_openai_usage_object_without_counts_is_no_usage_not_zeros() {
    let mut completion = openai_completion("gpt-4o");
    completion["usage"] = json!({});
    let server = TestServer::start(Reply::json(completion)).await;
    let client = Client::builder()
        .provider(openai(&server, "gpt-4o"))
        .build();

    client.generate("Hello").await.expect("an answer");

    let trace = the_trace(&client);
    assert_eq!(usage_of(&trace), None);
    assert_eq!(trace.cost_usd, None, "a free call is not what happened");
}
