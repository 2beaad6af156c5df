//! A server-sent events decoder that reads every byte once and caps the size of one event.
//!
//! It follows the WHATWG event stream format: lines end in CRLF, LF or CR (a CRLF may be split
//! across reads), `field: value` lines build an event, `:` starts a comment, a blank line
//! dispatches the event, and an event the stream ends in the middle of is discarded. Only the
//! `event` and `data` fields matter to the providers; `id` and `retry` are ignored.
//!
//! Memory and time are bounded by construction: complete lines are cut off the buffer as soon
//! as they are read, the search for the next line end resumes where it stopped, and an event
//! (with its comments) longer than the cap is an error instead of an ever-growing buffer.

use std::io;

use thiserror::Error;
use tokio_util::bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

/// The UTF-8 byte order mark, which may open a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event (`pub` only to be named by [`Decode`](super::stream::Decode)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event` field; `message` when the event has none.
    pub(crate) event: String,
    /// The `data` lines, joined by `\n`.
    pub(crate) data: String,
}

/// Why a stream of frames (SSE events or NDJSON lines) could not be read.
#[derive(Debug, Error)]
pub(crate) enum FrameError {
    /// An event, counting all its lines, is longer than the cap.
    #[error("the event at line {line} is longer than {max} bytes")]
    EventTooLarge {
        /// The line being read when the cap was passed.
        line: u64,
        /// The cap.
        max: usize,
    },
    /// An NDJSON line is longer than the cap.
    #[error("a line is longer than {max} bytes")]
    LineTooLarge {
        /// The cap.
        max: usize,
    },
    /// A line is not UTF-8.
    #[error("line {line} is not valid UTF-8")]
    NotUtf8 {
        /// Its number, from 1.
        line: u64,
    },
    /// An NDJSON line is not UTF-8.
    #[error("a line is not valid UTF-8")]
    LineNotUtf8,
    /// The body ended in the middle of a line.
    #[error("the stream ended in the middle of a line")]
    CutOff,
    /// Reading the body failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The decoder; see the module documentation.
#[derive(Debug)]
pub(crate) struct SseCodec {
    max_event_bytes: usize,
    /// `buf[..scanned]` holds no line end: the search resumes after it.
    scanned: usize,
    /// Bytes of the current event's lines consumed so far.
    event_bytes: usize,
    /// The last line ended in CR: a LF opening the buffer completes it.
    after_cr: bool,
    /// The BOM check is done.
    started: bool,
    /// Lines read so far, for messages.
    lines: u64,
    event: String,
    data: String,
}

impl SseCodec {
    /// A decoder rejecting events longer than `max_event_bytes`.
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            scanned: 0,
            event_bytes: 0,
            after_cr: false,
            started: false,
            lines: 0,
            event: String::new(),
            data: String::new(),
        }
    }

    fn too_large(&self) -> FrameError {
        FrameError::EventTooLarge {
            line: self.lines + 1,
            max: self.max_event_bytes,
        }
    }

    /// Applies one non-blank line to the event being built.
    fn field(&mut self, line: &[u8]) -> Result<(), FrameError> {
        let line =
            std::str::from_utf8(line).map_err(|_| FrameError::NotUtf8 { line: self.lines })?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match name {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the current event at a blank line; an event without data is not dispatched.
    fn dispatch(&mut self) -> Option<SseEvent> {
        self.event_bytes = 0;
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the `\n` after the last data line
        Some(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
        })
    }
}

