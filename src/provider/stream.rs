//! Streamed answers: server-sent events and newline-delimited JSON cut into frames, frames
//! turned into [`StreamChunk`]s by a provider's [`Decode`], and the end of the stream checked.
//!
//! A stream yields an error, then ends, when the connection breaks, when a frame is not what the
//! provider's format promises, or when the body ends before the provider's terminator (`[DONE]`,
//! `message_stop`, `done: true`): an answer without its terminator may be missing its end.

use std::io;
use std::sync::Arc;

use futures_core::Stream;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::Response;
use serde::de::IgnoredAny;
use tokio::time::{Instant, timeout_at};
use tokio_util::bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::http::HttpEndpoint;
use super::sse::{FrameError, SseCodec, SseEvent};
use crate::{ErrorKind, ProviderError, ResponseStream, StreamChunk};

/// Longest NDJSON line, or SSE event with all its lines, accepted; a longer one is an error
/// rather than unbounded memory.
pub(crate) const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// What one frame of a stream amounts to.
///
/// This and the traits below are `pub` only to be named by [`WireApi`](super::WireApi), in a
/// module no one outside can reach.
#[derive(Debug)]
pub enum Step {
    /// Nothing to pass on (a ping, an empty delta).
    Skip,
    /// A chunk for the caller; more frames follow.
    Chunk(StreamChunk),
    /// The terminator, with the last chunk if it carries one; frames after it are ignored.
    End(Option<StreamChunk>),
}

/// A provider's reading of its stream format, one frame at a time.
pub trait Decode: Send + 'static {
    /// An [`SseEvent`] or an NDJSON line.
    type Frame: Frame;

    /// The terminator's name, for the error when the stream ends without it.
    const TERMINATOR: &'static str;

    /// A decoder for one stream from `endpoint`, whose errors it uses.
    fn new(endpoint: Arc<HttpEndpoint>) -> Self;

    /// Reads one frame.
    fn decode(&mut self, frame: Self::Frame) -> Result<Step, ProviderError>;
}

/// The model and answer id a stream names, held until a chunk carries them to the caller: the
/// first chunk after they are known, and no other.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    model: Option<String>,
    id: Option<String>,
    sent: bool,
}

impl Identity {
    /// Remembers what the server names, unless it was passed on already; the first naming wins.
    /// Borrowed, as most events repeat them: only the first naming is copied.
    pub(crate) fn learn(&mut self, model: Option<&str>, id: Option<&str>) {
        if !self.sent {
            if self.model.is_none() {
                self.model = model.map(str::to_owned);
            }
            if self.id.is_none() {
                self.id = id.map(str::to_owned);
            }
        }
    }

    /// `chunk`, carrying the model and id if they are known and not passed on yet.
    pub(crate) fn stamp(&mut self, mut chunk: StreamChunk) -> StreamChunk {
        if !self.sent {
            chunk.model = self.model.take();
            chunk.id = self.id.take();
            self.sent = chunk.model.is_some() || chunk.id.is_some();
        }
        chunk
    }
}

/// A unit of a stream format: how a body is cut into such units.
pub trait Frame: Sized + Send + 'static {
    /// The frames of the body of `response`, read under the endpoint's timeouts.
    fn frames(
        endpoint: Arc<HttpEndpoint>,
        response: Response,
    ) -> impl Stream<Item = Result<Self, ProviderError>> + Send + 'static;
}

/// Server-sent events.
impl Frame for SseEvent {
    fn frames(
        endpoint: Arc<HttpEndpoint>,
        response: Response,
    ) -> impl Stream<Item = Result<Self, ProviderError>> + Send + 'static {
        frames(endpoint, response, SseCodec::new(MAX_FRAME_BYTES))
    }
}

/// Newline-delimited JSON, one line a frame.
impl Frame for String {
    fn frames(
        endpoint: Arc<HttpEndpoint>,
        response: Response,
    ) -> impl Stream<Item = Result<Self, ProviderError>> + Send + 'static {
        frames(endpoint, response, JsonLines::new())
    }
}

/// Reads `response` as a stream decoded by `D`.
pub(crate) fn read<D: Decode>(endpoint: Arc<HttpEndpoint>, response: Response) -> ResponseStream {
    let frames = D::Frame::frames(endpoint.clone(), response);
    drive(frames, D::new(endpoint))
}

/// The frames `codec` cuts from the body of `response`, read under the endpoint's stall
/// timeout and the call's overall deadline.
fn frames<C>(
    endpoint: Arc<HttpEndpoint>,
    response: Response,
    codec: C,
) -> impl Stream<Item = Result<C::Item, ProviderError>> + Send + 'static
where
    C: Decoder<Error = FrameError> + Send + 'static,
    C::Item: Send,
{
    let errors = endpoint.clone();
    let bytes = StreamReader::new(watched(endpoint, response));
    FramedRead::new(bytes, codec).map_err(move |error| frame_error(&errors, error))
}

