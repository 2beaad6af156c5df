//! `llmtrace export FILE.jsonl --format json|markdown [-o OUT]`

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use llmtrace::BoxError;
use llmtrace::export::markdown;

use crate::OutputFormat;
use crate::read::{OnMalformed, for_each_record};
use crate::stdout::Stdout;

pub(crate) fn run(
    file: &Path,
    format: OutputFormat,
    output: Option<&Path>,
    strict: bool,
) -> Result<(), BoxError> {
    let on_malformed = OnMalformed::from_strict(strict);
    let mut out: Box<dyn Write> = match output {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let file =
                File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            Box::new(BufWriter::new(file))
        }
        None => Box::new(BufWriter::new(Stdout::lock())),
    };
    match format {
        OutputFormat::Json => {
            let mut first = true;
            out.write_all(b"[")?;
            for_each_record(file, on_malformed, |record| {
                out.write_all(if first { b"\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut out, &record)?;
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
    if let Some(path) = output {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
