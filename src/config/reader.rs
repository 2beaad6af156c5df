//! Reads one configuration table key by key, collecting every problem instead of stopping at
//! the first (serde stops at the first), and noticing keys nobody asked for.
//!
//! The sources are merged once into one tree, which is then walked: asking figment for each key
//! re-merges the whole tree per lookup, which made loading quadratic in the number of keys.

use std::collections::{BTreeMap, BTreeSet};

use figment::Figment;
use figment::value::{Dict, Value};
use serde::de::DeserializeOwned;

use super::error::{ConfigIssue, Origin};

/// The environment variable prefix; `__` separates nested keys.
pub(crate) const ENV_PREFIX: &str = "LLMTRACE_";

/// Figment, its merged tree, and the problems found so far.
pub(crate) struct Reader<'f> {
    pub(crate) figment: &'f Figment,
    /// Every source merged, read once by [`load`](Reader::load).
    root: Dict,
    pub(crate) issues: Vec<ConfigIssue>,
    /// Every key path asked for, present or not: what the configuration format consists of.
    pub(crate) asked: BTreeSet<String>,
    /// Where each key read was set, for the problems found later, when building.
    pub(crate) origins: BTreeMap<String, Origin>,
}

impl<'f> Reader<'f> {
    pub(crate) fn new(figment: &'f Figment) -> Self {
        Self {
            figment,
            root: Dict::new(),
            issues: Vec::new(),
            asked: BTreeSet::new(),
            origins: BTreeMap::new(),
        }
    }

    /// Merges every source into the tree the reader walks.
    ///
    /// # Errors
    /// When a source cannot be read (a TOML syntax error, an unreadable file): one issue per
    /// error figment reports.
    pub(crate) fn load(&mut self) -> Result<&Dict, Vec<ConfigIssue>> {
        // The empty path is the whole merged tree, which figment always builds as a table.
        match self.figment.find_value("") {
            Ok(Value::Dict(_, root)) => self.root = root,
            Ok(_) => {}
            Err(error) => {
                return Err(error
                    .into_iter()
                    .map(|e| ConfigIssue {
                        key: String::new(),
                        message: e.to_string(),
                        origin: Origin::Nowhere,
                    })
                    .collect());
            }
        }
        Ok(&self.root)
    }

    /// The value at the dotted path `key`, whose parts may index an array (`layers[0].type`).
    fn find(&self, key: &str) -> Option<&Value> {
        let mut parts = key.split('.');
        let first = step(&self.root, parts.next()?)?;
        parts.try_fold(first, |value, part| step(value.as_dict()?, part))
    }

    /// Where the value at `key` was set.
    pub(crate) fn origin(&self, key: &str) -> Origin {
        match self.find(key) {
            Some(value) => self.origin_of(value, key),
            None => Origin::Nowhere,
        }
    }

    /// Where `value`, found at `key`, was set.
    fn origin_of(&self, value: &Value, key: &str) -> Origin {
        match self.figment.get_metadata(value.tag()) {
            Some(metadata) => match &metadata.source {
                Some(figment::Source::File(path)) => Origin::File(path.clone()),
                _ if metadata.name.contains("environment") => Origin::Env(format!(
                    "{ENV_PREFIX}{}",
                    key.to_uppercase().replace('.', "__")
                )),
                _ => Origin::Nowhere,
            },
            None => Origin::Nowhere,
        }
    }

    pub(crate) fn issue(&mut self, key: &str, message: impl Into<String>) {
        let origin = self.origin(key);
        self.push(key, message.into(), origin);
    }

    fn push(&mut self, key: &str, message: String, origin: Origin) {
        self.issues.push(ConfigIssue {
            key: key.to_owned(),
            message,
            origin,
        });
    }

    /// The table at `key` (empty when absent; an issue when it is not a table).
    pub(crate) fn table<'r>(&'r mut self, key: &str) -> Table<'r, 'f> {
        let dict = match self.find(key) {
            Some(Value::Dict(_, dict)) => dict.clone(),
            Some(other) => {
                let message = format!("expected a table, found {}", describe(other));
                self.issue(key, message);
                Dict::new()
            }
            None => Dict::new(),
        };
        Table {
            prefix: key.to_owned(),
            dict,
            used: BTreeSet::new(),
            reader: self,
        }
    }
}

