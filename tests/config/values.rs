//! Values checked beyond their type when read: URLs, and environment variable names that must
//! not hold the secret itself; `check_environment` reports the secret variables not set.

use figment::Jail;
use llmtrace::config::Origin;

use crate::{issue, load};

#[test]
fn urls_must_be_http_or_https_with_a_host() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            r#"
            [provider]
            type = "openai"
            model = "m"
            base_url = "file:///etc/passwd"

            [exporters.hook]
            type = "webhook"
            url = "not a url"

            [exporters.collector]
            type = "otlp"
            endpoint = "ftp://collector.example.com"
            "#,
        )?;
        jail.set_env("LLMTRACE_EXPORTERS__COLLECTOR__TIMEOUT_MS", "5");

        let error = load("a.toml").unwrap_err();

        let expectations = [
            ("provider.base_url", "URL scheme \"file\" is not supported"),
            (
                "exporters.hook.url",
                "expected an http or https URL, found \"not a url\"",
            ),
            (
                "exporters.collector.endpoint",
                "URL scheme \"ftp\" is not supported",
            ),
        ];
        for (key, fragment) in expectations {
            let bad = issue(&error, key);
            assert!(bad.message.contains(fragment), "{key}: {}", bad.message);
            assert!(
                matches!(&bad.origin, Origin::File(p) if p.ends_with("a.toml")),
                "{key}: {:?}",
                bad.origin
            );
        }
        assert_eq!(error.issues.len(), expectations.len(), "{error}");
        Ok(())
    });
}

#[test]
fn a_bad_url_from_the_environment_names_the_variable() {
    Jail::expect_with(|jail| {
        jail.set_env("LLMTRACE_PROVIDER__TYPE", "ollama");
        jail.set_env("LLMTRACE_PROVIDER__MODEL", "llama3");
        jail.set_env("LLMTRACE_PROVIDER__BASE_URL", "localhost:11434");

        let error = llmtrace::config::Config::load(None).unwrap_err();

        let bad = issue(&error, "provider.base_url");
        assert!(bad.message.contains("http or https"), "{}", bad.message);
        assert_eq!(
            bad.origin,
            Origin::Env("LLMTRACE_PROVIDER__BASE_URL".into())
        );
        Ok(())
    });
}

#[test]
fn a_secret_typed_into_a_name_field_is_refused_without_echo() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            r#"
            [provider]
            type = "anthropic"
            model = "claude"
            api_key_env = "sk-ant-api03-Zx81kQ"

            [exporters.hook]
            type = "webhook"
            url = "https://collector.example.com/traces"
            [exporters.hook.secret_headers]
            Authorization = "Bearer q8Zr3LmT0vXy7BnKa2WcPe5D"
            X-Team = "TEAM-TOKEN"
            X-Ok = "WEBHOOK_TOKEN"
            "#,
        )?;

        let error = load("a.toml").unwrap_err();

        let text = error.to_string();
        for key in [
            "provider.api_key_env",
            "exporters.hook.secret_headers.Authorization",
        ] {
            let bad = issue(&error, key);
            assert!(
                bad.message.contains("looks like a secret"),
                "{key}: {}",
                bad.message
            );
            assert!(
                matches!(&bad.origin, Origin::File(_)),
                "{key}: {:?}",
                bad.origin
            );
        }
        let team = issue(&error, "exporters.hook.secret_headers.X-Team");
        assert!(
            team.message
                .contains("not the name of an environment variable"),
            "{}",
            team.message
        );
        assert_eq!(error.issues.len(), 3, "{text}");
        for secret in ["Zx81kQ", "q8Zr3LmT0vXy7BnKa2WcPe5D", "TEAM-TOKEN"] {
            assert!(!text.contains(secret), "{text}");
        }
        Ok(())
    });
}

#[test]
fn secret_variables_not_set_are_reported_by_name() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "a.toml",
            r#"
            [provider]
            type = "openai"
            model = "gpt-4o"
            api_key_env = "CONFIG_TEST_MISSING_KEY"

            [exporters.hook]
            type = "webhook"
            url = "https://collector.example.com/traces"
            [exporters.hook.secret_headers]
            Authorization = "CONFIG_TEST_HOOK_AUTH"
            X-Other = "CONFIG_TEST_PRESENT"
            "#,
        )?;
        jail.set_env("CONFIG_TEST_PRESENT", "s3cr3t-value");
        let config = load("a.toml").unwrap();

        let error = config
            .check_environment(Some(std::path::Path::new("a.toml")))
            .unwrap_err();

        let text = error.to_string();
        assert_eq!(
            issue(&error, "provider.api_key_env").message,
            "environment variable CONFIG_TEST_MISSING_KEY is not set"
        );
        assert_eq!(
            issue(&error, "exporters.hook.secret_headers.Authorization").message,
            "environment variable CONFIG_TEST_HOOK_AUTH is not set"
        );
        assert_eq!(error.issues.len(), 2, "{text}");
        assert!(
            text.starts_with("invalid configuration a.toml: 2 problems"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t-value"), "{text}");

        jail.set_env("CONFIG_TEST_MISSING_KEY", "k");
        jail.set_env("CONFIG_TEST_HOOK_AUTH", "a");
        assert_eq!(config.check_environment(None), Ok(()));
        Ok(())
    });
}
