use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::response::trace_id_in;
use super::{GenerateResponse, Metadata, ToolCall, Usage};
use crate::ProviderError;

/// A piece of a streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamChunk {
    /// Text added by this chunk.
    #[serde(default)]
    pub content: String,
    /// Complete tool calls (providers assemble partial ones before yielding them).
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Set on the chunk that ends generation.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token counts, on the chunk where the provider reports them (usually the last).
    #[serde(default)]
    pub usage: Option<Usage>,
    /// The model that answers, when the provider says.
    #[serde(default)]
    pub model: Option<String>,
    /// The provider's id for the answer, when it says (providers put it on the first chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl StreamChunk {
    /// A chunk carrying only text.
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }
}

impl GenerateResponse {
    /// Folds a chunk into the answer assembled so far.
    pub(crate) fn absorb(&mut self, chunk: &StreamChunk) {
        self.content.push_str(&chunk.content);
        self.tool_calls.extend_from_slice(&chunk.tool_calls);
        if chunk.finish_reason.is_some() {
            self.finish_reason.clone_from(&chunk.finish_reason);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        if self.model.is_none() {
            self.model.clone_from(&chunk.model);
        }
        if self.id.is_none() {
            self.id.clone_from(&chunk.id);
        }
    }
}

pub(crate) type BoxChunkStream =
    Pin<Box<dyn Stream<Item = Result<StreamChunk, ProviderError>> + Send>>;

/// A streamed answer: chunks as the provider produces them.
///
/// It is a [`Stream`] of `Result<StreamChunk, ProviderError>`; a stream ends after its first
/// error. When the stream went through the trace layer, one trace is recorded when it ends,
/// breaks or is dropped.
pub struct ResponseStream {
    chunks: BoxChunkStream,
    metadata: Metadata,
}

impl ResponseStream {
    /// Wraps a stream of chunks.
    pub fn new(
        chunks: impl Stream<Item = Result<StreamChunk, ProviderError>> + Send + 'static,
    ) -> Self {
        Self {
            chunks: Box::pin(chunks),
            metadata: Metadata::new(),
        }
    }

    /// A one-chunk stream holding a complete answer.
    pub fn from_response(response: GenerateResponse) -> Self {
        let GenerateResponse {
            content,
            tool_calls,
            finish_reason,
            usage,
            model,
            id,
            metadata,
            raw_response: _,
        } = response;
        let chunk = StreamChunk {
            content,
            tool_calls,
            finish_reason,
            usage,
            model,
            id,
        };
        Self {
            metadata,
            ..Self::new(futures_util::stream::iter([Ok(chunk)]))
        }
    }

    /// Response metadata; the trace layer adds `trace_id` here before the first chunk.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable response metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The id of the trace that will record this stream, when it is traced.
    pub fn trace_id(&self) -> Option<Uuid> {
        trace_id_in(&self.metadata)
    }

    /// Replaces the chunk stream, keeping the metadata (used by layers that wrap streams).
    pub fn map_chunks<S>(self, wrap: impl FnOnce(BoxChunkStream) -> S) -> Self
    where
        S: Stream<Item = Result<StreamChunk, ProviderError>> + Send + 'static,
    {
        Self {
            chunks: Box::pin(wrap(self.chunks)),
            metadata: self.metadata,
        }
    }

    /// The next chunk, or `None` once the stream is over (after its end or its first error).
    ///
    /// The same as [`StreamExt::next`], without importing it.
    pub async fn next(&mut self) -> Option<Result<StreamChunk, ProviderError>> {
        self.chunks.next().await
    }

    /// Reads the stream to its end and assembles the complete answer.
    ///
    /// # Errors
    /// The first error the stream yields.
    pub async fn collect_response(mut self) -> Result<GenerateResponse, ProviderError> {
        let mut response = GenerateResponse {
            metadata: std::mem::take(&mut self.metadata),
            ..GenerateResponse::default()
        };
        while let Some(chunk) = self.chunks.next().await {
            response.absorb(&chunk?);
        }
        Ok(response)
    }
}

impl Stream for ResponseStream {
    type Item = Result<StreamChunk, ProviderError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseStream")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}
