//! `llmtrace ui [FILE] [--db traces.db] [--listen ADDR]`: serve the trace viewer.

use std::io::Write;
use std::path::PathBuf;

use llmtrace::BoxError;
use llmtrace::exporter::{PromptKeys, SqliteStore};

/// Arguments of `llmtrace ui`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A trace file (JSONL or JSON array) to show: it is imported into a temporary database.
    #[arg(conflicts_with = "db", required_unless_present = "db")]
    file: Option<PathBuf>,
    /// The SQLite trace database to show (written by a `sqlite` exporter or `llmtrace import`).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = llmtrace::ui::DEFAULT_LISTEN)]
    listen: String,
    /// Metadata key naming a trace's prompt (filters and the summary's prompt versions).
    #[arg(long, default_value = "prompt_name")]
    prompt_name_key: String,
    /// Metadata key of the prompt's version.
    #[arg(long, default_value = "prompt_version")]
    prompt_version_key: String,
}

pub(crate) async fn run(args: Args) -> Result<(), BoxError> {
    // Kept alive while serving: the temporary database of a file.
    let mut _temp = None;
    let db = match (args.db, args.file) {
        (Some(db), _) => db,
        (None, Some(file)) => {
            let dir = tempfile::tempdir()?;
            let db = dir.path().join("traces.db");
            let (import_db, import_file) = (db.clone(), file.clone());
            tokio::task::spawn_blocking(move || {
                crate::import::import(&[import_file], &import_db, false)
            })
            .await
            .map_err(|e| e.to_string())??;
            _temp = Some(dir);
            db
        }
        (None, None) => unreachable!("clap requires a file or --db"),
    };
    let keys = PromptKeys {
        name: args.prompt_name_key,
        version: args.prompt_version_key,
    };
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(db))
        .await
        .map_err(|e| e.to_string())??
        .with_prompt_keys(keys);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    // On stdout, one line: scripts (and tests) read the address from it.
    let mut out = std::io::stdout();
    writeln!(out, "llmtrace ui: serving http://{address}/")?;
    out.flush()?;
    tokio::select! {
        served = llmtrace::ui::serve(listener, store) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
