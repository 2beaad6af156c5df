//! Readers of values several components share: header tables, secret variable names, optional
//! bounds. Each checks what it can without I/O, so that `check-config` reports it.

use std::collections::BTreeMap;

use figment::value::Value;

use super::reader::{Table, describe};
use super::validate;

/// An optional bound: absent (or 0, the reader's default) is `None`, else between 1 and `max`.
pub(crate) fn optional_in(table: &mut Table<'_, '_>, key: &str, max: u64) -> Option<u64> {
    Some(table.int_in(key, 1, max, 0)).filter(|&n| n > 0)
}

/// A table of string values (resource attributes).
pub(crate) fn string_map(table: &mut Table<'_, '_>, key: &str) -> BTreeMap<String, String> {
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

/// `headers`: HTTP headers sent as written; names and values must be valid in HTTP.
pub(crate) fn headers(table: &mut Table<'_, '_>) -> BTreeMap<String, String> {
    (string_map(table, "headers").into_iter())
        .filter(|(name, value)| {
            let checked = validate::header_name(name).and_then(|()| validate::header_value(value));
            checked
                .map_err(|message| table.issue_in("headers", name, message))
                .is_ok()
        })
        .collect()
}

/// `secret_headers`: header -> name of the environment variable holding its value. The header
/// name and the variable name are checked now; the value only when it is read, at build time.
pub(crate) fn secret_headers(table: &mut Table<'_, '_>) -> BTreeMap<String, String> {
    (string_map(table, "secret_headers").into_iter())
        .filter(|(header, var)| {
            let checked = validate::header_name(header).and_then(|()| validate::env_name(var));
            checked
                .map_err(|message| table.issue_in("secret_headers", header, message))
                .is_ok()
        })
        .collect()
}

/// The `secret_headers` variables of an HTTP exporter, each by the key that names it.
pub(crate) fn secret_header_vars(
    secret_headers: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    (secret_headers.iter())
        .map(|(header, var)| (format!("secret_headers.{header}"), var.clone()))
        .collect()
}

/// An HTTP exporter's `headers` and URL fit to print: headers written as they are carry tokens
/// as often as `secret_headers` do, and a URL's query may hold one.
pub(crate) fn mask_http(headers: &mut BTreeMap<String, String>, url: &mut String) {
    (headers.values_mut()).for_each(|value| super::MASK.clone_into(value));
    *url = crate::scrub_secrets(url).into_owned();
}
