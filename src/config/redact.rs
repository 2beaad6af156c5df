//! `[redact]`: the redaction policy, validated when the file is read.
//!
//! ```toml
//! [redact]
//! detectors = ["api_key", "email", "phone", "card", "ip"]
//! drop = ["system_prompt"]            # messages, system_prompt, tools, raw_response
//! hash_metadata = ["user_id"]
//! requests = false                    # also mask what the provider receives
//! rules = [{ name = "ticket", pattern = 'TICKET-\d+', replacement = "TICKET-#" }]
//! ```

use serde::{Deserialize, Serialize};

use super::reader::Reader;
use crate::redact::{Detector, Field, RedactPolicy, Rule};

/// `[redact]`, as read: names and patterns, each already checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RedactConfig {
    /// Built-in detectors by name.
    pub detectors: Vec<String>,
    /// User text rules.
    pub rules: Vec<RuleConfig>,
    /// Fields removed whole.
    pub drop: Vec<String>,
    /// Metadata keys whose values are replaced by their hash.
    pub hash_metadata: Vec<String>,
    /// Also mask what the provider receives.
    pub requests: bool,
}

/// One `rules` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RuleConfig {
    /// Names the rule in errors and in the default marker.
    pub name: String,
    /// A regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// What a match becomes; `[REDACTED:<name>]` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

impl RedactConfig {
    /// The policy these settings describe.
    ///
    /// # Errors
    /// Only for settings that were not read from a file (which checks every name and pattern).
    pub fn policy(&self) -> Result<RedactPolicy, String> {
        let mut builder = RedactPolicy::builder().redact_requests(self.requests);
        for name in &self.detectors {
            builder = builder.detector(name.parse::<Detector>().map_err(|e| e.to_string())?);
        }
        for name in &self.drop {
            builder = builder.drop_field(name.parse::<Field>()?);
        }
        for key in &self.hash_metadata {
            builder = builder.hash_metadata(key.clone());
        }
        for rule in &self.rules {
            let replacement = rule.replacement.as_deref();
            let rule =
                Rule::new(&rule.name, &rule.pattern, replacement).map_err(|e| e.to_string())?;
            builder = builder.rule(rule);
        }
        builder.build().map_err(|e| e.to_string())
    }
}

/// Reads `[redact]`; `None` when the section is absent.
pub(super) fn read(reader: &mut Reader<'_>) -> Option<RedactConfig> {
    let mut table = reader.table("redact");
    if table.keys().is_empty() {
        table.finish("in [redact]");
        return None;
    }
    let mut config = RedactConfig {
        detectors: table.get("detectors").unwrap_or_default(),
        rules: table.get("rules").unwrap_or_default(),
        drop: table.get("drop").unwrap_or_default(),
        hash_metadata: table.get("hash_metadata").unwrap_or_default(),
        requests: table.get("requests").unwrap_or(false),
    };
    for (i, name) in config.detectors.iter().enumerate() {
        if let Err(error) = name.parse::<Detector>() {
            table.issue("detectors", format!("entry {i}: {error}"));
        }
    }
    for (i, name) in config.drop.iter().enumerate() {
        if let Err(error) = name.parse::<Field>() {
            table.issue("drop", format!("entry {i}: {error}"));
        }
    }
    config.rules.retain(|rule| {
        let compiled = Rule::new(&rule.name, &rule.pattern, rule.replacement.as_deref());
        if let Err(error) = &compiled {
            table.issue("rules", error.to_string());
        }
        compiled.is_ok()
    });
    table.finish("in [redact]");
    Some(config)
}
