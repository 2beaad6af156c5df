//! `llmtrace run [--config FILE] PROMPT`

use std::io::Write;
use std::path::PathBuf;

use futures_util::StreamExt;
use llmtrace::config::Config;
use llmtrace::{BoxError, GenerateRequest};

/// Arguments of `llmtrace run`.
#[derive(Debug, clap::Args)]
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

pub(crate) async fn run(args: Args) -> Result<(), BoxError> {
    let config = Config::load(args.config.as_deref())?;
    let client = config.build()?;
    let mut request = GenerateRequest::new(args.prompt);
    request.system_prompt = args.system;
    request.parameters.temperature = args.temperature;
    request.parameters.max_tokens = args.max_tokens;
    for (key, value) in args.metadata {
        request = request.metadata(key, value);
    }

    let outcome = if args.stream {
        stream_answer(&client, request).await
    } else {
        client.generate(request).await.map(|response| {
            println!("{}", response.content);
            response.trace_id()
        })
    };
    // The trace is recorded (and exported) whether the call worked or not.
    client.shutdown().await;
    let trace_id = outcome?;
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
    for (name, stats) in client.exporter_stats() {
        eprintln!(
            "exporter {name}: {} exported, {} dropped, {} failed",
            stats.exported, stats.dropped, stats.failed
        );
    }
    Ok(())
}

async fn stream_answer(
    client: &llmtrace::Client,
    request: GenerateRequest,
) -> Result<Option<uuid::Uuid>, llmtrace::ProviderError> {
    let mut stream = client.stream(request).await?;
    let mut stdout = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        let _ = stdout.write_all(chunk?.content.as_bytes());
        let _ = stdout.flush();
    }
    println!();
    Ok(stream.trace_id())
}
