//! Reading trace files back, one record at a time, however large the file.
//!
//! ```
//! use llmtrace::read::{ReadError, TraceFileReader};
//!
//! let file = "\u{feff}{\"trace_id\": \"00000000-0000-4000-8000-000000000000\", \
//!             \"timestamp\": \"2025-11-08T12:34:56.789\", \"provider\": \"OllamaProvider\", \
//!             \"model\": \"m\", \"prompt\": \"hi\", \"tools\": null, \"response\": null}\r\n\
//!             not a trace\r\n";
//! let mut reader = TraceFileReader::new(file.as_bytes()).with_path("traces.jsonl");
//! let record = reader.next().unwrap()?;
//! assert_eq!(record.provider, "OllamaProvider");
//! let error = reader.next().unwrap().unwrap_err();
//! assert_eq!(error.line(), Some(2));
//! assert!(error.is_recoverable(), "the next line can still be read");
//! assert!(error.to_string().starts_with("traces.jsonl:2: malformed trace"));
//! assert!(reader.next().is_none());
//! # Ok::<(), ReadError>(())
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::iter::FusedIterator;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::TraceRecord;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The layout of a trace file, detected from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceFileFormat {
    /// One record per line (ours, or the reference's, which lacks the final newline).
    Jsonl,
    /// A JSON array of records (`--format json`, or the reference's `json` export).
    JsonArray,
}

/// Why a trace file, or one record in it, could not be read. Every variant names the file
/// and, once reading has started, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened.
    // Not `non_exhaustive` like the others: the `llmtrace` binary builds it when it opens a
    // file itself.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Reading failed (the file itself, not its content).
    #[error("{}:{line}: cannot read: {source}", path.display())]
    #[non_exhaustive]
    Io {
        /// The file.
        path: Arc<Path>,
        /// The line being read.
        line: usize,
        /// Why.
        source: io::Error,
    },
    /// A line (JSONL) or array element is not UTF-8; reading goes on after it.
    #[error("{}:{line}: not valid UTF-8 at column {column}{}", path.display(), in_array(*index))]
    #[non_exhaustive]
    InvalidUtf8 {
        /// The file.
        path: Arc<Path>,
        /// The line of the first invalid byte.
        line: usize,
        /// Its column, in bytes from 1.
        column: usize,
        /// For a JSON array: the index of the element, from 0.
        index: Option<usize>,
    },
    /// A line (JSONL) or array element is not a trace record; reading goes on after it.
    #[error("{}:{line}: malformed trace{}: {reason} (column {column})", path.display(), in_array(*index))]
    #[non_exhaustive]
    Malformed {
        /// The file.
        path: Arc<Path>,
        /// The line where the problem was found.
        line: usize,
        /// Its column, in bytes from 1.
        column: usize,
        /// For a JSON array: the index of the element, from 0.
        index: Option<usize>,
        /// What is wrong, in serde_json's words.
        reason: String,
    },
    /// The file ends inside its JSON array (it was cut short); the records before were read.
    #[error("{}:{line}: the file ends inside the JSON array (is it truncated?)", path.display())]
    #[non_exhaustive]
    UnclosedArray {
        /// The file.
        path: Arc<Path>,
        /// The last line.
        line: usize,
    },
    /// The JSON array's punctuation is broken, or something follows it; reading stops.
    #[error("{}:{line}: expected {expected}, found {found} (column {column})", path.display())]
    #[non_exhaustive]
    ArraySyntax {
        /// The file.
        path: Arc<Path>,
        /// The line.
        line: usize,
        /// The column, in bytes from 1.
        column: usize,
        /// What JSON needs here.
        expected: &'static str,
        /// What the file has.
        found: String,
    },
}

fn in_array(index: Option<usize>) -> String {
    index.map_or_else(String::new, |i| format!(" (array index {i})"))
}

impl ReadError {
    /// The line the error is about (`None` when the file could not be opened).
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadError::Open { .. } => None,
            ReadError::Io { line, .. }
            | ReadError::InvalidUtf8 { line, .. }
            | ReadError::Malformed { line, .. }
            | ReadError::UnclosedArray { line, .. }
            | ReadError::ArraySyntax { line, .. } => Some(*line),
        }
    }

    /// True when only one record was lost and the reader can go on to the next; false when
    /// the reader has stopped (it returns `None` after this error).
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            ReadError::InvalidUtf8 { .. } | ReadError::Malformed { .. }
        )
    }
}

/// Opens `path` and reads it as a trace file: see [`TraceFileReader`].
///
/// # Errors
/// [`ReadError::Open`] when the file cannot be opened.
pub fn read_traces(path: impl AsRef<Path>) -> Result<TraceFileReader<BufReader<File>>, ReadError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| ReadError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(TraceFileReader::new(BufReader::new(file)).with_path(path))
}

