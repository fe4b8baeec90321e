//! The two serializer contracts: one-shot (datagrams) and stream (framed).

use bytes::BytesMut;

use crate::error::{DeserializeError, DeserializeErrorKind, SerializeError};

/// Default limit, in bytes, of every serializer that buffers a packet before decoding it
/// (EasyNetwork's `DEFAULT_SERIALIZER_LIMIT`, 64 KiB).
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// A one-shot serializer: one packet is one byte string (a datagram, or the payload that a
/// wrapper frames). EasyNetwork's `AbstractPacketSerializer`.
///
/// `Sent` is what [`serialize`](Self::serialize) takes by reference; `Received` is what
/// [`deserialize`](Self::deserialize) returns. They are the same type for most serializers; the
/// line serializer sends `str` and receives `String`.
pub trait DatagramSerializer: Send + Sync {
    /// The packet type this serializer encodes.
    type Sent: ?Sized;
    /// The packet type this serializer decodes.
    type Received;

    /// Appends the serialized packet to `dst`. On error `dst` is left as it was.
    fn serialize(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError>;

    /// Decodes exactly one packet from `datagram`: missing bytes are
    /// [`DeserializeErrorKind::Incomplete`], extra bytes [`DeserializeErrorKind::TrailingData`].
    fn deserialize(&self, datagram: &[u8]) -> Result<Self::Received, DeserializeError>;
}

/// A stream serializer: it frames packets on a byte stream, following tokio-util's decoder
/// contract. EasyNetwork's `AbstractIncrementalPacketSerializer`.
///
/// Decoding is incremental. The decoder keeps what it learnt about the bytes it has already seen
/// in a [`DecodeState`](Self::DecodeState) value (one per connection, made by
/// [`decode_state`](Self::decode_state)), so that feeding a packet in many small chunks costs time
/// proportional to its size, not to its size squared.
///
/// [`decode`](Self::decode) either
/// * returns `Ok(Some(packet))` and removes the packet's bytes from the front of `src`,
/// * returns `Ok(None)` when `src` does not hold a whole packet yet (it may keep consuming bytes it
///   has fully accounted for, such as leading whitespace or an oversized frame being skipped),
/// * or returns an error after removing the faulty frame: what is left in `src` is the data that
///   follows the bad packet (EasyNetwork's `remaining_data`). See
///   [`DeserializeError::is_recoverable`].
pub trait StreamSerializer: Send + Sync {
    /// The packet type this serializer encodes.
    type Sent: ?Sized;
    /// The packet type this serializer decodes.
    type Received;
    /// Per-connection decoding state.
    type DecodeState: Send;

    /// Makes the decoding state for a new connection.
    fn decode_state(&self) -> Self::DecodeState;

    /// Appends one framed packet to `dst`. On error `dst` is left as it was.
    fn encode(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError>;

    /// Decodes the next packet at the front of `src`; see the trait documentation.
    fn decode(
        &self,
        state: &mut Self::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Self::Received>, DeserializeError>;

    /// Called once the stream has ended: decodes a last packet if `src` holds one. Leftover bytes
    /// that do not form a packet are an [`DeserializeErrorKind::Incomplete`] error, and are
    /// discarded along with the decoding state (the default implementation replaces `state`
    /// with a fresh [`decode_state`](Self::decode_state)).
    fn decode_eof(
        &self,
        state: &mut Self::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Self::Received>, DeserializeError> {
        match self.decode(state, src)? {
            Some(packet) => Ok(Some(packet)),
            None if src.is_empty() => Ok(None),
            None => {
                let n = src.len();
                src.clear();
                // The state described the bytes just dropped: start afresh.
                *state = self.decode_state();
                Err(DeserializeError::new(
                    DeserializeErrorKind::Incomplete,
                    format!("stream ended in the middle of a packet ({n} bytes left)"),
                ))
            }
        }
    }
}

/// Runs `f`, and truncates `dst` back to its length before the call if `f` fails.
pub(crate) fn rollback_on_error<T>(
    dst: &mut BytesMut,
    f: impl FnOnce(&mut BytesMut) -> Result<T, SerializeError>,
) -> Result<T, SerializeError> {
    let len = dst.len();
    let result = f(dst);
    if result.is_err() {
        dst.truncate(len);
    }
    result
}

/// The common part of the serde-based binary serializers (a struct with a `limit` and a
/// `PhantomData` of the packet type): `new`, `with_limit`, `limit`, and `Clone`, `Copy`,
/// `Debug` and `Default` without bounds on the packet type. `$what` names one packet in the
/// docs ("object", "data item", ...).
#[cfg(any(feature = "msgpack", feature = "cbor", feature = "postcard"))]
macro_rules! limited_serializer {
    ($name:ident, $what:literal) => {
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<T> Copy for $name<T> {}

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("limit", &self.limit)
                    .finish()
            }
        }

        impl<T> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T> $name<T> {
            /// A serializer with the default limit ([`DEFAULT_LIMIT`](crate::DEFAULT_LIMIT),
            /// 64 KiB).
            pub fn new() -> Self {
                Self {
                    limit: crate::DEFAULT_LIMIT,
                    _packet: std::marker::PhantomData,
                }
            }

            #[doc = concat!("The maximum size of one ", $what, " on a stream, in bytes.")]
            pub fn with_limit(mut self, limit: usize) -> Self {
                self.limit = limit;
                self
            }

            /// The limit in force, in bytes.
            pub fn limit(&self) -> usize {
                self.limit
            }
        }
    };
}
#[cfg(any(feature = "msgpack", feature = "cbor", feature = "postcard"))]
pub(crate) use limited_serializer;

/// Scratch buffers larger than this are released after use instead of kept for the next packet.
#[cfg(any(
    feature = "json",
    feature = "msgpack",
    feature = "cbor",
    feature = "postcard"
))]
const SCRATCH_KEEP: usize = 1 << 20;

