//! One registry per component kind: every listed `type` reads as itself, with its own keys.

use std::collections::BTreeMap;

use figment::Jail;
use llmtrace::config::{Config, exporter_types, provider_types};
use llmtrace::exporter::WebhookConfig;
use llmtrace::provider::{AnthropicConfig, OpenAiConfig};

use crate::issue;

/// The keys each provider type needs, besides its `type`.
const PROVIDERS: &[(&str, &str)] = &[
    ("echo", ""),
    ("openai", "model = \"m\""),
    ("ollama", "model = \"m\""),
    ("anthropic", "model = \"m\""),
    ("plugin", "path = \"p.so\""),
];

/// The keys each exporter type needs, besides its `type`.
const EXPORTERS: &[(&str, &str)] = &[
    ("stdout", ""),
    ("jsonl", "path = \"t.jsonl\""),
    ("json", "path = \"t.json\""),
    ("markdown", "path = \"t.md\""),
    ("webhook", "url = \"http://127.0.0.1:9/\""),
    ("otlp", ""),
    ("plugin", "path = \"p.so\""),
    ("sqlite", "path = \"t.db\""),
];

#[test]
fn every_listed_provider_type_reads_as_itself() {
    let listed: BTreeMap<_, _> = PROVIDERS.iter().copied().collect();
    let mut registered = provider_types();
    registered.sort_unstable();
    assert_eq!(
        registered,
        listed.keys().copied().collect::<Vec<_>>(),
        "a provider type without a case here"
    );
    for (kind, keys) in listed {
        let config = Config::from_toml_str(&format!("[provider]\ntype = \"{kind}\"\n{keys}"))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(config.provider.type_name(), kind);
        let shown = config.to_masked_toml();
        assert!(shown.contains(&format!("type = \"{kind}\"")), "{shown}");
    }
}

#[test]
fn every_listed_exporter_type_reads_as_itself() {
    let listed: BTreeMap<_, _> = EXPORTERS.iter().copied().collect();
    let mut registered = exporter_types();
    registered.sort_unstable();
    assert_eq!(
        registered,
        listed.keys().copied().collect::<Vec<_>>(),
        "an exporter type without a case here"
    );
    for (kind, keys) in listed {
        let config = Config::from_toml_str(&format!("[exporters.x]\ntype = \"{kind}\"\n{keys}"))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(config.exporters["x"].type_name(), kind);
    }
}

#[test]
fn the_unknown_type_error_lists_the_registry() {
    let error = Config::from_toml_str("[exporters.x]\ntype = \"csv\"\n[provider]\ntype = \"gpt\"")
        .unwrap_err();

    let exporter = issue(&error, "exporters.x.type");
    assert!(
        exporter
            .message
            .ends_with(&format!("expected one of {}", exporter_types().join(", "))),
        "{error}"
    );
    let provider = issue(&error, "provider.type");
    assert!(
        provider.message.contains(&format!(
            "unknown provider type \"gpt\"; expected one of {}",
            provider_types().join(", ")
        )),
        "{error}"
    );
}

#[test]
fn a_webhook_reads_as_a_webhook_and_its_url_is_no_otlp_key() {
    let config = Config::from_toml_str(
        "[exporters.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/in\"\ntimeout_ms = 5",
    )
    .unwrap();
    let hook = config.exporters["hook"].options::<WebhookConfig>().unwrap();
    assert_eq!(
        (hook.url.as_str(), hook.timeout_ms),
        ("http://127.0.0.1:9/in", 5)
    );

    let error = Config::from_toml_str(
        "[exporters.spans]\ntype = \"otlp\"\nurl = \"http://127.0.0.1:9/in\"",
    )
    .unwrap_err();
    assert!(
        issue(&error, "exporters.spans.url")
            .message
            .starts_with("unknown key \"url\" for exporter type \"otlp\""),
        "{error}"
    );
}

#[test]
fn anthropic_reads_as_anthropic_and_needs_its_own_key_where_openai_needs_none() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let read = |kind: &str| {
            Config::from_toml_str(&format!(
                "[provider]\ntype = \"{kind}\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9\""
            ))
            .unwrap()
        };

        let anthropic = read("anthropic");
        assert!(anthropic.provider.options::<AnthropicConfig>().is_some());
        assert!(anthropic.provider.options::<OpenAiConfig>().is_none());
        let error = anthropic.check_environment(None).unwrap_err();
        assert_eq!(
            issue(&error, "provider.api_key_env").message,
            "environment variable ANTHROPIC_API_KEY is not set"
        );
        // A local OpenAI-compatible server needs no key unless one is named.
        assert_eq!(read("openai").check_environment(None), Ok(()));

        jail.set_env("ANTHROPIC_API_KEY", "test-key");
        let client = anthropic.build().unwrap();
        assert_eq!(client.provider().name, "anthropic");
        Ok(())
    });
}

/// Each exporter type's batch size when the file sets none: sqlite commits a batch per
/// transaction, so it batches 1,000 (never more than its queue holds); the others 64. A
/// `batch_size` written in the file wins.
#[test]
fn each_exporter_type_has_its_own_default_batch_size() {
    let config = Config::from_toml_str(
        r#"
        [exporters.db]
        type = "sqlite"
        path = "t.db"
        [exporters.small_queue]
        type = "sqlite"
        path = "u.db"
        queue_size = 300
        [exporters.set]
        type = "sqlite"
        path = "v.db"
        batch_size = 10
        [exporters.lines]
        type = "jsonl"
        path = "t.jsonl"
        "#,
    )
    .unwrap();
    let batch = |name: &str| config.exporters[name].worker_options().batch_size;
    assert_eq!(batch("db"), 1000);
    assert_eq!(batch("small_queue"), 300);
    assert_eq!(batch("set"), 10);
    assert_eq!(batch("lines"), llmtrace::exporter::DEFAULT_BATCH_SIZE);
}
