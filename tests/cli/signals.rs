//! `llmtrace run` interrupted mid-call still writes the call's trace, marked cancelled.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use llmtrace::TraceRecord;
use rustix::process::{Pid, Signal, kill_process};

use crate::command;
use crate::stall::{Stall, StallingServer, config};

const DEADLINE: Duration = Duration::from_secs(30);

/// Starts `llmtrace run` (plus `extra` arguments) against a server that stalls as `stall`,
/// and returns once the call is in flight.
async fn run_in_flight(dir: &Path, stall: Stall, extra: &[&str]) -> Child {
    let mut server = StallingServer::start(stall).await;
    std::fs::write(dir.join("app.toml"), config(&server.base_url)).unwrap();
    let mut args = vec!["run", "-c", "app.toml"];
    args.extend_from_slice(extra);
    args.push("hello");
    let child = command(dir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.request_seen(DEADLINE).await;
    child
}

/// Sends `signal` and waits (off the executor) for the process to exit.
async fn interrupt(child: Child, signal: Signal) -> Output {
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    kill_process(pid, signal).unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output());
    tokio::time::timeout(DEADLINE, output)
        .await
        .expect("llmtrace exited in time")
        .unwrap()
        .unwrap()
}

fn the_one_cancelled_record(dir: &Path, output: &Output) -> TraceRecord {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = std::fs::read_to_string(dir.join("traces.jsonl"))
        .unwrap_or_else(|e| panic!("no trace file ({e}); stderr: {stderr}"));
    let records: Vec<TraceRecord> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{text}");
    let record = records.into_iter().next().unwrap();
    assert_eq!(
        record.error.as_ref().map(|e| e.kind.as_str()),
        Some("cancelled"),
        "{stderr}"
    );
    assert!(
        stderr.contains("exporter archive: 1 exported, 0 dropped, 0 failed"),
        "{stderr}"
    );
    record
}

#[tokio::test]
async fn sigint_cancels_the_call_exports_its_trace_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let child = run_in_flight(dir.path(), Stall::Silent, &[]).await;

    let output = interrupt(child, Signal::INT).await;

    assert_eq!(output.status.code(), Some(130));
    let record = the_one_cancelled_record(dir.path(), &output);
    assert_eq!(record.prompt, "hello");
    assert_eq!(record.model, "stall-1");
}

#[tokio::test]
async fn sigterm_cancels_the_call_exports_its_trace_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let child = run_in_flight(dir.path(), Stall::Silent, &[]).await;

    let output = interrupt(child, Signal::TERM).await;

    assert_eq!(output.status.code(), Some(143));
    the_one_cancelled_record(dir.path(), &output);
}

#[tokio::test]
async fn sigint_mid_stream_cancels_the_stream_and_exports_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = run_in_flight(dir.path(), Stall::AfterOneChunk, &["--stream"]).await;
    // Wait until the first chunk has been printed: the stream is surely under way.
    let mut stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"Hel") && stdout.read(&mut byte).unwrap() == 1 {
            seen.push(byte[0]);
        }
        String::from_utf8(seen).unwrap()
    });
    let first = tokio::time::timeout(DEADLINE, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, "Hel");

    let output = interrupt(child, Signal::INT).await;

    assert_eq!(output.status.code(), Some(130));
    the_one_cancelled_record(dir.path(), &output);
}

#[tokio::test]
async fn a_signal_while_exporters_hang_stops_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let mut hook = StallingServer::start(Stall::Silent).await;
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            "[exporters.hook]\ntype = \"webhook\"\nurl = \"{}/hook\"\nbatch_interval_ms = 10\n",
            hook.base_url
        ),
    )
    .unwrap();
    let child = command(dir.path(), &["run", "-c", "app.toml", "hello"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The answer is given; the exporter is now stuck delivering the trace.
    hook.request_seen(DEADLINE).await;

    let output = interrupt(child, Signal::INT).await;

    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SIGINT: not waiting for the exporters any longer")
            && stderr.contains("exporter hook: 0 exported"),
        "{stderr}"
    );
}
