//! Hostile or broken servers: a huge event, a stream that drips forever or stalls, secrets
//! quoted back at the edge of a cut. None may hang a call, burn CPU or leak a secret.

use std::time::{Duration, Instant};

use llmtrace::provider::{AnthropicProvider, OllamaProvider, OpenAiProvider, ProviderOptions};
use llmtrace::{Client, ErrorKind, TraceQuery};
use serde_json::json;

use crate::support::{Part, Reply, TestServer};

const KEY: &str = "sk-secret-do-not-leak-7f3a9c";

/// Well past anything these tests need; a call still running then has hung.
const HUNG: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
enum Api {
    OpenAi,
    Ollama,
    Anthropic,
}

impl Api {
    fn client(self, base: &str, options: impl Fn(ProviderOptions) -> ProviderOptions) -> Client {
        let base = match self {
            Api::OpenAi => format!("{base}/v1"),
            Api::Ollama | Api::Anthropic => base.to_owned(),
        };
        let options = options(
            ProviderOptions::new("test-model")
                .base_url(base)
                .api_key(KEY),
        );
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

    /// One frame of this provider's stream carrying `text`, terminated.
    fn frame(self, text: &str) -> String {
        match self {
            Api::OpenAi => format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": text}}]})
            ),
            Api::Ollama => format!(
                "{}\n",
                json!({"model": "m", "message": {"role": "assistant", "content": text}, "done": false})
            ),
            Api::Anthropic => format!(
                "event: content_block_delta\ndata: {}\n\n",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": text}})
            ),
        }
    }

    /// What opens this provider's stream before any text.
    fn opening(self) -> String {
        match self {
            Api::Anthropic => {
                let start = json!({"type": "message_start", "message": {"id": "msg_1",
                    "type": "message", "role": "assistant", "content": [], "model": "m",
                    "usage": {"input_tokens": 1, "output_tokens": 1}}});
                format!("event: message_start\ndata: {start}\n\n")
            }
            Api::OpenAi | Api::Ollama => String::new(),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Api::Ollama => "application/x-ndjson",
            Api::OpenAi | Api::Anthropic => "text/event-stream",
        }
    }
}

const ALL: [Api; 3] = [Api::OpenAi, Api::Ollama, Api::Anthropic];

async fn for_all_concurrently<F: Future<Output = ()>>(test: impl Fn(Api) -> F) {
    futures_util::future::join_all(ALL.map(test)).await;
}

/// Streams "Hello" to its end, within [`HUNG`]: the items, and how long it took.
async fn stream_items(client: &Client) -> (Vec<Result<String, llmtrace::ProviderError>>, Duration) {
    use futures_util::StreamExt;
    let started = Instant::now();
    let items = tokio::time::timeout(HUNG, async {
        client
            .stream("Hello")
            .await
            .unwrap_or_else(|error| panic!("no stream: {error}"))
            .map(|item| item.map(|chunk| chunk.content))
            .collect::<Vec<_>>()
            .await
    })
    .await
    .expect("the stream ends long before the test's deadline");
    (items, started.elapsed())
}

/// The kind and message of the only trace's error.
fn traced_error(client: &Client) -> (String, String) {
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1, "one call, one trace");
    let error = traces[0].error.as_ref().expect("a traced error");
    (error.kind.to_string(), error.message.clone())
}

#[tokio::test]
async fn one_event_larger_than_the_cap_is_a_prompt_malformed_response() {
    // 10 MB in one event (one NDJSON line for Ollama): a decoder that rescans its buffer on
    // every read spends minutes on it, while the timeout never fires as bytes keep coming.
    for_all_concurrently(|api| async move {
        let huge = api.frame(&"x".repeat(10_000_000));
        let server = TestServer::start(Reply::Stream {
            content_type: api.content_type(),
            parts: vec![Part::Text(api.opening()), Part::Text(huge)],
        })
        .await;
        // Generous for a loaded machine; a decoder that hangs is caught by `took` below.
        let client = api.client(&server.url(""), |o| o.timeout(Duration::from_secs(10)));

        let (items, took) = stream_items(&client).await;

        let error = items.last().unwrap().as_ref().expect_err("too large");
        assert_eq!(
            error.kind(),
            ErrorKind::MalformedResponse,
            "{api:?}: {error}"
        );
        assert!(
            error.message().contains("longer than 8388608 bytes"),
            "{api:?}: {error}"
        );
        assert!(
            error.message().len() < 1000,
            "{api:?}: the message quotes no event"
        );
        assert_eq!(traced_error(&client).0, "malformed_response");
        assert!(took < Duration::from_secs(20), "{api:?}: took {took:?}");
    })
    .await;
}

