//! One HTTP provider for every wire API: [`HttpProvider`] owns the endpoint (client, URL, key,
//! timeouts, error mapping), `info`, the call and the `Service` and `Provider` impls; a
//! [`WireApi`] says only how its provider's JSON looks.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Serialize;
use tower::Service;

use super::http::{EndpointSpec, HttpEndpoint};
use super::stream::{self, Decode};
use super::{BuildError, Provider, ProviderFuture, ProviderInfo, ProviderOptions};
use crate::{GenerateRequest, GenerateResponse, Generation, ProviderError};

/// How one provider's HTTP API is spoken: where it is, how a request is written, how an answer
/// and a stream are read.
///
/// Implemented by [`OpenAi`](super::OpenAi), [`Ollama`](super::Ollama) and
/// [`Anthropic`](super::Anthropic); its methods name types private to llmtrace, so it cannot be
/// implemented elsewhere.
pub trait WireApi: fmt::Debug + Send + Sync + 'static {
    /// The request body, borrowing from the request it is written from.
    type Request<'a>: Serialize;

    /// The endpoint before `options` are applied: name, default URL, path, key, headers.
    fn endpoint(options: &ProviderOptions) -> EndpointSpec;

    /// The body sent for `request` to `model`.
    fn request<'a>(model: &'a str, request: &'a GenerateRequest) -> Self::Request<'a>;

    /// Reads a complete answer from its body.
    ///
    /// # Errors
    /// An error the server reports in the body; a body that is not the API's answer.
    fn answer(endpoint: &HttpEndpoint, body: &[u8]) -> Result<GenerateResponse, ProviderError>;

    /// Reads a streamed answer, one frame at a time.
    type Decoder: Decode;
}

/// A provider calling an HTTP API spoken as `W` says; see [`OpenAiProvider`],
/// [`OllamaProvider`] and [`AnthropicProvider`].
///
/// [`OpenAiProvider`]: super::OpenAiProvider
/// [`OllamaProvider`]: super::OllamaProvider
/// [`AnthropicProvider`]: super::AnthropicProvider
pub struct HttpProvider<W> {
    endpoint: Arc<HttpEndpoint>,
    model: Arc<str>,
    verbatim: bool,
    wire: PhantomData<fn() -> W>,
}

impl<W: WireApi> HttpProvider<W> {
    /// A provider configured by `options`.
    ///
    /// # Errors
    /// No model; a key variable that is named (or that the API requires) and unset; an invalid
    /// base URL; an HTTP client that cannot be set up.
    pub fn new(options: ProviderOptions) -> Result<Self, BuildError> {
        Ok(Self {
            endpoint: Arc::new(HttpEndpoint::new(W::endpoint(&options), &options)?),
            model: options.model.as_str().into(),
            verbatim: options.verbatim,
            wire: PhantomData,
        })
    }

    /// This provider's name, model and server.
    pub fn info(&self) -> ProviderInfo {
        self.endpoint.info(&self.model)
    }

    async fn generate(self, body: Vec<u8>, stream: bool) -> Result<Generation, ProviderError> {
        let response = self.endpoint.post(body, stream).await?;
        if stream {
            return Ok(Generation::Stream(stream::read::<W::Decoder>(
                self.endpoint,
                response,
            )));
        }
        let body = self.endpoint.read_answer(response).await?;
        let response = W::answer(&self.endpoint, &body)?;
        let raw_response = (self.verbatim)
            .then(|| self.endpoint.parse_json(&body))
            .transpose()?;
        Ok(Generation::Complete(GenerateResponse {
            raw_response,
            ..response
        }))
    }
}

impl<W> Clone for HttpProvider<W> {
    fn clone(&self) -> Self {
        Self {
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
            verbatim: self.verbatim,
            wire: PhantomData,
        }
    }
}

impl<W> fmt::Debug for HttpProvider<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("provider", &self.endpoint.provider())
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("verbatim", &self.verbatim)
            .finish()
    }
}

impl<W: WireApi> Service<GenerateRequest> for HttpProvider<W> {
    type Response = Generation;
    type Error = ProviderError;
    type Future = ProviderFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        let body = (self.endpoint).encode_with(
            &W::request(&self.model, &request),
            &request.parameters.extra,
        );
        let this = self.clone();
        Box::pin(async move { this.generate(body?, request.stream).await })
    }
}

impl<W: WireApi> Provider for HttpProvider<W> {
    fn info(&self) -> ProviderInfo {
        HttpProvider::info(self)
    }
}
