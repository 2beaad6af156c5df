//! What a call cost: a price table per model, and the cost of a record's token usage.
//!
//! The trace layer prices every record it finishes with the table its client was built with
//! (the shipped one, [`PriceTable::builtin`], extended by the config file's `[prices]`), and
//! stores the result in [`TraceRecord::cost_usd`](crate::TraceRecord::cost_usd). A model with
//! no price, or a call without usage, gets no cost: never a made-up 0.
//!
//! # Finding a model's price
//!
//! The model that answered (`response.model`, often a dated snapshot) is looked up first,
//! then the configured model; each as
//! 1. an exact priced name (`gpt-4o`),
//! 2. an exact alias (`claude-3-7-sonnet-latest` -> `claude-3-7-sonnet`),
//! 3. the longest alias prefix, an alias ending in `*` (`gpt-4o-20*` prices
//!    `gpt-4o-2024-08-06` as `gpt-4o`, while the longer `gpt-4o-mini-20*` takes
//!    `gpt-4o-mini-2024-07-18`).
//!
//! ```
//! use llmtrace::Usage;
//! use llmtrace::cost::{ModelPrice, PriceTable};
//!
//! let mut prices = PriceTable::clone(&PriceTable::builtin());
//! prices.set("my-model", ModelPrice::new(1.0, 2.0).cached_input(0.5)).unwrap();
//! prices.alias("my-model-*", "my-model").unwrap();
//!
//! let usage = Usage { cached_prompt_tokens: Some(400_000), ..Usage::new(1_000_000, 500_000) };
//! // 600k uncached at $1, 400k cached at $0.50, 500k output at $2 (per million tokens).
//! assert_eq!(prices.cost("my-model-v2", &usage), Some(1.8));
//! assert_eq!(prices.cost("unknown-model", &usage), None);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{TraceRecord, Usage};

/// The table shipped with the crate (see the file for its sources and dates).
const BUILTIN: &str = include_str!("prices.toml");

/// The price of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens (reasoning tokens included).
    pub output: f64,
    /// Input tokens read from the prompt cache; absent: billed as `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Input tokens written to the prompt cache (Anthropic); absent: billed as `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// When the price was taken from the provider's price list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<NaiveDate>,
}

impl ModelPrice {
    /// `input` and `output` dollars per million tokens; cached tokens at the input price.
    pub fn new(input: f64, output: f64) -> Self {
        Self {
            input,
            output,
            cached_input: None,
            cache_write: None,
            as_of: None,
        }
    }

    /// Sets the price of input tokens read from the prompt cache.
    pub fn cached_input(mut self, price: f64) -> Self {
        self.cached_input = Some(price);
        self
    }

    /// Sets the price of input tokens written to the prompt cache.
    pub fn cache_write(mut self, price: f64) -> Self {
        self.cache_write = Some(price);
        self
    }

    /// Sets the date the price was taken.
    pub fn as_of(mut self, date: NaiveDate) -> Self {
        self.as_of = Some(date);
        self
    }

    /// Each price with its key (`input`, `output`, `cached_input`, `cache_write`).
    pub fn fields(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
        ]
    }

    /// The first price that is negative or not a number, with its key.
    pub fn invalid_field(&self) -> Option<(&'static str, f64)> {
        self.fields().into_iter().find_map(|(key, value)| {
            value
                .filter(|v| !(v.is_finite() && *v >= 0.0))
                .map(|v| (key, v))
        })
    }

    /// The cost of `usage` in dollars: uncached input, cache reads, cache writes and output,
    /// each at its price. Cached counts larger than the prompt are capped at it.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let prompt = usage.prompt_tokens;
        let read = usage.cached_prompt_tokens.unwrap_or(0).min(prompt);
        let written = usage.cache_creation_tokens.unwrap_or(0).min(prompt - read);
        let plain = prompt - read - written;
        let micro_dollars = plain as f64 * self.input
            + read as f64 * self.cached_input.unwrap_or(self.input)
            + written as f64 * self.cache_write.unwrap_or(self.input)
            + usage.completion_tokens as f64 * self.output;
        // Rounded to 1e-10 dollars: far below any bill, and free of float noise in files
        // (0.00135, not 0.0013500000000000001).
        (micro_dollars / 1e6 * 1e10).round() / 1e10
    }
}

