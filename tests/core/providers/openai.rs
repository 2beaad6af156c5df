//! OpenAI chat completions: request format, answers, streams, and traces through `Client`.

use futures_util::StreamExt;
use llmtrace::provider::{OpenAiProvider, ProviderOptions};
use llmtrace::{Client, GenerateRequest, Generation, Message, Tool, ToolCall, TraceQuery, Usage};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{Part, Reply, TestServer};

const KEY: &str = "sk-test-openai-0123456789";

fn provider(server: &TestServer) -> OpenAiProvider {
    OpenAiProvider::new(
        ProviderOptions::new("gpt-4o-mini")
            .base_url(server.url("/v1"))
            .api_key(KEY),
    )
    .expect("a valid configuration")
}

/// Asks `server` for a streamed answer to "Say hello".
async fn stream_hello(server: &TestServer) -> Generation {
    provider(server)
        .oneshot(GenerateRequest {
            stream: true,
            ..GenerateRequest::new("Say hello")
        })
        .await
        .expect("a stream")
}

/// The chat completion object of the API reference.
pub(crate) fn completion() -> Value {
    json!({
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1677652288,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "\n\nHello there, how may I assist you today?",
                "refusal": null
            },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 12,
            "total_tokens": 21,
            "completion_tokens_details": {"reasoning_tokens": 0}
        }
    })
}

/// The streamed chunk objects of the API reference, with usage requested.
pub(crate) fn text_chunks() -> Vec<Value> {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-123",
            "object": "chat.completion.chunk",
            "created": 1694268190,
            "model": "gpt-4o-mini",
            "system_fingerprint": "fp_44709d6fcb",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            "usage": null
        })
    };
    vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Hello"}), Value::Null),
        chunk(json!({"content": " there"}), Value::Null),
        chunk(json!({"content": "!"}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({
            "id": "chatcmpl-123",
            "object": "chat.completion.chunk",
            "created": 1694268190,
            "model": "gpt-4o-mini",
            "system_fingerprint": "fp_44709d6fcb",
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
        }),
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
async fn sends_system_history_prompt_tools_and_parameters_in_chat_completions_format() {
    let server = TestServer::start(Reply::json(completion())).await;
    let mut call = ToolCall::new("get_weather", json!({"location": "Boston, MA"}));
    call.id = Some("call_abc123".into());
    let mut assistant = Message::assistant("");
    assistant.tool_calls = vec![call];
    let request = GenerateRequest::new("And tomorrow?")
        .system_prompt("You are a helpful assistant.")
        .messages([
            Message::user("What is the weather in Boston?"),
            assistant,
            Message::tool("call_abc123", "22 degrees and sunny"),
        ])
        .tool(weather_tool())
        .temperature(0.2)
        .max_tokens(100)
        .max_output_tokens(50)
        .seed(42)
        .top_p(0.9)
        .top_k(40)
        .stop("\n\n");

    provider(&server).oneshot(request).await.expect("an answer");

    let sent = server.request();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        sent.body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the weather in Boston?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"location\":\"Boston, MA\"}"}
                }]},
                {"role": "tool", "content": "22 degrees and sunny", "tool_call_id": "call_abc123"},
                {"role": "user", "content": "And tomorrow?"}
            ],
            "tools": [{
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Get the current weather in a given location",
                    "parameters": {
                        "type": "object",
                        "properties": {"location": {"type": "string"}},
                        "required": ["location"]
                    }
                }
            }],
            "temperature": 0.2,
            "max_tokens": 50,
            "seed": 42,
            "top_p": 0.9,
            "stop": ["\n\n"]
        }),
        "top_k is not an OpenAI parameter; max_tokens is the output limit; no stream field"
    );
}

