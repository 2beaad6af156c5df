//! LLM providers: the innermost service of a stack.
//!
//! A provider is a `tower::Service<GenerateRequest, Response = Generation, Error =
//! ProviderError>` that also says who it is ([`Provider::info`]), so traces can name it.

mod echo;

pub use echo::EchoProvider;

use std::future::Future;

use tower::Service;

use crate::{GenerateRequest, Generation, ProviderError};

/// Who answers: the provider's name and the model it is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderInfo {
    /// Provider name, as recorded in traces (`echo`, `openai`, ...).
    pub name: String,
    /// Configured model.
    pub model: String,
}

impl ProviderInfo {
    /// Describes provider `name` serving `model`.
    pub fn new(name: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            model: model.into(),
        }
    }
}

/// A generation service that can name itself.
///
/// Any `Service` with the right types becomes usable by [`Client`](crate::Client) once it
/// implements [`info`](Self::info); services that cannot implement it (a `service_fn`, a
/// provider wrapped in tower middleware) are passed with an explicit [`ProviderInfo`] to
/// [`ClientBuilder::service`](crate::ClientBuilder::service).
pub trait Provider:
    Service<
        GenerateRequest,
        Response = Generation,
        Error = ProviderError,
        Future: Future<Output = Result<Generation, ProviderError>> + Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The provider's name and model.
    fn info(&self) -> ProviderInfo;
}