/// Why a price or an alias was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    /// A price that is negative or not a number.
    #[error("price {key} of model {model:?} must be a number of dollars, 0 or more; found {value}")]
    InvalidPrice {
        /// The model.
        model: String,
        /// `input`, `output`, `cached_input` or `cache_write`.
        key: &'static str,
        /// What was given.
        value: f64,
    },
    /// An alias naming a model the table has no price for.
    #[error("alias {alias:?} names model {target:?}, which has no price")]
    UnknownTarget {
        /// The alias.
        alias: String,
        /// The model it names.
        target: String,
    },
    /// Text that is not a price table.
    #[error("not a price table: {0}")]
    Format(String),
}

/// Prices per model, with aliases; see the [module docs](self) for how a model is found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    models: HashMap<String, ModelPrice>,
    aliases: HashMap<String, String>,
    /// Prefix aliases (without their `*`) and their targets, longest first.
    prefixes: Vec<(String, String)>,
}

/// A price table file: `[models."name"]` tables and an `[aliases]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    models: BTreeMap<String, ModelPrice>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

impl PriceTable {
    /// An empty table: nothing is priced.
    pub fn new() -> Self {
        Self::default()
    }

    /// The table shipped with the crate: common OpenAI and Anthropic models, each with the
    /// date its price was taken. Parsed once, then shared.
    pub fn builtin() -> Arc<PriceTable> {
        static BUILTIN_TABLE: OnceLock<Arc<PriceTable>> = OnceLock::new();
        BUILTIN_TABLE
            .get_or_init(|| {
                Arc::new(
                    PriceTable::from_toml_str(BUILTIN).expect("the shipped price table is valid"),
                )
            })
            .clone()
    }

    /// A table in the shipped file's format (`[models."name"]` with `input`, `output`,
    /// `cached_input`, `cache_write`, `as_of`; `[aliases]` of `"alias" = "model"`).
    ///
    /// # Errors
    /// Text that is not such a table, a negative price, an alias to an unpriced model.
    pub fn from_toml_str(text: &str) -> Result<Self, PriceError> {
        let file: PriceFile =
            toml::from_str(text).map_err(|e| PriceError::Format(e.to_string()))?;
        let mut table = Self::new();
        for (model, price) in file.models {
            table.set(model, price)?;
        }
        for (alias, target) in file.aliases {
            table.alias(alias, target)?;
        }
        Ok(table)
    }

    /// Prices `model` (replacing an earlier price).
    ///
    /// # Errors
    /// [`PriceError::InvalidPrice`] for a negative or non-finite price.
    pub fn set(&mut self, model: impl Into<String>, price: ModelPrice) -> Result<(), PriceError> {
        let model = model.into();
        if let Some((key, value)) = price.invalid_field() {
            return Err(PriceError::InvalidPrice { model, key, value });
        }
        self.models.insert(model, price);
        Ok(())
    }

    /// Makes `alias` another name of the priced model `target`; an alias ending in `*` is a
    /// prefix (`"gpt-4o-20*"`). Replaces an earlier alias of the same name.
    ///
    /// # Errors
    /// [`PriceError::UnknownTarget`] when `target` has no price (set it first).
    pub fn alias(
        &mut self,
        alias: impl Into<String>,
        target: impl Into<String>,
    ) -> Result<(), PriceError> {
        let (alias, target) = (alias.into(), target.into());
        if !self.models.contains_key(&target) {
            return Err(PriceError::UnknownTarget { alias, target });
        }
        match alias.strip_suffix('*') {
            Some(prefix) => {
                let prefix = prefix.to_owned();
                self.prefixes.retain(|(p, _)| *p != prefix);
                self.prefixes.push((prefix, target));
                // Longest first, so the first match is the longest; ties by name, for a
                // lookup that does not depend on insertion order.
                self.prefixes
                    .sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            }
            None => {
                self.aliases.insert(alias, target);
            }
        }
        Ok(())
    }

