//! Writing to stdout without panicking (`println!` panics when it fails): a reader that went
//! away (`llmtrace summarize f | head -1`) ends the program quietly, any other failure (stdout
//! on a full disk) is an error naming stdout.

use std::io::{self, ErrorKind, Write};

/// Stdout, with write errors that say they are stdout's.
#[derive(Debug)]
pub(crate) struct Stdout(io::StdoutLock<'static>);

/// A stdout write failure, carried inside an [`io::Error`] of the same kind.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout: {0}")]
struct StdoutError(io::Error);

impl Stdout {
    /// Locks stdout for the rest of the command.
    pub(crate) fn lock() -> Self {
        Self(io::stdout().lock())
    }
}

fn named(error: io::Error) -> io::Error {
    io::Error::new(error.kind(), StdoutError(error))
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(named)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(named)
    }
}

/// True when `error` comes from writing to a pipe nobody reads any more: not a failure (the
/// reader had what it wanted), so the command ends quietly and successfully.
pub(crate) fn is_closed_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        // serde_json keeps the I/O error of a failed `to_writer` to itself, but tells its kind.
        let kind = match error.downcast_ref::<io::Error>() {
            Some(io) => Some(io.kind()),
            None => error
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind),
        };
        if kind == Some(ErrorKind::BrokenPipe) {
            return true;
        }
        current = error.source();
    }
    false
}
