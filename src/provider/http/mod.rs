//! The HTTP plumbing the providers share: one endpoint with its client, headers and key; sending
//! a JSON body; turning transport failures and error responses into [`ProviderError`]s (the
//! servers' own messages are read in [`message`]).

mod message;

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, Url};
use serde::Serialize;
use serde_json::Value;

pub(crate) use self::message::message_in;
use self::message::{MAX_MESSAGE_BYTES, error_chain, error_message, truncate};
use super::{BuildError, ProviderOptions};
use crate::{ErrorKind, ProviderError, scrub_secrets};

/// Longest complete (non-streamed) answer read; a longer one is an error, not unbounded memory.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Most of an error response's body read: its message is cut far shorter anyway.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// How a provider sends its key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key as the whole value of this header (`x-api-key`).
    Header(&'static str),
}

/// What an endpoint looks like before the user's options are applied.
///
/// `pub` only to be named by [`WireApi`](super::WireApi), in a module no one outside can reach.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSpec {
    /// Provider name, for messages.
    pub(crate) provider: &'static str,
    /// Base URL when the options set none.
    pub(crate) default_base_url: &'static str,
    /// Path appended to the base URL (`/chat/completions`).
    pub(crate) path: &'static str,
    /// How the key is sent.
    pub(crate) auth: Auth,
    /// Variable read when the options name none; when set, a key is required.
    pub(crate) default_key_env: Option<&'static str>,
    /// Headers every request carries (`anthropic-version`).
    pub(crate) headers: &'static [(&'static str, &'static str)],
}

/// An API key. Its `Debug` says nothing about it.
#[derive(Clone)]
struct ApiKey(Box<str>);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// When a call was sent, kept in its response for the stream's overall deadline.
#[derive(Debug, Clone, Copy)]
struct CallStart(Instant);

/// One provider URL, ready to be posted to.
///
/// `pub` only to be named by [`WireApi`](super::WireApi), in a module no one outside can reach.
pub struct HttpEndpoint {
    provider: &'static str,
    client: reqwest::Client,
    url: Url,
    timeout: Duration,
    stall_timeout: Duration,
    stream_timeout: Duration,
    /// Kept only to scrub it from messages the server sends back.
    key: Option<ApiKey>,
}

impl HttpEndpoint {
    /// Applies `options` to `spec`: resolves the URL and the key, builds the client.
    pub(crate) fn new(spec: EndpointSpec, options: &ProviderOptions) -> Result<Self, BuildError> {
        let provider = spec.provider;
        if options.model.trim().is_empty() {
            return Err(BuildError::MissingModel { provider });
        }
        let base = options.base_url.as_deref().unwrap_or(spec.default_base_url);
        let url = endpoint_url(base, spec.path).map_err(|reason| BuildError::InvalidBaseUrl {
            provider,
            url: scrub_secrets(base).into_owned(),
            reason: scrub_secrets(&reason).into_owned(),
        })?;

        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in spec.headers {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        let key = resolve_key(spec, options)?;
        if let Some((key, origin)) = &key {
            let invalid = || BuildError::InvalidApiKey {
                provider,
                origin: origin.clone(),
            };
            let (name, value) = match spec.auth {
                Auth::Bearer => (AUTHORIZATION, format!("Bearer {}", key.0)),
                Auth::Header(name) => (HeaderName::from_static(name), key.0.to_string()),
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| invalid())?;
            // Keeps the value out of hyper's and reqwest's Debug output.
            value.set_sensitive(true);
            headers.insert(name, value);
        }

        let timeout = options.effective_timeout();
        let client = reqwest::Client::builder()
            .user_agent(concat!("llmtrace/", env!("CARGO_PKG_VERSION")))
            // The other deadlines are set per call (see `post`) and per read of a stream (see
            // `stream::watched`), where their errors can say which one passed.
            .connect_timeout(timeout)
            // The client adds them to each request itself: no copy of the map per call.
            .default_headers(headers)
            .build()
            .map_err(|e| BuildError::Client(Box::new(e)))?;

        Ok(Self {
            provider,
            client,
            url,
            timeout,
            stall_timeout: options.effective_stall_timeout(),
            stream_timeout: options.effective_stream_timeout(),
            key: key.map(|(key, _)| key),
        })
    }

    /// The provider's name.
    pub(crate) fn provider(&self) -> &'static str {
        self.provider
    }

