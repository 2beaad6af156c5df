//! `llmtrace summarize FILE.jsonl`

use std::path::Path;

use llmtrace::BoxError;
use llmtrace::export::Summarizer;

use crate::read::{OnMalformed, for_each_record};
use crate::summary::print_summary;

pub(crate) fn run(file: &Path, json: bool, strict: bool) -> Result<(), BoxError> {
    let mut summarizer = Summarizer::default();
    for_each_record(file, OnMalformed::from_strict(strict), |record| {
        summarizer.add(&record);
        Ok(())
    })?;
    let summary = summarizer.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}
