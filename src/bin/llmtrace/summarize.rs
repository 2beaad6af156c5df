//! `llmtrace summarize FILE.jsonl`

use std::io::{self, BufWriter, Write};
use std::path::Path;

use llmtrace::BoxError;
use llmtrace::report::Summarizer;

use crate::read::{OnMalformed, for_each_record};
use crate::stdout::Stdout;
use crate::summary::write_summary;

pub(crate) fn run(file: &Path, json: bool, strict: bool) -> Result<(), BoxError> {
    let mut summarizer = Summarizer::default();
    for_each_record(file, OnMalformed::from_strict(strict), |record| {
        summarizer.add(&record);
        Ok(())
    })?;
    let summary = summarizer.finish();
    let mut out = BufWriter::new(Stdout::lock());
    if json {
        serde_json::to_writer_pretty(&mut out, &summary).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        write_summary(&mut out, &summary)?;
    }
    out.flush()?;
    Ok(())
}
