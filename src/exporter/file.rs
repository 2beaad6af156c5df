//! What the file exporters share: opening files and naming them in errors.

use std::fs::{File, OpenOptions};
use std::io;
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