/// Where the reader is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: the layout is not known.
    Start,
    /// JSONL.
    Lines,
    /// In a JSON array, before an element (just after `[` when `first`).
    Element { first: bool },
    /// After the array's `]`: only whitespace may follow.
    AfterArray,
    /// The file ended inside the array; the error is still to be reported.
    Unclosed,
    /// Finished.
    Done,
}

/// An iterator over the records of a trace file, holding one record in memory at a time.
///
/// The layout is detected from the content: when the first character (after an optional
/// UTF-8 byte order mark and whitespace) is `[`, the file is a JSON array of records;
/// otherwise it is JSONL, one record per line (blank lines ignored, `\r\n` accepted, the last
/// newline optional). Records follow [`TraceRecord`]'s lenient reading, so the reference
/// implementation's files load too.
///
/// A line or element that is not a record yields a [recoverable](ReadError::is_recoverable)
/// error and reading goes on; an I/O error or a broken array ends the iteration.
#[derive(Debug)]
pub struct TraceFileReader<R> {
    input: R,
    path: Arc<Path>,
    state: State,
    format: Option<TraceFileFormat>,
    /// Line (from 1) and byte column (from 1) of the next unread byte.
    line: usize,
    column: usize,
    /// Array elements seen so far.
    index: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> TraceFileReader<R> {
    /// Reads `input`; errors name it `<input>` until [`with_path`](Self::with_path).
    pub fn new(input: R) -> Self {
        Self {
            input,
            path: Arc::from(Path::new("<input>")),
            state: State::Start,
            format: None,
            line: 1,
            column: 1,
            index: 0,
            buffer: Vec::new(),
        }
    }

    /// Names the input in errors.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Arc::from(path.as_ref());
        self
    }

    /// The layout, once the first record has been asked for (`None` before, or for an input
    /// with nothing but whitespace).
    pub fn format(&self) -> Option<TraceFileFormat> {
        self.format
    }

    /// The line the reader is on, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    fn io_error(&self, source: io::Error) -> ReadError {
        ReadError::Io {
            path: self.path.clone(),
            line: self.line,
            source,
        }
    }

    /// The next byte, not consumed; `None` at the end of the input.
    fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        loop {
            match self.input.fill_buf() {
                Ok(bytes) => return Ok(bytes.first().copied()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// Consumes `byte`, the one [`peek`](Self::peek) returned.
    fn bump(&mut self, byte: u8) {
        self.input.consume(1);
        (self.line, self.column) = position(&[byte], self.line, self.column);
    }

    /// Skips JSON whitespace; returns the next byte, not consumed.
    fn skip_whitespace(&mut self) -> Result<Option<u8>, ReadError> {
        loop {
            match self.peek()? {
                Some(b @ (b' ' | b'\t' | b'\r' | b'\n')) => self.bump(b),
                other => return Ok(other),
            }
        }
    }

    /// Skips a byte order mark and leading whitespace, and picks the layout.
    fn start(&mut self) -> Result<(), ReadError> {
        let mut matched = 0;
        while matched < BOM.len() && self.peek()? == Some(BOM[matched]) {
            self.input.consume(1);
            matched += 1;
        }
        if matched > 0 && matched < BOM.len() {
            // Not a BOM after all: the bytes taken begin the first line (which is not JSON).
            self.buffer.extend_from_slice(&BOM[..matched]);
            self.format = Some(TraceFileFormat::Jsonl);
            self.state = State::Lines;
            return Ok(());
        }
        (self.format, self.state) = match self.skip_whitespace()? {
            Some(b'[') => {
                self.bump(b'[');
                (
                    Some(TraceFileFormat::JsonArray),
                    State::Element { first: true },
                )
            }
            Some(_) => (Some(TraceFileFormat::Jsonl), State::Lines),
            None => (None, State::Done),
        };
        Ok(())
    }

    fn next_line(&mut self) -> Option<Result<TraceRecord, ReadError>> {
        loop {
            // Leading whitespace of the first line may be gone already: start where it ended.
            let (line, column) = (self.line, self.column);
            let read = loop {
                match self.input.read_until(b'\n', &mut self.buffer) {
                    Ok(read) => break read,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.state = State::Done;
                        return Some(Err(self.io_error(e)));
                    }
                }
            };
            if read == 0 && self.buffer.is_empty() {
                self.state = State::Done;
                return None;
            }
            if self.buffer.last() == Some(&b'\n') {
                (self.line, self.column) = (self.line + 1, 1);
            }
            let mut text = self.buffer.as_slice();
            while let [rest @ .., b'\n' | b'\r'] = text {
                text = rest;
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                self.buffer.clear();
                continue;
            }
            let parsed = parse(text, &self.path, line, column, None);
            self.buffer.clear();
            return Some(parsed);
        }
    }

    fn next_element(&mut self, first: bool) -> Option<Result<TraceRecord, ReadError>> {
        let next = match self.skip_whitespace() {
            Ok(next) => next,
            Err(e) => return Some(Err(self.stop(e))),
        };
        match next {
            None => {
                self.state = State::Unclosed;
                return self.next();
            }
            Some(b']') if first => {
                self.bump(b']');
                self.state = State::AfterArray;
                return self.next();
            }
            Some(b @ (b',' | b']')) => {
                let error = self.syntax_error("a trace record", format!("{:?}", b as char));
                return Some(Err(self.stop(error)));
            }
            Some(_) => {}
        }
        let (line, column, index) = (self.line, self.column, self.index);
        self.index += 1;
        let end = match self.take_element() {
            Ok(end) => end,
            Err(e) => return Some(Err(self.stop(e))),
        };
        self.state = match end {
            Some(b',') => State::Element { first: false },
            Some(_) => State::AfterArray,
            None => State::Unclosed,
        };
        let parsed = parse(
            self.buffer.trim_ascii_end(),
            &self.path,
            line,
            column,
            Some(index),
        );
        self.buffer.clear();
        Some(parsed)
    }

    /// Moves one array element into the buffer, up to the `,` or `]` that ends it (consumed
    /// and returned; `None` at the end of the input). Only brackets and strings are tracked:
    /// checking the element is serde_json's job.
    fn take_element(&mut self) -> Result<Option<u8>, ReadError> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            let chunk = loop {
                match self.input.fill_buf() {
                    Ok(chunk) => break chunk,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        // Not `self.io_error`: `chunk` borrows `self.input` on the other arm.
                        return Err(ReadError::Io {
                            path: self.path.clone(),
                            line: self.line,
                            source,
                        });
                    }
                }
            };
            if chunk.is_empty() {
                return Ok(None);
            }
            let mut end = None;
            for (i, &byte) in chunk.iter().enumerate() {
                if in_string {
                    match byte {
                        _ if escaped => escaped = false,
                        b'\\' => escaped = true,
                        b'"' => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => {
                        end = Some((i, byte));
                        break;
                    }
                    _ => {}
                }
            }
            let taken = end.map_or(chunk.len(), |(i, _)| i);
            self.buffer.extend_from_slice(&chunk[..taken]);
            let consumed = end.map_or(taken, |_| taken + 1);
            (self.line, self.column) = position(&chunk[..consumed], self.line, self.column);
            self.input.consume(consumed);
            if let Some((_, byte)) = end {
                return Ok(Some(byte));
            }
        }
    }

    fn syntax_error(&self, expected: &'static str, found: String) -> ReadError {
        ReadError::ArraySyntax {
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            expected,
            found,
        }
    }

    /// Ends the iteration with `error`.
    fn stop(&mut self, error: ReadError) -> ReadError {
        self.state = State::Done;
        error
    }
}