    /// Who answers: this provider serving `model`, and the host and port it posts to.
    pub(crate) fn info(&self, model: &str) -> super::ProviderInfo {
        let info = super::ProviderInfo::new(self.provider, model);
        match self.url.host_str() {
            // An IPv6 address without the brackets a URL needs, as `server.address` has it.
            Some(host) => info.server(
                host.trim_start_matches('[').trim_end_matches(']'),
                self.url.port_or_known_default(),
            ),
            None => info,
        }
    }

    /// Posts `body` as JSON. Resolves to the response when its status is a success, to the
    /// server's error otherwise, within the timeout: a non-streaming call must also finish
    /// reading the body within it, a stream must start within it.
    pub(crate) async fn post(
        &self,
        body: Vec<u8>,
        stream: bool,
    ) -> Result<Response, ProviderError> {
        tracing::debug!(
            provider = self.provider,
            url = %scrub_secrets(self.url.as_str()),
            stream,
            "sending request"
        );
        let start = Instant::now();
        let request = self.client.post(self.url.clone()).body(body);
        if stream {
            // The stream's own deadlines take over once it has started.
            let limit = self.timeout.min(self.stream_timeout);
            let started = tokio::time::timeout_at(start + limit, self.send(request)).await;
            let mut response = started.map_err(|_| {
                let message = format!(
                    "{} did not start the stream within the {limit:?} timeout",
                    self.provider
                );
                ProviderError::new(ErrorKind::Timeout, message)
            })??;
            response.extensions_mut().insert(CallStart(start));
            return Ok(response);
        }
        self.send(request.timeout(self.timeout)).await
    }

    /// Sends `request`; an error status becomes the server's error, its body read in full.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, ProviderError> {
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = match read_at_most(response, MAX_ERROR_BODY_BYTES).await {
            Ok(Ok(body) | Err(body)) => error_message(&body, status, |text| self.scrub(text)),
            // The status says what matters; a body cut short adds nothing.
            Err(_) => status.canonical_reason().unwrap_or("no message").to_owned(),
        };
        Err(ProviderError::http(status.as_u16(), message))
    }

    /// How long a stream may go without a byte.
    pub(crate) fn stall_timeout(&self) -> Duration {
        self.stall_timeout
    }

    /// When the streamed call that got `response` must be over.
    pub(crate) fn stream_deadline(&self, response: &Response) -> Instant {
        let start = response
            .extensions()
            .get::<CallStart>()
            .map_or_else(Instant::now, |start| start.0);
        start + self.stream_timeout
    }

    /// The error of a stream that stalled (`stalled`) or passed its overall deadline.
    pub(crate) fn stream_timeout_error(&self, stalled: bool) -> ProviderError {
        let message = if stalled {
            format!(
                "the {} stream sent nothing for {:?} (stall timeout)",
                self.provider, self.stall_timeout
            )
        } else {
            format!(
                "the {} stream was still going after {:?} (stream timeout)",
                self.provider, self.stream_timeout
            )
        };
        ProviderError::new(ErrorKind::Timeout, message)
    }

    /// Reads a complete answer's body, at most [`MAX_ANSWER_BYTES`].
    pub(crate) async fn read_answer(&self, response: Response) -> Result<Vec<u8>, ProviderError> {
        read_at_most(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| self.transport_error(e))?
            .map_err(|_| {
                let error = format!("the answer is longer than {MAX_ANSWER_BYTES} bytes");
                self.malformed(&error, "")
            })
    }

    /// Parses an answer's body as JSON.
    pub(crate) fn parse_json(&self, body: &[u8]) -> Result<Value, ProviderError> {
        serde_json::from_slice(body).map_err(|e| self.malformed(&e, &String::from_utf8_lossy(body)))
    }

    /// Serializes a request body.
    pub(crate) fn encode(&self, body: &impl Serialize) -> Result<Vec<u8>, ProviderError> {
        serde_json::to_vec(body).map_err(|e| self.encode_error(e))
    }

    /// Serializes a request body with `extra` parameters added (the body's own keys win).
    pub(crate) fn encode_with(
        &self,
        body: &impl Serialize,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<u8>, ProviderError> {
        if extra.is_empty() {
            return self.encode(body);
        }
        let mut value = serde_json::to_value(body).map_err(|e| self.encode_error(e))?;
        if let Some(object) = value.as_object_mut() {
            for (key, extra) in extra {
                object.entry(key).or_insert_with(|| extra.clone());
            }
        }
        self.encode(&value)
    }

    fn encode_error(&self, e: serde_json::Error) -> ProviderError {
        let message = format!("could not encode the {} request: {e}", self.provider);
        ProviderError::new(ErrorKind::Other, message).with_source(e)
    }

    /// Describes a failure of the connection (before or while the answer arrives).
    pub(crate) fn transport_error(&self, error: reqwest::Error) -> ProviderError {
        // The messages below name the URL once; reqwest would repeat it.
        let error = error.without_url();
        let (kind, what) = if error.is_timeout() {
            let what = format!("{} exceeded the {:?} timeout", self.provider, self.timeout);
            (ErrorKind::Timeout, what)
        } else if error.is_connect() {
            (
                ErrorKind::Connect,
                format!("could not connect to {}", self.url),
            )
        } else if error.is_body() || error.is_decode() {
            // reqwest reports a connection that breaks while the body is read as a body or
            // decode error; the answer is incomplete, not malformed.
            let what = format!(
                "the connection to {} broke during the answer",
                self.provider
            );
            (ErrorKind::Stream, what)
        } else if error.is_builder() {
            (
                ErrorKind::Other,
                format!("could not build the {} request", self.provider),
            )
        } else {
            (
                ErrorKind::Connect,
                format!("the request to {} failed", self.url),
            )
        };
        let message = self.scrub(format!("{what}: {}", error_chain(&error)));
        ProviderError::new(kind, message).with_source(error)
    }

    /// An answer that is not what the provider's format promises.
    pub(crate) fn malformed(&self, error: &dyn fmt::Display, body: &str) -> ProviderError {
        // Scrubbed whole before the cut, which could leave a secret's prefix unrecognisable.
        let body = self.scrub(body.trim().to_owned());
        let mut message = format!(
            "the {} answer is not valid: {}",
            self.provider,
            self.scrub(error.to_string())
        );
        if !body.is_empty() {
            message += &format!("; the answer began with {:?}", truncate(&body, 200));
        }
        ProviderError::new(ErrorKind::MalformedResponse, message)
    }

    /// A message the server wrote, scrubbed of secrets, then cut to a quotable length.
    pub(crate) fn server_message(&self, message: String) -> String {
        let mut message = self.scrub(message);
        message.truncate(truncate(&message, MAX_MESSAGE_BYTES).len());
        message
    }

    /// Removes the key and anything that looks like a secret (see [`scrub_secrets`]) from a
    /// message that quotes the server or the URL.
    pub(crate) fn scrub(&self, message: String) -> String {
        let message = match &self.key {
            Some(key) if message.contains(&*key.0) => message.replace(&*key.0, "[redacted]"),
            _ => message,
        };
        match scrub_secrets(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(scrubbed) => scrubbed,
        }
    }
}

