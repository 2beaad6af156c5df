//! [`RedactPolicy`]: the compiled detectors and rules, and how they walk a record.

use std::borrow::Cow;
use std::ops::Range;

use regex::{Captures, RegexSet};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::finder::Finder;
use super::{Detector, Field, Rule, RuleError, marker};
use crate::{GenerateRequest, Message, Tool, ToolCall, TraceRecord};

/// Metadata keys the text detectors leave alone: the session id routes records to their
/// session, and the trace id names the record.
const ROUTING_KEYS: [&str; 2] = ["session_id", "trace_id"];

/// What to mask in a record, compiled once; see the [module docs](super).
///
/// Each enabled detector has a finder, which runs its regex only where its cheap byte
/// checks say a match can be; the text rules are one [`RegexSet`]: a string is scanned once,
/// and only the rules that matched run again to replace.
#[derive(Debug, Clone)]
pub struct RedactPolicy {
    detectors: Vec<DetectorStep>,
    rule_set: Option<RegexSet>,
    rules: Vec<Rule>,
    drop: Vec<Field>,
    hash_metadata: Vec<String>,
    requests: bool,
}

#[derive(Debug, Clone)]
struct DetectorStep {
    finder: Finder,
    marker: String,
}

impl RedactPolicy {
    /// A builder with nothing enabled.
    pub fn builder() -> RedactPolicyBuilder {
        RedactPolicyBuilder::default()
    }

    /// A policy with every built-in detector on.
    pub fn all_detectors() -> Self {
        Self::builder()
            .detectors(Detector::ALL)
            .build()
            .expect("the built-in patterns compile")
    }

    /// Whether the provider receives masked text too (see
    /// [`RedactPolicyBuilder::redact_requests`]).
    pub fn redacts_requests(&self) -> bool {
        self.requests
    }

    /// `text` with every detected secret replaced by its marker, and how many were replaced;
    /// borrowed when nothing was found.
    ///
    /// The detectors apply in [`Detector::ALL`] order, then the rules in the order added, each
    /// to the text the previous ones left: a secret that another one hid from its pattern (an
    /// address glued to an e-mail address) is found once that one is masked.
    pub fn redact_text<'t>(&self, text: &'t str) -> (Cow<'t, str>, u32) {
        let mut current = Cow::Borrowed(text);
        let mut count = 0;
        for step in &self.detectors {
            let accepted = step.finder.find(&current);
            if accepted.is_empty() {
                continue;
            }
            count += accepted.len() as u32;
            current = Cow::Owned(splice(&current, &accepted, &step.marker));
        }
        let Some(rule_set) = &self.rule_set else {
            return (current, count);
        };
        for index in rule_set.matches(&current).iter() {
            let rule = &self.rules[index];
            let mut found = 0;
            let replaced = rule.regex.replace_all(&current, |caps: &Captures<'_>| {
                found += 1;
                let mut out = String::new();
                caps.expand(&rule.replacement, &mut out);
                out
            });
            if found > 0 {
                let replaced = replaced.into_owned();
                current = Cow::Owned(replaced);
                count += found;
            }
        }
        (current, count)
    }

    /// Masks every place text lives in `record` (prompt, system prompt, messages and their
    /// tool calls, tool definitions, response content, tool calls and raw body, error message,
    /// metadata values), applies the field rules, and adds the number of redactions to
    /// `record.redactions`.
    pub fn redact_record(&self, record: &mut TraceRecord) {
        let mut count = 0;
        for field in &self.drop {
            count += u32::from(drop_field(record, *field));
        }
        for key in &self.hash_metadata {
            if let Some(value) = record.metadata.get_mut(key) {
                *value = Value::String(hash(value));
                count += 1;
            }
        }
        if let Some(system_prompt) = &mut record.system_prompt {
            count += self.string(system_prompt);
        }
        count += self.string(&mut record.prompt);
        count += self.messages(&mut record.messages);
        count += self.tools(&mut record.tools);
        if let Some(response) = &mut record.response {
            count += self.string(&mut response.content);
            count += self.tool_calls(&mut response.tool_calls);
            if let Some(raw) = &mut response.raw_response {
                count += self.value(raw);
            }
        }
        if let Some(error) = &mut record.error {
            count += self.string(&mut error.message);
        }
        for (key, value) in record.metadata.iter_mut() {
            let hashed = self.hash_metadata.iter().any(|k| k == key);
            if !hashed && !ROUTING_KEYS.contains(&key.as_str()) {
                count += self.value(value);
            }
        }
        record.redactions = record.redactions.saturating_add(count);
    }

    /// Masks the text of `request` (prompt, system prompt, messages, tools) with the
    /// detectors and text rules; field rules do not apply, since they would change the
    /// answer. Returns the number of redactions.
    pub fn redact_request(&self, request: &mut GenerateRequest) -> u32 {
        let mut count = 0;
        if let Some(system_prompt) = &mut request.system_prompt {
            count += self.string(system_prompt);
        }
        count += self.string(&mut request.prompt);
        count += self.messages(&mut request.messages);
        count + self.tools(&mut request.tools)
    }

    fn string(&self, text: &mut String) -> u32 {
        let (redacted, count) = self.redact_text(text);
        if let Cow::Owned(redacted) = redacted {
            *text = redacted;
        }
        count
    }

    fn value(&self, value: &mut Value) -> u32 {
        match value {
            Value::String(text) => self.string(text),
            Value::Array(items) => items.iter_mut().map(|v| self.value(v)).sum(),
            Value::Object(map) => map.values_mut().map(|v| self.value(v)).sum(),
            _ => 0,
        }
    }

    fn messages(&self, messages: &mut [Message]) -> u32 {
        messages
            .iter_mut()
            .map(|m| self.string(&mut m.content) + self.tool_calls(&mut m.tool_calls))
            .sum()
    }

    fn tool_calls(&self, calls: &mut [ToolCall]) -> u32 {
        calls.iter_mut().map(|c| self.value(&mut c.arguments)).sum()
    }

    fn tools(&self, tools: &mut [Tool]) -> u32 {
        tools
            .iter_mut()
            .map(|t| self.string(&mut t.description) + self.value(&mut t.parameters))
            .sum()
    }
}

