//! What the file exporters share: opening files, appending whole records, syncing them, naming
//! files in errors.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::ExporterError;

/// Opens `path` for appending (and reading), creating it and its parent directories.
pub(super) fn open_append(path: &Path) -> Result<File, ExporterError> {
    let open = || -> io::Result<File> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
    };
    open().map_err(|error| io_error(path, "open", error))
}

/// Makes sure `file` (opened for appending and reading) ends with a newline, or is empty;
/// returns its size.
///
/// A file whose last line is torn (a crash cut a write short) is given the missing newline,
/// with a warning naming the file and the byte where the torn line ends, so that the torn
/// line stays alone and the next record starts a line of its own instead of being glued
/// onto it.
pub(super) fn end_line(file: &mut File, path: &Path) -> Result<u64, ExporterError> {
    let io = |e| io_error(path, "open", e);
    let size = file.metadata().map_err(io)?.len();
    if size == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    // Reading moves the position, but appends still land at the end.
    file.seek(SeekFrom::End(-1))
        .and_then(|_| file.read_exact(&mut last))
        .map_err(io)?;
    if last == *b"\n" {
        return Ok(size);
    }
    tracing::warn!(
        file = %path.display(), torn_at = size,
        "The trace file ends in a partial line; starting on a new line."
    );
    append_whole(file, path, b"\n")?;
    Ok(size + 1)
}

/// Makes what was appended to `file` durable: the `flush` of every file exporter (nothing to
/// do before the first batch opened the file).
pub(super) fn sync(file: Option<&File>, path: &Path) -> Result<(), ExporterError> {
    match file {
        Some(file) => file.sync_data().map_err(|e| io_error(path, "sync", e)),
        None => Ok(()),
    }
}

/// A permanent exporter error naming the file: retrying a write that failed half-way could
/// duplicate records, so file failures are not retried.
pub(super) fn io_error(path: &Path, action: &str, error: io::Error) -> ExporterError {
    ExporterError::permanent(format!("cannot {action} {}: {error}", path.display()))
        .with_source(error)
}

/// Appends `bytes` to `file` (opened for appending) whole or not at all: a write that fails
/// part-way (a full disk, a file size limit) is truncated back off, so the file never keeps
/// half a record for the next write to run into.
///
/// When even the truncation fails, the error says at which byte the file is torn.
pub(super) fn append_whole(
    file: &mut File,
    path: &Path,
    bytes: &[u8],
) -> Result<(), ExporterError> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match file.write(rest) {
            Ok(0) => {
                return Err(undo(
                    file,
                    path,
                    bytes.len() - rest.len(),
                    io::ErrorKind::WriteZero.into(),
                ));
            }
            Ok(n) => rest = &rest[n..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(undo(file, path, bytes.len() - rest.len(), error)),
        }
    }
    file.flush().map_err(|error| io_error(path, "write", error))
}

/// Takes the `written` bytes of a failed append back off the end of `file`.
fn undo(file: &File, path: &Path, written: usize, error: io::Error) -> ExporterError {
    if written == 0 {
        return io_error(path, "write", error);
    }
    // Appends land at the end, so the bytes just written are the last ones.
    let torn = match file.metadata() {
        Ok(metadata) => {
            let start = metadata.len().saturating_sub(written as u64);
            match file.set_len(start) {
                Ok(()) => return io_error(path, "write", error),
                Err(truncation) => format!("torn at byte {start} (cannot truncate: {truncation})"),
            }
        }
        Err(stat) => format!("torn in its last {written} bytes (cannot stat: {stat})"),
    };
    ExporterError::permanent(format!(
        "cannot write {}: {error}; the file is {torn}",
        path.display()
    ))
    .with_source(error)
}