#[tokio::test]
async fn a_stream_sent_one_byte_per_write_with_crlf_line_ends_decodes_whole() {
    for api in [Api::OpenAi, Api::Anthropic] {
        let mut text = api.opening() + &api.frame("Hel") + &api.frame("lo");
        text += match api {
            Api::OpenAi => "data: [DONE]\n\n",
            _ => "event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n",
        };
        let parts = text
            .replace('\n', "\r\n")
            .into_bytes()
            .into_iter()
            .map(|byte| Part::Bytes(vec![byte]))
            .collect();
        let server = TestServer::start(Reply::Stream {
            content_type: api.content_type(),
            parts,
        })
        .await;
        let client = api.client(&server.url(""), |o| o);

        let (items, _) = stream_items(&client).await;

        let text: Result<String, _> = items.into_iter().collect();
        assert_eq!(text.expect("a whole stream"), "Hello", "{api:?}");
    }
}

#[tokio::test]
async fn a_stream_that_drips_forever_ends_at_its_overall_deadline() {
    for_all_concurrently(|api| async move {
        // A token every 50 ms for 30 s: never a stall, never an end.
        let mut parts = vec![Part::Text(api.opening())];
        for _ in 0..600 {
            parts.push(Part::Text(api.frame("a")));
            parts.push(Part::Pause(Duration::from_millis(50)));
        }
        let server = TestServer::start(Reply::Stream {
            content_type: api.content_type(),
            parts,
        })
        .await;
        let client = api.client(&server.url(""), |o| {
            o.stall_timeout(Duration::from_secs(5))
                .stream_timeout(Duration::from_secs(1))
        });

        let (items, took) = stream_items(&client).await;

        let error = items.last().unwrap().as_ref().expect_err("the deadline");
        assert_eq!(error.kind(), ErrorKind::Timeout, "{api:?}: {error}");
        assert!(
            error.message().contains("stream timeout"),
            "{api:?}: {error}"
        );
        assert!(items.len() > 2, "{api:?}: tokens came before the deadline");
        assert!(took >= Duration::from_secs(1), "{api:?}: {took:?}");
        assert!(took < Duration::from_secs(10), "{api:?}: {took:?}");
        let (kind, message) = traced_error(&client);
        assert_eq!(kind, "timeout");
        assert!(message.contains("stream timeout"), "{message}");
    })
    .await;
}

#[tokio::test]
async fn a_stream_that_stalls_longer_than_the_stall_timeout_is_a_timeout_saying_so() {
    for_all_concurrently(|api| async move {
        let parts = vec![
            Part::Text(api.opening()),
            Part::Text(api.frame("Hel")),
            Part::Pause(Duration::from_secs(5)),
            Part::Text(api.frame("lo")),
        ];
        let server = TestServer::start(Reply::Stream {
            content_type: api.content_type(),
            parts,
        })
        .await;
        // The call's timeout is longer than the pause: only the stall timeout can end it.
        let client = api.client(&server.url(""), |o| {
            o.timeout(Duration::from_secs(30))
                .stall_timeout(Duration::from_millis(500))
        });

        let (items, took) = stream_items(&client).await;

        assert_eq!(items[0].as_deref().ok(), Some("Hel"), "{api:?}");
        let error = items.last().unwrap().as_ref().expect_err("a stall");
        assert_eq!(error.kind(), ErrorKind::Timeout, "{api:?}: {error}");
        assert!(
            error.message().contains("stall timeout"),
            "{api:?}: {error}"
        );
        assert!(took < Duration::from_secs(4), "{api:?}: {took:?}");
        assert_eq!(traced_error(&client).0, "timeout");
    })
    .await;
}

/// Every prefix of `secret` long enough to mean something.
fn assert_no_prefix_of(secret: &str, text: &str) {
    for end in 4..=secret.len() {
        assert!(
            !text.contains(&secret[..end]),
            "{:?} leaked in: {text}",
            &secret[..end]
        );
    }
}

#[tokio::test]
async fn a_secret_straddling_the_cut_of_an_error_body_leaks_no_prefix() {
    // The configured key, and a key of a well-known format the server knows of.
    let other = "sk-proj-AnotherKeyTheServerEchoes0123";
    for secret in [KEY, other] {
        for api in ALL {
            // The secret starts 6 bytes before the 2,048-byte cut of the message, which
            // OpenAI's and Anthropic's begin with the error type.
            let lead = match api {
                Api::Ollama => 0,
                Api::OpenAi | Api::Anthropic => "authentication_error: ".len(),
            };
            let message = format!("{} {secret} was refused", "x".repeat(2048 - 7 - lead));
            let body = match api {
                Api::Ollama => json!({"error": message}),
                _ => json!({"error": {"message": message, "type": "authentication_error"}}),
            };
            let server = TestServer::start(Reply::status(401, body)).await;
            let client = api.client(&server.url(""), |o| o);

            let error = client.generate("Hello").await.expect_err("unauthorized");

            assert_eq!(error.kind(), ErrorKind::Authentication, "{api:?}");
            assert_eq!(
                error.message().len(),
                2048,
                "{api:?}: cut where the secret was"
            );
            assert_no_prefix_of(secret, &error.to_string());
            assert_no_prefix_of(secret, &traced_error(&client).1);
        }
    }
}

