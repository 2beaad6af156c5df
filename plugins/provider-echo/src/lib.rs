//! An llmtrace provider plugin: a deterministic echo, answering `"Plugin echo: {prompt}"`.
//!
//! ```toml
//! [provider]
//! type = "plugin"
//! path = "target/debug/libllmtrace_echo_provider.so"
//! [provider.options]
//! model = "echo-plugin-1"   # optional; reported in responses and traces
//! ```
//!
//! Usage is estimated at about four characters per token (at least one per text), counting
//! the system prompt, the history and the prompt as input. Offline, no key, same answer every
//! time: the plugin counterpart of llmtrace's built-in `echo` provider.

use llmtrace_plugin_abi::{GenerateRequest, GenerateResponse, PluginError, ProviderPlugin, Usage};
use serde_json::Value;

// Instances are immutable, so the host may call one from many threads at once.
llmtrace_plugin_abi::export_provider!(EchoProvider, thread_safe);

/// The model reported when the options name none.
const DEFAULT_MODEL: &str = "echo-plugin-1";

/// Answers every prompt with `Plugin echo: {prompt}`.
struct EchoProvider {
    model: String,
}

impl ProviderPlugin for EchoProvider {
    fn create(options: Value) -> Result<Self, PluginError> {
        let model = match options.get("model") {
            None | Some(Value::Null) => DEFAULT_MODEL.to_owned(),
            Some(Value::String(model)) => model.clone(),
            Some(other) => {
                return Err(PluginError::invalid_request(format!(
                    "option \"model\" must be a string, not {other}"
                )));
            }
        };
        Ok(EchoProvider { model })
    }

    fn generate(&self, request: GenerateRequest) -> Result<GenerateResponse, PluginError> {
        let prompt_tokens = estimate_tokens(request.system_prompt.as_deref().unwrap_or(""))
            + request
                .messages
                .iter()
                .map(|m| estimate_tokens(&m.content))
                .sum::<u64>()
            + estimate_tokens(&request.prompt);
        let mut response = GenerateResponse::new(format!("Plugin echo: {}", request.prompt));
        response.usage = Some(Usage::new(
            prompt_tokens,
            estimate_tokens(&response.content),
        ));
        response.finish_reason = Some("stop".to_owned());
        response.model = Some(self.model.clone());
        Ok(response)
    }
}

/// About four characters per token; at least one.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_with_the_prompt_and_estimated_usage() {
        let echo = EchoProvider::create(json!({"model": "m-1"})).unwrap();
        let mut request = GenerateRequest::new("hello world!");
        request.system_prompt = Some("be brief".to_owned());
        let response = echo.generate(request).unwrap();
        assert_eq!(response.content, "Plugin echo: hello world!");
        assert_eq!(response.model.as_deref(), Some("m-1"));
        let usage = response.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (5, 7));
        assert_eq!(usage.total_tokens, 12);
    }

    #[test]
    fn the_model_defaults_and_must_be_a_string() {
        assert_eq!(
            EchoProvider::create(Value::Null).unwrap().model,
            DEFAULT_MODEL
        );
        let error = EchoProvider::create(json!({"model": 3})).err().unwrap();
        assert!(error.message.contains("must be a string"), "{error}");
    }
}
