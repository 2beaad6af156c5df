//! Sizes and durations have upper bounds, checked when read: a value that would allocate
//! gigabytes, abort the process or be truncated is a named error with its limit.

use figment::Jail;
use llmtrace::config::Origin;

use crate::{issue, load};

#[test]
fn sizes_past_their_bound_are_rejected_with_the_limit() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "big.toml",
            r#"
            [provider]
            type = "plugin"
            path = "p.so"
            max_concurrency = 100000000

            [tracing]
            max_traces = 1000000000000000000

            [exporters.archive]
            type = "jsonl"
            path = "a.jsonl"
            queue_size = 1000000000000000000
            batch_size = 1000000000000000000
            max_retries = 4294967296
            max_files = 4294967296
            batch_interval_ms = 9223372036854775807

            [exporters.hook]
            type = "webhook"
            url = "http://127.0.0.1:9/"
            timeout_ms = 100000000000
            retry_max_backoff_ms = 100000000000
            "#,
        )?;

        let error = load("big.toml").unwrap_err();

        let expectations = [
            ("provider.max_concurrency", "10000", "100000000"),
            ("tracing.max_traces", "10000000", "1000000000000000000"),
            (
                "exporters.archive.queue_size",
                "1000000",
                "1000000000000000000",
            ),
            (
                "exporters.archive.batch_size",
                "100000",
                "1000000000000000000",
            ),
            ("exporters.archive.max_retries", "100", "4294967296"),
            ("exporters.archive.max_files", "1000", "4294967296"),
            (
                "exporters.archive.batch_interval_ms",
                "86400000",
                "9223372036854775807",
            ),
            ("exporters.hook.timeout_ms", "86400000", "100000000000"),
            (
                "exporters.hook.retry_max_backoff_ms",
                "86400000",
                "100000000000",
            ),
        ];
        for (key, limit, found) in expectations {
            let bad = issue(&error, key);
            assert_eq!(
                bad.message,
                format!("must be at most {limit}, found {found}"),
                "{key}"
            );
            assert!(
                matches!(&bad.origin, Origin::File(p) if p.ends_with("big.toml")),
                "{key}: {:?}",
                bad.origin
            );
        }
        assert_eq!(error.issues.len(), expectations.len(), "{error}");
        Ok(())
    });
}

#[test]
fn values_beyond_u32_are_rejected_not_truncated() {
    Jail::expect_with(|jail| {
        // 2^32 used to become 0 retries and 0 rotated files.
        jail.create_file(
            "a.toml",
            "[exporters.archive]\ntype = \"jsonl\"\npath = \"a.jsonl\"\nmax_retries = 4294967296\nmax_files = 4294967297\n",
        )?;

        let error = load("a.toml").unwrap_err();

        assert_eq!(error.issues.len(), 2, "{error}");
        assert!(
            issue(&error, "exporters.archive.max_retries")
                .message
                .contains("found 4294967296")
        );
        assert!(
            issue(&error, "exporters.archive.max_files")
                .message
                .contains("found 4294967297")
        );
        Ok(())
    });
}

#[test]
fn a_batch_larger_than_its_queue_is_rejected() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[exporters.archive]\ntype = \"jsonl\"\npath = \"a.jsonl\"\nqueue_size = 10\nbatch_size = 11\n",
        )?;

        let error = load("a.toml").unwrap_err();

        assert_eq!(
            issue(&error, "exporters.archive.batch_size").message,
            "must be at most queue_size (10), found 11"
        );
        Ok(())
    });
}

#[test]
fn a_batch_is_not_compared_with_an_invalid_queue_size() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[exporters.archive]\ntype = \"jsonl\"\npath = \"a.jsonl\"\nqueue_size = 2000000\nbatch_size = 5000\n",
        )?;

        let error = load("a.toml").unwrap_err();

        assert_eq!(error.issues.len(), 1, "{error}");
        assert_eq!(error.issues[0].key, "exporters.archive.queue_size");
        Ok(())
    });
}

#[test]
fn a_bound_broken_from_the_environment_names_the_variable() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[exporters.archive]\ntype = \"jsonl\"\npath = \"a.jsonl\"\n",
        )?;
        jail.set_env(
            "LLMTRACE_EXPORTERS__ARCHIVE__QUEUE_SIZE",
            "18446744073709551615",
        );

        let error = load("a.toml").unwrap_err();

        let bad = issue(&error, "exporters.archive.queue_size");
        assert_eq!(
            bad.message,
            "must be at most 1000000, found 18446744073709551615"
        );
        assert_eq!(
            bad.origin,
            Origin::Env("LLMTRACE_EXPORTERS__ARCHIVE__QUEUE_SIZE".into())
        );
        Ok(())
    });
}

#[test]
fn values_at_their_bound_are_accepted() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            "[tracing]\nmax_traces = 10000000\n[exporters.archive]\ntype = \"jsonl\"\npath = \"a.jsonl\"\nqueue_size = 1000000\nbatch_size = 100000\nmax_retries = 100\nmax_files = 1000\nbatch_interval_ms = 86400000\n",
        )?;

        let config = load("a.toml").unwrap();

        assert_eq!(config.exporters["archive"].queue_size, 1_000_000);
        assert_eq!(config.exporters["archive"].max_retries, 100);
        Ok(())
    });
}

#[test]
fn default_toml_states_every_bound() {
    let text = include_str!("../../config/default.toml");
    let bounds = [
        ("max_traces", "10000000"),
        ("max_concurrency", "10000"),
        ("queue_size", "1000000"),
        ("batch_size", "100000"),
        ("max_retries", "100"),
        ("max_files", "1000"),
        ("batch_interval_ms", "86400000"),
        ("max_bytes", "1099511627776"),
        ("max_age_ms", "31536000000"),
    ];
    for (key, bound) in bounds {
        let line = text
            .lines()
            .find(|line| {
                line.trim_start_matches(['#', ' '])
                    .starts_with(&format!("{key} = "))
            })
            .unwrap_or_else(|| panic!("{key} not in default.toml"));
        assert!(line.contains(&format!("at most {bound}")), "{line}");
    }
}