impl<R: BufRead> Iterator for TraceFileReader<R> {
    type Item = Result<TraceRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Start => {
                if let Err(e) = self.start() {
                    return Some(Err(self.stop(e)));
                }
                self.next()
            }
            State::Lines => self.next_line(),
            State::Element { first } => self.next_element(first),
            State::AfterArray => match self.skip_whitespace() {
                Ok(None) => {
                    self.state = State::Done;
                    None
                }
                Ok(Some(byte)) => {
                    let found = format!("{:?} after the end of the array", byte as char);
                    let error = self.syntax_error("the end of the file", found);
                    Some(Err(self.stop(error)))
                }
                Err(e) => Some(Err(self.stop(e))),
            },
            State::Unclosed => Some(Err(self.stop(ReadError::UnclosedArray {
                path: self.path.clone(),
                line: self.line,
            }))),
            State::Done => None,
        }
    }
}

impl<R: BufRead> FusedIterator for TraceFileReader<R> {}

/// Parses one record whose first byte is at `line`:`column` of the file.
fn parse(
    bytes: &[u8],
    path: &Arc<Path>,
    line: usize,
    column: usize,
    index: Option<usize>,
) -> Result<TraceRecord, ReadError> {
    // serde_json would say "invalid unicode code point"; name the byte instead.
    if let Err(e) = std::str::from_utf8(bytes) {
        let (line, column) = position(&bytes[..e.valid_up_to()], line, column);
        return Err(ReadError::InvalidUtf8 {
            path: path.clone(),
            line,
            column,
            index,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| {
        // serde_json counts from the start of `bytes`: translate to the file's lines.
        let (error_line, error_column) = match e.line() {
            0 => (line, column),
            1 => (line, column + e.column().saturating_sub(1)),
            n => (line + n - 1, e.column()),
        };
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        ReadError::Malformed {
            path: path.clone(),
            line: error_line,
            column: error_column,
            index,
            reason: message.strip_suffix(&suffix).unwrap_or(&message).to_owned(),
        }
    })
}

/// The line and column just after `before`, which starts at `line`:`column`.
fn position(before: &[u8], line: usize, column: usize) -> (usize, usize) {
    match before.iter().rposition(|&b| b == b'\n') {
        Some(last) => (
            line + before.iter().filter(|&&b| b == b'\n').count(),
            before.len() - last,
        ),
        None => (line, column + before.len()),
    }
}
