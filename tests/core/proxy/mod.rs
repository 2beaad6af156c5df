//! `llmtrace::proxy` end to end: real HTTP clients against the proxy, and the proxy against a
//! loopback upstream speaking each provider's wire format.

use std::sync::Arc;
use std::time::Duration;

use crate::support::upstream::{Reply, Upstream, openai_chunk};
use futures_util::StreamExt;
use llmtrace::exporter::{ExporterOptions, ExporterSink, JsonlExporter};
use llmtrace::provider::{AnthropicProvider, OpenAiProvider, ProviderOptions};
use llmtrace::proxy::{Proxy, ProxyConfig, ProxyError, TRACE_ID_HEADER};
use llmtrace::{Client, ErrorKind};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

/// A proxy serving on a free loopback port until the test ends (or `stop` is sent).
struct Running {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<Result<(), ProxyError>>,
}

async fn serve(proxy: Proxy) -> Running {
    let listener = proxy.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel();
    let served = tokio::spawn(proxy.serve(listener, async {
        let _ = stopped.await;
    }));
    Running {
        base,
        stop: Some(stop),
        served,
    }
}

fn openai_client(upstream: &Upstream) -> Client {
    let options = ProviderOptions::new("gpt-up")
        .base_url(format!("{}/v1", upstream.base))
        .api_key("sk-upstream-secret");
    Client::builder()
        .provider(OpenAiProvider::new(options).unwrap())
        .build()
}

fn anthropic_client(upstream: &Upstream) -> Client {
    let options = ProviderOptions::new("claude-up")
        .base_url(&upstream.base)
        .api_key("sk-ant-upstream-secret");
    Client::builder()
        .provider(AnthropicProvider::new(options).unwrap())
        .build()
}

async fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn trace_id(response: &reqwest::Response) -> Uuid {
    response.headers()[TRACE_ID_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn completion_body() -> Value {
    json!({
        "id": "chatcmpl-up", "object": "chat.completion", "model": "gpt-up",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Paris"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    })
}

#[tokio::test]
async fn openai_request_reaches_upstream_with_its_parameters_and_is_traced_with_header_metadata() {
    let upstream = Upstream::start(Reply::Json(200, completion_body())).await;
    let client = openai_client(&upstream);
    let proxy = serve(Proxy::new(client.clone())).await;
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"}
        ],
        "temperature": 0.2, "max_tokens": 5, "seed": 7, "top_p": 0.9, "stop": "\n",
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "d",
                   "parameters": {"type": "object", "properties": {}}}}],
        "presence_penalty": 0.5, "tool_choice": "required", "logit_bias": {"50256": -100},
        // How the proxy streams upstream is its own choice: not forwarded.
        "stream_options": {"include_usage": false},
    });
    let headers = [
        ("x-llmtrace-session-id", "s-1"),
        ("x-llmtrace-step-type", "planning"),
        ("x-llmtrace-attempt", "2"),
        ("x-llmtrace-metadata-user", "ann"),
    ];
    let response = post(
        &format!("{}/v1/chat/completions", proxy.base),
        &headers,
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let id = trace_id(&response);
    // Time-ordered, as the trace layer makes them, so a store's index on them stays cheap.
    assert_eq!(id.get_version_num(), 7, "{id}");
    let answer = json_of(response).await;
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "Paris");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["usage"]["total_tokens"], 10);

    let sent = &upstream.bodies()[0];
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent["messages"][1]["content"], "Capital of France?");
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["max_tokens"], 5);
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["stop"], json!(["\n"]));
    assert_eq!(sent["tools"][0]["function"]["name"], "lookup");
    // Parameters without a field of their own go upstream as the client wrote them.
    let forwarded = json!({"presence_penalty": 0.5, "tool_choice": "required",
                           "logit_bias": {"50256": -100}});
    for (key, value) in forwarded.as_object().unwrap() {
        assert_eq!(&sent[key], value, "{key} in {sent}");
    }

    let trace = client.get_trace(&id).expect("the response names its trace");
    assert_eq!(trace.metadata["session_id"], "s-1");
    assert_eq!(trace.metadata["step_type"], "planning");
    assert_eq!(trace.metadata["attempt_number"], 2);
    assert_eq!(trace.metadata["user"], "ann");
    assert_eq!(trace.metadata["requested_model"], "gpt-4o");
    assert_eq!(
        serde_json::to_value(&trace.parameters.extra).unwrap(),
        forwarded
    );
    assert!(!trace.metadata.contains_key("unforwarded_parameters"));
    assert_eq!(trace.response.as_ref().unwrap().content, "Paris");
}

