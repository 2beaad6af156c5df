//! Property tests of the reader over generated input: arbitrary bytes as a file, and TOML made
//! of the real sections and keys with arbitrary values. Loading never panics or hangs, and
//! every rejection is named: a problem with a value names its key, a file that cannot be read
//! at all is named by the file.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::{Figment, Jail};
use llmtrace::config::{Config, ConfigError};
use proptest::prelude::*;
use proptest::sample::select;

const HEADERS: &[&str] = &[
    "[provider]",
    "[tracing]",
    "[metadata]",
    "[exporters]",
    "[exporters.a]",
    "[exporters.a.headers]",
    "[exporters.a.secret_headers]",
    "[exporters.a.resource_attributes]",
    "[exporters.a.options]",
    "[exporters.B]",
    "[surprise]",
];

const KEYS: &[&str] = &[
    "type",
    "model",
    "latency_ms",
    "base_url",
    "api_key_env",
    "timeout_ms",
    "path",
    "max_concurrency",
    "options",
    "enabled",
    "max_traces",
    "verbatim",
    "events",
    "queue_size",
    "batch_size",
    "batch_interval_ms",
    "overflow",
    "max_retries",
    "retry_initial_backoff_ms",
    "retry_max_backoff_ms",
    "max_bytes",
    "max_files",
    "format",
    "url",
    "endpoint",
    "service_name",
    "capture_content",
    "headers",
    "secret_headers",
    "Authorization",
];

/// Values that reach the interesting branches: types, bounds, URLs, names and secrets.
const VALUES: &[&str] = &[
    "\"echo\"",
    "\"openai\"",
    "\"ollama\"",
    "\"anthropic\"",
    "\"plugin\"",
    "\"stdout\"",
    "\"jsonl\"",
    "\"json\"",
    "\"markdown\"",
    "\"webhook\"",
    "\"otlp\"",
    "\"wait\"",
    "\"http://127.0.0.1:9/\"",
    "\"ftp://example.com\"",
    "\"not a url\"",
    "\"http://user:pw@\"",
    "\"OPENAI_API_KEY\"",
    "\"sk-ant-api03-secret\"",
    "\"Bearer xyz\"",
    "\"\"",
    "0",
    "-1",
    "1",
    "4294967296",
    "1000000000000000000",
    "9223372036854775807",
    "-9223372036854775808",
    "1e300",
    "-inf",
    "nan",
    "true",
    "[1, \"a\", [2]]",
    "{ a = 1, b = { c = \"d\" } }",
    "1979-05-27T07:32:00Z",
];

/// A TOML value: the interesting ones, or any number or string (escaped as TOML).
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(VALUES).prop_map(str::to_owned),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| format!("{n:?}")),
        1 => any::<String>().prop_map(|s| quoted(&s)),
    ]
}

/// A key: a real one mostly, else any bare or quoted key.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_-]{1,12}",
        1 => any::<String>().prop_map(|s| quoted(&s)),
    ]
}

/// `text` as a TOML basic string (JSON's escapes are TOML's).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Well-formed TOML (mostly: a key may collide with a sub-table header) built of the real
/// sections and keys, the provider and exporter tables typed, so that most cases reach the
/// checks of values.
fn document() -> impl Strategy<Value = String> {
    let table = prop::collection::btree_map(key(), value(), 0..10);
    let tables = prop::collection::btree_map(select(HEADERS), table, 0..6);
    let provider = select(&["echo", "openai", "ollama", "anthropic", "plugin"][..]);
    let exporter = select(
        &[
            "stdout", "jsonl", "json", "markdown", "webhook", "otlp", "plugin",
        ][..],
    );
    (tables, provider, exporter).prop_map(|(tables, provider, exporter)| {
        let mut text = String::new();
        for (header, mut keys) in tables {
            let kind = match header {
                "[provider]" => Some(provider),
                "[exporters.a]" | "[exporters.B]" => Some(exporter),
                _ => None,
            };
            if let Some(kind) = kind {
                keys.entry("type".to_owned()).or_insert(quoted(kind));
            }
            text.push_str(header);
            text.push('\n');
            for (key, value) in keys {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        text
    })
}

/// An `LLMTRACE_*` variable: a real section and key, or any nesting.
fn env_name() -> impl Strategy<Value = String> {
    let section = select(
        &[
            "PROVIDER",
            "TRACING",
            "METADATA",
            "EXPORTERS__A",
            "EXPORTERS",
        ][..],
    );
    prop_oneof![
        4 => (section, select(KEYS)).prop_map(|(section, key)| {
            format!("LLMTRACE_{section}__{}", key.to_uppercase())
        }),
        1 => "LLMTRACE_[A-Z_]{0,20}",
    ]
}

/// Lines of anything, TOML-ish: mostly syntax errors, which must be named too.
fn lines() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        3 => select(HEADERS).prop_map(str::to_owned),
        6 => (key(), value()).prop_map(|(key, value)| format!("{key} = {value}")),
        1 => any::<String>(),
    ];
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

/// Loads `path` as the loader does, without the environment (tests run in parallel).
fn load_file(path: &Path) -> Result<Config, ConfigError> {
    Config::from_figment(
        &Figment::from(Toml::file_exact(path)),
        Some(path.to_path_buf()),
    )
}

/// The outcome is a configuration that renders, or problems that are each named.
fn assert_named(result: Result<Config, ConfigError>, file: Option<&Path>) {
    let error = match result {
        Ok(config) => {
            let _ = config.to_masked_toml();
            let _ = config.check_environment(None);
            return;
        }
        Err(error) => error,
    };
    assert!(!error.issues.is_empty(), "an error with no problem");
    let unkeyed = error.issues.iter().filter(|i| i.key.is_empty()).count();
    for issue in &error.issues {
        assert!(!issue.message.trim().is_empty(), "{error}");
    }
    // Only a source that cannot be read at all (syntax, encoding) has no key, and then no
    // value was read, so every problem is about the file.
    assert!(
        unkeyed == 0 || unkeyed == error.issues.len(),
        "unnamed problems among named ones:\n{error}"
    );
    if let Some(file) = file {
        assert!(
            error.to_string().contains(&file.display().to_string()),
            "{error}"
        );
    }
}

fn scratch_file(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

/// `default` cases per property, unless `PROPTEST_CASES` says otherwise (scripts/fuzz.sh).
fn cases(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn generated_configs_load_or_every_problem_is_named(text in document()) {
        assert_named(Config::from_toml_str(&text), None);
    }
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn toml_ish_lines_load_or_every_problem_is_named(text in lines()) {
        assert_named(Config::from_toml_str(&text), None);
    }

    #[test]
    fn arbitrary_environment_variables_load_or_are_named(
        vars in prop::collection::btree_map(env_name(), any::<String>(), 0..8)
    ) {
        Jail::expect_with(|jail| {
            for (name, value) in &vars {
                // The environment cannot hold NUL.
                jail.set_env(name, value.replace('\0', ""));
            }
            assert_named(Config::load(None), None);
            Ok(())
        });
    }

    #[test]
    fn arbitrary_bytes_in_a_file_load_or_are_named(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let (_dir, path) = scratch_file("fuzz.toml");
        std::fs::write(&path, &bytes).unwrap();
        assert_named(load_file(&path), Some(&path));
    }

    #[test]
    fn generated_configs_in_a_file_name_the_file(text in document()) {
        let (_dir, path) = scratch_file("fuzz.toml");
        std::fs::write(&path, text).unwrap();
        assert_named(load_file(&path), Some(&path));
    }
}
