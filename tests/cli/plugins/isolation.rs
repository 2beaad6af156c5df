//! Misbehaving plugins (segfault, abort, hang, memory blow-up, garbage on the pipe), in process
//! and isolated (`isolation = "process"`): what survives in each mode.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use llmtrace::exporter::{Exporter, ExporterSink};
use llmtrace::plugin::{Isolation, PluginError, PluginExporter, PluginProvider, ProcessIsolation};
use llmtrace::{Client, ErrorKind};
use serde_json::{Value, json};

use super::support::{
    TEST_EXPORTER, TEST_PROVIDER, assert_names_path, lines, one_by_one, plugin, plugin_error,
};

/// The signal of a segmentation fault on Linux.
const SIGSEGV: i32 = 11;
/// The signal of `abort` on Linux.
const SIGABRT: i32 = 6;

/// Process isolation hosted by the `llmtrace` binary under test.
fn isolated(call_timeout: Duration, memory_limit_mb: Option<u64>) -> Isolation {
    Isolation::Process(
        ProcessIsolation::default()
            .with_host_binary(env!("CARGO_BIN_EXE_llmtrace"))
            .with_call_timeout(call_timeout)
            .with_memory_limit_mb(memory_limit_mb),
    )
}

/// The test exporter, isolated, misbehaving in `mode` on the record whose prompt is `boom`
/// only, and writing the trace ids it exports to `ids`.
fn crashing_exporter(mode: &str, ids: &Path, isolation: &Isolation) -> PluginExporter {
    let options = json!({ "mode": mode, "crash_on": "boom", "path": ids });
    PluginExporter::load_with(plugin(TEST_EXPORTER), options, isolation).unwrap()
}

/// A record whose prompt is `prompt`.
async fn record(prompt: &str) -> std::sync::Arc<llmtrace::TraceRecord> {
    let client = Client::builder().build();
    let response = client.generate(prompt).await.unwrap();
    client.get_trace(&response.trace_id().unwrap()).unwrap()
}

#[tokio::test]
async fn an_isolated_exporter_loses_only_the_batch_in_flight_and_everyone_else_keeps_every_trace() {
    for mode in ["segfault", "abort", "panic"] {
        let dir = tempfile::tempdir().unwrap();
        let (crashing_ids, good_ids) = (dir.path().join("crashing"), dir.path().join("good"));
        let isolation = isolated(Duration::from_secs(10), None);
        let crashing = crashing_exporter(mode, &crashing_ids, &isolation);
        let good =
            PluginExporter::load(plugin(TEST_EXPORTER), json!({ "path": good_ids })).unwrap();
        let exporters = ExporterSink::builder()
            .exporter("crashing", crashing, one_by_one())
            .exporter("good", good, one_by_one())
            .build()
            .unwrap();
        let client = Client::builder().exporters(exporters).build();
        let mut ids = Vec::new();
        for prompt in ["before", "boom", "after", "later"] {
            let response = client.generate(prompt).await.unwrap();
            ids.push(response.trace_id().unwrap().to_string());
        }
        client.shutdown().await;

        assert_eq!(
            lines(&good_ids),
            ids,
            "{mode}: the other exporter has every trace"
        );
        let survivors = [&ids[0], &ids[2], &ids[3]].map(String::clone);
        assert_eq!(
            lines(&crashing_ids),
            survivors,
            "{mode}: all but the one in flight"
        );
        let stats = &client.exporter_stats()[0].1;
        assert_eq!((stats.exported, stats.failed), (3, 1), "{mode}");
    }
}