#[tokio::test]
async fn openai_stream_reaches_the_client_before_the_upstream_sends_its_second_chunk() {
    let gate = Arc::new(Notify::new());
    let events = vec![
        openai_chunk("Hel", None),
        openai_chunk("lo", Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ];
    let upstream = Upstream::start(Reply::Sse(events, Some(gate.clone()))).await;
    let client = openai_client(&upstream);
    let proxy = serve(Proxy::new(client.clone())).await;
    let body = json!({"model": "gpt-4o", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let response = post(
        &format!("{}/v1/chat/completions", proxy.base),
        &[],
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let id = trace_id(&response);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    // The upstream holds "lo" until we release it, so "Hel" can only arrive if it is relayed
    // on its own; a buffering proxy would stall here until the deadline.
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("\"Hel\"") {
            seen.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
        }
    })
    .await;
    assert!(
        first.is_ok(),
        "first chunk not relayed before the second was sent: {seen:?}"
    );
    assert!(!seen.contains("\"lo\""));
    gate.notify_one();
    while let Some(bytes) = body.next().await {
        seen.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
    }
    let events: Vec<Value> = seen
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    assert_eq!(events[0]["object"], "chat.completion.chunk");
    assert_eq!(
        events.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert!(seen.ends_with("data: [DONE]\n\n"));
    // One trace, recorded once the stream ended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let trace = loop {
        if let Some(trace) = client.get_trace(&id) {
            break trace;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream never traced"
        );
        tokio::task::yield_now().await;
    };
    assert!(trace.stream);
    assert_eq!(trace.response.as_ref().unwrap().content, "Hello");
    assert!(
        trace
            .response
            .as_ref()
            .unwrap()
            .time_to_first_token_ms
            .is_some()
    );
}

#[tokio::test]
async fn a_burst_of_streamed_events_is_relayed_without_waiting_for_the_clients_acks() {
    let mut events: Vec<String> = (0..20)
        .map(|i| openai_chunk(&format!("t{i} "), None))
        .collect();
    events.push("data: [DONE]\n\n".to_owned());
    let upstream = Upstream::start(Reply::Burst(events)).await;
    let proxy = serve(Proxy::new(openai_client(&upstream))).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", proxy.base);
    let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    // From the first byte of each answer to its last, over one kept-alive connection.
    let mut relayed = Vec::new();
    for _ in 0..4 {
        let response = http.post(&url).body(body.to_vec()).send().await.unwrap();
        let mut body = response.bytes_stream();
        let mut seen = String::new();
        let mut first = None;
        while let Some(bytes) = body.next().await {
            first.get_or_insert_with(tokio::time::Instant::now);
            seen.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        }
        assert!(seen.ends_with("data: [DONE]\n\n"), "{seen}");
        relayed.push(first.unwrap().elapsed());
    }
    // The upstream writes the 21 events within a millisecond or two. Were the proxy's small
    // writes held until the client acknowledged the one before (Nagle's algorithm), every
    // answer after the first on a connection (where the client delays its acknowledgements,
    // 40 ms on Linux) would take 40 ms or more; the fastest of them tells, whatever the load.
    let fastest = relayed[1..].iter().min().unwrap();
    assert!(
        *fastest < Duration::from_millis(20),
        "a burst of 21 events took {relayed:?} to relay"
    );
}

#[tokio::test]
async fn upstream_429_stays_429_in_the_openai_error_shape_and_is_traced() {
    let limited = json!({"error": {"message": "slow down", "type": "rate_limit_error"}});
    let upstream = Upstream::start(Reply::Json(429, limited)).await;
    let client = openai_client(&upstream);
    let proxy = serve(Proxy::new(client.clone())).await;
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let response = post(&format!("{}/v1/chat/completions", proxy.base), &[], body).await;
    assert_eq!(response.status(), 429);
    let id = trace_id(&response);
    let error = json_of(response).await;
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("slow down")
    );
    let trace = client
        .get_trace(&id)
        .expect("the error is traced under the header's id");
    assert_eq!(
        trace.error.as_ref().unwrap().kind,
        ErrorKind::RateLimited.as_str()
    );
}

#[tokio::test]
async fn anthropic_request_through_an_anthropic_upstream_keeps_tools_and_answers_in_anthropic_shape()
 {
    let message = json!({
        "id": "msg_up", "type": "message", "role": "assistant", "model": "claude-up",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather",
                     "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 12, "output_tokens": 7},
    });
    let upstream = Upstream::start(Reply::Json(200, message)).await;
    let client = anthropic_client(&upstream);
    let proxy = serve(Proxy::new(client.clone())).await;
    let body = json!({
        "model": "claude-sonnet-4", "max_tokens": 100, "system": "Be brief.",
        "top_k": 5, "stop_sequences": ["END"],
        "tool_choice": {"type": "any"}, "metadata": {"user_id": "u-1"},
        "tools": [{"name": "weather", "description": "d",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}],
    });
    let response = post(
        &format!("{}/v1/messages", proxy.base),
        &[],
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let id = trace_id(&response);
    let answer = json_of(response).await;
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(
        answer["content"],
        json!([{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}])
    );
    assert_eq!(
        answer["usage"],
        json!({"input_tokens": 12, "output_tokens": 7})
    );
    let sent = &upstream.bodies()[0];
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(sent["max_tokens"], 100);
    assert_eq!(sent["top_k"], 5);
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(sent["tools"][0]["name"], "weather");
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));
    assert_eq!(sent["metadata"], json!({"user_id": "u-1"}));
    let trace = client.get_trace(&id).unwrap();
    assert_eq!(
        trace.parameters.extra["tool_choice"],
        json!({"type": "any"})
    );
}

