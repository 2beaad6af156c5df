//! The `llmtrace` binary, run for real on real files; and plugins, loaded for real
//! (`plugins`).

#[cfg(unix)]
mod crash;
mod demo;
mod eviction;
mod files;
mod layers;
mod plugins;
mod reading;
mod run;
#[cfg(unix)]
mod signals;
#[cfg(unix)]
mod stall;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `llmtrace args...` in `dir`.
fn llmtrace(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

/// `llmtrace args...` in `dir`, ready to run.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llmtrace"));
    // The caller's own LLMTRACE_* and RUST_LOG settings must not leak into the runs under test.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LLMTRACE_")) {
        command.env_remove(name);
    }
    command.env_remove("RUST_LOG");
    command.args(args).current_dir(dir);
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
