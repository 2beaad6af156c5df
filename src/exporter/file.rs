//! What the file exporters share: opening files, appending whole records, naming files in
//! errors.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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
