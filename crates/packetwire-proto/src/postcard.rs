//! Postcard serializer: a compact Rust-to-Rust format, length-prefixed on streams.

use std::marker::PhantomData;

use bytes::{Buf, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{DeserializeError, DeserializeErrorKind, SerializeError};
use crate::serializer::{with_scratch, write_via_scratch, DatagramSerializer, StreamSerializer};

/// Longest length prefix: a LEB128 varint of a `u32`.
const MAX_PREFIX: usize = 5;

/// Packets of type `T` in the [postcard](https://docs.rs/postcard) format: compact, not
/// self-describing, for Rust peers on both ends (EasyNetwork has no counterpart).
///
/// * Datagrams: the postcard bytes of one packet; missing bytes are
///   [`Incomplete`](crate::DeserializeErrorKind::Incomplete), extra bytes
///   [`TrailingData`](crate::DeserializeErrorKind::TrailingData).
/// * Streams: a length prefix, then the postcard bytes. The prefix is the payload length as an
///   unsigned LEB128 varint (7 bits a byte, least significant first, at most 5 bytes: a `u32`),
///   the same encoding postcard uses for its own integers.
///
/// Limits and errors on a stream:
/// * the announced length is checked against the limit (64 KiB by default) as soon as the
///   prefix is complete, before anything is buffered: a longer payload is reported once as a
///   recoverable [`LimitExceeded`](crate::DeserializeErrorKind::LimitExceeded) error and its
///   bytes are dropped as they arrive; the next packet decodes normally;
/// * a payload that does not decode as `T`, or that has bytes left over, is a recoverable
///   [`Invalid`](crate::DeserializeErrorKind::Invalid) error: the frame is consumed;
/// * a prefix longer than 5 bytes, or above `u32::MAX`, is an unrecoverable `Invalid` error: the
///   framing is lost and the buffered bytes are dropped.
///
/// Postcard cannot decode self-describing types such as [`Value`](crate::Value), and has no
/// nesting limit of its own: with a recursive packet type, keep the limit small enough for the
/// stack.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{PostcardSerializer, StreamSerializer};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Hello {
///     name: String,
///     visits: u32,
/// }
///
/// let s = PostcardSerializer::<Hello>::new();
/// let mut wire = BytesMut::new();
/// s.encode(&Hello { name: "ana".into(), visits: 300 }, &mut wire).unwrap();
/// // length 6, then "ana" with its length, then 300 as a varint
/// assert_eq!(&wire[..], b"\x06\x03ana\xac\x02");
///
/// let mut state = s.decode_state();
/// let hello = s.decode(&mut state, &mut wire).unwrap().unwrap();
/// assert_eq!(hello, Hello { name: "ana".into(), visits: 300 });
/// ```
pub struct PostcardSerializer<T> {
    limit: usize,
    _packet: PhantomData<fn(&T) -> T>,
}

crate::serializer::limited_serializer!(
    PostcardSerializer,
    "payload (the length prefix not included)"
);

/// Appends the postcard bytes of `packet` to `out` (which is left empty on error).
///
/// Postcard's `Extend` flavor on an owned vector: its pieces are short (a string, an 8-byte
/// float), and copying them through an iterator is inlined where `extend_from_slice` calls
/// `memcpy`; a borrowed vector would cost an indirection on every byte.
fn write<T: Serialize>(packet: &T, out: &mut Vec<u8>) -> Result<(), SerializeError> {
    *out = postcard::to_extend(packet, std::mem::take(out))
        .map_err(|e| SerializeError::with_source("cannot encode packet with postcard", e))?;
    Ok(())
}

/// Writes `value` as an unsigned LEB128 varint; returns the bytes used.
fn encode_prefix(mut value: u32, out: &mut [u8; MAX_PREFIX]) -> usize {
    for (i, byte) in out.iter_mut().enumerate() {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            *byte = low;
            return i + 1;
        }
        *byte = low | 0x80;
    }
    MAX_PREFIX
}

