use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A TOML file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// Nowhere: the problem is about something missing, or not about one value.
    Nowhere,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "in {}", path.display()),
            Origin::Env(var) => write!(f, "from environment variable {var}"),
            Origin::Nowhere => Ok(()),
        }
    }
}

/// One problem with a configuration: which key, what is wrong, and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigIssue {
    /// Dotted key path, such as `exporters.archive.batch_size`; empty for problems with the
    /// file as a whole.
    pub key: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
    /// Where the offending value was set.
    pub origin: Origin,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        match &self.origin {
            Origin::Nowhere => Ok(()),
            origin => write!(f, " ({origin})"),
        }
    }
}

/// A configuration that cannot be used: every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The file that was loaded, if any.
    pub file: Option<PathBuf>,
    /// The problems, in the order they were found.
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    pub(crate) fn single(
        file: Option<PathBuf>,
        key: &str,
        message: String,
        origin: Origin,
    ) -> Self {
        Self {
            file,
            issues: vec![ConfigIssue {
                key: key.to_owned(),
                message,
                origin,
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.issues.len();
        let problems = if count == 1 { "problem" } else { "problems" };
        match &self.file {
            Some(file) => write!(
                f,
                "invalid configuration {}: {count} {problems}",
                file.display()
            )?,
            None => write!(f, "invalid configuration: {count} {problems}")?,
        }
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
