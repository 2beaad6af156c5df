//! `[[layers]]`: the request path, outermost first, each layer a `type` and its options.
//!
//! The layers' [`Registry`], like the providers' and the exporters': `LAYERS` maps each `type`
//! to the function that reads its options into a [`LayerSpec`]. A new layer type is one row
//! there (and its `LayerSpec` variant); there is no fallback arm.

use std::time::Duration;

use serde_json::json;

use super::error::ConfigIssue;
use super::limits;
use super::reader::{Reader, Table};
use super::registry::{Registration, Registry};
use super::{Config, validate};
use crate::Metadata;
use crate::layer::{
    ConcurrencyLimitSpec, LayerSpec, RateLimitSpec, RetrySpec, SessionSpec, Stack, TimeoutSpec,
};

/// Every layer type a configuration may list: each `type` and the reader of its options.
static LAYERS: Registry<LayerSpec> = Registry {
    kind: "layer",
    entries: &[
        Registration {
            name: "session",
            read: |table| session(table).map(Box::new),
        },
        Registration {
            name: "metadata",
            read: |table| metadata(table).map(Box::new),
        },
        Registration {
            name: "trace",
            read: |_| Some(Box::new(LayerSpec::Trace)),
        },
        Registration {
            name: "timeout",
            read: |table| timeout(table).map(Box::new),
        },
        Registration {
            name: "retry",
            read: |table| retry(table).map(Box::new),
        },
        Registration {
            name: "concurrency_limit",
            read: |table| concurrency_limit(table).map(Box::new),
        },
        Registration {
            name: "rate_limit",
            read: |table| rate_limit(table).map(Box::new),
        },
    ],
};

/// Reads `[[layers]]`; `metadata` is `[metadata]`, the short form, which may not be used
/// together with a `metadata` layer.
pub(super) fn read(reader: &mut Reader<'_>, metadata: &Metadata) -> Option<Vec<LayerSpec>> {
    let items = reader.tables("layers");
    if items.is_empty() {
        return None;
    }
    let mut layers = Vec::new();
    let mut trace_at = None;
    for (path, item) in items {
        let mut table = reader.item(&path, item);
        let Some(registration) = LAYERS.lookup(&mut table, None) else {
            continue;
        };
        let kind = registration.name;
        let layer = (registration.read)(&mut table).map(|layer| *layer);
        let misplaced = match &layer {
            Some(LayerSpec::Trace) if trace_at.is_some() => Some(format!(
                "a second trace layer; the first is {}",
                trace_at.as_deref().unwrap_or_default()
            )),
            Some(LayerSpec::Trace) => {
                trace_at = Some(path.clone());
                None
            }
            Some(LayerSpec::Session(_) | LayerSpec::Metadata(_)) if trace_at.is_some() => {
                Some(format!(
                    "a {kind} layer must be listed before the trace layer ({}): it adds to the \
                     trace's metadata, which the trace layer takes",
                    trace_at.as_deref().unwrap_or_default()
                ))
            }
            Some(LayerSpec::Metadata(_)) if !metadata.is_empty() => Some(
                "[metadata] and a metadata layer both set metadata; move the [metadata] keys \
                 into the layer's `values`"
                    .to_owned(),
            ),
            _ => None,
        };
        if let Some(message) = misplaced {
            table.issue("type", message);
        }
        table.finish(&format!("for layer type {kind:?}"));
        layers.extend(layer);
    }
    Some(layers)
}

impl Config {
    /// The request path this configuration builds, outermost first, ending at the provider:
    /// `[[layers]]` (or the default `metadata -> trace`) with `[metadata]` and
    /// `[tracing] enabled` applied. Its `Display` is what `llmtrace check-config` prints.
    pub fn stack(&self) -> Stack {
        // Every provider's options name its `model`, a plugin's its `path`.
        let options = self.provider.to_json();
        let what = (options.get("model").or_else(|| options.get("path")))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let provider = format!("{}({what})", self.provider.type_name());
        let layers = (!self.layers.is_empty()).then(|| self.layers.clone());
        Stack::effective(layers, &self.metadata, self.tracing.enabled, provider)
    }

    /// What can only be checked when the stack is built (a session variable that is not set).
    pub(super) fn check_layers(&self) -> Vec<ConfigIssue> {
        let unset = |(i, layer): (usize, &LayerSpec)| match layer {
            LayerSpec::Session(spec) => spec.resolve().err().map(|var| {
                let message = format!("environment variable {var} is not set");
                self.provenance.issue(format!("layers[{i}].env"), message)
            }),
            _ => None,
        };
        self.layers.iter().enumerate().filter_map(unset).collect()
    }
}

/// `layer` as its `[[layers]]` table, `type` first: what [`read`] reads back into it.
pub(super) fn table(layer: &LayerSpec) -> serde_json::Value {
    let millis = |d: Duration| d.as_millis() as u64;
    let options = match layer {
        LayerSpec::Session(SessionSpec::Id(id)) => json!({ "id": id }),
        LayerSpec::Session(SessionSpec::Env(var)) => json!({ "env": var }),
        LayerSpec::Metadata(values) => json!({ "values": values }),
        LayerSpec::Trace => json!({}),
        LayerSpec::Timeout(spec) => json!({ "timeout_ms": millis(spec.timeout) }),
        LayerSpec::Retry(spec) => json!({
            "attempts": spec.attempts,
            "initial_backoff_ms": millis(spec.initial_backoff),
            "max_backoff_ms": millis(spec.max_backoff),
            "jitter": spec.jitter,
        }),
        LayerSpec::ConcurrencyLimit(spec) => json!({ "max_concurrency": spec.max_concurrency }),
        LayerSpec::RateLimit(spec) => {
            json!({ "requests": spec.requests, "per_ms": millis(spec.per) })
        }
    };
    let mut table = serde_json::Map::from_iter([("type".to_owned(), json!(layer.type_name()))]);
    table.extend(options.as_object().cloned().unwrap_or_default());
    serde_json::Value::Object(table)
}

