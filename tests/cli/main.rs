//! The `llmtrace` binary, run for real on real files.

mod demo;
mod files;
mod reading;
mod run;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `llmtrace args...` in `dir`.
fn llmtrace(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llmtrace"));
    // The caller's own LLMTRACE_* settings must not leak into the runs under test.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LLMTRACE_")) {
        command.env_remove(name);
    }
    command.args(args).current_dir(dir).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
