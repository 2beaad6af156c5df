//! The `llmtrace` command line: run traced generations, and read trace files back.

mod demo;
mod plugin;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Complete, programmatic observability of every LLM interaction.
///
/// Without a command, runs the demo: a short traced workflow on the built-in echo provider
/// (no network, no API key).
#[derive(Debug, Parser)]
#[command(name = "llmtrace", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a short traced code-generation workflow on the built-in echo provider, print a
    /// summary and write the traces to files.
    Demo {
        /// Directory the trace files are written to.
        #[arg(long, default_value = "llmtrace-traces")]
        out_dir: PathBuf,
    },
    /// Inspect plugin libraries.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo {
        out_dir: PathBuf::from("llmtrace-traces"),
    }) {
        Command::Demo { out_dir } => demo::run(&out_dir).await,
        Command::Plugin { command } => plugin::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&*error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
