//! The SQLite store and the trace viewer: the exporter writing real files, filters, retention,
//! the JSON API and pages over HTTP on 127.0.0.1, the `import` and `ui` commands, and (ignored,
//! run by `tests/browser/run.sh`) a real headless Chromium.

mod api;
mod browser;
mod cli;
#[cfg(unix)] // CPU time through rustix
mod ladder;
mod pages;
#[cfg(unix)] // CPU time through rustix
mod perf;
mod scores;
mod store;
mod support;
mod workload;
