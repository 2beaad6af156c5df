//! Streamed answers: server-sent events and newline-delimited JSON cut into frames, frames
//! turned into [`StreamChunk`]s by a provider's [`Decode`], and the end of the stream checked.
//!
//! A stream yields an error, then ends, when the connection breaks, when a frame is not what the
//! provider's format promises, or when the body ends before the provider's terminator (`[DONE]`,
//! `message_stop`, `done: true`): an answer without its terminator may be missing its end.

use std::io;
use std::sync::Arc;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_core::Stream;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::Response;
use serde::de::IgnoredAny;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::http::HttpEndpoint;
use crate::{ErrorKind, ProviderError, ResponseStream, StreamChunk};

/// Longest NDJSON line accepted; longer ones are an error rather than unbounded memory.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// What one frame of a stream amounts to.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing to pass on (a ping, an empty delta).
    Skip,
    /// A chunk for the caller; more frames follow.
    Chunk(StreamChunk),
    /// The terminator, with the last chunk if it carries one; frames after it are ignored.
    End(Option<StreamChunk>),
}

/// A provider's reading of its stream format, one frame at a time.
pub(crate) trait Decode: Send + 'static {
    /// An SSE [`Event`] or an NDJSON line.
    type Frame;

    /// The terminator's name, for the error when the stream ends without it.
    const TERMINATOR: &'static str;

    /// Reads one frame.
    fn decode(&mut self, frame: Self::Frame) -> Result<Step, ProviderError>;
}

/// Reads `response` as server-sent events.
pub(crate) fn sse<D>(endpoint: Arc<HttpEndpoint>, response: Response, decoder: D) -> ResponseStream
where
    D: Decode<Frame = Event>,
{
    let errors = endpoint.clone();
    let events = response
        .bytes_stream()
        .eventsource()
        .map_err(move |error| match error {
            EventStreamError::Transport(error) => errors.transport_error(error),
            EventStreamError::Utf8(error) => errors.malformed(&error, ""),
            EventStreamError::Parser(error) => errors.malformed(&error, &error.input),
        });
    drive(events, decoder)
}

/// Reads `response` as newline-delimited JSON, one line per frame.
pub(crate) fn ndjson<D>(
    endpoint: Arc<HttpEndpoint>,
    response: Response,
    decoder: D,
) -> ResponseStream
where
    D: Decode<Frame = String>,
{
    let bytes = response.bytes_stream().map_err(io::Error::other);
    let codec = JsonLines(LinesCodec::new_with_max_length(MAX_LINE_BYTES));
    let lines = FramedRead::new(StreamReader::new(bytes), codec).map_err(move |error| {
        let io = match error {
            LinesCodecError::Io(io) => io,
            LinesCodecError::MaxLineLengthExceeded => {
                let message = format!("a line is longer than {MAX_LINE_BYTES} bytes");
                return endpoint.malformed(&message, "");
            }
        };
        match io.kind() {
            io::ErrorKind::UnexpectedEof => ProviderError::new(
                ErrorKind::Stream,
                format!(
                    "the {} stream ended in the middle of a line",
                    endpoint.provider()
                ),
            ),
            io::ErrorKind::InvalidData => endpoint.malformed(&io, ""),
            _ => match io
                .into_inner()
                .map(|inner| inner.downcast::<reqwest::Error>())
            {
                Some(Ok(error)) => endpoint.transport_error(*error),
                Some(Err(other)) => ProviderError::new(ErrorKind::Stream, other.to_string()),
                None => ProviderError::new(ErrorKind::Stream, "the stream failed"),
            },
        }
    });
    drive(lines, decoder)
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

/// Lines of JSON. A last line without its newline is taken if it is complete JSON, and is an
/// `UnexpectedEof` error if not: the connection closed in the middle of it.
struct JsonLines(LinesCodec);

impl Decoder for JsonLines {
    type Item = String;
    type Error = LinesCodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LinesCodecError> {
        self.0.decode(buf)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LinesCodecError> {
        if let Some(line) = self.0.decode(buf)? {
            return Ok(Some(line));
        }
        let Some(line) = self.0.decode_eof(buf)? else {
            return Ok(None);
        };
        let complete = line.trim().is_empty() || serde_json::from_str::<IgnoredAny>(&line).is_ok();
        if complete {
            Ok(Some(line))
        } else {
            Err(io::Error::from(io::ErrorKind::UnexpectedEof).into())
        }
    }
}
