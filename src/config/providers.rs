//! `[provider]`: the provider registry and the trait each provider type's options implement.

use std::any::Any;
use std::fmt;

use serde::Serialize;

use super::error::ConfigIssue;
use super::reader::{Reader, Table};
use super::registry::{Registration, Registry};
use crate::ClientBuilder;
use crate::plugin::PluginProviderConfig;
use crate::provider::{AnthropicConfig, EchoConfig, OllamaConfig, OpenAiConfig};

/// Every provider type: adding one is its module and one line here.
pub(crate) static PROVIDERS: Registry<dyn ProviderSpec> = Registry {
    kind: "provider",
    entries: &[
        provider::<EchoConfig>(),
        provider::<OpenAiConfig>(),
        provider::<OllamaConfig>(),
        provider::<AnthropicConfig>(),
        provider::<PluginProviderConfig>(),
    ],
};

/// The options of one provider type, as read from `[provider]`: what the provider needs to be
/// built, every value already checked.
///
/// Implemented by each provider type's options struct ([`EchoConfig`], [`OpenAiConfig`], ...);
/// `options::<T>()` on a `dyn ProviderSpec` gets the struct back.
pub trait ProviderSpec: fmt::Debug + Send + Sync + 'static {
    /// The `type` that selects this provider.
    fn type_name(&self) -> &'static str;

    /// Builds the provider into `builder`; `verbatim` is `tracing.verbatim`. Only effectful
    /// steps happen here (reading the API key, loading a library).
    ///
    /// # Errors
    /// What failed, keyed relative to `[provider]` (`api_key_env`, `path`).
    fn build(&self, builder: ClientBuilder, verbatim: bool) -> Result<ClientBuilder, ConfigIssue>;

    /// The environment variables holding secrets it reads when built: (key relative to
    /// `[provider]`, variable name).
    fn secret_vars(&self) -> Vec<(String, String)>;

    /// Replaces values that may be secrets (tokens in URLs), for display.
    fn mask(&mut self);

    /// The options as a JSON object, for display.
    fn to_json(&self) -> serde_json::Value;

    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn ProviderSpec>;

    /// The options struct, to downcast.
    fn as_any(&self) -> &dyn Any;
}

/// What a provider type's options struct provides to be registered; [`ProviderSpec`] follows.
pub(crate) trait ProviderComponent:
    Serialize + Clone + fmt::Debug + Send + Sync + 'static
{
    /// The `type` that selects it.
    const TYPE: &'static str;

    /// Reads `[provider]` (its own keys only); `None` when they had problems, which are
    /// recorded in the table.
    fn read(table: &mut Table<'_, '_>) -> Option<Self>;

    /// See [`ProviderSpec::build`].
    fn build(&self, builder: ClientBuilder, verbatim: bool) -> Result<ClientBuilder, ConfigIssue>;

    /// See [`ProviderSpec::secret_vars`].
    fn secret_vars(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// See [`ProviderSpec::mask`].
    fn mask(&mut self) {}
}

impl<T: ProviderComponent> ProviderSpec for T {
    fn type_name(&self) -> &'static str {
        T::TYPE
    }

    fn build(&self, builder: ClientBuilder, verbatim: bool) -> Result<ClientBuilder, ConfigIssue> {
        ProviderComponent::build(self, builder, verbatim)
    }

    fn secret_vars(&self) -> Vec<(String, String)> {
        ProviderComponent::secret_vars(self)
    }

    fn mask(&mut self) {
        ProviderComponent::mask(self);
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn clone_box(&self) -> Box<dyn ProviderSpec> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The registry line of provider type `T`.
const fn provider<T: ProviderComponent>() -> Registration<dyn ProviderSpec> {
    Registration {
        name: T::TYPE,
        read: read_boxed::<T>,
    }
}

fn read_boxed<T: ProviderComponent>(table: &mut Table<'_, '_>) -> Option<Box<dyn ProviderSpec>> {
    T::read(table).map(|options| Box::new(options) as Box<dyn ProviderSpec>)
}

impl dyn ProviderSpec {
    /// The options struct of type `T`, when this is one.
    pub fn options<T: 'static>(&self) -> Option<&T> {
        self.as_any().downcast_ref()
    }
}

impl Clone for Box<dyn ProviderSpec> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// `type` first, then the options.
impl Serialize for dyn ProviderSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::tagged(self.type_name(), self.to_json()).serialize(serializer)
    }
}

/// Reads `[provider]`; `None` when it had problems (recorded).
pub(super) fn read(reader: &mut Reader<'_>) -> Option<Box<dyn ProviderSpec>> {
    let mut table = reader.table("provider");
    let registration = PROVIDERS.lookup(&mut table, Some(EchoConfig::TYPE))?;
    let provider = (registration.read)(&mut table);
    table.finish(&format!("for provider type {:?}", registration.name));
    provider
}
