//! MessagePack serializer, byte-compatible with EasyNetwork's `MessagePackSerializer`.

use std::io;
use std::marker::PhantomData;

use bytes::{Buf, BytesMut};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;

use crate::bounded::deserialize_bounded;
use crate::error::{DeserializeError, SerializeError};
use crate::item_scan::{check_datagram, whole_item, Format, ItemScanner, MAX_DEPTH};
use crate::serializer::{
    rollback_on_error, write_via_scratch, DatagramSerializer, StreamSerializer,
};
use crate::value::Value;

/// MessagePack packets of type `T` (any serde type; [`Value`] by default), encoded with
/// rmp-serde.
///
/// Output matches Python's `msgpack.packb` with EasyNetwork's defaults: structs are maps keyed by
/// field name, byte strings ([`Value::Bytes`], `serde_bytes`) are `bin` (`use_bin_type=True`),
/// strings are `str`, floats are 64-bit, integers take the smallest encoding. Python's
/// `{"a": 1}` is `81 A1 61 01`.
///
/// * Datagrams: exactly one MessagePack object; missing bytes are
///   [`Incomplete`](crate::DeserializeErrorKind::Incomplete), extra bytes
///   [`TrailingData`](crate::DeserializeErrorKind::TrailingData).
/// * Streams: objects back to back, with no framing. When a decode starts on an object, the
///   decoder parses what is buffered directly; if the object is not all there (or is invalid),
///   it finds where the object ends by reading headers only, resuming where it stopped when
///   more bytes arrive, so receiving an object in many small chunks costs time linear in its
///   size (EasyNetwork re-parses the whole buffer on every chunk).
///
/// Limits and errors on a stream:
/// * an object longer than the limit (64 KiB by default) is reported once as a recoverable
///   [`LimitExceeded`](crate::DeserializeErrorKind::LimitExceeded) error and skipped as it
///   arrives, without being buffered; the next object decodes normally (EasyNetwork drops the
///   whole buffer instead). A header announcing a huge string reserves nothing;
/// * an object nesting more than 256 arrays and maps is consumed and rejected as a recoverable
///   [`Invalid`](crate::DeserializeErrorKind::Invalid) error, so deep input cannot overflow the
///   stack;
/// * an object that does not fit `T` is a recoverable `Invalid` error: it is consumed and the
///   next object follows;
/// * the reserved byte `0xC1` is an unrecoverable `Invalid` error: the framing is lost and the
///   buffered bytes are dropped (as EasyNetwork drops the rest of the chunk it was decoding).
///
/// Extension objects decode into [`Value`] as a two-element list `[type, data]`. Strings that are
/// not valid UTF-8 decode into [`Value::Bytes`] (Python raises an error).
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{MsgpackSerializer, StreamSerializer, Value};
/// use serde::{Deserialize, Serialize};
///
/// let s = MsgpackSerializer::<Value>::new();
/// let mut wire = BytesMut::new();
/// s.encode(&Value::Map(vec![("a".into(), 1.into())]), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"\x81\xa1a\x01");
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Point {
///     x: i32,
///     y: i32,
/// }
/// let s = MsgpackSerializer::<Point>::new();
/// let mut wire = BytesMut::new();
/// s.encode(&Point { x: 1, y: -2 }, &mut wire).unwrap();
/// assert_eq!(&wire[..], b"\x82\xa1x\x01\xa1y\xfe");
///
/// // Bytes may arrive in any chunks.
/// let mut state = s.decode_state();
/// let mut received = BytesMut::from(&wire[..3]);
/// assert_eq!(s.decode(&mut state, &mut received).unwrap(), None);
/// received.extend_from_slice(&wire[3..]);
/// assert_eq!(s.decode(&mut state, &mut received).unwrap(), Some(Point { x: 1, y: -2 }));
/// ```
pub struct MsgpackSerializer<T = Value> {
    limit: usize,
    _packet: PhantomData<fn(&T) -> T>,
}

crate::serializer::limited_serializer!(MsgpackSerializer, "object");

impl<T: Serialize> MsgpackSerializer<T> {
    fn write(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        write_via_scratch(dst, |out| {
            let mut ser = rmp_serde::Serializer::new(out).with_struct_map();
            packet
                .serialize(&mut ser)
                .map_err(|e| SerializeError::with_source("cannot encode packet as MessagePack", e))
        })
    }
}

impl<T: DeserializeOwned> MsgpackSerializer<T> {
    /// The general case of [`decode`](StreamSerializer::decode): the resumable scanner frames
    /// the item, then it is parsed.
    fn decode_scanned(
        &self,
        state: &mut MsgpackDecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<T>, DeserializeError> {
        match state.0.next_item(src, self.limit)? {
            Some(item) => parse(&item).map(Some),
            None => Ok(None),
        }
    }
}

/// Deserializes one whole, well-framed object.
fn parse<T: DeserializeOwned>(item: &[u8]) -> Result<T, DeserializeError> {
    rmp_serde::from_slice(item)
        .map_err(|e| DeserializeError::invalid("MessagePack decode error").with_source(e))
}

/// Parses the object at the front of `buf` straight from the buffer, and finds where it ends.
/// Returns `None` when the parse fails for any reason (an incomplete object, a malformed one,
/// one that does not fit `T`, nesting past [`MAX_DEPTH`]): the scanner then frames the object
/// and reports exactly what it reports without this shortcut.
///
/// rmp-serde does not say how much of a borrowed buffer it read, so the end comes from one more
/// read: when nothing is left, the object fills `buf` (the usual case of one object per read);
/// otherwise [`whole_item`] walks its headers. [`deserialize_bounded`] makes the parse count
/// nesting as the scanner does and read whole values whatever `T` does, so a success here is
/// exactly what the scanner and [`parse`] would give.
fn parse_front<T: DeserializeOwned>(buf: &[u8]) -> Option<(T, usize)> {
    if buf.is_empty() {
        return None;
    }
    let mut de = rmp_serde::Deserializer::from_read_ref(buf);
    let packet = deserialize_bounded(&mut de, MAX_DEPTH, buf.len()).ok()?;
    // Reading a number where nothing is left fails on the type byte; anything else (another
    // object, or a type byte `T` looked at and left) means there is more.
    let at_end = matches!(
        serde::Deserializer::deserialize_u8(&mut de, IgnoredAny),
        Err(rmp_serde::decode::Error::InvalidMarkerRead(e)) if e.kind() == io::ErrorKind::UnexpectedEof
    );
    let end = if at_end {
        buf.len()
    } else {
        whole_item(Format::Msgpack, buf)?
    };
    Some((packet, end))
}

impl<T: Serialize + DeserializeOwned> DatagramSerializer for MsgpackSerializer<T> {
    type Sent = T;
    type Received = T;

    fn serialize(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| self.write(packet, dst))
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<T, DeserializeError> {
        match parse_front(datagram) {
            Some((packet, end)) if end == datagram.len() => Ok(packet),
            // Not the simple case: the scanner says what is wrong, if anything.
            _ => {
                check_datagram(Format::Msgpack, datagram)?;
                parse(datagram)
            }
        }
    }
}

/// Decoding state of [`MsgpackSerializer`] on a stream: where the object-boundary scanner
/// stopped in the current object.
#[derive(Debug, Clone)]
pub struct MsgpackDecodeState(ItemScanner);

impl Default for MsgpackDecodeState {
    fn default() -> Self {
        Self(ItemScanner::new(Format::Msgpack))
    }
}

impl<T: Serialize + DeserializeOwned> StreamSerializer for MsgpackSerializer<T> {
    type Sent = T;
    type Received = T;
    type DecodeState = MsgpackDecodeState;

    fn decode_state(&self) -> MsgpackDecodeState {
        MsgpackDecodeState::default()
    }

    fn encode(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| self.write(packet, dst))
    }

    fn decode(
        &self,
        state: &mut MsgpackDecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<T>, DeserializeError> {
        // At the start of an object, one direct parse of what is buffered (up to the limit: a
        // longer object fails it). Anything but a success goes to the resumable scanner, which
        // is then past the object's start, so an object arriving in many chunks costs at most
        // one extra partial parse (or a few while its first header is incomplete).
        if state.0.at_item_start() {
            let window = &src[..src.len().min(self.limit)];
            #[cfg(test)]
            {
                state.0.fast_path_bytes += window.len() as u64;
            }
            if let Some((packet, end)) = parse_front(window) {
                src.advance(end);
                return Ok(Some(packet));
            }
        }
        self.decode_scanned(state, src)
    }

    fn decode_eof(
        &self,
        state: &mut MsgpackDecodeState,
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
    use crate::item_scan::MAX_DEPTH;
    use crate::DeserializeErrorKind;
    use crate::DEFAULT_LIMIT;
    use proptest::prelude::*;
    use serde::Deserialize;

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

    fn encode<T: Serialize + DeserializeOwned>(s: &MsgpackSerializer<T>, v: &T) -> Vec<u8> {
        let mut b = BytesMut::new();
        StreamSerializer::encode(s, v, &mut b).unwrap();
        b.to_vec()
    }

    type Outcome<T> = Result<T, (DeserializeErrorKind, bool)>;

    /// Feeds `chunks` in turn, decoding everything each one completes.
    fn decode_all<T: Serialize + DeserializeOwned>(
        s: &MsgpackSerializer<T>,
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

    #[test]
    fn python_known_bytes() {
        let s = MsgpackSerializer::<Value>::new();
        assert_eq!(
            encode(&s, &map(&[("a", 1.into())])),
            [0x81, 0xa1, b'a', 0x01]
        );
        assert_eq!(encode(&s, &Value::Bytes(vec![1, 2, 3])), [0xc4, 3, 1, 2, 3]);
        assert_eq!(encode(&s, &Value::from("é")), [0xa2, 0xc3, 0xa9]);
        assert_eq!(encode(&s, &Value::Null), [0xc0]);
        assert_eq!(
            encode(&s, &Value::Float(1.5)),
            [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(encode(&s, &Value::Int(200)), [0xcc, 200]);
        assert_eq!(encode(&s, &Value::Int(-100)), [0xd0, 0x9c]);
        assert_eq!(
            encode(&s, &Value::List(vec![Value::Bool(true), Value::Int(-1)])),
            [0x92, 0xc3, 0xff]
        );
        let s = MsgpackSerializer::<Hello>::new();
        let hello = Hello {
            name: "ana".into(),
            visits: 2,
        };
        let mut want = vec![0x82, 0xa4];
        want.extend_from_slice(b"name");
        want.extend_from_slice(&[0xa3, b'a', b'n', b'a', 0xa6]);
        want.extend_from_slice(b"visits");
        want.push(0x02);
        assert_eq!(encode(&s, &hello), want);
        assert_eq!(s.deserialize(&want).unwrap(), hello);
        // Python's msgpack may also send a struct as an array: rmp-serde accepts it.
        assert_eq!(
            s.deserialize(&[0x92, 0xa3, b'a', b'n', b'a', 0x02])
                .unwrap(),
            hello
        );
    }

    #[test]
    fn decodes_python_bytes_into_value() {
        let s = MsgpackSerializer::<Value>::new();
        let v = s
            .deserialize(&[0x82, 0xa1, b'a', 0x01, 0xa1, b'b', 0xc4, 2, 0xff, 0x00])
            .unwrap();
        assert_eq!(
            v,
            map(&[("a", 1.into()), ("b", Value::Bytes(vec![0xff, 0]))])
        );
        // fixext 1 with type 5
        assert_eq!(
            s.deserialize(&[0xd4, 0x05, 0x2a]).unwrap(),
            Value::List(vec![Value::Int(5), Value::Bytes(vec![0x2a])])
        );
    }

    #[test]
    fn stream_chunking() {
        let s = MsgpackSerializer::<Value>::new();
        let items = vec![
            map(&[("a", 1.into())]),
            Value::Bytes(vec![7; 300]),
            Value::List(vec![Value::from("x"), Value::Float(-0.5), Value::Null]),
            Value::from("y".repeat(70_000 / 2 - 100)),
            Value::Int(-(1 << 40)),
        ];
        let mut wire = Vec::new();
        for v in &items {
            wire.extend(encode(&s, v));
        }
        let want: Vec<Outcome<Value>> = items.iter().cloned().map(Ok).collect();
        // one chunk with several items
        assert_eq!(decode_all(&s, &[&wire]), want);
        // byte by byte
        assert_eq!(decode_all(&s, &bytewise(&wire)), want);
        // every item split across chunks at odd places
        let chunks: Vec<&[u8]> = wire.chunks(7).collect();
        assert_eq!(decode_all(&s, &chunks), want);
        let chunks: Vec<&[u8]> = wire.chunks(1000).collect();
        assert_eq!(decode_all(&s, &chunks), want);
    }

    #[test]
    fn wrong_type_is_recoverable_and_leaves_the_rest() {
        let s = MsgpackSerializer::<u32>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0xa1, b'x', 0x05, 0x92][..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert!(err.is_recoverable());
        assert_eq!(&buf[..], [0x05, 0x92]);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), Some(5));
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
        assert_eq!(&buf[..], [0x92]);
    }

    #[test]
    fn reserved_byte_loses_framing_then_recovers() {
        let s = MsgpackSerializer::<Value>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0x92, 0x01, 0xc1, 0x02, 0x03][..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert!(!err.is_recoverable());
        assert!(buf.is_empty());
        buf.extend_from_slice(&[0x91, 0x07]);
        assert_eq!(
            s.decode(&mut state, &mut buf).unwrap(),
            Some(Value::List(vec![7.into()]))
        );
    }

    #[test]
    fn oversized_with_known_length_is_skipped() {
        let s = MsgpackSerializer::<Value>::new().with_limit(16);
        // str 8 of 40 bytes: the header tells the length
        let mut big = vec![0xd9, 40];
        big.extend_from_slice(&[b'z'; 40]);
        let mut wire = big.clone();
        wire.extend_from_slice(&[0xa2, b'o', b'k']);
        let want = vec![Err((LIMIT_ERR, true)), Ok(Value::from("ok"))];
        assert_eq!(decode_all(&s, &[&wire]), want);
        assert_eq!(decode_all(&s, &bytewise(&wire)), want);
        let chunks: Vec<&[u8]> = wire.chunks(5).collect();
        assert_eq!(decode_all(&s, &chunks), want);

        // One chunk: the rest after the error is exactly the next item.
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&wire[..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), LIMIT_ERR);
        assert_eq!(&buf[..], [0xa2, b'o', b'k']);

        // Partial: nothing of the oversized item is kept in the buffer.
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&wire[..10]);
        assert_eq!(
            s.decode(&mut state, &mut buf).unwrap_err().kind(),
            LIMIT_ERR
        );
        assert!(buf.is_empty());
        buf.extend_from_slice(&wire[10..30]);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
        assert!(buf.is_empty());
        buf.extend_from_slice(&wire[30..]);
        assert_eq!(
            s.decode(&mut state, &mut buf).unwrap(),
            Some(Value::from("ok"))
        );
    }

    #[test]
    fn oversized_without_known_length_is_skipped() {
        let s = MsgpackSerializer::<Value>::new().with_limit(16);
        // an array of 30 small ints: each header is short, the total is not
        let mut wire = vec![0xdc, 0, 30];
        wire.extend((0..30u8).map(|i| i % 100));
        wire.extend_from_slice(&[0x91, 0x01, 0x02]);
        let want = vec![
            Err((LIMIT_ERR, true)),
            Ok(Value::List(vec![1.into()])),
            Ok(Value::Int(2)),
        ];
        assert_eq!(decode_all(&s, &[&wire]), want);
        assert_eq!(decode_all(&s, &bytewise(&wire)), want);
        let chunks: Vec<&[u8]> = wire.chunks(3).collect();
        assert_eq!(decode_all(&s, &chunks), want);

        // While skipping, the buffer never holds more than a header's start.
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut errors = 0;
        for chunk in wire[..33].chunks(4) {
            buf.extend_from_slice(chunk);
            match s.decode(&mut state, &mut buf) {
                Ok(None) => {}
                Err(e) if e.kind() == LIMIT_ERR => errors += 1,
                other => panic!("{other:?}"),
            }
            assert!(buf.len() < 16);
        }
        assert_eq!(errors, 1);
    }

    #[test]
    fn oversized_nested_strings_split_inside_headers() {
        // The oversized item's headers straddle chunk boundaries while it is being skipped.
        let s = MsgpackSerializer::<Value>::new().with_limit(16);
        let mut wire = vec![0x94];
        for _ in 0..4 {
            wire.extend_from_slice(&[0xda, 0, 10]);
            wire.extend_from_slice(&[b'q'; 10]);
        }
        wire.push(0x2a);
        for size in 1..8 {
            let chunks: Vec<&[u8]> = wire.chunks(size).collect();
            assert_eq!(
                decode_all(&s, &chunks),
                vec![Err((LIMIT_ERR, true)), Ok(Value::Int(42))],
                "chunk size {size}"
            );
            // Once reported, the item's bytes (even a header's first bytes) leave the buffer.
            let mut state = s.decode_state();
            let mut buf = BytesMut::new();
            let mut reported = false;
            for chunk in wire[..wire.len() - 1].chunks(size) {
                buf.extend_from_slice(chunk);
                match s.decode(&mut state, &mut buf) {
                    Ok(None) => {}
                    Err(e) if e.kind() == LIMIT_ERR && !reported => reported = true,
                    other => panic!("{other:?}"),
                }
                assert!(
                    !reported || buf.is_empty(),
                    "chunk size {size}: {:02x?}",
                    &buf[..]
                );
            }
            assert!(reported);
            buf.extend_from_slice(&[0x2a]);
            assert_eq!(
                s.decode(&mut state, &mut buf).unwrap(),
                Some(Value::Int(42))
            );
        }
    }

    #[test]
    fn huge_announced_length_reserves_nothing() {
        let wire = [0xdb, 0xff, 0xff, 0xff, 0xff, b'a', b'b'];
        // Default limit: reported at once, the two payload bytes are dropped.
        let s = MsgpackSerializer::<Value>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(&wire);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(
            err.kind(),
            DeserializeErrorKind::LimitExceeded {
                limit: DEFAULT_LIMIT
            }
        );
        assert!(buf.is_empty());
        assert!(buf.capacity() <= 16);
        // No limit to speak of: waits, without reserving anything.
        let s = MsgpackSerializer::<Value>::new().with_limit(usize::MAX);
        let mut state = s.decode_state();
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(&wire);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
        assert_eq!(buf.len(), wire.len());
        assert!(buf.capacity() <= 16);
        // Datagram: just incomplete.
        assert_eq!(
            s.deserialize(&wire).unwrap_err().kind(),
            DeserializeErrorKind::Incomplete
        );
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut out = vec![0x91; depth];
        out.push(0x01);
        out
    }

    #[test]
    fn deep_nesting_is_rejected_without_recursing() {
        let s = MsgpackSerializer::<Value>::new().with_limit(1 << 20);
        // Exactly the maximum depth decodes.
        let mut v = Value::Int(1);
        for _ in 0..MAX_DEPTH {
            v = Value::List(vec![v]);
        }
        assert_eq!(decode_all(&s, &[&nested(MAX_DEPTH)]), vec![Ok(v.clone())]);
        assert_eq!(s.deserialize(&nested(MAX_DEPTH)).unwrap(), v);
        // One more level: consumed and rejected, recoverable.
        let mut wire = nested(MAX_DEPTH + 1);
        wire.push(0x07);
        assert_eq!(
            decode_all(&s, &[&wire]),
            vec![
                Err((DeserializeErrorKind::Invalid, true)),
                Ok(Value::Int(7))
            ]
        );
        // Very deep, byte by byte: still no recursion, constant scanner memory.
        let mut wire = nested(200_000);
        wire.push(0x07);
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        for b in &wire[..200_000] {
            buf.extend_from_slice(&[*b]);
            assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
        }
        assert!(state.0.stack_len() <= MAX_DEPTH + 1);
        buf.extend_from_slice(&wire[200_000..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert!(err.is_recoverable());
        assert_eq!(&buf[..], [0x07]);
        // Datagram.
        assert_eq!(
            s.deserialize(&nested(100_000)).unwrap_err().kind(),
            DeserializeErrorKind::Invalid
        );
        // Too deep and too long: a limit error, then the next item.
        let s = MsgpackSerializer::<Value>::new().with_limit(1000);
        let mut wire = nested(5000);
        wire.push(0x07);
        assert_eq!(
            decode_all(&s, &[&wire]),
            vec![
                Err((DeserializeErrorKind::LimitExceeded { limit: 1000 }, true)),
                Ok(7.into())
            ]
        );
    }

    #[test]
    fn datagram_errors() {
        let s = MsgpackSerializer::<Value>::new();
        assert_eq!(
            s.deserialize(&[0x81, 0xa1, b'a']).unwrap_err().kind(),
            DeserializeErrorKind::Incomplete
        );
        assert_eq!(
            s.deserialize(&[]).unwrap_err().kind(),
            DeserializeErrorKind::Incomplete
        );
        assert_eq!(
            s.deserialize(&[0x01, 0x02]).unwrap_err().kind(),
            DeserializeErrorKind::TrailingData
        );
        assert_eq!(
            s.deserialize(&[0xc1]).unwrap_err().kind(),
            DeserializeErrorKind::Invalid
        );
        let s = MsgpackSerializer::<bool>::new();
        assert_eq!(
            s.deserialize(&[0x01]).unwrap_err().kind(),
            DeserializeErrorKind::Invalid
        );
        assert!(s.deserialize(&[0xc3]).unwrap());
        let mut out = BytesMut::from(&b"keep"[..]);
        s.serialize(&false, &mut out).unwrap();
        assert_eq!(&out[..], b"keep\xc2");
    }

    #[test]
    fn eof_in_the_middle_of_an_item() {
        let s = MsgpackSerializer::<Value>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0x01, 0x92, 0x01][..]);
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap(),
            Some(Value::Int(1))
        );
        let err = s.decode_eof(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Incomplete);
        assert!(buf.is_empty());
        assert_eq!(s.decode_eof(&mut state, &mut buf).unwrap(), None);
        // The truncated tail of an oversized item was already reported.
        let s = s.with_limit(4);
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0xda, 0x01, 0x00, b'x'][..]);
        assert!(s.decode(&mut state, &mut buf).is_err());
        buf.extend_from_slice(&[0xda]);
        assert_eq!(s.decode_eof(&mut state, &mut buf).unwrap(), None);
    }

    #[test]
    fn fast_path_runs_once_per_item_in_chunks() {
        // A big item arriving in 1000-byte chunks behind small ones: each item is handed to the
        // fast path once, however many chunks it takes.
        let s = MsgpackSerializer::<Value>::new();
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
        let s = MsgpackSerializer::<Value>::new();
        // About 60 KB made of 12 000 small strings and ints.
        let v = Value::List(
            (0..12_000)
                .map(|i| {
                    if i % 2 == 0 {
                        Value::from("abcd")
                    } else {
                        Value::Int(i)
                    }
                })
                .collect(),
        );
        let wire = encode(&s, &v);
        assert!(wire.len() > 40_000, "{}", wire.len());
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut calls = 0u64;
        let mut got = None;
        for b in &wire {
            buf.extend_from_slice(&[*b]);
            calls += 1;
            if let Some(v) = s.decode(&mut state, &mut buf).unwrap() {
                got = Some(v);
            }
        }
        assert_eq!(got, Some(v));
        // Every call looks at the bytes that arrived, plus at most one partial header again.
        // The fast path ran at most while the first header was incomplete.
        assert!(state.0.fast_path_bytes <= 20, "{}", state.0.fast_path_bytes);
        let examined = state.0.examined();
        assert!(
            examined <= 3 * wire.len() as u64,
            "{examined} header bytes for {calls} calls"
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

    /// One decode call: its outcome (`None` for `Ok(None)`) and the bytes left after it.
    type Step<T> = (Option<Outcome<T>>, usize);

    /// Feeds `chunks` in turn, recording every call, with the fast path or with the scanner
    /// alone; then ends the stream.
    fn trace<T: Serialize + DeserializeOwned>(
        s: &MsgpackSerializer<T>,
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
        s: &MsgpackSerializer<T>,
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
        let s = MsgpackSerializer::<Value>::new().with_limit(1 << 20);
        let enums = MsgpackSerializer::<Tree>::new().with_limit(1 << 20);
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 5000] {
            let mut wire = nested(depth);
            wire.extend(nested(3));
            assert_same_paths(&s, &wire, 7);
            let mut wire = Vec::new();
            // Encoded by hand: serializing a deep tree would recurse as deep.
            for _ in 0..depth {
                wire.extend_from_slice(&[0x81, 0xa4, b'N', b'o', b'd', b'e']);
            }
            wire.extend_from_slice(&[0xa4, b'L', b'e', b'a', b'f']);
            wire.extend_from_slice(&[0xa4, b'L', b'e', b'a', b'f']);
            let got = trace(&enums, &[&wire], false);
            assert_eq!(got, trace(&enums, &[&wire], true));
            if depth <= MAX_DEPTH {
                assert_eq!(got[0].0, Some(Ok(tree(depth))));
            } else {
                assert_eq!(got[0].0, Some(Err((DeserializeErrorKind::Invalid, true))));
            }
            assert_eq!(got[1].0, Some(Ok(Tree::Leaf)));
            assert_same_paths(&enums, &wire, 5);
        }
        // Limit: an item exactly as long as the limit, and one byte longer.
        let item = encode(
            &MsgpackSerializer::<Value>::new(),
            &Value::from("z".repeat(40)),
        );
        let mut wire = item.clone();
        wire.extend_from_slice(&item);
        for limit in [item.len() - 1, item.len(), item.len() + 1, 2 * item.len()] {
            let s = MsgpackSerializer::<Value>::new().with_limit(limit);
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
        let s = MsgpackSerializer::<u32>::new();
        let mut wire = encode(&MsgpackSerializer::<Value>::new(), &Value::from("x"));
        wire.extend(encode(&s, &7));
        assert_same_paths(&s, &wire, 1);
        assert_eq!(trace(&s, &[&wire], false)[0].1, 1);
    }

    /// Reads an extension's type and not its data.
    #[derive(Debug, PartialEq)]
    struct ExtTypeOnly(i8);

    impl<'de> Deserialize<'de> for ExtTypeOnly {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = ExtTypeOnly;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an extension")
                }
                fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                    self,
                    d: D,
                ) -> Result<ExtTypeOnly, D::Error> {
                    d.deserialize_seq(self)
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<ExtTypeOnly, A::Error> {
                    let tag = seq.next_element()?.unwrap_or(0);
                    Ok(ExtTypeOnly(tag))
                }
            }
            d.deserialize_newtype_struct(rmp_serde::MSGPACK_EXT_STRUCT_NAME, V)
        }
    }

    impl Serialize for ExtTypeOnly {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_i8(self.0)
        }
    }

    /// Takes an enum's variant and leaves its content.
    #[derive(Debug, PartialEq)]
    struct VariantNameOnly(String);

    impl<'de> Deserialize<'de> for VariantNameOnly {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = VariantNameOnly;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an enum")
                }
                fn visit_enum<A: serde::de::EnumAccess<'de>>(
                    self,
                    data: A,
                ) -> Result<VariantNameOnly, A::Error> {
                    let (name, _content) = data.variant::<String>()?;
                    Ok(VariantNameOnly(name))
                }
            }
            d.deserialize_enum("E", &["A"], V)
        }
    }

    impl Serialize for VariantNameOnly {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.0)
        }
    }

    #[test]
    fn fast_path_never_trusts_a_partial_read() {
        // An extension whose data has not arrived: the packet type would not read the data, but
        // the item is incomplete all the same, and the decoder waits for it.
        let s = MsgpackSerializer::<ExtTypeOnly>::new();
        let wire = [0xc7, 0x02, 0x05, 0xaa, 0xbb, 0x01];
        for cut in 0..wire.len() {
            let mut state = s.decode_state();
            let mut buf = BytesMut::from(&wire[..cut]);
            let fast = s.decode(&mut state, &mut buf).map_err(|e| e.kind());
            let mut state = s.decode_state();
            let mut slow_buf = BytesMut::from(&wire[..cut]);
            let slow = s
                .decode_scanned(&mut state, &mut slow_buf)
                .map_err(|e| e.kind());
            assert_eq!((fast, buf), (slow, slow_buf), "{cut}");
        }
        assert_same_paths(&s, &wire, 1);
        assert_eq!(trace(&s, &[&wire], false)[0], (Some(Ok(ExtTypeOnly(5))), 1));
        // An enum whose content is not read: the whole one-entry map is still the item.
        let s = MsgpackSerializer::<VariantNameOnly>::new();
        let wire = [0x81, 0xa1, b'A', 0x92, 0x01, 0x02, 0xa1, b'B'];
        for cut in 0..wire.len() {
            assert_same_paths(&s, &wire[..cut], 2);
        }
        assert_eq!(
            trace(&s, &[&wire], false)[..2],
            [
                (Some(Ok(VariantNameOnly("A".into()))), 2),
                (Some(Ok(VariantNameOnly("B".into()))), 0)
            ]
        );
        // A type byte looked at and left (`Option` of a type that reads nothing).
        let s = MsgpackSerializer::<Option<ReadsNothing>>::new();
        let wire = [0x92, 0x01, 0x02, 0xc0];
        assert_same_paths(&s, &wire, 1);
        assert_eq!(
            trace(&s, &[&wire], false)[..2],
            [(Some(Ok(Some(ReadsNothing))), 1), (Some(Ok(None)), 0)]
        );
    }

    #[derive(Debug, PartialEq)]
    struct ReadsNothing;

    impl<'de> Deserialize<'de> for ReadsNothing {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Ok(ReadsNothing)
        }
    }

    impl Serialize for ReadsNothing {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_unit()
        }
    }

    #[test]
    fn fast_path_reserves_nothing_from_announced_counts() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static LARGEST_HINT: AtomicUsize = AtomicUsize::new(0);

        /// A list that records the size hints it is given.
        #[derive(Debug, PartialEq)]
        struct Hinted(Vec<u8>);

        impl<'de> Deserialize<'de> for Hinted {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Hinted;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a list")
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<Hinted, A::Error> {
                        let hint = seq.size_hint().unwrap_or(0);
                        LARGEST_HINT.fetch_max(hint, Ordering::Relaxed);
                        let mut items = Vec::with_capacity(hint);
                        while let Some(b) = seq.next_element()? {
                            items.push(b);
                        }
                        Ok(Hinted(items))
                    }
                }
                d.deserialize_seq(V)
            }
        }

        impl Serialize for Hinted {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        // An array announcing 2^32 - 1 items, 3 of which have arrived.
        let s = MsgpackSerializer::<Hinted>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2, 3][..]);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
        assert!(LARGEST_HINT.load(Ordering::Relaxed) <= 8);
        assert_eq!(
            s.deserialize(&[0x92, 0x01, 0x02]).unwrap(),
            Hinted(vec![1, 2])
        );
    }

    #[test]
    fn fast_path_finds_the_end_among_several_objects() {
        let s = MsgpackSerializer::<Value>::new();
        let items = [
            Value::List(vec![1.into(), Value::from("two")]),
            Value::Null,
            map(&[("k", Value::Bytes(vec![0; 20]))]),
        ];
        let wire: Vec<u8> = items.iter().flat_map(|v| encode(&s, v)).collect();
        let got = trace(&s, &[&wire], false);
        let mut left = wire.len();
        for (step, item) in got.iter().zip(&items) {
            left -= encode(&s, item).len();
            assert_eq!(step, &(Some(Ok(item.clone())), left));
        }
        assert_same_paths(&s, &wire, 4);
    }

    proptest! {
        #[test]
        fn any_chunking_decodes_the_same(
            values in proptest::collection::vec(value_strategy(), 1..5),
            chunk in 1usize..64,
        ) {
            let s = MsgpackSerializer::<Value>::new();
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
        fn fast_path_matches_the_scanner(
            pieces in proptest::collection::vec(
                prop_oneof![
                    value_strategy().prop_map(|v| encode(&MsgpackSerializer::<Value>::new(), &v)),
                    proptest::collection::vec(any::<u8>(), 0..12),
                    (MAX_DEPTH - 2..MAX_DEPTH + 2).prop_map(nested),
                ],
                1..6,
            ),
            size in 1usize..40,
            limit in prop_oneof![Just(DEFAULT_LIMIT), 0usize..400],
        ) {
            let s = MsgpackSerializer::<Value>::new().with_limit(limit);
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
            let s = MsgpackSerializer::<Value>::new().with_limit(limit);
            let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
            let _ = decode_all(&s, &chunks);
            let _ = s.deserialize(&bytes);
        }
    }
}
