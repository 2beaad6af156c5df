//! How trace records are read: the written format, plus what the reference implementation
//! writes (see [`TraceRecord`]'s docs for the list). Writing is untouched: these types only
//! deserialize, and convert into the real ones.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    Message, Metadata, Parameters, Tool, ToolCall, TraceError, TraceRecord, TraceResponse,
};
use super::{Usage, rfc3339};

/// The metadata key holding the `parameters` entries [`Parameters`] cannot hold.
const UNMAPPED_PARAMETERS: &str = "unmapped_parameters";

/// A [`TraceRecord`] as found in a file.
#[derive(Deserialize)]
pub(crate) struct RecordWire {
    trace_id: Uuid,
    #[serde(with = "rfc3339")]
    timestamp: DateTime<Utc>,
    provider: String,
    model: String,
    #[serde(default)]
    server_address: Option<String>,
    #[serde(default)]
    server_port: Option<u16>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    system_prompt: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    prompt: String,
    #[serde(default, deserialize_with = "null_as_default")]
    messages: Vec<Message>,
    #[serde(default, deserialize_with = "null_as_default")]
    tools: Vec<Tool>,
    #[serde(default, deserialize_with = "null_as_default")]
    parameters: Map<String, Value>,
    #[serde(default)]
    response: Option<TraceResponse>,
    #[serde(default)]
    cost_usd: Option<f64>,
    #[serde(default)]
    error: Option<Box<TraceError>>,
    #[serde(default, deserialize_with = "null_as_default")]
    metadata: Metadata,
    #[serde(default)]
    redactions: u32,
}

impl From<RecordWire> for TraceRecord {
    fn from(wire: RecordWire) -> Self {
        let mut metadata = wire.metadata;
        let (parameters, unmapped) = parameters_from(wire.parameters);
        if !unmapped.is_empty() {
            // A record read back from our own re-export already has the key: add to it.
            match metadata.get_mut(UNMAPPED_PARAMETERS) {
                Some(Value::Object(existing)) => existing.extend(unmapped),
                _ => {
                    metadata.insert(UNMAPPED_PARAMETERS.to_owned(), Value::Object(unmapped));
                }
            }
        }
        TraceRecord {
            trace_id: wire.trace_id,
            timestamp: wire.timestamp,
            provider: wire.provider,
            model: wire.model,
            server_address: wire.server_address,
            server_port: wire.server_port,
            stream: wire.stream,
            system_prompt: wire.system_prompt,
            prompt: wire.prompt,
            messages: wire.messages,
            tools: wire.tools,
            parameters,
            response: wire.response,
            cost_usd: wire.cost_usd,
            error: wire.error,
            metadata,
            redactions: wire.redactions,
        }
    }
}

/// Splits `map` into the parameters [`Parameters`] holds and the entries it cannot.
/// `null` values mean "not set" (the reference writes them) and are dropped.
fn parameters_from(map: Map<String, Value>) -> (Parameters, Map<String, Value>) {
    let mut parameters = Parameters::default();
    let mut unmapped = Map::new();
    for (key, value) in map {
        let as_u32 = |value: &Value| value.as_u64().and_then(|n| u32::try_from(n).ok());
        let fits = match key.as_str() {
            _ if value.is_null() => true,
            "temperature" => set(&mut parameters.temperature, value.as_f64()),
            "top_p" => set(&mut parameters.top_p, value.as_f64()),
            "max_tokens" => set(&mut parameters.max_tokens, as_u32(&value)),
            "max_output_tokens" => set(&mut parameters.max_output_tokens, as_u32(&value)),
            "top_k" => set(&mut parameters.top_k, as_u32(&value)),
            "seed" => set(&mut parameters.seed, value.as_u64()),
            "stop" => match Vec::<String>::deserialize(&value) {
                Ok(stop) => {
                    parameters.stop = stop;
                    true
                }
                Err(_) => false,
            },
            _ => false,
        };
        if !fits {
            unmapped.insert(key, value);
        }
    }
    (parameters, unmapped)
}

/// Stores `value` in `slot` when there is one; false when the file's value did not fit.
fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    let fits = value.is_some();
    if fits {
        *slot = value;
    }
    fits
}

/// A [`TraceResponse`] as found in a file.
#[derive(Deserialize)]
pub(crate) struct ResponseWire {
    #[serde(default, deserialize_with = "null_as_default")]
    content: String,
    #[serde(default)]
    raw_response: Option<Box<Value>>,
    #[serde(default, deserialize_with = "null_as_default")]
    tool_calls: Vec<ToolCall>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(deserialize_with = "null_as_default")]
    generation_time_ms: f64,
    #[serde(default)]
    time_to_first_token_ms: Option<f64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

impl From<ResponseWire> for TraceResponse {
    fn from(wire: ResponseWire) -> Self {
        TraceResponse {
            content: wire.content,
            raw_response: wire.raw_response,
            tool_calls: wire.tool_calls,
            finish_reason: wire.finish_reason,
            usage: wire.usage.and_then(UsageWire::into_usage),
            generation_time_ms: wire.generation_time_ms,
            time_to_first_token_ms: wire.time_to_first_token_ms,
            id: wire.id,
            model: wire.model,
        }
    }
}

/// Token counts under our names or the `input_tokens` / `output_tokens` ones; other keys
/// (`visual_tokens`, ...) are ignored.
#[derive(Deserialize)]
pub(crate) struct UsageWire {
    prompt_tokens: Option<u64>,
    input_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    #[serde(default)]
    cached_prompt_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_tokens: Option<u64>,
}

impl UsageWire {
    /// `None` for a usage object without any count (`{}`).
    fn into_usage(self) -> Option<Usage> {
        let prompt = self.prompt_tokens.or(self.input_tokens);
        let completion = self.completion_tokens.or(self.output_tokens);
        if prompt.is_none() && completion.is_none() && self.total_tokens.is_none() {
            return None;
        }
        let computed = Usage::new(prompt.unwrap_or(0), completion.unwrap_or(0));
        Some(Usage {
            total_tokens: self.total_tokens.unwrap_or(computed.total_tokens),
            cached_prompt_tokens: self.cached_prompt_tokens,
            cache_creation_tokens: self.cache_creation_tokens,
            ..computed
        })
    }
}

/// Reads `null` as the type's default (empty list, empty string, 0).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
