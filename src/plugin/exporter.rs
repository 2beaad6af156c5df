use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use llmtrace_plugin_abi::{self as abi, Bytes};
use serde_json::Value;

use super::instance::Instance;
use super::isolation::{Isolated, Isolation, Op};
use super::loader::{self, ExporterVtable, Vtable};
use super::{PluginError, PluginInfo, PluginKind};
use crate::TraceRecord;
use crate::exporter::{Exporter, ExporterError};

/// An [`Exporter`] implemented by a plugin library.
///
/// Batches are sent as `{"schema": "1.0", "records": [...]}` with records in the trace record
/// format. Each call runs on a blocking thread (`spawn_blocking`), so even a plugin that
/// blocks for long leaves the exporter worker's runtime alone; and like every exporter it
/// runs on its own worker, off the request path.
///
/// A plugin error maps to a [retryable](ExporterError::retryable) or
/// [permanent](ExporterError::permanent) [`ExporterError`] as the plugin's `retryable` flag
/// says. A panic poisons the instance: it is logged once (`tracing::error!`), and this call and
/// every later one fail with a permanent error naming the plugin.
///
/// ```no_run
/// use llmtrace::exporter::{ExporterOptions, ExporterSink};
/// use llmtrace::plugin::PluginExporter;
/// use serde_json::json;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let csv = PluginExporter::load(
///     "target/debug/libllmtrace_csv_exporter.so".as_ref(),
///     json!({ "path": "traces/traces.csv" }),
/// )?;
/// let exporters = ExporterSink::builder()
///     .exporter("csv", csv, ExporterOptions::default())
///     .build()?;
/// # let _ = exporters;
/// # Ok(())
/// # }
/// ```
pub struct PluginExporter {
    backend: Backend,
}

enum Backend {
    InProcess {
        instance: Arc<Instance>,
        vtable: ExporterVtable,
    },
    Isolated(Arc<Isolated>),
}

impl PluginExporter {
    /// Loads the exporter plugin at `path` and creates an instance with `options` (passed to
    /// the plugin as JSON). Blocking: it opens the library and runs the plugin's `create`.
    ///
    /// # Errors
    /// When the library is not a compatible exporter plugin (see the
    /// [loading checks](super#loading)), or its `create` fails.
    pub fn load(path: &Path, options: Value) -> Result<Self, PluginError> {
        let loaded = loader::load(path, Some(PluginKind::Exporter))?;
        let Vtable::Exporter(vtable) = loaded.vtable else {
            // `load` checked the kind; kept as an error rather than a panic all the same.
            return Err(PluginError::WrongKind {
                path: loaded.info.path.clone(),
                found: loaded.info.kind,
                expected: PluginKind::Exporter,
            });
        };
        let instance = Instance::create(loaded.info, vtable.common, &options)?;
        Ok(PluginExporter {
            backend: Backend::InProcess {
                instance: Arc::new(instance),
                vtable,
            },
        })
    }

    /// Loads the exporter plugin at `path` as [`load`](Self::load) does, in this process or,
    /// with [`Isolation::Process`], in a child process of its own (`llmtrace plugin-host`).
    /// Blocking.
    ///
    /// Isolated, a crash, abort, hang (past the call timeout) or memory blow-up of the plugin
    /// fails only the batch in flight ([`PluginError::Crashed`], a permanent error counted in
    /// the exporter's stats); the next batch goes to a new process, started after a back-off.
    /// A panic restarts the process too, instead of poisoning the instance.
    ///
    /// # Errors
    /// As [`load`](Self::load); isolated, also when the child process cannot be started.
    pub fn load_with(
        path: &Path,
        options: Value,
        isolation: &Isolation,
    ) -> Result<Self, PluginError> {
        match isolation {
            Isolation::InProcess => Self::load(path, options),
            Isolation::Process(settings) => {
                let isolated = Isolated::start(path, PluginKind::Exporter, &options, settings)?;
                Ok(PluginExporter {
                    backend: Backend::Isolated(Arc::new(isolated)),
                })
            }
        }
    }

    /// What the plugin declared about itself.
    pub fn info(&self) -> &PluginInfo {
        match &self.backend {
            Backend::InProcess { instance, .. } => instance.info(),
            Backend::Isolated(isolated) => isolated.info(),
        }
    }

    /// Runs one call: in process on a blocking thread, or in the isolated process as `op`
    /// with `payload`.
    async fn run(
        &self,
        op: Op,
        payload: Vec<u8>,
        call: impl FnOnce(&Instance, ExporterVtable, &[u8]) -> Result<(), PluginError> + Send + 'static,
    ) -> Result<(), ExporterError> {
        let (instance, vtable) = match &self.backend {
            Backend::InProcess { instance, vtable } => (instance.clone(), *vtable),
            Backend::Isolated(isolated) => {
                return isolated
                    .call(op, payload)
                    .await
                    .map(drop)
                    .map_err(exporter_error);
            }
        };
        match tokio::task::spawn_blocking(move || call(&instance, vtable, &payload)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(exporter_error(error)),
            Err(join) => Err(ExporterError::permanent(format!(
                "plugin {} did not complete its call: {join}",
                self.info().name
            ))),
        }
    }
}

#[async_trait]
impl Exporter for PluginExporter {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        let records: Vec<&TraceRecord> = batch.iter().map(|record| &**record).collect();
        let payload = serde_json::to_vec(&abi::ExportBatch::new(records)).map_err(|error| {
            ExporterError::permanent(format!("cannot serialize the batch: {error}"))
                .with_source(error)
        })?;
        self.run(Op::Export, payload, |instance, vtable, payload| {
            instance.call(|raw, err| {
                // SAFETY: `export` is this exporter plugin's, checked non-null when loading;
                // `raw` is a live instance used by this call only; `payload` outlives the
                // call; `err` is a valid place for an error buffer.
                unsafe { (vtable.export)(raw, Bytes::borrowed(payload), err) }
            })
        })
        .await
    }

    async fn flush(&mut self) -> Result<(), ExporterError> {
        self.run(Op::Flush, Vec::new(), |instance, vtable, _| {
            instance.call(|raw, err| {
                // SAFETY: as in `export`, for `flush`.
                unsafe { (vtable.flush)(raw, err) }
            })
        })
        .await
    }
}

/// Retryable when the plugin says so; permanent otherwise (panics, protocol errors).
fn exporter_error(error: PluginError) -> ExporterError {
    let message = error.to_string();
    let exporter_error = if error.is_retryable() {
        ExporterError::retryable(message)
    } else {
        ExporterError::permanent(message)
    };
    exporter_error.with_source(error)
}

impl fmt::Debug for PluginExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginExporter")
            .field("plugin", self.info())
            .finish_non_exhaustive()
    }
}
