//! Every duration is an integer of milliseconds in a `*_ms` key; the SQLite store's older
//! `max_age = "30d"` is still read, to the same meaning, but not together with `max_age_ms`.

use llmtrace::config::Config;
use llmtrace::exporter::SqliteConfig;

use crate::issue;

fn sqlite(keys: &str) -> Result<Config, llmtrace::config::ConfigError> {
    Config::from_toml_str(&format!(
        "[exporters.local]\ntype = \"sqlite\"\npath = \"t.db\"\n{keys}"
    ))
}

#[test]
fn max_age_ms_and_the_older_max_age_mean_the_same() {
    let new = sqlite("max_age_ms = 2592000000").unwrap();
    let old = sqlite("max_age = \"30d\"").unwrap();

    let options = new.exporters["local"].options::<SqliteConfig>().unwrap();
    assert_eq!(options.max_age_ms, Some(30 * 86_400_000));
    assert_eq!(new, old);
    assert!(old.to_masked_toml().contains("max_age_ms = 2592000000"));
}

#[test]
fn both_forms_at_once_are_refused() {
    let error = sqlite("max_age_ms = 1000\nmax_age = \"1d\"").unwrap_err();
    assert_eq!(error.issues.len(), 1, "{error}");
    assert!(
        issue(&error, "exporters.local.max_age")
            .message
            .contains("not both"),
        "{error}"
    );
}

#[test]
fn max_age_ms_has_the_bounds_of_a_duration() {
    let error = sqlite("max_age_ms = 0").unwrap_err();
    assert_eq!(
        issue(&error, "exporters.local.max_age_ms").message,
        "must be at least 1, found 0"
    );
}
