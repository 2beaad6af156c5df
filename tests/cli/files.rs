//! `summarize`, `export` and `check-config` on real files.

use std::path::{Path, PathBuf};

use llmtrace::report::{ReportFormat, TraceSummary, export_traces};
use llmtrace::{Client, TraceQuery};

use crate::{llmtrace, stderr, stdout};

/// A JSONL file of `count` traces with a malformed line after the first.
async fn trace_file(dir: &Path, count: usize) -> PathBuf {
    let client = Client::builder().max_traces(count).build();
    for i in 0..count {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    let jsonl = export_traces(
        &client.get_traces(TraceQuery::all()),
        ReportFormat::Jsonl,
        None,
    )
    .unwrap();
    let mut lines: Vec<&str> = jsonl.lines().collect();
    lines.insert(1, "{\"trace_id\": \"not a trace\"");
    let path = dir.join("traces.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[tokio::test]
async fn summarize_prints_a_table_and_reports_malformed_lines_with_their_number() {
    let dir = tempfile::tempdir().unwrap();
    trace_file(dir.path(), 3).await;

    let output = llmtrace(dir.path(), &["summarize", "traces.jsonl"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.contains("interactions  3 (0 failed)"), "{table}");
    assert!(table.contains("providers     echo"), "{table}");
    let warnings = stderr(&output);
    assert!(
        warnings.contains("traces.jsonl:2: malformed trace"),
        "{warnings}"
    );
}

#[tokio::test]
async fn summarize_json_is_the_library_summary() {
    let dir = tempfile::tempdir().unwrap();
    trace_file(dir.path(), 4).await;

    let output = llmtrace(dir.path(), &["summarize", "traces.jsonl", "--json"]);

    let summary: TraceSummary = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary.total_interactions, 4);
    assert!(summary.total_tokens > 0);
    assert_eq!(summary.models, ["echo-1"]);
}

#[tokio::test]
async fn strict_mode_stops_at_the_first_malformed_line() {
    let dir = tempfile::tempdir().unwrap();
    trace_file(dir.path(), 3).await;

    let output = llmtrace(dir.path(), &["summarize", "traces.jsonl", "--strict"]);

    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("traces.jsonl:2: malformed trace"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn export_writes_json_and_markdown_files() {
    let dir = tempfile::tempdir().unwrap();
    trace_file(dir.path(), 3).await;

    let json = llmtrace(
        dir.path(),
        &[
            "export",
            "traces.jsonl",
            "--format",
            "json",
            "-o",
            "out/traces.json",
        ],
    );
    let markdown = llmtrace(
        dir.path(),
        &[
            "export",
            "traces.jsonl",
            "--format",
            "markdown",
            "-o",
            "out/report.md",
        ],
    );

    assert!(
        json.status.success() && markdown.status.success(),
        "{}",
        stderr(&json)
    );
    let array: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/traces.json")).unwrap())
            .unwrap();
    assert_eq!(array.len(), 3);
    assert_eq!(array[2]["prompt"], "Test 2");
    let report = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(report.contains("**Total Interactions:** 3"), "{report}");
    assert!(report.contains("## Interaction 3:"));
}

#[test]
fn export_of_an_empty_file_is_an_empty_array() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.jsonl"), "").unwrap();

    let output = llmtrace(dir.path(), &["export", "empty.jsonl", "--format", "json"]);

    assert_eq!(stdout(&output).trim(), "[]");
}

#[test]
fn a_missing_trace_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();

    let output = llmtrace(dir.path(), &["summarize", "nope.jsonl"]);

    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot open nope.jsonl"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[exporters.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n[exporters.hook.headers]\nAuthorization = \"Bearer literal-secret\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["check-config", "app.toml"]);

    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(text.contains("app.toml is valid"), "{text}");
    assert!(text.contains("max_traces = 100"), "{text}");
    assert!(text.contains("Authorization = \"********\""), "{text}");
    assert!(!text.contains("literal-secret"), "{text}");
}

#[test]
fn check_config_masks_every_header_value_and_url_tokens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[exporters.hook]\ntype = \"webhook\"\nurl = \"http://ops:pw-secret@127.0.0.1:9/in?token=url-secret&team=a\"\n\
         [exporters.hook.headers]\nX-Honeycomb-Team = \"hc-literal\"\n\
         [exporters.spans]\ntype = \"otlp\"\nendpoint = \"http://127.0.0.1:4318\"\n\
         [exporters.spans.headers]\nDD-Trace = \"dd-literal\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["check-config", "app.toml"]);

    let text = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(text.contains("X-Honeycomb-Team = \"********\""), "{text}");
    assert!(text.contains("DD-Trace = \"********\""), "{text}");
    assert!(
        text.contains("ops:[redacted]@127.0.0.1:9/in?token=[redacted]&team=a"),
        "{text}"
    );
    for secret in ["hc-literal", "dd-literal", "url-secret", "pw-secret"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn check_config_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[tracing]\nmax_traces = -2\nenabled = 3\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["check-config", "bad.toml"]);

    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("invalid configuration bad.toml: 2 problems"),
        "{text}"
    );
    assert!(
        text.contains("tracing.max_traces: must not be negative, found -2 (in bad.toml)"),
        "{text}"
    );
    assert!(text.contains("tracing.enabled"), "{text}");
}

#[cfg(unix)]
#[tokio::test]
async fn export_refuses_to_write_over_its_input_by_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = trace_file(dir.path(), 2).await;
    let original = std::fs::read(&input).unwrap();
    std::os::unix::fs::symlink("traces.jsonl", dir.path().join("symlink.json")).unwrap();
    std::fs::hard_link(&input, dir.path().join("hardlink.json")).unwrap();

    for output in [
        "traces.jsonl",
        "./traces.jsonl",
        "symlink.json",
        "hardlink.json",
    ] {
        let run = llmtrace(
            dir.path(),
            &["export", "traces.jsonl", "--format", "json", "-o", output],
        );

        assert!(!run.status.success(), "{output}");
        assert!(
            stderr(&run).contains(&format!(
                "refusing to write {output}: it is the input file traces.jsonl"
            )),
            "{}",
            stderr(&run)
        );
        assert_eq!(std::fs::read(&input).unwrap(), original, "{output}");
    }
}

