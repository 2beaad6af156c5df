//! The `llmtrace` binary, run for real on real files.

mod demo;
