//! Complete, programmatic observability of every LLM interaction, as
//! [tower](https://docs.rs/tower) layers.
//!
//! Every generation request flows through a tower service stack. The trace layer records each
//! call — prompt, system prompt, history, tools, parameters, answer, tool calls, finish reason,
//! token usage, timing, errors — as one [`TraceRecord`], and hands it to record sinks: an
//! in-memory ring buffer you can query, session trace lists, exporters.
//!
//! # Quick start
//!
//! ```
//! use llmtrace::report::{ReportFormat, export_traces, summarize_traces};
//! use llmtrace::{Client, GenerateRequest, TraceQuery};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder().max_traces(100).build(); // the offline echo provider
//!
//! let response = client
//!     .generate(GenerateRequest::new("Write a function to add two numbers")
//!         .temperature(0.0)
//!         .metadata("user_id", "user_123"))
//!     .await?;
//!
//! let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
//! assert_eq!(trace.metadata["user_id"], "user_123");
//!
//! let traces = client.get_traces(TraceQuery::last(10));
//! let report = export_traces(&traces, ReportFormat::Markdown, None)?;
//! let summary = summarize_traces(&traces);
//! assert_eq!(summary.total_interactions, 1);
//! # let _ = report;
//! # Ok(())
//! # }
//! ```
//!
//! # The trace record
//!
//! Serialized (JSON, JSONL), a record has exactly these fields, which tools may rely on (fields
//! are added over time, never renamed; the optional ones are left out when absent):
//!
//! ```text
//! trace_id, timestamp (RFC 3339, +00:00), provider, model,
//! server_address, server_port (HTTP providers: host and port of the base URL),
//! stream (true only: the answer was asked for as a stream, even if the call failed),
//! system_prompt, prompt, messages[], tools[],
//! parameters { temperature, max_tokens, max_output_tokens, seed, top_p, top_k, stop (set ones only) },
//! response { content, raw_response (verbatim only), tool_calls[], finish_reason,
//!            usage { prompt_tokens, completion_tokens, total_tokens,
//!                    cached_prompt_tokens, cache_creation_tokens (when reported) }
//!                    -- absent when the provider reported no counts, generation_time_ms,
//!            time_to_first_token_ms (streams),
//!            id, model (the provider's answer id and serving model, when it sends them) }
//!                                                          -- null when the call failed before any answer
//! cost_usd (dollars, from the price table; absent when the model has no price or no usage)
//! error { kind, message, retryable, status (HTTP only), generation_time_ms }  -- failures only
//!   (a stream that broke or was dropped keeps its partial answer in `response`)
//! metadata { session_id, step_type, attempt_number, attempts (a retry inside the trace), ...custom }
//! redactions (how many pieces of text the redaction policy masked; absent when 0)
//! ```
//!
//! # Layers
//!
//! See [`layer`] for the request path (`SetSession -> InjectMetadata -> Trace -> provider`,
//! with tower's timeout, retry and limits where a [`LayerSpec`](layer::LayerSpec) list or a
//! configuration's `[[layers]]` puts them) and [`sink`] for the record path.

pub mod client;
pub mod config;
pub mod cost;
pub mod error;
pub mod exporter;
pub mod layer;
// The only module allowed `unsafe`: it loads and calls plugin libraries over a C ABI.
#[allow(unsafe_code)]
pub mod plugin;
pub mod provider;
pub mod proxy;
pub mod read;
pub mod redact;
pub mod report;
mod scrub;
pub mod session;
pub mod sink;
pub mod types;
pub mod ui;

/// The README's Rust snippets, compiled (and run, unless marked `no_run`) as doctests, so the
/// README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use client::{Client, ClientBuilder};
pub use error::{BoxError, ErrorKind, ProviderError};
pub use report::{ReportError, ReportFormat, export_traces, summarize_traces};
pub use scrub::{REDACTED, scrub_secrets};
pub use session::Session;
pub use sink::{TraceQuery, TraceStore};
pub use types::{
    GenerateRequest, GenerateResponse, Generation, Message, Metadata, Parameters, ResponseStream,
    Role, StreamChunk, Tool, ToolCall, TraceError, TraceRecord, TraceResponse, Usage,
};
/// The `uuid` crate, whose [`Uuid`] names traces ([`Client::get_trace`]).
pub use uuid::{self, Uuid};
