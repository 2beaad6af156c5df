//! `type = "plugin"`, for a provider or an exporter: the options of a plugin component, read
//! from its table, and loaded (the effectful step) when built.

use std::path::PathBuf;
use std::time::Duration;

use super::{Isolation, PluginExporter, PluginProvider, ProcessIsolation};
use crate::ClientBuilder;
use crate::config::reader::Table;
use crate::config::{ConfigIssue, ExporterComponent, ProviderComponent, build_issue, limits};
use crate::exporter::Exporter;

/// Where a plugin runs: `isolation = "in_process"` (the default) or `"process"`, with
/// `memory_limit_mb` and `call_timeout_ms` for the latter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "isolation", rename_all = "snake_case")]
pub enum PluginIsolation {
    /// In the llmtrace process: trusted code, whose crash ends the process.
    InProcess,
    /// In a child process of its own, restarted when it fails.
    Process {
        /// Address-space limit of the child, in MiB.
        #[serde(skip_serializing_if = "Option::is_none")]
        memory_limit_mb: Option<u64>,
        /// How long one call may take before the child is killed.
        call_timeout_ms: u64,
    },
}

impl PluginIsolation {
    /// Reads `isolation`, `memory_limit_mb` and `call_timeout_ms`.
    fn read(table: &mut Table<'_, '_>) -> Self {
        let mode = table.choice("isolation", &["in_process", "process"], "in_process");
        // 0 (the default) is no limit.
        let memory_limit_mb = Some(table.int_in("memory_limit_mb", 1, limits::MEMORY_LIMIT_MB, 0))
            .filter(|&mb| mb > 0);
        let call_timeout_ms = table.int_in(
            "call_timeout_ms",
            1,
            limits::MILLIS,
            ProcessIsolation::DEFAULT_CALL_TIMEOUT.as_millis() as u64,
        );
        if mode == Some("process") {
            PluginIsolation::Process {
                memory_limit_mb,
                call_timeout_ms,
            }
        } else {
            PluginIsolation::InProcess
        }
    }

    /// The plugin loader's [`Isolation`].
    pub fn to_isolation(&self) -> Isolation {
        match self {
            PluginIsolation::InProcess => Isolation::InProcess,
            PluginIsolation::Process {
                memory_limit_mb,
                call_timeout_ms,
            } => Isolation::Process(ProcessIsolation {
                memory_limit_mb: *memory_limit_mb,
                call_timeout: Duration::from_millis(*call_timeout_ms),
                ..Default::default()
            }),
        }
    }
}

/// `[provider] type = "plugin"`: a provider plugin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginProviderConfig {
    /// `path`: the library (required).
    pub path: PathBuf,
    /// `max_concurrency`: calls in flight at most.
    pub max_concurrency: usize,
    /// `options`: passed to the plugin as JSON.
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Where it runs.
    #[serde(flatten)]
    pub isolation: PluginIsolation,
}

impl ProviderComponent for PluginProviderConfig {
    const TYPE: &'static str = "plugin";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let path = table.required::<PathBuf>("path", "the plugin library to load");
        let max_concurrency = table.int_in(
            "max_concurrency",
            1,
            limits::MAX_CONCURRENCY,
            PluginProvider::DEFAULT_MAX_CONCURRENCY as u64,
        ) as usize;
        let options = table.get("options").unwrap_or_default();
        let isolation = PluginIsolation::read(table);
        Some(Self {
            path: path?,
            max_concurrency,
            options,
            isolation,
        })
    }

    fn build(&self, builder: ClientBuilder, _verbatim: bool) -> Result<ClientBuilder, ConfigIssue> {
        let options = serde_json::Value::Object(self.options.clone());
        let provider =
            PluginProvider::load_with(&self.path, options, &self.isolation.to_isolation())
                .map_err(|error| build_issue("path", error.to_string()))?;
        Ok(builder.provider(provider.max_concurrency(self.max_concurrency)))
    }
}

/// `[exporters.<name>] type = "plugin"`: an exporter plugin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginExporterConfig {
    /// `path`: the library (required).
    pub path: PathBuf,
    /// `options`: passed to the plugin as JSON.
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Where it runs.
    #[serde(flatten)]
    pub isolation: PluginIsolation,
}

impl ExporterComponent for PluginExporterConfig {
    const TYPE: &'static str = "plugin";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let path = table.required::<PathBuf>("path", "the plugin library to load");
        let options = table.get("options").unwrap_or_default();
        let isolation = PluginIsolation::read(table);
        Some(Self {
            path: path?,
            options,
            isolation,
        })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        let options = serde_json::Value::Object(self.options.clone());
        let exporter =
            PluginExporter::load_with(&self.path, options, &self.isolation.to_isolation())
                .map_err(|error| build_issue("path", error.to_string()))?;
        Ok(Box::new(exporter))
    }
}