#[tokio::test]
async fn a_secret_straddling_the_cut_of_a_malformed_answer_leaks_no_prefix() {
    let other = "sk-ant-api03-AnotherKeyTheServerEchoes";
    for secret in [KEY, other] {
        for api in ALL {
            // Not JSON; the secret starts 6 bytes before the 200-byte cut of the quote.
            let body = format!("{} {secret} and more", "<".repeat(200 - 7));
            let server = TestServer::start(Reply::raw(200, "application/json", &body)).await;
            let client = api.client(&server.url(""), |o| o);

            let error = client.generate("Hello").await.expect_err("not JSON");

            assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{api:?}");
            assert_no_prefix_of(secret, &error.to_string());
            assert_no_prefix_of(secret, &traced_error(&client).1);
        }
    }
}

#[tokio::test]
async fn cookies_and_query_string_tokens_in_a_server_message_are_masked() {
    let text = "upstream refused GET /v1?alt=sse&access_token=tok-123456 with\nSet-Cookie: session=abc123; HttpOnly";
    let server = TestServer::start(Reply::raw(502, "text/plain", text)).await;
    let client = Api::OpenAi.client(&server.url(""), |o| o);

    let error = client.generate("Hello").await.expect_err("bad gateway");

    assert_eq!(
        error.message(),
        "upstream refused GET /v1?alt=sse&access_token=[redacted] with\nSet-Cookie: [redacted]"
    );
    assert_eq!(traced_error(&client).1, error.message());
}

#[tokio::test]
async fn a_complete_answer_larger_than_the_cap_is_a_malformed_response() {
    // Valid JSON, 65 MiB of it: read whole, it would be accepted.
    let answer = json!({"choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": "hi"}}]});
    let body = format!(
        "{{\"pad\": \"{}\", {}",
        "x".repeat(65 << 20),
        &answer.to_string()[1..]
    );
    let server = TestServer::start(Reply::raw(200, "application/json", &body)).await;
    let client = Api::OpenAi.client(&server.url(""), |o| o.timeout(Duration::from_secs(30)));

    let error = tokio::time::timeout(HUNG, client.generate("Hello"))
        .await
        .expect("no hang")
        .expect_err("too large");

    assert_eq!(error.kind(), ErrorKind::MalformedResponse, "{error}");
    assert!(
        error.message().contains("longer than 67108864 bytes"),
        "{error}"
    );
    assert_eq!(traced_error(&client).0, "malformed_response");
}

#[test]
fn credentials_in_a_base_url_stay_out_of_debug_output() {
    let options =
        ProviderOptions::new("m").base_url("http://ops:pw-secret@127.0.0.1:1/v1?key=q-secret");
    let provider = OpenAiProvider::new(options.clone()).expect("valid options");

    for text in [format!("{options:?}"), format!("{provider:?}")] {
        assert!(text.contains("ops:[redacted]@127.0.0.1:1"), "{text}");
        assert!(
            !text.contains("pw-secret") && !text.contains("q-secret"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_error_inside_a_stream_is_scrubbed_and_cut_like_an_error_body() {
    let secret = "sk-proj-AnotherKeyTheServerEchoes0123";
    let message = format!("{} {secret} refused", "x".repeat(5000));
    let event = json!({"error": {"message": message, "type": "server_error"}});
    let server = TestServer::start(Reply::sse(&[event], "")).await;
    let client = Api::OpenAi.client(&server.url(""), |o| o);

    let (items, _) = stream_items(&client).await;

    let error = items
        .last()
        .unwrap()
        .as_ref()
        .expect_err("the in-stream error");
    assert_eq!(error.message().len(), 2048, "{error}");
    let (_, traced) = traced_error(&client);
    assert_eq!(traced, error.message());

    // The same secret within the cut is masked, not merely cut off.
    let message = format!("quota: {secret} refused");
    let event = json!({"error": {"message": message, "type": "server_error"}});
    let server = TestServer::start(Reply::sse(&[event], "")).await;
    let client = Api::OpenAi.client(&server.url(""), |o| o);
    let (items, _) = stream_items(&client).await;
    let error = items
        .last()
        .unwrap()
        .as_ref()
        .expect_err("the in-stream error");
    assert_eq!(error.message(), "server_error: quota: [redacted] refused");
}
