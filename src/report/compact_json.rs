//! Compact JSON, byte for byte what `serde_json::to_writer` writes, but faster on long strings.
//!
//! The jsonl exporter spends most of its time escaping prompts and answers, and serde_json
//! looks at one byte at a time. This serializer checks eight bytes at once for the three
//! things JSON escapes (a control byte, `"`, `\`) and copies clean runs whole. Everything else
//! (numbers through serde_json's own `itoa` and `zmij`, `null` for non-finite floats, map
//! keys) follows serde_json, and property tests hold the two to the same output.

use serde::ser::{self, Serialize};

type Error = serde_json::Error;

/// Appends `value` as compact JSON to `out`.
///
/// # Errors
/// When `value`'s `Serialize` fails, or a map key is not a string, number, bool or char.
pub(crate) fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out })
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `chunk` is below 0x20, `"` or `\`: bit tricks exact for "any".
fn needs_escape(chunk: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(LOW) & !v & HIGH;
    let below_space = chunk.wrapping_sub(LOW * 0x20) & !chunk & HIGH;
    (below_space
        | has_zero(chunk ^ (LOW * u64::from(b'"')))
        | has_zero(chunk ^ (LOW * u64::from(b'\\'))))
        != 0
}

/// The escape serde_json writes for `byte`, if any.
fn escape(byte: u8) -> Option<&'static [u8]> {
    Some(match byte {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        0x0C => b"\\f",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x00..=0x1F => return Some(&CONTROL[byte as usize]),
        _ => return None,
    })
}

/// `\u00XX` for each control byte, as serde_json writes it (lowercase hex).
static CONTROL: [[u8; 6]; 32] = {
    let hex = b"0123456789abcdef";
    let mut table = [[0u8; 6]; 32];
    let mut byte = 0;
    while byte < 32 {
        table[byte] = [b'\\', b'u', b'0', b'0', hex[byte >> 4], hex[byte & 0xF]];
        byte += 1;
    }
    table
};

/// The eight bytes of `bytes` from `at`, as one word.
fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Whether any of the 32 bytes of `bytes` from `at` needs escaping: four words folded into one
/// test, so a clean run (most of a prompt or an answer) costs one branch per 32 bytes.
fn block_needs_escape(bytes: &[u8], at: usize) -> bool {
    // `|`, not `||`: all four words are tested, then one branch.
    (0..4).fold(false, |hit, n| hit | needs_escape(word(bytes, at + 8 * n)))
}

fn write_str(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i + 32 <= bytes.len() && !block_needs_escape(bytes, i) {
            i += 32;
            continue;
        }
        if i + 8 <= bytes.len() && !needs_escape(word(bytes, i)) {
            i += 8;
            continue;
        }
        // A hit in this word (or the tail): look at its bytes one by one.
        let end = (i + 8).min(bytes.len());
        while i < end {
            if let Some(escaped) = escape(bytes[i]) {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(escaped);
                start = i + 1;
            }
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

impl Writer<'_> {
    fn int(&mut self, value: impl itoa::Integer) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    fn float(&mut self, value: impl zmij::Float, finite: bool) {
        if finite {
            self.out
                .extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
        } else {
            self.out.extend_from_slice(b"null");
        }
    }

    /// `{"variant":` of an enum variant with data; the caller closes the brace.
    fn open_variant(&mut self, variant: &str) {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Writer<'b> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v, v.is_finite());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v, v.is_finite());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // serde_json writes bytes as an array of numbers.
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'[');
        Ok(Compound::new(self, b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.open_variant(variant);
        self.out.push(b'[');
        Ok(Compound::new(self, b"]}"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        self.out.push(b'{');
        Ok(Compound::new(self, b"}"))
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.open_variant(variant);
        self.out.push(b'{');
        Ok(Compound::new(self, b"}}"))
    }
}

/// An array or object being written: a comma before every element but the first.
pub(crate) struct Compound<'a, 'b> {
    writer: &'a mut Writer<'b>,
    first: bool,
    close: &'static [u8],
}

impl<'a, 'b> Compound<'a, 'b> {
    fn new(writer: &'a mut Writer<'b>, close: &'static [u8]) -> Self {
        Self {
            writer,
            first: true,
            close,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.comma();
        value.serialize(&mut *self.writer)
    }

    fn comma(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.writer.out.push(b',');
        }
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        // String keys (all of a trace's) directly; any other key as serde_json writes it.
        match key.serialize(KeyIsStr) {
            Ok(()) => key.serialize(&mut *self.writer)?,
            Err(_) => {
                let object = serde_json::to_vec(&OneKey(key))?;
                // `{<key>:null}` without its brace and `:null}`.
                self.writer
                    .out
                    .extend_from_slice(&object[1..object.len() - b":null}".len()]);
            }
        }
        self.writer.out.push(b':');
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.comma();
        write_str(self.writer.out, key);
        self.writer.out.push(b':');
        value.serialize(&mut *self.writer)
    }

    fn close(self) {
        self.writer.out.extend_from_slice(self.close);
    }
}

/// A map with the one entry `key: null`, to learn how serde_json writes an unusual key.
struct OneKey<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for OneKey<'_, T> {
    fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &())?;
        map.end()
    }
}

/// Succeeds only for a key that serializes as a plain string.
struct KeyIsStr;

impl ser::Serializer for KeyIsStr {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_char(self, _: char) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_str())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_str())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_str())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_str())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_str())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_str())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(not_str())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_str())
    }
}

fn not_str() -> Error {
    ser::Error::custom("not a string key")
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn same_as_serde_json<T: serde::Serialize>(value: &T) {
        let mut ours = Vec::new();
        super::write(&mut ours, value).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(value).unwrap()
        );
    }

    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(String),
        Tuple(i64, f64),
        Struct { name: String, sizes: Vec<u32> },
    }

    #[test]
    fn every_kind_of_value_is_written_as_serde_json_writes_it() {
        same_as_serde_json(&Shape::Unit);
        same_as_serde_json(&Shape::Newtype("a\"b".into()));
        same_as_serde_json(&Shape::Tuple(-3, 1.5e300));
        same_as_serde_json(&Shape::Struct {
            name: "\u{0}\u{1f}\u{7f}é😀\\/".into(),
            sizes: vec![],
        });
        same_as_serde_json(&(f64::NAN, f32::INFINITY, 0.1f32, -0.0f64, 'x', (), Some(1u8)));
        same_as_serde_json(&BTreeMap::from([(1u32, "a"), (2, "b")]));
        same_as_serde_json(&serde_json::json!({"k": [1, -2, 2.5, null, true, {"x": "y"}]}));
        same_as_serde_json(&serde_bytes_like());
    }

    fn serde_bytes_like() -> Vec<u8> {
        vec![0, 255]
    }

    proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(s in any::<String>(), t in "[\\x00-\\x7f]{0,40}") {
            same_as_serde_json(&s);
            same_as_serde_json(&t);
            same_as_serde_json(&BTreeMap::from([(s.clone(), t.clone())]));
        }

        #[test]
        fn any_trace_record_is_written_as_serde_json_writes_it(
            prompt in any::<String>(),
            key in any::<String>(),
            value in any::<String>(),
            n in any::<i64>(),
            f in any::<f64>(),
        ) {
            let record: crate::TraceRecord = serde_json::from_value(serde_json::json!({
                "trace_id": "00000000-0000-4000-8000-000000000001",
                "timestamp": "2025-11-08T12:34:56.789+00:00",
                "provider": "echo",
                "model": "m",
                "system_prompt": value,
                "prompt": prompt,
                "messages": [],
                "tools": [],
                "parameters": {},
                "response": null,
                "metadata": {key: value, "n": n, "f": f, "list": [n, f, prompt]},
            }))
            .unwrap();
            same_as_serde_json(&record);
        }

        #[test]
        fn long_strings_with_rare_escapes_are_escaped_as_serde_json_escapes_them(
            chars in prop::collection::vec(
                prop_oneof![
                    40 => Just('a'),
                    1 => Just('"'),
                    1 => Just('\\'),
                    1 => Just('\n'),
                    1 => Just('\u{1f}'),
                    1 => Just('é'),
                ],
                0..400,
            )
        ) {
            // Escapes at every offset of the 32- and 8-byte blocks the writer skips.
            same_as_serde_json(&chars.into_iter().collect::<String>());
        }

        #[test]
        fn any_number_is_written_as_serde_json_writes_it(a in any::<i64>(), b in any::<u128>(), c in any::<f64>(), d in any::<f32>()) {
            same_as_serde_json(&(a, b, c, d));
        }
    }
}
