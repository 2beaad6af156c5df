//! Every class of failure, for every provider: what the caller gets and what the trace says.

use std::error::Error as _;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use llmtrace::provider::{
    AnthropicProvider, BuildError, OllamaProvider, OpenAiProvider, ProviderOptions,
};
use llmtrace::{Client, ErrorKind, ProviderError, StreamChunk, TraceQuery, TraceRecord};
use serde_json::{Value, json};

use crate::support::{Part, Reply, SHORT_TIMEOUT, TOO_SLOW, TestServer, refused_base_url};

const KEY: &str = "sk-secret-do-not-leak-7f3a9c";

#[derive(Debug, Clone, Copy)]
enum Api {
    OpenAi,
    Ollama,
    Anthropic,
}

const ALL: [Api; 3] = [Api::OpenAi, Api::Ollama, Api::Anthropic];

impl Api {
    fn options(self, base: &str, timeout: Duration) -> ProviderOptions {
        let base = match self {
            Api::OpenAi => format!("{base}/v1"),
            Api::Ollama | Api::Anthropic => base.to_owned(),
        };
        ProviderOptions::new("test-model")
            .base_url(base)
            .api_key(KEY)
            .timeout(timeout)
    }

    /// A client over this provider at `base`.
    fn client(self, base: &str, timeout: Duration) -> Client {
        let options = self.options(base, timeout);
        let builder = Client::builder();
        match self {
            Api::OpenAi => builder.provider(OpenAiProvider::new(options).expect("valid options")),
            Api::Ollama => builder.provider(OllamaProvider::new(options).expect("valid options")),
            Api::Anthropic => {
                builder.provider(AnthropicProvider::new(options).expect("valid options"))
            }
        }
        .build()
    }

    /// A streamed answer, "Hel" then "lo", with or without its terminator.
    fn text_stream(self, terminated: bool) -> Reply {
        match self {
            Api::OpenAi => {
                let chunk = |content: &str| {
                    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                           "model": "gpt-4o-mini",
                           "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
                };
                let tail = if terminated { "data: [DONE]\n\n" } else { "" };
                Reply::sse(&[chunk("Hel"), chunk("lo")], tail)
            }
            Api::Ollama => {
                let line = |content: &str| {
                    json!({"model": "llama3.2", "created_at": "2023-08-04T08:52:19Z",
                           "message": {"role": "assistant", "content": content}, "done": false})
                };
                let mut lines = vec![line("Hel"), line("lo")];
                if terminated {
                    lines.push(
                        json!({"model": "llama3.2", "created_at": "2023-08-04T08:52:20Z",
                                      "message": {"role": "assistant", "content": ""},
                                      "done": true, "done_reason": "stop",
                                      "prompt_eval_count": 3, "eval_count": 2}),
                    );
                }
                Reply::ndjson(&lines)
            }
            Api::Anthropic => {
                let delta = |text: &str| {
                    json!({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": text}})
                };
                let mut events = vec![
                    json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                           "role": "assistant", "content": [], "model": "claude-sonnet-4-5",
                           "usage": {"input_tokens": 3, "output_tokens": 1}}}),
                    json!({"type": "content_block_start", "index": 0,
                           "content_block": {"type": "text", "text": ""}}),
                    delta("Hel"),
                    delta("lo"),
                ];
                if terminated {
                    events.push(json!({"type": "content_block_stop", "index": 0}));
                    events.push(json!({"type": "message_delta",
                                       "delta": {"stop_reason": "end_turn"},
                                       "usage": {"output_tokens": 2}}));
                    events.push(json!({"type": "message_stop"}));
                }
                Reply::named_sse(&events)
            }
        }
    }

    /// The provider's own error body for `status`.
    fn error_body(self, status: u16, message: &str) -> Value {
        match (self, status) {
            (Api::OpenAi, 429) => json!({"error": {"message": message, "type": "requests",
                                                   "param": null, "code": "rate_limit_exceeded"}}),
            (Api::OpenAi, _) => {
                json!({"error": {"message": message, "type": "invalid_request_error",
                                                 "param": null, "code": null}})
            }
            (Api::Ollama, _) => json!({"error": message}),
            (Api::Anthropic, 429) => json!({"type": "error", "request_id": "req_1",
                                            "error": {"type": "rate_limit_error", "message": message}}),
            (Api::Anthropic, _) => json!({"type": "error", "request_id": "req_1",
                                          "error": {"type": "api_error", "message": message}}),
        }
    }
}

