//! Every way a library can fail to load gives its own error, naming the library.

use llmtrace::plugin::{
    PluginError, PluginExporter, PluginKind, PluginProvider, host_api_version, inspect,
};
use serde_json::json;

use super::support::{
    CSV_EXPORTER, ECHO_PROVIDER, TEST_EXPORTER, TEST_PROVIDER, assert_names_path, plugin,
};

#[test]
fn the_example_plugins_declare_who_they_are() {
    let csv = inspect(plugin(CSV_EXPORTER)).unwrap();
    assert_eq!(csv.name, "llmtrace-csv-exporter");
    assert_eq!(csv.kind, PluginKind::Exporter);
    assert_eq!(csv.plugin_version, "0.1.0");
    assert_eq!(csv.abi_version.to_string(), "1.0");
    assert_eq!(csv.api_version.as_deref(), Some(host_api_version()));
    assert!(csv.path.is_absolute());

    let echo = inspect(plugin(ECHO_PROVIDER)).unwrap();
    assert_eq!(echo.name, "llmtrace-echo-provider");
    assert_eq!(echo.kind, PluginKind::Provider);
    assert!(echo.thread_safe);
    assert!(!inspect(plugin(TEST_PROVIDER)).unwrap().thread_safe);
}

#[test]
fn a_missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libnothing.so");
    let error = PluginExporter::load(&path, json!({})).unwrap_err();
    assert!(matches!(error, PluginError::NotFound { .. }), "{error:?}");
    assert_names_path(&error, &path);
    assert!(error.to_string().ends_with("does not exist"), "{error}");
}

#[test]
fn a_directory_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let error = PluginExporter::load(dir.path(), json!({})).unwrap_err();
    assert!(matches!(error, PluginError::NotAFile { .. }), "{error:?}");
    assert_names_path(&error, dir.path());
}

#[test]
fn a_text_file_named_like_a_library_is_not_a_shared_library() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libfake.so");
    std::fs::write(&path, "not a library\n").unwrap();
    let error = PluginProvider::load(&path, json!({})).unwrap_err();
    assert!(
        matches!(error, PluginError::NotALibrary { .. }),
        "{error:?}"
    );
    assert_names_path(&error, &path);
    assert!(
        std::error::Error::source(&error).is_some(),
        "the loader's reason is kept"
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_not_a_plugin() {
    let path = plugin("test_no_entry");
    let error = inspect(path).unwrap_err();
    assert!(
        matches!(error, PluginError::MissingEntry { .. }),
        "{error:?}"
    );
    assert_names_path(&error, path);
    assert!(
        error.to_string().contains("llmtrace_plugin_entry"),
        "{error}"
    );
}

#[test]
fn an_entry_returning_null_is_not_a_plugin() {
    let path = plugin("test_null_entry");
    let error = inspect(path).unwrap_err();
    assert!(matches!(error, PluginError::BadEntry { .. }), "{error:?}");
    assert_names_path(&error, path);
    assert!(error.to_string().contains("null pointer"), "{error}");
}

#[test]
fn a_wrong_magic_number_is_not_a_plugin() {
    let path = plugin("test_wrong_magic");
    let error = PluginProvider::load(path, json!({})).unwrap_err();
    assert!(matches!(error, PluginError::WrongMagic { .. }), "{error:?}");
    assert_names_path(&error, path);
    assert!(error.to_string().contains("wrong magic number"), "{error}");
}

#[test]
fn another_abi_major_version_is_incompatible() {
    let path = plugin("test_abi_major");
    let error = PluginProvider::load(path, json!({})).unwrap_err();
    let expected = llmtrace_plugin_abi::ABI_MAJOR;
    assert!(
        matches!(error, PluginError::IncompatibleAbi { found, expected: e, .. }
            if found == expected + 1 && e == expected),
        "{error:?}"
    );
    assert_names_path(&error, path);
    assert!(
        error
            .to_string()
            .contains(&format!("found {}, expected {expected}", expected + 1)),
        "{error}"
    );
}

#[test]
fn versions_are_negotiated_by_abi_major_alone_whatever_api_version_a_plugin_claims() {
    // Built "against" llmtrace-plugin-abi 99.0.0: a version this host has never heard of.
    let path = plugin("test_api_version");
    let provider = PluginProvider::load(path, json!({})).unwrap();
    assert_eq!(provider.plugin().api_version.as_deref(), Some("99.0.0"));
}

#[test]
fn a_declaration_smaller_than_the_abi_requires_is_refused() {
    let path = plugin("test_small_decl");
    let error = PluginProvider::load(path, json!({})).unwrap_err();
    assert!(
        matches!(error, PluginError::DeclTooSmall { found: 8, .. }),
        "{error:?}"
    );
    assert_names_path(&error, path);
}

#[test]
fn a_name_that_is_not_utf8_is_refused() {
    let path = plugin("test_invalid_utf8");
    let error = PluginProvider::load(path, json!({})).unwrap_err();
    assert!(
        matches!(error, PluginError::InvalidUtf8 { field: "name", .. }),
        "{error:?}"
    );
    assert_names_path(&error, path);
}

#[test]
fn a_plugin_of_the_other_kind_is_the_wrong_kind() {
    let echo = plugin(ECHO_PROVIDER);
    let error = PluginExporter::load(echo, json!({})).unwrap_err();
    assert!(
        matches!(
            error,
            PluginError::WrongKind {
                found: PluginKind::Provider,
                expected: PluginKind::Exporter,
                ..
            }
        ),
        "{error:?}"
    );
    assert_names_path(&error, echo);
    assert!(
        error
            .to_string()
            .contains("found provider, expected exporter"),
        "{error}"
    );

    let csv = plugin(CSV_EXPORTER);
    let error = PluginProvider::load(csv, json!({})).unwrap_err();
    assert!(matches!(error, PluginError::WrongKind { .. }), "{error:?}");
    assert_names_path(&error, csv);
}

#[test]
fn a_plugin_refusing_its_options_fails_to_load_with_its_message() {
    let path = plugin(TEST_EXPORTER);
    let error = PluginExporter::load(path, json!({"fail_create": "no such bucket"})).unwrap_err();
    assert!(
        matches!(&error, PluginError::Plugin { kind, message, retryable: false, .. }
            if kind == "invalid_request" && message == "no such bucket"),
        "{error:?}"
    );
    assert_names_path(&error, path);

    let csv = plugin(CSV_EXPORTER);
    let error = PluginExporter::load(csv, json!({"pth": "x.csv"})).unwrap_err();
    assert!(
        error.to_string().contains("unknown option \"pth\""),
        "{error}"
    );
}
