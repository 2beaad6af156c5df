use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Message, Metadata, Tool};

/// Sampling and length parameters. Only the ones that are set are sent and traced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Upper bound on generated tokens, as OpenAI-style APIs name it. Providers use it as the
    /// output limit when `max_output_tokens` is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Upper bound on generated tokens; wins over `max_tokens` when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Seed for reproducible sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Sequences that stop generation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Parameters this type has no field for (`tool_choice`, `n`, `metadata`...), which the
    /// HTTP providers add to the request body as written (a key the body
    /// already has keeps the body's value). `llmtrace proxy` puts here what its clients sent.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Parameters {
    /// The output-token limit to send: `max_output_tokens`, else `max_tokens`.
    pub fn output_limit(&self) -> Option<u32> {
        self.max_output_tokens.or(self.max_tokens)
    }

    /// True when no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One generation: the prompt and everything that shapes the answer.
///
/// Build it with the setters, which consume and return the request:
///
/// ```
/// use llmtrace::{GenerateRequest, Message};
///
/// let request = GenerateRequest::new("How are you?")
///     .system_prompt("You are a helpful assistant")
///     .messages([Message::user("Hello"), Message::assistant("Hi there!")])
///     .temperature(0.0)
///     .seed(42)
///     .metadata("user_id", "user_123");
/// assert_eq!(request.parameters.seed, Some(42));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// The user's prompt for this turn.
    pub prompt: String,
    /// Instructions for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Earlier turns of the conversation, oldest first, without the current prompt.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Sampling and length parameters.
    #[serde(default)]
    pub parameters: Parameters,
    /// Metadata recorded in the trace, never sent to the model. The trace layer moves it into
    /// the record, so services below the trace layer see it empty.
    #[serde(default)]
    pub metadata: Metadata,
    /// Ask the provider to stream the answer. [`Client::stream`](crate::Client::stream) sets it.
    #[serde(default)]
    pub stream: bool,
}

impl GenerateRequest {
    /// A request for `prompt` with nothing else set.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            ..Self::default()
        }
    }

    /// Sets the system prompt.
    pub fn system_prompt(mut self, system_prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(system_prompt.into());
        self
    }

    /// Sets the conversation history (earlier turns, oldest first).
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages = messages.into_iter().collect();
        self
    }

    /// Adds a tool the model may call.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.parameters.temperature = Some(temperature);
        self
    }

    /// Sets `max_tokens`.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.parameters.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `max_output_tokens`.
    pub fn max_output_tokens(mut self, max_output_tokens: u32) -> Self {
        self.parameters.max_output_tokens = Some(max_output_tokens);
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.parameters.seed = Some(seed);
        self
    }

    /// Sets `top_p`.
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.parameters.top_p = Some(top_p);
        self
    }

    /// Sets `top_k`.
    pub fn top_k(mut self, top_k: u32) -> Self {
        self.parameters.top_k = Some(top_k);
        self
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.parameters.stop.push(stop.into());
        self
    }

    /// Adds one metadata entry to the trace, replacing an earlier value of the same key.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Tags the trace with the workflow step (`step_type`; a session defaults it to `chat`).
    pub fn step_type(self, step_type: impl Into<String>) -> Self {
        self.metadata("step_type", step_type.into())
    }

    /// Tags the trace with the attempt number (`attempt_number`; a session defaults it to 1).
    pub fn attempt_number(self, attempt_number: u32) -> Self {
        self.metadata("attempt_number", attempt_number)
    }
}

impl From<&str> for GenerateRequest {
    fn from(prompt: &str) -> Self {
        Self::new(prompt)
    }
}

impl From<String> for GenerateRequest {
    fn from(prompt: String) -> Self {
        Self::new(prompt)
    }
}
