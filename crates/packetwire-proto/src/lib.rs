//! # packetwire-proto: the sans-IO core of packetwire
//!
//! This crate turns bytes into typed packets and back. It holds packetwire's serializers,
//! framing, limits, converters and parse errors as pure functions over byte buffers: no socket,
//! no clock, no runtime. The blocking and async shells, the servers, the fuzzers and the
//! command-line tool all share it. Most users depend on `packetwire`, which re-exports it.
//!
//! ```text
//!  socket ──bytes──▶ BytesMut ──▶ StreamSerializer::decode ──▶ wire value ──▶ RecvConverter ──▶ packet
//!                     (framing: separator, bracket scan,             (serde / pickle /        (your type)
//!                      self-delimiting item, length prefix,           struct / text)
//!                      end-of-stream marker; limits checked
//!                      before anything grows)
//!
//!  packet ──▶ SendConverter ──▶ wire value ──▶ StreamSerializer::encode ──▶ BytesMut ──bytes──▶ socket
//! ```
//!
//! Datagrams skip the framing: [`DatagramSerializer`] maps one packet to one byte string.
//!
//! ## Getting started
//!
//! ```
//! use bytes::BytesMut;
//! use packetwire_proto::{JsonSerializer, StreamProtocol};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Hello {
//!     name: String,
//!     visits: u32,
//! }
//!
//! let protocol = StreamProtocol::new(JsonSerializer::<Hello>::new());
//! let mut wire = BytesMut::new();
//! protocol.encode(&Hello { name: "ana".into(), visits: 2 }, &mut wire).unwrap();
//! assert_eq!(&wire[..], b"{\"name\":\"ana\",\"visits\":2}\n");
//!
//! // Bytes may arrive in any chunks: the decoder waits for a whole packet.
//! let mut decoder = protocol.decoder();
//! let mut received = BytesMut::new();
//! received.extend_from_slice(&wire[..5]);
//! assert_eq!(decoder.decode(&mut received).unwrap(), None);
//! received.extend_from_slice(&wire[5..]);
//! let hello = decoder.decode(&mut received).unwrap().unwrap();
//! assert_eq!(hello, Hello { name: "ana".into(), visits: 2 });
//! ```
//!
//! ## Serializers and wrappers
//!
//! | serializer | packets | stream framing | feature |
//! |---|---|---|---|
//! | [`JsonSerializer`] | serde types | JSON + `\n`, or bracket scanning | `json` |
//! | [`LineSerializer`] | `str` / `String` | text + LF, CR or CRLF | always |
//! | [`MsgpackSerializer`] | serde types | concatenated items | `msgpack` |
//! | [`CborSerializer`] | serde types | concatenated items | `cbor` |
//! | [`StructSerializer`], [`RecordSerializer`] | [`Value`] lists / records | fixed size | always |
//! | [`PickleSerializer`] | [`Value`] | one-shot only: wrap it | `pickle` |
//! | [`PostcardSerializer`] | serde types | varint length prefix | `postcard` |
//!
//! Wrappers stack on any one-shot serializer and are themselves stream and datagram serializers:
//! [`Base64Wrapper`] (feature `base64`: standard or URL-safe alphabet, SHA-256 checksum or
//! HMAC-SHA256), [`ZlibWrapper`] (`zlib`), [`Bz2Wrapper`] (`bz2`) and [`ZstdWrapper`] (`zstd`),
//! each with a limit on the decompressed size. [`Separated`] turns any one-shot serializer into a
//! separator-framed stream serializer, and [`StapledSerializer`] sends with one serializer and
//! receives with another.
//!
//! ## Limits
//!
//! Every serializer that buffers has a packet-size limit, [`DEFAULT_LIMIT`] (64 KiB) unless set
//! otherwise, checked before memory is reserved: memory grows with the bytes received, never
//! with a size the peer announces. An oversized packet is a recoverable
//! [`DeserializeErrorKind::LimitExceeded`] error, and the decoder skips it where the format lets
//! it find the packet's end.
//!
//! Byte streams that read lines, separated chunks or exact sizes keep what they received in a
//! [`ReceiveBuffer`], whose separator searches have the same 64 KiB default limit.
//!
//! ## Errors
//!
//! Each operation has its error type: [`SerializeError`], [`DeserializeError`] (with
//! [`DeserializeError::is_recoverable`]), [`ConversionError`], and at the protocol level
//! [`BuildError`] (send side) and [`ParseError`] (receive side). A parse error does not end a
//! stream: the bytes after the bad packet stay in the buffer and the next decode goes on.
//!
//! ## Features
//!
//! `json`, `msgpack`, `cbor`, `postcard`, `pickle`, `base64`, `zlib`, `bz2`, `zstd` (all on by
//! default), and `codec` (tokio-util `Decoder`/`Encoder` for [`PacketDecoder`]).
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "msgpack")]
mod bounded;
mod converter;
pub mod dynamic;
mod error;
mod framing;
#[cfg(any(feature = "msgpack", feature = "cbor"))]
mod item_scan;
mod line;
mod protocol;
mod receive_buffer;
mod serializer;
mod stapled;
mod structs;
mod value;
mod wrapper;

#[cfg(feature = "cbor")]
mod cbor;
#[cfg(feature = "json")]
mod json;
#[cfg(feature = "msgpack")]
mod msgpack;
#[cfg(feature = "pickle")]
mod pickle;
#[cfg(feature = "postcard")]
mod postcard;

pub use converter::{NoConverter, RecvConverter, SendConverter, Stapled};
pub use error::{
    BuildError, ConversionError, DeserializeError, DeserializeErrorKind, ParseError, SerializeError,
};
pub use framing::{Frame, Separated, SeparatorScanner};
pub use line::{Encoding, LineSerializer, Newline};
#[cfg(feature = "codec")]
pub use protocol::CodecError;
pub use protocol::{DatagramProtocol, PacketDecoder, StreamProtocol};
pub use receive_buffer::{read_via_scratch, ReceiveBuffer, TakeError, DEFAULT_READ_SIZE};
pub use serializer::{DatagramSerializer, StreamSerializer, DEFAULT_LIMIT};
pub use stapled::StapledSerializer;
pub use structs::{
    ByteOrder, RecordField, RecordSerializer, StructFormat, StructFormatError, StructSerializer,
};
pub use value::Value;

#[cfg(feature = "cbor")]
pub use cbor::{CborDecodeState, CborSerializer};
#[cfg(feature = "json")]
pub use json::{JsonDecodeState, JsonSerializer};
#[cfg(feature = "msgpack")]
pub use msgpack::{MsgpackDecodeState, MsgpackSerializer};
#[cfg(feature = "pickle")]
pub use pickle::PickleSerializer;
#[cfg(feature = "base64")]
pub use wrapper::base64::{Base64Alphabet, Base64Checksum, Base64Wrapper};
#[cfg(feature = "bz2")]
pub use wrapper::compress::{Bz2DecodeState, Bz2Wrapper};
#[cfg(feature = "zlib")]
pub use wrapper::compress::{ZlibDecodeState, ZlibWrapper};
#[cfg(feature = "zstd")]
pub use wrapper::compress::{ZstdDecodeState, ZstdWrapper};
// `self::`: the module shares its name with the postcard crate.
#[cfg(feature = "postcard")]
pub use self::postcard::{PostcardDecodeState, PostcardSerializer};