    /// Whether `model` has a price of its own (not through an alias).
    pub fn contains(&self, model: &str) -> bool {
        self.models.contains_key(model)
    }

    /// The price of `model`: by exact name, then exact alias, then longest alias prefix.
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        if let Some(price) = self.models.get(model) {
            return Some(price);
        }
        let target = self.aliases.get(model).or_else(|| {
            self.prefixes
                .iter()
                .find(|(prefix, _)| model.starts_with(prefix.as_str()))
                .map(|(_, target)| target)
        })?;
        self.models.get(target)
    }

    /// The cost of `usage` for `model`, in dollars; `None` when the model has no price.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.get(model).map(|price| price.cost(usage))
    }

    /// The cost of a record: its usage priced for the model that answered, or else for the
    /// configured model. `None` without usage or without a price.
    pub fn record_cost(&self, record: &TraceRecord) -> Option<f64> {
        let response = record.response.as_ref()?;
        let usage = response.usage.as_ref()?;
        // The answering model is usually the configured one: one lookup then, not two (an
        // unpriced model's lookup scans every prefix, on every traced call).
        let answered = (response.model.as_deref()).filter(|answered| *answered != record.model);
        let price = (answered.and_then(|answered| self.get(answered)))
            .or_else(|| self.get(&record.model))?;
        Some(price.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_every_price_has_its_date() {
        let table = PriceTable::builtin();
        assert!(table.models.len() >= 15);
        for (model, price) in &table.models {
            assert!(price.as_of.is_some(), "{model} has no as_of date");
        }
    }

    #[test]
    fn dated_snapshots_find_their_family_and_the_longest_prefix_wins() {
        let table = PriceTable::builtin();
        let price = |model: &str| table.get(model).map(|p| p.input);
        assert_eq!(price("gpt-4o-2024-08-06"), Some(2.50));
        assert_eq!(price("gpt-4o-mini-2024-07-18"), Some(0.15));
        assert_eq!(
            price("gpt-4o-2024-05-13"),
            Some(5.00),
            "an exact name beats a prefix"
        );
        assert_eq!(price("claude-sonnet-4-20250514"), Some(3.00));
        assert_eq!(price("claude-opus-4-1-20250805"), Some(15.00));
        assert_eq!(price("claude-3-7-sonnet-latest"), Some(3.00));
        // Named like a priced model, priced differently: no price rather than a wrong one.
        assert_eq!(price("o1-pro"), None);
        assert_eq!(price("gpt-4o-realtime-preview"), None);
    }

    #[test]
    fn negative_prices_and_aliases_to_nothing_are_refused_by_name() {
        let mut table = PriceTable::new();
        let error = table.set("m", ModelPrice::new(1.0, -2.0)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "price output of model \"m\" must be a number of dollars, 0 or more; found -2"
        );
        let error = table.alias("a", "missing").unwrap_err();
        assert!(matches!(error, PriceError::UnknownTarget { .. }), "{error}");
    }

    #[test]
    fn cache_reads_and_writes_are_priced_apart_from_plain_input() {
        let price = ModelPrice::new(3.0, 15.0)
            .cached_input(0.3)
            .cache_write(3.75);
        let usage = Usage {
            cached_prompt_tokens: Some(1000),
            cache_creation_tokens: Some(100),
            ..Usage::new(1200, 10)
        };
        // 100 plain * 3 + 1000 read * 0.3 + 100 written * 3.75 + 10 out * 15, per million.
        assert_eq!(price.cost(&usage), 0.001_125);
    }
}
