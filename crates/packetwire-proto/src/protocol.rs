//! Protocol objects: a serializer plus a converter, cheap to clone and share between
//! connections (EasyNetwork's `StreamProtocol` and `DatagramProtocol`).

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;

use crate::converter::{NoConverter, RecvConverter, SendConverter};
use crate::error::{BuildError, ParseError};
use crate::serializer::{DatagramSerializer, StreamSerializer};

/// A stream serializer and a converter, shared by every connection that speaks the protocol.
///
/// Cloning is an `Arc` clone. Decoding state is per connection: call
/// [`decoder`](Self::decoder) once per connection.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{JsonSerializer, StreamProtocol};
/// use serde_json::{json, Value};
///
/// let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
/// let mut wire = BytesMut::new();
/// protocol.encode(&json!({"hello": "world"}), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"{\"hello\":\"world\"}\n");
///
/// let mut decoder = protocol.decoder();
/// assert_eq!(decoder.decode(&mut wire).unwrap(), Some(json!({"hello": "world"})));
/// ```
pub struct StreamProtocol<S, C = NoConverter> {
    inner: Arc<Inner<S, C>>,
}

/// A one-shot serializer and a converter, shared by every socket that speaks the protocol.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{DatagramProtocol, JsonSerializer};
/// use serde_json::{json, Value};
///
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let mut datagram = BytesMut::new();
/// protocol.encode(&json!([1, 2]), &mut datagram).unwrap();
/// assert_eq!(&datagram[..], b"[1,2]");
/// assert_eq!(protocol.decode(&datagram).unwrap(), json!([1, 2]));
/// ```
pub struct DatagramProtocol<S, C = NoConverter> {
    inner: Arc<Inner<S, C>>,
}

struct Inner<S, C> {
    serializer: S,
    converter: C,
}

macro_rules! common_impls {
    ($name:ident) => {
        impl<S> $name<S, NoConverter> {
            /// A protocol object whose packets are the serializer's values.
            pub fn new(serializer: S) -> Self {
                Self::with_converter(serializer, NoConverter)
            }
        }

        impl<S, C> $name<S, C> {
            /// A protocol object that converts packets with `converter`.
            pub fn with_converter(serializer: S, converter: C) -> Self {
                Self {
                    inner: Arc::new(Inner {
                        serializer,
                        converter,
                    }),
                }
            }

            /// The serializer.
            pub fn serializer(&self) -> &S {
                &self.inner.serializer
            }

            /// The converter.
            pub fn converter(&self) -> &C {
                &self.inner.converter
            }
        }

        impl<S, C> Clone for $name<S, C> {
            fn clone(&self) -> Self {
                Self {
                    inner: Arc::clone(&self.inner),
                }
            }
        }

        impl<S, C> fmt::Debug for $name<S, C> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("serializer", &std::any::type_name::<S>())
                    .field("converter", &std::any::type_name::<C>())
                    .finish()
            }
        }
    };
}

common_impls!(StreamProtocol);
common_impls!(DatagramProtocol);

impl<S, C> StreamProtocol<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Converts and serializes `packet`, appending the framed bytes to `dst`. On error `dst`
    /// is left as it was.
    pub fn encode(
        &self,
        packet: &<C as SendConverter<S::Sent>>::Sent,
        dst: &mut BytesMut,
    ) -> Result<(), BuildError> {
        let serializer = &self.inner.serializer;
        self.inner
            .converter
            .to_wire(packet, |wire| serializer.encode(wire, dst))??;
        Ok(())
    }

    /// A decoder for one connection.
    pub fn decoder(&self) -> PacketDecoder<S, C> {
        PacketDecoder {
            state: self.inner.serializer.decode_state(),
            protocol: self.clone(),
        }
    }
}

impl<S, C> DatagramProtocol<S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Converts and serializes `packet` as one datagram, appended to `dst`.
    pub fn encode(
        &self,
        packet: &<C as SendConverter<S::Sent>>::Sent,
        dst: &mut BytesMut,
    ) -> Result<(), BuildError> {
        let serializer = &self.inner.serializer;
        self.inner
            .converter
            .to_wire(packet, |wire| serializer.serialize(wire, dst))??;
        Ok(())
    }

    /// Deserializes and converts one datagram.
    pub fn decode(
        &self,
        datagram: &[u8],
    ) -> Result<<C as RecvConverter<S::Received>>::Received, ParseError> {
        let wire = self.inner.serializer.deserialize(datagram)?;
        Ok(self.inner.converter.from_wire(wire)?)
    }
}

