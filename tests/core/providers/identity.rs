//! What a trace records about who answered, for every HTTP provider: the provider's response
//! id and the model that actually served (complete answers and streams, without `verbatim`),
//! the server's address and port, and whether the request streamed, also when it failed
//! before its first chunk.

use futures_util::StreamExt;
use llmtrace::provider::{AnthropicProvider, OllamaProvider, OpenAiProvider, ProviderOptions};
use llmtrace::{Client, TraceQuery, TraceRecord};
use serde_json::{Value, json};

use crate::support::{Reply, TestServer};

/// The model the servers say answered, distinct from the configured one.
const SERVED: &str = "served-model-2025-01-01";

fn options(model: &str, base_url: String) -> ProviderOptions {
    ProviderOptions::new(model).base_url(base_url).api_key("k")
}

fn openai(server: &TestServer) -> OpenAiProvider {
    OpenAiProvider::new(options("gpt-4o-mini", server.url("/v1"))).unwrap()
}

fn anthropic(server: &TestServer) -> AnthropicProvider {
    AnthropicProvider::new(options("claude-sonnet-4-5", server.url(""))).unwrap()
}

fn ollama(server: &TestServer) -> OllamaProvider {
    OllamaProvider::new(ProviderOptions::new("llama3.2").base_url(server.url(""))).unwrap()
}

/// The only trace of `client`.
fn the_trace(client: &Client) -> TraceRecord {
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1);
    (*traces[0]).clone()
}

async fn generated(client: Client) -> TraceRecord {
    client.generate("Hello").await.expect("an answer");
    the_trace(&client)
}

async fn streamed(client: Client) -> TraceRecord {
    let stream = client.stream("Hello").await.expect("a stream");
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.iter().all(Result::is_ok), "{chunks:?}");
    the_trace(&client)
}

/// The response id and serving model are recorded (for streams too), the server named, and
/// the stream flag set exactly for streams.
fn assert_identity(trace: &TraceRecord, server: &TestServer, id: Option<&str>, stream: bool) {
    let response = trace.response.as_ref().expect("a traced answer");
    assert_eq!(response.raw_response, None, "not verbatim");
    assert_eq!(response.id.as_deref(), id);
    assert_eq!(response.model.as_deref(), Some(SERVED));
    assert_eq!(trace.server_address.as_deref(), Some("127.0.0.1"));
    let port = server.url("").rsplit(':').next().unwrap().parse().ok();
    assert_eq!(trace.server_port, port);
    assert_eq!(trace.stream, stream);
}

#[tokio::test]
async fn openai_answers_and_streams_record_the_completion_id_and_the_serving_model() {
    let completion = json!({
        "id": "chatcmpl-A1", "object": "chat.completion", "model": SERVED,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                     "finish_reason": "stop"}]
    });
    let server = TestServer::start(Reply::json(completion)).await;
    let trace = generated(Client::builder().provider(openai(&server)).build()).await;
    assert_identity(&trace, &server, Some("chatcmpl-A1"), false);

    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-S1", "object": "chat.completion.chunk", "model": SERVED,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let chunks = [
        chunk(json!({"content": "Hi"}), Value::Null),
        chunk(json!({}), json!("stop")),
    ];
    let server = TestServer::start(Reply::sse(&chunks, "data: [DONE]\n\n")).await;
    let trace = streamed(Client::builder().provider(openai(&server)).build()).await;
    assert_identity(&trace, &server, Some("chatcmpl-S1"), true);
}

#[tokio::test]
async fn anthropic_answers_and_streams_record_the_message_id_and_the_serving_model() {
    let message = json!({
        "id": "msg_A1", "type": "message", "role": "assistant", "model": SERVED,
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 2, "output_tokens": 1}
    });
    let server = TestServer::start(Reply::json(message)).await;
    let trace = generated(Client::builder().provider(anthropic(&server)).build()).await;
    assert_identity(&trace, &server, Some("msg_A1"), false);

    let events = [
        json!({"type": "message_start", "message": {"id": "msg_S1", "type": "message",
               "role": "assistant", "content": [], "model": SERVED,
               "usage": {"input_tokens": 2, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": "Hi"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
               "usage": {"output_tokens": 1}}),
        json!({"type": "message_stop"}),
    ];
    let server = TestServer::start(Reply::named_sse(&events)).await;
    let trace = streamed(Client::builder().provider(anthropic(&server)).build()).await;
    assert_identity(&trace, &server, Some("msg_S1"), true);
}

#[tokio::test]
async fn ollama_answers_and_streams_record_the_serving_model() {
    let line = |content: &str, done: bool| {
        json!({"model": SERVED, "message": {"role": "assistant", "content": content},
               "done": done, "done_reason": if done { "stop" } else { "" }})
    };
    let server = TestServer::start(Reply::json(line("Hi", true))).await;
    let trace = generated(Client::builder().provider(ollama(&server)).build()).await;
    // Ollama gives its answers no id.
    assert_identity(&trace, &server, None, false);

    let lines = [line("Hi", false), line("", true)];
    let server = TestServer::start(Reply::ndjson(&lines)).await;
    let trace = streamed(Client::builder().provider(ollama(&server)).build()).await;
    assert_identity(&trace, &server, None, true);
}

#[tokio::test]
async fn a_stream_refused_before_its_first_chunk_is_recorded_as_a_stream() {
    let refusal = json!({"error": {"message": "overloaded", "type": "server_error"}});
    let server = TestServer::start(Reply::status(503, refusal)).await;
    let client = Client::builder().provider(openai(&server)).build();

    let error = client.stream("Hello").await.expect_err("a refusal");
    assert_eq!(error.status(), Some(503));

    let trace = the_trace(&client);
    assert!(trace.stream, "{trace:?}");
    assert!(trace.response.is_none() && trace.error.is_some());
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(json["stream"], true);
    assert_eq!(json["server_address"], "127.0.0.1");
}

#[tokio::test]
async fn a_complete_answer_writes_no_stream_key_and_its_id_and_model_under_response() {
    let completion = json!({
        "id": "chatcmpl-A1", "model": SERVED,
        "choices": [{"index": 0, "message": {"content": "Hi"}, "finish_reason": "stop"}]
    });
    let server = TestServer::start(Reply::json(completion)).await;
    let trace = generated(Client::builder().provider(openai(&server)).build()).await;

    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(json.get("stream"), None);
    assert_eq!(json["response"]["id"], "chatcmpl-A1");
    assert_eq!(json["response"]["model"], SERVED);
    let back: TraceRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, trace);
}

#[test]
fn the_server_is_the_base_url_host_and_port_without_credentials() {
    let provider = OpenAiProvider::new(options(
        "gpt-4o",
        "https://user:pw@llm.example.com/v1?key=s3cret".to_owned(),
    ))
    .unwrap();
    let info = provider.info();
    assert_eq!(info.server_address.as_deref(), Some("llm.example.com"));
    assert_eq!(info.server_port, Some(443), "the scheme's default port");

    let provider =
        OllamaProvider::new(ProviderOptions::new("llama3.2").base_url("http://[::1]:8080"))
            .unwrap();
    let info = provider.info();
    assert_eq!(info.server_address.as_deref(), Some("::1"), "no brackets");
    assert_eq!(info.server_port, Some(8080));

    let provider = OllamaProvider::new(ProviderOptions::new("llama3.2")).unwrap();
    let info = provider.info();
    assert_eq!(info.server_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(info.server_port, Some(11434));
}