#[tokio::test]
async fn extra_parameters_are_sent_as_written_without_overriding_the_body() {
    let server = TestServer::start(Reply::json(completion())).await;
    let mut request = GenerateRequest::new("Hi").temperature(0.2);
    let extra = json!({"n": 2, "tool_choice": "none", "model": "other", "temperature": 1.5});
    request.parameters.extra = extra.as_object().unwrap().clone();

    provider(&server).oneshot(request).await.expect("an answer");

    let sent = server.request().body;
    assert_eq!(
        (&sent["n"], &sent["tool_choice"]),
        (&json!(2), &json!("none"))
    );
    assert_eq!(
        (&sent["model"], &sent["temperature"]),
        (&json!("gpt-4o-mini"), &json!(0.2)),
        "the body's own keys win"
    );
}

#[tokio::test]
async fn reads_text_finish_reason_usage_and_model_of_a_completion() {
    let server = TestServer::start(Reply::json(completion())).await;

    let generation = provider(&server)
        .oneshot(GenerateRequest::new("Hello!"))
        .await
        .expect("an answer");

    let Generation::Complete(response) = generation else {
        panic!("a complete answer was asked for");
    };
    assert_eq!(
        response.content,
        "\n\nHello there, how may I assist you today?"
    );
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(response.usage, Some(Usage::new(9, 12)));
    assert_eq!(response.model.as_deref(), Some("gpt-4o-mini"));
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.raw_response, None, "verbatim is off by default");
}

#[tokio::test]
async fn parses_tool_call_arguments_and_keeps_invalid_ones_as_text() {
    let body = json!({
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1699896916,
        "model": "gpt-4o-mini",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": "{\n\"location\": \"Boston, MA\"\n}"
                        }
                    },
                    {
                        "id": "call_def456",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"location\": \"Par"}
                    }
                ]
            },
            "logprobs": null,
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}
    });
    let server = TestServer::start(Reply::json(body)).await;

    let response = provider(&server)
        .oneshot(GenerateRequest::new("Weather in Boston?").tool(weather_tool()))
        .await
        .expect("an answer")
        .into_response()
        .await
        .expect("a complete answer");

    assert_eq!(response.content, "");
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(response.usage, Some(Usage::new(82, 17)));
    assert_eq!(response.tool_calls.len(), 2);
    assert_eq!(response.tool_calls[0].id.as_deref(), Some("call_abc123"));
    assert_eq!(response.tool_calls[0].name, "get_weather");
    assert_eq!(
        response.tool_calls[0].arguments,
        json!({"location": "Boston, MA"})
    );
    assert_eq!(
        response.tool_calls[1].arguments,
        json!("{\"location\": \"Par"),
        "arguments that are not JSON are kept as text"
    );
}

#[tokio::test]
async fn verbatim_keeps_the_response_json() {
    let server = TestServer::start(Reply::json(completion())).await;
    let provider = OpenAiProvider::new(
        ProviderOptions::new("gpt-4o-mini")
            .base_url(server.url("/v1"))
            .verbatim(true),
    )
    .expect("a valid configuration");

    let response = provider
        .oneshot(GenerateRequest::new("Hello!"))
        .await
        .expect("an answer")
        .into_response()
        .await
        .expect("a complete answer");

    assert_eq!(response.raw_response, Some(completion()));
}

#[tokio::test]
async fn a_local_server_gets_no_key_unless_one_is_configured() {
    let server = TestServer::start(Reply::json(completion())).await;
    let provider = OpenAiProvider::new(ProviderOptions::new("qwen").base_url(server.url("/v1")))
        .expect("no key is needed with a custom base url");

    provider
        .oneshot(GenerateRequest::new("Hello!"))
        .await
        .expect("an answer");

    assert_eq!(server.request().header("authorization"), None);
}

#[tokio::test]
async fn reads_the_key_from_the_named_environment_variable() {
    // Cargo sets CARGO_PKG_NAME for the tests it runs; the edition forbids setting variables
    // without unsafe, so an existing one stands in for a key.
    let expected = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    let server = TestServer::start(Reply::json(completion())).await;
    let provider = OpenAiProvider::new(
        ProviderOptions::new("gpt-4o-mini")
            .base_url(server.url("/v1"))
            .api_key_env("CARGO_PKG_NAME"),
    )
    .expect("the variable is set");

    provider
        .oneshot(GenerateRequest::new("Hello!"))
        .await
        .expect("an answer");

    assert_eq!(
        server.request().header("authorization"),
        Some(&*format!("Bearer {expected}"))
    );
}

