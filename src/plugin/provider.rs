use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use llmtrace_plugin_abi::{self as abi, Bytes, OwnedBuf};
use serde_json::Value;
use tokio::sync::Semaphore;
use tower::Service;

use super::instance::{Instance, protocol};
use super::isolation::{Isolated, Isolation, Op};
use super::loader::{self, ProviderVtable, Vtable};
use super::{PluginError, PluginInfo, PluginKind};
use crate::provider::{Provider, ProviderInfo};
use crate::{
    ErrorKind, GenerateRequest, GenerateResponse, Generation, ProviderError, ToolCall, Usage,
};

/// A [`Provider`] implemented by a plugin library.
///
/// Each call serializes the request (`{"schema": "1.0", "request": {...}}`), waits for a slot
/// under the concurrency limit, and runs the plugin's blocking `generate` on a blocking thread
/// (`spawn_blocking`), never on the async executor. Plugins that are not thread-safe get one
/// call at a time, whatever the limit.
///
/// Failures are [`ProviderError`]s: the kind and `retryable` flag the plugin reports (unknown
/// kinds become [`ErrorKind::Plugin`]), or [`ErrorKind::Plugin`] for what went wrong around the
/// plugin (a panic, invalid JSON). Their [`source`](std::error::Error::source) is the
/// [`PluginError`], which names the library. A panic poisons the instance: every later call
/// fails with [`PluginError::Poisoned`]. Clones share the instance, the limit and the poison.
///
/// A caller that gives up (a `tower` timeout) does not stop the plugin: the call runs to its
/// end on its blocking thread and keeps its slot until then.
///
/// ```no_run
/// use llmtrace::Client;
/// use llmtrace::plugin::PluginProvider;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = PluginProvider::load(
///     "target/debug/libllmtrace_echo_provider.so".as_ref(),
///     json!({ "model": "echo-plugin-1" }),
/// )?;
/// let client = Client::builder().provider(provider).build();
/// let response = client.generate("Hello").await?;
/// assert_eq!(response.content, "Plugin echo: Hello");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PluginProvider {
    backend: Backend,
    info: ProviderInfo,
    limit: Arc<Semaphore>,
}

#[derive(Clone)]
enum Backend {
    InProcess {
        instance: Arc<Instance>,
        generate: abi::GenerateFn,
    },
    Isolated(Arc<Isolated>),
}

impl PluginProvider {
    /// How many calls of one thread-safe provider run at once unless
    /// [`max_concurrency`](Self::max_concurrency) says otherwise.
    pub const DEFAULT_MAX_CONCURRENCY: usize = 16;

    /// Loads the provider plugin at `path` and creates an instance with `options` (passed to
    /// the plugin as JSON). Blocking: it opens the library and runs the plugin's `create`.
    ///
    /// The provider is named after the plugin in traces; its model is the `model` option when
    /// there is one, else `{plugin name}/{plugin version}`.
    ///
    /// # Errors
    /// When the library is not a compatible provider plugin (see the
    /// [loading checks](super#loading)), or its `create` fails.
    pub fn load(path: &Path, options: Value) -> Result<Self, PluginError> {
        let loaded = loader::load(path, Some(PluginKind::Provider))?;
        let Vtable::Provider(ProviderVtable { common, generate }) = loaded.vtable else {
            // `load` checked the kind; kept as an error rather than a panic all the same.
            return Err(PluginError::WrongKind {
                path: loaded.info.path.clone(),
                found: loaded.info.kind,
                expected: PluginKind::Provider,
            });
        };
        let info = provider_info(&loaded.info, &options);
        let instance = Instance::create(loaded.info, common, &options)?;
        let provider = PluginProvider {
            backend: Backend::InProcess {
                instance: Arc::new(instance),
                generate,
            },
            info,
            limit: Arc::new(Semaphore::new(1)),
        };
        Ok(provider.max_concurrency(Self::DEFAULT_MAX_CONCURRENCY))
    }