#[tokio::test]
async fn anthropic_stream_is_a_complete_messages_event_sequence() {
    let proxy = serve(Proxy::new(Client::builder().build())).await;
    let body = br#"{"model":"echo","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hello there"}]}"#;
    let response = post(&format!("{}/v1/messages", proxy.base), &[], body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names[1], "content_block_start");
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let said: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|d| d["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(said, "Echo: hello there");
}

#[tokio::test]
async fn upstream_500_is_a_500_in_the_anthropic_error_shape() {
    let upstream = Upstream::start(Reply::Json(500, json!({"type": "error"}))).await;
    let proxy = serve(Proxy::new(anthropic_client(&upstream))).await;
    let body = br#"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let response = post(&format!("{}/v1/messages", proxy.base), &[], body).await;
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key(TRACE_ID_HEADER));
    let error = json_of(response).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "api_error");
}

#[tokio::test]
async fn wrong_or_missing_client_key_is_401_and_the_right_one_passes() {
    let proxy = serve(Proxy::new(Client::builder().build()).client_key("proxy-key")).await;
    let chat = format!("{}/v1/chat/completions", proxy.base);
    let messages = format!("{}/v1/messages", proxy.base);
    let openai = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let anthropic = br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;

    let wrong = post(&chat, &[("authorization", "Bearer proxy-kez")], openai).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        json_of(wrong).await["error"]["type"],
        "authentication_error"
    );
    let missing = post(&messages, &[], anthropic).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(json_of(missing).await["type"], "error");

    let right = post(&chat, &[("authorization", "Bearer proxy-key")], openai).await;
    assert_eq!(right.status(), 200);
    let right = post(&messages, &[("x-api-key", "proxy-key")], anthropic).await;
    assert_eq!(right.status(), 200);
    let health = reqwest::get(format!("{}/health", proxy.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn without_a_client_key_only_loopback_addresses_are_served() {
    let open = Proxy::new(Client::builder().build());
    let error = open.bind("0.0.0.0:0".parse().unwrap()).await.unwrap_err();
    assert!(matches!(error, ProxyError::OpenRelay(_)), "{error}");
    assert!(error.to_string().contains("client_key_env"));
    let keyed = open.client_key("k");
    assert!(keyed.bind("0.0.0.0:0".parse().unwrap()).await.is_ok());
}

#[tokio::test]
async fn bad_json_is_a_400_and_an_oversized_body_a_413_in_the_apis_shape() {
    let proxy = serve(Proxy::new(Client::builder().build()).max_body_bytes(1024)).await;
    let chat = format!("{}/v1/chat/completions", proxy.base);
    let response = post(&chat, &[], b"{\"model\": ").await;
    assert_eq!(response.status(), 400);
    let error = json_of(response).await;
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );

    let big = format!(
        r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(2048)
    );
    let response = post(&format!("{}/v1/messages", proxy.base), &[], big.as_bytes()).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        json_of(response).await["error"]["type"],
        "request_too_large"
    );
}

