//! `[exporters.<name>]`: the exporter registry, the settings every exporter shares (its queue,
//! batches and retries), and the trait each exporter type's options implement.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::error::ConfigIssue;
use super::limits;
use super::reader::{Reader, Table, join};
use super::registry::{Registration, Registry};
use crate::exporter::{
    DEFAULT_BATCH_SIZE, Exporter, ExporterOptions, JsonConfig, JsonlConfig, MarkdownConfig,
    OtlpOptions, Overflow, RetryPolicy, SqliteConfig, StdoutConfig, WebhookConfig,
};
use crate::plugin::PluginExporterConfig;

/// Every exporter type: adding one is its module and one line here.
pub(crate) static EXPORTERS: Registry<dyn ExporterSpec> = Registry {
    kind: "exporter",
    entries: &[
        exporter::<StdoutConfig>(),
        exporter::<JsonlConfig>(),
        exporter::<JsonConfig>(),
        exporter::<MarkdownConfig>(),
        exporter::<WebhookConfig>(),
        exporter::<OtlpOptions>(),
        exporter::<PluginExporterConfig>(),
        exporter::<SqliteConfig>(),
    ],
};

/// The options of one exporter type, as read from its table: what the exporter needs to be
/// built, every value already checked.
///
/// Implemented by each exporter type's options struct ([`JsonlConfig`], [`WebhookConfig`],
/// [`OtlpOptions`], ...); [`ExporterConfig::options`] gets the struct back.
pub trait ExporterSpec: fmt::Debug + Send + Sync + 'static {
    /// The `type` that selects this exporter.
    fn type_name(&self) -> &'static str;

    /// Builds the exporter. Only effectful steps happen here (reading a secret variable,
    /// opening a file, loading a library): everything else was checked when the file was read.
    ///
    /// # Errors
    /// What failed, keyed relative to the exporter's table (`path`, `secret_headers.X`).
    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue>;

    /// The environment variables holding secrets it reads when built: (key relative to its
    /// table, variable name).
    fn secret_vars(&self) -> Vec<(String, String)>;

    /// Replaces values that may be secrets (header values, tokens in URLs), for display.
    fn mask(&mut self);

    /// The options as a JSON object, for display.
    fn to_json(&self) -> serde_json::Value;

    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn ExporterSpec>;

    /// The options struct, to downcast.
    fn as_any(&self) -> &dyn Any;

    /// The `batch_size` a file that sets none gets (at most its `queue_size`).
    fn default_batch_size(&self) -> usize {
        DEFAULT_BATCH_SIZE
    }
}

/// What an exporter type's options struct provides to be registered; [`ExporterSpec`] follows.
pub(crate) trait ExporterComponent:
    Serialize + Clone + fmt::Debug + Send + Sync + 'static
{
    /// The `type` that selects it.
    const TYPE: &'static str;

    /// Reads the exporter's table (its own keys only); `None` when they had problems, which
    /// are recorded in the table.
    fn read(table: &mut Table<'_, '_>) -> Option<Self>;

    /// See [`ExporterSpec::build`].
    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue>;

    /// See [`ExporterSpec::secret_vars`].
    fn secret_vars(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// See [`ExporterSpec::mask`].
    fn mask(&mut self) {}

    /// See [`ExporterSpec::default_batch_size`].
    const BATCH_SIZE: usize = DEFAULT_BATCH_SIZE;
}

impl<T: ExporterComponent> ExporterSpec for T {
    fn type_name(&self) -> &'static str {
        T::TYPE
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        ExporterComponent::build(self)
    }

    fn secret_vars(&self) -> Vec<(String, String)> {
        ExporterComponent::secret_vars(self)
    }

    fn mask(&mut self) {
        ExporterComponent::mask(self);
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn clone_box(&self) -> Box<dyn ExporterSpec> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn default_batch_size(&self) -> usize {
        T::BATCH_SIZE
    }
}

/// The registry line of exporter type `T`.
const fn exporter<T: ExporterComponent>() -> Registration<dyn ExporterSpec> {
    Registration {
        name: T::TYPE,
        read: read_boxed::<T>,
    }
}

fn read_boxed<T: ExporterComponent>(table: &mut Table<'_, '_>) -> Option<Box<dyn ExporterSpec>> {
    T::read(table).map(|options| Box::new(options) as Box<dyn ExporterSpec>)
}

impl dyn ExporterSpec {
    /// The options struct of type `T`, when this is one.
    pub fn options<T: 'static>(&self) -> Option<&T> {
        self.as_any().downcast_ref()
    }
}

impl Clone for Box<dyn ExporterSpec> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// `type` first, then the options.
impl Serialize for dyn ExporterSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::tagged(self.type_name(), self.to_json()).serialize(serializer)
    }
}

