//! Whether the environment variables a configuration names as holding secrets are set, so
//! that `check-config` reports a missing key before anything runs. Names only: the values are
//! never read into a message.

use super::reader::join;
use super::{Config, ConfigError};

impl Config {
    /// Checks that every environment variable named as holding a secret is set and not empty:
    /// the provider's `api_key_env` (or the provider's default variable where it needs a key),
    /// each exporter's `secret_headers`; and the variable of a `session` layer's `env`.
    ///
    /// # Errors
    /// Every variable that is missing, by the key that names it and where that key was set;
    /// `file` is the file the configuration was loaded from, for the message.
    pub fn check_environment(&self, file: Option<&std::path::Path>) -> Result<(), ConfigError> {
        let provider = (self.provider.secret_vars().into_iter())
            .map(|(key, var)| (format!("provider.{key}"), var));
        let exporters = self.exporters.iter().flat_map(|(name, exporter)| {
            let table = join("exporters", name);
            (exporter.spec.secret_vars().into_iter())
                .map(move |(key, var)| (format!("{table}.{key}"), var))
        });
        let mut issues: Vec<_> = provider
            .chain(exporters)
            .filter(|(_, var)| std::env::var_os(var).is_none_or(|value| value.is_empty()))
            .map(|(key, var)| {
                let message = format!("environment variable {var} is not set");
                self.provenance.issue(key, message)
            })
            .collect();
        issues.extend(self.check_layers());
        if issues.is_empty() {
            return Ok(());
        }
        let mut error = self.provenance.error(issues);
        if let Some(file) = file {
            error.file = Some(file.to_owned());
        }
        Err(error)
    }
}

/// The value of the secret variable `var`, or why not (never the value).
pub(crate) fn read_secret(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|error| match error {
        std::env::VarError::NotPresent => format!("environment variable {var} is not set"),
        std::env::VarError::NotUnicode(_) => {
            format!("environment variable {var} is not valid unicode")
        }
    })
}