impl<'f> Reader<'f> {
    /// The array of tables at `key` (`[[layers]]`), each with its own path (`layers[0]`);
    /// empty when absent, an issue (and empty) when it is not an array.
    pub(crate) fn tables(&mut self, key: &str) -> Vec<(String, Value)> {
        self.asked.insert(key.to_owned());
        match self.find(key) {
            Some(Value::Array(_, items)) => (items.iter().enumerate())
                .map(|(i, item)| (format!("{key}[{i}]"), item.clone()))
                .collect(),
            Some(other) => {
                let message = format!("expected an array of tables, found {}", describe(other));
                self.issue(key, message);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// `value`, one item of [`tables`](Self::tables) found at `path`, read as a table (an
    /// issue, and an empty table, when it is not one).
    pub(crate) fn item<'r>(&'r mut self, path: &str, value: Value) -> Table<'r, 'f> {
        let dict = match value {
            Value::Dict(_, dict) => dict,
            other => {
                let origin = self.origin_of(&other, path);
                let message = format!("expected a table, found {}", describe(&other));
                self.push(path, message, origin);
                Dict::new()
            }
        };
        Table {
            prefix: path.to_owned(),
            dict,
            used: BTreeSet::new(),
            reader: self,
        }
    }
}

/// The value at `part` of `dict`: a key, or a key and an index (`layers[0]`).
fn step<'d>(dict: &'d Dict, part: &str) -> Option<&'d Value> {
    let Some((key, index)) = part.strip_suffix(']').and_then(|p| p.split_once('[')) else {
        return dict.get(part);
    };
    match dict.get(key)? {
        Value::Array(_, items) => items.get(index.parse::<usize>().ok()?),
        _ => None,
    }
}

/// One table being read. Call [`finish`](Table::finish) to report keys nobody asked for.
pub(crate) struct Table<'r, 'f> {
    reader: &'r mut Reader<'f>,
    prefix: String,
    /// The table's own values: keys are looked up here, never by a dotted path, so a quoted
    /// key holding a dot is still one key.
    dict: Dict,
    used: BTreeSet<String>,
}

