//! The future returned by [`Trace`](super::Trace).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use serde_json::Value;

use super::TraceableError;
use super::recorder::Recorder;
use super::stream::TracedStream;
use crate::Generation;
use crate::layer::retry::attempts;

pin_project! {
    /// Response future of [`Trace`](super::Trace): resolves to the inner result, after
    /// recording it.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<Recorder>,
        // Attempts a retry layer below has made so far (see `layer::retry::attempts`).
        attempts: Option<u32>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, recorder: Recorder, attempts: Option<u32>) -> Self {
        Self {
            inner,
            recorder: Some(recorder),
            attempts,
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Generation, E>>,
    E: TraceableError,
{
    type Output = Result<Generation, E>;

    /// # Panics
    /// When polled again after it resolved.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let result = ready!(attempts::scope(this.attempts, || inner.poll(cx)));
        let mut recorder = this
            .recorder
            .take()
            .expect("ResponseFuture polled after completion");
        if let Some(attempts) = *this.attempts {
            recorder.set_attempts(attempts);
        }
        let trace_id = Value::from(recorder.trace_id().to_string());
        Poll::Ready(match result {
            Ok(Generation::Complete(mut response)) => {
                response.metadata.insert("trace_id".into(), trace_id);
                recorder.succeed(&response, None);
                Ok(Generation::Complete(response))
            }
            Ok(Generation::Stream(mut stream)) => {
                stream.metadata_mut().insert("trace_id".into(), trace_id);
                Ok(Generation::Stream(
                    stream.map_chunks(|chunks| TracedStream::new(chunks, recorder)),
                ))
            }
            Err(error) => {
                let traced = error.trace_error(recorder.elapsed_ms());
                recorder.finish(None, Some(traced));
                Err(error)
            }
        })
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
