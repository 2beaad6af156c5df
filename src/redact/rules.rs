//! What users add to the built-in detectors: text rules (a regex and its replacement) and
//! whole-field rules.

use regex::Regex;

/// A user's text rule: every match of `pattern` becomes `replacement`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) regex: Regex,
    pub(crate) replacement: String,
}

impl Rule {
    /// A rule named `name` replacing matches of `pattern` with `replacement` (`$1`, `${name}`
    /// refer to groups); `None` replaces with `[REDACTED:<name>]`.
    ///
    /// # Errors
    /// When `pattern` is not a valid regular expression: the error names the rule.
    pub fn new(
        name: impl Into<String>,
        pattern: &str,
        replacement: Option<&str>,
    ) -> Result<Self, RuleError> {
        let name = name.into();
        let regex = Regex::new(pattern).map_err(|error| RuleError {
            rule: name.clone(),
            pattern: pattern.to_owned(),
            reason: error.to_string(),
        })?;
        let replacement = replacement.map_or_else(|| super::marker(&name), str::to_owned);
        Ok(Self {
            name,
            regex,
            replacement,
        })
    }

    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A rule's pattern that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redaction rule {rule:?}: invalid pattern {pattern:?}: {reason}")]
pub struct RuleError {
    /// The rule's name.
    pub rule: String,
    /// The pattern as given (a pattern is not a secret).
    pub pattern: String,
    /// What the regex compiler said.
    pub reason: String,
}

/// A field of the record removed whole, whatever it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The conversation history (`messages` becomes empty).
    Messages,
    /// The system prompt (becomes absent).
    SystemPrompt,
    /// The tool definitions (`tools` becomes empty).
    Tools,
    /// The provider's raw response body (becomes absent).
    RawResponse,
}

impl Field {
    /// Every field that can be dropped.
    pub const ALL: [Field; 4] = [
        Field::Messages,
        Field::SystemPrompt,
        Field::Tools,
        Field::RawResponse,
    ];

    /// The record's name for it (`messages`, `system_prompt`, `tools`, `raw_response`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Messages => "messages",
            Field::SystemPrompt => "system_prompt",
            Field::Tools => "tools",
            Field::RawResponse => "raw_response",
        }
    }
}

impl std::str::FromStr for Field {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown field {name:?}; expected one of messages, system_prompt, tools, raw_response"
                )
            })
    }
}