impl Table<'_, '_> {
    /// The dotted path of `key`, one key of this table.
    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.prefix, key)
    }

    /// Records a problem with `key`, one key of this table.
    pub(crate) fn issue(&mut self, key: &str, message: impl Into<String>) {
        let path = self.path(key);
        let origin = match self.dict.get(key) {
            Some(value) => self.reader.origin_of(value, &path),
            None => self.reader.origin(&self.prefix),
        };
        self.reader.push(&path, message.into(), origin);
    }

    /// Records a problem with `key` of the sub-table `table` (a header of `headers`).
    pub(crate) fn issue_in(&mut self, table: &str, key: &str, message: impl Into<String>) {
        let path = join(&self.path(table), key);
        let value = (self.dict.get(table))
            .and_then(Value::as_dict)
            .and_then(|dict| dict.get(key));
        let origin = match value {
            Some(value) => self.reader.origin_of(value, &path),
            None => self.reader.origin(&self.prefix),
        };
        self.reader.push(&path, message.into(), origin);
    }

    /// How many problems have been recorded so far, to tell whether a read value was valid.
    pub(crate) fn problems(&self) -> usize {
        self.reader.issues.len()
    }

    /// The keys present in the table.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.dict.keys().cloned().collect()
    }

    /// Whether `key` is set (it is then marked as known).
    pub(crate) fn present(&mut self, key: &str) -> bool {
        self.reader.asked.insert(self.path(key));
        self.used.insert(key.to_owned());
        self.dict.contains_key(key)
    }

    fn raw(&mut self, key: &str) -> Option<Value> {
        self.reader.asked.insert(self.path(key));
        let value = self.dict.get(key)?.clone();
        self.used.insert(key.to_owned());
        let path = self.path(key);
        let origin = self.reader.origin_of(&value, &path);
        self.reader.origins.insert(path, origin);
        Some(value)
    }

    /// The value at `key` as `T`; `None` when absent or invalid (the problem is recorded).
    pub(crate) fn get<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        let value = self.raw(key)?;
        match value.deserialize::<T>() {
            Ok(value) => Some(value),
            Err(error) => {
                self.issue(key, error.kind.to_string());
                None
            }
        }
    }

    /// Like [`get`](Self::get), recording a "missing" problem when absent.
    pub(crate) fn required<T: DeserializeOwned>(&mut self, key: &str, why: &str) -> Option<T> {
        if !self.present(key) {
            self.raw(key);
            // Nothing was set: point at where the table itself was written.
            let origin = self.reader.origin(&self.prefix);
            self.reader.issues.push(ConfigIssue {
                key: self.path(key),
                message: format!("missing required key {key:?} ({why})"),
                origin,
            });
            return None;
        }
        self.get(key)
    }

    /// An integer from `min` to `max`, or `default` when absent or out of range (the problem is
    /// recorded, with the bound, so that nothing is silently clamped or truncated).
    pub(crate) fn int_in(&mut self, key: &str, min: u64, max: u64, default: u64) -> u64 {
        let Some(value) = self.raw(key) else {
            return default;
        };
        // TOML integers are i64; an environment variable may give a u64 past i64::MAX.
        let found = (value.deserialize::<i64>().ok().map(i128::from))
            .or_else(|| value.deserialize::<u64>().ok().map(i128::from));
        let Some(found) = found else {
            self.issue(
                key,
                format!("expected an integer, found {}", describe(&value)),
            );
            return default;
        };
        let rule = if found < i128::from(min) && min == 0 {
            "must not be negative".to_owned()
        } else if found < i128::from(min) {
            format!("must be at least {min}")
        } else if found > i128::from(max) {
            format!("must be at most {max}")
        } else {
            return found as u64;
        };
        self.issue(key, format!("{rule}, found {found}"));
        default
    }

    /// `value`, read at `key`, when it passes `check`; `None` when it does not (the problem,
    /// as `check` words it, is recorded).
    pub(crate) fn checked(
        &mut self,
        key: &str,
        value: Option<String>,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let value = value?;
        match check(&value) {
            Ok(()) => Some(value),
            Err(message) => {
                self.issue(key, message);
                None
            }
        }
    }

    /// One of `choices`, or `default` when absent; `None` when the value is not a choice (the
    /// problem is recorded).
    pub(crate) fn choice(
        &mut self,
        key: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Option<&'static str> {
        if !self.present(key) {
            self.raw(key);
            return Some(default);
        }
        let found = self.get::<String>(key)?;
        let choice = choices.iter().copied().find(|c| *c == found);
        if choice.is_none() {
            self.issue(
                key,
                format!(
                    "unknown value {found:?}; expected one of {}",
                    choices.join(", ")
                ),
            );
        }
        choice
    }

    /// A table of values kept as-is (plugin options, metadata).
    pub(crate) fn dict(&mut self, key: &str) -> Dict {
        match self.raw(key) {
            Some(Value::Dict(_, dict)) => dict,
            Some(other) => {
                self.issue(key, format!("expected a table, found {}", describe(&other)));
                Dict::new()
            }
            None => Dict::new(),
        }
    }

    /// Records every key nobody read as unknown; `context` says what the table is.
    pub(crate) fn finish(mut self, context: &str) {
        let unknown: Vec<String> = (self.dict.keys())
            .filter(|key| !self.used.contains(*key))
            .cloned()
            .collect();
        if unknown.is_empty() {
            return;
        }
        let prefix = format!("{}.", self.prefix);
        // The keys asked for in this table sort together right after `prefix`.
        let known: Vec<&str> = (self.reader.asked.range(prefix.clone()..))
            .map_while(|path| path.strip_prefix(&prefix))
            .filter(|key| !key.contains('.'))
            .collect();
        let expected = if known.is_empty() {
            String::new()
        } else {
            format!("; expected one of {}", known.join(", "))
        };
        for key in unknown {
            self.issue(&key, format!("unknown key {key:?} {context}{expected}"));
        }
    }
}

impl<'f> Table<'_, 'f> {
    /// The table at `key` of this one (`sample = { ... }` in an exporter), read like any
    /// other; empty when absent, an issue when it is not a table.
    pub(crate) fn table<'s>(&'s mut self, key: &str) -> Table<'s, 'f> {
        let dict = self.dict(key);
        Table {
            prefix: self.path(key),
            dict,
            used: BTreeSet::new(),
            reader: &mut *self.reader,
        }
    }
}

/// `prefix.key`, with `key` quoted as TOML would when it is not a bare key (empty, or holding
/// a dot or a space), so that every problem names a key that can be found.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (prefix.is_empty(), bare) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{key:?}"),
        (false, true) => format!("{prefix}.{key}"),
        (false, false) => format!("{prefix}.{key:?}"),
    }
}

/// A short description of a value's type and content, for messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::String(_, s) => format!("string {s:?}"),
        Value::Char(_, c) => format!("character {c:?}"),
        Value::Bool(_, b) => format!("boolean {b}"),
        Value::Num(..) => match value.deserialize::<serde_json::Value>() {
            Ok(number) => format!("number {number}"),
            Err(_) => "a number".to_owned(),
        },
        Value::Empty(_, _) => "nothing".to_owned(),
        Value::Dict(_, _) => "a table".to_owned(),
        Value::Array(_, _) => "an array".to_owned(),
    }
}