/// The body of `response`, ended by an error when no byte arrives within the stall timeout or
/// the call's overall deadline passes. The errors are [`ProviderError`]s inside `io::Error`s,
/// for [`StreamReader`]; [`frame_error`] takes them out.
fn watched(
    endpoint: Arc<HttpEndpoint>,
    response: Response,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let deadline = endpoint.stream_deadline(&response);
    let body = Box::pin(response.bytes_stream());
    futures_util::stream::unfold(Some(body), move |body| {
        let endpoint = endpoint.clone();
        async move {
            let mut body = body?;
            let stall_end = Instant::now() + endpoint.stall_timeout();
            let item = match timeout_at(stall_end.min(deadline), body.next()).await {
                Ok(Some(Ok(bytes))) => return Some((Ok(bytes), Some(body))),
                Ok(None) => return None,
                Ok(Some(Err(error))) => endpoint.transport_error(error),
                Err(_) => endpoint.stream_timeout_error(stall_end <= deadline),
            };
            Some((Err(io::Error::other(item)), None))
        }
    })
}

/// The [`ProviderError`] a failure to read frames amounts to.
fn frame_error(endpoint: &HttpEndpoint, error: FrameError) -> ProviderError {
    let io = match error {
        FrameError::Io(io) => io,
        FrameError::CutOff => {
            let message = format!(
                "the {} stream ended in the middle of a line",
                endpoint.provider()
            );
            return ProviderError::new(ErrorKind::Stream, message);
        }
        too_large_or_not_text => return endpoint.malformed(&too_large_or_not_text, ""),
    };
    match io
        .into_inner()
        .map(|inner| inner.downcast::<ProviderError>())
    {
        Some(Ok(error)) => *error,
        Some(Err(other)) => ProviderError::new(ErrorKind::Stream, other.to_string()),
        None => ProviderError::new(ErrorKind::Stream, "the stream failed"),
    }
}

/// Runs `decoder` over `frames` until the terminator, the first error, or the end of input
/// (an error: the terminator is missing).
fn drive<F, D>(
    frames: impl Stream<Item = Result<F, ProviderError>> + Send + 'static,
    decoder: D,
) -> ResponseStream
where
    D: Decode<Frame = F>,
{
    let start = Some((Box::pin(frames), decoder));
    ResponseStream::new(futures_util::stream::unfold(start, |state| async move {
        let (mut frames, mut decoder) = state?;
        loop {
            let step = match frames.next().await {
                Some(Ok(frame)) => decoder.decode(frame),
                Some(Err(error)) => Err(error),
                None => Err(ProviderError::new(
                    ErrorKind::Stream,
                    format!("the stream ended before {}", D::TERMINATOR),
                )),
            };
            match step {
                Ok(Step::Skip) => {}
                Ok(Step::Chunk(chunk)) => return Some((Ok(chunk), Some((frames, decoder)))),
                Ok(Step::End(Some(chunk))) => return Some((Ok(chunk), None)),
                Ok(Step::End(None)) => return None,
                Err(error) => return Some((Err(error), None)),
            }
        }
    }))
}

/// Lines of JSON. A last line without its newline is taken if it is complete JSON, and is
/// [`FrameError::CutOff`] if not: the connection closed in the middle of it.
pub(crate) struct JsonLines(LinesCodec);

impl JsonLines {
    /// A decoder rejecting lines longer than [`MAX_FRAME_BYTES`].
    pub(crate) fn new() -> Self {
        Self(LinesCodec::new_with_max_length(MAX_FRAME_BYTES))
    }

    fn error(error: LinesCodecError) -> FrameError {
        match error {
            LinesCodecError::MaxLineLengthExceeded => FrameError::LineTooLarge {
                max: MAX_FRAME_BYTES,
            },
            // LinesCodec's only own I/O error: a line that is not UTF-8.
            LinesCodecError::Io(io) if io.kind() == io::ErrorKind::InvalidData => {
                FrameError::LineNotUtf8
            }
            LinesCodecError::Io(io) => FrameError::Io(io),
        }
    }
}

impl Decoder for JsonLines {
    type Item = String;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<String>, FrameError> {
        self.0.decode(buf).map_err(Self::error)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<String>, FrameError> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        let Some(line) = self.0.decode_eof(buf).map_err(Self::error)? else {
            return Ok(None);
        };
        let complete = line.trim().is_empty() || serde_json::from_str::<IgnoredAny>(&line).is_ok();
        if complete {
            Ok(Some(line))
        } else {
            Err(FrameError::CutOff)
        }
    }
}
