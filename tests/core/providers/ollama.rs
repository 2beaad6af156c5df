//! Ollama `/api/chat`: request format, answers, NDJSON streams, and traces through `Client`.

use futures_util::StreamExt;
use llmtrace::provider::{OllamaProvider, ProviderOptions};
use llmtrace::{Client, GenerateRequest, Generation, Message, Tool, ToolCall, TraceQuery, Usage};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{Reply, TestServer};

fn provider(server: &TestServer) -> OllamaProvider {
    OllamaProvider::new(ProviderOptions::new("llama3.2").base_url(server.url("")))
        .expect("a valid configuration")
}

/// The non-streaming chat answer of the API docs.
fn answer() -> Value {
    json!({
        "model": "llama3.2",
        "created_at": "2023-12-12T14:13:43.416799Z",
        "message": {"role": "assistant", "content": "Hello! How are you today?"},
        "done_reason": "stop",
        "done": true,
        "total_duration": 5191566416u64,
        "load_duration": 2154458,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 383809000,
        "eval_count": 298,
        "eval_duration": 4799921000u64
    })
}

/// The streamed chat answer of the API docs: one object per token, then the final counts.
fn text_lines() -> Vec<Value> {
    let token = |text: &str| {
        json!({
            "model": "llama3.2",
            "created_at": "2023-08-04T08:52:19.385406455-07:00",
            "message": {"role": "assistant", "content": text, "images": null},
            "done": false
        })
    };
    vec![
        token("The"),
        token(" sky"),
        token(" is"),
        token(" blue."),
        json!({
            "model": "llama3.2",
            "created_at": "2023-08-04T19:22:45.499127Z",
            "message": {"role": "assistant", "content": ""},
            "done": true,
            "done_reason": "stop",
            "total_duration": 4883583458u64,
            "load_duration": 1334875,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 342546000,
            "eval_count": 282,
            "eval_duration": 4535599000u64
        }),
    ]
}

fn weather_tool() -> Tool {
    Tool::new(
        "get_current_weather",
        "Get the current weather for a location",
        json!({
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "format": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["location", "format"]
        }),
    )
}

fn tool_call_message() -> Value {
    json!({
        "role": "assistant",
        "content": "",
        "tool_calls": [{
            "function": {
                "name": "get_current_weather",
                "arguments": {"format": "celsius", "location": "Paris, FR"}
            }
        }]
    })
}

#[tokio::test]
async fn sends_messages_tools_options_and_stream_flag_in_api_chat_format() {
    let server = TestServer::start(Reply::json(answer())).await;
    let mut call = ToolCall::new(
        "get_current_weather",
        json!({"format": "celsius", "location": "Paris, FR"}),
    );
    call.id = Some("call_1".into());
    let mut assistant = Message::assistant("");
    assistant.tool_calls = vec![call];
    let request = GenerateRequest::new("Should I take an umbrella?")
        .system_prompt("Answer briefly.")
        .messages([
            Message::user("What is the weather today in Paris?"),
            assistant,
            Message::tool("call_1", "22 degrees, light rain"),
        ])
        .tool(weather_tool())
        .temperature(0.0)
        .max_tokens(128)
        .seed(7)
        .top_p(0.5)
        .top_k(20)
        .stop("user:");

    provider(&server).oneshot(request).await.expect("an answer");

    let sent = server.request();
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.header("authorization"), None, "ollama needs no key");
    assert_eq!(
        sent.body,
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "What is the weather today in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {
                    "name": "get_current_weather",
                    "arguments": {"format": "celsius", "location": "Paris, FR"}
                }}]},
                {"role": "tool", "content": "22 degrees, light rain", "tool_name": "get_current_weather"},
                {"role": "user", "content": "Should I take an umbrella?"}
            ],
            "tools": [{
                "type": "function",
                "function": {
                    "name": "get_current_weather",
                    "description": "Get the current weather for a location",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "location": {"type": "string"},
                            "format": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                        },
                        "required": ["location", "format"]
                    }
                }
            }],
            "options": {
                "temperature": 0.0,
                "num_predict": 128,
                "seed": 7,
                "top_p": 0.5,
                "top_k": 20,
                "stop": ["user:"]
            },
            "stream": false
        })
    );
}

#[tokio::test]
async fn reads_content_done_reason_and_eval_counts() {
    let server = TestServer::start(Reply::json(answer())).await;

    let Generation::Complete(response) = provider(&server)
        .oneshot(GenerateRequest::new("Hello"))
        .await
        .expect("an answer")
    else {
        panic!("a complete answer was asked for");
    };

    assert_eq!(response.content, "Hello! How are you today?");
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(response.usage, Some(Usage::new(26, 298)));
    assert_eq!(response.model.as_deref(), Some("llama3.2"));
    assert_eq!(server.request().body.get("options"), None, "no options set");
}

