//! A configuration file alone sends every trace to an OTLP endpoint.

use llmtrace::{Client, GenerateRequest, TraceQuery};

use crate::support::collector::{Collector, int, resource_string, string};

#[tokio::test]
async fn a_config_file_alone_exports_every_trace_as_a_genai_span() {
    let collector = Collector::accepting().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llmtrace.toml");
    let toml = format!(
        r#"
        [provider]
        type = "echo"
        model = "echo-configured"

        [exporters.collector]
        type = "otlp"
        endpoint = "{}"
        service_name = "from-config"
        project_name = "config-project"
        batch_interval_ms = 20
        [exporters.collector.headers]
        X-Tenant = "dev"
        [exporters.collector.resource_attributes]
        "deployment.environment.name" = "test"
        "#,
        collector.endpoint()
    );
    std::fs::write(&path, toml).unwrap();
    let client = Client::from_config(&path).unwrap();

    for i in 0..5 {
        client
            .generate(GenerateRequest::new(format!("Test {i}")).temperature(0.5))
            .await
            .unwrap();
    }
    client.shutdown().await;

    let spans = collector.spans();
    assert_eq!(spans.len(), 5);
    for record in client.get_traces(TraceQuery::all()) {
        let span = spans
            .iter()
            .find(|s| s.trace_id == record.trace_id.as_bytes())
            .unwrap();
        assert_eq!(span.name, "chat echo-configured");
        assert_eq!(string(span, "gen_ai.provider.name"), Some("echo"));
        assert_eq!(
            string(span, "gen_ai.request.model"),
            Some("echo-configured")
        );
        let usage = record.response.as_ref().unwrap().usage.unwrap();
        assert_eq!(
            int(span, "gen_ai.usage.input_tokens"),
            Some(usage.prompt_tokens as i64)
        );
    }
    let received = &collector.received()[0];
    assert_eq!(received.headers["x-tenant"], "dev");
    let resource = received.request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap();
    assert_eq!(
        resource_string(&resource.attributes, "service.name"),
        Some("from-config")
    );
    assert_eq!(
        resource_string(&resource.attributes, "deployment.environment.name"),
        Some("test")
    );
    assert_eq!(
        resource_string(&resource.attributes, "openinference.project.name"),
        Some("config-project")
    );
}
