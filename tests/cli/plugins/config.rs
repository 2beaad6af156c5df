//! Plugins enabled from a configuration file alone.

use llmtrace::{Client, GenerateRequest, TraceQuery};

use super::support::{CSV_EXPORTER, ECHO_PROVIDER, lines, plugin};

#[tokio::test]
async fn a_config_file_alone_loads_a_provider_plugin_and_an_exporter_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out/traces.csv");
    let config = dir.path().join("llmtrace.toml");
    let toml = format!(
        r#"
        [provider]
        type = "plugin"
        path = "{provider}"
        max_concurrency = 4
        [provider.options]
        model = "configured-echo"

        [exporters.csv]
        type = "plugin"
        path = "{exporter}"
        [exporters.csv.options]
        path = "{csv}"
        "#,
        provider = plugin(ECHO_PROVIDER).display(),
        exporter = plugin(CSV_EXPORTER).display(),
        csv = csv.display(),
    );
    std::fs::write(&config, toml).unwrap();

    let client = Client::from_config(&config).unwrap();
    let response = client
        .generate(GenerateRequest::new("from a config file").metadata("user_id", "u1"))
        .await
        .unwrap();
    client.shutdown().await;

    assert_eq!(response.content, "Plugin echo: from a config file");
    let traces = client.get_traces(TraceQuery::all());
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].model, "configured-echo");
    assert!(traces[0].response.as_ref().unwrap().usage.is_some());
    assert_eq!(client.exporter_stats()[0].1.exported, 1);
    let rows = lines(&csv);
    assert_eq!(rows.len(), 2, "a header and one row: {rows:?}");
    assert!(
        rows[1].contains(&traces[0].trace_id.to_string()),
        "{rows:?}"
    );
    assert!(rows[1].contains("from a config file"), "{rows:?}");
}

#[test]
fn a_missing_plugin_library_is_a_config_error_naming_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("llmtrace.toml");
    std::fs::write(
        &config,
        "[exporters.csv]\ntype = \"plugin\"\npath = \"no/such/libplugin.so\"\n",
    )
    .unwrap();

    let error = Client::from_config(&config).unwrap_err();

    let text = error.to_string();
    assert_eq!(error.issues[0].key, "exporters.csv.path", "{text}");
    assert!(text.contains("no/such/libplugin.so"), "{text}");
}
