//! The `llmtrace` command line: run traced generations, and read trace files back.

mod check_config;
mod demo;
mod export;
mod import;
mod plugin;
mod plugin_host;
mod proxy;
mod read;
mod run;
mod stdout;
mod summarize;
mod summary;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

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
    /// Send one prompt through a configured stack; the answer goes to stdout, the trace to the
    /// configured exporters.
    Run(run::Args),
    /// Summarize a trace file: interactions, tokens, time, providers, models, dates.
    Summarize {
        /// The trace file: JSONL (one trace per line) or a JSON array, ours or AbstractCore's.
        file: PathBuf,
        /// Print the summary as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Stop at the first malformed record instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
    /// Convert a trace file to JSON or a Markdown report.
    Export {
        /// The trace file: JSONL (one trace per line) or a JSON array, ours or AbstractCore's.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum)]
        format: OutputFormat,
        /// Write here instead of to stdout (parent directories are created).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Stop at the first malformed record instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
    /// Validate a configuration file and print the effective configuration (file plus
    /// LLMTRACE_* environment), secrets masked.
    CheckConfig {
        /// The TOML file.
        file: PathBuf,
    },
    /// Serve the configured stack as an OpenAI- and Anthropic-compatible HTTP gateway: every
    /// request any client sends is traced.
    Proxy(proxy::Args),
    /// Load trace files (JSONL or JSON arrays) into a SQLite trace database; traces already
    /// there are skipped.
    Import {
        /// The trace files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The database (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Stop at the first malformed record instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
    /// Serve the trace viewer (web page and JSON API) for a database or a trace file.
    Ui(ui::Args),
    /// Inspect plugin libraries.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Run one plugin for a parent llmtrace process (`isolation = "process"`).
    #[command(hide = true)]
    PluginHost(plugin_host::Args),
}

/// Formats `llmtrace export` writes.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// A pretty-printed JSON array.
    Json,
    /// A human-readable report.
    Markdown,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    install_log_subscriber();
    let command = cli.command.unwrap_or(Command::Demo {
        out_dir: PathBuf::from("llmtrace-traces"),
    });
    let result = match command {
        Command::Demo { out_dir } => demo::run(&out_dir).await,
        Command::Run(args) => match run::run(args).await {
            Ok(code) => return code,
            Err(error) => Err(error),
        },
        Command::Summarize { file, json, strict } => summarize::run(&file, json, strict),
        Command::Export {
            file,
            format,
            output,
            strict,
        } => export::run(&file, format, output.as_deref(), strict),
        Command::CheckConfig { file } => check_config::run(&file),
        Command::Plugin { command } => plugin::run(command),
        Command::PluginHost(args) => plugin_host::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Import { files, db, strict } => {
            // SQLite and file reads block: keep them off the runtime's threads.
            tokio::task::spawn_blocking(move || import::run(&files, &db, strict))
                .await
                .unwrap_or_else(|e| Err(e.into()))
        }
        Command::Ui(args) => ui::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if stdout::is_closed_pipe(&*error) => ExitCode::SUCCESS,
        Err(error) => {
            print_error(&*error);
            ExitCode::FAILURE
        }
    }
}

/// Prints `error` and its chain of causes to stderr.
fn print_error(error: &(dyn std::error::Error + 'static)) {
    eprintln!("error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `warn`): the library reports exporter
/// failures and dropped traces through `tracing`, and without a subscriber nobody would see them.
fn install_log_subscriber() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .from_env_lossy();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
