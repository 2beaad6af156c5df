//! Figment values -> [`Config`], collecting every problem.

use std::collections::BTreeMap;
use std::path::PathBuf;

use figment::Figment;
use figment::value::Value;

use super::error::ConfigIssue;
use super::limits;
use super::reader::{Reader, Table, describe, join};
use super::validate;
use super::{
    Config, ExporterConfig, ExporterKind, HttpProviderConfig, PluginIsolation, ProviderConfig,
    TracingConfig,
};
use crate::Metadata;
use crate::exporter::{ExporterOptions, OtlpOptions, Overflow, StdoutFormat};

pub(super) const PROVIDER_TYPES: &[&str] = &["echo", "openai", "ollama", "anthropic", "plugin"];
pub(super) const EXPORTER_TYPES: &[&str] = &[
    "stdout", "jsonl", "json", "markdown", "webhook", "otlp", "plugin", "sqlite",
];
// `proxy` is read by `crate::proxy::ProxyConfig`, not here.
const SECTIONS: &[&str] = &["provider", "tracing", "metadata", "exporters", "proxy"];

pub(super) fn parse(figment: &Figment) -> Result<Config, Vec<ConfigIssue>> {
    let mut reader = Reader::new(figment);
    let config = read(&mut reader)?;
    if reader.issues.is_empty() {
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
    let provider = provider(reader);
    let tracing = tracing(reader);
    let metadata = metadata(reader);
    let exporters = exporters(reader);
    Ok(Config {
        provider: provider.unwrap_or_else(|| Config::default().provider),
        tracing,
        metadata,
        exporters,
    })
}

fn provider(reader: &mut Reader<'_>) -> Option<ProviderConfig> {
    let mut table = reader.table("provider");
    let kind = table.choice("type", PROVIDER_TYPES, "echo")?;
    let provider = match kind {
        "echo" => Some(ProviderConfig::Echo {
            model: table
                .get("model")
                .unwrap_or_else(|| crate::provider::EchoProvider::DEFAULT_MODEL.to_owned()),
            latency_ms: table.int_in("latency_ms", 0, limits::MILLIS, 0),
        }),
        "plugin" => {
            let path = table.required::<PathBuf>("path", "the plugin library to load");
            let max_concurrency = table.int_in(
                "max_concurrency",
                1,
                limits::MAX_CONCURRENCY,
                crate::plugin::PluginProvider::DEFAULT_MAX_CONCURRENCY as u64,
            ) as usize;
            let options = table.get("options").unwrap_or_default();
            let isolation = plugin_isolation(&mut table);
            path.map(|path| ProviderConfig::Plugin {
                path,
                max_concurrency,
                options,
                isolation,
            })
        }
        _ => {
            let model = table.required::<String>("model", "the model to ask for");
            let timeout_ms = table.int_in("timeout_ms", 1, limits::MILLIS, 60_000);
            let stream_timeout = crate::provider::ProviderOptions::DEFAULT_STREAM_TIMEOUT;
            let base_url = table.get("base_url");
            let api_key_env = table.get("api_key_env");
            let http = HttpProviderConfig {
                base_url: table.checked("base_url", base_url, validate::http_url),
                api_key_env: table.checked("api_key_env", api_key_env, validate::env_name),
                timeout_ms,
                stall_timeout_ms: table.int_in("stall_timeout_ms", 1, limits::MILLIS, timeout_ms),
                stream_timeout_ms: table.int_in(
                    "stream_timeout_ms",
                    1,
                    limits::MILLIS,
                    stream_timeout.as_millis() as u64,
                ),
                model: model.unwrap_or_default(),
            };
            Some(match kind {
                "openai" => ProviderConfig::Openai(http),
                "ollama" => ProviderConfig::Ollama(http),
                _ => ProviderConfig::Anthropic(http),
            })
        }
    };
    table.finish(&format!("for provider type {kind:?}"));
    provider
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

/// An optional bound: absent (or 0, the reader's default) is `None`, else between 1 and `max`.
fn optional_in(table: &mut Table<'_, '_>, key: &str, max: u64) -> Option<u64> {
    Some(table.int_in(key, 1, max, 0)).filter(|&n| n > 0)
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

fn exporters(reader: &mut Reader<'_>) -> BTreeMap<String, ExporterConfig> {
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
        let Some(kind) = exporter_type(&mut table) else {
            continue;
        };
        let exporter = exporter(&mut table, kind);
        table.finish(&format!("for exporter type {kind:?}"));
        if let Some(exporter) = exporter {
            exporters.insert(name, exporter);
        }
    }
    exporters
}

/// The exporter's `type`, when present and known.
fn exporter_type(table: &mut Table<'_, '_>) -> Option<&'static str> {
    let why = format!("the exporter type, one of {}", EXPORTER_TYPES.join(", "));
    let kind = table.required::<String>("type", &why)?;
    let known = EXPORTER_TYPES.iter().copied().find(|t| *t == kind);
    if known.is_none() {
        table.issue(
            "type",
            format!(
                "unknown exporter type {kind:?}; expected one of {}",
                EXPORTER_TYPES.join(", ")
            ),
        );
    }
    known
}

fn exporter(table: &mut Table<'_, '_>, kind: &str) -> Option<ExporterConfig> {
    let defaults = ExporterOptions::default();
    let kind = match kind {
        "stdout" => {
            let format = table.choice("format", &["jsonl", "markdown"], "jsonl");
            Some(ExporterKind::Stdout {
                format: if format == Some("markdown") {
                    StdoutFormat::Markdown
                } else {
                    StdoutFormat::Jsonl
                },
            })
        }
        "jsonl" => {
            let path = table.required::<PathBuf>("path", "the file to append to");
            let max_bytes = table.get::<i64>("max_bytes").and_then(|n| {
                if n < 1 {
                    table.issue("max_bytes", format!("must be at least 1, found {n}"));
                }
                (n >= 1).then_some(n as u64)
            });
            // At most MAX_FILES, so the cast cannot truncate.
            let max_files = table.int_in("max_files", 0, limits::MAX_FILES, 5) as u32;
            path.map(|path| ExporterKind::Jsonl {
                path,
                max_bytes,
                max_files,
            })
        }
        "json" => table
            .required("path", "the file to write")
            .map(|path| ExporterKind::Json { path }),
        "markdown" => table
            .required("path", "the file to append to")
            .map(|path| ExporterKind::Markdown { path }),
        "sqlite" => sqlite(table),
        "plugin" => {
            let path = table.required::<PathBuf>("path", "the plugin library to load");
            let options = table.get("options").unwrap_or_default();
            let isolation = plugin_isolation(table);
            path.map(|path| ExporterKind::Plugin {
                path,
                options,
                isolation,
            })
        }
        "otlp" => {
            let defaults = OtlpOptions::default();
            let endpoint = table.get("endpoint");
            Some(ExporterKind::Otlp(OtlpOptions {
                endpoint: (table.checked("endpoint", endpoint, validate::http_url))
                    .unwrap_or(defaults.endpoint),
                service_name: table.get("service_name").unwrap_or(defaults.service_name),
                project_name: table.get("project_name"),
                capture_content: table
                    .get("capture_content")
                    .unwrap_or(defaults.capture_content),
                timeout_ms: table.int_in("timeout_ms", 1, limits::MILLIS, defaults.timeout_ms),
                headers: string_map(table, "headers"),
                secret_headers: secret_headers(table),
                resource_attributes: string_map(table, "resource_attributes"),
            }))
        }
        _ => {
            let url = table.required::<String>("url", "where to POST the traces");
            let url = table.checked("url", url, validate::http_url);
            let headers = string_map(table, "headers");
            let secret_headers = secret_headers(table);
            let timeout_ms = table.int_in("timeout_ms", 1, limits::MILLIS, 10_000);
            url.map(|url| ExporterKind::Webhook {
                url,
                headers,
                secret_headers,
                timeout_ms,
            })
        }
    };
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
    let mut batch_size = table.int_in(
        "batch_size",
        1,
        limits::BATCH_SIZE,
        defaults.batch_size as u64,
    );
    // Compared only with a queue_size that was valid, not with the default put in its place.
    if batch_size > queue_size && table.problems() == problems {
        // A batch larger than the queue could never fill.
        table.issue(
            "batch_size",
            format!("must be at most queue_size ({queue_size}), found {batch_size}"),
        );
        batch_size = queue_size;
    }
    let config = ExporterConfig {
        queue_size: queue_size as usize,
        batch_size: batch_size as usize,
        batch_interval_ms: table.int_in(
            "batch_interval_ms",
            1,
            limits::MILLIS,
            defaults.batch_interval.as_millis() as u64,
        ),
        overflow,
        // At most MAX_RETRIES, so the cast cannot truncate.
        max_retries: table.int_in(
            "max_retries",
            0,
            limits::MAX_RETRIES,
            u64::from(defaults.retry.max_retries),
        ) as u32,
        retry_initial_backoff_ms: table.int_in(
            "retry_initial_backoff_ms",
            1,
            limits::MILLIS,
            defaults.retry.initial_backoff.as_millis() as u64,
        ),
        retry_max_backoff_ms: table.int_in(
            "retry_max_backoff_ms",
            1,
            limits::MILLIS,
            defaults.retry.max_backoff.as_millis() as u64,
        ),
        shutdown_timeout_ms: table.int_in(
            "shutdown_timeout_ms",
            1,
            limits::MILLIS,
            defaults.shutdown_timeout.as_millis() as u64,
        ),
        kind: kind?,
    };
    Some(config)
}

/// `isolation`, `memory_limit_mb` and `call_timeout_ms` of a plugin component.
fn plugin_isolation(table: &mut Table<'_, '_>) -> PluginIsolation {
    let mode = table.choice("isolation", &["in_process", "process"], "in_process");
    // 0 (the default) is no limit.
    let memory_limit_mb =
        Some(table.int_in("memory_limit_mb", 1, limits::MEMORY_LIMIT_MB, 0)).filter(|&mb| mb > 0);
    let call_timeout_ms = table.int_in(
        "call_timeout_ms",
        1,
        limits::MILLIS,
        crate::plugin::ProcessIsolation::DEFAULT_CALL_TIMEOUT.as_millis() as u64,
    );
    match mode {
        Some("process") => PluginIsolation::Process {
            memory_limit_mb,
            call_timeout_ms,
        },
        _ => PluginIsolation::InProcess,
    }
}

/// `type = "sqlite"`: `path`, `max_rows`, `max_age` (`"90s"`, `"30m"`, `"12h"`, `"30d"`).
fn sqlite(table: &mut Table<'_, '_>) -> Option<ExporterKind> {
    let path = table.required::<PathBuf>("path", "the database file");
    let max_rows = optional_in(table, "max_rows", limits::MAX_ROWS);
    let max_age_secs = table.get::<String>("max_age").and_then(|text| {
        let seconds = parse_age(&text);
        match seconds {
            None => table.issue(
                "max_age",
                format!("expected a positive number and a unit (s, m, h, d), like \"30d\"; found {text:?}"),
            ),
            Some(seconds) if seconds > limits::MAX_AGE_SECS => table.issue(
                "max_age",
                format!("must be at most {}d, found {text:?}", limits::MAX_AGE_SECS / 86_400),
            ),
            Some(_) => {}
        }
        seconds.filter(|&seconds| seconds <= limits::MAX_AGE_SECS)
    });
    path.map(|path| ExporterKind::Sqlite {
        path,
        max_rows,
        max_age_secs,
    })
}

/// `"30d"` -> seconds; `None` unless a positive whole number and one of s, m, h, d.
fn parse_age(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    let number: u64 = text[..text.len() - 1].trim().parse().ok()?;
    (number > 0).then(|| number.saturating_mul(unit))
}

/// A table of string values (HTTP headers).
fn string_map(table: &mut Table<'_, '_>, key: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (name, value) in table.dict(key) {
        match value {
            Value::String(_, text) => {
                map.insert(name, text);
            }
            other => table.issue_in(
                key,
                &name,
                format!("expected a string, found {}", describe(&other)),
            ),
        }
    }
    map
}

/// `secret_headers`: header -> name of the environment variable holding its value.
fn secret_headers(table: &mut Table<'_, '_>) -> BTreeMap<String, String> {
    (string_map(table, "secret_headers").into_iter())
        .filter_map(|(header, var)| match validate::env_name(&var) {
            Ok(()) => Some((header, var)),
            Err(message) => {
                table.issue_in("secret_headers", &header, message);
                None
            }
        })
        .collect()
}
