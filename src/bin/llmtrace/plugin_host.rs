//! `llmtrace plugin-host` (hidden): the child process that runs one isolated plugin for a
//! parent llmtrace, speaking the pipe protocol on stdin/stdout. Not for people to run.

use std::path::PathBuf;

use clap::ValueEnum;
use llmtrace::BoxError;
use llmtrace::plugin::{PluginKind, serve_plugin_host};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What the plugin must be.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Address-space limit of this process, in MiB.
    #[arg(long)]
    memory_limit_mb: Option<u64>,
    /// The plugin library.
    path: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Exporter,
    Provider,
}

pub(crate) async fn run(args: Args) -> Result<(), BoxError> {
    let kind = match args.kind {
        Kind::Exporter => PluginKind::Exporter,
        Kind::Provider => PluginKind::Provider,
    };
    // Plugin calls block: serve them off the async executor.
    tokio::task::spawn_blocking(move || serve_plugin_host(&args.path, kind, args.memory_limit_mb))
        .await??;
    Ok(())
}