#[tokio::test]
async fn models_are_routed_to_their_own_stack_and_others_to_the_default() {
    let default = Client::builder().build();
    let routed = Client::builder()
        .provider(llmtrace::provider::EchoProvider::new().model("echo-routed"))
        .build();
    let proxy = serve(Proxy::new(default.clone()).route("special", routed.clone())).await;
    let chat = format!("{}/v1/chat/completions", proxy.base);
    for model in ["special", "anything-else"] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let response = post(&chat, &[], &serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(routed.store().len(), 1);
    assert_eq!(default.store().len(), 1);
    let models = json_of(
        reqwest::get(format!("{}/v1/models", proxy.base))
            .await
            .unwrap(),
    )
    .await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["special", "echo-1"]);
}

#[tokio::test]
async fn shutdown_finishes_the_in_flight_stream_and_flushes_the_exporters() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.jsonl");
    let gate = Arc::new(Notify::new());
    let events = vec![
        openai_chunk("a", None),
        openai_chunk("b", Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ];
    let upstream = Upstream::start(Reply::Sse(events, Some(gate.clone()))).await;
    // Batches wait a minute to fill: only the shutdown flush can write the trace in time.
    let options = ExporterOptions::default().batch_interval(Duration::from_secs(60));
    let exporters = ExporterSink::builder()
        .exporter("file", JsonlExporter::new(&file), options)
        .build()
        .unwrap();
    let client = Client::builder()
        .provider(
            OpenAiProvider::new(
                ProviderOptions::new("gpt-up")
                    .base_url(format!("{}/v1", upstream.base))
                    .api_key("k"),
            )
            .unwrap(),
        )
        .exporters(exporters)
        .build();
    let mut proxy = serve(Proxy::new(client)).await;
    let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let response = post(&format!("{}/v1/chat/completions", proxy.base), &[], body).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("\"a\""));
    proxy.stop.take().unwrap().send(()).unwrap();
    gate.notify_one();
    let mut rest = String::new();
    while let Some(bytes) = body.next().await {
        rest.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
    }
    assert!(
        rest.contains("\"b\"") && rest.ends_with("data: [DONE]\n\n"),
        "{rest}"
    );
    tokio::time::timeout(Duration::from_secs(10), &mut proxy.served)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), 1, "{written}");
    assert!(written.contains("\"ab\""));
}