#[tokio::test]
async fn a_failed_export_leaves_the_old_output_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    trace_file(dir.path(), 3).await;
    std::fs::write(dir.path().join("report.md"), "the old report\n").unwrap();

    let run = llmtrace(
        dir.path(),
        &[
            "export",
            "traces.jsonl",
            "--format",
            "markdown",
            "--strict",
            "-o",
            "report.md",
        ],
    );

    assert!(!run.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report.md")).unwrap(),
        "the old report\n"
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["report.md", "traces.jsonl"],
        "no temporary file is left"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn export_replaces_the_file_behind_a_link_and_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    trace_file(dir.path(), 3).await;
    let target = dir.path().join("shared.json");
    std::fs::write(&target, "[]").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("shared.json", dir.path().join("latest.json")).unwrap();

    let run = llmtrace(
        dir.path(),
        &[
            "export",
            "traces.jsonl",
            "--format",
            "json",
            "-o",
            "latest.json",
        ],
    );

    assert!(run.status.success(), "{}", stderr(&run));
    let link = std::fs::symlink_metadata(dir.path().join("latest.json")).unwrap();
    assert!(link.file_type().is_symlink(), "the link is still a link");
    let array: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert_eq!(array.len(), 3);
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[cfg(unix)]
#[tokio::test]
async fn an_export_that_runs_out_of_space_names_the_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    trace_file(dir.path(), 20).await;
    std::fs::write(dir.path().join("report.md"), "the old report\n").unwrap();

    let run = crate::crash::with_file_size_limit(
        dir.path(),
        1024,
        &[
            "export",
            "traces.jsonl",
            "--format",
            "markdown",
            "-o",
            "report.md",
        ],
    );

    assert!(!run.status.success());
    let error = stderr(&run);
    assert!(
        error.contains("error: cannot write ") && error.contains("report.md: File too large"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report.md")).unwrap(),
        "the old report\n"
    );
    let names = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(names, 2, "no temporary file is left");
}

#[test]
fn check_config_reports_secret_variables_not_set_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[provider]\ntype = \"anthropic\"\nmodel = \"claude\"\napi_key_env = \"CHECK_CONFIG_TEST_UNSET_KEY\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["check-config", "app.toml"]);

    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains(
            "provider.api_key_env: environment variable CHECK_CONFIG_TEST_UNSET_KEY is not set"
        ),
        "{text}"
    );
}

#[test]
fn check_config_reports_bad_headers_urls_and_variable_names_without_building() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[provider]\ntype = \"plugin\"\npath = \"no-such-plugin.so\"\n\
         [exporters.hook]\ntype = \"webhook\"\nurl = \"ftp://127.0.0.1/in\"\n\
         [exporters.hook.headers]\n\"X Team\" = \"search\"\n\
         [exporters.hook.secret_headers]\nAuthorization = \"WEBHOOK-TOKEN\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["check-config", "app.toml"]);

    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("invalid configuration app.toml: 3 problems"),
        "{text}"
    );
    for line in [
        "exporters.hook.url: URL scheme \"ftp\" is not supported",
        "exporters.hook.headers.\"X Team\": \"X Team\" is not a valid HTTP header name",
        "exporters.hook.secret_headers.Authorization: is not the name of an environment variable",
    ] {
        assert!(text.contains(line), "{line} not in {text}");
    }
    assert!(text.matches("(in app.toml)").count() == 3, "{text}");
    // The plugin is loaded only when building: checking the file never tries.
    assert!(!text.contains("no-such-plugin"), "{text}");
}

#[tokio::test]
async fn summarize_prints_the_cost_in_total_and_per_model() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .provider(llmtrace::provider::EchoProvider::new().model("gpt-4o-mini"))
        .prices({
            let mut prices = llmtrace::cost::PriceTable::new();
            let price = llmtrace::cost::ModelPrice::new(1_000_000.0, 0.0);
            prices.set("gpt-4o-mini", price).unwrap();
            prices
        })
        .build();
    client.generate("Test 1").await.unwrap();
    client.generate("Test 2").await.unwrap();
    let traces = client.get_traces(TraceQuery::all());
    let dollars: f64 = traces.iter().map(|t| t.cost_usd.unwrap()).sum();
    let path = dir.path().join("traces.jsonl");
    export_traces(&traces, ReportFormat::Jsonl, Some(&path)).unwrap();

    let output = llmtrace(dir.path(), &["summarize", "traces.jsonl"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let total = format!(
        "cost          ${dollars:.6} total, ${:.6} per priced interaction (2 of 2 priced)",
        dollars / 2.0
    );
    assert!(table.contains(&total), "{table}");
    assert!(
        table.contains("    gpt-4o-mini: 2 interaction(s), "),
        "{table}"
    );
}
