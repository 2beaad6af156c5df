//! `[[layers]]`: every layer type from a file alone, through `Client::from_config`, against a
//! real HTTP server on 127.0.0.1.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use figment::Jail;
use llmtrace::config::{Config, Origin};
use llmtrace::layer::{LayerSpec, RetrySpec};
use llmtrace::{Client, ErrorKind, TraceQuery};
use serde_json::json;

use crate::issue;

/// An OpenAI-compatible server that answers with the scripted statuses in turn (then 200),
/// counts calls in flight, and, when gated, holds every call until released.
#[derive(Clone)]
struct Server {
    base: String,
    state: Arc<ServerState>,
}

struct ServerState {
    statuses: Mutex<VecDeque<u16>>,
    arrivals: Mutex<Vec<Instant>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    gate: Option<tokio::sync::Semaphore>,
}

impl Server {
    async fn start(statuses: &[u16], gated: bool) -> Self {
        let state = Arc::new(ServerState {
            statuses: Mutex::new(statuses.iter().copied().collect()),
            arrivals: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            gate: gated.then(|| tokio::sync::Semaphore::new(0)),
        });
        let app = Router::new().fallback(answer).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state }
    }

    /// A configuration for this server with `layers` (TOML) after it.
    fn config(&self, layers: &str) -> String {
        let base = &self.base;
        format!("[provider]\ntype = \"openai\"\nmodel = \"m\"\nbase_url = \"{base}/v1\"\n{layers}")
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.state.arrivals.lock().unwrap().clone()
    }

    fn release(&self, calls: usize) {
        self.state.gate.as_ref().unwrap().add_permits(calls);
    }
}