#[cfg(any(
    feature = "json",
    feature = "msgpack",
    feature = "cbor",
    feature = "postcard"
))]
thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on an empty, reused `Vec<u8>` and appends what it wrote to `dst`.
///
/// serde writers (serde_json, rmp-serde, ciborium) write many small pieces through
/// `io::Write`; `Vec<u8>`'s implementation is much faster than `BytesMut`'s, and one copy of the
/// finished packet costs less than the difference. The scratch buffer is per thread; a nested
/// call (a wrapper serializing its inner packet) gets a fresh one. `dst` is unchanged on error.
#[cfg(any(
    feature = "json",
    feature = "msgpack",
    feature = "cbor",
    feature = "postcard"
))]
pub(crate) fn write_via_scratch(
    dst: &mut BytesMut,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), SerializeError>,
) -> Result<(), SerializeError> {
    with_scratch(|scratch| {
        f(scratch)?;
        dst.extend_from_slice(scratch);
        Ok(())
    })
}

/// Runs `f` on the empty, reused per-thread scratch `Vec<u8>` of [`write_via_scratch`], for
/// callers that copy its content out themselves (a length prefix to put in front, say). A nested
/// call gets a fresh buffer.
#[cfg(any(
    feature = "json",
    feature = "msgpack",
    feature = "cbor",
    feature = "postcard"
))]
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    fn run<R>(scratch: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        scratch.clear();
        let result = f(scratch);
        if scratch.capacity() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        result
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => run(&mut scratch, f),
        Err(_) => run(&mut Vec::new(), f),
    })
}

impl<S: DatagramSerializer + ?Sized> DatagramSerializer for &S {
    type Sent = S::Sent;
    type Received = S::Received;

    fn serialize(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        (**self).serialize(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Self::Received, DeserializeError> {
        (**self).deserialize(datagram)
    }
}

impl<S: DatagramSerializer + ?Sized> DatagramSerializer for Box<S> {
    type Sent = S::Sent;
    type Received = S::Received;

    fn serialize(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        (**self).serialize(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Self::Received, DeserializeError> {
        (**self).deserialize(datagram)
    }
}

impl<S: DatagramSerializer + ?Sized> DatagramSerializer for std::sync::Arc<S> {
    type Sent = S::Sent;
    type Received = S::Received;

    fn serialize(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        (**self).serialize(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Self::Received, DeserializeError> {
        (**self).deserialize(datagram)
    }
}

impl<S: StreamSerializer + ?Sized> StreamSerializer for std::sync::Arc<S> {
    type Sent = S::Sent;
    type Received = S::Received;
    type DecodeState = S::DecodeState;

    fn decode_state(&self) -> Self::DecodeState {
        (**self).decode_state()
    }

    fn encode(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        (**self).encode(packet, dst)
    }

    fn decode(
        &self,
        state: &mut Self::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Self::Received>, DeserializeError> {
        (**self).decode(state, src)
    }

    fn decode_eof(
        &self,
        state: &mut Self::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Self::Received>, DeserializeError> {
        (**self).decode_eof(state, src)
    }
}