    /// Loads the provider plugin at `path` as [`load`](Self::load) does, in this process or,
    /// with [`Isolation::Process`], in a child process of its own (`llmtrace plugin-host`).
    /// Blocking.
    ///
    /// Isolated, calls run one at a time whatever the plugin declares, and a crash, abort,
    /// hang (past the call timeout) or memory blow-up fails only the call in flight, with an
    /// [`ErrorKind::Plugin`] error (traced like any failure); the next call goes to a new
    /// process, started after a back-off.
    ///
    /// # Errors
    /// As [`load`](Self::load); isolated, also when the child process cannot be started.
    pub fn load_with(
        path: &Path,
        options: Value,
        isolation: &Isolation,
    ) -> Result<Self, PluginError> {
        let settings = match isolation {
            Isolation::InProcess => return Self::load(path, options),
            Isolation::Process(settings) => settings,
        };
        let isolated = Isolated::start(path, PluginKind::Provider, &options, settings)?;
        Ok(PluginProvider {
            info: provider_info(isolated.info(), &options),
            backend: Backend::Isolated(Arc::new(isolated)),
            limit: Arc::new(Semaphore::new(1)),
        })
    }

    /// How many calls may run in the plugin at once (at least 1). Defaults to
    /// [`DEFAULT_MAX_CONCURRENCY`](Self::DEFAULT_MAX_CONCURRENCY). Ignored for plugins that
    /// are not thread-safe: they always get one call at a time.
    pub fn max_concurrency(mut self, max_concurrency: usize) -> Self {
        let shared = matches!(self.backend, Backend::InProcess { .. }) && self.plugin().thread_safe;
        let permits = if shared { max_concurrency.max(1) } else { 1 };
        self.limit = Arc::new(Semaphore::new(permits));
        self
    }

    /// What the plugin declared about itself.
    pub fn plugin(&self) -> &PluginInfo {
        match &self.backend {
            Backend::InProcess { instance, .. } => instance.info(),
            Backend::Isolated(isolated) => isolated.info(),
        }
    }

    /// The provider name (the plugin's name) and model.
    pub fn info(&self) -> ProviderInfo {
        self.info.clone()
    }
}

impl Service<GenerateRequest> for PluginProvider {
    type Response = Generation;
    type Error = ProviderError;
    type Future = BoxFuture<'static, Result<Generation, ProviderError>>;

    /// Always ready: the concurrency limit is waited for inside the call's future.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: GenerateRequest) -> Self::Future {
        let payload = serde_json::to_vec(&abi::ProviderRequest::new(&request));
        let backend = self.backend.clone();
        let limit = self.limit.clone();
        Box::pin(async move {
            let payload = payload.map_err(|error| {
                ProviderError::new(
                    ErrorKind::InvalidRequest,
                    format!("cannot serialize the request: {error}"),
                )
            })?;
            // The semaphore is never closed; the error arm only avoids an `expect`.
            let permit = limit.acquire_owned().await.map_err(|error| {
                ProviderError::new(ErrorKind::Plugin, format!("plugin unavailable: {error}"))
            })?;
            let (instance, generate) = match backend {
                Backend::InProcess { instance, generate } => (instance, generate),
                Backend::Isolated(isolated) => {
                    let _permit = permit;
                    let answer = isolated.call(Op::Generate, payload).await;
                    return answer
                        .and_then(|response| parse_response(isolated.info(), &response))
                        .map(Generation::Complete)
                        .map_err(provider_error);
                }
            };
            let name = instance.info().name.clone();
            let joined = tokio::task::spawn_blocking(move || {
                // Held for as long as the plugin runs, even if the caller has gone.
                let _permit = permit;
                call_generate(&instance, generate, &payload)
            })
            .await;
            match joined {
                Ok(Ok(response)) => Ok(Generation::Complete(response)),
                Ok(Err(error)) => Err(provider_error(error)),
                Err(join) => Err(ProviderError::new(
                    ErrorKind::Plugin,
                    format!("plugin {name} did not complete the call: {join}"),
                )),
            }
        })
    }
}

impl Provider for PluginProvider {
    fn info(&self) -> ProviderInfo {
        PluginProvider::info(self)
    }
}

/// The provider's name and model: the `model` option, else `{plugin name}/{plugin version}`.
fn provider_info(plugin: &PluginInfo, options: &Value) -> ProviderInfo {
    let model = match options.get("model").and_then(Value::as_str) {
        Some(model) => model.to_owned(),
        None => format!("{}/{}", plugin.name, plugin.plugin_version),
    };
    ProviderInfo::new(&plugin.name, model)
}

/// The blocking part of a call: the foreign call and reading its answer.
fn call_generate(
    instance: &Instance,
    generate: abi::GenerateFn,
    payload: &[u8],
) -> Result<GenerateResponse, PluginError> {
    let response = generate_raw(instance, generate, payload)?;
    parse_response(instance.info(), &response)
}