#[tokio::test]
async fn streams_text_then_the_finish_reason_then_usage() {
    let server = TestServer::start(Reply::sse(&text_chunks(), "data: [DONE]\n\n")).await;

    let generation = stream_hello(&server).await;

    let chunks = super::good_chunks(generation).await;
    let texts: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(texts, ["Hello", " there", "!", "", ""]);
    assert_eq!(chunks[0].model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(chunks[3].finish_reason.as_deref(), Some("stop"));
    assert_eq!(chunks[4].usage, Some(Usage::new(9, 3)));

    let sent = server.request();
    assert_eq!(sent.body["stream"], json!(true));
    assert_eq!(sent.body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn reassembles_events_split_across_network_reads() {
    let events: String = text_chunks()
        .iter()
        .map(|event| format!("data: {event}\r\n\r\n"))
        .chain([
            ": keep-alive comment\n\n".to_owned(),
            "data: [DONE]\n\n".to_owned(),
        ])
        .collect();
    // Cuts the body at awkward places: inside a JSON field name, inside a two-byte character.
    let bytes = events.replace("Hello", "Hélló").into_bytes();
    let cut_json = events.find("\"con").expect("a content field") + 3;
    let cut_char = events.find("Hello").expect("a greeting") + 2;
    let server = TestServer::start(Reply::Stream {
        content_type: "text/event-stream",
        parts: vec![
            Part::Bytes(bytes[..cut_json].to_vec()),
            Part::Bytes(bytes[cut_json..cut_char].to_vec()),
            Part::Bytes(bytes[cut_char..].to_vec()),
        ],
    })
    .await;

    let response = stream_hello(&server)
        .await
        .into_response()
        .await
        .expect("a complete stream");

    assert_eq!(response.content, "Hélló there!");
    assert_eq!(response.usage, Some(Usage::new(9, 3)));
}

#[tokio::test]
async fn streams_tool_calls_assembled_from_their_deltas() {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-456",
            "object": "chat.completion.chunk",
            "created": 1694268190,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        })
    };
    let args = |index: u32, fragment: &str| {
        json!({"tool_calls": [{
            "index": index, "id": null, "type": null,
            "function": {"arguments": fragment, "name": null}
        }]})
    };
    let start = |index: u32, id: &str| {
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "index": index, "id": id, "type": "function",
            "function": {"arguments": "", "name": "get_weather"}
        }]})
    };
    let events = vec![
        chunk(start(0, "call_DdmO9pD3xa9XTPNJ32zg2hcA"), Value::Null),
        chunk(args(0, "{\""), Value::Null),
        chunk(args(0, "location"), Value::Null),
        chunk(start(1, "call_second"), Value::Null),
        chunk(args(0, "\":\""), Value::Null),
        chunk(args(1, "{\"location\":\"Tokyo\"}"), Value::Null),
        chunk(args(0, "Paris"), Value::Null),
        chunk(args(0, ", France"), Value::Null),
        chunk(args(0, "\"}"), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        json!({
            "id": "chatcmpl-456", "object": "chat.completion.chunk", "created": 1694268190,
            "model": "gpt-4o-mini", "choices": [],
            "usage": {"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120}
        }),
    ];
    let server = TestServer::start(Reply::sse(&events, "data: [DONE]\n\n")).await;

    let generation = provider(&server)
        .oneshot(GenerateRequest {
            stream: true,
            ..GenerateRequest::new("Weather in Paris and Tokyo?").tool(weather_tool())
        })
        .await
        .expect("a stream");
    let chunks = super::good_chunks(generation).await;

    assert_eq!(
        chunks.len(),
        2,
        "the calls with the finish reason, then usage"
    );
    assert_eq!(chunks[0].finish_reason.as_deref(), Some("tool_calls"));
    let mut first = ToolCall::new("get_weather", json!({"location": "Paris, France"}));
    first.id = Some("call_DdmO9pD3xa9XTPNJ32zg2hcA".into());
    let mut second = ToolCall::new("get_weather", json!({"location": "Tokyo"}));
    second.id = Some("call_second".into());
    assert_eq!(chunks[0].tool_calls, [first, second]);
    assert_eq!(chunks[1].usage, Some(Usage::new(80, 40)));
}

#[tokio::test]
async fn client_traces_a_completion() {
    let server = TestServer::start(Reply::json(completion())).await;
    let client = Client::builder().provider(provider(&server)).build();

    let response = client
        .generate(GenerateRequest::new("Hello!").temperature(0.0))
        .await
        .expect("an answer");

    let trace = client
        .get_trace(&response.trace_id().expect("a traced response"))
        .expect("the trace is stored");
    assert_eq!(trace.provider, "openai");
    assert_eq!(trace.model, "gpt-4o-mini");
    assert_eq!(trace.parameters.temperature, Some(0.0));
    assert!(trace.error.is_none());
    let traced = trace.response.as_ref().expect("a traced answer");
    assert_eq!(traced.content, response.content);
    assert_eq!(traced.finish_reason.as_deref(), Some("stop"));
    assert_eq!(traced.usage, Some(Usage::new(9, 12)));
    assert!(traced.generation_time_ms > 0.0);
    assert_eq!(traced.time_to_first_token_ms, None);
}

#[tokio::test]
async fn client_traces_a_stream() {
    let server = TestServer::start(Reply::sse(&text_chunks(), "data: [DONE]\n\n")).await;
    let client = Client::builder().provider(provider(&server)).build();

    let stream = client
        .stream(GenerateRequest::new("Say hello"))
        .await
        .expect("a stream");
    let trace_id = stream.trace_id().expect("a traced stream");
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.iter().all(Result::is_ok));

    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(trace.trace_id, trace_id);
    let traced = trace.response.as_ref().expect("a traced answer");
    assert_eq!(traced.content, "Hello there!");
    assert_eq!(traced.finish_reason.as_deref(), Some("stop"));
    assert_eq!(traced.usage, Some(Usage::new(9, 3)));
    let first_token = traced.time_to_first_token_ms.expect("a first-token time");
    assert!(first_token > 0.0 && first_token <= traced.generation_time_ms);
    assert!(trace.error.is_none());
}