/// `text` with each of the `ranges` (in order, not overlapping) replaced by `marker`.
fn splice(text: &str, ranges: &[Range<usize>], marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for range in ranges {
        out.push_str(&text[last..range.start]);
        out.push_str(marker);
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Empties `field`; true when it held something.
fn drop_field(record: &mut TraceRecord, field: Field) -> bool {
    match field {
        Field::Messages => !std::mem::take(&mut record.messages).is_empty(),
        Field::SystemPrompt => record.system_prompt.take().is_some(),
        Field::Tools => !std::mem::take(&mut record.tools).is_empty(),
        Field::RawResponse => record
            .response
            .as_mut()
            .and_then(|r| r.raw_response.take())
            .is_some(),
    }
}

/// `sha256:` and the first 16 hex digits of the value's digest (its text for a string, its
/// JSON otherwise): equal values stay equal, so traces can still be grouped by the key.
fn hash(value: &Value) -> String {
    let digest = match value {
        Value::String(text) => Sha256::digest(text.as_bytes()),
        other => Sha256::digest(other.to_string().as_bytes()),
    };
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Collects detectors and rules, then compiles them into one [`RedactPolicy`].
#[derive(Debug, Clone, Default)]
pub struct RedactPolicyBuilder {
    detectors: Vec<Detector>,
    rules: Vec<Rule>,
    drop: Vec<Field>,
    hash_metadata: Vec<String>,
    requests: bool,
}

impl RedactPolicyBuilder {
    /// Enables a built-in detector.
    pub fn detector(mut self, detector: Detector) -> Self {
        if !self.detectors.contains(&detector) {
            self.detectors.push(detector);
        }
        self
    }

    /// Enables several built-in detectors.
    pub fn detectors(self, detectors: impl IntoIterator<Item = Detector>) -> Self {
        detectors.into_iter().fold(self, Self::detector)
    }

    /// Adds a text rule, applied after the detectors.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Removes `field` from every record.
    pub fn drop_field(mut self, field: Field) -> Self {
        if !self.drop.contains(&field) {
            self.drop.push(field);
        }
        self
    }

    /// Replaces the metadata value under `key` by a hash of it (`sha256:` and 16 hex
    /// digits), so traces can still be grouped by it.
    pub fn hash_metadata(mut self, key: impl Into<String>) -> Self {
        self.hash_metadata.push(key.into());
        self
    }

    /// Also masks what the provider receives (prompt, system prompt, messages, tools). Off by
    /// default: only the trace is masked, and the model sees what the caller wrote. The trace
    /// layer does the masking, so with tracing off the provider gets the text as written.
    pub fn redact_requests(mut self, on: bool) -> Self {
        self.requests = on;
        self
    }

    /// Compiles the policy.
    ///
    /// # Errors
    /// When the patterns together exceed the regex engine's size limit.
    pub fn build(self) -> Result<RedactPolicy, RuleError> {
        let detectors = Detector::ALL
            .into_iter()
            .filter(|d| self.detectors.contains(d))
            .map(|detector| DetectorStep {
                finder: Finder::new(detector),
                marker: marker(detector.name()),
            })
            .collect();
        let rule_set = match self.rules.is_empty() {
            true => None,
            false => Some(
                RegexSet::new(self.rules.iter().map(|r| r.regex.as_str())).map_err(|e| {
                    RuleError {
                        rule: "(all rules together)".to_owned(),
                        pattern: String::new(),
                        reason: e.to_string(),
                    }
                })?,
            ),
        };
        Ok(RedactPolicy {
            detectors,
            rule_set,
            rules: self.rules,
            drop: self.drop,
            hash_metadata: self.hash_metadata,
            requests: self.requests,
        })
    }
}
