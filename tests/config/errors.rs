//! Every error class, all reported at once, each naming the key, the value and the origin.

use figment::Jail;
use llmtrace::config::Origin;

use crate::{issue, load};

#[test]
fn every_problem_is_reported_at_once_with_key_value_and_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "bad.toml",
            r#"
            [provider]
            type = "openia"

            [tracing]
            max_trace = 5
            enabled = "yes"
            max_traces = -1

            [exporters.archive]
            type = "jsonl"
            batch_size = 0
            queue_size = -3
            url = "http://example.com"
            overflow = "block"

            [exporters.broken]
            type = "jsnl"

            [exporters.hook]
            type = "webhook"
            timeout_ms = 0

            [exporters.untyped]
            path = "x.jsonl"

            [surprise]
            x = 1
            "#,
        )?;

        let error = load("bad.toml").unwrap_err();
        let text = error.to_string();

        let expectations = [
            ("provider.type", "\"openia\""),
            ("tracing.max_trace", "unknown key"),
            ("tracing.enabled", "\"yes\""),
            ("tracing.max_traces", "must not be negative, found -1"),
            ("exporters.archive.path", "missing required key \"path\""),
            (
                "exporters.archive.batch_size",
                "must be at least 1, found 0",
            ),
            (
                "exporters.archive.queue_size",
                "must be at least 1, found -3",
            ),
            (
                "exporters.archive.url",
                "unknown key \"url\" for exporter type \"jsonl\"",
            ),
            ("exporters.archive.overflow", "\"block\""),
            ("exporters.broken.type", "unknown exporter type \"jsnl\""),
            ("exporters.hook.url", "missing required key \"url\""),
            ("exporters.hook.timeout_ms", "must be at least 1, found 0"),
            ("exporters.untyped.type", "missing required key \"type\""),
            ("surprise", "unknown section"),
        ];
        for (key, fragment) in expectations {
            let found = issue(&error, key);
            assert!(found.message.contains(fragment), "{key}: {}", found.message);
            assert!(
                matches!(&found.origin, Origin::File(p) if p.ends_with("bad.toml")),
                "{key}: {:?}",
                found.origin
            );
            assert!(text.contains(key), "{text}");
        }
        assert_eq!(error.issues.len(), expectations.len(), "{text}");
        assert!(
            text.starts_with("invalid configuration bad.toml: 14 problems"),
            "{text}"
        );
        assert!(text.contains("(in bad.toml)"), "{text}");
        Ok(())
    });
}

#[test]
fn an_unknown_key_lists_the_keys_that_exist() {
    Jail::expect_with(|jail| {
        jail.create_file("a.toml", "[tracing]\nmax_trace = 5\n")?;

        let error = load("a.toml").unwrap_err();

        let message = &issue(&error, "tracing.max_trace").message;
        assert!(
            message.contains("enabled, events, max_age_ms, max_bytes, max_traces, verbatim"),
            "{message}"
        );
        Ok(())
    });
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    Jail::expect_with(|jail| {
        jail.create_file("a.toml", "[tracing]\nmax_traces = 5\n")?;
        jail.set_env("LLMTRACE_TRACING__MAX_TRACES", "ten");
        jail.set_env("LLMTRACE_TRACING__MAX_TRACE", "1");

        let error = load("a.toml").unwrap_err();

        let bad = issue(&error, "tracing.max_traces");
        assert_eq!(bad.message, "expected an integer, found string \"ten\"");
        assert_eq!(
            bad.origin,
            Origin::Env("LLMTRACE_TRACING__MAX_TRACES".into())
        );
        assert!(
            error
                .to_string()
                .contains("from environment variable LLMTRACE_TRACING__MAX_TRACES")
        );
        assert_eq!(
            issue(&error, "tracing.max_trace").origin,
            Origin::Env("LLMTRACE_TRACING__MAX_TRACE".into())
        );
        Ok(())
    });
}

#[test]
fn a_missing_file_is_an_error_not_an_empty_config() {
    Jail::expect_with(|_| {
        let error = load("missing.toml").unwrap_err();

        assert_eq!(
            error.to_string(),
            "invalid configuration missing.toml: 1 problem\n  - missing.toml does not exist"
        );
        Ok(())
    });
}

