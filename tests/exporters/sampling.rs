//! Sampling per exporter: what is kept (failures, slow calls, whole sessions), what is counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llmtrace::exporter::{Exporter, ExporterError, ExporterSink, async_trait};
use llmtrace::provider::{EchoProvider, ProviderInfo};
use llmtrace::sink::{SamplePolicy, TraceQuery};
use llmtrace::{Client, ErrorKind, GenerateRequest, Generation, ProviderError, TraceRecord};
use tower::{ServiceExt, service_fn};

use crate::quick;

/// Keeps every record it is given.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Arc<TraceRecord>>>>);

#[async_trait]
impl Exporter for Keep {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        self.0.lock().unwrap().extend(batch.iter().cloned());
        Ok(())
    }
}

impl Keep {
    fn prompts(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.prompt.clone())
            .collect()
    }
}

/// Echoes, except that `fail` fails and `slow` answers after 30 ms.
fn client(exporters: ExporterSink) -> Client {
    let provider = service_fn(|request: GenerateRequest| async move {
        match request.prompt.as_str() {
            "fail" => Err::<Generation, _>(ProviderError::new(ErrorKind::RateLimited, "no")),
            "slow" => {
                tokio::time::sleep(Duration::from_millis(30)).await;
                EchoProvider::new().oneshot(request).await
            }
            _ => EchoProvider::new().oneshot(request).await,
        }
    });
    Client::builder()
        .service(ProviderInfo::new("p", "m"), provider)
        .max_traces(1000)
        .exporters(exporters)
        .build()
}

#[tokio::test]
async fn failures_and_slow_calls_are_kept_and_the_rest_counted_as_sampled_out() {
    let kept = Keep::default();
    let policy = SamplePolicy::ratio(0.0).slow_ms(20.0);
    let exporters = ExporterSink::builder()
        .sampled_exporter("otlp", kept.clone(), quick(), policy)
        .build()
        .unwrap();
    let client = client(exporters);

    for prompt in ["a", "fail", "b", "slow", "c", "fail"] {
        let _ = client.generate(prompt).await;
    }
    client.shutdown().await;

    assert_eq!(kept.prompts(), ["fail", "slow", "fail"]);
    let (_, stats) = &client.exporter_stats()[0];
    assert_eq!(
        (stats.offered, stats.exported, stats.sampled_out),
        (3, 3, 3)
    );
    assert_eq!(
        client.get_traces(TraceQuery::all()).len(),
        6,
        "the store keeps all"
    );
}

#[tokio::test]
async fn a_sampled_session_keeps_all_its_steps_and_an_exporter_can_keep_everything() {
    let sampled = Keep::default();
    let everything = Keep::default();
    let exporters = ExporterSink::builder()
        .sample(SamplePolicy::ratio(0.5))
        .exporter("sampled", sampled.clone(), quick())
        .sampled_exporter(
            "archive",
            everything.clone(),
            quick(),
            SamplePolicy::ratio(1.0),
        )
        .build()
        .unwrap();
    let client = client(exporters);

    for _ in 0..40 {
        let session = client.session();
        for step in 0..3 {
            session.generate(format!("step {step}")).await.unwrap();
        }
    }
    client.shutdown().await;

    let mut steps: BTreeMap<String, usize> = BTreeMap::new();
    for record in sampled.0.lock().unwrap().iter() {
        *steps
            .entry(record.session_id().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(steps.values().all(|&n| n == 3), "{steps:?}");
    // 40 sessions at 50 %: outside 5..=35 has a chance below one in a million.
    assert!(
        (5..=35).contains(&steps.len()),
        "{} sessions kept",
        steps.len()
    );
    assert_eq!(everything.prompts().len(), 120);
    let stats: BTreeMap<String, _> = client.exporter_stats().into_iter().collect();
    assert_eq!(stats["sampled"].sampled_out, 120 - 3 * steps.len() as u64);
    assert_eq!(stats["archive"].sampled_out, 0);
}
