//! What the HTTP exporters (webhook, OTLP) share: an [`Endpoint`] (URL, headers and a client
//! that never follows redirects) that POSTs a body and classifies the answer, the failure a
//! redirect answer is, and the failure any other error answer is.
//!
//! Following a redirect is never right for a delivery: on 301, 302 and 303 the client turns
//! the POST into a GET without a body, so the batch is lost while the final 200 counts it
//! delivered; on 307 and 308 it re-sends the batch with every custom header (only
//! `Authorization` is stripped) to whatever origin `Location` names, leaking API keys set as
//! other headers. A 3xx is therefore a failed delivery, reported with its status and target,
//! and the user fixes the endpoint.

use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{StatusCode, Url};

use super::ExporterError;

/// How an exporter's receiver speaks: what it is sent, which error answers are worth a retry
/// and what an error answer says. The one thing the HTTP exporters do differently.
#[derive(Debug, Clone, Copy)]
pub(super) struct Protocol {
    /// The `content-type` of every POST.
    pub(super) content_type: &'static str,
    /// Whether an error answer (not 2xx, not 3xx) may go away on a retry.
    pub(super) retryable: fn(StatusCode) -> bool,
    /// What an error answer says, from its headers and body (scrubbed and cut afterwards).
    pub(super) detail: fn(&HeaderMap, &[u8]) -> String,
    /// Whether the body of a 2xx answer is read (and returned): a receiver that never ends
    /// its body would otherwise hold the worker until the timeout.
    pub(super) reads_answer: bool,
}

/// Where an HTTP exporter delivers: the URL, the headers of every request, and the client.
#[derive(Clone)]
pub(super) struct Endpoint {
    url: String,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl Endpoint {
    /// Posts to `url`, waiting at most `timeout` per request, with no header yet.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub(super) fn new(url: String, timeout: Duration) -> Result<Self, ExporterError> {
        Ok(Self {
            url,
            headers: HeaderMap::new(),
            client: client(timeout)?,
        })
    }

    /// The URL every batch is POSTed to.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// Adds a header sent with every request; `secret` marks its value sensitive, which keeps
    /// it out of `Debug` output.
    ///
    /// # Errors
    /// When the name or value is not a valid HTTP header (the error names the header, never
    /// the value).
    pub(super) fn header(
        &mut self,
        name: &str,
        value: &str,
        secret: bool,
    ) -> Result<(), ExporterError> {
        let invalid =
            |what: &str| ExporterError::permanent(format!("invalid header {name:?}: bad {what}"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| invalid("value"))?;
        value.set_sensitive(secret);
        self.headers.append(name, value);
        Ok(())
    }

    /// POSTs `body` and returns the body of a 2xx answer (empty unless the protocol
    /// [reads it](Protocol::reads_answer)).
    ///
    /// # Errors
    /// Retryable for every transport failure (refused, reset, timed out: all may be
    /// transient); permanent for a redirect; for any other error answer, as `protocol` says.
    pub(super) async fn post(
        &self,
        protocol: &Protocol,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, ExporterError> {
        let response = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, protocol.content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let message = format!("cannot POST to {}: {e}", self.url);
                ExporterError::retryable(message).with_source(e)
            })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(redirect_error(&self.url, status, response.headers()));
        }
        if status.is_success() {
            if !protocol.reads_answer {
                return Ok(Vec::new());
            }
            // The receiver took the request; an unreadable answer does not undo that.
            return Ok(response.bytes().await.map(Vec::from).unwrap_or_default());
        }
        let headers = response.headers().clone();
        let body = response.bytes().await;
        let detail = (protocol.detail)(&headers, &body.unwrap_or_default());
        Err(rejection(
            &self.url,
            status,
            &detail,
            (protocol.retryable)(status),
        ))
    }
}

/// Headers marked secret show as `Sensitive`, never their values.
impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// An HTTP client that waits at most `timeout` per request and follows no redirect.
///
/// # Errors
/// When the client cannot be built (no TLS backend).
fn client(timeout: Duration) -> Result<reqwest::Client, ExporterError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ExporterError::permanent(format!("cannot build HTTP client: {e}")))
}

/// The failure of a POST to `url` answered with the redirect `status`: permanent (the same
/// request gets the same answer), naming the status and where it pointed.
fn redirect_error(url: &str, status: StatusCode, headers: &HeaderMap) -> ExporterError {
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
fn rejection(url: &str, status: StatusCode, detail: &str, retryable: bool) -> ExporterError {
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
    fn debug_output_shows_header_names_and_plain_values_but_never_secret_ones() {
        let mut endpoint =
            Endpoint::new("http://127.0.0.1:9/hook".into(), Duration::from_secs(1)).unwrap();
        endpoint.header("X-Team", "search", false).unwrap();
        endpoint.header("X-Api-Key", "s3cret", true).unwrap();
        let debug = format!("{endpoint:?}");
        for shown in ["x-team", "search", "x-api-key", "Sensitive"] {
            assert!(debug.contains(shown), "{shown} not in {debug}");
        }
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn an_invalid_header_is_named_without_its_value() {
        let mut endpoint =
            Endpoint::new("http://127.0.0.1:9/hook".into(), Duration::from_secs(1)).unwrap();
        let error = endpoint.header("X-Key", "s3cret\n", true).unwrap_err();
        assert!(!error.is_retryable());
        let text = error.to_string();
        assert!(text.contains("\"X-Key\": bad value"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn a_missing_location_is_said() {
        assert!(reason(None).contains("with no Location"));
    }
}
