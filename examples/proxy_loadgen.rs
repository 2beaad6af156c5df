//! Load generator and loopback upstream for `scripts/bench_proxy.sh`.
//!
//! - `proxy_loadgen upstream --port P --latency-ms L`: an OpenAI-compatible model server that
//!   answers after `L` ms (streamed in three chunks when asked).
//! - `proxy_loadgen load URL --rate R --seconds S [--stream]`: an open-model load: requests
//!   start on a fixed schedule whatever the server does, and latency is measured from each
//!   request's scheduled start (no coordinated omission). Prints p50/p99/p99.9.
//! - `proxy_loadgen max URL --connections C --seconds S [--stream]`: closed loop, as fast as
//!   the server answers: the maximum throughput.
//! - `proxy_loadgen forward --port P --to URL`: the least a proxy can do, on the same HTTP
//!   stack (axum in, reqwest out): pass each body to `URL` and the answer back, untouched.
//!   What it adds to direct calls is the cost of the extra hop alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve an OpenAI-compatible upstream with a fixed latency.
    Upstream {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Hold a fixed request rate.
    Load {
        url: String,
        #[arg(long)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long)]
        stream: bool,
        #[arg(long, default_value = "bench")]
        key: String,
        /// A request slower than this counts as failed.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Pass every request body to `to` and its answer back, nothing else.
    Forward {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        to: String,
    },
    /// Closed loop with `connections` workers: maximum throughput.
    Max {
        url: String,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long)]
        stream: bool,
        #[arg(long, default_value = "bench")]
        key: String,
    },
}

#[tokio::main]
async fn main() {
    match Cli::parse().command {
        Command::Upstream { port, latency_ms } => upstream(port, latency_ms).await,
        Command::Forward { port, to } => forward(port, to).await,
        Command::Load {
            url,
            rate,
            seconds,
            stream,
            key,
            timeout_ms,
        } => load(&url, rate, seconds, stream, &key, timeout_ms).await,
        Command::Max {
            url,
            connections,
            seconds,
            stream,
            key,
        } => max(&url, connections, seconds, stream, &key).await,
    }
}

async fn upstream(port: u16, latency_ms: u64) {
    let app = Router::new().fallback(answer).with_state(latency_ms);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the upstream port");
    axum::serve(listener, app).await.expect("serve");
}

async fn answer(State(latency_ms): State<u64>, body: axum::body::Bytes) -> Response {
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8});
    let stream =
        serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|b| b["stream"] == true);
    if !stream {
        return axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "up",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello from upstream"}}],
            "usage": usage,
        }))
        .into_response();
    }
    let mut events = String::new();
    for (i, word) in ["Hello ", "from ", "upstream"].iter().enumerate() {
        let mut chunk = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "up",
            "choices": [{"index": 0, "delta": {"content": word},
                         "finish_reason": if i == 2 { Some("stop") } else { None }}],
        });
        if i == 2 {
            chunk["usage"] = usage.clone();
        }
        events.push_str(&format!("data: {chunk}\n\n"));
    }
    events.push_str("data: [DONE]\n\n");
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(events))
        .expect("a response")
}

async fn forward(port: u16, to: String) {
    let client = reqwest::Client::new();
    let app = Router::new().fallback(move |body: axum::body::Bytes| {
        let (client, to) = (client.clone(), to.clone());
        async move {
            let answer = client
                .post(&to)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let Ok(answer) = answer else {
                return axum::http::StatusCode::BAD_GATEWAY.into_response();
            };
            let content_type = answer.headers().get("content-type").cloned();
            match answer.bytes().await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    if let Some(value) = content_type {
                        response.headers_mut().insert("content-type", value);
                    }
                    response
                }
                Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the forwarder's port");
    axum::serve(listener, app).await.expect("serve");
}

fn request_body(stream: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "bench-model",
        "stream": stream,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say hello"}],
    }))
    .expect("json")
}

/// One request, read to its end; true when it succeeded.
async fn send(client: &reqwest::Client, url: &str, key: &str, body: &[u8]) -> bool {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(body.to_vec())
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
        _ => false,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

fn report(kind: &str, mut latencies: Vec<Duration>, failed: usize, elapsed: Duration) {
    latencies.sort_unstable();
    println!(
        "{kind} ok={} failed={failed} throughput={:.0}/s p50_ms={:.3} p99_ms={:.3} p999_ms={:.3}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
    );
}

async fn load(url: &str, rate: u64, seconds: u64, stream: bool, key: &str, timeout_ms: u64) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .build()
        .expect("an HTTP client");
    let body: Arc<[u8]> = request_body(stream).into();
    let results = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let period_ns = 1_000_000_000 / rate.max(1);
    let count = rate * seconds;
    let runtime = tokio::runtime::Handle::current();
    let url = url.to_owned();
    let key = key.to_owned();
    let started = Instant::now();
    // The schedule runs on a thread of its own: tokio's timer fires on whole milliseconds,
    // which would add a per-run constant of up to 1 ms to every latency, while a thread's
    // sleep wakes within tens of microseconds of each start.
    let scheduler = std::thread::spawn({
        let results = results.clone();
        move || {
            let mut tasks = Vec::with_capacity(count as usize);
            for i in 0..count {
                // The scheduled start, not the actual one: a late start is latency too.
                let scheduled = started + Duration::from_nanos(period_ns * i);
                if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let (client, url, key, body, results) = (
                    client.clone(),
                    url.clone(),
                    key.clone(),
                    body.clone(),
                    results.clone(),
                );
                tasks.push(runtime.spawn(async move {
                    let ok = send(&client, &url, &key, &body).await;
                    let latency = scheduled.elapsed();
                    let mut results = results.lock().expect("results");
                    if ok {
                        results.0.push(latency);
                    } else {
                        results.1 += 1;
                    }
                }));
            }
            tasks
        }
    });
    let tasks = tokio::task::spawn_blocking(move || scheduler.join().expect("the scheduler"))
        .await
        .expect("the scheduler");
    for task in tasks {
        let _ = task.await;
    }
    let (latencies, failed) = std::mem::take(&mut *results.lock().expect("results"));
    report(
        &format!("rate={rate}"),
        latencies,
        failed,
        started.elapsed(),
    );
}

async fn max(url: &str, connections: usize, seconds: u64, stream: bool, key: &str) {
    let client = reqwest::Client::new();
    let body: Arc<[u8]> = request_body(stream).into();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, key, body) =
                (client.clone(), url.to_owned(), key.to_owned(), body.clone());
            tokio::spawn(async move {
                let (mut latencies, mut failed) = (Vec::new(), 0);
                while Instant::now() < deadline {
                    let start = Instant::now();
                    if send(&client, &url, &key, &body).await {
                        latencies.push(start.elapsed());
                    } else {
                        failed += 1;
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for worker in workers {
        if let Ok((l, f)) = worker.await {
            latencies.extend(l);
            failed += f;
        }
    }
    report(
        &format!("max connections={connections}"),
        latencies,
        failed,
        started.elapsed(),
    );
}
