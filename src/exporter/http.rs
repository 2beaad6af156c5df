//! What the HTTP exporters (webhook, OTLP) share: a client that never follows redirects, the
//! failure a redirect answer is, and the failure any other error answer is.
//!
//! Following a redirect is never right for a delivery: on 301, 302 and 303 the client turns
//! the POST into a GET without a body, so the batch is lost while the final 200 counts it
//! delivered; on 307 and 308 it re-sends the batch with every custom header (only
//! `Authorization` is stripped) to whatever origin `Location` names, leaking API keys set as
//! other headers. A 3xx is therefore a failed delivery, reported with its status and target,
//! and the user fixes the endpoint.

use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};

use super::ExporterError;

/// An HTTP client that waits at most `timeout` per request and follows no redirect.
///
/// # Errors
/// When the client cannot be built (no TLS backend).
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, ExporterError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ExporterError::permanent(format!("cannot build HTTP client: {e}")))
}

/// The failure of a POST to `url` answered with the redirect `status`: permanent (the same
/// request gets the same answer), naming the status and where it pointed.
pub(super) fn redirect_error(url: &str, status: StatusCode, headers: &HeaderMap) -> ExporterError {
    let target = match headers.get(LOCATION) {
        None => "no Location".to_owned(),
        Some(location) => match location.to_str().ok().and_then(|l| resolve(url, l)) {
            Some(target) => format!("Location {target}"),
            None => "an unreadable Location".to_owned(),
        },
    };
    ExporterError::permanent(format!(
        "{url} answered HTTP {} with {target}: redirects are not followed, so nothing was \
         delivered; set the endpoint to the final URL",
        status.as_u16()
    ))
}

/// How much of an error answer a failure quotes.
const QUOTED_CHARS: usize = 200;

/// The failure of a POST to `url` answered with the error `status` and `detail` (what the
/// server said): retryable or not as the exporter decides. Secrets are masked in the URL and in
/// the whole detail before it is cut, so a token straddling the cut leaks no prefix.
pub(super) fn rejection(
    url: &str,
    status: StatusCode,
    detail: &str,
    retryable: bool,
) -> ExporterError {
    let detail: String = crate::scrub_secrets(detail)
        .chars()
        .take(QUOTED_CHARS)
        .collect();
    let message = format!(
        "{} answered HTTP {}: {detail}",
        crate::scrub_secrets(url),
        status.as_u16()
    );
    if retryable {
        ExporterError::retryable(message)
    } else {
        ExporterError::permanent(message)
    }
}

/// `location` resolved against `base`, without userinfo, query or fragment: a redirect
/// target may carry a token there, and error messages are logged.
fn resolve(base: &str, location: &str) -> Option<Url> {
    let mut target = Url::parse(base).ok()?.join(location).ok()?;
    target.set_query(None);
    target.set_fragment(None);
    // Fails only for URLs that cannot have userinfo, which then have none.
    let _ = target.set_username("");
    let _ = target.set_password(None);
    Some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn reason(location: Option<&str>) -> String {
        let mut headers = HeaderMap::new();
        if let Some(location) = location {
            headers.insert(LOCATION, HeaderValue::from_str(location).unwrap());
        }
        let error = redirect_error(
            "http://127.0.0.1:9/hook",
            StatusCode::PERMANENT_REDIRECT,
            &headers,
        );
        assert!(!error.is_retryable());
        error.to_string()
    }

    #[test]
    fn a_rejection_masks_secrets_before_cutting_the_servers_answer() {
        let key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
        // The key straddles the cut: cut first, its prefix would survive unrecognised.
        let straddling = format!("{} {key}", "x".repeat(QUOTED_CHARS - 10));
        for answer in [straddling.as_str(), "Set-Cookie: session=s3cret"] {
            let error = rejection(
                "http://127.0.0.1:9/hook?token=t0ken",
                StatusCode::UNAUTHORIZED,
                answer,
                false,
            );
            let text = error.to_string();
            assert!(!error.is_retryable());
            assert!(text.contains("answered HTTP 401"), "{text}");
            for secret in ["sk-proj", "t0ken", "s3cret"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }

    #[test]
    fn the_reason_names_the_status_and_the_target_without_its_secrets() {
        let text = reason(Some(
            "https://user:pw@other.example:8443/in?token=s3cret#frag",
        ));
        assert!(text.contains("HTTP 308"), "{text}");
        assert!(
            text.contains("Location https://other.example:8443/in:"),
            "{text}"
        );
        for secret in ["user", "pw", "s3cret", "token", "frag"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn a_relative_location_is_resolved_against_the_endpoint() {
        let text = reason(Some("/moved?key=s3cret"));
        assert!(
            text.contains("Location http://127.0.0.1:9/moved:"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn a_missing_location_is_said() {
        assert!(reason(None).contains("with no Location"));
    }
}
