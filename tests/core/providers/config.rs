//! A new user's path: a config file with `type = "openai"` and a base URL, against an
//! OpenAI-compatible server; every call, good or bad, lands in the trace store.

use futures_util::StreamExt;
use llmtrace::{Client, TraceQuery, Usage};
use serde_json::json;

use super::openai::{completion, text_chunks};
use crate::support::{Part, Reply, TestServer, refused_base_url};

fn client_for(base_url: &str) -> (Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("llmtrace.toml");
    let toml = format!(
        "[provider]\ntype = \"openai\"\nmodel = \"gpt-4o-mini\"\nbase_url = \"{base_url}/v1\"\ntimeout_ms = 2000\n\n[tracing]\nverbatim = true\n"
    );
    std::fs::write(&path, toml).expect("write the config");
    (Client::from_config(&path).expect("a valid config"), dir)
}

#[tokio::test]
async fn a_configured_openai_compatible_server_answers_and_is_traced() {
    let server = TestServer::start(Reply::json(completion())).await;
    let (client, _dir) = client_for(&server.url(""));

    let response = client.generate("Hello").await.expect("an answer");

    assert_eq!(
        response.content,
        "\n\nHello there, how may I assist you today?"
    );
    let trace = client
        .get_trace(&response.trace_id().unwrap())
        .expect("a trace");
    assert_eq!(trace.provider, "openai");
    assert_eq!(trace.model, "gpt-4o-mini");
    let traced = trace.response.as_ref().unwrap();
    assert_eq!(traced.usage, Some(Usage::new(9, 12)));
    assert_eq!(traced.finish_reason.as_deref(), Some("stop"));
    assert!(traced.raw_response.is_some(), "verbatim = true in the file");
    assert_eq!(server.request().path, "/v1/chat/completions");
}

#[tokio::test]
async fn a_configured_server_streams_and_the_stream_is_traced() {
    let server = TestServer::start(Reply::sse(&text_chunks(), "data: [DONE]\n\n")).await;
    let (client, _dir) = client_for(&server.url(""));

    let stream = client.stream("Say hello").await.expect("a stream");
    let trace_id = stream.trace_id().unwrap();
    let text: String = stream
        .map(|chunk| chunk.expect("a chunk").content)
        .collect()
        .await;

    assert_eq!(text, "Hello there!");
    let traced = client
        .get_trace(&trace_id)
        .unwrap()
        .response
        .clone()
        .unwrap();
    assert_eq!(traced.content, "Hello there!");
    assert_eq!(traced.usage, Some(Usage::new(9, 3)));
    assert!(traced.time_to_first_token_ms.is_some());
}

#[tokio::test]
async fn failed_calls_of_a_configured_server_are_traced_too() {
    let failing =
        TestServer::start(Reply::status(500, json!({"error": {"message": "boom"}}))).await;
    let (client, _dir) = client_for(&failing.url(""));
    let (unreachable, _dir2) = client_for(&refused_base_url());

    let error = client.generate("Hello").await.expect_err("a server error");
    unreachable.generate("Hello").await.expect_err("no server");

    assert_eq!(error.status(), Some(500));
    let trace = &client.get_traces(TraceQuery::all())[0];
    let traced = trace.error.as_ref().unwrap();
    assert_eq!((traced.kind.as_str(), traced.status), ("server", Some(500)));
    assert!(traced.message.contains("boom"), "{}", traced.message);
    assert!(trace.response.is_none());
    let refused = &unreachable.get_traces(TraceQuery::all())[0];
    assert_eq!(refused.error.as_ref().unwrap().kind, "connect");
}

#[tokio::test]
async fn configured_stream_deadlines_end_a_dripping_stream_as_a_traced_timeout() {
    // A token every 50 ms for 30 s.
    let Reply::Stream {
        content_type,
        parts,
    } = Reply::sse(&text_chunks()[..1], "")
    else {
        unreachable!("sse streams");
    };
    let parts = parts
        .into_iter()
        .cycle()
        .take(1200)
        .map(|part| match part {
            Part::Pause(_) => Part::Pause(std::time::Duration::from_millis(50)),
            other => other,
        })
        .collect();
    let server = TestServer::start(Reply::Stream {
        content_type,
        parts,
    })
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("llmtrace.toml");
    let base = server.url("/v1");
    let toml = format!(
        "[provider]\ntype = \"openai\"\nmodel = \"m\"\nbase_url = \"{base}\"\n\
         stall_timeout_ms = 5000\nstream_timeout_ms = 700\n"
    );
    std::fs::write(&path, toml).expect("write the config");
    let client = Client::from_config(&path).expect("a valid config");

    let items: Vec<_> = client
        .stream("Hello")
        .await
        .expect("a stream")
        .collect()
        .await;

    let error = items.last().unwrap().as_ref().expect_err("the deadline");
    assert!(
        error.message().contains("after 700ms (stream timeout)"),
        "{error}"
    );
    let trace = &client.get_traces(TraceQuery::all())[0];
    assert_eq!(trace.error.as_ref().unwrap().kind, "timeout");
}
