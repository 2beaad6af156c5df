//! The core: tracing, sessions, the store, export and summary, concurrency.
//!
//! The reference's own test list (AbstractCore `tests/tracing/test_interaction_tracing.py`) is
//! mirrored test for test in `provider_tracing`, `session_tracing`, `export` and `content`;
//! the other modules cover what it leaves out.

mod concurrency;
mod content;
mod eviction;
mod export;
mod layers;
mod provider_tracing;
mod read;
mod read_fuzz;
mod redaction;
mod session_tracing;
mod streaming;
mod support;
