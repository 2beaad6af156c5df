//! Shared helpers: the plugin libraries (built once per run), and small clients around them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use llmtrace::exporter::ExporterOptions;
use llmtrace::plugin::PluginError;
use llmtrace::{Client, TraceRecord};
use serde_json::Value;

/// The example CSV exporter.
pub(crate) const CSV_EXPORTER: &str = "llmtrace_csv_exporter";
/// The example echo provider.
pub(crate) const ECHO_PROVIDER: &str = "llmtrace_echo_provider";
/// `llmtrace_test_plugins::TestExporter`.
pub(crate) const TEST_EXPORTER: &str = "test_exporter";
/// `llmtrace_test_plugins::TestProvider` (not thread-safe).
pub(crate) const TEST_PROVIDER: &str = "test_provider";

/// The path of the plugin library built from target `name` (a cdylib lib or example).
///
/// The first call builds every plugin crate with the cargo running the tests, into the same
/// target directory (so what `cargo test --workspace` already built is reused), and reads the
/// artifact paths from cargo's JSON messages.
pub(crate) fn plugin(name: &str) -> &'static Path {
    static LIBRARIES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let libraries = LIBRARIES.get_or_init(build_plugins);
    libraries
        .get(name)
        .unwrap_or_else(|| panic!("no plugin library named {name}; built: {libraries:?}"))
}

fn build_plugins() -> HashMap<String, PathBuf> {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "-p",
            "llmtrace-csv-exporter",
            "-p",
            "llmtrace-echo-provider",
            "-p",
            "llmtrace-test-plugins",
            "--lib",
            "--examples",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo can be run");
    assert!(output.status.success(), "building the plugins failed");
    let mut libraries = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        // `crate_types`, not `kind`: a cdylib example's kind is `example`.
        let is_cdylib = message["target"]["crate_types"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"));
        if message["reason"] != "compiler-artifact" || !is_cdylib {
            continue;
        }
        let library = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|file| file.ends_with(std::env::consts::DLL_SUFFIX));
        if let (Some(name), Some(library)) = (message["target"]["name"].as_str(), library) {
            libraries.insert(name.to_owned(), PathBuf::from(library));
        }
    }
    libraries
}

/// Export options delivering every record in a batch of its own, right away.
pub(crate) fn one_by_one() -> ExporterOptions {
    ExporterOptions::default().batch_size(1)
}

/// A trace record, as the client makes them.
pub(crate) async fn some_record() -> Arc<TraceRecord> {
    let client = Client::builder().build();
    let response = client.generate("a record").await.unwrap();
    client.get_trace(&response.trace_id().unwrap()).unwrap()
}

/// The lines of a file the test exporter writes trace ids to (none when it does not exist).
pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Asserts that `error`'s message names the library at `path`.
pub(crate) fn assert_names_path(error: &PluginError, path: &Path) {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} does not name {}",
        path.display()
    );
    assert_eq!(error.path(), path);
}

/// The [`PluginError`] behind an error, wherever it is in the source chain.
pub(crate) fn plugin_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a PluginError> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<PluginError>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// The example C exporter (`plugins/exporter-c`), compiled with the system C compiler (`cc`)
/// against the shipped header, once per run, warnings as errors.
pub(crate) fn c_exporter() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let library = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{}batch_file_exporter{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
        let output = Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .args(["-shared", "-fPIC", "-o"])
            .arg(&library)
            .arg("-I")
            .arg(root.join("plugins/abi"))
            .arg(root.join("plugins/exporter-c/batch_file_exporter.c"))
            .output()
            .expect("a C compiler (`cc`) is installed");
        assert!(
            output.status.success(),
            "compiling the C exporter failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        library
    })
}