#[tokio::test]
async fn isolated_failures_say_how_the_process_ended_and_the_next_call_works() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids");
    let cases = [
        ("segfault", "killed by signal 11 (SIGSEGV)", None),
        ("abort", "killed by signal 6 (SIGABRT)", None),
        // Rust's allocator aborts when the address-space limit refuses it memory.
        ("allocate", "killed by signal 6 (SIGABRT)", Some(512)),
    ];
    for (mode, ended, memory_limit_mb) in cases {
        let isolation = isolated(Duration::from_secs(20), memory_limit_mb);
        let mut exporter = crashing_exporter(mode, &ids, &isolation);
        let error = exporter.export(&[record("boom").await]).await.unwrap_err();
        assert!(!error.is_retryable(), "{mode}: the batch is not retried");
        assert!(
            matches!(plugin_error(&error), Some(PluginError::Crashed { .. })),
            "{mode}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "process: its process was {ended}; it is restarted"
            )),
            "{mode}: {message}"
        );
        assert!(message.contains("llmtrace-test-plugins"), "{message}");

        let next = record("fine").await;
        exporter.export(std::slice::from_ref(&next)).await.unwrap();
        assert_eq!(
            lines(&ids).last(),
            Some(&next.trace_id.to_string()),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn a_hanging_isolated_plugin_is_killed_at_its_call_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids");
    let timeout = Duration::from_millis(300);
    let mut exporter = crashing_exporter("hang", &ids, &isolated(timeout, None));
    let started = Instant::now();
    let error = exporter.export(&[record("boom").await]).await.unwrap_err();
    let waited = started.elapsed();
    assert!(waited >= timeout && waited < timeout * 10, "{waited:?}");
    assert!(
        error.to_string().contains("no answer within 300ms"),
        "{error}"
    );

    let next = record("fine").await;
    exporter.export(std::slice::from_ref(&next)).await.unwrap();
    assert_eq!(lines(&ids), [next.trace_id.to_string()]);
}

#[tokio::test]
async fn an_isolated_provider_crash_is_a_traced_plugin_error_and_the_next_call_is_answered() {
    let options = json!({ "mode": "segfault", "crash_on": "boom" });
    let isolation = isolated(Duration::from_secs(10), None);
    let provider = PluginProvider::load_with(plugin(TEST_PROVIDER), options, &isolation).unwrap();
    let client = Client::builder().provider(provider).build();

    let error = client.generate("boom").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Plugin);
    assert!(error.message().contains("SIGSEGV"), "{}", error.message());
    let traces = client.get_traces(Default::default());
    let traced = traces[0].error.as_ref().unwrap();
    assert_eq!(traced.kind, "plugin");

    let response = client.generate("hi").await.unwrap();
    assert_eq!(response.content, "test: hi");
}

#[tokio::test]
async fn restart_back_off_grows_but_never_counts_against_the_call_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids");
    // Back-offs of 100, 200 and 400 ms follow three crashes in a row: the last one is longer
    // than the call timeout, which must only time the plugin's call.
    let timeout = Duration::from_millis(300);
    let mut exporter = crashing_exporter("abort", &ids, &isolated(timeout, None));
    for _ in 0..3 {
        let error = exporter.export(&[record("boom").await]).await.unwrap_err();
        assert!(error.to_string().contains("SIGABRT"), "{error}");
    }
    let started = Instant::now();
    let next = record("fine").await;
    exporter.export(std::slice::from_ref(&next)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(lines(&ids), [next.trace_id.to_string()]);
}

