//! `llmtrace import FILE... --db traces.db`: load trace files into a SQLite store.

use std::io::Write;
use std::path::Path;

use llmtrace::BoxError;
use llmtrace::exporter::SqliteExporter;

use crate::read::{OnMalformed, for_each_record};

/// Records per transaction: large batches are what makes SQLite inserts fast.
const BATCH: usize = 1000;

/// Imports every file into `db`; returns (records read, traces new to the store).
pub(crate) fn import(
    files: &[impl AsRef<Path>],
    db: &Path,
    strict: bool,
) -> Result<(u64, u64), BoxError> {
    let mut store = SqliteExporter::new(db).open()?;
    let (mut read, mut inserted) = (0, 0);
    for file in files {
        let mut batch = Vec::with_capacity(BATCH);
        let stats = for_each_record(file.as_ref(), OnMalformed::from_strict(strict), |record| {
            batch.push(record);
            if batch.len() == BATCH {
                inserted += store.insert(&batch)?;
                batch.clear();
            }
            Ok(())
        })?;
        inserted += store.insert(&batch)?;
        read += stats.records as u64;
    }
    Ok((read, inserted))
}

pub(crate) fn run(files: &[impl AsRef<Path>], db: &Path, strict: bool) -> Result<(), BoxError> {
    let (read, inserted) = import(files, db, strict)?;
    let _ = writeln!(
        std::io::stderr(),
        "imported {inserted} new trace(s) of {read} read into {}",
        db.display()
    );
    Ok(())
}