impl Decoder for SseCodec {
    type Item = SseEvent;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<SseEvent>, FrameError> {
        if !self.started {
            if buf.len() < BOM.len() && BOM.starts_with(buf) {
                return Ok(None);
            }
            if buf.starts_with(BOM) {
                buf.advance(BOM.len());
            }
            self.started = true;
        }
        loop {
            if self.after_cr && !buf.is_empty() {
                if buf[0] == b'\n' {
                    buf.advance(1);
                }
                self.after_cr = false;
            }
            let found = buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r');
            let Some(end) = found.map(|at| self.scanned + at) else {
                self.scanned = buf.len();
                if self.event_bytes + buf.len() > self.max_event_bytes {
                    return Err(self.too_large());
                }
                return Ok(None);
            };
            self.scanned = 0;
            let line = buf.split_to(end + 1);
            self.after_cr = line[end] == b'\r';
            self.lines += 1;
            if end == 0 {
                if let Some(event) = self.dispatch() {
                    return Ok(Some(event));
                }
                continue;
            }
            self.event_bytes += line.len();
            if self.event_bytes > self.max_event_bytes {
                self.lines -= 1;
                return Err(self.too_large());
            }
            self.field(&line[..end])?;
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<SseEvent>, FrameError> {
        let event = self.decode(buf)?;
        if event.is_none() {
            // An event the stream ends in the middle of is discarded, as the format says; the
            // provider then reports the missing terminator.
            buf.clear();
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces cut at `cuts`, to the end.
    fn decode_in_pieces(input: &[u8], cuts: &[usize], max: usize) -> Result<Vec<SseEvent>, String> {
        let mut codec = SseCodec::new(max);
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([&input.len()]) {
            let cut = cut.clamp(start, input.len());
            buf.extend_from_slice(&input[start..cut]);
            start = cut;
            while let Some(event) = codec.decode(&mut buf).map_err(|e| e.to_string())? {
                events.push(event);
            }
        }
        while let Some(event) = codec.decode_eof(&mut buf).map_err(|e| e.to_string())? {
            events.push(event);
        }
        Ok(events)
    }

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.to_owned(),
            data: data.to_owned(),
        }
    }

    const STREAM: &[u8] =
        b"\xEF\xBB\xBF: comment\r\nevent: delta\r\ndata: {\"a\":\r\ndata:1}\r\n\r\n\
        data: two\rid: 7\rretry: 10\r\rdata\n\ndata: caf\xC3\xA9\n\nevent: x\n\nlast: cut";

    fn expected() -> Vec<SseEvent> {
        vec![
            event("delta", "{\"a\":\n1}"),
            event("message", "two"),
            event("message", ""),
            event("message", "café"),
        ]
    }

    #[test]
    fn every_line_ending_and_field_form_is_read() {
        assert_eq!(decode_in_pieces(STREAM, &[], 1024), Ok(expected()));
    }

    #[test]
    fn events_split_at_every_byte_boundary_decode_the_same() {
        for cut in 0..=STREAM.len() {
            assert_eq!(
                decode_in_pieces(STREAM, &[cut], 1024),
                Ok(expected()),
                "cut at {cut}"
            );
        }
        let every_byte: Vec<usize> = (0..=STREAM.len()).collect();
        assert_eq!(decode_in_pieces(STREAM, &every_byte, 1024), Ok(expected()));
    }

    #[test]
    fn an_event_longer_than_the_cap_is_an_error_naming_its_line() {
        let long = format!("data: ok\n\ndata: {}\n\n", "x".repeat(100));
        assert_eq!(
            decode_in_pieces(long.as_bytes(), &[], 64),
            Err("the event at line 3 is longer than 64 bytes".to_owned())
        );
        let unterminated = format!("data: {}", "x".repeat(100));
        let cuts: Vec<usize> = (0..unterminated.len()).step_by(7).collect();
        assert!(decode_in_pieces(unterminated.as_bytes(), &cuts, 64).is_err());
        let many_lines = "data: 0123456789\n".repeat(10);
        assert!(decode_in_pieces(many_lines.as_bytes(), &[], 64).is_err());
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_error_naming_its_line() {
        assert_eq!(
            decode_in_pieces(b"data: a\n\ndata: \xFF\n\n", &[], 64),
            Err("line 3 is not valid UTF-8".to_owned())
        );
    }

    #[test]
    fn a_large_event_costs_linear_time() {
        // One 4 MB event fed in 1 KB reads: a decoder that rescans its buffer on every read
        // does 2 billion byte comparisons here, a linear one 4 million.
        let input = format!("data: {}\n\n", "x".repeat(4 << 20));
        let cuts: Vec<usize> = (0..input.len()).step_by(1024).collect();
        let started = std::time::Instant::now();
        let events = decode_in_pieces(input.as_bytes(), &cuts, 8 << 20).expect("within the cap");
        assert_eq!(events[0].data.len(), 4 << 20);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