/// A stand-in for `llmtrace plugin-host`: it answers the create request properly, then
/// answers every call with text instead of a frame.
fn garbage_host(dir: &Path) -> std::path::PathBuf {
    let hello = br#"{"name":"noisy","plugin_version":"0","abi_major":1,"abi_minor":0,"api_version":null,"thread_safe":false}"#;
    let mut reply = b"LTRP".to_vec();
    reply.extend_from_slice(&0u32.to_le_bytes()); // status OK
    reply.extend_from_slice(&0u32.to_le_bytes()); // no error
    reply.extend_from_slice(&(hello.len() as u32).to_le_bytes());
    reply.extend_from_slice(hello);
    let octal: String = reply.iter().map(|byte| format!("\\{byte:03o}")).collect();
    // The create request for options `{}` is 4 + 1 + 4 + 2 bytes.
    let script = format!(
        "#!/bin/sh\nhead -c 11 >/dev/null\nprintf '{octal}'\nhead -c 5 >/dev/null\n\
         echo 'this is not a frame'\ncat >/dev/null\n"
    );
    let path = dir.join("garbage-host.sh");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn garbage_on_the_pipe_fails_the_call_and_the_process_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let isolation =
        Isolation::Process(ProcessIsolation::default().with_host_binary(garbage_host(dir.path())));
    let mut exporter =
        PluginExporter::load_with(plugin(TEST_EXPORTER), json!({}), &isolation).unwrap();
    assert_eq!(exporter.info().name, "noisy");
    for _ in 0..2 {
        // Each call meets a new process (restarted after the back-off), which misbehaves again.
        let error = exporter.export(&[record("a").await]).await.unwrap_err();
        assert!(
            matches!(plugin_error(&error), Some(PluginError::Crashed { .. })),
            "{error:?}"
        );
        assert!(error.to_string().contains("expected a frame"), "{error}");
    }
}

/// `llmtrace run` with a JSONL exporter and the test exporter crashing in `mode`, in
/// `isolation`.
fn run_with_crashing_exporter(mode: &str, isolation: &str) -> (std::process::Output, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("traces.jsonl");
    let config = dir.path().join("llmtrace.toml");
    let toml = format!(
        r#"
        [exporters.jsonl]
        type = "jsonl"
        path = "{jsonl}"

        [exporters.crashing]
        type = "plugin"
        path = "{plugin}"
        isolation = "{isolation}"
        [exporters.crashing.options]
        mode = "{mode}"
        "#,
        jsonl = jsonl.display(),
        plugin = plugin(TEST_EXPORTER).display(),
    );
    std::fs::write(&config, toml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_llmtrace"))
        .args(["run", "hello", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let traces = lines(&jsonl)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (output, traces)
}

#[test]
fn in_process_a_crashing_plugin_ends_the_process_isolated_only_its_own_export_fails() {
    for (mode, signal) in [("segfault", SIGSEGV), ("abort", SIGABRT)] {
        let (output, _) = run_with_crashing_exporter(mode, "in_process");
        assert_eq!(
            output.status.signal(),
            Some(signal),
            "in process, the plugin's {mode} is the whole program's: {output:?}"
        );

        let (output, traces) = run_with_crashing_exporter(mode, "process");
        let stderr = String::from_utf8_lossy(&output.stderr);
        // 3: answered, but an exporter failed to deliver.
        assert_eq!(output.status.code(), Some(3), "{mode}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "Echo: hello"
        );
        assert_eq!(
            traces.len(),
            1,
            "the JSONL exporter has the trace: {stderr}"
        );
        let signal = if mode == "abort" {
            "SIGABRT"
        } else {
            "SIGSEGV"
        };
        let report = stderr
            .lines()
            .find(|line| line.starts_with("exporter crashing:"))
            .unwrap_or_else(|| panic!("{mode}: no report for the exporter in {stderr}"));
        assert!(
            report.starts_with("exporter crashing: 0 exported, 0 dropped, 1 failed (last error: "),
            "{report}"
        );
        assert!(
            report.contains(signal),
            "{mode}: the reason is shown: {report}"
        );
    }
}

#[test]
fn an_isolated_plugin_refusing_its_options_fails_to_load_as_it_would_in_process() {
    let options = json!({ "fail_create": "no thanks" });
    let in_process = PluginExporter::load(plugin(TEST_EXPORTER), options.clone()).unwrap_err();
    let isolation = isolated(Duration::from_secs(10), None);
    let error = PluginExporter::load_with(plugin(TEST_EXPORTER), options, &isolation).unwrap_err();
    assert!(
        matches!(error, PluginError::IsolatedLoad { .. }),
        "{error:?}"
    );
    assert_eq!(error.to_string(), in_process.to_string());
    assert_names_path(&error, plugin(TEST_EXPORTER));
}