/// The foreign call: the response's bytes, as the plugin wrote them.
pub(super) fn generate_raw(
    instance: &Instance,
    generate: abi::GenerateFn,
    payload: &[u8],
) -> Result<Vec<u8>, PluginError> {
    let mut response = OwnedBuf::EMPTY;
    let result = instance.call(|raw, err| {
        // SAFETY: `generate` is this provider plugin's, checked non-null when loading; `raw`
        // is a live instance, called concurrently only when the plugin is thread-safe;
        // `payload` outlives the call; `response` and `err` are valid places for buffers.
        unsafe { generate(raw, Bytes::borrowed(payload), &mut response, err) }
    });
    // Taken before looking at the result, so that it goes back to the plugin either way.
    let response = instance.buf(response);
    result?;
    Ok(response.bytes().to_vec())
}

/// A provider's response envelope, checked, in llmtrace's types.
pub(super) fn parse_response(
    info: &PluginInfo,
    response: &[u8],
) -> Result<GenerateResponse, PluginError> {
    let envelope: abi::ProviderResponse =
        serde_json::from_slice(response).map_err(|source| PluginError::InvalidJson {
            path: info.path.clone(),
            name: info.name.clone(),
            what: "response",
            source,
        })?;
    if !abi::schema_is_compatible(&envelope.schema) {
        return Err(protocol(
            info,
            format!(
                "response of unknown schema {:?} (expected {})",
                envelope.schema,
                abi::SCHEMA_VERSION
            ),
        ));
    }
    Ok(from_plugin(envelope.response))
}

/// The plugin's answer in llmtrace's types.
fn from_plugin(response: abi::GenerateResponse) -> GenerateResponse {
    GenerateResponse {
        content: response.content,
        tool_calls: response
            .tool_calls
            .into_iter()
            .map(|call| ToolCall {
                id: call.id,
                name: call.name,
                arguments: call.arguments,
            })
            .collect(),
        finish_reason: response.finish_reason,
        usage: response.usage.map(|usage| Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            // A plugin may leave the sum out; every trace has it.
            total_tokens: match usage.total_tokens {
                0 => usage.prompt_tokens + usage.completion_tokens,
                total => total,
            },
            ..Usage::default()
        }),
        model: response.model,
        // The plugin ABI carries no response id.
        id: None,
        raw_response: None,
        metadata: response.metadata,
    }
}

/// A plugin's own error keeps its kind, message and retryability; anything else is a plugin
/// failure. The [`PluginError`] is the source either way.
fn provider_error(error: PluginError) -> ProviderError {
    match &error {
        PluginError::Plugin {
            kind,
            message,
            retryable,
            ..
        } => ProviderError::new(error_kind(kind), message.clone())
            .with_retryable(*retryable)
            .with_source(error),
        _ => ProviderError::new(ErrorKind::Plugin, error.to_string()).with_source(error),
    }
}

/// The [`ErrorKind`] of a plugin's error kind string (see
/// [`llmtrace_plugin_abi::error_kind`]); llmtrace's own kind names are accepted too.
fn error_kind(kind: &str) -> ErrorKind {
    match kind {
        "rate_limited" => ErrorKind::RateLimited,
        "timeout" => ErrorKind::Timeout,
        "unavailable" | "server" => ErrorKind::Server,
        "connect" => ErrorKind::Connect,
        "invalid_request" => ErrorKind::InvalidRequest,
        "authentication" => ErrorKind::Authentication,
        "malformed_response" => ErrorKind::MalformedResponse,
        "cancelled" => ErrorKind::Cancelled,
        _ => ErrorKind::Plugin,
    }
}

impl fmt::Debug for PluginProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginProvider")
            .field("info", &self.info)
            .field("plugin", self.plugin())
            .field("available_slots", &self.limit.available_permits())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_error_kinds_map_to_llmtrace_kinds() {
        assert_eq!(error_kind("rate_limited"), ErrorKind::RateLimited);
        assert_eq!(error_kind("unavailable"), ErrorKind::Server);
        assert_eq!(error_kind("internal"), ErrorKind::Plugin);
        assert_eq!(error_kind("something new"), ErrorKind::Plugin);
    }

    #[test]
    fn a_missing_total_is_the_sum_of_the_parts() {
        let mut usage = abi::Usage::default();
        usage.prompt_tokens = 3;
        usage.completion_tokens = 4;
        let mut response = abi::GenerateResponse::new("hi");
        response.usage = Some(usage);
        assert_eq!(from_plugin(response).usage.unwrap().total_tokens, 7);
    }
}
