//! Every file shipped in `config/` parses.

use std::path::Path;

use figment::Jail;
use llmtrace::config::Config;

#[test]
fn every_shipped_config_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    Jail::expect_with(|_| {
        for file in &files {
            if let Err(error) = Config::load(Some(file)) {
                panic!("{error}");
            }
        }
        Ok(())
    });
}

#[test]
fn the_default_file_is_the_default_configuration() {
    Jail::expect_with(|_| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        assert_eq!(Config::load(Some(&path)).unwrap(), Config::default());
        Ok(())
    });
}