/// The per-connection decoding half of a [`StreamProtocol`].
///
/// It implements tokio-util's `Decoder` and `Encoder` (feature `codec`), so it drops into
/// `Framed`. Note that tokio-util's `FramedRead` ends the stream at the first error, while
/// packetwire's own clients and servers keep the connection after a recoverable parse error.
pub struct PacketDecoder<S: StreamSerializer, C = NoConverter> {
    protocol: StreamProtocol<S, C>,
    state: S::DecodeState,
}

impl<S: StreamSerializer, C> fmt::Debug for PacketDecoder<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketDecoder")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl<S, C> PacketDecoder<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// The protocol object this decoder belongs to.
    pub fn protocol(&self) -> &StreamProtocol<S, C> {
        &self.protocol
    }

    /// Takes the next packet from the front of `src`: `Ok(None)` means more bytes are needed.
    /// After an error, what is left in `src` follows the bad packet; see
    /// [`ParseError::is_recoverable`].
    pub fn decode(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<<C as RecvConverter<S::Received>>::Received>, ParseError> {
        let inner = &self.protocol.inner;
        match inner.serializer.decode(&mut self.state, src)? {
            Some(wire) => Ok(Some(inner.converter.from_wire(wire)?)),
            None => Ok(None),
        }
    }

    /// Like [`decode`](Self::decode), at end of stream: leftover bytes that do not make a packet
    /// are an error.
    pub fn decode_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<<C as RecvConverter<S::Received>>::Received>, ParseError> {
        let inner = &self.protocol.inner;
        match inner.serializer.decode_eof(&mut self.state, src)? {
            Some(wire) => Ok(Some(inner.converter.from_wire(wire)?)),
            None => Ok(None),
        }
    }

    /// Encodes a packet with this decoder's protocol (convenience for codec users).
    pub fn encode(
        &self,
        packet: &<C as SendConverter<S::Sent>>::Sent,
        dst: &mut BytesMut,
    ) -> Result<(), BuildError> {
        self.protocol.encode(packet, dst)
    }
}

#[cfg(feature = "codec")]
mod codec {
    use std::{fmt, io};

    use bytes::BytesMut;

    use super::PacketDecoder;
    use crate::converter::{RecvConverter, SendConverter};
    use crate::error::{BuildError, ParseError};
    use crate::serializer::StreamSerializer;

    /// Errors of the tokio-util codec: I/O, or a packet that could not be parsed or built.
    #[derive(Debug)]
    #[non_exhaustive]
    pub enum CodecError {
        /// The underlying I/O failed.
        Io(io::Error),
        /// A received packet could not be parsed.
        Parse(ParseError),
        /// A packet to send could not be built.
        Build(BuildError),
    }

    impl fmt::Display for CodecError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Io(e) => e.fmt(f),
                Self::Parse(e) => e.fmt(f),
                Self::Build(e) => e.fmt(f),
            }
        }
    }

    impl std::error::Error for CodecError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            match self {
                Self::Io(e) => Some(e),
                Self::Parse(e) => Some(e),
                Self::Build(e) => Some(e),
            }
        }
    }

    impl From<io::Error> for CodecError {
        fn from(err: io::Error) -> Self {
            Self::Io(err)
        }
    }

    impl From<CodecError> for io::Error {
        fn from(err: CodecError) -> Self {
            match err {
                CodecError::Io(e) => e,
                CodecError::Parse(e) => e.into(),
                CodecError::Build(e) => e.into(),
            }
        }
    }

    impl<S, C> tokio_util::codec::Decoder for PacketDecoder<S, C>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        type Item = <C as RecvConverter<S::Received>>::Received;
        type Error = CodecError;

        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
            PacketDecoder::decode(self, src).map_err(CodecError::Parse)
        }

        fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
            PacketDecoder::decode_eof(self, src).map_err(CodecError::Parse)
        }
    }

    impl<'a, S, C> tokio_util::codec::Encoder<&'a <C as SendConverter<S::Sent>>::Sent>
        for PacketDecoder<S, C>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        type Error = CodecError;

        fn encode(
            &mut self,
            item: &'a <C as SendConverter<S::Sent>>::Sent,
            dst: &mut BytesMut,
        ) -> Result<(), CodecError> {
            self.protocol.encode(item, dst).map_err(CodecError::Build)
        }
    }
}

#[cfg(feature = "codec")]
pub use codec::CodecError;
