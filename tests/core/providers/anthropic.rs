//! Anthropic Messages: request format, answers, event streams, and traces through `Client`.

use futures_util::StreamExt;
use llmtrace::provider::{AnthropicProvider, BuildError, ProviderOptions};
use llmtrace::{
    Client, ErrorKind, GenerateRequest, Generation, Message, StreamChunk, Tool, ToolCall,
    TraceQuery, Usage,
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{Reply, TestServer};

const KEY: &str = "sk-ant-test-0123456789";

fn provider(server: &TestServer) -> AnthropicProvider {
    AnthropicProvider::new(
        ProviderOptions::new("claude-sonnet-4-5")
            .base_url(server.url(""))
            .api_key(KEY),
    )
    .expect("a valid configuration")
}

/// The Messages API's example answer.
fn message() -> Value {
    json!({
        "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "model": "claude-sonnet-4-5-20250929",
        "role": "assistant",
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "type": "message",
        "usage": {"input_tokens": 2095, "output_tokens": 503}
    })
}

/// The streaming docs' basic example.
fn text_events() -> Vec<Value> {
    vec![
        json!({"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant",
            "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}
        }}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 15}}),
        json!({"type": "message_stop"}),
    ]
}

fn weather_tool() -> Tool {
    Tool::new(
        "get_weather",
        "Get the current weather in a given location",
        json!({
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"]
        }),
    )
}

#[tokio::test]
async fn sends_headers_system_content_blocks_tools_and_parameters() {
    let server = TestServer::start(Reply::json(message())).await;
    let mut paris = ToolCall::new("get_weather", json!({"location": "Paris"}));
    paris.id = Some("toolu_01".into());
    let mut tokyo = ToolCall::new("get_weather", json!({"location": "Tokyo"}));
    tokyo.id = Some("toolu_02".into());
    let mut assistant = Message::assistant("Let me check both.");
    assistant.tool_calls = vec![paris, tokyo];
    let request = GenerateRequest::new("Which is warmer?")
        .system_prompt("You are a weather bot.")
        .messages([
            Message::user("Weather in Paris and Tokyo?"),
            assistant,
            Message::tool("toolu_01", "18C"),
            Message::tool("toolu_02", "25C"),
        ])
        .tool(weather_tool())
        .temperature(0.5)
        .max_output_tokens(300)
        .seed(1)
        .top_p(0.8)
        .top_k(10)
        .stop("END");

    provider(&server).oneshot(request).await.expect("an answer");

    let sent = server.request();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(
        sent.body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 300,
            "system": "You are a weather bot.",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Tokyo?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me check both."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"location": "Tokyo"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "toolu_02", "content": "25C"}
                ]},
                {"role": "user", "content": "Which is warmer?"}
            ],
            "tools": [{
                "name": "get_weather",
                "description": "Get the current weather in a given location",
                "input_schema": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}},
                    "required": ["location"]
                }
            }],
            "temperature": 0.5,
            "top_p": 0.8,
            "top_k": 10,
            "stop_sequences": ["END"]
        }),
        "seed is not an Anthropic parameter; no stream field"
    );
}

#[tokio::test]
async fn sends_the_default_max_tokens_when_the_request_sets_no_limit() {
    let server = TestServer::start(Reply::json(message())).await;

    provider(&server)
        .oneshot(GenerateRequest::new("Hello"))
        .await
        .expect("an answer");

    let sent = server.request();
    assert_eq!(
        sent.body["max_tokens"],
        json!(AnthropicProvider::DEFAULT_MAX_TOKENS)
    );
    assert_eq!(sent.body.get("system"), None);
}

