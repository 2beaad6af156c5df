//! `[prices]`: model prices that replace or extend the shipped table.
//!
//! ```toml
//! [prices."gpt-4o"]          # replaces the shipped price of gpt-4o
//! input = 2.5                # dollars per million tokens
//! output = 10
//! cached_input = 1.25        # optional: cache reads (default: input)
//! cache_write = 3.125        # optional: cache writes (default: input)
//! as_of = "2025-08-01"       # optional: when the price was taken
//!
//! [prices.aliases]           # other names of priced models
//! "my-azure-deployment" = "gpt-4o"
//! "my-finetune-*" = "gpt-4o-mini"   # a prefix: the longest matching one wins
//! ```

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::reader::{Reader, Table, join};
use crate::cost::{ModelPrice, PriceError, PriceTable};

/// The key of the aliases table inside `[prices]` (so no model can be named `aliases`).
const ALIASES: &str = "aliases";

/// `[prices]`: prices added to the shipped [`PriceTable::builtin`], or replacing its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PricesConfig {
    /// Model name -> its price.
    #[serde(flatten)]
    pub models: BTreeMap<String, ModelPrice>,
    /// Alias (a model name, or a prefix ending in `*`) -> the priced model it stands for.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
}

impl PricesConfig {
    /// The shipped table with these prices and aliases applied.
    ///
    /// # Errors
    /// A negative price, or an alias to a model priced nowhere (a configuration read from a
    /// file was checked for both already).
    pub fn table(&self) -> Result<PriceTable, PriceError> {
        let mut table = PriceTable::clone(&PriceTable::builtin());
        for (model, price) in &self.models {
            table.set(model.clone(), *price)?;
        }
        for (alias, target) in &self.aliases {
            table.alias(alias.clone(), target.clone())?;
        }
        Ok(table)
    }
}

/// Reads `[prices]`, recording every bad price, date or alias with its key.
pub(super) fn read(reader: &mut Reader<'_>) -> PricesConfig {
    let names = reader.table("prices").keys();
    let mut config = PricesConfig::default();
    for model in names.iter().filter(|name| *name != ALIASES) {
        if let Some(price) = model_price(reader, &join("prices", model)) {
            config.models.insert(model.clone(), price);
        }
    }
    let mut aliases = reader.table(&join("prices", ALIASES));
    for alias in aliases.keys() {
        let Some(target) = aliases.get::<String>(&alias) else {
            continue;
        };
        if config.models.contains_key(&target) || PriceTable::builtin().contains(&target) {
            config.aliases.insert(alias, target);
        } else {
            aliases.issue(
                &alias,
                format!(
                    "names model {target:?}, which has no price in [prices] or the shipped table"
                ),
            );
        }
    }
    config
}

/// One `[prices."model"]` table; `None` when it has a problem (recorded).
fn model_price(reader: &mut Reader<'_>, key: &str) -> Option<ModelPrice> {
    let mut table = reader.table(key);
    let problems = table.problems();
    let input = dollars(&mut table, "input", true);
    let output = dollars(&mut table, "output", true);
    let cached_input = dollars(&mut table, "cached_input", false);
    let cache_write = dollars(&mut table, "cache_write", false);
    let as_of = table.get::<String>("as_of").and_then(|text| {
        let date = NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
        if date.is_none() {
            table.issue(
                "as_of",
                format!("expected a date like \"2025-08-01\", found {text:?}"),
            );
        }
        date
    });
    let valid = table.problems() == problems;
    table.finish("in a model price");
    Some(ModelPrice {
        input: input?,
        output: output?,
        cached_input,
        cache_write,
        as_of,
    })
    .filter(|_| valid)
}

/// A price in dollars at `key`: a number, 0 or more.
fn dollars(table: &mut Table<'_, '_>, key: &str, required: bool) -> Option<f64> {
    let value = if required {
        table.required::<f64>(key, "dollars per million tokens")
    } else {
        table.get::<f64>(key)
    }?;
    if !(value.is_finite() && value >= 0.0) {
        table.issue(
            key,
            format!("must be a number of dollars, 0 or more; found {value}"),
        );
        return None;
    }
    Some(value)
}
