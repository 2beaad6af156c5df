//! `llmtrace plugin check`, run for real.

use std::process::{Command, Output};

use super::support::{CSV_EXPORTER, plugin};

fn check(path: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmtrace"))
        .args(["plugin", "check"])
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn plugin_check_describes_a_loadable_plugin() {
    let output = check(plugin(CSV_EXPORTER));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "plugin          llmtrace-csv-exporter",
        "kind            exporter",
        "plugin version  0.1.0",
        "abi version     1.0",
        "api version     0.1.0",
        "thread-safe     no",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
}

#[test]
fn plugin_check_says_exactly_why_a_library_is_not_loadable() {
    let path = plugin("test_abi_major");
    let output = check(path);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let path = std::fs::canonicalize(path).unwrap();
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("incompatible ABI major version: found 2, expected 1"),
        "{stderr}"
    );

    let output = check("no/such/libplugin.so".as_ref());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert!(
        stderr.contains("plugin library no/such/libplugin.so does not exist"),
        "{stderr}"
    );
}
