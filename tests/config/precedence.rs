//! Defaults, then the file, then `LLMTRACE_*` variables.

use figment::Jail;
use llmtrace::config::Config;
use llmtrace::exporter::JsonlConfig;
use llmtrace::provider::OllamaConfig;

use crate::load;

#[test]
fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "app.toml",
            r#"
            [tracing]
            max_traces = 5
            verbatim = true
            [metadata]
            environment = "staging"
            [exporters.archive]
            type = "jsonl"
            path = "from-file.jsonl"
            "#,
        )?;
        jail.set_env("LLMTRACE_TRACING__MAX_TRACES", "7");
        jail.set_env("LLMTRACE_METADATA__ENVIRONMENT", "prod");
        jail.set_env("LLMTRACE_EXPORTERS__ARCHIVE__PATH", "from-env.jsonl");

        let config = load("app.toml").unwrap();

        assert_eq!(config.tracing.max_traces, 7, "env wins over the file");
        assert!(config.tracing.verbatim, "the file wins over the default");
        assert!(
            config.tracing.enabled,
            "the default where nobody says otherwise"
        );
        assert_eq!(config.metadata["environment"], "prod");
        let archive = config.exporters["archive"].options::<JsonlConfig>();
        assert_eq!(archive.unwrap().path.to_str(), Some("from-env.jsonl"));
        Ok(())
    });
}

#[test]
fn the_environment_alone_configures_a_stack_without_a_file() {
    Jail::expect_with(|jail| {
        jail.set_env("LLMTRACE_PROVIDER__TYPE", "ollama");
        jail.set_env("LLMTRACE_PROVIDER__MODEL", "llama3.2");
        jail.set_env("LLMTRACE_TRACING__ENABLED", "false");

        let config = Config::load(None).unwrap();

        let http = &config.provider.options::<OllamaConfig>().unwrap().0;
        assert_eq!(http.model, "llama3.2");
        assert_eq!(http.timeout_ms, 60_000);
        assert!(!config.tracing.enabled);
        Ok(())
    });
}

#[test]
fn no_file_and_no_environment_is_the_default() {
    Jail::expect_with(|_| {
        assert_eq!(Config::load(None).unwrap(), Config::default());
        Ok(())
    });
}
