//! Every check that needs no I/O runs when the file is read (what `check-config` does), with
//! its key and origin; what fails when building keeps its key, origin and file too.

use std::path::{Path, PathBuf};

use figment::Jail;
use llmtrace::config::{Config, Origin};

use crate::{issue, load};

#[test]
fn bad_headers_urls_and_variable_names_are_reported_when_read() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "app.toml",
            r#"
            [exporters.hook]
            type = "webhook"
            url = "http//127.0.0.1:9/in"
            [exporters.hook.headers]
            "X Team" = "search"
            X-Note = "two\nlines"
            [exporters.hook.secret_headers]
            Authorization = "WEBHOOK-TOKEN"
            "Bad:Name" = "WEBHOOK_TOKEN"

            [exporters.spans]
            type = "otlp"
            [exporters.spans.headers]
            "dd trace" = "x"
            "#,
        )?;
        jail.set_env("LLMTRACE_EXPORTERS__SPANS__ENDPOINT", "ftp://collector");

        let error = load("app.toml").unwrap_err();

        let in_file = |key: &str, says: &str| {
            let found = issue(&error, key);
            assert!(found.message.contains(says), "{key}: {error}");
            assert_eq!(
                found.origin,
                Origin::File(Path::new("app.toml").into()),
                "{key}"
            );
        };
        in_file("exporters.hook.url", "expected an http or https URL");
        in_file(
            "exporters.hook.headers.\"X Team\"",
            "not a valid HTTP header name",
        );
        in_file(
            "exporters.hook.headers.X-Note",
            "not a valid HTTP header value",
        );
        in_file(
            "exporters.hook.secret_headers.Authorization",
            "is not the name of an environment variable",
        );
        in_file(
            "exporters.hook.secret_headers.\"Bad:Name\"",
            "not a valid HTTP header name",
        );
        in_file(
            "exporters.spans.headers.\"dd trace\"",
            "not a valid HTTP header name",
        );
        let endpoint = issue(&error, "exporters.spans.endpoint");
        assert_eq!(
            endpoint.origin,
            Origin::Env("LLMTRACE_EXPORTERS__SPANS__ENDPOINT".into())
        );
        assert_eq!(error.issues.len(), 7, "{error}");
        assert!(!error.to_string().contains("two\nlines"), "{error}");
        Ok(())
    });
}

#[test]
fn an_empty_model_is_reported_when_read() {
    let error = Config::from_toml_str("[provider]\ntype = \"openai\"\nmodel = \" \"").unwrap_err();
    assert_eq!(issue(&error, "provider.model").message, "must not be empty");
}

#[test]
fn build_errors_keep_key_origin_and_file() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "app.toml",
            r#"
            [provider]
            type = "plugin"
            path = "no-such-plugin.so"

            [exporters.hook]
            type = "webhook"
            url = "http://127.0.0.1:9/"
            [exporters.hook.secret_headers]
            Authorization = "LLMTRACE_TEST_TOKEN_NOT_SET"
            "#,
        )?;
        jail.set_env("LLMTRACE_PROVIDER__PATH", "env-plugin.so");

        let error = load("app.toml").unwrap().build().unwrap_err();

        let file = Origin::File(PathBuf::from("app.toml"));
        assert_eq!(
            error.file.as_deref(),
            Some(Path::new("app.toml")),
            "{error}"
        );
        let plugin = issue(&error, "provider.path");
        assert_eq!(
            plugin.origin,
            Origin::Env("LLMTRACE_PROVIDER__PATH".into()),
            "{error}"
        );
        let header = issue(&error, "exporters.hook.secret_headers.Authorization");
        assert_eq!(header.origin, file, "{error}");
        assert!(
            header
                .message
                .contains("LLMTRACE_TEST_TOKEN_NOT_SET is not set")
        );
        let text = error.to_string();
        assert!(
            text.starts_with("invalid configuration app.toml: 2 problems"),
            "{text}"
        );
        assert!(
            text.contains("exporters.hook.secret_headers.Authorization: environment variable LLMTRACE_TEST_TOKEN_NOT_SET is not set (in app.toml)"),
            "{text}"
        );
        Ok(())
    });
}
