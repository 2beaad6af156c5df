//! Reading JSONL trace files line by line, however large.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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

/// Calls `each` with every trace in `path`, in file order. Blank lines are ignored; a progress
/// bar shows on stderr when it is a terminal.
pub(crate) fn for_each_record(
    path: &Path,
    on_malformed: OnMalformed,
    mut each: impl FnMut(TraceRecord) -> Result<(), BoxError>,
) -> Result<ReadStats, BoxError> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reader = BufReader::new(file);
    let mut stats = ReadStats::default();
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| format!("cannot read {} after line {number}: {e}", path.display()))?;
        if read == 0 {
            break;
        }
        number += 1;
        progress.inc(read as u64);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<TraceRecord>(&line) {
            Ok(record) => {
                stats.records += 1;
                each(record)?;
            }
            Err(error) => {
                stats.malformed += 1;
                match on_malformed {
                    OnMalformed::Fail => {
                        progress.finish_and_clear();
                        let message =
                            format!("{}:{number}: malformed trace: {error}", path.display());
                        return Err(message.into());
                    }
                    OnMalformed::Warn => progress.suspend(|| {
                        eprintln!(
                            "warning: {}:{number}: malformed trace skipped: {error}",
                            path.display()
                        );
                    }),
                    OnMalformed::Ignore => {}
                }
            }
        }
    }
    progress.finish_and_clear();
    if stats.malformed > 0 && on_malformed == OnMalformed::Warn {
        eprintln!(
            "warning: skipped {} malformed line(s) of {}",
            stats.malformed,
            path.display()
        );
    }
    Ok(stats)
}
