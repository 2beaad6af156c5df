//! Stacks built from a file alone.

use std::path::Path;

use figment::Jail;
use llmtrace::config::Config;
use llmtrace::{Client, GenerateRequest, TraceQuery};

#[tokio::test]
async fn a_file_alone_builds_a_traced_stack_whose_traces_reach_every_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
        [provider]
        type = "echo"
        model = "echo-configured"

        [tracing]
        max_traces = 3

        [metadata]
        environment = "test"

        [exporters.archive]
        type = "jsonl"
        path = "{dir}/traces.jsonl"

        [exporters.snapshot]
        type = "json"
        path = "{dir}/traces.json"

        [exporters.report]
        type = "markdown"
        path = "{dir}/report.md"
        "#,
        dir = dir.path().display()
    );
    let path = dir.path().join("app.toml");
    std::fs::write(&path, toml).unwrap();
    let mut built = None;
    Jail::expect_with(|_| {
        built = Some(Client::from_config(&path).unwrap());
        Ok(())
    });
    let client = built.unwrap();

    for i in 0..5 {
        client
            .generate(GenerateRequest::new(format!("Test {i}")))
            .await
            .unwrap();
    }
    client.shutdown().await;

    assert_eq!(client.provider().model, "echo-configured");
    let kept = client.get_traces(TraceQuery::all());
    assert_eq!(kept.len(), 3, "max_traces from the file");
    assert_eq!(kept[0].metadata["environment"], "test");
    let lines = std::fs::read_to_string(dir.path().join("traces.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 5);
    let array: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("traces.json")).unwrap())
            .unwrap();
    assert_eq!(array.len(), 5);
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("## Interaction 5:"), "{report}");
    let stats = client.exporter_stats();
    assert_eq!(stats.len(), 3);
    assert!(
        stats
            .iter()
            .all(|(_, s)| s.exported == 5 && s.dropped == 0 && s.failed == 0),
        "{stats:?}"
    );
}

#[test]
fn components_that_cannot_be_built_are_all_reported_by_key() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            r#"
            [provider]
            type = "openai"
            model = "gpt-4o-mini"
            api_key_env = "LLMTRACE_TEST_KEY_THAT_IS_NOT_SET"

            [exporters.hook]
            type = "webhook"
            url = "http://127.0.0.1:9/"
            [exporters.hook.secret_headers]
            Authorization = "LLMTRACE_TEST_TOKEN_THAT_IS_NOT_SET"
            "#,
        )?;

        let error = Config::load(Some(Path::new("a.toml")))
            .unwrap()
            .build()
            .unwrap_err();

        let text = error.to_string();
        assert_eq!(error.issues.len(), 2, "{text}");
        assert_eq!(error.issues[0].key, "provider.api_key_env");
        assert!(
            error.issues[0]
                .message
                .contains("LLMTRACE_TEST_KEY_THAT_IS_NOT_SET"),
            "{text}"
        );
        assert_eq!(
            error.issues[1].key,
            "exporters.hook.secret_headers.Authorization"
        );
        assert!(
            error.issues[1]
                .message
                .contains("LLMTRACE_TEST_TOKEN_THAT_IS_NOT_SET is not set"),
            "{text}"
        );
        Ok(())
    });
}

#[test]
fn client_from_config_names_the_file_in_its_errors() {
    Jail::expect_with(|jail| {
        jail.create_file("a.toml", "[tracing]\nmax_traces = \"many\"\n")?;

        let error = Client::from_config("a.toml").unwrap_err();

        assert!(
            error
                .to_string()
                .starts_with("invalid configuration a.toml: 1 problem"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn shutdown_timeout_ms_sets_how_long_shutdown_waits_for_an_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    let toml = format!(
        r#"
        [exporters.archive]
        type = "jsonl"
        path = "{dir}/traces.jsonl"
        shutdown_timeout_ms = 250

        [exporters.default]
        type = "jsonl"
        path = "{dir}/other.jsonl"
        "#,
        dir = dir.path().display()
    );
    std::fs::write(&path, toml).unwrap();
    let mut loaded = None;
    Jail::expect_with(|_| {
        loaded = Some(Config::load(Some(&path)).unwrap());
        Ok(())
    });
    let exporters = loaded.unwrap().exporters;

    assert_eq!(exporters["archive"].shutdown_timeout_ms, 250);
    assert_eq!(exporters["default"].shutdown_timeout_ms, 10_000);
}
