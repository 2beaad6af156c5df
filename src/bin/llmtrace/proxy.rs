//! `llmtrace proxy`: serve the configured stack as an OpenAI- and Anthropic-compatible gateway.

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;

use llmtrace::Client;
use llmtrace::proxy::{Proxy, ProxyConfig, ProxyError};

/// `llmtrace proxy` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration file: the stack every request goes through, and its `[proxy]` section.
    #[arg(short, long)]
    config: PathBuf,
    /// Listen here instead of at `proxy.listen` (default 127.0.0.1:4000).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

/// Serves until SIGINT/SIGTERM (Ctrl-C), then drains in-flight requests and flushes exporters.
pub(crate) async fn run(args: Args) -> Result<(), Box<dyn Error + Send + Sync>> {
    let config = ProxyConfig::load(&args.config)?;
    let default = Client::from_config(&args.config).map_err(|source| ProxyError::Stack {
        what: "the default".to_owned(),
        source,
    })?;
    let mut proxy = Proxy::from_config(default, &config)?;
    if config.ui {
        // After the client: building it created the database file.
        let file = args.config.clone();
        let store = tokio::task::spawn_blocking(move || llmtrace::proxy::ui_store(&file))
            .await
            .map_err(|e| e.to_string())??;
        proxy = proxy.ui(store);
    }
    let listener = proxy.bind(args.listen.unwrap_or(config.listen)).await?;
    // Scripts and tests read the bound address (the port may have been 0) from this line.
    eprintln!(
        "llmtrace proxy listening on http://{}",
        listener.local_addr()?
    );
    proxy.serve(listener, shutdown_signal()).await?;
    Ok(())
}

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