impl fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpEndpoint")
            .field("url", &scrub_secrets(self.url.as_str()))
            .field("timeout", &self.timeout)
            .field("api_key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The body of `response`: `Ok` when whole, `Err` with its first `max` bytes when longer.
async fn read_at_most(
    mut response: Response,
    max: usize,
) -> Result<Result<Vec<u8>, Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            body.extend_from_slice(&chunk[..max - body.len()]);
            return Ok(Err(body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body))
}

/// `base` joined with `path`, checked to be an absolute http(s) URL.
fn endpoint_url(base: &str, path: &str) -> Result<Url, String> {
    let joined = format!("{}{path}", base.trim_end_matches('/'));
    let url = Url::parse(&joined).map_err(|e| e.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("scheme {other:?} is not http or https")),
    }
}

/// The key and a description of where it came from, or `None` when no key is configured.
fn resolve_key(
    spec: EndpointSpec,
    options: &ProviderOptions,
) -> Result<Option<(ApiKey, String)>, BuildError> {
    if let Some(key) = &options.api_key {
        return Ok(Some((ApiKey(key.as_str().into()), "api_key".to_owned())));
    }
    let Some(var) = options.api_key_env.as_deref().or(spec.default_key_env) else {
        return Ok(None);
    };
    let origin = format!("environment variable {var}");
    match std::env::var(var) {
        Ok(key) if !key.trim().is_empty() => Ok(Some((ApiKey(key.into()), origin))),
        Ok(_) | Err(std::env::VarError::NotPresent) => Err(BuildError::MissingApiKey {
            provider: spec.provider,
            var: var.to_owned(),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(BuildError::InvalidApiKey {
            provider: spec.provider,
            origin,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_absolute_http() {
        let url = endpoint_url("http://127.0.0.1:8080/v1/", "/chat/completions");
        assert_eq!(
            url.map(String::from).as_deref(),
            Ok("http://127.0.0.1:8080/v1/chat/completions")
        );
        assert!(endpoint_url("127.0.0.1:8080", "/x").is_err());
        assert!(endpoint_url("ftp://host", "/x").is_err());
    }
}
