//! What each client API (OpenAI, Anthropic) supplies to the shared request path.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::{ErrorKind, GenerateRequest, GenerateResponse, ProviderError, Role, StreamChunk};

/// One client-facing wire format.
pub(crate) trait Api: Send + 'static {
    /// The request body.
    type Body: DeserializeOwned;
    /// Writes a streamed answer as server-sent events.
    type Encoder: Encoder;
    /// A complete answer, borrowing from the response it is written from.
    type Answer<'a>: Serialize;
    /// The provider that speaks this API upstream: parameters our request has no field for
    /// are forwarded to it as written (another provider would not know them).
    const PROVIDER: &'static str;
    /// The body's fields that [`request`](Self::request) reads or drops: the others are
    /// parameters our request has no field for.
    const FIELDS: &'static [&'static str];

    /// Our request and the model the client asked for.
    fn request(body: Self::Body) -> (GenerateRequest, String);
    /// A complete answer in this API's shape.
    fn response<'a>(response: &'a GenerateResponse, model: &'a str) -> Self::Answer<'a>;
    /// A fresh encoder for one streamed answer.
    fn encoder(model: &str) -> Self::Encoder;
    /// An error body in this API's shape.
    fn error(status: u16, message: &str) -> Value;
}

/// Writes the server-sent events of one streamed answer.
pub(crate) trait Encoder: Send + 'static {
    /// The events for one chunk.
    fn chunk(&mut self, chunk: &StreamChunk, out: &mut Vec<u8>);
    /// The event for an error that broke the stream (the last event).
    fn error(&mut self, error: &ProviderError, status: u16, out: &mut Vec<u8>);
    /// The events closing a complete answer.
    fn end(&mut self, out: &mut Vec<u8>);
}

/// Appends `value` as JSON text, straight into the body: no `serde_json::Value` tree or
/// intermediate `String` per answer or event (they were a tenth of the proxy's CPU).
pub(crate) fn write_json(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing to a `Vec` cannot fail, nor can our answers' serialization (string keys only).
    let written = serde_json::to_writer(out, value);
    debug_assert!(written.is_ok(), "{written:?}");
}

/// The top-level fields of the JSON object `body` not among `known`, as written.
///
/// Read beside the typed body rather than into it with `#[serde(flatten)]`, which would first
/// copy the whole body, messages included, into serde's generic content tree: here the known
/// fields are skipped over without a copy.
///
/// # Errors
/// A body that is not a JSON object.
pub(crate) fn extra_fields(
    body: &[u8],
    known: &'static [&'static str],
) -> serde_json::Result<Map<String, Value>> {
    Extra(known).deserialize(&mut serde_json::Deserializer::from_slice(body))
}

/// A key, borrowed from the body unless it has escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// [`extra_fields`]' reader, holding the known fields.
struct Extra(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Extra {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Extra {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut extra = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            if self.0.contains(&&*key) {
                map.next_value::<IgnoredAny>()?;
            } else {
                extra.insert(key.into_owned(), map.next_value()?);
            }
        }
        Ok(extra)
    }
}

/// Moves the conversation's last turn into `request.prompt` when it is a plain user message:
/// both APIs send the whole conversation, our request keeps history and prompt apart. A
/// conversation ending in a tool result keeps it in the history (the prompt stays empty).
pub(crate) fn take_prompt(request: &mut GenerateRequest) {
    if request
        .messages
        .last()
        .is_some_and(|m| m.role == Role::User && m.tool_calls.is_empty())
    {
        request.prompt = request
            .messages
            .pop()
            .map(|m| m.content)
            .unwrap_or_default();
    }
}

/// A tool's JSON Schema, or the schema of a tool without arguments when the client sent none.
pub(crate) fn tool_schema(schema: Option<Value>) -> Value {
    schema.unwrap_or_else(|| json!({ "type": "object", "properties": {} }))
}

/// The error `type` both APIs use for an HTTP status.
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The status a failed generation is answered with: the upstream's own when it sent one, so a
/// 429 stays a 429.
pub(crate) fn status_of(error: &ProviderError) -> u16 {
    if let Some(status) = error.status() {
        return status;
    }
    match error.kind() {
        ErrorKind::Timeout => 504,
        ErrorKind::Connect | ErrorKind::MalformedResponse | ErrorKind::Stream => 502,
        ErrorKind::RateLimited => 429,
        ErrorKind::InvalidRequest => 400,
        ErrorKind::Authentication => 401,
        ErrorKind::Server => 502,
        _ => 500,
    }
}

/// Seconds since the Unix epoch, for OpenAI's `created`.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde::de::Error as _;
    use serde::de::value::Error;

    use super::*;
    use crate::proxy::{anthropic::Anthropic, openai::OpenAi};

    /// A deserializer that only notes the field names a derived `Deserialize` asks for.
    struct FieldNames<'a>(&'a Cell<&'static [&'static str]>);

    impl<'de> Deserializer<'de> for FieldNames<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            self.0.set(fields);
            Err(Error::custom("names noted"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    /// A field of the typed body missing from `Api::FIELDS` would reach the upstream twice:
    /// as we send it, and again, as written, among the parameters we have no field for.
    fn every_body_field_is_named<A: Api>() {
        let names = Cell::new(&[][..]);
        let _ = A::Body::deserialize(FieldNames(&names));
        assert!(!names.get().is_empty(), "{}: no fields read", A::PROVIDER);
        for name in names.get() {
            assert!(
                A::FIELDS.contains(name),
                "{}: {name} is not in FIELDS",
                A::PROVIDER
            );
        }
    }

    #[test]
    fn each_apis_body_fields_are_named_in_its_fields() {
        every_body_field_is_named::<OpenAi>();
        every_body_field_is_named::<Anthropic>();
    }

    #[test]
    fn extra_fields_are_the_unknown_ones_as_written() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],
            "tool_choice":{"type":"any","n":[1,2.5,null]},"us\u0065r":"ann","stream":true}"#;
        let extra = extra_fields(body, &["model", "messages", "stream"]).unwrap();
        assert_eq!(
            Value::Object(extra).to_string(),
            r#"{"tool_choice":{"type":"any","n":[1,2.5,null]},"user":"ann"}"#
        );
        assert!(extra_fields(b"[1]", &[]).is_err());
    }
}