/// `[exporters.<name>]`: one exporter and how it is fed.
#[derive(Debug, Clone, Serialize)]
pub struct ExporterConfig {
    /// The exporter's type and its own options.
    #[serde(flatten)]
    pub spec: Box<dyn ExporterSpec>,
    /// Queue capacity.
    pub queue_size: usize,
    /// Records per batch.
    pub batch_size: usize,
    /// Longest wait for a batch to fill.
    pub batch_interval_ms: u64,
    /// Full queue behaviour.
    pub overflow: Overflow,
    /// Retries of retryable failures.
    pub max_retries: u32,
    /// First retry delay, doubled each retry.
    pub retry_initial_backoff_ms: u64,
    /// Longest retry delay.
    pub retry_max_backoff_ms: u64,
    /// Longest wait at shutdown for this exporter's queue; what is left is dropped.
    pub shutdown_timeout_ms: u64,
    /// Which records it is sent (`sample = { ratio = 0.05 }`); `[sample]`, else all, when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<super::SampleConfig>,
}

/// Equal when they read the same: same type, options and settings.
impl PartialEq for ExporterConfig {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

impl ExporterConfig {
    /// The `type` of the exporter.
    pub fn type_name(&self) -> &'static str {
        self.spec.type_name()
    }

    /// The exporter's options struct ([`JsonlConfig`], [`OtlpOptions`], ...), when it is a `T`.
    pub fn options<T: 'static>(&self) -> Option<&T> {
        self.spec.options()
    }

    /// The queue, batching and retry settings of its worker.
    pub fn worker_options(&self) -> ExporterOptions {
        ExporterOptions {
            queue_size: self.queue_size,
            batch_size: self.batch_size,
            batch_interval: Duration::from_millis(self.batch_interval_ms),
            overflow: self.overflow,
            retry: RetryPolicy {
                max_retries: self.max_retries,
                initial_backoff: Duration::from_millis(self.retry_initial_backoff_ms),
                max_backoff: Duration::from_millis(self.retry_max_backoff_ms),
            },
            shutdown_timeout: Duration::from_millis(self.shutdown_timeout_ms),
        }
    }
}

/// Reads every `[exporters.<name>]` table.
pub(super) fn read(reader: &mut Reader<'_>) -> BTreeMap<String, ExporterConfig> {
    let names = reader.table("exporters").keys();
    let mut exporters = BTreeMap::new();
    for name in names {
        let key = join("exporters", &name);
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid_name {
            reader.issue(
                &key,
                format!("exporter name {name:?} must be lowercase letters, digits, '_' or '-' (so environment variables can override it)"),
            );
            continue;
        }
        let mut table = reader.table(&key);
        // An unknown type's keys cannot be judged: its table is left at that.
        let Some(registration) = EXPORTERS.lookup(&mut table, None) else {
            continue;
        };
        let spec = (registration.read)(&mut table);
        // The shared settings are checked even when the type's own had problems.
        let exporter = shared(&mut table, spec);
        table.finish(&format!("for exporter type {:?}", registration.name));
        if let Some(exporter) = exporter {
            exporters.insert(name, exporter);
        }
    }
    exporters
}

/// The settings every exporter has, around its `spec` (`None` when it had problems).
fn shared(
    table: &mut Table<'_, '_>,
    spec: Option<Box<dyn ExporterSpec>>,
) -> Option<ExporterConfig> {
    let defaults = ExporterOptions::default();
    let overflow = match table.choice("overflow", &["auto", "drop", "wait"], "auto") {
        Some("wait") => Overflow::Wait,
        Some("drop") => Overflow::Drop,
        _ => Overflow::Auto,
    };
    let problems = table.problems();
    let queue_size = table.int_in(
        "queue_size",
        1,
        limits::QUEUE_SIZE,
        defaults.queue_size as u64,
    );
    // The type's own default, never more than the queue holds.
    let default_batch = (spec.as_deref())
        .map_or(defaults.batch_size, |spec| spec.default_batch_size())
        .min(queue_size as usize);
    let mut batch_size = table.int_in("batch_size", 1, limits::BATCH_SIZE, default_batch as u64);
    // Compared only with a queue_size that was valid, not with the default put in its place.
    if batch_size > queue_size && table.problems() == problems {
        // A batch larger than the queue could never fill.
        table.issue(
            "batch_size",
            format!("must be at most queue_size ({queue_size}), found {batch_size}"),
        );
        batch_size = queue_size;
    }
    let millis = |table: &mut Table<'_, '_>, key: &str, default: Duration| {
        table.int_in(key, 1, limits::MILLIS, default.as_millis() as u64)
    };
    Some(ExporterConfig {
        queue_size: queue_size as usize,
        batch_size: batch_size as usize,
        batch_interval_ms: millis(table, "batch_interval_ms", defaults.batch_interval),
        overflow,
        // At most MAX_RETRIES, so the cast cannot truncate.
        max_retries: table.int_in(
            "max_retries",
            0,
            limits::MAX_RETRIES,
            u64::from(defaults.retry.max_retries),
        ) as u32,
        retry_initial_backoff_ms: millis(
            table,
            "retry_initial_backoff_ms",
            defaults.retry.initial_backoff,
        ),
        retry_max_backoff_ms: millis(table, "retry_max_backoff_ms", defaults.retry.max_backoff),
        shutdown_timeout_ms: millis(table, "shutdown_timeout_ms", defaults.shutdown_timeout),
        sample: super::sample::read_in(table),
        spec: spec?,
    })
}
