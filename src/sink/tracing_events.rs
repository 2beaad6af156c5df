use std::sync::Arc;

use super::RecordSink;
use crate::TraceRecord;

/// A sink that emits one [`tracing`] event per generation, for applications whose logs or
/// tracing pipeline (`tracing-subscriber`, `tracing-opentelemetry`, ...) should see them.
///
/// Not installed unless added ([`ClientBuilder::sink`](crate::ClientBuilder::sink)). Events
/// have target `llmtrace`; a success is an `INFO` event, a failure a `WARN` event, with these
/// fields (each present only when the record has it):
///
/// | field | value |
/// |---|---|
/// | `trace_id` | the record's UUID |
/// | `provider`, `model` | who answered |
/// | `session_id` | the session, for calls made in one |
/// | `input_tokens`, `output_tokens`, `total_tokens` | token usage |
/// | `duration_ms` | how long the call took |
/// | `time_to_first_token_ms` | streams: until the first chunk |
/// | `finish_reason` | why generation stopped |
/// | `error_kind`, `error_message`, `error_status` | failures: the error kind, message and HTTP status |
/// | `system_prompt`, `prompt`, `completion` | only with [`content(true)`](Self::content) |
///
/// Recording is cheap: the fields are borrowed from the record, and nothing is formatted
/// unless a subscriber is interested in the event.
///
/// ```
/// use llmtrace::Client;
/// use llmtrace::sink::TracingEvents;
///
/// let client = Client::builder().sink(TracingEvents::new()).build();
/// # let _ = client;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TracingEvents {
    content: bool,
}

impl TracingEvents {
    /// Events without prompts and completions.
    pub const fn new() -> Self {
        Self { content: false }
    }

    /// Also records `system_prompt`, `prompt` and `completion`. Defaults to `false`: they may
    /// be sensitive and large.
    pub const fn content(mut self, content: bool) -> Self {
        self.content = content;
        self
    }
}

impl RecordSink for TracingEvents {
    fn record(&self, record: &Arc<TraceRecord>) {
        let response = record.response.as_ref();
        let usage = response.and_then(|r| r.usage);
        let input_tokens = usage.map(|u| u.prompt_tokens);
        let output_tokens = usage.map(|u| u.completion_tokens);
        let total_tokens = usage.map(|u| u.total_tokens);
        let time_to_first_token_ms = response.and_then(|r| r.time_to_first_token_ms);
        let finish_reason = response.and_then(|r| r.finish_reason.as_deref());
        let completion = response.map(|r| r.content.as_str());
        let system_prompt = record.system_prompt.as_deref();
        // One call site per level and content choice: tracing needs both at compile time.
        match (&record.error, self.content) {
            (None, false) => tracing::info!(
                target: "llmtrace",
                trace_id = %record.trace_id,
                provider = record.provider.as_str(),
                model = record.model.as_str(),
                session_id = record.session_id(),
                input_tokens,
                output_tokens,
                total_tokens,
                duration_ms = record.duration_ms(),
                time_to_first_token_ms,
                finish_reason,
                "Generation traced."
            ),
            (None, true) => tracing::info!(
                target: "llmtrace",
                trace_id = %record.trace_id,
                provider = record.provider.as_str(),
                model = record.model.as_str(),
                session_id = record.session_id(),
                input_tokens,
                output_tokens,
                total_tokens,
                duration_ms = record.duration_ms(),
                time_to_first_token_ms,
                finish_reason,
                system_prompt,
                prompt = record.prompt.as_str(),
                completion,
                "Generation traced."
            ),
            (Some(error), false) => tracing::warn!(
                target: "llmtrace",
                trace_id = %record.trace_id,
                provider = record.provider.as_str(),
                model = record.model.as_str(),
                session_id = record.session_id(),
                duration_ms = record.duration_ms(),
                error_kind = error.kind.as_str(),
                error_message = error.message.as_str(),
                error_status = error.status,
                "Generation failed."
            ),
            (Some(error), true) => tracing::warn!(
                target: "llmtrace",
                trace_id = %record.trace_id,
                provider = record.provider.as_str(),
                model = record.model.as_str(),
                session_id = record.session_id(),
                duration_ms = record.duration_ms(),
                error_kind = error.kind.as_str(),
                error_message = error.message.as_str(),
                error_status = error.status,
                system_prompt,
                prompt = record.prompt.as_str(),
                completion,
                "Generation failed."
            ),
        }
    }
}
