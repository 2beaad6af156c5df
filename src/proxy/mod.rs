//! `llmtrace proxy`: an OpenAI- and Anthropic-compatible HTTP gateway in front of traced
//! [`Client`]s, so programs in any language are traced by changing one base URL.
//!
//! It serves `POST /v1/chat/completions` (OpenAI), `POST /v1/messages` (Anthropic),
//! `GET /v1/models` and `GET /health`. Each request is translated into a [`GenerateRequest`]
//! and sent through the client's whole stack, and the answer (or each streamed chunk, as it
//! arrives) is translated back into the caller's wire format.
//!
//! - Routing: the client for the request's `model` from [`Proxy::route`], else the default.
//! - Trace metadata from request headers: `x-llmtrace-session-id`, `x-llmtrace-step-type`,
//!   `x-llmtrace-attempt`, `x-llmtrace-metadata-<key>`; plus `requested_model`.
//! - Parameters our request type has no field for (`tool_choice`, `n`, penalties...) are
//!   sent upstream as written, and traced with the others, when the upstream provider speaks
//!   the client's API; to another provider (an OpenAI request routed to Anthropic) they are
//!   not sent, and are traced as `unforwarded_parameters` metadata.
//! - Every traced response carries `x-llmtrace-trace-id`, errors included.
//! - With [`Proxy::ui`] (`[proxy] ui = true`), the trace viewer's pages and API
//!   ([`ui::router`](crate::ui::router)) on the same port, loopback only.
//! - Errors come back in the caller's API's shape with the upstream's status.
//!
//! ```no_run
//! use llmtrace::Client;
//! use llmtrace::proxy::Proxy;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy = Proxy::new(Client::builder().build()).client_key("s3cret");
//! let listener = proxy.bind("127.0.0.1:4000".parse()?).await?;
//! proxy.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod anthropic;
mod api;
mod config;
mod openai;
mod server;

pub use config::ProxyConfig;
pub use server::TRACE_ID_HEADER;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::Client;
#[cfg(doc)]
use crate::GenerateRequest;
use crate::config::{Config, ConfigError};
use crate::exporter::{SqliteStore, StoreError};

