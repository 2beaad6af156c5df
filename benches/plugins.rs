//! The added cost per record of an isolated exporter plugin (`isolation = "process"`: one pipe
//! round trip to a child process per batch) over the same plugin in process, for batches of
//! 1 and 64 records of ~1 KiB. The plugin is the test exporter doing nothing with the records
//! but parsing them, so the difference is the isolation.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llmtrace::exporter::Exporter;
use llmtrace::plugin::{Isolation, PluginExporter, ProcessIsolation};
use llmtrace::{Client, GenerateRequest, TraceQuery, TraceRecord};
use serde_json::{Value, json};

/// Builds the test exporter plugin in release and returns its path.
fn test_exporter() -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .args(["-p", "llmtrace-test-plugins", "--example", "test_exporter"])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo can be run");
    assert!(output.status.success(), "building the test plugin failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == "test_exporter")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .find(|file| file.extension() == Some(std::env::consts::DLL_EXTENSION.as_ref()))
        .expect("cargo names the library")
}

/// Real records: 1 KiB prompts through the echo provider, so ~1 KiB answers too.
fn records(count: usize) -> Vec<Arc<TraceRecord>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::builder().max_traces(count).build();
    runtime.block_on(async {
        for i in 0..count {
            let prompt = format!("{i:04} {}", "x".repeat(1019));
            client.generate(GenerateRequest::new(prompt)).await.unwrap();
        }
    });
    client.get_traces(TraceQuery::all())
}

fn plugin_exporter(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let library = test_exporter();
    let isolated = Isolation::Process(
        ProcessIsolation::default().with_host_binary(env!("CARGO_BIN_EXE_llmtrace")),
    );
    let mut group = c.benchmark_group("plugin_exporter");
    for batch_size in [1, 64] {
        let batch = records(batch_size);
        group.throughput(Throughput::Elements(batch_size as u64));
        for (mode, isolation) in [
            ("in_process", Isolation::InProcess),
            ("isolated", isolated.clone()),
        ] {
            let mut exporter = PluginExporter::load_with(&library, json!({}), &isolation).unwrap();
            group.bench_function(format!("{mode}/batch_{batch_size}"), |b| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    for _ in 0..iters {
                        runtime.block_on(exporter.export(&batch)).unwrap();
                    }
                    started.elapsed()
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4));
    targets = plugin_exporter
}
criterion_main!(benches);