/// Kills a child process however the test ends.
struct Kill(Option<std::process::Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `llmtrace proxy -c file` and returns it with the base URL it printed.
async fn cli_proxy(file: &std::path::Path) -> (Kill, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_llmtrace"))
        .args(["proxy", "-c"])
        .arg(file)
        .env("UPSTREAM_KEY", "sk-upstream-secret")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stderr).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("llmtrace proxy listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (Kill(Some(child)), base)
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_right_after_the_last_answer_leaves_one_jsonl_line_per_request_served() {
    use rustix::process::{Pid, Signal, kill_process};
    let answer = json!({"id": "c1", "model": "gpt-up",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "stop"}]});
    let upstream = Upstream::start(Reply::Json(200, answer)).await;
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces.jsonl");
    let file = dir.path().join("llmtrace.toml");
    // Batches wait a minute to fill, so the lines of the last, partial batch are written only
    // if the shutdown flushes them.
    std::fs::write(
        &file,
        format!(
            "[provider]\ntype = \"openai\"\nmodel = \"gpt-up\"\nbase_url = \"{}/v1\"\n\
             api_key_env = \"UPSTREAM_KEY\"\n\n[exporters.file]\ntype = \"jsonl\"\npath = {:?}\nbatch_interval_ms = 60000\n\n\
             [proxy]\nlisten = \"127.0.0.1:0\"\n",
            upstream.base,
            traces.display().to_string()
        ),
    )
    .unwrap();
    let (mut child, base) = cli_proxy(&file).await;
    let url = format!("{base}/v1/chat/completions");
    let http = reqwest::Client::new();
    // 8 clients at once, 50 requests each.
    let clients = (0..8).map(|_| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..50 {
                let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
                let response = http.post(&url).body(body.to_vec()).send().await.unwrap();
                assert_eq!(response.status(), 200);
                ids.push(trace_id(&response).to_string());
                response.bytes().await.unwrap();
            }
            ids
        })
    });
    let mut served = Vec::new();
    for ids in futures_util::future::join_all(clients).await {
        served.extend(ids.unwrap());
    }
    let mut process = child.0.take().unwrap();
    kill_process(Pid::from_raw(process.id() as i32).unwrap(), Signal::TERM).unwrap();
    let exited = tokio::task::spawn_blocking(move || process.wait());
    let status = tokio::time::timeout(Duration::from_secs(30), exited)
        .await
        .expect("the proxy exits after SIGTERM")
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let mut written: Vec<String> = std::fs::read_to_string(&traces)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["trace_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    written.sort_unstable();
    served.sort_unstable();
    assert_eq!(written.len(), 400);
    assert_eq!(written, served);
}

#[test]
fn proxy_section_parses_with_defaults_and_rejects_unknown_keys() {
    let config = ProxyConfig::from_toml_str("[proxy]\nclient_key_env = \"KEY\"").unwrap();
    assert_eq!(config.listen, "127.0.0.1:4000".parse().unwrap());
    assert_eq!(config.client_key_env.as_deref(), Some("KEY"));
    let error = ProxyConfig::from_toml_str("[proxy]\nlisten_on = \"x\"").unwrap_err();
    assert!(error.to_string().contains("listen_on"), "{error}");
    // The core configuration accepts the section it does not read.
    assert!(llmtrace::config::Config::from_toml_str("[proxy]\nlisten = \"127.0.0.1:1\"").is_ok());
}

#[test]
fn the_cli_refuses_a_non_loopback_address_without_a_client_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("llmtrace.toml");
    std::fs::write(&file, "[proxy]\nlisten = \"0.0.0.0:0\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_llmtrace"))
        .args(["proxy", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without a client key"),
        "{stderr}"
    );
}

#[tokio::test]
async fn routes_name_config_files_relative_to_the_main_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("routed.toml"),
        "[provider]\ntype = \"echo\"\nmodel = \"echo-routed\"\n",
    )
    .unwrap();
    let main = dir.path().join("llmtrace.toml");
    std::fs::write(&main, "[proxy.routes]\n\"special\" = \"routed.toml\"\n").unwrap();
    let config = ProxyConfig::load(&main).unwrap();
    let proxy = Proxy::from_config(Client::builder().build(), &config).unwrap();
    let proxy = serve(proxy).await;
    let models = json_of(
        reqwest::get(format!("{}/v1/models", proxy.base))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(models["data"][0]["id"], "special");
    let body = br#"{"model":"special","messages":[{"role":"user","content":"hi"}]}"#;
    let answer =
        json_of(post(&format!("{}/v1/chat/completions", proxy.base), &[], body).await).await;
    assert_eq!(answer["model"], "echo-routed");
}

