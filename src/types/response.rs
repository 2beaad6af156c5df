use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Metadata, ResponseStream, ToolCall};
use crate::ProviderError;

/// Token counts of one generation, as the provider reported them.
///
/// A response or record without usage (`None`) means the provider sent no counts (a stream
/// that ended without its usage event, say): counts are never made up as zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the input (prompt, system prompt, history, tools), cached ones included.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Their sum, as the provider reports it.
    pub total_tokens: u64,
    /// Of `prompt_tokens`, those read from the provider's prompt cache (OpenAI
    /// `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`), billed at
    /// a lower price; absent when the provider did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_prompt_tokens: Option<u64>,
    /// Of `prompt_tokens`, those written to the prompt cache (Anthropic
    /// `cache_creation_input_tokens`), billed at a higher price; absent when not reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
}

impl Usage {
    /// Usage with `total_tokens` = `prompt_tokens + completion_tokens`, saturating at
    /// `u64::MAX` (counts come from providers and files, and must not wrap or panic).
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            cached_prompt_tokens: None,
            cache_creation_tokens: None,
        }
    }
}

/// A complete answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    /// The generated text.
    pub content: String,
    /// Tools the model asked to call.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped, in the provider's words (`stop`, `length`, `tool_calls`, ...).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token counts, when the provider reports them.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// The model that answered, as the provider reports it.
    #[serde(default)]
    pub model: Option<String>,
    /// The provider's id for this answer (OpenAI `chatcmpl-...`, Anthropic `msg_...`), when it
    /// sends one. Not the trace id: see [`trace_id`](Self::trace_id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The provider's response body, verbatim. Providers fill it only when asked to
    /// (`verbatim = true`), because it doubles the memory a trace takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_response: Option<Value>,
    /// Response metadata; the trace layer adds `trace_id` here.
    #[serde(default)]
    pub metadata: Metadata,
}

impl GenerateResponse {
    /// A response carrying `content`.
    pub fn new(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }

    /// The id of the trace recording this generation, when it was traced.
    pub fn trace_id(&self) -> Option<Uuid> {
        trace_id_in(&self.metadata)
    }
}

pub(crate) fn trace_id_in(metadata: &Metadata) -> Option<Uuid> {
    metadata.get("trace_id")?.as_str()?.parse().ok()
}

/// What a provider service returns: a complete answer, or a stream of chunks.
///
/// Providers answer with [`Generation::Stream`] when [`GenerateRequest::stream`] is set and
/// they can stream; callers that want the whole answer either way use
/// [`into_response`](Self::into_response).
///
/// [`GenerateRequest::stream`]: crate::GenerateRequest::stream
// One value per call, moved once and never stored in bulk: boxing the answer would cost an
// allocation per call and change the public variant for no memory saved.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Generation {
    /// The whole answer at once.
    Complete(GenerateResponse),
    /// The answer as it is generated.
    Stream(ResponseStream),
}

impl Generation {
    /// The complete answer, reading a stream to its end if need be.
    ///
    /// # Errors
    /// The error that broke the stream.
    pub async fn into_response(self) -> Result<GenerateResponse, ProviderError> {
        match self {
            Generation::Complete(response) => Ok(response),
            Generation::Stream(stream) => stream.collect_response().await,
        }
    }

    /// A stream of the answer; a complete answer becomes a one-chunk stream.
    pub fn into_stream(self) -> ResponseStream {
        match self {
            Generation::Complete(response) => ResponseStream::from_response(response),
            Generation::Stream(stream) => stream,
        }
    }
}
