//! [`Value`]: a dynamically typed packet, the plain data that JSON, MessagePack, CBOR and
//! Pickle have in common (with byte strings, which JSON lacks).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A dynamically typed packet: Python's plain data (`None`, `bool`, `int`, `float`, `str`,
/// `bytes`, `list`, `dict`).
///
/// It implements serde's `Serialize` and `Deserialize`, so it works with every serde-based
/// serializer: byte strings become MessagePack `bin`, CBOR byte strings and pickle `bytes`; maps
/// keep their order and may have keys of any type (JSON needs string or integer keys). When
/// decoding CBOR, tags are dropped and the tagged item kept (bignums become integers).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `None` / `null` / `nil`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (wide enough for both `i64` and `u64`).
    Int(i128),
    /// A double-precision float.
    Float(f64),
    /// A text string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list (Python lists and tuples).
    List(Vec<Value>),
    /// A map, in insertion order.
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a key up in a [`Value::Map`] whose keys are strings.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Int(n.into())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Self::Float(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(b)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Int(n) => {
                if let Ok(n) = i64::try_from(*n) {
                    serializer.serialize_i64(n)
                } else if let Ok(n) = u64::try_from(*n) {
                    serializer.serialize_u64(n)
                } else {
                    serializer.serialize_i128(*n)
                }
            }
            Self::Float(x) => serializer.serialize_f64(*x),
            Self::Str(s) => serializer.serialize_str(s),
            Self::Bytes(b) => serializer.serialize_bytes(b),
            Self::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("plain data (null, bool, number, string, bytes, list or map)")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Never trust a size hint from the peer for allocation: cap it.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
    /// Self-describing formats hand enum-like data here; in practice ciborium's CBOR tags (other
    /// than bignums), presented as a variant holding the tagged item. The tag is dropped and the
    /// item kept.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use de::VariantAccess;
        let (de::IgnoredAny, content) = data.variant()?;
        content.newtype_variant()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// The JSON mapping the command-line tool and the golden vectors use.
///
/// JSON has no byte strings, so a byte string is written as the one-key object
/// `{"$bytes": "<hex>"}` (lowercase hexadecimal, two digits a byte), and such an object is read
/// back as a byte string. Integers stay integers, numbers with a fraction or exponent become
/// floats. JSON object keys are strings: when converting to JSON, integer, float and boolean
/// keys are written as their JSON text (`1`, `2.5`, `true`), other keys as their compact JSON.
#[cfg(feature = "json")]
impl Value {
    /// Converts a JSON value, reading `{"$bytes": "<hex>"}` as a byte string.
    pub fn from_json(json: serde_json::Value) -> Result<Value, crate::ConversionError> {
        use serde_json::Value as J;
        Ok(match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i.into())
                } else if let Some(u) = n.as_u64() {
                    Value::Int(u.into())
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            J::String(s) => Value::Str(s),
            J::Array(items) => Value::List(
                items
                    .into_iter()
                    .map(Value::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => {
                if map.len() == 1 {
                    if let Some(J::String(hex)) = map.get("$bytes") {
                        return decode_hex(hex).map(Value::Bytes);
                    }
                }
                Value::Map(
                    map.into_iter()
                        .map(|(k, v)| Ok((Value::Str(k), Value::from_json(v)?)))
                        .collect::<Result<_, crate::ConversionError>>()?,
                )
            }
        })
    }

    /// Converts to JSON, writing byte strings as `{"$bytes": "<hex>"}`. Non-finite floats
    /// become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(n) => {
                if let Ok(i) = i64::try_from(*n) {
                    J::from(i)
                } else if let Ok(u) = u64::try_from(*n) {
                    J::from(u)
                } else {
                    // Beyond 64 bits: JSON numbers can hold it, serde_json cannot; keep the digits.
                    J::String(n.to_string())
                }
            }
            Value::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Bytes(b) => {
                let mut map = serde_json::Map::new();
                map.insert("$bytes".to_owned(), J::String(encode_hex(b)));
                J::Object(map)
            }
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Value::Str(s) => s.clone(),
                            other => other.to_json().to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }
}

#[cfg(feature = "json")]
fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(feature = "json")]
fn decode_hex(hex: &str) -> Result<Vec<u8>, crate::ConversionError> {
    let bad = || {
        crate::ConversionError::new(format!(
            "\"$bytes\" is not an even-length hex string: {hex:?}"
        ))
    };
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| bad())?;
            u8::from_str_radix(s, 16).map_err(|_| bad())
        })
        .collect()
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_mapping_round_trip() {
        let j = json!({"a": [1, -2, 2.5, null, true], "b": {"$bytes": "00ff10"}, "s": "x"});
        let v = Value::from_json(j.clone()).unwrap();
        assert_eq!(v.get("b"), Some(&Value::Bytes(vec![0, 0xff, 0x10])));
        assert_eq!(v.to_json(), j);
        assert!(Value::from_json(json!({"$bytes": "abc"})).is_err());
        assert!(Value::from_json(json!({"$bytes": "zz"})).is_err());
    }

    #[test]
    fn non_string_keys_become_json_text() {
        let v = Value::Map(vec![
            (Value::Int(1), Value::Null),
            (Value::Bool(true), Value::Null),
        ]);
        assert_eq!(v.to_json(), json!({"1": null, "true": null}));
    }
}