#[test]
fn a_directory_is_not_a_config_file() {
    Jail::expect_with(|jail| {
        std::fs::create_dir(jail.directory().join("conf.d")).unwrap();

        let error = load("conf.d").unwrap_err();

        assert!(
            error.to_string().contains("conf.d is not a file"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn toml_syntax_errors_carry_line_and_file() {
    Jail::expect_with(|jail| {
        jail.create_file("broken.toml", "[tracing]\nmax_traces = [\n")?;

        let error = load("broken.toml").unwrap_err();

        let text = error.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("broken.toml"), "{text}");
        Ok(())
    });
}

#[test]
fn http_providers_require_a_model_and_validate_their_timeout() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[provider]\ntype = \"anthropic\"\ntimeout_ms = \"fast\"\nlatency_ms = 5\n",
        )?;

        let error = load("a.toml").unwrap_err();

        assert!(
            issue(&error, "provider.model")
                .message
                .contains("missing required key")
        );
        assert!(
            issue(&error, "provider.timeout_ms")
                .message
                .contains("string \"fast\"")
        );
        let latency = &issue(&error, "provider.latency_ms").message;
        assert!(
            latency.contains("for provider type \"anthropic\""),
            "{latency}"
        );
        Ok(())
    });
}

#[test]
fn exporter_names_must_be_overridable_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[exporters.Archive]\ntype = \"jsonl\"\npath = \"a.jsonl\"\n",
        )?;

        let error = load("a.toml").unwrap_err();

        assert!(
            issue(&error, "exporters.Archive")
                .message
                .contains("lowercase")
        );
        Ok(())
    });
}

#[test]
fn webhook_headers_must_be_strings() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[exporters.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\n[exporters.hook.headers]\nX-Retries = 3\n",
        )?;

        let error = load("a.toml").unwrap_err();

        assert_eq!(
            issue(&error, "exporters.hook.headers.X-Retries").message,
            "expected a string, found number 3"
        );
        Ok(())
    });
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_reported_as_such() {
    Jail::expect_with(|jail| {
        let dir = jail.directory();
        std::os::unix::fs::symlink(dir.join("b.toml"), dir.join("a.toml")).unwrap();
        std::os::unix::fs::symlink(dir.join("a.toml"), dir.join("b.toml")).unwrap();

        let error = load("a.toml").unwrap_err();

        assert_eq!(
            error.to_string(),
            "invalid configuration a.toml: 1 problem\n  - symlink loop at a.toml"
        );
        Ok(())
    });
}

#[test]
fn keys_that_are_not_bare_are_named_quoted() {
    // Found by tests/config/fuzz.rs: an empty key was reported with no key at all.
    let error = llmtrace::config::Config::from_toml_str(
        "\"\" = 1\n[tracing]\n\"max.traces\" = 1\n[exporters.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nheaders = { \"\" = 2 }\n",
    )
    .unwrap_err();

    let keys: Vec<&str> = error.issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "\"\"",
            "tracing.\"max.traces\"",
            "exporters.hook.headers.\"\""
        ],
        "{error}"
    );
}

#[test]
fn an_escape_after_non_ascii_text_in_a_variable_is_a_problem_not_a_panic() {
    // Found by tests/config/fuzz.rs: figment's value parser panics on this value.
    Jail::expect_with(|jail| {
        jail.set_env("LLMTRACE_METADATA__TEAM", "\"équipe\\n\"");
        jail.set_env("LLMTRACE_TRACING__MAX_TRACES", "-1");

        let error = llmtrace::config::Config::load(None).unwrap_err();

        let bad = issue(&error, "metadata.team");
        assert!(bad.message.contains("backslash escape"), "{}", bad.message);
        assert_eq!(bad.origin, Origin::Env("LLMTRACE_METADATA__TEAM".into()));
        assert!(!error.to_string().contains("équipe"), "{error}");
        assert!(
            issue(&error, "tracing.max_traces")
                .message
                .contains("negative")
        );
        assert_eq!(error.issues.len(), 2, "{error}");
        Ok(())
    });
}