#[tokio::test]
async fn reads_text_stop_reason_and_usage_of_a_message() {
    let server = TestServer::start(Reply::json(message())).await;

    let Generation::Complete(response) = provider(&server)
        .oneshot(GenerateRequest::new("Hello"))
        .await
        .expect("an answer")
    else {
        panic!("a complete answer was asked for");
    };

    assert_eq!(response.content, "Hi! My name is Claude.");
    assert_eq!(response.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(response.usage, Some(Usage::new(2095, 503)));
    assert_eq!(response.usage.map(|u| u.total_tokens), Some(2598));
    assert_eq!(
        response.model.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
}

#[tokio::test]
async fn reads_tool_use_blocks_as_tool_calls() {
    let body = json!({
        "id": "msg_01Aq9w938a90dw8q",
        "model": "claude-sonnet-4-5-20250929",
        "stop_reason": "tool_use",
        "role": "assistant",
        "type": "message",
        "content": [
            {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
            {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": "get_weather",
                "input": {"location": "San Francisco, CA"}
            }
        ],
        "usage": {"input_tokens": 384, "output_tokens": 68}
    });
    let server = TestServer::start(Reply::json(body)).await;

    let response = provider(&server)
        .oneshot(GenerateRequest::new("Weather in SF?").tool(weather_tool()))
        .await
        .expect("an answer")
        .into_response()
        .await
        .expect("a complete answer");

    assert_eq!(
        response.content,
        "I'll check the current weather in San Francisco for you."
    );
    let mut expected = ToolCall::new("get_weather", json!({"location": "San Francisco, CA"}));
    expected.id = Some("toolu_01A09q90qw90lq917835lq9".into());
    assert_eq!(response.tool_calls, [expected]);
    assert_eq!(response.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(response.usage, Some(Usage::new(384, 68)));
}

#[tokio::test]
async fn streams_text_deltas_then_stop_reason_and_usage() {
    let server = TestServer::start(Reply::named_sse(&text_events())).await;

    let Generation::Stream(stream) = provider(&server)
        .oneshot(GenerateRequest {
            stream: true,
            ..GenerateRequest::new("Hello")
        })
        .await
        .expect("a stream")
    else {
        panic!("a stream was asked for");
    };
    let chunks: Vec<StreamChunk> = stream
        .map(|chunk| chunk.expect("a good chunk"))
        .collect()
        .await;

    let texts: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(texts, ["Hello", "!", ""]);
    assert_eq!(
        chunks[0].model.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
    assert_eq!(chunks[2].finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(chunks[2].usage, Some(Usage::new(25, 15)));
    assert_eq!(server.request().body["stream"], json!(true));
}

#[tokio::test]
async fn streams_tool_use_assembled_from_input_json_deltas() {
    let delta = |json_part: &str| {
        json!({"type": "content_block_delta", "index": 1,
               "delta": {"type": "input_json_delta", "partial_json": json_part}})
    };
    let text = |text: &str| {
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": text}})
    };
    let events = vec![
        json!({"type": "message_start", "message": {
            "id": "msg_014p7gG3wDgGV9EUtLvnow3U", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929", "stop_sequence": null,
            "usage": {"input_tokens": 472, "output_tokens": 2}, "content": [], "stop_reason": null
        }}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        text("Okay"),
        text(", let's check the weather for San Francisco, CA:"),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}
        }}),
        delta(""),
        delta("{\"location\":"),
        delta(" \"San"),
        delta(" Francisc"),
        delta("o,"),
        delta(" CA\""),
        delta(", "),
        delta("\"unit\": \"fah"),
        delta("renheit\"}"),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
        json!({"type": "message_stop"}),
    ];
    let server = TestServer::start(Reply::named_sse(&events)).await;

    let chunks: Vec<StreamChunk> = provider(&server)
        .oneshot(GenerateRequest {
            stream: true,
            ..GenerateRequest::new("Weather in SF?").tool(weather_tool())
        })
        .await
        .expect("a stream")
        .into_stream()
        .map(|chunk| chunk.expect("a good chunk"))
        .collect()
        .await;

    let mut expected = ToolCall::new(
        "get_weather",
        json!({"location": "San Francisco, CA", "unit": "fahrenheit"}),
    );
    expected.id = Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6".into());
    let calls: Vec<&StreamChunk> = chunks.iter().filter(|c| !c.tool_calls.is_empty()).collect();
    assert_eq!(calls.len(), 1, "the call arrives once, whole");
    assert_eq!(calls[0].tool_calls, [expected]);
    let last = chunks.last().expect("a last chunk");
    assert_eq!(last.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(last.usage, Some(Usage::new(472, 89)));
    let text: String = chunks.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(text, "Okay, let's check the weather for San Francisco, CA:");
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_a_typed_error() {
    let mut events = text_events()[..4].to_vec();
    events.push(
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    let server = TestServer::start(Reply::named_sse(&events)).await;
    let client = Client::builder().provider(provider(&server)).build();

    let stream = client.stream("Hello").await.expect("a stream");
    let items: Vec<_> = stream.collect().await;

    assert_eq!(items.len(), 2, "the text, then the error");
    assert_eq!(
        items[0].as_ref().map(|c| c.content.as_str()).ok(),
        Some("Hello")
    );
    let error = items[1].as_ref().expect_err("an error");
    assert_eq!(error.kind(), ErrorKind::Server);
    assert!(error.is_retryable());
    assert_eq!(error.status(), None, "the HTTP status was 200");
    assert!(error.message().contains("overloaded_error: Overloaded"));

    let traces = client.get_traces(TraceQuery::all().errors());
    assert_eq!(traces.len(), 1);
    let traced_error = traces[0].error.as_ref().expect("a traced error");
    assert_eq!(traced_error.kind, "server");
    assert!(traced_error.retryable);
    let partial = traces[0].response.as_ref().expect("the partial answer");
    assert_eq!(partial.content, "Hello");
}

#[tokio::test]
async fn a_rate_limit_error_event_is_rate_limited() {
    let events = [
        text_events()[0].clone(),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}}),
    ];
    let server = TestServer::start(Reply::named_sse(&events)).await;

    let error = provider(&server)
        .oneshot(GenerateRequest {
            stream: true,
            ..GenerateRequest::new("Hello")
        })
        .await
        .expect("a stream")
        .into_response()
        .await
        .expect_err("the error event");

    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(error.is_retryable());
}

#[test]
fn a_missing_key_variable_is_a_build_error_naming_it() {
    let error = AnthropicProvider::new(
        ProviderOptions::new("claude-sonnet-4-5").api_key_env("LLMTRACE_TEST_UNSET_KEY_VARIABLE"),
    )
    .expect_err("the variable is not set");

    assert!(
        matches!(&error, BuildError::MissingApiKey { var, .. } if var == "LLMTRACE_TEST_UNSET_KEY_VARIABLE")
    );
    assert!(
        error
            .to_string()
            .contains("environment variable LLMTRACE_TEST_UNSET_KEY_VARIABLE is not set")
    );
}

#[tokio::test]
async fn client_traces_a_message() {
    let server = TestServer::start(Reply::json(message())).await;
    let client = Client::builder().provider(provider(&server)).build();

    let response = client.generate("Hello").await.expect("an answer");

    let trace = client
        .get_trace(&response.trace_id().expect("a traced response"))
        .expect("the trace is stored");
    assert_eq!(trace.provider, "anthropic");
    assert_eq!(trace.model, "claude-sonnet-4-5");
    let traced = trace.response.as_ref().expect("a traced answer");
    assert_eq!(traced.content, "Hi! My name is Claude.");
    assert_eq!(traced.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(traced.usage, Some(Usage::new(2095, 503)));
    assert!(traced.generation_time_ms > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_traces_a_stream() {
    let server = TestServer::start(Reply::named_sse(&text_events())).await;
    let client = Client::builder().provider(provider(&server)).build();

    let stream = client.stream("Hello").await.expect("a stream");
    let trace_id = stream.trace_id().expect("a traced stream");
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.iter().all(Result::is_ok));

    let trace = client.get_trace(&trace_id).expect("the trace is stored");
    let traced = trace.response.as_ref().expect("a traced answer");
    assert_eq!(traced.content, "Hello!");
    assert_eq!(traced.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(traced.usage, Some(Usage::new(25, 15)));
    assert!(traced.generation_time_ms > 0.0);
    assert!(traced.time_to_first_token_ms.is_some_and(|ms| ms > 0.0));
    assert!(trace.error.is_none());
}

#[tokio::test]
async fn an_error_object_in_a_successful_answer_is_the_servers_error() {
    let error =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let server = TestServer::start(Reply::json(error)).await;

    let error = provider(&server)
        .oneshot(GenerateRequest::new("Hello"))
        .await
        .expect_err("the error the body names");

    assert_eq!(error.kind(), ErrorKind::Server);
    assert!(
        error.message().contains("overloaded_error: Overloaded"),
        "{error}"
    );
}
