//! [`Config`] -> a running [`Client`]: providers, exporters and their worker threads.
//!
//! Each component builds itself ([`ProviderSpec::build`](super::ProviderSpec::build),
//! [`ExporterSpec::build`](super::ExporterSpec::build)); what fails is reported under its full
//! key, with the origin of that key and the file, as problems found when reading are.

use super::reader::join;
use super::{Config, ConfigError};
use crate::Client;
use crate::exporter::ExporterSink;
use crate::sink::TracingEvents;

impl Config {
    /// Builds the client this configuration describes: provider, tracing, metadata, and every
    /// exporter with its worker.
    ///
    /// # Errors
    /// Every component that cannot be built (an API key variable that is not set, a header
    /// secret that is missing, a plugin that does not load, ...), each named by its key and
    /// where that key was set.
    pub fn build(&self) -> Result<Client, ConfigError> {
        let provenance = &self.provenance;
        let mut issues = self.check_layers();
        let mut builder = Client::builder()
            .layers(self.layers.iter().cloned())
            .eviction(self.tracing.eviction())
            .tracing(self.tracing.enabled);
        if self.tracing.events {
            builder = builder.sink(TracingEvents::new());
        }
        let builder = self.metadata.iter().fold(builder, |builder, (key, value)| {
            builder.metadata(key.clone(), value.clone())
        });
        let builder = match self.prices.table() {
            Ok(prices) => builder.prices(prices),
            Err(error) => {
                issues.push(provenance.issue("prices".to_owned(), error.to_string()));
                builder
            }
        };
        let builder = match self.provider.build(builder, self.tracing.verbatim) {
            Ok(builder) => Some(builder),
            Err(issue) => {
                let key = full_key("provider", &issue.key);
                issues.push(provenance.issue(key, issue.message));
                None
            }
        };
        let builder = match self.redact.as_ref().map(|r| r.policy()).transpose() {
            Ok(policy) => builder.map(|b| match policy {
                Some(policy) => b.redact(policy),
                None => b,
            }),
            Err(message) => {
                issues.push(provenance.issue("redact".to_owned(), message));
                None
            }
        };
        let mut sink = ExporterSink::builder();
        if let Some(sample) = &self.sample {
            sink = sink.sample(sample.policy());
        }
        for (name, config) in &self.exporters {
            match config.spec.build() {
                Ok(exporter) => {
                    let options = config.worker_options();
                    sink = match &config.sample {
                        None => sink.exporter(name.clone(), exporter, options),
                        Some(sample) => {
                            sink.sampled_exporter(name.clone(), exporter, options, sample.policy())
                        }
                    };
                }
                Err(issue) => {
                    let table = join("exporters", name);
                    let key = full_key(&table, &issue.key);
                    issues.push(provenance.issue(key, issue.message));
                }
            }
        }
        let (Some(builder), true) = (builder, issues.is_empty()) else {
            return Err(provenance.error(issues));
        };
        let sink = sink.build().map_err(|e| {
            let message = format!("cannot start exporter threads: {e}");
            provenance.error(vec![provenance.issue("exporters".to_owned(), message)])
        })?;
        Ok(builder.exporters(sink).build())
    }
}

/// The key path of `relative` (already a dotted path, possibly empty) inside `table`.
fn full_key(table: &str, relative: &str) -> String {
    if relative.is_empty() {
        table.to_owned()
    } else {
        format!("{table}.{relative}")
    }
}
