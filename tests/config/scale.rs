//! Loading is linear in the number of keys: looking each key up in a re-merged tree made it
//! quadratic. `CONFIG_SCALE_KEYS=N` changes the number of keys, to measure.

use std::time::{Duration, Instant};

use llmtrace::config::Config;

/// A configuration with `count` metadata keys.
fn metadata_config(count: usize) -> String {
    let mut toml = String::from("[metadata]\n");
    for i in 0..count {
        toml.push_str(&format!("key_{i} = \"value {i}\"\n"));
    }
    toml
}

#[test]
fn a_hundred_thousand_keys_load_in_linear_time() {
    let count: usize = std::env::var("CONFIG_SCALE_KEYS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let toml = metadata_config(count);

    let started = Instant::now();
    let config = Config::from_toml_str(&toml).unwrap();
    let elapsed = started.elapsed();

    eprintln!("{count} keys loaded in {elapsed:?}");
    assert_eq!(config.metadata.len(), count);
    // About 4 s in a debug build; generous for a loaded machine, while quadratic loading takes
    // over an hour (8,000 keys took 32 s).
    assert!(
        elapsed < Duration::from_secs(30),
        "{count} keys took {elapsed:?}"
    );
}