/// Runs `test` for every provider at once: tests that wait for timeouts stay short.
async fn for_all_concurrently<F: Future<Output = ()>>(test: impl Fn(Api) -> F) {
    futures_util::future::join_all(ALL.map(test)).await;
}

/// The only trace a client recorded.
fn only_trace(client: &Client) -> std::sync::Arc<TraceRecord> {
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1, "one call, one trace");
    traces[0].clone()
}

/// Streams "Hello" to its end and returns the error it ends with.
/// Every item of the answer to a streamed "Hello".
async fn stream_items(client: &Client) -> Vec<Result<StreamChunk, ProviderError>> {
    client
        .stream("Hello")
        .await
        .expect("a stream")
        .collect()
        .await
}

async fn stream_error(client: &Client) -> ProviderError {
    stream_items(client)
        .await
        .into_iter()
        .last()
        .and_then(Result::err)
        .expect("the stream ends with an error")
}

/// Asserts the trace of a call that failed before any answer.
fn assert_failed_trace(client: &Client, kind: &str, status: Option<u16>, retryable: bool) {
    let trace = only_trace(client);
    assert_eq!(trace.response, None, "{kind}: no answer was traced");
    let error = trace.error.as_ref().expect("a traced error");
    assert_eq!(error.kind, kind);
    assert_eq!(error.status, status);
    assert_eq!(error.retryable, retryable);
    assert!(error.generation_time_ms > 0.0);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connect_error() {
    for api in ALL {
        let client = api.client(&refused_base_url(), SHORT_TIMEOUT);

        let error = client.generate("Hello").await.expect_err("nothing listens");

        assert_eq!(error.kind(), ErrorKind::Connect, "{api:?}: {error}");
        assert!(error.is_retryable());
        assert_eq!(error.status(), None);
        assert!(error.source().is_some(), "the transport error is kept");
        assert_failed_trace(&client, "connect", None, true);
    }
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_a_timeout() {
    for_all_concurrently(|api| async move {
        let server = TestServer::start(api.text_stream(true).after(TOO_SLOW)).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);
        let started = Instant::now();

        let error = client.generate("Hello").await.expect_err("too slow");

        assert!(started.elapsed() < TOO_SLOW, "{api:?}: gave up in time");
        assert_eq!(error.kind(), ErrorKind::Timeout, "{api:?}: {error}");
        assert!(error.is_retryable());
        assert_failed_trace(&client, "timeout", None, true);
    })
    .await;
}

#[tokio::test]
async fn a_stream_that_starts_too_late_is_a_timeout() {
    for_all_concurrently(|api| async move {
        let server = TestServer::start(api.text_stream(true).after(TOO_SLOW)).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let error = client.stream("Hello").await.expect_err("too slow");

        assert_eq!(error.kind(), ErrorKind::Timeout, "{api:?}: {error}");
        assert_failed_trace(&client, "timeout", None, true);
    })
    .await;
}

#[tokio::test]
async fn a_stream_that_stalls_longer_than_the_timeout_is_a_timeout_after_the_partial_answer() {
    for_all_concurrently(|api| async move {
        let Reply::Stream {
            content_type,
            mut parts,
        } = api.text_stream(true)
        else {
            unreachable!("text_stream streams");
        };
        parts.insert(parts.len() - 1, Part::Pause(TOO_SLOW));
        let server = TestServer::start(Reply::Stream {
            content_type,
            parts,
        })
        .await;
        // Long enough for the stream to start on a loaded machine (the three clients are set
        // up on one thread), shorter than the pause: the stall times out.
        let client = api.client(&server.url(""), TOO_SLOW * 2 / 3);

        let error = stream_error(&client).await;
        assert_eq!(error.kind(), ErrorKind::Timeout, "{api:?}: {error}");
        let trace = only_trace(&client);
        assert_eq!(
            trace.error.as_ref().map(|e| e.kind.as_str()),
            Some("timeout")
        );
        let partial = trace.response.as_ref().expect("the partial answer");
        assert!(partial.content.starts_with("Hel"), "{api:?}: {partial:?}");
    })
    .await;
}

#[tokio::test]
async fn error_statuses_carry_the_status_and_the_servers_message() {
    let cases = [
        (
            Api::OpenAi,
            401,
            ErrorKind::Authentication,
            "authentication",
        ),
        (
            Api::OpenAi,
            400,
            ErrorKind::InvalidRequest,
            "invalid_request",
        ),
        (
            Api::Ollama,
            404,
            ErrorKind::InvalidRequest,
            "invalid_request",
        ),
        (Api::Ollama, 500, ErrorKind::Server, "server"),
        (Api::Anthropic, 500, ErrorKind::Server, "server"),
        (Api::Anthropic, 529, ErrorKind::Server, "server"),
    ];
    for (api, status, kind, kind_name) in cases {
        let message = format!("the server says no ({status})");
        let server =
            TestServer::start(Reply::status(status, api.error_body(status, &message))).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let error = client.generate("Hello").await.expect_err("an error status");

        assert_eq!(error.kind(), kind, "{api:?} {status}");
        assert_eq!(error.status(), Some(status));
        assert!(error.message().contains(&message), "{api:?}: {error}");
        assert_eq!(error.is_retryable(), status >= 500);
        assert_failed_trace(&client, kind_name, Some(status), status >= 500);
    }
}

#[tokio::test]
async fn an_error_status_with_a_plain_text_body_keeps_the_text() {
    let server = TestServer::start(Reply::raw(502, "text/plain", "upstream connect error\n")).await;
    let client = Api::OpenAi.client(&server.url(""), SHORT_TIMEOUT);

    let error = client.generate("Hello").await.expect_err("an error status");

    assert_eq!(error.kind(), ErrorKind::Server);
    assert_eq!(error.status(), Some(502));
    assert_eq!(error.message(), "upstream connect error");
}

#[tokio::test]
async fn rate_limiting_is_retryable_and_traced_with_its_status() {
    for api in ALL {
        let message = "Rate limit reached for requests";
        let server = TestServer::start(Reply::status(429, api.error_body(429, message))).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let error = client.stream("Hello").await.expect_err("rate limited");

        assert_eq!(error.kind(), ErrorKind::RateLimited, "{api:?}");
        assert!(error.is_retryable());
        assert_eq!(error.status(), Some(429));
        assert!(error.message().contains(message));
        assert_failed_trace(&client, "rate_limited", Some(429), true);
    }
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_a_malformed_response_not_worth_retrying() {
    for api in ALL {
        for body in ["<html>gateway</html>", "{\"id\": \"chatcmpl-1\", \"choi"] {
            let server = TestServer::start(Reply::raw(200, "application/json", body)).await;
            let client = api.client(&server.url(""), SHORT_TIMEOUT);

            let error = client.generate("Hello").await.expect_err("not json");

            assert_eq!(
                error.kind(),
                ErrorKind::MalformedResponse,
                "{api:?}: {error}"
            );
            assert!(!error.is_retryable());
            assert_failed_trace(&client, "malformed_response", None, false);
        }
    }
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_malformed_response() {
    let bodies = [
        (
            Api::OpenAi,
            json!({"object": "chat.completion", "choices": []}),
        ),
        (Api::OpenAi, json!({"choices": "none"})),
        (
            Api::Ollama,
            json!({"model": "llama3.2", "message": {"content": 42}}),
        ),
        (
            Api::Anthropic,
            json!({"type": "message", "content": {"text": "hi"}}),
        ),
    ];
    for (api, body) in bodies {
        let server = TestServer::start(Reply::json(body)).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let error = client.generate("Hello").await.expect_err("wrong shape");

        assert_eq!(
            error.kind(),
            ErrorKind::MalformedResponse,
            "{api:?}: {error}"
        );
    }
}

#[tokio::test]
async fn a_malformed_frame_in_a_stream_is_a_malformed_response() {
    let cases = [
        (
            Api::OpenAi,
            Reply::Stream {
                content_type: "text/event-stream",
                parts: vec![Part::Text("data: {\"choices\": [\n\n".into())],
            },
        ),
        (
            Api::Ollama,
            Reply::Stream {
                content_type: "application/x-ndjson",
                parts: vec![Part::Text("not json at all\n".into())],
            },
        ),
        (
            Api::Anthropic,
            Reply::Stream {
                content_type: "text/event-stream",
                parts: vec![Part::Text("event: ping\ndata: ping\n\n".into())],
            },
        ),
    ];
    for (api, reply) in cases {
        let server = TestServer::start(reply).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let items = stream_items(&client).await;

        assert_eq!(items.len(), 1, "{api:?}: the error ends the stream");
        let error = items[0].as_ref().expect_err("a malformed frame");
        assert_eq!(
            error.kind(),
            ErrorKind::MalformedResponse,
            "{api:?}: {error}"
        );
        assert!(!error.is_retryable());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_closed_before_its_terminator_is_a_stream_error_with_the_partial_answer_traced() {
    for api in ALL {
        let server = TestServer::start(api.text_stream(false)).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let items = stream_items(&client).await;

        let texts: Vec<&str> = items
            .iter()
            .filter_map(|item| item.as_ref().ok())
            .map(|chunk| chunk.content.as_str())
            .collect();
        assert_eq!(texts, ["Hel", "lo"], "{api:?}");
        let error = items
            .last()
            .and_then(|item| item.as_ref().err())
            .expect("the stream ends with an error");
        assert_eq!(error.kind(), ErrorKind::Stream, "{api:?}: {error}");
        assert!(error.is_retryable());

        let trace = only_trace(&client);
        let traced_error = trace.error.as_ref().expect("a traced error");
        assert_eq!(traced_error.kind, "stream");
        assert_eq!(traced_error.status, None);
        let partial = trace
            .response
            .as_ref()
            .expect("the partial answer is traced");
        assert_eq!(partial.content, "Hello");
        assert!(partial.time_to_first_token_ms.is_some());
    }
}

#[tokio::test]
async fn a_connection_broken_mid_stream_is_a_stream_error() {
    for api in ALL {
        let server = TestServer::start(api.text_stream(false).then_break()).await;
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let error = stream_error(&client).await;
        assert_eq!(error.kind(), ErrorKind::Stream, "{api:?}: {error}");
        let trace = only_trace(&client);
        assert_eq!(
            trace.error.as_ref().map(|e| e.kind.as_str()),
            Some("stream")
        );
        let partial = trace.response.as_ref().expect("the partial answer");
        assert_eq!(partial.content, "Hello", "{api:?}");
    }
}

#[tokio::test]
async fn an_ndjson_line_cut_off_by_the_end_of_the_stream_is_a_stream_error() {
    let server = TestServer::start(Reply::Stream {
        content_type: "application/x-ndjson",
        parts: vec![Part::Text(
            "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n{\"model\":\"lla".into(),
        )],
    })
    .await;
    let client = Api::Ollama.client(&server.url(""), SHORT_TIMEOUT);

    let items = stream_items(&client).await;

    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].as_ref().map(|c| c.content.as_str()).ok(),
        Some("Hi")
    );
    let error = items[1].as_ref().expect_err("a cut-off line");
    assert_eq!(error.kind(), ErrorKind::Stream, "{error}");
}

#[tokio::test]
async fn an_error_object_in_an_openai_stream_is_reported() {
    let server = TestServer::start(Reply::sse(
        &[json!({"error": {"object": "error", "message": "out of memory", "type": "InternalServerError", "code": 500}})],
        "data: [DONE]\n\n",
    ))
    .await;
    let client = Api::OpenAi.client(&server.url(""), SHORT_TIMEOUT);

    let items = stream_items(&client).await;

    let error = items[0].as_ref().expect_err("the in-stream error");
    assert_eq!(error.kind(), ErrorKind::Server);
    assert!(error.message().contains("out of memory"));
}

/// Every text a user could see of `error`.
fn error_texts(error: &ProviderError) -> String {
    let mut text = format!("{error} {error:?}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(" {cause} {cause:?}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn the_api_key_never_appears_in_debug_output_errors_or_traces() {
    for api in ALL {
        // A server that quotes the key back, as OpenAI's 401 does.
        let message = format!("Incorrect API key provided: {KEY}.");
        let server = TestServer::start(Reply::status(401, api.error_body(401, &message))).await;
        let options = api.options(&server.url(""), SHORT_TIMEOUT);
        let client = api.client(&server.url(""), SHORT_TIMEOUT);

        let error = client.generate("Hello").await.expect_err("unauthorized");
        let refused = api
            .client(&refused_base_url(), SHORT_TIMEOUT)
            .generate("Hello")
            .await
            .expect_err("nothing listens");

        assert_eq!(error.kind(), ErrorKind::Authentication);
        assert!(
            error
                .message()
                .contains("Incorrect API key provided: [redacted]")
        );
        let trace = only_trace(&client);
        let provider_debug = match api {
            Api::OpenAi => format!("{:?}", OpenAiProvider::new(options.clone()).expect("valid")),
            Api::Ollama => format!("{:?}", OllamaProvider::new(options.clone()).expect("valid")),
            Api::Anthropic => {
                format!(
                    "{:?}",
                    AnthropicProvider::new(options.clone()).expect("valid")
                )
            }
        };
        let seen = [
            provider_debug,
            format!("{options:?}"),
            format!("{client:?}"),
            error_texts(&error),
            error_texts(&refused),
            format!("{trace:?}"),
            serde_json::to_string(&*trace).expect("a serializable trace"),
        ];
        for text in seen {
            assert!(!text.contains(KEY), "{api:?} leaked the key in: {text}");
        }
    }
}

#[test]
fn build_errors_name_the_setting_at_fault_and_never_a_value() {
    let missing = OllamaProvider::new(
        ProviderOptions::new("llama3.2").api_key_env("LLMTRACE_TEST_UNSET_KEY_VARIABLE"),
    )
    .expect_err("the variable is not set");
    assert!(
        matches!(&missing, BuildError::MissingApiKey { var, .. } if var == "LLMTRACE_TEST_UNSET_KEY_VARIABLE")
    );
    assert_eq!(
        missing.to_string(),
        "environment variable LLMTRACE_TEST_UNSET_KEY_VARIABLE is not set; it must hold the ollama api key"
    );

    let no_model = OpenAiProvider::new(ProviderOptions::new(" ").base_url("http://127.0.0.1:1/v1"))
        .expect_err("no model");
    assert!(matches!(
        no_model,
        BuildError::MissingModel { provider: "openai" }
    ));

    let bad_url =
        OpenAiProvider::new(ProviderOptions::new("gpt-4o-mini").base_url("localhost:8080"))
            .expect_err("not an absolute URL");
    assert!(
        matches!(bad_url, BuildError::InvalidBaseUrl { .. }),
        "{bad_url}"
    );

    let bad_key = AnthropicProvider::new(
        ProviderOptions::new("claude-sonnet-4-5").api_key(format!("{KEY}\n")),
    )
    .expect_err("a newline cannot go in a header");
    assert!(matches!(bad_key, BuildError::InvalidApiKey { .. }));
    assert!(!format!("{bad_key} {bad_key:?}").contains(KEY));

    if std::env::var_os(OpenAiProvider::DEFAULT_API_KEY_ENV).is_none() {
        let error = OpenAiProvider::new(ProviderOptions::new("gpt-4o-mini"))
            .expect_err("api.openai.com needs a key");
        assert!(error.to_string().contains("OPENAI_API_KEY"));
    }
}
