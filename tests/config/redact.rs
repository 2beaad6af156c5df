//! `[redact]`, `[sample]` and an exporter's `sample`: read, checked, and built into the client.

use figment::Jail;
use llmtrace::config::{Config, Origin};

use crate::{issue, load};

#[test]
fn a_file_with_redact_and_sample_builds_a_client_that_masks_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml_str(&format!(
        r#"
        [redact]
        detectors = ["email", "api_key"]
        hash_metadata = ["user_id"]
        rules = [{{ name = "ticket", pattern = 'TICKET-\d+' }}]

        [sample]
        ratio = 0.0

        [exporters.otlp_like]
        type = "jsonl"
        path = "{dir}/sampled.jsonl"

        [exporters.archive]
        type = "jsonl"
        path = "{dir}/all.jsonl"
        sample = {{ ratio = 1.0, keep_errors = true, slow_ms = 2000 }}
        "#,
        dir = dir.path().display()
    ))
    .unwrap();
    assert_eq!(
        config.exporters["archive"].sample.unwrap().slow_ms,
        Some(2000)
    );
    let client = config.build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let redactions = runtime.block_on(async {
        let request = llmtrace::GenerateRequest::new("ana@example.com about TICKET-7")
            .metadata("user_id", "alice");
        let response = client.generate(request).await.unwrap();
        let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
        assert_eq!(trace.prompt, "[REDACTED:email] about [REDACTED:ticket]");
        assert!(
            trace.metadata["user_id"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        client.shutdown().await;
        trace.redactions
    });
    assert!(redactions >= 3, "email, ticket, user id: {redactions}");
    let stats: std::collections::BTreeMap<_, _> = client.exporter_stats().into_iter().collect();
    assert_eq!(
        (stats["archive"].exported, stats["archive"].sampled_out),
        (1, 0)
    );
    assert_eq!(
        (stats["otlp_like"].offered, stats["otlp_like"].sampled_out),
        (0, 1)
    );
    let written = std::fs::read_to_string(dir.path().join("all.jsonl")).unwrap();
    assert!(!written.contains("ana@example.com"), "{written}");
    assert!(
        written.contains(&format!("\"redactions\":{redactions}")),
        "{written}"
    );
}

#[test]
fn bad_patterns_names_and_ratios_are_named_with_key_and_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "bad.toml",
            r#"
            [redact]
            detectors = ["email", "mail"]
            drop = ["history"]
            rules = [{ name = "broken", pattern = "(unclosed" }]
            mask = true

            [sample]
            ratio = 1.5

            [exporters.archive]
            type = "jsonl"
            path = "t.jsonl"
            sample = { ratio = 0.1, every = 3 }
            "#,
        )?;
        let error = load("bad.toml").unwrap_err();
        let expectations = [
            ("redact.detectors", "unknown detector \"mail\""),
            ("redact.drop", "unknown field \"history\""),
            (
                "redact.rules",
                "rule \"broken\": invalid pattern \"(unclosed\"",
            ),
            ("redact.mask", "unknown key"),
            ("sample.ratio", "must be from 0 to 1, found 1.5"),
            ("exporters.archive.sample.every", "unknown key"),
        ];
        for (key, fragment) in expectations {
            let found = issue(&error, key);
            assert!(found.message.contains(fragment), "{key}: {}", found.message);
            assert!(
                matches!(&found.origin, Origin::File(p) if p.ends_with("bad.toml")),
                "{key}: {:?}",
                found.origin
            );
        }
        assert_eq!(error.issues.len(), expectations.len(), "{error}");
        Ok(())
    });
}
