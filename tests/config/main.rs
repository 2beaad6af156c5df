//! Configuration files: precedence, every error class, the shipped examples, and stacks built
//! from a file alone.
//!
//! Every test that reads the environment runs inside `figment::Jail`, which serializes them and
//! restores the environment afterwards.

// `Jail::expect_with` closures must return figment's own (large) error type.
#![allow(clippy::result_large_err)]

mod bounds;
mod build;
mod checks;
mod durations;
mod errors;
mod eviction;
mod files;
mod fuzz;
mod layers;
mod precedence;
mod prices;
mod redact;
mod registry;
mod scale;
mod values;

use std::path::Path;

use llmtrace::config::{Config, ConfigError};

/// Loads `path` (inside a jail).
fn load(path: &str) -> Result<Config, ConfigError> {
    Config::load(Some(Path::new(path)))
}

/// The single issue about `key`, or a panic listing them all.
fn issue<'e>(error: &'e ConfigError, key: &str) -> &'e llmtrace::config::ConfigIssue {
    error
        .issues
        .iter()
        .find(|issue| issue.key == key)
        .unwrap_or_else(|| panic!("no issue for {key}:\n{error}"))
}