#[tokio::test]
async fn an_error_object_in_a_successful_answer_is_the_servers_error() {
    let error = json!({"error": {"message": "out of memory", "type": "server_error", "code": 503}});
    let server = TestServer::start(Reply::json(error)).await;

    let error = provider(&server)
        .oneshot(GenerateRequest::new("Say hello"))
        .await
        .expect_err("the error the body names");

    assert_eq!(error.status(), Some(503));
    assert!(
        error.message().contains("server_error: out of memory"),
        "{error}"
    );
}

#[tokio::test]
async fn escaped_text_and_unknown_fields_in_chunks_reach_the_caller_intact() {
    // Escapes make the decoder copy what it would otherwise borrow from the event.
    let events = concat!(
        r#"data: {"id":"chatcmpl-\u0031","model":"gpt-4o-mini","future_field":{"a":[1,2]},"#,
        r#""choices":[{"index":0,"delta":{"role":"assistant","content":"caf\u00e9 \"ok\"\n","extra":true},"finish_reason":null}]}"#,
        "\n\n",
        r#"data: {"id":"chatcmpl-1","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"plain"},"finish_reason":"stop"}],"error":null}"#,
        "\n\ndata: [DONE]\n\n",
    );
    let server = TestServer::start(Reply::raw(200, "text/event-stream", events)).await;

    let generation = stream_hello(&server).await;
    let chunks = super::good_chunks(generation).await;

    let texts: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(texts, ["café \"ok\"\n", "plain"]);
    assert_eq!(chunks[0].id.as_deref(), Some("chatcmpl-1"));
    assert_eq!(chunks[0].model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(chunks[1].finish_reason.as_deref(), Some("stop"));
}