/// Polls `url` (a trace page of the viewer's API) until it lists `count` traces.
async fn traces_listed(url: &str, count: usize) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = json_of(reqwest::get(url).await.unwrap()).await;
        if page["traces"].as_array().map(Vec::len) == Some(count) {
            return page;
        }
        assert!(std::time::Instant::now() < deadline, "{url}: {page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_proxy_serves_the_viewer_over_its_store_on_its_own_port() {
    use llmtrace::exporter::{SqliteExporter, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let options = ExporterOptions::default().batch_interval(Duration::from_millis(10));
    let sink = ExporterSink::builder()
        .exporter("local", SqliteExporter::new(&db).open().unwrap(), options)
        .build()
        .unwrap();
    let client = Client::builder().exporters(sink).build();
    let store = SqliteStore::open(&db).unwrap();
    let proxy = Proxy::new(client).ui(store.clone());
    let error = proxy
        .clone()
        .client_key("k")
        .bind("0.0.0.0:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, ProxyError::UiBeyondLoopback(_)), "{error}");

    let proxy = serve(proxy).await;
    let body = br#"{"model":"echo","messages":[{"role":"user","content":"hello viewer"}]}"#;
    let answer = post(&format!("{}/v1/chat/completions", proxy.base), &[], body).await;
    let id = trace_id(&answer);
    let page = traces_listed(&format!("{}/api/traces", proxy.base), 1).await;
    assert_eq!(page["traces"][0]["trace_id"], id.to_string());
    let html = reqwest::get(format!("{}/traces/{id}", proxy.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("hello viewer"), "{html}");
    let css = reqwest::get(format!("{}/assets/style.css", proxy.base))
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
}

#[tokio::test]
async fn the_cli_serves_the_viewer_when_proxy_ui_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("llmtrace.toml");
    let db = dir.path().join("traces.db");
    std::fs::write(
        &file,
        format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\nui = true\n\n[exporters.local]\ntype = \"sqlite\"\npath = {:?}\nbatch_interval_ms = 10\n",
            db.display().to_string()
        ),
    )
    .unwrap();
    let (_child, base) = cli_proxy(&file).await;
    let body = br#"{"model":"echo","messages":[{"role":"user","content":"hi"}]}"#;
    let answer = post(&format!("{base}/v1/chat/completions"), &[], body).await;
    let id = trace_id(&answer);
    let page = traces_listed(&format!("{base}/api/traces"), 1).await;
    assert_eq!(page["traces"][0]["trace_id"], id.to_string());
}

#[test]
fn proxy_ui_without_a_sqlite_exporter_is_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("llmtrace.toml");
    std::fs::write(&file, "[proxy]\nui = true\n").unwrap();
    let error = llmtrace::proxy::ui_store(&file).unwrap_err();
    assert!(matches!(error, ProxyError::UiWithoutStore(_)), "{error}");
    assert!(error.to_string().contains("llmtrace.toml"), "{error}");
}

#[tokio::test]
async fn parameters_of_another_api_are_traced_but_not_sent_to_a_provider_that_would_not_know_them()
{
    let message = json!({
        "id": "msg_up", "type": "message", "role": "assistant", "model": "claude-up",
        "content": [{"type": "text", "text": "Paris"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1},
    });
    let upstream = Upstream::start(Reply::Json(200, message)).await;
    let client = anthropic_client(&upstream);
    let proxy = serve(Proxy::new(client.clone())).await;
    let body =
        br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"presence_penalty":0.5}"#;
    let response = post(&format!("{}/v1/chat/completions", proxy.base), &[], body).await;
    assert_eq!(response.status(), 200);
    let id = trace_id(&response);
    let sent = &upstream.bodies()[0];
    assert!(sent.get("presence_penalty").is_none(), "{sent}");
    let trace = client.get_trace(&id).unwrap();
    assert_eq!(
        trace.metadata["unforwarded_parameters"],
        json!({"presence_penalty": 0.5})
    );
    assert!(trace.parameters.extra.is_empty());
}
