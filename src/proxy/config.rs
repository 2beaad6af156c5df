//! `[proxy]`: where the gateway listens, who may use it, and which upstream serves which model.
//!
//! Read from the same file as the rest of the configuration (plus `LLMTRACE_PROXY__*`
//! environment variables), but kept here so the proxy's keys stay out of the core config.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use super::ProxyError;

/// The `[proxy]` section.
///
/// ```toml
/// [proxy]
/// listen = "127.0.0.1:4000"
/// client_key_env = "PROXY_CLIENT_KEY"
///
/// [proxy.routes]
/// "claude-sonnet-4" = "anthropic.toml"   # another llmtrace config, relative to this file
/// ```
///
/// With `ui = true` the proxy also serves the trace viewer (`llmtrace ui`) on its port, over
/// the main file's `sqlite` exporter; only on a loopback address, as the viewer has no login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Name of the environment variable holding the key clients must send (as
    /// `Authorization: Bearer` or `x-api-key`). Without it, only loopback addresses are allowed.
    pub client_key_env: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_timeout_ms: u64,
    /// Model name -> the configuration file of the stack that serves it. Models not listed go
    /// to the stack of the main file.
    pub routes: BTreeMap<String, PathBuf>,
    /// Serve the trace viewer on the proxy's port (needs a `sqlite` exporter in the main file).
    pub ui: bool,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            client_key_env: None,
            max_body_bytes: 4 * 1024 * 1024,
            shutdown_timeout_ms: 10_000,
            routes: BTreeMap::new(),
            ui: false,
        }
    }
}

impl ProxyConfig {
    /// Reads `[proxy]` from `file`, then `LLMTRACE_PROXY__*` environment variables. Relative
    /// route paths are resolved against the file's directory.
    ///
    /// # Errors
    /// [`ProxyError::Config`] naming the file and the bad key.
    pub fn load(file: &Path) -> Result<Self, ProxyError> {
        let figment = Figment::new()
            .merge(Toml::file_exact(file))
            .merge(Env::prefixed("LLMTRACE_").split("__"))
            .focus("proxy");
        Self::from_figment(&figment, Some(file))
    }

    /// Parses the `[proxy]` section of TOML text (for tests and embedding).
    ///
    /// # Errors
    /// [`ProxyError::Config`] naming the bad key.
    pub fn from_toml_str(toml: &str) -> Result<Self, ProxyError> {
        Self::from_figment(&Figment::from(Toml::string(toml)).focus("proxy"), None)
    }

    fn from_figment(figment: &Figment, file: Option<&Path>) -> Result<Self, ProxyError> {
        let mut config: Self = figment.extract().map_err(|error| ProxyError::Config {
            file: file.map(Path::to_owned),
            message: error.to_string(),
        })?;
        if let Some(dir) = file.and_then(Path::parent) {
            for path in config.routes.values_mut() {
                if path.is_relative() {
                    *path = dir.join(&*path);
                }
            }
        }
        Ok(config)
    }
}