async fn answer(State(state): State<Arc<ServerState>>) -> (StatusCode, String) {
    state.arrivals.lock().unwrap().push(Instant::now());
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    if let Some(gate) = &state.gate {
        gate.acquire().await.unwrap().forget();
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let status = state.statuses.lock().unwrap().pop_front().unwrap_or(200);
    let body = if status == 200 {
        json!({"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})
    } else {
        json!({"error": {"message": "try later"}})
    };
    (StatusCode::from_u16(status).unwrap(), body.to_string())
}

/// The client `toml` describes, loaded the way an application does (inside a jail).
fn client(toml: &str) -> Client {
    let mut built = None;
    Jail::expect_with(|jail| {
        jail.create_file("app.toml", toml)?;
        built = Some(Client::from_config("app.toml").unwrap());
        Ok(())
    });
    built.unwrap()
}

/// Waits for `condition`, failing the test after 10 s.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const RETRY: &str = "[[layers]]\ntype = \"retry\"\nattempts = 3\ninitial_backoff_ms = 1\n";
const TRACE: &str = "[[layers]]\ntype = \"trace\"\n";

#[tokio::test]
async fn a_timeout_layer_from_a_file_traces_the_call_as_kind_timeout() {
    let client = client(
        "[provider]\nlatency_ms = 10000\n[[layers]]\ntype = \"trace\"\n[[layers]]\ntype = \"timeout\"\ntimeout_ms = 50\n",
    );

    let started = Instant::now();
    let error = client.generate("slow").await.unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let traces = client.get_traces(TraceQuery::all());
    let traced = traces[0].error.as_ref().unwrap();
    assert_eq!((traced.kind.as_str(), traced.retryable), ("timeout", true));
    assert!(traced.message.contains("50ms"), "{}", traced.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_before_trace_gives_one_trace_per_attempt_numbered_1_to_3() {
    let server = Server::start(&[503, 503], false).await;
    let client = client(&server.config(&format!("{RETRY}{TRACE}")));

    let response = client.generate("hi").await.unwrap();

    assert_eq!(response.content, "ok");
    let traces = client.get_traces(TraceQuery::all());
    let attempts: Vec<_> = traces
        .iter()
        .map(|t| t.metadata["attempt_number"].clone())
        .collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
    let kinds: Vec<_> = traces
        .iter()
        .map(|t| t.error.as_ref().map(|e| e.kind.as_str().to_owned()))
        .collect();
    assert_eq!(kinds, [Some("server".into()), Some("server".into()), None]);
    assert!(traces.iter().all(|t| !t.metadata.contains_key("attempts")));
    assert_eq!(server.arrivals().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_trace_gives_one_trace_recording_3_attempts() {
    let server = Server::start(&[503, 503], false).await;
    let client = client(&server.config(&format!("{TRACE}{RETRY}")));

    client.generate("hi").await.unwrap();

    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].metadata["attempts"], 3);
    assert!(traces[0].error.is_none());
    assert_eq!(server.arrivals().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_gives_up_at_once_on_what_a_retry_cannot_fix_and_records_the_attempt() {
    let server = Server::start(&[400, 400], false).await;
    let client = client(&server.config(&format!("{TRACE}{RETRY}")));

    let error = client.generate("hi").await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert_eq!(server.arrivals().len(), 1);
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces[0].metadata["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_of_2_never_lets_a_third_call_reach_the_provider() {
    let server = Server::start(&[], true).await;
    let client =
        client(&server.config("[[layers]]\ntype = \"concurrency_limit\"\nmax_concurrency = 2\n"));

    let calls: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn({
                let client = client.clone();
                async move { client.generate(format!("call {i}")).await }
            })
        })
        .collect();
    until("two calls at the server", || server.arrivals().len() == 2).await;
    // The third call is waiting in the client: give it every chance to arrive anyway.
    let watch = Instant::now() + Duration::from_millis(300);
    while Instant::now() < watch {
        assert_eq!(
            server.arrivals().len(),
            2,
            "a third call reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.release(3);
    for call in calls {
        call.await.unwrap().unwrap();
    }

    assert_eq!(server.arrivals().len(), 3);
    assert_eq!(server.state.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_spaces_the_calls_that_reach_the_provider() {
    let server = Server::start(&[], false).await;
    let client =
        client(&server.config("[[layers]]\ntype = \"rate_limit\"\nrequests = 1\nper_ms = 200\n"));

    let calls: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn({
                let client = client.clone();
                async move { client.generate(format!("call {i}")).await }
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), 3);
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        // 200 ms apart, less what a loaded machine may shave off one arrival (unlimited: ~1 ms).
        assert!(gap >= Duration::from_millis(100), "calls {gap:?} apart");
    }
}

#[tokio::test]
async fn session_and_metadata_layers_from_a_file_tag_every_trace() {
    let mut built = None;
    Jail::expect_with(|jail| {
        jail.set_env("APP_SESSION", "s-42");
        jail.create_file(
            "app.toml",
            "[[layers]]\ntype = \"session\"\nenv = \"APP_SESSION\"\n[[layers]]\ntype = \"metadata\"\nvalues = { team = \"search\", tier = 2 }\n",
        )?;
        built = Some(Client::from_config("app.toml").unwrap());
        Ok(())
    });
    let client = built.unwrap();

    client.generate("hi").await.unwrap();

    let trace = &client.get_traces(TraceQuery::all())[0];
    assert_eq!(trace.metadata["session_id"], "s-42");
    assert_eq!(trace.metadata["attempt_number"], 1);
    assert_eq!(
        (&trace.metadata["team"], &trace.metadata["tier"]),
        (&json!("search"), &json!(2))
    );
    assert_eq!(
        client.stack().to_string(),
        "session(env APP_SESSION) -> metadata(2 keys) -> trace -> provider echo(echo-1)"
    );
}

#[test]
fn a_session_variable_that_is_not_set_is_named_when_the_stack_is_built() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "app.toml",
            "[[layers]]\ntype = \"session\"\nenv = \"APP_NO_SUCH_SESSION\"\n",
        )?;
        let error = Client::from_config("app.toml").unwrap_err();
        let found = issue(&error, "layers[0].env");
        assert_eq!(
            found.message,
            "environment variable APP_NO_SUCH_SESSION is not set"
        );
        Ok(())
    });
}

#[test]
fn without_a_list_the_stack_is_the_one_it_always_was() {
    let config = Config::from_toml_str("[metadata]\napp = \"x\"\n").unwrap();
    assert_eq!(
        config.stack().to_string(),
        "metadata(1 key) -> trace -> provider echo(echo-1)"
    );

    let off = Config::from_toml_str("[tracing]\nenabled = false\n").unwrap();
    assert_eq!(off.stack().to_string(), "provider echo(echo-1)");

    // A list without `trace` gets it inside `[metadata]` (outermost), outside the rest.
    let config = Config::from_toml_str(&format!("[metadata]\napp = \"x\"\n{RETRY}")).unwrap();
    assert_eq!(
        config.stack().to_string(),
        "metadata(1 key) -> trace -> retry(3 attempts) -> provider echo(echo-1)"
    );
}

#[test]
fn code_and_configuration_build_the_same_stack() {
    let config = Config::from_toml_str(&format!("{RETRY}{TRACE}")).unwrap();
    let from_file = config.build().unwrap();

    let retry = RetrySpec::new(3).initial_backoff(Duration::from_millis(1));
    let from_code = Client::builder()
        .layer(LayerSpec::Retry(retry))
        .layer(LayerSpec::Trace)
        .build();

    assert_eq!(from_file.stack(), from_code.stack());
    assert_eq!(config.layers, [LayerSpec::Retry(retry), LayerSpec::Trace]);
}

#[test]
fn every_bad_layer_is_named_with_its_key_and_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "app.toml",
            r#"
            [metadata]
            app = "x"
            [[layers]]
            type = "trace"
            [[layers]]
            type = "sesion"
            [[layers]]
            type = "timeout"
            timeout = 30
            [[layers]]
            type = "retry"
            attempts = 0
            [[layers]]
            type = "session"
            id = "s-1"
            [[layers]]
            type = "session"
            id = ""
            [[layers]]
            type = "metadata"
            values = { team = "x" }
            [[layers]]
            type = "trace"
            "#,
        )?;
        let error = Config::load(Some("app.toml".as_ref())).unwrap_err();
        let file = Origin::File("app.toml".into());

        let unknown = issue(&error, "layers[1].type");
        assert!(
            unknown
                .message
                .starts_with("unknown layer type \"sesion\"; expected one of session,"),
            "{unknown}"
        );
        assert_eq!(unknown.origin, file);
        assert!(
            issue(&error, "layers[2].timeout")
                .message
                .starts_with("unknown key \"timeout\" for layer type \"timeout\"")
        );
        assert!(
            issue(&error, "layers[2].timeout_ms")
                .message
                .starts_with("missing required key")
        );
        let attempts = issue(&error, "layers[3].attempts");
        assert_eq!(
            (attempts.message.as_str(), &attempts.origin),
            ("must be at least 1, found 0", &file)
        );
        assert!(
            issue(&error, "layers[4].type")
                .message
                .contains("must be listed before the trace layer (layers[0])")
        );
        assert_eq!(issue(&error, "layers[5].id").message, "must not be empty");
        let metadata = (error.issues.iter())
            .filter(|i| i.key == "layers[6].type")
            .count();
        assert_eq!(metadata, 1, "{error}");
        assert!(
            issue(&error, "layers[7].type")
                .message
                .starts_with("a second trace layer")
        );
        Ok(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_counts_on_from_the_callers_attempt_number_and_still_makes_its_attempts() {
    let server = Server::start(&[503, 503], false).await;
    let client = client(&server.config(&format!("{RETRY}{TRACE}")));

    client
        .generate(llmtrace::GenerateRequest::new("hi").attempt_number(5))
        .await
        .unwrap();

    let traces = client.get_traces(TraceQuery::all());
    let numbers: Vec<_> = (traces.iter())
        .map(|t| t.metadata["attempt_number"].clone())
        .collect();
    assert_eq!(numbers, [json!(5), json!(6), json!(7)]);
}

#[test]
fn a_session_variable_may_not_be_an_llmtrace_override() {
    let toml = "[[layers]]\ntype = \"session\"\nenv = \"LLMTRACE_SESSION\"\n";
    let error = Config::from_toml_str(toml).unwrap_err();

    let found = issue(&error, "layers[0].env");
    assert!(
        found
            .message
            .starts_with("LLMTRACE_SESSION is read as a configuration override"),
        "{found}"
    );
}

/// `check-config` shows the whole effective configuration: the layers too, in the form the
/// file takes, so that what it prints reads back into the same stack.
#[test]
fn the_masked_configuration_shows_every_layer_and_reads_back_into_the_same_stack() {
    let toml = r#"
        [[layers]]
        type = "session"
        env = "APP_SESSION"
        [[layers]]
        type = "metadata"
        values = { app = "billing", version = 3 }
        [[layers]]
        type = "rate_limit"
        requests = 50
        per_ms = 1000
        [[layers]]
        type = "retry"
        attempts = 4
        initial_backoff_ms = 20
        max_backoff_ms = 500
        jitter = false
        [[layers]]
        type = "trace"
        [[layers]]
        type = "concurrency_limit"
        max_concurrency = 8
        [[layers]]
        type = "timeout"
        timeout_ms = 2500
    "#;
    let config = Config::from_toml_str(toml).unwrap();
    let shown = config.to_masked_toml();
    for kind in [
        "session",
        "metadata",
        "rate_limit",
        "retry",
        "trace",
        "concurrency_limit",
        "timeout",
    ] {
        assert!(shown.contains(&format!("type = \"{kind}\"")), "{shown}");
    }
    let again = Config::from_toml_str(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert_eq!(again.layers, config.layers, "{shown}");
    assert_eq!(again.stack().to_string(), config.stack().to_string());
}