/// A length prefix read from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
enum Prefix {
    /// The announced length and the prefix's size.
    Complete { len: u32, size: usize },
    /// The buffer ends inside the prefix.
    NeedMore,
    /// Not a `u32` varint.
    Invalid(&'static str),
}

fn read_prefix(buf: &[u8]) -> Prefix {
    let mut len = 0u32;
    for (i, &b) in buf.iter().take(MAX_PREFIX).enumerate() {
        if i == MAX_PREFIX - 1 {
            if b & 0x80 != 0 {
                return Prefix::Invalid("length prefix longer than 5 bytes");
            }
            if b > 0x0f {
                return Prefix::Invalid("length prefix larger than u32::MAX");
            }
        }
        len |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Prefix::Complete { len, size: i + 1 };
        }
    }
    Prefix::NeedMore
}

/// Decodes a whole payload; `Err(Ok(n))` means `n` bytes were left over, `Err(Err(e))` that
/// postcard failed.
fn parse_exact<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Result<usize, postcard::Error>> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((packet, [])) => Ok(packet),
        Ok((_, rest)) => Err(Ok(rest.len())),
        Err(e) => Err(Err(e)),
    }
}

impl<T: Serialize + DeserializeOwned> DatagramSerializer for PostcardSerializer<T> {
    type Sent = T;
    type Received = T;

    fn serialize(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        write_via_scratch(dst, |out| write(packet, out))
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<T, DeserializeError> {
        parse_exact(datagram).map_err(|e| match e {
            Ok(extra) => DeserializeError::new(
                DeserializeErrorKind::TrailingData,
                format!("extra data caught: {extra} bytes after the postcard packet"),
            ),
            Err(postcard::Error::DeserializeUnexpectedEnd) => DeserializeError::new(
                DeserializeErrorKind::Incomplete,
                "missing data to create packet: the postcard packet is truncated",
            ),
            Err(e) => DeserializeError::invalid("postcard decode error").with_source(e),
        })
    }
}

/// Decoding state of [`PostcardSerializer`] on a stream.
///
/// A frame stays in the buffer until it is whole (its prefix is re-read on each call: at most 5
/// bytes), so the only state is the count of bytes still to drop from an oversized frame.
#[derive(Debug, Clone, Default)]
pub struct PostcardDecodeState {
    /// Bytes of an oversized payload not received yet, to drop when they arrive.
    skip: usize,
    /// Prefix bytes examined and payload bytes handed to postcard so far (for the linearity
    /// tests).
    #[cfg(test)]
    examined: u64,
}

impl<T: Serialize + DeserializeOwned> StreamSerializer for PostcardSerializer<T> {
    type Sent = T;
    type Received = T;
    type DecodeState = PostcardDecodeState;

    fn decode_state(&self) -> PostcardDecodeState {
        PostcardDecodeState::default()
    }

    fn encode(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        // The payload goes into the scratch buffer; then its length prefix and the payload are
        // appended to `dst` (room for both reserved at once).
        with_scratch(|out| {
            write(packet, out)?;
            let len = out.len();
            let len = u32::try_from(len).map_err(|_| {
                SerializeError::new(format!(
                    "postcard payload of {len} bytes does not fit the u32 length prefix"
                ))
            })?;
            let mut prefix = [0u8; MAX_PREFIX];
            let size = encode_prefix(len, &mut prefix);
            dst.reserve(size + out.len());
            dst.extend_from_slice(&prefix[..size]);
            dst.extend_from_slice(out);
            Ok(())
        })
    }

