//! `llmtrace run [--config FILE] PROMPT`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use llmtrace::config::Config;
use llmtrace::{BoxError, Client, GenerateRequest, ProviderError};
use uuid::Uuid;

/// Exit status when the answer was generated but a configured exporter did not deliver its
/// trace (failed, dropped, or still pending at the shutdown deadline).
const EXPORT_FAILED: u8 = 3;

/// How long the exporters get to deliver after the call ends (or is interrupted).
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Arguments of `llmtrace run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status:
  0    the answer was generated and every exporter delivered its trace
  1    the generation failed (the trace is still exported and the exporters reported)
  3    the answer was generated, but an exporter failed to deliver (see its last error)
  130  interrupted by SIGINT: the call is cancelled, traced as `cancelled`, and exported
  143  terminated by SIGTERM: likewise

Exporters get 10 seconds after the call ends to deliver; a signal meanwhile stops the
wait (traces not yet delivered are lost; exit 130 / 143). Logs go to stderr: set RUST_LOG
(default `warn`) to see more, e.g. RUST_LOG=llmtrace=debug.")]
pub(crate) struct Args {
    /// The prompt.
    prompt: String,
    /// Configuration file; without one, the built-in default (echo provider, no exporters)
    /// plus LLMTRACE_* environment variables.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    /// Stream the answer as it is generated.
    #[arg(long)]
    stream: bool,
    /// Sampling temperature.
    #[arg(long)]
    temperature: Option<f64>,
    /// Most tokens to generate.
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Trace metadata, as KEY=VALUE (repeatable).
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    metadata: Vec<(String, String)>,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, found {text:?}"))
}

/// How the call ended.
enum Ending {
    Done(Result<(), ProviderError>),
    /// A signal arrived first (this is its exit status): the call was dropped, which traces
    /// it as cancelled.
    Signal(u8),
}

/// Runs the call; the exit status is as documented on `Args`. Errors before the call (config,
/// build) and the generation's own error are returned, for `main` to print and exit 1.
pub(crate) async fn run(args: Args) -> Result<ExitCode, BoxError> {
    let config = Config::load(args.config.as_deref())?;
    let client = config.build()?;
    let mut request = GenerateRequest::new(args.prompt);
    request.system_prompt = args.system;
    request.parameters.temperature = args.temperature;
    request.parameters.max_tokens = args.max_tokens;
    for (key, value) in args.metadata {
        request = request.metadata(key, value);
    }

    // Caught from before the call starts, so that no signal during it takes the default
    // action (dying without a trace).
    let mut signals = Signals::install()?;
    let call = async {
        let trace_id = if args.stream {
            stream_answer(&client, request).await?
        } else {
            let response = client.generate(request).await?;
            println!("{}", response.content);
            response.trace_id()
        };
        if let Some(trace) = trace_id.and_then(|id| client.get_trace(&id)) {
            eprintln!(
                "trace {}: {} tokens, {:.2} ms, provider {} model {}",
                trace.trace_id,
                trace.total_tokens(),
                trace.duration_ms(),
                trace.provider,
                trace.model
            );
        }
        Ok(())
    };
    let ending = tokio::select! {
        outcome = call => Ending::Done(outcome),
        (name, status) = signals.next() => {
            let _ = std::io::stdout().flush();
            eprintln!("\n{name}: the call was cancelled; delivering its trace");
            Ending::Signal(status)
        }
    };

    // The trace is recorded (and exported) whether the call worked or not. A (second) signal
    // meanwhile means: stop waiting.
    let (delivered, late_signal) = tokio::select! {
        delivered = shutdown_within(&client, SHUTDOWN_DEADLINE) => (delivered, None),
        (name, status) = signals.next() => {
            eprintln!("{name}: not waiting for the exporters any longer");
            (false, Some(status))
        }
    };
    let all_exported = report_exporters(&client) && delivered;
    let status = match ending {
        Ending::Signal(status) => status,
        Ending::Done(Ok(())) => late_signal.unwrap_or(if all_exported { 0 } else { EXPORT_FAILED }),
        Ending::Done(Err(error)) if delivered && late_signal.is_none() => {
            return Err(error.into());
        }
        Ending::Done(Err(error)) => {
            crate::print_error(&error);
            late_signal.unwrap_or(1)
        }
    };
    Ok(exit(status, delivered))
}

/// The exit status; when exporters are still busy, the process exits here and now, because
/// returning would wait for their threads (the runtime joins them).
fn exit(status: u8, delivered: bool) -> ExitCode {
    if delivered {
        return ExitCode::from(status);
    }
    let _ = std::io::stdout().flush();
    std::process::exit(status.into());
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), caught from the moment they are installed.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal; returns its name and the exit status it calls for.
    async fn next(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.interrupt.recv() => ("SIGINT", 130),
            _ = self.terminate.recv() => ("SIGTERM", 143),
        }
    }
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    /// Waits for the next Ctrl-C; returns its name and the exit status it calls for.
    async fn next(&mut self) -> (&'static str, u8) {
        let _ = tokio::signal::ctrl_c().await;
        ("Ctrl-C", 130)
    }
}

/// Shuts the exporters down; false when they did not finish within `deadline`.
async fn shutdown_within(client: &Client, deadline: Duration) -> bool {
    let delivered = tokio::time::timeout(deadline, client.shutdown())
        .await
        .is_ok();
    if !delivered {
        eprintln!(
            "warning: exporters still busy after {}s; undelivered traces are lost",
            deadline.as_secs()
        );
    }
    delivered
}

/// Prints each exporter's counts and last failure; true when every exporter delivered all it
/// was given (nothing dropped, nothing failed).
fn report_exporters(client: &Client) -> bool {
    let mut all_exported = true;
    for (name, stats) in client.exporter_stats() {
        eprint!(
            "exporter {name}: {} exported, {} dropped, {} failed",
            stats.exported, stats.dropped, stats.failed
        );
        match &stats.last_error {
            Some(error) => eprintln!(" (last error: {error})"),
            None => eprintln!(),
        }
        all_exported &= stats.dropped == 0 && stats.failed == 0;
    }
    all_exported
}

async fn stream_answer(
    client: &Client,
    request: GenerateRequest,
) -> Result<Option<Uuid>, ProviderError> {
    let mut stream = client.stream(request).await?;
    let mut stdout = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        let _ = stdout.write_all(chunk?.content.as_bytes());
        let _ = stdout.flush();
    }
    println!();
    Ok(stream.trace_id())
}
