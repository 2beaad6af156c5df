//! Reading trace files for the CLI: the library's reader, plus a progress bar and the
//! `--strict` policy.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use llmtrace::read::{ReadError, TraceFileReader};
use llmtrace::{BoxError, TraceRecord};

/// What a pass over a file found.
#[derive(Debug, Default)]
pub(crate) struct ReadStats {
    pub(crate) records: usize,
    pub(crate) malformed: usize,
}

/// What to do with a line that is not a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnMalformed {
    /// Report it on stderr with its line number, and go on.
    Warn,
    /// End the pass with an error naming the line.
    Fail,
    /// Skip it silently (a second pass over a file already checked).
    Ignore,
}

impl OnMalformed {
    pub(crate) fn from_strict(strict: bool) -> Self {
        if strict {
            OnMalformed::Fail
        } else {
            OnMalformed::Warn
        }
    }
}

/// Calls `each` with every trace in `path` (JSONL or a JSON array), in file order; a progress
/// bar shows on stderr when it is a terminal.
///
/// Content problems follow `on_malformed`; a truncated or broken JSON array also ends the
/// pass (after warning, unless strict). Only a failure to read the file is always an error.
pub(crate) fn for_each_record(
    path: &Path,
    on_malformed: OnMalformed,
    mut each: impl FnMut(TraceRecord) -> Result<(), BoxError>,
) -> Result<ReadStats, BoxError> {
    let file = File::open(path).map_err(|source| ReadError::Open {
        path: path.to_owned(),
        source,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reader = TraceFileReader::new(BufReader::new(progress.wrap_read(file))).with_path(path);
    let mut stats = ReadStats::default();
    for record in reader {
        match record {
            Ok(record) => {
                stats.records += 1;
                each(record)?;
            }
            Err(error @ ReadError::Io { .. }) => {
                progress.finish_and_clear();
                return Err(error.into());
            }
            Err(error) => {
                stats.malformed += 1;
                match on_malformed {
                    OnMalformed::Fail => {
                        progress.finish_and_clear();
                        return Err(error.into());
                    }
                    OnMalformed::Warn => {
                        progress.suspend(|| warn(format_args!("{error}; skipped")))
                    }
                    OnMalformed::Ignore => {}
                }
            }
        }
    }
    progress.finish_and_clear();
    if stats.malformed > 0 && on_malformed == OnMalformed::Warn {
        warn(format_args!(
            "skipped {} unreadable part(s) of {}",
            stats.malformed,
            path.display()
        ));
    }
    Ok(stats)
}

/// Writes a warning on stderr. Unlike `eprintln!`, does not panic when stderr is gone
/// (`llmtrace summarize f 2>&1 | head -1`): a warning nobody can read is no reason to stop.
fn warn(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}
