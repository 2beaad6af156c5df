//! Against a real Arize Phoenix: what its users see of our spans. Ignored by `cargo test`, as
//! Phoenix is a Python server: `scripts/phoenix_check.sh` installs and starts one on
//! 127.0.0.1 and runs this test with `LLMTRACE_PHOENIX_URL` set to it.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use llmtrace::exporter::{ExporterSink, OtlpExporter, OtlpOptions};
use llmtrace::provider::{OpenAiProvider, ProviderOptions};
use llmtrace::{Client, TraceQuery};
use serde_json::Value;

use super::fast_export;
use super::served::{SERVED, llm_server};

/// How long Phoenix may take to make an accepted span queryable.
const INGESTION_DEADLINE: Duration = Duration::from_secs(30);

/// The value of `key` among a Phoenix span's attributes, which it may return flat
/// (`"gen_ai.response.id"`) or nested (`{"gen_ai": {"response": {"id": ...}}}`).
fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    let attributes = &span["attributes"];
    attributes.get(key).or_else(|| {
        key.split('.')
            .try_fold(attributes, |value, part| value.get(part))
    })
}

/// The spans of `project`, once there are `count` of them.
async fn spans_of(phoenix: &str, project: &str, count: usize) -> Vec<Value> {
    let http = reqwest::Client::new();
    let url = format!("{phoenix}/v1/projects/{project}/spans");
    let started = Instant::now();
    loop {
        let response = http.get(&url).send().await.expect("Phoenix answers");
        if response.status().is_success() {
            let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            let spans = body["data"].as_array().cloned().unwrap_or_default();
            if spans.len() >= count {
                return spans;
            }
        }
        assert!(
            started.elapsed() < INGESTION_DEADLINE,
            "project {project} has not {count} spans after {INGESTION_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "needs Arize Phoenix at LLMTRACE_PHOENIX_URL: run scripts/phoenix_check.sh"]
async fn phoenix_files_the_spans_under_the_service_project_with_their_genai_attributes() {
    let phoenix = std::env::var("LLMTRACE_PHOENIX_URL").expect("LLMTRACE_PHOENIX_URL is set");
    let llm = llm_server(None).await;
    // A project of its own per run, so earlier runs' spans do not count.
    let service = format!("llmtrace-check-{}", uuid::Uuid::new_v4().simple());
    let provider = OpenAiProvider::new(
        ProviderOptions::new("gpt-4o-mini").base_url(format!("http://{llm}/v1")),
    )
    .unwrap();
    let exporter = OtlpExporter::new(OtlpOptions::new(&phoenix).service_name(&service)).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("phoenix", exporter, fast_export())
        .build()
        .unwrap();
    let client = Client::builder()
        .provider(provider)
        .exporters(exporters)
        .build();

    client.generate("Hello").await.unwrap();
    let chunks: Vec<_> = client.stream("Hello").await.unwrap().collect().await;
    assert!(chunks.iter().all(Result::is_ok));
    client.shutdown().await;
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.failed), (2, 0), "{stats:?}");

    let spans = spans_of(&phoenix, &service, 2).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for record in client.get_traces(TraceQuery::all()) {
        let trace_id = record.trace_id.simple().to_string();
        // Only the streamed call measured a first chunk.
        let stream = record
            .response
            .as_ref()
            .unwrap()
            .time_to_first_token_ms
            .is_some();
        let span = spans
            .iter()
            .find(|s| s["context"]["trace_id"] == trace_id.as_str())
            .unwrap_or_else(|| panic!("no span of trace {trace_id} in {spans:#?}"));
        let text = |key: &str| attribute(span, key).and_then(Value::as_str);
        assert_eq!(text("gen_ai.provider.name"), Some("openai"), "{span:#}");
        assert_eq!(text("gen_ai.request.model"), Some("gpt-4o-mini"));
        assert_eq!(text("gen_ai.response.model"), Some(SERVED));
        let id = if stream {
            "chatcmpl-stream"
        } else {
            "chatcmpl-complete"
        };
        assert_eq!(text("gen_ai.response.id"), Some(id), "{span:#}");
        assert_eq!(text("server.address"), Some("127.0.0.1"));
        assert_eq!(
            attribute(span, "server.port").and_then(Value::as_u64),
            Some(llm.port().into())
        );
        let streamed = attribute(span, "gen_ai.request.stream").and_then(Value::as_bool);
        assert_eq!(streamed, stream.then_some(true), "{span:#}");
    }
}
