use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::json;
use tower::Service;

use super::{Provider, ProviderFuture, ProviderInfo};
use crate::{
    GenerateRequest, GenerateResponse, Generation, ProviderError, ResponseStream, StreamChunk,
    ToolCall, Usage,
};

/// A deterministic, offline provider: answers `"Echo: {prompt}"`.
///
/// It is the embedded default for demos and tests: no network, no key, same answer every
/// time. It still behaves like a real model where tracing cares:
///
/// - usage counts are estimated from the text (about 4 characters per token, at least 1);
/// - when the request offers tools and the prompt names one, it answers with a call to that
///   tool (arguments `{"prompt": ...}`, finish reason `tool_calls`) instead of text;
/// - with [`GenerateRequest::stream`] set it streams the answer word by word, usage on the last
///   chunk;
/// - [`latency`](Self::latency) delays the answer (the first chunk, when streaming) to make
///   timings visible.
///
/// ```
/// use llmtrace::provider::EchoProvider;
/// use llmtrace::GenerateRequest;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), llmtrace::ProviderError> {
/// let echo = EchoProvider::new();
/// let response = echo.oneshot(GenerateRequest::new("hi")).await?.into_response().await?;
/// assert_eq!(response.content, "Echo: hi");
/// assert_eq!(response.finish_reason.as_deref(), Some("stop"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct EchoProvider {
    model: Arc<str>,
    latency: Duration,
}

impl EchoProvider {
    /// The model name used when none is set.
    pub const DEFAULT_MODEL: &'static str = "echo-1";

    /// An echo provider with model [`DEFAULT_MODEL`](Self::DEFAULT_MODEL) and no latency.
    pub fn new() -> Self {
        Self {
            model: Self::DEFAULT_MODEL.into(),
            latency: Duration::ZERO,
        }
    }

    /// Sets the model name reported in responses and traces.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into().into();
        self
    }

    /// Waits this long before answering. Defaults to zero.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// This provider's name (`echo`) and model.
    pub fn info(&self) -> ProviderInfo {
        ProviderInfo::new("echo", &*self.model)
    }

    fn answer(&self, request: &GenerateRequest) -> GenerateResponse {
        let prompt_tokens = estimate_tokens(request.system_prompt.as_deref().unwrap_or(""))
            + request
                .messages
                .iter()
                .map(|m| estimate_tokens(&m.content))
                .sum::<u64>()
            + estimate_tokens(&request.prompt);
        let called_tool = request
            .tools
            .iter()
            .find(|tool| request.prompt.contains(tool.name.as_str()));
        let (content, tool_calls, finish_reason) = match called_tool {
            Some(tool) => {
                let mut call = ToolCall::new(&tool.name, json!({ "prompt": request.prompt }));
                call.id = Some(format!("call_{}", tool.name));
                (String::new(), vec![call], "tool_calls")
            }
            None => (format!("Echo: {}", request.prompt), Vec::new(), "stop"),
        };
        let completion_tokens = estimate_tokens(&content) + 8 * tool_calls.len() as u64;
        GenerateResponse {
            content,
            tool_calls,
            finish_reason: Some(finish_reason.to_owned()),
            usage: Some(Usage::new(prompt_tokens, completion_tokens)),
            model: Some(self.model.to_string()),
            ..GenerateResponse::default()
        }
    }
}

impl Default for EchoProvider {
    fn default() -> Self {
        Self::new()
    }
}

/// About four characters per token, as tokenizers of English text average; at least one.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// Splits an answer into word-sized chunks; the last one carries the finish reason and usage.
fn into_chunks(response: GenerateResponse) -> Vec<StreamChunk> {
    let mut chunks: Vec<StreamChunk> = response
        .content
        .split_inclusive(' ')
        .map(StreamChunk::text)
        .collect();
    chunks.push(StreamChunk {
        tool_calls: response.tool_calls,
        finish_reason: response.finish_reason,
        usage: response.usage,
        model: response.model,
        ..StreamChunk::default()
    });
    chunks
}

impl Service<GenerateRequest> for EchoProvider {
    type Response = Generation;
    type Error = ProviderError;
    type Future = ProviderFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        let response = self.answer(&request);
        let latency = self.latency;
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            Ok(if request.stream {
                let chunks = into_chunks(response).into_iter().map(Ok);
                Generation::Stream(ResponseStream::new(futures_util::stream::iter(chunks)))
            } else {
                Generation::Complete(response)
            })
        })
    }
}

impl Provider for EchoProvider {
    fn info(&self) -> ProviderInfo {
        EchoProvider::info(self)
    }
}
