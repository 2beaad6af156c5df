//! Writing a whole output file so that it is never seen half-written.

use std::fs::{self, Metadata};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::ReportError;

/// An output file written through a temporary file in the same directory and renamed over
/// `path` by [`commit`](Self::commit), so readers see the old file or the whole new one, and a
/// failure (or a drop without `commit`) leaves the old file untouched.
///
/// An existing `path` keeps its permissions; when it is a symbolic link, the file it points
/// to is the one replaced.
///
/// ```
/// use std::io::Write;
/// use llmtrace::report::OutputFile;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out/report.md");
/// let mut out = OutputFile::create(&path)?;
/// out.write_all(b"# Report\n")?;
/// assert!(!path.exists(), "nothing is visible before commit");
/// out.commit()?;
/// assert_eq!(std::fs::read_to_string(&path)?, "# Report\n");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OutputFile {
    temp: BufWriter<NamedTempFile>,
    path: PathBuf,
}

impl OutputFile {
    /// Starts writing `path` (its parent directories are created).
    ///
    /// # Errors
    /// [`ReportError::Write`] when the directory or the temporary file cannot be created.
    pub fn create(path: &Path) -> Result<Self, ReportError> {
        let error = |source| ReportError::Write {
            path: path.to_owned(),
            source,
        };
        let existing = fs::metadata(path).ok();
        // Replace the file a symbolic link points to, not the link.
        let path = match existing {
            Some(_) => fs::canonicalize(path).map_err(error)?,
            None => path.to_owned(),
        };
        let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => {
                fs::create_dir_all(parent).map_err(error)?;
                parent
            }
            None => Path::new("."),
        };
        let temp = temp_file(dir, existing.as_ref()).map_err(error)?;
        Ok(Self {
            temp: BufWriter::new(temp),
            path,
        })
    }

    /// Makes the written content durable and puts it in place of the file.
    ///
    /// # Errors
    /// [`ReportError::Write`] when it cannot be written, synced or renamed; the old file, if
    /// any, is then unchanged.
    pub fn commit(self) -> Result<(), ReportError> {
        let error = |source| ReportError::Write {
            path: self.path.clone(),
            source,
        };
        let temp = self.temp.into_inner().map_err(|e| error(e.into_error()))?;
        temp.as_file().sync_all().map_err(error)?;
        temp.persist(&self.path).map_err(|e| error(e.error))?;
        Ok(())
    }
}

/// Errors name the output file (not the temporary one).
impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf).map_err(|e| self.named(e))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.write_all(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush().map_err(|e| self.named(e))
    }
}

impl OutputFile {
    /// Writes `bytes`; the error is the I/O error as it is, for callers that name the file
    /// themselves.
    pub(super) fn write_unnamed(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.temp.write_all(bytes)
    }

    fn named(&self, error: io::Error) -> io::Error {
        io::Error::new(
            error.kind(),
            format!("cannot write {}: {error}", self.path.display()),
        )
    }
}

/// A temporary file in `dir` with the permissions of the file it will replace, or else those
/// of a newly created file (`0o666` less the umask), not the temporary file's private `0o600`.
fn temp_file(dir: &Path, existing: Option<&Metadata>) -> io::Result<NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".llmtrace-").suffix(".tmp");
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let temp = builder.tempfile_in(dir)?;
    if let Some(existing) = existing {
        fs::set_permissions(temp.path(), existing.permissions())?;
    }
    Ok(temp)
}
