//! `llmtrace export FILE.jsonl --format json|markdown [-o OUT]`

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use llmtrace::BoxError;
use llmtrace::report::{OutputFile, markdown};

use crate::OutputFormat;
use crate::read::{OnMalformed, for_each_record};
use crate::stdout::Stdout;

/// Why `llmtrace export` will not write its output.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefusedOutput {
    /// Writing the output would destroy the input before it is read.
    #[error("refusing to write {}: it is the input file {} (choose another output)", output.display(), input.display())]
    IsInput {
        /// The trace file read.
        input: PathBuf,
        /// The output asked for.
        output: PathBuf,
    },
}

pub(crate) fn run(
    file: &Path,
    format: OutputFormat,
    output: Option<&Path>,
    strict: bool,
) -> Result<(), BoxError> {
    let on_malformed = OnMalformed::from_strict(strict);
    if let Some(path) = output.filter(|path| same_file(file, path)) {
        return Err(RefusedOutput::IsInput {
            input: file.to_owned(),
            output: path.to_owned(),
        }
        .into());
    }
    // A file output is written aside and renamed into place only once complete: a failure
    // half-way (a malformed line with --strict, a full disk) leaves any old output intact.
    let mut file_output = output.map(OutputFile::create).transpose()?;
    let mut stdout = BufWriter::new(Stdout::lock());
    let out: &mut dyn Write = match &mut file_output {
        Some(file) => file,
        None => &mut stdout,
    };
    match format {
        OutputFormat::Json => {
            let mut first = true;
            out.write_all(b"[")?;
            for_each_record(file, on_malformed, |record| {
                out.write_all(if first { b"\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut *out, &record)?;
                first = false;
                Ok(())
            })?;
            out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
        }
        OutputFormat::Markdown => {
            // The header states the total, so count first (this pass also reports bad lines).
            let total = for_each_record(file, on_malformed, |_| Ok(()))?.records;
            let mut text = String::new();
            markdown::write_header(&mut text, total, chrono::Utc::now());
            out.write_all(text.as_bytes())?;
            let mut number = 0;
            for_each_record(file, OnMalformed::Ignore, |record| {
                number += 1;
                text.clear();
                markdown::write_interaction(&mut text, number, &record);
                out.write_all(text.as_bytes())?;
                Ok(())
            })?;
        }
    }
    out.flush()?;
    if let (Some(file), Some(path)) = (file_output, output) {
        file.commit()?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Whether `a` and `b` are the same file, also through symbolic or hard links (false when
/// either does not exist).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(a_meta), Ok(b_meta)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a_meta.dev() == b_meta.dev() && a_meta.ino() == b_meta.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a_meta, b_meta);
        std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
    }
}
