//! CBOR serializer, byte-compatible with EasyNetwork's `CBORSerializer`.

use std::marker::PhantomData;

use bytes::{Buf, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{DeserializeError, SerializeError};
use crate::item_scan::{check_datagram, whole_item, Format, ItemScanner, MAX_DEPTH};
use crate::serializer::{
    rollback_on_error, write_via_scratch, DatagramSerializer, StreamSerializer,
};
use crate::value::Value;

mod encode;

/// CBOR packets of type `T` (any serde type; [`Value`] by default): decoded with ciborium, and
/// encoded the way ciborium maps serde's data model (by an encoder of our own, which writes
/// floats as cbor2 does in the same pass).
///
/// Output matches Python's `cbor2.dumps` with EasyNetwork's defaults: structs are maps keyed by
/// field name, byte strings ([`Value::Bytes`], `serde_bytes`) are CBOR byte strings, lengths are
/// definite, integers take the smallest encoding, and floats are written as cbor2 writes them:
/// finite values as 64-bit doubles, NaN and infinities as 16-bit floats. Python's `{"a": 1}` is
/// `A1 61 61 01`.
///
/// * Datagrams: exactly one CBOR data item; missing bytes are
///   [`Incomplete`](crate::DeserializeErrorKind::Incomplete), extra bytes
///   [`TrailingData`](crate::DeserializeErrorKind::TrailingData).
/// * Streams: data items back to back, with no framing (a CBOR sequence, RFC 8742). The decoder
///   finds where each item ends by reading headers only (in one quick pass when the item is all
///   there), resuming where it stopped when more bytes arrive, so receiving an item in many
///   small chunks costs time linear in its size (EasyNetwork re-parses the whole buffer on every
///   chunk).
///
/// Decoding accepts all of CBOR's framing: indefinite-length strings, arrays and maps ended by a
/// break, tags, simple values, and half, single and double floats. Into [`Value`], a tag is
/// dropped and the tagged item kept, except bignums (tags 2 and 3), which become integers;
/// `undefined` becomes [`Value::Null`]; other simple values are an error.
///
/// Limits and errors on a stream:
/// * an item longer than the limit (64 KiB by default) is reported once as a recoverable
///   [`LimitExceeded`](crate::DeserializeErrorKind::LimitExceeded) error and skipped as it
///   arrives, without being buffered; the next item decodes normally (EasyNetwork drops the whole
///   buffer instead). A header announcing a huge string reserves nothing;
/// * an item nesting more than 256 arrays, maps and tags is consumed and rejected as a
///   recoverable [`Invalid`](crate::DeserializeErrorKind::Invalid) error, so deep input cannot
///   overflow the stack (past that depth, more than 256 further levels of indefinite-length
///   containers cannot be followed and are treated as malformed input);
/// * an item that does not fit `T` is a recoverable `Invalid` error: it is consumed and the
///   next item follows;
/// * malformed input (additional information 28 to 30, an indefinite length on an integer or
///   a tag, a misplaced break, a wrong chunk inside an indefinite-length string) is an `Invalid`
///   error, after which decoding goes on right after the bad byte, as with cbor2: a bad byte
///   that starts an item is consumed alone and the error is recoverable (`1C 82 01 02` is an
///   error, then `[1, 2]`); a bad byte inside an item ends the item there, and the error is
///   unrecoverable since what follows may be the rest of the broken item.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{CborSerializer, DatagramSerializer, StreamSerializer, Value};
/// use serde::{Deserialize, Serialize};
///
/// let s = CborSerializer::<Value>::new();
/// let mut wire = BytesMut::new();
/// s.encode(&Value::Map(vec![("a".into(), 1.into())]), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"\xa1\x61a\x01");
///
/// // Indefinite lengths, as some encoders send them.
/// let v = s.deserialize(b"\xbf\x61a\x9f\x01\x02\xff\xff").unwrap();
/// assert_eq!(v, Value::Map(vec![("a".into(), Value::List(vec![1.into(), 2.into()]))]));
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Point {
///     x: i32,
///     y: i32,
/// }
/// let s = CborSerializer::<Point>::new();
/// let mut wire = BytesMut::new();
/// s.encode(&Point { x: 1, y: -2 }, &mut wire).unwrap();
/// assert_eq!(&wire[..], b"\xa2\x61x\x01\x61y\x21");
/// let mut state = s.decode_state();
/// assert_eq!(s.decode(&mut state, &mut wire).unwrap(), Some(Point { x: 1, y: -2 }));
/// ```
pub struct CborSerializer<T = Value> {
    limit: usize,
    _packet: PhantomData<fn(&T) -> T>,
}

crate::serializer::limited_serializer!(CborSerializer, "data item");

impl<T: Serialize> CborSerializer<T> {
    fn write(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        write_via_scratch(dst, |out| {
            encode::encode(packet, out)
                .map_err(|e| SerializeError::with_source("cannot encode packet as CBOR", e))
        })
    }
}

impl<T: DeserializeOwned> CborSerializer<T> {
    /// The general case of [`decode`](StreamSerializer::decode): the resumable scanner frames
    /// the item, then it is parsed.
    fn decode_scanned(
        &self,
        state: &mut CborDecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<T>, DeserializeError> {
        match state.0.next_item(src, self.limit)? {
            Some(item) => parse(&item).map(Some),
            None => Ok(None),
        }
    }
}

/// Deserializes one whole, well-framed item.
fn parse<T: DeserializeOwned>(item: &[u8]) -> Result<T, DeserializeError> {
    ciborium::de::from_reader_with_recursion_limit(item, MAX_DEPTH)
        .map_err(|e| DeserializeError::invalid("CBOR decode error").with_source(e))
}

impl<T: Serialize + DeserializeOwned> DatagramSerializer for CborSerializer<T> {
    type Sent = T;
    type Received = T;

    fn serialize(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| self.write(packet, dst))
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<T, DeserializeError> {
        if whole_item(Format::Cbor, datagram) != Some(datagram.len()) {
            // Not the simple case: the scanner says what is wrong, if anything.
            check_datagram(Format::Cbor, datagram)?;
        }
        parse(datagram)
    }
}

/// Decoding state of [`CborSerializer`] on a stream: where the item-boundary scanner stopped in
/// the current data item.
#[derive(Debug, Clone)]
pub struct CborDecodeState(ItemScanner);

impl Default for CborDecodeState {
    fn default() -> Self {
        Self(ItemScanner::new(Format::Cbor))
    }
}

impl<T: Serialize + DeserializeOwned> StreamSerializer for CborSerializer<T> {
    type Sent = T;
    type Received = T;
    type DecodeState = CborDecodeState;

    fn decode_state(&self) -> CborDecodeState {
        CborDecodeState::default()
    }

    fn encode(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| self.write(packet, dst))
    }

    fn decode(
        &self,
        state: &mut CborDecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<T>, DeserializeError> {
        // At the start of an item, one tight pass over what is buffered (up to the limit) finds
        // the end of a complete, well-formed item; anything else goes to the resumable scanner,
        // which is then past the start, so an item arriving in many chunks is looked at by the
        // tight pass at most once (or again while its first header is incomplete).
        if state.0.at_item_start() {
            let window = &src[..src.len().min(self.limit)];
            #[cfg(test)]
            {
                state.0.fast_path_bytes += window.len() as u64;
            }
            if let Some(end) = whole_item(Format::Cbor, window) {
                let packet = parse(&src[..end]);
                src.advance(end);
                return packet.map(Some);
            }
        }
        self.decode_scanned(state, src)
    }

    fn decode_eof(
        &self,
        state: &mut CborDecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<T>, DeserializeError> {
        match self.decode(state, src)? {
            Some(packet) => Ok(Some(packet)),
            None => state.0.finish(src).map(|()| None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item_scan::{Parsed, Token, MAX_FRAMES};
    use crate::DeserializeErrorKind;
    use crate::DEFAULT_LIMIT;
    use proptest::prelude::*;
    use serde::Deserialize;

    /// The rewriting the encoder did before it fixed floats in the same pass, kept as a test oracle:
    /// rewrites the floats of ciborium's output (which picks the shortest exact width) as cbor2
    /// writes them: finite values as doubles, NaN as `F9 7E 00`, infinities as `F9 7C 00` and
    /// `F9 FC 00`. Returns `None` when nothing changes.
    ///
    /// CBOR containers count items, not bytes, so widening a float in place keeps the rest valid.
    fn python_floats(encoded: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut pos = 0;
        while pos < encoded.len() {
            let rest = encoded.get(pos..)?;
            let Parsed::Header { len, token } = Format::Cbor.header(rest) else {
                return None;
            };
            let payload = match token {
                Token::Scalar { payload, .. } => usize::try_from(payload).ok()?,
                _ => 0,
            };
            let end = pos.checked_add(len)?.checked_add(payload)?;
            let value = match (rest.first(), encoded.get(pos + 1..end)) {
                (Some(0xf9), Some(&[a, b])) => Some(f16_to_f64(u16::from_be_bytes([a, b]))),
                (Some(0xfa), Some(&[a, b, c, d])) => {
                    Some(f64::from(f32::from_be_bytes([a, b, c, d])))
                }
                (Some(0xfb), Some(bytes)) => {
                    <[u8; 8]>::try_from(bytes).ok().map(f64::from_be_bytes)
                }
                _ => None,
            };
            if let Some(value) = value {
                let mut want = [0u8; 9];
                let want = if value.is_nan() {
                    &[0xf9, 0x7e, 0x00][..]
                } else if value.is_infinite() {
                    if value > 0.0 {
                        &[0xf9, 0x7c, 0x00][..]
                    } else {
                        &[0xf9, 0xfc, 0x00][..]
                    }
                } else {
                    want[0] = 0xfb;
                    want[1..].copy_from_slice(&value.to_be_bytes());
                    &want[..]
                };
                let have = encoded.get(pos..end)?;
                if want != have {
                    let out = out.get_or_insert_with(|| Vec::with_capacity(encoded.len() + 16));
                    out.extend_from_slice(encoded.get(copied..pos)?);
                    out.extend_from_slice(want);
                    copied = end;
                }
            }
            pos = end;
        }
        let mut out = out?;
        out.extend_from_slice(encoded.get(copied..)?);
        Some(out)
    }

    /// Converts an IEEE 754 half-precision float.
    fn f16_to_f64(bits: u16) -> f64 {
        let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
        let exponent = i32::from((bits >> 10) & 0x1f);
        let fraction = f64::from(bits & 0x3ff);
        match exponent {
            0 => sign * fraction * 2f64.powi(-24),
            31 if fraction == 0.0 => sign * f64::INFINITY,
            31 => f64::NAN,
            _ => sign * (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Hello {
        name: String,
        visits: u32,
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::from(*k), v.clone()))
                .collect(),
        )
    }

    fn encode<T: Serialize + DeserializeOwned>(s: &CborSerializer<T>, v: &T) -> Vec<u8> {
        let mut b = BytesMut::new();
        StreamSerializer::encode(s, v, &mut b).unwrap();
        b.to_vec()
    }

    type Outcome<T> = Result<T, (DeserializeErrorKind, bool)>;

    fn decode_all<T: Serialize + DeserializeOwned>(
        s: &CborSerializer<T>,
        chunks: &[&[u8]],
    ) -> Vec<Outcome<T>> {
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            for _ in 0..10_000 {
                match s.decode(&mut state, &mut buf) {
                    Ok(Some(v)) => out.push(Ok(v)),
                    Ok(None) => break,
                    Err(e) => out.push(Err((e.kind(), e.is_recoverable()))),
                }
            }
        }
        out
    }

    fn bytewise(input: &[u8]) -> Vec<&[u8]> {
        input.chunks(1).collect()
    }

    const LIMIT_ERR: DeserializeErrorKind = DeserializeErrorKind::LimitExceeded { limit: 16 };
    const INVALID: DeserializeErrorKind = DeserializeErrorKind::Invalid;

    #[test]
    fn python_known_bytes() {
        let s = CborSerializer::<Value>::new();
        assert_eq!(
            encode(&s, &map(&[("a", 1.into())])),
            [0xa1, 0x61, b'a', 0x01]
        );
        assert_eq!(encode(&s, &Value::Bytes(vec![1, 2, 3])), [0x43, 1, 2, 3]);
        assert_eq!(encode(&s, &Value::from("é")), [0x62, 0xc3, 0xa9]);
        assert_eq!(encode(&s, &Value::Null), [0xf6]);
        assert_eq!(encode(&s, &Value::Int(-500)), [0x39, 0x01, 0xf3]);
        // cbor2 writes finite floats as doubles, NaN and infinities as halves.
        assert_eq!(
            encode(&s, &Value::Float(1.5)),
            [0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            encode(&s, &Value::Float(0.1)),
            [0xfb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
        );
        assert_eq!(encode(&s, &Value::Float(f64::NAN)), [0xf9, 0x7e, 0x00]);
        assert_eq!(encode(&s, &Value::Float(f64::INFINITY)), [0xf9, 0x7c, 0x00]);
        assert_eq!(
            encode(&s, &Value::Float(f64::NEG_INFINITY)),
            [0xf9, 0xfc, 0x00]
        );
        assert_eq!(
            encode(
                &s,
                &Value::List(vec![
                    Value::Float(-0.0),
                    Value::from("x"),
                    Value::Float(65504.0)
                ])
            ),
            [
                0x83, 0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x61, b'x', 0xfb, 0x40, 0xef, 0xfc, 0, 0, 0,
                0, 0
            ]
        );
        // Bytes that look like float headers inside a string are left alone.
        assert_eq!(
            encode(&s, &Value::Bytes(vec![0xf9, 0x3c, 0x00])),
            [0x43, 0xf9, 0x3c, 0x00]
        );
        let s = CborSerializer::<Hello>::new();
        let hello = Hello {
            name: "ana".into(),
            visits: 2,
        };
        let mut want = vec![0xa2, 0x64];
        want.extend_from_slice(b"name");
        want.extend_from_slice(&[0x63, b'a', b'n', b'a', 0x66]);
        want.extend_from_slice(b"visits");
        want.push(0x02);
        assert_eq!(encode(&s, &hello), want);
        assert_eq!(s.deserialize(&want).unwrap(), hello);
    }

    #[test]
    fn half_conversion() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x0001), 5.960464477539063e-8);
        assert_eq!(f16_to_f64(0x0400), 6.103515625e-5);
        assert!(f16_to_f64(0x8000).is_sign_negative());
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
    }

    #[test]
    fn decodes_all_cbor_framing() {
        let s = CborSerializer::<Value>::new();
        let cases: Vec<(&[u8], Value)> = vec![
            (
                &[0x9f, 0x01, 0x02, 0xff],
                Value::List(vec![1.into(), 2.into()]),
            ),
            (&[0xbf, 0x61, b'a', 0x01, 0xff], map(&[("a", 1.into())])),
            (
                &[0x5f, 0x42, 0x01, 0x02, 0x41, 0x03, 0xff],
                Value::Bytes(vec![1, 2, 3]),
            ),
            (&[0x7f, 0x61, b'a', 0x61, b'b', 0xff], Value::from("ab")),
            (
                &[0x9f, 0x9f, 0xff, 0x82, 0x5f, 0xff, 0xf5, 0xff],
                Value::List(vec![
                    Value::List(vec![]),
                    Value::List(vec![Value::Bytes(vec![]), Value::Bool(true)]),
                ]),
            ),
            // tag 1 (epoch time): the tag is dropped
            (&[0xc1, 0x1a, 0x00, 0x00, 0x00, 0x2a], Value::Int(42)),
            // nested tags around a string
            (
                &[0xd8, 0x20, 0xd9, 0x01, 0x00, 0x61, b'u'],
                Value::from("u"),
            ),
            // bignum 2^64
            (
                &[0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                Value::Int(1 << 64),
            ),
            (&[0xf4], Value::Bool(false)),
            (&[0xf6], Value::Null),
            (&[0xf7], Value::Null),
            (&[0xf9, 0x3c, 0x00], Value::Float(1.0)),
            (&[0xfa, 0x3f, 0xc0, 0x00, 0x00], Value::Float(1.5)),
            (
                &[0xfb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18],
                Value::Float(std::f64::consts::PI),
            ),
            (
                &[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                Value::Int(-(1 << 64)),
            ),
        ];
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (bytes, value) in &cases {
            assert_eq!(&s.deserialize(bytes).unwrap(), value, "{bytes:02x?}");
            wire.extend_from_slice(bytes);
            want.push(Ok(value.clone()));
        }
        assert_eq!(decode_all(&s, &[&wire]), want);
        assert_eq!(decode_all(&s, &bytewise(&wire)), want);
        let chunks: Vec<&[u8]> = wire.chunks(4).collect();
        assert_eq!(decode_all(&s, &chunks), want);
        // A simple value Value cannot hold: framed, consumed, rejected, recoverable.
        assert_eq!(
            decode_all(&s, &[&[0xf8, 0x20, 0x01]]),
            vec![Err((INVALID, true)), Ok(Value::Int(1))]
        );
    }

    #[test]
    fn stream_chunking() {
        let s = CborSerializer::<Value>::new();
        let items = vec![
            map(&[("a", 1.into())]),
            Value::Bytes(vec![7; 300]),
            Value::List(vec![Value::from("x"), Value::Float(-0.5), Value::Null]),
            Value::from("y".repeat(30_000)),
            Value::Int(-(1 << 40)),
        ];
        let mut wire = Vec::new();
        for v in &items {
            wire.extend(encode(&s, v));
        }
        let want: Vec<Outcome<Value>> = items.iter().cloned().map(Ok).collect();
        assert_eq!(decode_all(&s, &[&wire]), want);
        assert_eq!(decode_all(&s, &bytewise(&wire)), want);
        let chunks: Vec<&[u8]> = wire.chunks(7).collect();
        assert_eq!(decode_all(&s, &chunks), want);
    }

    #[test]
    fn wrong_type_is_recoverable_and_leaves_the_rest() {
        let s = CborSerializer::<Hello>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0x61, b'x', 0xa0, 0x82][..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), INVALID);
        assert!(err.is_recoverable());
        assert_eq!(&buf[..], [0xa0, 0x82]);
        // an empty map lacks the fields: consumed, recoverable
        assert!(s.decode(&mut state, &mut buf).unwrap_err().is_recoverable());
        assert_eq!(&buf[..], [0x82]);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
    }

    fn list(items: &[i128]) -> Value {
        Value::List(items.iter().map(|&n| Value::Int(n)).collect())
    }

    #[test]
    fn malformed_header_at_item_start_is_skipped_alone() {
        // cbor2 reads the bad byte, reports it and goes on with the next one: EasyNetwork's
        // `1C 82 01 02 61 78` is an error, then [1, 2], then "x".
        let s = CborSerializer::<Value>::new();
        let bad_bytes = [
            0x1c, 0x1d, 0x1e, 0x3c, 0x5d, 0x7e, 0x9c, 0xbd, 0xde, 0xfc, 0xfd,
            0xfe, // reserved
            0x1f, 0x3f, 0xdf, // indefinite-length integer or tag
            0xff, // break outside any container
        ];
        for bad in bad_bytes {
            let wire = [bad, 0x82, 0x01, 0x02, 0x61, b'x'];
            let want = vec![
                Err((INVALID, true)),
                Ok(list(&[1, 2])),
                Ok(Value::from("x")),
            ];
            assert_eq!(decode_all(&s, &[&wire]), want, "{bad:02x}");
            assert_eq!(decode_all(&s, &bytewise(&wire)), want, "{bad:02x}");
            // The rest after the error is exactly what follows the bad byte.
            let mut state = s.decode_state();
            let mut buf = BytesMut::from(&wire[..]);
            let err = s.decode(&mut state, &mut buf).unwrap_err();
            assert!(err.is_recoverable());
            assert_eq!(&buf[..], &wire[1..], "{bad:02x}");
            // A datagram is just invalid.
            assert_eq!(s.deserialize(&wire[..1]).unwrap_err().kind(), INVALID);
        }
    }

    #[test]
    fn malformed_header_inside_an_item_loses_its_framing() {
        // The item is consumed up to and including the bad byte, the error is unrecoverable
        // (what follows may be the rest of the broken item), and decoding goes on after it.
        let s = CborSerializer::<Value>::new();
        let cases: &[(&[u8], usize)] = &[
            // reserved additional information
            (&[0x82, 0x01, 0x1c], 3),
            // break in a definite-length array
            (&[0x82, 0x01, 0xff], 3),
            // break after a map key with no value
            (&[0xbf, 0x01, 0xff], 3),
            // a text chunk in a byte string; the chunk's length byte is left
            (&[0x5f, 0x41, 0x00, 0x78, 0x00], 4),
            // indefinite-length integer; indefinite-length tag
            (&[0x81, 0x1f], 2),
            (&[0x9f, 0xdf], 2),
            // an indefinite-length text string in one, under a tag
            (&[0xd8, 0x20, 0x7f, 0x7f], 4),
        ];
        for &(bytes, consumed) in cases {
            let mut state = s.decode_state();
            let mut wire = bytes.to_vec();
            wire.extend_from_slice(&[0x81, 0x07]);
            let mut buf = BytesMut::from(&wire[..]);
            let err = s.decode(&mut state, &mut buf).unwrap_err();
            assert_eq!(err.kind(), INVALID, "{bytes:02x?}");
            assert!(!err.is_recoverable(), "{bytes:02x?}");
            assert_eq!(&buf[..], &wire[consumed..], "{bytes:02x?}");
            // In one chunk and byte by byte: the error, then what follows the bad byte.
            let mut want = vec![Err((INVALID, false))];
            if consumed < bytes.len() {
                want.push(Ok(Value::Int(0)));
            }
            want.push(Ok(list(&[7])));
            assert_eq!(decode_all(&s, &[&wire]), want, "{bytes:02x?}");
            assert_eq!(decode_all(&s, &bytewise(&wire)), want, "{bytes:02x?}");
            for size in 2..5 {
                let chunks: Vec<&[u8]> = wire.chunks(size).collect();
                assert_eq!(decode_all(&s, &chunks), want, "{bytes:02x?}");
            }
            assert_eq!(s.deserialize(bytes).unwrap_err().kind(), INVALID);
        }
    }

    #[test]
    fn malformed_header_while_skipping_an_oversized_item() {
        // An indefinite-length byte string longer than the limit: reported, then skipped; a
        // text chunk inside it loses the framing. The bad header's first byte is the last one
        // consumed, whether it arrived whole or split across chunks (its second byte, 00, then
        // decodes as the integer 0).
        let s = CborSerializer::<Value>::new().with_limit(16);
        let mut wire = vec![0x5f, 0x58, 20];
        wire.extend_from_slice(&[0xaa; 20]);
        wire.extend_from_slice(&[0x78, 0x00, 0x81, 0x07]);
        let limit_first = vec![
            Err((LIMIT_ERR, true)),
            Err((INVALID, false)),
            Ok(Value::Int(0)),
            Ok(list(&[7])),
        ];
        for size in 1..12 {
            let chunks: Vec<&[u8]> = wire.chunks(size).collect();
            assert_eq!(decode_all(&s, &chunks), limit_first, "chunk size {size}");
        }
        // In one chunk the scanner reaches the bad header before it knows the item is too long.
        assert_eq!(decode_all(&s, &[&wire]), limit_first[1..].to_vec());
    }

    #[test]
    fn oversized_items_are_skipped() {
        let s = CborSerializer::<Value>::new().with_limit(16);
        // known length: a 40-byte text string
        let mut known = vec![0x78, 40];
        known.extend_from_slice(&[b'z'; 40]);
        // unknown length: an indefinite array of 30 ints, then an indefinite string in chunks
        let mut unknown = vec![0x9f];
        unknown.extend(0..23u8);
        unknown.extend_from_slice(&[0x7f, 0x63, b'a', b'b', b'c', 0x60, 0xff, 0xff]);
        for big in [known, unknown] {
            let mut wire = big.clone();
            wire.extend_from_slice(&[0x62, b'o', b'k']);
            let want = vec![Err((LIMIT_ERR, true)), Ok(Value::from("ok"))];
            assert_eq!(decode_all(&s, &[&wire]), want);
            assert_eq!(decode_all(&s, &bytewise(&wire)), want);
            for size in 2..9 {
                let chunks: Vec<&[u8]> = wire.chunks(size).collect();
                assert_eq!(decode_all(&s, &chunks), want, "chunk size {size}");
            }
            // One chunk: the rest after the error is exactly the next item.
            let mut state = s.decode_state();
            let mut buf = BytesMut::from(&wire[..]);
            assert_eq!(
                s.decode(&mut state, &mut buf).unwrap_err().kind(),
                LIMIT_ERR
            );
            assert_eq!(&buf[..], [0x62, b'o', b'k']);
        }
    }

    #[test]
    fn huge_announced_length_reserves_nothing() {
        // a byte string of 2^64 - 1 bytes, and one of 4 GiB
        for wire in [
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2][..],
            &[0x5a, 0xff, 0xff, 0xff, 0xff, 1, 2][..],
        ] {
            let s = CborSerializer::<Value>::new();
            let mut state = s.decode_state();
            let mut buf = BytesMut::with_capacity(16);
            buf.extend_from_slice(wire);
            let err = s.decode(&mut state, &mut buf).unwrap_err();
            assert_eq!(
                err.kind(),
                DeserializeErrorKind::LimitExceeded {
                    limit: DEFAULT_LIMIT
                }
            );
            assert!(buf.is_empty());
            assert!(buf.capacity() <= 16);
            let s = CborSerializer::<Value>::new().with_limit(usize::MAX);
            let mut state = s.decode_state();
            let mut buf = BytesMut::with_capacity(16);
            buf.extend_from_slice(wire);
            assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
            assert!(buf.capacity() <= 16);
            assert_eq!(
                s.deserialize(wire).unwrap_err().kind(),
                DeserializeErrorKind::Incomplete
            );
        }
        // An array announcing 2^64 - 1 items waits for them, reserving nothing.
        let s = CborSerializer::<Value>::new();
        assert_eq!(
            decode_all(
                &s,
                &[&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]
            ),
            vec![]
        );
    }

    #[test]
    fn deep_nesting_is_rejected_without_recursing() {
        let s = CborSerializer::<Value>::new().with_limit(1 << 20);
        let nested = |depth: usize, open: u8| {
            let mut out = vec![open; depth];
            out.push(0x01);
            out
        };
        let mut v = Value::Int(1);
        for _ in 0..MAX_DEPTH {
            v = Value::List(vec![v]);
        }
        assert_eq!(s.deserialize(&nested(MAX_DEPTH, 0x81)).unwrap(), v);
        assert_eq!(decode_all(&s, &[&nested(MAX_DEPTH, 0x81)]), vec![Ok(v)]);
        // tags count as levels too
        assert_eq!(
            s.deserialize(&nested(MAX_DEPTH, 0xc6)).unwrap(),
            Value::Int(1)
        );
        for open in [0x81, 0xc6] {
            let mut wire = nested(MAX_DEPTH + 1, open);
            wire.push(0x07);
            assert_eq!(
                decode_all(&s, &[&wire]),
                vec![Err((INVALID, true)), Ok(Value::Int(7))],
                "{open:02x}"
            );
            let mut wire = nested(300_000, open);
            wire.push(0x07);
            assert_eq!(
                decode_all(&s, &[&wire]),
                vec![Err((INVALID, true)), Ok(Value::Int(7))]
            );
            assert_eq!(
                s.deserialize(&nested(300_000, open)).unwrap_err().kind(),
                INVALID
            );
        }
        // Indefinite-length containers past the depth limit: bounded memory, framing given up
        // at the first container that cannot be followed, which is consumed.
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&vec![0x9f; 100_000][..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert!(!err.is_recoverable());
        assert_eq!(buf.len(), 100_000 - MAX_FRAMES - 1);
        assert!(state.0.stack_len() <= MAX_FRAMES);
        // A moderate number of them is still followed exactly.
        let mut wire = vec![0x9f; MAX_DEPTH + 50];
        wire.extend(vec![0xff; MAX_DEPTH + 50]);
        wire.push(0x07);
        assert_eq!(
            decode_all(&s, &[&wire]),
            vec![Err((INVALID, true)), Ok(Value::Int(7))]
        );
    }

    #[test]
    fn datagram_errors() {
        let s = CborSerializer::<Value>::new();
        let kind = |bytes: &[u8]| s.deserialize(bytes).unwrap_err().kind();
        assert_eq!(kind(&[0xa1, 0x61, b'a']), DeserializeErrorKind::Incomplete);
        assert_eq!(kind(&[0x9f, 0x01]), DeserializeErrorKind::Incomplete);
        assert_eq!(kind(&[]), DeserializeErrorKind::Incomplete);
        assert_eq!(kind(&[0x01, 0x02]), DeserializeErrorKind::TrailingData);
        assert_eq!(
            kind(&[0x9f, 0xff, 0xff]),
            DeserializeErrorKind::TrailingData
        );
        assert_eq!(kind(&[0x1c]), INVALID);
        let s = CborSerializer::<bool>::new();
        assert_eq!(s.deserialize(&[0x01]).unwrap_err().kind(), INVALID);
        assert!(s.deserialize(&[0xf5]).unwrap());
        let mut out = BytesMut::from(&b"keep"[..]);
        s.serialize(&false, &mut out).unwrap();
        assert_eq!(&out[..], b"keep\xf4");
    }

    #[test]
    fn eof_in_the_middle_of_an_item() {
        let s = CborSerializer::<Value>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0x01, 0x9f, 0x01][..]);
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap(),
            Some(Value::Int(1))
        );
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap_err().kind(),
            DeserializeErrorKind::Incomplete
        );
        assert!(buf.is_empty());
        assert_eq!(s.decode_eof(&mut state, &mut buf).unwrap(), None);
    }

    #[test]
    fn fast_path_runs_once_per_item_in_chunks() {
        // A big item arriving in 1000-byte chunks behind small ones: each item is handed to the
        // fast path once, however many chunks it takes.
        let s = CborSerializer::<Value>::new();
        let big = Value::List((0..20_000).map(Value::Int).collect());
        let items = [Value::Int(1), big, Value::from("end")];
        let wire: Vec<u8> = items.iter().flat_map(|v| encode(&s, v)).collect();
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(1000) {
            buf.extend_from_slice(chunk);
            while let Some(v) = s.decode(&mut state, &mut buf).unwrap() {
                got.push(v);
            }
        }
        assert_eq!(got, items);
        let handed = state.0.fast_path_bytes;
        assert!(handed <= 3000, "{handed} bytes for {}", wire.len());
    }

    #[test]
    fn linear_when_fed_byte_by_byte() {
        let s = CborSerializer::<Value>::new();
        let v = Value::List(
            (0..12_000)
                .map(|i| {
                    if i % 2 == 0 {
                        Value::from("abcd")
                    } else {
                        Value::Int(i * 7)
                    }
                })
                .collect(),
        );
        let wire = encode(&s, &v);
        assert!(wire.len() > 40_000, "{}", wire.len());
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut got = None;
        for b in &wire {
            buf.extend_from_slice(&[*b]);
            if let Some(v) = s.decode(&mut state, &mut buf).unwrap() {
                got = Some(v);
            }
        }
        assert_eq!(got, Some(v));
        // The fast path ran at most while the first header was incomplete.
        assert!(state.0.fast_path_bytes <= 20, "{}", state.0.fast_path_bytes);
        let examined = state.0.examined();
        assert!(
            examined <= 3 * wire.len() as u64,
            "{examined} header bytes for {} bytes",
            wire.len()
        );
    }

    fn value_strategy() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Int(n.into())),
            any::<u64>().prop_map(|n| Value::Int(n.into())),
            (-1e300f64..1e300).prop_map(Value::Float),
            ".{0,40}".prop_map(Value::Str),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::List),
                proptest::collection::vec((inner.clone(), inner), 0..8).prop_map(Value::Map),
            ]
        })
    }

    /// ciborium's own bytes, floats rewritten by the old second pass.
    fn oracle<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        let mut plain = Vec::new();
        ciborium::into_writer(value, &mut plain).unwrap();
        python_floats(&plain).unwrap_or(plain)
    }

    fn encoded<T: Serialize + DeserializeOwned>(value: &T) -> Vec<u8> {
        encode(&CborSerializer::<T>::new(), value)
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Shape {
        Unit,
        Circle(f32),
        Point(f64, f64),
        Rect { w: f64, h: Option<f32> },
    }

    #[test]
    fn floats_rewritten_everywhere_serde_reaches() {
        // f32, floats in every kind of compound, in options, keys, newtypes and enum variants.
        let shapes = vec![
            Shape::Unit,
            Shape::Circle(0.5),
            Shape::Circle(f32::NAN),
            Shape::Point(1.0, -0.0),
            Shape::Rect {
                w: 1e300,
                h: Some(f32::INFINITY),
            },
            Shape::Rect { w: 0.1, h: None },
        ];
        assert_eq!(encoded(&shapes), oracle(&shapes));
        let tuple = (1.5f32, (2.5f64, [3.5f64; 2]), Some(4.5f64), "x");
        let mut wire = BytesMut::new();
        CborSerializer::<(f32, (f64, [f64; 2]), Option<f64>, String)>::new()
            .serialize(
                &(1.5, (2.5, [3.5; 2]), Some(4.5), "x".to_owned()),
                &mut wire,
            )
            .unwrap();
        assert_eq!(&wire[..], oracle(&tuple));
        let mut keyed = std::collections::BTreeMap::new();
        keyed.insert(1u8, vec![f64::NEG_INFINITY, 65504.0, 5e-324]);
        keyed.insert(2u8, vec![]);
        assert_eq!(encoded(&keyed), oracle(&keyed));
        // Every float becomes a double (or a half for NaN and infinities).
        assert_eq!(
            encoded(&Shape::Circle(0.5))[..],
            oracle(&Shape::Circle(0.5))[..]
        );
        assert_eq!(encoded(&1.0f32), [0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
    }

    /// Every integer width at every boundary of CBOR's argument sizes, and beyond 64 bits.
    fn integers() -> Vec<i128> {
        let mut out = vec![i128::MIN, i128::MAX, i128::MIN + 1, i128::MAX - 1];
        for edge in [
            0u128,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u32::MAX as u128,
            1 << 32,
        ] {
            out.extend([edge as i128, -(edge as i128), -(edge as i128) - 1]);
        }
        for bits in [63, 64, 65, 72, 100, 126] {
            let x = 1i128 << bits;
            out.extend([x, x - 1, x + 1, -x, -x - 1, -x + 1]);
        }
        out
    }

    #[test]
    fn integers_match_ciborium() {
        for n in integers() {
            assert_eq!(encoded(&n), oracle(&n), "{n}");
            if let Ok(u) = u128::try_from(n) {
                assert_eq!(encoded(&u), oracle(&u), "{u}");
            }
            if let Ok(x) = i64::try_from(n) {
                assert_eq!(encoded(&x), oracle(&x), "{x}");
            }
            if let Ok(x) = u64::try_from(n) {
                assert_eq!(encoded(&x), oracle(&x), "{x}");
            }
            if let Ok(x) = i8::try_from(n) {
                assert_eq!(encoded(&x), oracle(&x), "{x}");
            }
            if let Ok(x) = u16::try_from(n) {
                assert_eq!(encoded(&x), oracle(&x), "{x}");
            }
            if let Ok(x) = i32::try_from(n) {
                assert_eq!(encoded(&x), oracle(&x), "{x}");
            }
        }
        assert_eq!(encoded(&u128::MAX), oracle(&u128::MAX));
        assert_eq!(encoded(&u64::MAX), oracle(&u64::MAX));
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Unit;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Newtype(String);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Pair(u8, char);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Everything {
        unit: (),
        unit_struct: Unit,
        newtype: Newtype,
        pair: Pair,
        chars: Vec<char>,
        option: Option<Option<i8>>,
        none: Option<u8>,
        shapes: Vec<Shape>,
        keys: std::collections::BTreeMap<i64, bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u32>,
        bytes: Value,
        nested: Vec<Vec<(u16, f32)>>,
    }

    /// A sequence and a map of unknown length: indefinite-length encoding.
    struct Unsized(Vec<u32>);

    impl Serialize for Unsized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeTuple;
            let mut t = s.serialize_tuple(2)?;
            t.serialize_element(&UnsizedSeq(&self.0))?;
            t.serialize_element(&UnsizedMap(&self.0))?;
            t.end()
        }
    }

    struct UnsizedSeq<'a>(&'a [u32]);

    impl Serialize for UnsizedSeq<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().filter(|_| true))
        }
    }

    struct UnsizedMap<'a>(&'a [u32]);

    impl Serialize for UnsizedMap<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().filter(|_| true).map(|n| (n, -f64::from(*n))))
        }
    }

    #[test]
    fn the_serde_data_model_matches_ciborium() {
        for len in [0, 1, 23, 24, 255, 256, 65535, 65536] {
            let text = "é".repeat(len / 2) + &"a".repeat(len % 2);
            assert_eq!(encoded(&text), oracle(&text), "{len}");
            let bytes = Value::Bytes(vec![0xfb; len]);
            assert_eq!(encoded(&bytes), oracle(&bytes), "{len}");
            let list = vec![true; len.min(70_000)];
            assert_eq!(encoded(&list), oracle(&list), "{len}");
        }
        let everything = Everything {
            unit: (),
            unit_struct: Unit,
            newtype: Newtype("n".into()),
            pair: Pair(7, '€'),
            chars: vec!['a', 'é', '😀'],
            option: Some(None),
            none: None,
            shapes: vec![
                Shape::Unit,
                Shape::Circle(1.0),
                Shape::Point(0.5, -2.0),
                Shape::Rect {
                    w: 3.0,
                    h: Some(0.25),
                },
            ],
            keys: [(-1, true), (1 << 40, false)].into_iter().collect(),
            skipped: None,
            bytes: Value::Bytes(vec![1, 2]),
            nested: vec![vec![], vec![(1, 1.5), (65535, f32::MIN_POSITIVE)]],
        };
        assert_eq!(encoded(&everything), oracle(&everything));
        assert_eq!(encoded(&Some(Some(1u8))), oracle(&Some(Some(1u8))));
        let unsized_ = Unsized(vec![1, 2, 300]);
        let mut out = Vec::new();
        encode::encode(&unsized_, &mut out).unwrap();
        assert_eq!(out, oracle(&unsized_));
        assert_eq!(out[1], 0x9f, "{out:02x?}");
        // ciborium's tag types.
        use ciborium::tag::{Accepted, Captured, Required};
        let tagged = (
            Required::<_, 32>("https://x".to_owned()),
            Captured(Some(1u64 << 40), vec![1.5f64]),
            Captured(None, 7u8),
            Accepted::<_, 1>(1_700_000_000u32),
        );
        let mut out = Vec::new();
        encode::encode(&tagged, &mut out).unwrap();
        assert_eq!(out, oracle(&tagged));
        assert_eq!(out[1..3], [0xd8, 0x20]);
    }

    /// Misuses ciborium's tag marker with a tag number that is not an unsigned integer.
    #[derive(Deserialize)]
    struct BadTag;

    impl Serialize for BadTag {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeTupleVariant;
            let mut v = s.serialize_tuple_variant("@@TAG@@", 1, "@@TAGGED@@", 2)?;
            v.serialize_field("not a number")?;
            v.serialize_field(&1u8)?;
            v.end()
        }
    }

    #[test]
    fn encoding_errors_leave_the_buffer_alone() {
        assert!(ciborium::into_writer(&BadTag, Vec::new()).is_err());
        let mut out = Vec::new();
        assert!(encode::encode(&BadTag, &mut out).is_err());
        let s = CborSerializer::<Vec<BadTag>>::new();
        let mut dst = BytesMut::from(&b"kept"[..]);
        assert!(StreamSerializer::encode(&s, &vec![BadTag], &mut dst).is_err());
        assert!(s.serialize(&vec![BadTag], &mut dst).is_err());
        assert_eq!(&dst[..], b"kept");
    }

    /// `depth` nested one-element arrays around `1`.
    fn nested_array(depth: usize) -> Vec<u8> {
        let mut out = vec![0x81; depth];
        out.push(0x01);
        out
    }

    /// One decode call: its outcome (`None` for `Ok(None)`) and the bytes left after it.
    type Step<T> = (Option<Outcome<T>>, usize);

    /// Feeds `chunks` in turn, recording every call, with the fast path or with the scanner
    /// alone; then ends the stream.
    fn trace<T: Serialize + DeserializeOwned>(
        s: &CborSerializer<T>,
        chunks: &[&[u8]],
        scanner_only: bool,
    ) -> Vec<Step<T>> {
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let outcome = |r: Result<Option<T>, DeserializeError>| match r {
            Ok(None) => None,
            Ok(Some(v)) => Some(Ok(v)),
            Err(e) => Some(Err((e.kind(), e.is_recoverable()))),
        };
        for c in chunks {
            buf.extend_from_slice(c);
            for _ in 0..10_000 {
                let r = if scanner_only {
                    s.decode_scanned(&mut state, &mut buf)
                } else {
                    s.decode(&mut state, &mut buf)
                };
                let waiting = matches!(r, Ok(None));
                out.push((outcome(r), buf.len()));
                if waiting {
                    break;
                }
            }
        }
        let r = if scanner_only {
            match s.decode_scanned(&mut state, &mut buf) {
                Ok(None) => state.0.finish(&mut buf).map(|()| None),
                other => other,
            }
        } else {
            s.decode_eof(&mut state, &mut buf)
        };
        out.push((outcome(r), buf.len()));
        out
    }

    /// Decodes `wire` in one chunk, in chunks of `size` and byte by byte, with and without the
    /// fast path: the same packets, errors and leftovers, call by call.
    fn assert_same_paths<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
        s: &CborSerializer<T>,
        wire: &[u8],
        size: usize,
    ) {
        for chunks in [
            vec![wire],
            wire.chunks(size.max(1)).collect(),
            bytewise(wire),
        ] {
            // Compared as text: NaN is not equal to itself.
            assert_eq!(
                format!("{:?}", trace(s, &chunks, false)),
                format!("{:?}", trace(s, &chunks, true)),
                "{:02x?}",
                &wire[..wire.len().min(64)]
            );
        }
    }

    /// A recursive enum: each `Node` is a one-entry map, which rmp-serde's own depth counter
    /// does not see.
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Tree {
        Leaf,
        Node(Box<Tree>),
    }

    fn tree(depth: usize) -> Tree {
        (0..depth).fold(Tree::Leaf, |t, _| Tree::Node(Box::new(t)))
    }

    #[test]
    fn fast_path_matches_the_scanner_on_edge_cases() {
        // Depth: the limit itself, one more, far more; nested arrays and recursive enums.
        let s = CborSerializer::<Value>::new().with_limit(1 << 20);
        let enums = CborSerializer::<Tree>::new().with_limit(1 << 20);
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 5000] {
            let mut wire = nested_array(depth);
            wire.extend(nested_array(3));
            assert_same_paths(&s, &wire, 7);
            let mut wire = Vec::new();
            // Encoded by hand: serializing a deep tree would recurse as deep.
            for _ in 0..depth {
                wire.extend_from_slice(&[0xa1, 0x64, b'N', b'o', b'd', b'e']);
            }
            wire.extend_from_slice(&[0x64, b'L', b'e', b'a', b'f']);
            wire.extend_from_slice(&[0x64, b'L', b'e', b'a', b'f']);
            let got = trace(&enums, &[&wire], false);
            assert_eq!(got, trace(&enums, &[&wire], true));
            // ciborium counts the unit variant at the bottom as a level too.
            if depth < MAX_DEPTH {
                assert_eq!(got[0].0, Some(Ok(tree(depth))));
            } else {
                assert_eq!(got[0].0, Some(Err((DeserializeErrorKind::Invalid, true))));
            }
            assert_eq!(got[1].0, Some(Ok(Tree::Leaf)));
            assert_same_paths(&enums, &wire, 5);
        }
        // Limit: an item exactly as long as the limit, and one byte longer.
        let item = encode(
            &CborSerializer::<Value>::new(),
            &Value::from("z".repeat(40)),
        );
        let mut wire = item.clone();
        wire.extend_from_slice(&item);
        for limit in [item.len() - 1, item.len(), item.len() + 1, 2 * item.len()] {
            let s = CborSerializer::<Value>::new().with_limit(limit);
            let got = trace(&s, &[&wire], false);
            assert_eq!(got, trace(&s, &[&wire], true));
            let want = if limit >= item.len() {
                Some(Ok(Value::from("z".repeat(40))))
            } else {
                Some(Err((DeserializeErrorKind::LimitExceeded { limit }, true)))
            };
            assert_eq!(got[0], (want, item.len()), "limit {limit}");
            assert_same_paths(&s, &wire, 3);
        }
        // A well-framed item of the wrong type.
        let s = CborSerializer::<u32>::new();
        let mut wire = encode(&CborSerializer::<Value>::new(), &Value::from("x"));
        wire.extend(encode(&s, &7));
        assert_same_paths(&s, &wire, 1);
        assert_eq!(trace(&s, &[&wire], false)[0].1, 1);
    }

    proptest! {
        #[test]
        fn any_chunking_decodes_the_same(
            values in proptest::collection::vec(value_strategy(), 1..5),
            chunk in 1usize..64,
        ) {
            let s = CborSerializer::<Value>::new();
            let mut wire = Vec::new();
            for v in &values {
                wire.extend(encode(&s, v));
            }
            let chunks: Vec<&[u8]> = wire.chunks(chunk).collect();
            let want: Vec<Outcome<Value>> = values.iter().cloned().map(Ok).collect();
            prop_assert_eq!(decode_all(&s, &chunks), want);
            if let [one] = &values[..] {
                prop_assert_eq!(&s.deserialize(&wire).unwrap(), one);
            }
        }

        #[test]
        fn floats_match_the_second_pass_rewrite(value in value_strategy(), bits in proptest::collection::vec(any::<u64>(), 0..8)) {
            // Random values, plus floats of every bit pattern (NaN payloads, subnormals, halves).
            let floats: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            let singles: Vec<f32> = floats.iter().map(|&x| x as f32).collect();
            let packet = (value, floats, singles);
            prop_assert_eq!(encoded(&packet), oracle(&packet));
        }

        #[test]
        fn fast_path_matches_the_scanner(
            pieces in proptest::collection::vec(
                prop_oneof![
                    value_strategy().prop_map(|v| encode(&CborSerializer::<Value>::new(), &v)),
                    proptest::collection::vec(any::<u8>(), 0..12),
                    (MAX_DEPTH - 2..MAX_DEPTH + 2).prop_map(nested_array),
                ],
                1..6,
            ),
            size in 1usize..40,
            limit in prop_oneof![Just(DEFAULT_LIMIT), 0usize..400],
        ) {
            let s = CborSerializer::<Value>::new().with_limit(limit);
            let wire = pieces.concat();
            for chunks in [vec![&wire[..]], wire.chunks(size).collect()] {
                // Compared as text: NaN is not equal to itself.
                prop_assert_eq!(
                    format!("{:?}", trace(&s, &chunks, false)),
                    format!("{:?}", trace(&s, &chunks, true))
                );
            }
        }

        #[test]
        fn garbage_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            chunk in 1usize..32,
            limit in 0usize..64,
        ) {
            let s = CborSerializer::<Value>::new().with_limit(limit);
            let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
            let _ = decode_all(&s, &chunks);
            let _ = s.deserialize(&bytes);
        }
    }
}
