//! The core: tracing, sessions, the store, export and summary, concurrency; the HTTP
//! providers against loopback servers speaking their wire formats (`providers`); and the
//! proxy end to end (`proxy`).
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
mod providers;
mod proxy;
mod read;
mod read_fuzz;
mod redaction;
mod session_tracing;
mod streaming;
#[path = "../support/mod.rs"]
mod support;
mod trace_service;
