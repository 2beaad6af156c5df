//! Redaction: one policy, applied once to each finished record before any sink sees it.
//!
//! A [`RedactPolicy`] is given to the trace layer ([`TraceLayer::redact`] or
//! [`ClientBuilder::redact`], or `[redact]` in the configuration file). The layer masks the
//! record it has just built, then hands it to its sink: the ring buffer, sessions, every
//! exporter (files, webhook, OTLP, plugins) and the `tracing` events all get the masked record,
//! because none of them is given any other. Each replacement is a marker naming what was
//! removed (`[REDACTED:email]`), and the record's `redactions` field counts them.
//!
//! What a policy holds:
//! - built-in [`Detector`]s, enabled by name: `api_key`, `email`, `phone`, `card`
//!   (Luhn-checked), `ip` (IPv4 and IPv6);
//! - user [`Rule`]s: a regular expression and its replacement;
//! - whole-[`Field`] rules (drop `messages`, `system_prompt`, `tools`, `raw_response`) and
//!   metadata keys whose value is replaced by a hash of it.
//!
//! Text is masked wherever it lives in a record: prompt, system prompt, messages (and their
//! tool calls' arguments), tool definitions, response content, tool calls and raw body, error
//! message, metadata values (except `session_id`, which routes records to their session).
//! By default the provider receives the request as written; see
//! [`RedactPolicyBuilder::redact_requests`].
//!
//! ```
//! use llmtrace::redact::{Detector, RedactPolicy};
//!
//! let policy = RedactPolicy::builder()
//!     .detectors([Detector::Email, Detector::ApiKey])
//!     .build()
//!     .unwrap();
//! let (masked, count) = policy.redact_text("mail ana@example.com, key sk-abcdefghijklmnop1234");
//! assert_eq!(masked, "mail [REDACTED:email], key [REDACTED:api_key]");
//! assert_eq!(count, 2);
//! ```
//!
//! [`TraceLayer::redact`]: crate::layer::TraceLayer::redact
//! [`ClientBuilder::redact`]: crate::ClientBuilder::redact

mod detectors;
mod finder;
mod policy;
mod rules;

pub use detectors::{Detector, UnknownDetector};
pub use policy::{RedactPolicy, RedactPolicyBuilder};
pub use rules::{Field, Rule, RuleError};

/// The text that replaces what `name` found: `[REDACTED:name]`.
pub(crate) fn marker(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

#[cfg(test)]
mod tests;