/// Why the proxy cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The `[proxy]` section is invalid.
    #[error("invalid [proxy] section{}: {message}", file.as_ref().map(|f| format!(" in {}", f.display())).unwrap_or_default())]
    Config {
        /// The file it was read from.
        file: Option<PathBuf>,
        /// What is wrong, with the key.
        message: String,
    },
    /// A configuration (the main one or a route's) cannot be loaded or built.
    #[error("cannot build the stack for {what}")]
    Stack {
        /// `the default` or `route "<model>"`.
        what: String,
        /// The problems.
        #[source]
        source: ConfigError,
    },
    /// The variable named by `client_key_env` is not set or empty.
    #[error("proxy.client_key_env names {0}, which is not set or empty")]
    MissingClientKey(String),
    /// Listening beyond loopback without a client key would make an open relay.
    #[error(
        "refusing to listen on {0} without a client key: set proxy.client_key_env, or listen on a loopback address"
    )]
    OpenRelay(SocketAddr),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The viewer has no login: serving it beyond loopback would publish every trace.
    #[error(
        "refusing to serve the trace viewer (proxy.ui) on {0}: it has no login; listen on a loopback address"
    )]
    UiBeyondLoopback(SocketAddr),
    /// `proxy.ui` is set but the main configuration has no `sqlite` exporter to show.
    #[error("proxy.ui needs a sqlite exporter in {0}")]
    UiWithoutStore(PathBuf),
    /// The viewer's database cannot be opened.
    #[error("cannot open the trace viewer's database")]
    UiStore(#[source] StoreError),
    /// The server failed while serving.
    #[error("the proxy server failed")]
    Serve(#[source] std::io::Error),
}

/// The gateway: its clients and who may use them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

#[derive(Debug, Clone)]
struct Shared {
    default: Client,
    routes: HashMap<String, Client>,
    client_key: Option<String>,
    max_body_bytes: usize,
    shutdown_timeout: Duration,
    ui: Option<SqliteStore>,
}

impl Proxy {
    /// A proxy sending every model to `default`, open to anyone who can reach it (see
    /// [`client_key`](Self::client_key)), with the [`ProxyConfig`] defaults.
    pub fn new(default: Client) -> Self {
        let defaults = ProxyConfig::default();
        Self {
            shared: Arc::new(Shared {
                default,
                routes: HashMap::new(),
                client_key: None,
                max_body_bytes: defaults.max_body_bytes,
                shutdown_timeout: Duration::from_millis(defaults.shutdown_timeout_ms),
                ui: None,
            }),
        }
    }

    /// The proxy `config` and the file it came from describe: the file's own stack as the
    /// default, one stack per route, and the client key read from the environment.
    ///
    /// # Errors
    /// A stack that cannot be built, or a client key variable that is not set.
    pub fn from_config(default: Client, config: &ProxyConfig) -> Result<Self, ProxyError> {
        let mut proxy = Self::new(default)
            .max_body_bytes(config.max_body_bytes)
            .shutdown_timeout(Duration::from_millis(config.shutdown_timeout_ms));
        if let Some(var) = &config.client_key_env {
            let key = std::env::var(var)
                .ok()
                .filter(|key| !key.is_empty())
                .ok_or_else(|| ProxyError::MissingClientKey(var.clone()))?;
            proxy = proxy.client_key(key);
        }
        for (model, path) in &config.routes {
            let client = Client::from_config(path).map_err(|source| ProxyError::Stack {
                what: format!("route {model:?}"),
                source,
            })?;
            proxy = proxy.route(model.clone(), client);
        }
        Ok(proxy)
    }

    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Sends requests for `model` to `client`.
    pub fn route(mut self, model: impl Into<String>, client: Client) -> Self {
        self.shared_mut().routes.insert(model.into(), client);
        self
    }

    /// Requires clients to send `key` (`Authorization: Bearer <key>` or `x-api-key: <key>`).
    pub fn client_key(mut self, key: impl Into<String>) -> Self {
        self.shared_mut().client_key = Some(key.into());
        self
    }

    /// Largest request body accepted; larger ones get a 413.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.shared_mut().max_body_bytes = bytes;
        self
    }

    /// How long in-flight requests may run after shutdown starts.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shared_mut().shutdown_timeout = timeout;
        self
    }

    /// Also serves the trace viewer over `store` (its pages at `/`, its API at `/api/...`).
    pub fn ui(mut self, store: SqliteStore) -> Self {
        self.shared_mut().ui = Some(store);
        self
    }

    /// The HTTP routes, to serve or to nest in another axum application.
    pub fn router(&self) -> axum::Router {
        let router = server::router(self.shared.clone());
        match &self.shared.ui {
            Some(store) => router.merge(crate::ui::router(store.clone())),
            None => router,
        }
    }

    /// Binds `addr`, refusing a non-loopback address when no client key is set or the viewer
    /// is served.
    ///
    /// # Errors
    /// [`ProxyError::OpenRelay`], [`ProxyError::UiBeyondLoopback`] or [`ProxyError::Bind`].
    pub async fn bind(&self, addr: SocketAddr) -> Result<TcpListener, ProxyError> {
        if self.shared.client_key.is_none() && !addr.ip().is_loopback() {
            return Err(ProxyError::OpenRelay(addr));
        }
        if self.shared.ui.is_some() && !addr.ip().is_loopback() {
            return Err(ProxyError::UiBeyondLoopback(addr));
        }
        TcpListener::bind(addr)
            .await
            .map_err(|source| ProxyError::Bind { addr, source })
    }

    /// Serves until `shutdown` completes, then stops accepting, gives in-flight requests up to
    /// the shutdown timeout, and flushes every client's exporters.
    ///
    /// # Errors
    /// [`ProxyError::Serve`] when the server fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ProxyError> {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = started_tx.send(());
        };
        // Each streamed event must leave when it is written: with Nagle's algorithm a small
        // write waits for the client to acknowledge the previous one, and clients delay
        // their acknowledgements (up to 40 ms on Linux).
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(target: "llmtrace", %error, "proxy: cannot set TCP_NODELAY");
            }
        });
        let server = axum::serve(listener, self.router()).with_graceful_shutdown(signal);
        let drained = async {
            // Once shutdown starts, in-flight requests get a bounded time to finish.
            if started_rx.await.is_ok() {
                tokio::time::sleep(self.shared.shutdown_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = server => result.map_err(ProxyError::Serve),
            () = drained => {
                tracing::warn!(target: "llmtrace", "proxy: in-flight requests still running at the shutdown timeout; dropping them");
                Ok(())
            }
        };
        for client in self.clients() {
            client.shutdown().await;
        }
        result
    }

    /// The default client and every routed one.
    pub fn clients(&self) -> Vec<Client> {
        std::iter::once(self.shared.default.clone())
            .chain(self.shared.routes.values().cloned())
            .collect()
    }
}

/// The store `proxy.ui` shows: the first `sqlite` exporter of the configuration `file`.
///
/// # Errors
/// [`ProxyError::Stack`] when the file cannot be loaded, [`ProxyError::UiWithoutStore`] when
/// it has no `sqlite` exporter, [`ProxyError::UiStore`] when the database cannot be opened.
pub fn ui_store(file: &Path) -> Result<SqliteStore, ProxyError> {
    let config = Config::load(Some(file)).map_err(|source| ProxyError::Stack {
        what: "the default".to_owned(),
        source,
    })?;
    SqliteStore::from_config(&config)
        .map_err(ProxyError::UiStore)?
        .ok_or_else(|| ProxyError::UiWithoutStore(file.to_owned()))
}