#[tokio::test]
async fn reads_tool_calls_with_object_arguments() {
    let body = json!({
        "model": "llama3.2",
        "created_at": "2024-07-22T20:33:28.123648Z",
        "message": tool_call_message(),
        "done_reason": "stop",
        "done": true,
        "total_duration": 885095291,
        "load_duration": 3753500,
        "prompt_eval_count": 122,
        "prompt_eval_duration": 328493000,
        "eval_count": 33,
        "eval_duration": 552222000
    });
    let server = TestServer::start(Reply::json(body.clone())).await;
    let provider = OllamaProvider::new(
        ProviderOptions::new("llama3.2")
            .base_url(server.url("/"))
            .verbatim(true),
    )
    .expect("a valid configuration");

    let response = provider
        .oneshot(GenerateRequest::new("Weather in Paris?").tool(weather_tool()))
        .await
        .expect("an answer")
        .into_response()
        .await
        .expect("a complete answer");

    assert_eq!(
        response.tool_calls,
        [ToolCall::new(
            "get_current_weather",
            json!({"format": "celsius", "location": "Paris, FR"})
        )]
    );
    assert_eq!(response.usage, Some(Usage::new(122, 33)));
    assert_eq!(response.raw_response, Some(body));
}

#[tokio::test]
async fn streams_ndjson_lines_with_counts_on_the_last() {
    let server = TestServer::start(Reply::ndjson(&text_lines())).await;

    let generation = provider(&server)
        .oneshot(GenerateRequest {
            stream: true,
            ..GenerateRequest::new("Why is the sky blue?")
        })
        .await
        .expect("a stream");

    let chunks = super::good_chunks(generation).await;
    let texts: Vec<&str> = chunks.iter().map(|c| c.content.as_str()).collect();
    assert_eq!(texts, ["The", " sky", " is", " blue.", ""]);
    assert_eq!(chunks[0].model.as_deref(), Some("llama3.2"));
    let last = chunks.last().expect("a last chunk");
    assert_eq!(last.finish_reason.as_deref(), Some("stop"));
    assert_eq!(last.usage, Some(Usage::new(26, 282)));
    assert_eq!(server.request().body["stream"], json!(true));
}

#[tokio::test]
async fn streams_tool_calls_whole() {
    let lines = vec![
        json!({
            "model": "llama3.2",
            "created_at": "2025-05-29T09:00:00Z",
            "message": tool_call_message(),
            "done": false
        }),
        json!({
            "model": "llama3.2",
            "created_at": "2025-05-29T09:00:01Z",
            "message": {"role": "assistant", "content": ""},
            "done": true,
            "done_reason": "stop",
            "prompt_eval_count": 122,
            "eval_count": 33
        }),
    ];
    let server = TestServer::start(Reply::ndjson(&lines)).await;

    let response = provider(&server)
        .oneshot(GenerateRequest {
            stream: true,
            ..GenerateRequest::new("Weather in Paris?").tool(weather_tool())
        })
        .await
        .expect("a stream")
        .into_response()
        .await
        .expect("a complete stream");

    assert_eq!(
        response.tool_calls,
        [ToolCall::new(
            "get_current_weather",
            json!({"format": "celsius", "location": "Paris, FR"})
        )]
    );
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(response.usage, Some(Usage::new(122, 33)));
}

#[tokio::test]
async fn client_traces_an_answer() {
    let server = TestServer::start(Reply::json(answer())).await;
    let client = Client::builder().provider(provider(&server)).build();

    let response = client.generate("Hello").await.expect("an answer");

    let trace = client
        .get_trace(&response.trace_id().expect("a traced response"))
        .expect("the trace is stored");
    assert_eq!(trace.provider, "ollama");
    assert_eq!(trace.model, "llama3.2");
    let traced = trace.response.as_ref().expect("a traced answer");
    assert_eq!(traced.content, "Hello! How are you today?");
    assert_eq!(traced.finish_reason.as_deref(), Some("stop"));
    assert_eq!(traced.usage, Some(Usage::new(26, 298)));
    assert!(traced.generation_time_ms > 0.0);
    assert!(trace.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_traces_a_stream() {
    let server = TestServer::start(Reply::ndjson(&text_lines())).await;
    let client = Client::builder().provider(provider(&server)).build();

    let stream = client
        .stream("Why is the sky blue?")
        .await
        .expect("a stream");
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.iter().all(Result::is_ok));

    let traces = client.get_traces(TraceQuery::last(1));
    let traced = traces[0].response.as_ref().expect("a traced answer");
    assert_eq!(traced.content, "The sky is blue.");
    assert_eq!(traced.finish_reason.as_deref(), Some("stop"));
    assert_eq!(traced.usage, Some(Usage::new(26, 282)));
    assert!(traced.generation_time_ms > 0.0);
    assert!(traced.time_to_first_token_ms.is_some_and(|ms| ms > 0.0));
    assert!(traces[0].error.is_none());
}
