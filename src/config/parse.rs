//! Figment values -> [`Config`], collecting every problem.

use std::path::PathBuf;

use figment::Figment;

use super::error::ConfigIssue;
use super::fields::optional_in;
use super::limits;
use super::reader::{Reader, join};
use super::{Config, Provenance, TracingConfig, exporters, providers};
use crate::Metadata;

// `proxy` is read by `crate::proxy::ProxyConfig`, not here.
const SECTIONS: &[&str] = &[
    "provider",
    "tracing",
    "metadata",
    "exporters",
    "prices",
    "proxy",
    "layers",
    "redact",
    "sample",
];

pub(super) fn parse(figment: &Figment, file: Option<PathBuf>) -> Result<Config, Vec<ConfigIssue>> {
    let mut reader = Reader::new(figment);
    let mut config = read(&mut reader)?;
    if reader.issues.is_empty() {
        config.provenance = Provenance {
            file,
            origins: reader.origins,
        };
        Ok(config)
    } else {
        Err(reader.issues)
    }
}

/// Reads everything; `Err` only when the sources themselves cannot be read (TOML syntax).
pub(super) fn read(reader: &mut Reader<'_>) -> Result<Config, Vec<ConfigIssue>> {
    let root = reader.load()?;
    let unknown: Vec<String> = (root.keys())
        .filter(|k| !SECTIONS.contains(&k.as_str()))
        .cloned()
        .collect();
    for section in &unknown {
        reader.issue(
            &join("", section),
            format!(
                "unknown section {section:?}; expected one of {}",
                SECTIONS.join(", ")
            ),
        );
    }
    let provider = providers::read(reader);
    let tracing = tracing(reader);
    let metadata = metadata(reader);
    let exporters = exporters::read(reader);
    let prices = super::prices::read(reader);
    let layers = super::layers::read(reader, &metadata).unwrap_or_default();
    Ok(Config {
        provider: provider.unwrap_or_else(|| Config::default().provider),
        tracing,
        metadata,
        exporters,
        prices,
        redact: super::redact::read(reader),
        sample: super::sample::read(reader),
        layers,
        provenance: Provenance::default(),
    })
}

fn tracing(reader: &mut Reader<'_>) -> TracingConfig {
    let defaults = TracingConfig::default();
    let mut table = reader.table("tracing");
    let config = TracingConfig {
        enabled: table.get("enabled").unwrap_or(defaults.enabled),
        max_traces: table.int_in(
            "max_traces",
            0,
            limits::MAX_TRACES,
            defaults.max_traces as u64,
        ) as usize,
        max_bytes: optional_in(&mut table, "max_bytes", limits::MAX_BYTES),
        max_age_ms: optional_in(&mut table, "max_age_ms", limits::MAX_AGE_MS),
        verbatim: table.get("verbatim").unwrap_or(defaults.verbatim),
        events: table.get("events").unwrap_or(defaults.events),
    };
    table.finish("in [tracing]");
    config
}

fn metadata(reader: &mut Reader<'_>) -> Metadata {
    let mut table = reader.table("metadata");
    let mut metadata = Metadata::new();
    for key in table.keys() {
        if let Some(value) = table.get::<serde_json::Value>(&key) {
            metadata.insert(key, value);
        }
    }
    table.finish("in [metadata]");
    metadata
}
