//! The `LLMTRACE_*` environment variables as a figment provider, minus the values figment
//! cannot parse without panicking, which are reported as problems instead.

use figment::providers::Env;

use super::error::{ConfigIssue, Origin};
use super::reader::ENV_PREFIX;

/// The provider of `LLMTRACE_*` variables, `__` between nested keys, and the problems with
/// the variables it leaves out.
pub(super) fn provider() -> (Env, Vec<ConfigIssue>) {
    let mut issues = Vec::new();
    let mut left_out = Vec::new();
    for (name, value) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path = key.trim().to_lowercase().replace("__", ".");
        // figment ignores a variable whose key has an empty part, without parsing its value.
        if path.split('.').any(str::is_empty) {
            continue;
        }
        if panics_figment(&value.to_string_lossy()) {
            issues.push(ConfigIssue {
                key: path,
                message: "cannot be read: a backslash escape in a quoted value after non-ASCII \
                          text; write the value without quotes, or escape the text as \\uXXXX \
                          (value not shown)"
                    .to_owned(),
                origin: Origin::Env(name.clone().into_owned()),
            });
            left_out.push(key.trim().to_owned());
        }
    }
    let env = Env::prefixed(ENV_PREFIX)
        .filter(move |key| !left_out.iter().any(|out| key == out.as_str()))
        .split("__");
    (env, issues)
}

/// Whether figment 0.10's value parser would panic on `value`: it unescapes quoted strings
/// using character positions as byte positions, so a backslash after any non-ASCII character
/// slices a string inside a character.
fn panics_figment(value: &str) -> bool {
    value.contains('"')
        && value
            .rfind('\\')
            .is_some_and(|backslash| !value[..backslash].is_ascii())
}
