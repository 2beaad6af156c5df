//! Plugins, loaded for real: the example plugins, and test plugins that misbehave on purpose.
//!
//! The plugin crates are built by the tests themselves, once per run (see `support`).

mod c_plugin;
mod cli;
mod config;
mod exporter;
#[cfg(unix)]
mod isolation;
mod loading;
mod provider;
mod redaction;
mod schemas;
mod support;
