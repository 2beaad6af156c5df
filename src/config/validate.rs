//! Checks of single values beyond their type: URLs, and names of environment variables that
//! must not be the secret itself. Each returns the problem as a message that never contains a
//! value that may be secret.

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};

/// Checks that `text` is an absolute `http` or `https` URL with a host.
pub(crate) fn http_url(text: &str) -> Result<(), String> {
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(error) => {
            return Err(format!(
                "expected an http or https URL, found {text:?} ({error})"
            ));
        }
    };
    let shown = without_password(url.clone());
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" | "https" => Err(format!("URL {shown:?} has no host")),
        scheme => Err(format!(
            "URL scheme {scheme:?} is not supported, expected http or https, found {shown:?}"
        )),
    }
}

/// Checks that `name` can be sent as an HTTP header name.
pub(crate) fn header_name(name: &str) -> Result<(), String> {
    match HeaderName::from_bytes(name.as_bytes()) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "{name:?} is not a valid HTTP header name: expected letters, digits and !#$%&'*+-.^_`|~"
        )),
    }
}

/// Checks that `value` can be sent as an HTTP header value. Headers carry tokens: the value is
/// never part of the message.
pub(crate) fn header_value(value: &str) -> Result<(), String> {
    match HeaderValue::from_str(value) {
        Ok(_) => Ok(()),
        Err(_) => Err(
            "is not a valid HTTP header value: control characters such as line breaks are not \
             allowed (value not shown)"
                .to_owned(),
        ),
    }
}

/// The URL as text, with any password replaced, for messages.
fn without_password(mut url: Url) -> String {
    if url.password().is_some() {
        // Fails only for URLs that cannot have credentials, which then have no password.
        let _ = url.set_password(Some("********"));
    }
    url.to_string()
}

/// Checks that `name` is the name of an environment variable (`[A-Za-z_][A-Za-z0-9_]*`) and
/// not a secret typed where its name belongs. The value is never part of the message: a name
/// field that is not a name may well hold the secret.
pub(crate) fn env_name(name: &str) -> Result<(), String> {
    if looks_like_secret(name) {
        return Err(
            "looks like a secret, not the name of an environment variable: put the \
                    secret in an environment variable and write the variable's name here \
                    (value not shown)"
                .to_owned(),
        );
    }
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(
            "is not the name of an environment variable: expected letters, digits and '_', \
             not starting with a digit (value not shown, in case it is a secret)"
                .to_owned(),
        )
    }
}

/// Prefixes of well-known credential formats (OpenAI and Anthropic keys, GitHub, GitLab, Slack,
/// Google, Hugging Face, npm, PyPI tokens, JWTs, Authorization header values).
const SECRET_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "xapp-",
    "AIza",
    "hf_",
    "npm_",
    "pypi-",
    "eyJ",
    "Bearer ",
    "Basic ",
    "Token ",
];

/// Whether `value` looks like a credential rather than a variable name: a known key format,
/// or a long, mixed-case, high-entropy string (variable names are words, usually upper case).
pub(super) fn looks_like_secret(value: &str) -> bool {
    let value = value.trim();
    if SECRET_PREFIXES.iter().any(|p| value.starts_with(p)) {
        return true;
    }
    // AWS access key ids: AKIA or ASIA and 16 more upper-case letters or digits.
    if value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return true;
    }
    let base64ish = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=-_.".contains(&b));
    value.len() >= 20
        && base64ish
        && value.bytes().any(|b| b.is_ascii_uppercase())
        && value.bytes().any(|b| b.is_ascii_lowercase())
        && value.bytes().any(|b| b.is_ascii_digit())
        && entropy(value) >= 3.5
}

/// Shannon entropy of `text`, in bits per byte.
fn entropy(text: &str) -> f64 {
    let mut counts = [0_u32; 256];
    for byte in text.bytes() {
        counts[usize::from(byte)] += 1;
    }
    let len = text.len() as f64;
    (counts.iter().filter(|&&n| n > 0))
        .map(|&n| {
            let p = f64::from(n) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_look_like_secrets() {
        for secret in [
            "sk-proj-abc123",
            "sk-ant-api03-xyz",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "xoxb-123-456-abc",
            "AKIAIOSFODNN7EXAMPLE",
            "Bearer abc",
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
            "q8Zr3LmT0vXy7BnKa2WcPe5D",
            "dGhpcyBpcyBhIHNlY3JldCBrZXkgMTIz",
        ] {
            assert!(looks_like_secret(secret), "{secret}");
            assert!(env_name(secret).is_err(), "{secret}");
        }
    }

    #[test]
    fn variable_names_do_not_look_like_secrets() {
        for name in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "WEBHOOK_AUTHORIZATION",
            "MY_SERVICE_2_TOKEN_V2_PRODUCTION",
            "_private",
            "ASIA_PACIFIC_KEY",
            "skip_this",
        ] {
            assert!(!looks_like_secret(name), "{name}");
            assert_eq!(env_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn invalid_names_are_refused_without_echo() {
        for name in ["", "1KEY", "MY-KEY", "MY KEY", "p@ssw0rd!"] {
            let message = env_name(name).unwrap_err();
            assert!(name.is_empty() || !message.contains(name), "{message}");
        }
    }

    #[test]
    fn only_http_urls_with_a_host() {
        assert_eq!(http_url("https://example.com/v1"), Ok(()));
        assert_eq!(http_url("http://127.0.0.1:8080"), Ok(()));
        for bad in [
            "not a url",
            "ftp://example.com",
            "file:///etc/passwd",
            "example.com",
        ] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
        let message = http_url("ftp://user:hunter2@example.com").unwrap_err();
        assert!(!message.contains("hunter2"), "{message}");
    }
}
