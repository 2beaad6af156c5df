use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use super::TraceableError;
use super::recorder::{Recorder, trace_response};
use crate::types::BoxChunkStream;
use crate::{GenerateResponse, ProviderError, StreamChunk, TraceError};

/// Passes chunks through to the caller while assembling the answer for the record.
pub(super) struct TracedStream {
    chunks: BoxChunkStream,
    recorder: Recorder,
    assembled: GenerateResponse,
    first_chunk_ms: Option<f64>,
    finished: bool,
}

impl TracedStream {
    pub(super) fn new(chunks: BoxChunkStream, recorder: Recorder) -> Self {
        Self {
            chunks,
            recorder,
            assembled: GenerateResponse::default(),
            first_chunk_ms: None,
            finished: false,
        }
    }

    fn finish(&mut self, error: Option<TraceError>) {
        self.finished = true;
        let response = trace_response(
            &self.assembled,
            self.recorder.elapsed_ms(),
            self.first_chunk_ms,
        );
        self.recorder.finish(Some(response), error);
    }
}

impl Stream for TracedStream {
    type Item = Result<StreamChunk, ProviderError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let item = ready!(this.chunks.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) => {
                if this.first_chunk_ms.is_none() {
                    this.first_chunk_ms = Some(this.recorder.elapsed_ms());
                }
                this.assembled.absorb(chunk);
            }
            Some(Err(error)) => {
                let traced = error.trace_error(this.recorder.elapsed_ms());
                this.finish(Some(traced));
            }
            None => this.finish(None),
        }
        Poll::Ready(item)
    }
}

impl Drop for TracedStream {
    fn drop(&mut self) {
        if !self.finished {
            let cancelled = self.recorder.cancellation();
            self.finish(Some(cancelled));
        }
    }
}
