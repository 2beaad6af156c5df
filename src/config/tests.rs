//! The shipped `config/default.toml` documents every option the loader reads.

use std::collections::{BTreeMap, BTreeSet};

use figment::Figment;
use figment::providers::{Format, Toml};

use super::reader::Reader;
use super::{Config, exporter_types, provider_types};

const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The keys the loader asks for when it reads `toml`, with `prefix.` removed.
fn asked(toml: &str, prefix: &str) -> BTreeSet<String> {
    let figment = Figment::from(Toml::string(toml));
    let mut reader = Reader::new(&figment);
    let _ = super::parse::read(&mut reader);
    reader
        .asked
        .iter()
        .filter_map(|key| key.strip_prefix(prefix))
        .map(str::to_owned)
        .collect()
}

/// `default.toml` as blocks: `[header]` -> keys set in it (commented out or not).
fn documented_blocks() -> Vec<(String, BTreeMap<String, String>)> {
    let mut blocks: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for line in DEFAULT_TOML.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            blocks.push((header.to_owned(), BTreeMap::new()));
        } else if let Some((key, value)) = line.split_once(" = ")
            && !key.trim().contains(' ')
            && let Some((_, keys)) = blocks.last_mut()
        {
            let value = value
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            keys.insert(key.trim().to_owned(), value.to_owned());
        }
    }
    blocks
}

#[test]
fn default_toml_is_the_default_configuration() {
    assert_eq!(
        Config::from_toml_str(DEFAULT_TOML).unwrap(),
        Config::default()
    );
}

#[test]
fn default_toml_documents_every_provider_and_tracing_option() {
    let blocks = documented_blocks();
    let block = |name: &str| &blocks.iter().find(|(header, _)| header == name).unwrap().1;
    for kind in provider_types() {
        for key in asked(
            &format!("[provider]\ntype = \"{kind}\"\nmodel = \"m\""),
            "provider.",
        ) {
            assert!(
                block("provider").contains_key(&key),
                "provider.{key} (type {kind}) is missing from config/default.toml"
            );
        }
    }
    for key in asked("", "tracing.") {
        assert!(
            block("tracing").contains_key(&key),
            "tracing.{key} is missing from config/default.toml"
        );
    }
}

#[test]
fn default_toml_documents_every_exporter_option() {
    let blocks = documented_blocks();
    let exporter_blocks: Vec<_> = blocks
        .iter()
        .filter(|(h, _)| h.starts_with("exporters."))
        .collect();
    let per_type: BTreeMap<&str, BTreeSet<String>> = exporter_types()
        .into_iter()
        .map(|kind| {
            (
                kind,
                asked(&format!("[exporters.x]\ntype = \"{kind}\""), "exporters.x."),
            )
        })
        .collect();
    let common: BTreeSet<String> = per_type
        .values()
        .fold(None::<BTreeSet<String>>, |acc, keys| {
            Some(acc.map_or_else(|| keys.clone(), |acc| &acc & keys))
        })
        .unwrap();
    for key in &common {
        assert!(
            exporter_blocks
                .iter()
                .any(|(_, keys)| keys.contains_key(key)),
            "common exporter option {key} is missing from config/default.toml"
        );
    }
    for (kind, keys) in &per_type {
        let (header, documented) = exporter_blocks
            .iter()
            .find(|(_, keys)| keys.get("type").map(String::as_str) == Some(*kind))
            .unwrap_or_else(|| {
                panic!("no example block of exporter type {kind} in config/default.toml")
            });
        for key in keys.difference(&common) {
            let as_table = blocks.iter().any(|(h, _)| *h == format!("{header}.{key}"));
            assert!(
                documented.contains_key(key) || as_table,
                "exporters.<name>.{key} (type {kind}) is missing from config/default.toml"
            );
        }
    }
}