    fn decode(
        &self,
        state: &mut PostcardDecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<T>, DeserializeError> {
        if state.skip > 0 {
            let take = state.skip.min(src.len());
            src.advance(take);
            state.skip -= take;
            if state.skip > 0 {
                return Ok(None);
            }
        }
        #[cfg(test)]
        {
            state.examined += src.len().min(MAX_PREFIX) as u64;
        }
        let (len, size) = match read_prefix(src) {
            Prefix::NeedMore => return Ok(None),
            Prefix::Invalid(why) => {
                src.clear();
                return Err(DeserializeError::invalid(format!(
                    "postcard framing error: {why}; the rest of the received data was discarded"
                ))
                .unrecoverable());
            }
            Prefix::Complete { len, size } => (usize::try_from(len).unwrap_or(usize::MAX), size),
        };
        if len > self.limit {
            src.advance(size);
            let take = len.min(src.len());
            src.advance(take);
            state.skip = len - take;
            return Err(DeserializeError::limit_exceeded(
                self.limit,
                format!(
                    "postcard frame announces {len} bytes, more than the limit ({} bytes): \
                     skipping it",
                    self.limit
                ),
            ));
        }
        if src.len() - size < len {
            return Ok(None);
        }
        src.advance(size);
        let payload = src.split_to(len);
        #[cfg(test)]
        {
            state.examined += payload.len() as u64;
        }
        parse_exact(&payload).map(Some).map_err(|e| match e {
            Ok(extra) => DeserializeError::invalid(format!(
                "postcard decode error: {extra} bytes left over in the frame"
            )),
            Err(e) => DeserializeError::invalid("postcard decode error").with_source(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_LIMIT;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Hello {
        name: String,
        visits: u32,
    }

    fn hello(visits: u32) -> Hello {
        Hello {
            name: "ana".into(),
            visits,
        }
    }

    type Outcome<T> = Result<T, (DeserializeErrorKind, bool)>;

    fn decode_all<T: Serialize + DeserializeOwned>(
        s: &PostcardSerializer<T>,
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

    fn encode<T: Serialize + DeserializeOwned>(s: &PostcardSerializer<T>, v: &T) -> Vec<u8> {
        let mut b = BytesMut::new();
        StreamSerializer::encode(s, v, &mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn prefixes() {
        for (value, bytes) in [
            (0u32, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (u32::MAX, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut out = [0; MAX_PREFIX];
            let n = encode_prefix(value, &mut out);
            assert_eq!(&out[..n], bytes);
            assert_eq!(
                read_prefix(bytes),
                Prefix::Complete {
                    len: value,
                    size: n
                }
            );
            assert_eq!(read_prefix(&bytes[..n - 1]), Prefix::NeedMore);
        }
        // non-minimal encodings are accepted, as postcard accepts them
        assert_eq!(
            read_prefix(&[0x80, 0x00]),
            Prefix::Complete { len: 0, size: 2 }
        );
        assert!(matches!(
            read_prefix(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Prefix::Invalid(_)
        ));
        assert!(matches!(
            read_prefix(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Prefix::Invalid(_)
        ));
    }

    #[test]
    fn known_bytes() {
        let s = PostcardSerializer::<Hello>::new();
        let mut datagram = BytesMut::new();
        s.serialize(&hello(2), &mut datagram).unwrap();
        assert_eq!(&datagram[..], b"\x03ana\x02");
        assert_eq!(s.deserialize(&datagram).unwrap(), hello(2));
        assert_eq!(encode(&s, &hello(2)), b"\x05\x03ana\x02");
        // a 200-byte payload takes a two-byte prefix
        let s = PostcardSerializer::<Vec<u8>>::new();
        let wire = encode(&s, &vec![9u8; 198]);
        assert_eq!(&wire[..4], [0xc8, 0x01, 0xc6, 0x01]);
        assert_eq!(wire.len(), 202);
    }

    #[test]
    fn stream_chunking() {
        let s = PostcardSerializer::<Hello>::new();
        let items: Vec<Hello> = vec![
            hello(1),
            Hello {
                name: "b".repeat(500),
                visits: 70_000,
            },
            hello(3),
        ];
        let mut wire = Vec::new();
        for v in &items {
            wire.extend(encode(&s, v));
        }
        let want: Vec<Outcome<Hello>> = items.iter().cloned().map(Ok).collect();
        assert_eq!(decode_all(&s, &[&wire]), want);
        let bytewise: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_all(&s, &bytewise), want);
        let chunks: Vec<&[u8]> = wire.chunks(6).collect();
        assert_eq!(decode_all(&s, &chunks), want);
    }

    #[test]
    fn bad_payload_is_recoverable_and_leaves_the_rest() {
        let s = PostcardSerializer::<Hello>::new();
        let mut state = s.decode_state();
        // invalid UTF-8 in the name, then a frame with a byte left over, then a good frame
        let mut buf = BytesMut::from(&b"\x03\x01\xff\x02\x06\x03ana\x02\x00\x05\x03ana\x07"[..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert!(err.is_recoverable());
        assert_eq!(&buf[..], b"\x06\x03ana\x02\x00\x05\x03ana\x07");
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert!(err.is_recoverable());
        assert_eq!(&buf[..], b"\x05\x03ana\x07");
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), Some(hello(7)));
        // a frame too short for the type
        assert_eq!(
            decode_all(&s, &[b"\x02\x03a\x05\x03ana\x01"]),
            vec![Err((DeserializeErrorKind::Invalid, true)), Ok(hello(1))]
        );
    }

    #[test]
    fn oversized_frames_are_skipped_unbuffered() {
        let s = PostcardSerializer::<Vec<u8>>::new().with_limit(16);
        let big = encode(&s, &vec![1u8; 40]);
        let small = encode(&s, &vec![2u8; 3]);
        let wire = [big.clone(), small.clone()].concat();
        let limit = DeserializeErrorKind::LimitExceeded { limit: 16 };
        let want = vec![Err((limit, true)), Ok(vec![2u8; 3])];
        assert_eq!(decode_all(&s, &[&wire]), want);
        let bytewise: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_all(&s, &bytewise), want);
        // One chunk: the rest after the error is exactly the next frame.
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap_err().kind(), limit);
        assert_eq!(&buf[..], &small[..]);
        // In chunks: the oversized payload is never held in the buffer.
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut errors = 0;
        for chunk in big.chunks(5) {
            buf.extend_from_slice(chunk);
            match s.decode(&mut state, &mut buf) {
                Ok(None) => {}
                Err(e) if e.kind() == limit => errors += 1,
                other => panic!("{other:?}"),
            }
            assert!(buf.len() < 5, "{}", buf.len());
        }
        assert_eq!(errors, 1);
        buf.extend_from_slice(&small);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), Some(vec![2u8; 3]));
    }

    #[test]
    fn huge_announced_length_reserves_nothing() {
        let wire = [0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
        let s = PostcardSerializer::<Vec<u8>>::new();
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
        assert!(err.is_recoverable());
        assert!(buf.is_empty());
        assert!(buf.capacity() <= 16);
        let s = s.with_limit(usize::MAX);
        let mut state = s.decode_state();
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(&wire);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
        assert_eq!(buf.len(), wire.len());
        assert!(buf.capacity() <= 16);
    }

    #[test]
    fn bad_prefix_loses_framing_then_recovers() {
        let s = PostcardSerializer::<Hello>::new();
        for bad in [
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x05][..],
            &[0xff, 0xff, 0xff, 0xff, 0x10],
        ] {
            let mut state = s.decode_state();
            let mut buf = BytesMut::from(bad);
            let err = s.decode(&mut state, &mut buf).unwrap_err();
            assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
            assert!(!err.is_recoverable());
            assert!(buf.is_empty());
            buf.extend_from_slice(b"\x05\x03ana\x04");
            assert_eq!(s.decode(&mut state, &mut buf).unwrap(), Some(hello(4)));
        }
        // an incomplete prefix just waits
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&[0x80, 0x80, 0x80, 0x80][..]);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
    }

    #[test]
    fn datagram_errors() {
        let s = PostcardSerializer::<Hello>::new();
        let kind = |bytes: &[u8]| s.deserialize(bytes).unwrap_err().kind();
        assert_eq!(kind(b"\x03an"), DeserializeErrorKind::Incomplete);
        assert_eq!(kind(b""), DeserializeErrorKind::Incomplete);
        assert_eq!(kind(b"\x03ana\x02\x00"), DeserializeErrorKind::TrailingData);
        assert_eq!(kind(b"\x02\xff\xfe\x01"), DeserializeErrorKind::Invalid);
        let mut out = BytesMut::from(&b"keep"[..]);
        s.serialize(&hello(1), &mut out).unwrap();
        assert_eq!(&out[..], b"keep\x03ana\x01");
    }

    #[test]
    fn eof_in_the_middle_of_a_frame() {
        let s = PostcardSerializer::<Hello>::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&b"\x05\x03ana\x01\x05\x03a"[..]);
        assert_eq!(s.decode_eof(&mut state, &mut buf).unwrap(), Some(hello(1)));
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap_err().kind(),
            DeserializeErrorKind::Incomplete
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn linear_when_fed_byte_by_byte() {
        let s = PostcardSerializer::<Vec<u8>>::new();
        let wire = encode(&s, &vec![5u8; 60_000]);
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut got = None;
        for b in &wire {
            buf.extend_from_slice(&[*b]);
            if let Some(v) = s.decode(&mut state, &mut buf).unwrap() {
                got = Some(v);
            }
        }
        assert_eq!(got.map(|v| v.len()), Some(60_000));
        // at most one prefix (5 bytes) looked at per call, and the payload parsed once
        assert!(
            state.examined <= 5 * wire.len() as u64 + 60_000,
            "{}",
            state.examined
        );
    }
}