/// `id = "..."` or `env = "VARIABLE"`, exactly one.
fn session(table: &mut Table<'_, '_>) -> Option<LayerSpec> {
    let id = table.get::<String>("id");
    let env = table.get::<String>("env");
    let env = table.checked("env", env, validate::env_name);
    let env = table.checked("env", env, not_an_override);
    match (id, env) {
        (Some(id), None) if id.is_empty() => {
            table.issue("id", "must not be empty");
            None
        }
        (Some(id), None) => Some(LayerSpec::Session(SessionSpec::Id(id))),
        (None, Some(var)) => Some(LayerSpec::Session(SessionSpec::Env(var))),
        (Some(_), Some(_)) => {
            table.issue("env", "set either `id` or `env`, not both");
            None
        }
        (None, None) => {
            let message = "missing `id` (a session id) or `env` (a variable holding one)";
            table.issue("id", message);
            None
        }
    }
}

/// A session variable named `LLMTRACE_*` would also be read as a configuration override (and
/// refused as an unknown section), so it is refused here, where the reason can be given.
fn not_an_override(var: &str) -> Result<(), String> {
    match var.starts_with(super::reader::ENV_PREFIX) {
        true => Err(format!(
            "{var} is read as a configuration override ({}* variables are); name another \
             variable, such as APP_SESSION",
            super::reader::ENV_PREFIX
        )),
        false => Ok(()),
    }
}

/// `values = { key = value, ... }`.
fn metadata(table: &mut Table<'_, '_>) -> Option<LayerSpec> {
    let values = table.required::<Metadata>("values", "the metadata entries to add")?;
    Some(LayerSpec::Metadata(values))
}

/// `timeout_ms`.
fn timeout(table: &mut Table<'_, '_>) -> Option<LayerSpec> {
    let before = table.problems();
    table.required::<i64>("timeout_ms", "how long one call may take")?;
    let timeout_ms = table.int_in("timeout_ms", 1, limits::MILLIS, 0);
    (table.problems() == before)
        .then(|| LayerSpec::Timeout(TimeoutSpec::new(Duration::from_millis(timeout_ms))))
}

/// `attempts`, `initial_backoff_ms`, `max_backoff_ms`, `jitter`.
fn retry(table: &mut Table<'_, '_>) -> Option<LayerSpec> {
    let defaults = RetrySpec::new(3);
    let attempts = table.int_in("attempts", 1, limits::MAX_RETRIES + 1, 3) as u32;
    let millis = |table: &mut Table<'_, '_>, key: &str, default: Duration| {
        Duration::from_millis(table.int_in(key, 1, limits::MILLIS, default.as_millis() as u64))
    };
    let initial = millis(table, "initial_backoff_ms", defaults.initial_backoff);
    let max = millis(table, "max_backoff_ms", defaults.max_backoff);
    let jitter = table.get("jitter").unwrap_or(defaults.jitter);
    Some(LayerSpec::Retry(
        RetrySpec::new(attempts)
            .initial_backoff(initial)
            .max_backoff(max)
            .jitter(jitter),
    ))
}

/// `max_concurrency`.
fn concurrency_limit(table: &mut Table<'_, '_>) -> Option<LayerSpec> {
    let before = table.problems();
    table.required::<i64>("max_concurrency", "calls in flight at most")?;
    let max = table.int_in("max_concurrency", 1, limits::MAX_CONCURRENCY, 1) as usize;
    (table.problems() == before)
        .then(|| LayerSpec::ConcurrencyLimit(ConcurrencyLimitSpec::new(max)))
}

/// `requests` per `per_ms`.
fn rate_limit(table: &mut Table<'_, '_>) -> Option<LayerSpec> {
    let before = table.problems();
    table.required::<i64>("requests", "calls allowed per window")?;
    table.required::<i64>("per_ms", "the window, in milliseconds")?;
    let requests = table.int_in("requests", 1, limits::RATE_REQUESTS, 1);
    let per_ms = table.int_in("per_ms", 1, limits::MILLIS, 1);
    (table.problems() == before)
        .then(|| LayerSpec::RateLimit(RateLimitSpec::new(requests, Duration::from_millis(per_ms))))
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::super::reader::Reader;
    use super::LAYERS;

    const LAYERS_TOML: &str = include_str!("../../config/layers.toml");

    /// `config/layers.toml` shows every layer type and every option each one reads.
    #[test]
    fn the_layers_example_documents_every_layer_type_and_option() {
        for name in LAYERS.names() {
            let toml = format!("[[layers]]\ntype = \"{name}\"\n");
            let figment = Figment::from(Toml::string(&toml));
            let mut reader = Reader::new(&figment);
            let _ = super::super::parse::read(&mut reader);
            assert!(
                LAYERS_TOML.contains(&format!("type = \"{name}\"")),
                "layer type {name} is missing from config/layers.toml"
            );
            for key in (reader.asked.iter()).filter_map(|key| key.strip_prefix("layers[0].")) {
                let shown = |prefix: &str| LAYERS_TOML.contains(&format!("\n{prefix}{key} = "));
                assert!(
                    shown("") || shown("# "),
                    "{key} (layer type {name}) is missing from config/layers.toml"
                );
            }
        }
    }
}
