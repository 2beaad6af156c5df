//! Attribute names from the OpenTelemetry semantic conventions, and our own.
//!
//! The GenAI names follow the "latest experimental" GenAI conventions (the
//! `gen_ai.client.inference` span of the `semantic-conventions-genai` repository, successor of
//! `docs/gen-ai/gen-ai-spans.md` in `semantic-conventions` 1.37+), not the 1.36-and-earlier
//! names: `gen_ai.provider.name` (not the deprecated `gen_ai.system`), and the content as
//! `gen_ai.system_instructions` / `gen_ai.input.messages` / `gen_ai.output.messages` (not the
//! removed `gen_ai.prompt` / `gen_ai.completion`). They are written out here rather than taken
//! from `opentelemetry-semantic-conventions`, where every GenAI constant is deprecated (the
//! conventions moved repository) and gated behind `semconv_experimental`.

/// Span names and `gen_ai.operation.name`: a chat completion.
pub(super) const OPERATION_CHAT: &str = "chat";

pub(super) const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
pub(super) const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
pub(super) const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
pub(super) const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
pub(super) const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
pub(super) const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
pub(super) const GEN_AI_REQUEST_TOP_P: &str = "gen_ai.request.top_p";
pub(super) const GEN_AI_REQUEST_TOP_K: &str = "gen_ai.request.top_k";
pub(super) const GEN_AI_REQUEST_SEED: &str = "gen_ai.request.seed";
pub(super) const GEN_AI_REQUEST_STOP_SEQUENCES: &str = "gen_ai.request.stop_sequences";
pub(super) const GEN_AI_REQUEST_STREAM: &str = "gen_ai.request.stream";
pub(super) const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
pub(super) const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
pub(super) const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
pub(super) const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
pub(super) const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
pub(super) const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Of the input tokens (which include them, as `prompt_tokens` does), those read from the
/// provider's cache, and those written to it.
pub(super) const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_read.input_tokens";
pub(super) const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_creation.input_tokens";

// Cost in US dollars. The GenAI conventions define no cost attribute, so the record's
// `cost_usd` goes out under the names the backends read: `gen_ai.usage.cost`, which Langfuse's
// OTLP endpoint maps to a generation's cost (its dashboards then show ours instead of its own
// estimate), and OpenInference's `llm.cost.total`, the attribute Arize Phoenix reads.
pub(super) const GEN_AI_USAGE_COST: &str = "gen_ai.usage.cost";
pub(super) const LLM_COST_TOTAL: &str = "llm.cost.total";

// Opt-in content, JSON strings in the structure of the conventions' JSON schemas.
pub(super) const GEN_AI_SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
pub(super) const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
pub(super) const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
pub(super) const GEN_AI_TOOL_DEFINITIONS: &str = "gen_ai.tool.definitions";

/// `gen_ai.response.finish_reasons` entry for a generation that ended abnormally.
pub(super) const FINISH_REASON_ERROR: &str = "error";

// General conventions.
pub(super) const ERROR_TYPE: &str = "error.type";
pub(super) const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
pub(super) const SESSION_ID: &str = "session.id";
pub(super) const SERVER_ADDRESS: &str = "server.address";
pub(super) const SERVER_PORT: &str = "server.port";
pub(super) const SERVICE_NAME: &str = "service.name";
/// The project an OpenInference backend (Arize Phoenix) files a span under.
pub(super) const OPENINFERENCE_PROJECT_NAME: &str = "openinference.project.name";

// Ours: what the conventions have no name for.
pub(super) const LLMTRACE_TRACE_ID: &str = "llmtrace.trace_id";
pub(super) const LLMTRACE_ERROR_RETRYABLE: &str = "llmtrace.error.retryable";
/// Prefix of one attribute per metadata entry: `llmtrace.metadata.<key>`.
pub(super) const LLMTRACE_METADATA_PREFIX: &str = "llmtrace.metadata.";
