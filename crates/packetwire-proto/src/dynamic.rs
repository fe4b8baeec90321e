//! Serializers chosen at run time, on [`Value`] packets.
//!
//! A [`CodecSpec`] names a serializer and a stack of wrappers with the strings the command-line
//! tool takes (`--serializer json --wrap zlib,base64`), and builds a boxed stream or datagram
//! codec from them. Tools, tests and configuration-driven programs use this; programs that know
//! their format at compile time use the typed serializers directly, which are faster.
//!
//! Serializer names: `json`, `json-raw` (bracket scanning, EasyNetwork's `use_lines=False`),
//! `line`, `msgpack`, `cbor`, `pickle` (one-shot: wrap it to use it on a stream),
//! `struct:FORMAT` (Python `struct` format, packets are lists), `record:NAME=FMT,...`
//! (EasyNetwork's named-tuple structs, packets are maps), `postcard`.
//!
//! Wrapper names, innermost first: `base64` with optional `:standard`, `:urlsafe`,
//! `:checksum`, `:key=KEY` modifiers (for example `base64:standard:checksum`), `zlib`, `bz2`,
//! `zstd`, each with an optional `:level=N`.
//!
//! ```
//! use bytes::BytesMut;
//! use packetwire_proto::dynamic::CodecSpec;
//! use packetwire_proto::Value;
//!
//! let spec = CodecSpec::new("line");
//! let codec = spec.build_stream().unwrap();
//! let mut wire = BytesMut::new();
//! codec.encode(&Value::from("hello"), &mut wire).unwrap();
//! assert_eq!(&wire[..], b"hello\n");
//! let mut decoder = codec.decoder();
//! assert_eq!(decoder.decode(&mut wire).unwrap(), Some(Value::from("hello")));
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;

use crate::error::{DeserializeError, SerializeError};
use crate::line::{Encoding, LineSerializer, Newline};
use crate::serializer::{DatagramSerializer, StreamSerializer};
use crate::value::Value;

/// A serializer and its wrappers, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodecSpec {
    /// The serializer's name (see the [module documentation](self)).
    pub serializer: String,
    /// Wrapper names, innermost first.
    pub wrap: Vec<String>,
    /// Line ending for `line`: `lf`, `cr` or `crlf`.
    pub newline: Option<String>,
    /// Text encoding for `line` and `record`: `ascii`, `utf-8` or `latin-1`.
    pub encoding: Option<String>,
    /// Packet-size limit in bytes, for the serializer and every wrapper.
    pub limit: Option<usize>,
}

/// A [`CodecSpec`] that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(String);

impl SpecError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

/// A stream serializer on [`Value`] packets, chosen at run time.
pub trait DynStreamCodec: Send + Sync {
    /// Appends one framed packet to `dst`.
    fn encode(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError>;
    /// A decoder for one stream.
    fn decoder(&self) -> Box<dyn DynStreamDecoder>;
}

/// The per-stream decoder of a [`DynStreamCodec`].
pub trait DynStreamDecoder: Send {
    /// See [`StreamSerializer::decode`].
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, DeserializeError>;
    /// See [`StreamSerializer::decode_eof`].
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, DeserializeError>;
}

/// A one-shot serializer on [`Value`] packets, chosen at run time.
pub trait DynDatagramCodec: Send + Sync {
    /// Appends the serialized packet to `dst`.
    fn serialize(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError>;
    /// Decodes one datagram.
    fn deserialize(&self, datagram: &[u8]) -> Result<Value, DeserializeError>;
}

type OneShot = Box<dyn DatagramSerializer<Sent = Value, Received = Value>>;

impl<S> DynDatagramCodec for S
where
    S: DatagramSerializer<Sent = Value, Received = Value> + ?Sized,
{
    fn serialize(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        DatagramSerializer::serialize(self, packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Value, DeserializeError> {
        DatagramSerializer::deserialize(self, datagram)
    }
}

struct Erased<S>(Arc<S>);

struct ErasedDecoder<S: StreamSerializer> {
    serializer: Arc<S>,
    state: S::DecodeState,
}

impl<S> DynStreamCodec for Erased<S>
where
    S: StreamSerializer<Sent = Value, Received = Value> + 'static,
{
    fn encode(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.0.encode(packet, dst)
    }

    fn decoder(&self) -> Box<dyn DynStreamDecoder> {
        Box::new(ErasedDecoder {
            state: self.0.decode_state(),
            serializer: Arc::clone(&self.0),
        })
    }
}

impl<S> DynStreamDecoder for ErasedDecoder<S>
where
    S: StreamSerializer<Sent = Value, Received = Value>,
{
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, DeserializeError> {
        self.serializer.decode(&mut self.state, src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, DeserializeError> {
        self.serializer.decode_eof(&mut self.state, src)
    }
}

/// A run-time stream codec as a [`StreamSerializer`] on [`Value`] packets, so it drops into a
/// [`StreamProtocol`](crate::StreamProtocol) and everything built on one (clients, servers).
/// A newtype rather than an impl on the box, so that calling the box's own methods stays
/// unambiguous.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::dynamic::{CodecSpec, DynStreamSerializer};
/// use packetwire_proto::{StreamProtocol, Value};
///
/// let protocol = StreamProtocol::new(DynStreamSerializer::from(CodecSpec::new("line").build_stream().unwrap()));
/// let mut wire = BytesMut::from(&b"hello\n"[..]);
/// let packet = protocol.decoder().decode(&mut wire).unwrap().unwrap();
/// assert_eq!(packet, Value::from("hello"));
/// // The same in one call:
/// let protocol = CodecSpec::new("line").stream_protocol().unwrap();
/// ```
pub struct DynStreamSerializer(pub Box<dyn DynStreamCodec>);

impl From<Box<dyn DynStreamCodec>> for DynStreamSerializer {
    fn from(codec: Box<dyn DynStreamCodec>) -> Self {
        Self(codec)
    }
}

impl fmt::Debug for DynStreamSerializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynStreamSerializer")
    }
}

impl StreamSerializer for DynStreamSerializer {
    type Sent = Value;
    type Received = Value;
    type DecodeState = Box<dyn DynStreamDecoder>;

    fn decode_state(&self) -> Self::DecodeState {
        self.0.decoder()
    }

    fn encode(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.0.encode(packet, dst)
    }

    fn decode(
        &self,
        state: &mut Self::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Value>, DeserializeError> {
        state.decode(src)
    }

    fn decode_eof(
        &self,
        state: &mut Self::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Value>, DeserializeError> {
        state.decode_eof(src)
    }
}

/// A run-time datagram codec as a [`DatagramSerializer`] on [`Value`] packets, so it drops
/// into a [`DatagramProtocol`](crate::DatagramProtocol).
///
/// ```
/// # #[cfg(feature = "json")]
/// # {
/// use packetwire_proto::dynamic::CodecSpec;
/// use packetwire_proto::Value;
///
/// let protocol = CodecSpec::new("json").datagram_protocol().unwrap();
/// assert_eq!(protocol.decode(b"\"hi\"").unwrap(), Value::from("hi"));
/// # }
/// ```
pub struct DynDatagramSerializer(pub Box<dyn DynDatagramCodec>);

impl From<Box<dyn DynDatagramCodec>> for DynDatagramSerializer {
    fn from(codec: Box<dyn DynDatagramCodec>) -> Self {
        Self(codec)
    }
}

impl fmt::Debug for DynDatagramSerializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DynDatagramSerializer")
    }
}

impl DatagramSerializer for DynDatagramSerializer {
    type Sent = Value;
    type Received = Value;

    fn serialize(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.0.serialize(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Value, DeserializeError> {
        self.0.deserialize(datagram)
    }
}

fn erase<S>(serializer: S) -> Box<dyn DynStreamCodec>
where
    S: StreamSerializer<Sent = Value, Received = Value> + 'static,
{
    Box::new(Erased(Arc::new(serializer)))
}

/// Puts a serializer of another packet type behind `Value` packets.
macro_rules! value_adapter {
    ($(#[$doc:meta])* $name:ident($inner:ty), sent: |$p:ident| $to:expr, received: |$r:ident| $from:expr) => {
        $(#[$doc])*
        struct $name($inner);

        impl DatagramSerializer for $name {
            type Sent = Value;
            type Received = Value;

            fn serialize(&self, $p: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
                self.0.serialize($to?, dst)
            }

            fn deserialize(&self, datagram: &[u8]) -> Result<Value, DeserializeError> {
                self.0.deserialize(datagram).map(|$r| $from)
            }
        }

        impl StreamSerializer for $name {
            type Sent = Value;
            type Received = Value;
            type DecodeState = <$inner as StreamSerializer>::DecodeState;

            fn decode_state(&self) -> Self::DecodeState {
                self.0.decode_state()
            }

            fn encode(&self, $p: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
                self.0.encode($to?, dst)
            }

            fn decode(
                &self,
                state: &mut Self::DecodeState,
                src: &mut BytesMut,
            ) -> Result<Option<Value>, DeserializeError> {
                Ok(self.0.decode(state, src)?.map(|$r| $from))
            }
        }
    };
}

value_adapter!(
    /// Struct rows as `Value::List`.
    StructValues(crate::StructSerializer),
    sent: |p| match p {
        Value::List(items) => Ok::<_, SerializeError>(items.as_slice()),
        other => Err(SerializeError::new(format!("the struct serializer sends lists, not {other:?}"))),
    },
    received: |items| Value::List(items)
);

value_adapter!(
    /// Lines as `Value::Str`.
    LineValues(LineSerializer),
    sent: |p| match p {
        Value::Str(s) => Ok::<_, SerializeError>(s.as_str()),
        other => Err(SerializeError::new(format!("the line serializer sends strings, not {other:?}"))),
    },
    received: |s| Value::Str(s)
);

/// `Value` as postcard sees it: postcard is not self-describing, so packets travel as this
/// derived enum (a variant index, then the data).
#[cfg(feature = "postcard")]
#[derive(serde::Serialize, serde::Deserialize)]
enum PostcardValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Nested>),
    Map(Vec<(Nested, Nested)>),
}

/// Deepest nesting a postcard `Value` may have: serde's derived decoding recurses once per level.
#[cfg(feature = "postcard")]
const POSTCARD_MAX_DEPTH: usize = 128;

#[cfg(feature = "postcard")]
thread_local! {
    static POSTCARD_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One nested level of a [`PostcardValue`], counted against [`POSTCARD_MAX_DEPTH`].
#[cfg(feature = "postcard")]
#[derive(serde::Serialize)]
#[serde(transparent)]
struct Nested(Box<PostcardValue>);

#[cfg(feature = "postcard")]
impl<'de> serde::Deserialize<'de> for Nested {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        POSTCARD_DEPTH.with(|depth| {
            if depth.get() >= POSTCARD_MAX_DEPTH {
                return Err(serde::de::Error::custom(format!(
                    "nested deeper than {POSTCARD_MAX_DEPTH} levels"
                )));
            }
            depth.set(depth.get() + 1);
            let result = PostcardValue::deserialize(deserializer);
            depth.set(depth.get() - 1);
            result.map(|v| Nested(Box::new(v)))
        })
    }
}

#[cfg(feature = "postcard")]
impl From<&Value> for PostcardValue {
    fn from(value: &Value) -> Self {
        let nested = |v: &Value| Nested(Box::new(PostcardValue::from(v)));
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Int(n) => Self::Int(*n),
            Value::Float(x) => Self::Float(*x),
            Value::Str(s) => Self::Str(s.clone()),
            Value::Bytes(b) => Self::Bytes(b.clone()),
            Value::List(items) => Self::List(items.iter().map(nested).collect()),
            Value::Map(entries) => Self::Map(
                entries
                    .iter()
                    .map(|(k, v)| (nested(k), nested(v)))
                    .collect(),
            ),
        }
    }
}

#[cfg(feature = "postcard")]
impl From<PostcardValue> for Value {
    fn from(value: PostcardValue) -> Self {
        match value {
            PostcardValue::Null => Value::Null,
            PostcardValue::Bool(b) => Value::Bool(b),
            PostcardValue::Int(n) => Value::Int(n),
            PostcardValue::Float(x) => Value::Float(x),
            PostcardValue::Str(s) => Value::Str(s),
            PostcardValue::Bytes(b) => Value::Bytes(b),
            PostcardValue::List(items) => {
                Value::List(items.into_iter().map(|n| (*n.0).into()).collect())
            }
            PostcardValue::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| ((*k.0).into(), (*v.0).into()))
                    .collect(),
            ),
        }
    }
}

#[cfg(feature = "postcard")]
value_adapter!(
    /// Postcard packets as `Value`, through [`PostcardValue`].
    PostcardValues(crate::PostcardSerializer<PostcardValue>),
    sent: |p| Ok::<_, SerializeError>(&PostcardValue::from(p)),
    received: |v| Value::from(v)
);

fn parse_newline(name: Option<&str>) -> Result<Newline, SpecError> {
    match name.map(str::to_ascii_lowercase).as_deref() {
        None | Some("lf") => Ok(Newline::Lf),
        Some("cr") => Ok(Newline::Cr),
        Some("crlf") => Ok(Newline::CrLf),
        Some(other) => Err(SpecError::new(format!(
            "unknown newline {other:?}: use lf, cr or crlf"
        ))),
    }
}

fn parse_encoding(name: Option<&str>, default: Encoding) -> Result<Encoding, SpecError> {
    match name.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("ascii") => Ok(Encoding::Ascii),
        Some("utf-8" | "utf8") => Ok(Encoding::Utf8),
        Some("latin-1" | "latin1" | "iso-8859-1") => Ok(Encoding::Latin1),
        Some(other) => Err(SpecError::new(format!(
            "unknown encoding {other:?}: use ascii, utf-8 or latin-1"
        ))),
    }
}

/// A parsed wrapper name.
#[derive(Debug)]
enum Wrapper {
    #[cfg(feature = "base64")]
    Base64 {
        alphabet: crate::Base64Alphabet,
        checksum: crate::Base64Checksum,
    },
    #[cfg(feature = "zlib")]
    Zlib { level: Option<u32> },
    #[cfg(feature = "bz2")]
    Bz2 { level: Option<u32> },
    #[cfg(feature = "zstd")]
    Zstd { level: Option<i32> },
}

#[cfg(any(feature = "zlib", feature = "bz2", feature = "zstd"))]
fn parse_level<T: std::str::FromStr>(
    name: &str,
    modifiers: &[&str],
) -> Result<Option<T>, SpecError> {
    match modifiers {
        [] => Ok(None),
        [m] => m
            .strip_prefix("level=")
            .and_then(|n| n.parse().ok())
            .map(Some)
            .ok_or_else(|| SpecError::new(format!("{name}: expected :level=N, got {m:?}"))),
        _ => Err(SpecError::new(format!("{name}: too many modifiers"))),
    }
}

#[cfg_attr(
    not(any(
        feature = "base64",
        feature = "zlib",
        feature = "bz2",
        feature = "zstd"
    )),
    allow(unused_variables, unreachable_code)
)]
fn parse_wrapper(name: &str) -> Result<Wrapper, SpecError> {
    let mut parts = name.split(':');
    let kind = parts.next().unwrap_or_default();
    let modifiers: Vec<&str> = parts.collect();
    match kind {
        #[cfg(feature = "base64")]
        "base64" => {
            let mut alphabet = crate::Base64Alphabet::UrlSafe;
            let mut checksum = crate::Base64Checksum::None;
            for m in modifiers {
                match m {
                    "standard" => alphabet = crate::Base64Alphabet::Standard,
                    "urlsafe" => alphabet = crate::Base64Alphabet::UrlSafe,
                    "checksum" => checksum = crate::Base64Checksum::Sha256,
                    _ => match m.strip_prefix("key=") {
                        Some(key) => {
                            checksum = crate::Base64Checksum::hmac_key(key)
                                .map_err(|e| SpecError::new(format!("{name}: {e}")))?;
                        }
                        None => {
                            return Err(SpecError::new(format!(
                                "{name}: unknown base64 modifier {m:?} (standard, urlsafe, \
                                 checksum, key=KEY)"
                            )))
                        }
                    },
                }
            }
            Ok(Wrapper::Base64 { alphabet, checksum })
        }
        #[cfg(feature = "zlib")]
        "zlib" => Ok(Wrapper::Zlib {
            level: parse_level(name, &modifiers)?,
        }),
        #[cfg(feature = "bz2")]
        "bz2" => Ok(Wrapper::Bz2 {
            level: parse_level(name, &modifiers)?,
        }),
        #[cfg(feature = "zstd")]
        "zstd" => Ok(Wrapper::Zstd {
            level: parse_level(name, &modifiers)?,
        }),
        _ => Err(SpecError::new(format!(
            "unknown or disabled wrapper {name:?} (known: base64, zlib, bz2, zstd)"
        ))),
    }
}

#[cfg(any(
    feature = "base64",
    feature = "zlib",
    feature = "bz2",
    feature = "zstd"
))]
fn boxed<S>(serializer: S) -> OneShot
where
    S: DatagramSerializer<Sent = Value, Received = Value> + 'static,
{
    Box::new(serializer)
}

/// Builds the wrapper `$wrapper` around `$inner`, with the spec's limit, and hands it to
/// `$finish` (`boxed` for a one-shot serializer, `erase` for a stream codec).
macro_rules! with_wrapper {
    ($spec:expr, $wrapper:expr, $inner:expr, $finish:ident) => {{
        let limit = $spec.limit;
        match $wrapper {
            #[cfg(feature = "base64")]
            Wrapper::Base64 { alphabet, checksum } => {
                let w = crate::Base64Wrapper::new($inner)
                    .with_alphabet(alphabet)
                    .with_checksum(checksum);
                $finish(match limit {
                    Some(l) => w.with_limit(l),
                    None => w,
                })
            }
            #[cfg(feature = "zlib")]
            Wrapper::Zlib { level } => {
                let mut w = crate::ZlibWrapper::new($inner);
                if let Some(level) = level {
                    w = w.with_level(level)
                }
                $finish(match limit {
                    Some(l) => w.with_limit(l),
                    None => w,
                })
            }
            #[cfg(feature = "bz2")]
            Wrapper::Bz2 { level } => {
                let mut w = crate::Bz2Wrapper::new($inner);
                if let Some(level) = level {
                    w = w.with_level(level)
                }
                $finish(match limit {
                    Some(l) => w.with_limit(l),
                    None => w,
                })
            }
            #[cfg(feature = "zstd")]
            Wrapper::Zstd { level } => {
                let mut w = crate::ZstdWrapper::new($inner);
                if let Some(level) = level {
                    w = w.with_level(level)
                }
                $finish(match limit {
                    Some(l) => w.with_limit(l),
                    None => w,
                })
            }
        }
    }};
}

impl CodecSpec {
    /// A spec for `serializer` with no wrapper and default options.
    pub fn new(serializer: impl Into<String>) -> Self {
        Self {
            serializer: serializer.into(),
            ..Self::default()
        }
    }

    /// Adds wrappers from a comma-separated list, innermost first (`"zlib,base64"`).
    pub fn with_wrap_list(mut self, list: &str) -> Self {
        self.wrap.extend(
            list.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(String::from),
        );
        self
    }

    fn line(&self) -> Result<LineSerializer, SpecError> {
        let mut line = LineSerializer::new()
            .with_newline(parse_newline(self.newline.as_deref())?)
            .with_encoding(parse_encoding(self.encoding.as_deref(), Encoding::Ascii)?);
        if let Some(limit) = self.limit {
            line = line.with_limit(limit);
        }
        Ok(line)
    }

    #[cfg(feature = "json")]
    fn json(&self, use_lines: bool) -> crate::JsonSerializer<Value> {
        let json = crate::JsonSerializer::<Value>::new().with_lines(use_lines);
        match self.limit {
            Some(limit) => json.with_limit(limit),
            None => json,
        }
    }

    #[cfg(feature = "msgpack")]
    fn msgpack(&self) -> crate::MsgpackSerializer<Value> {
        let s = crate::MsgpackSerializer::new();
        self.limit.map_or(s, |l| s.with_limit(l))
    }

    #[cfg(feature = "cbor")]
    fn cbor(&self) -> crate::CborSerializer<Value> {
        let s = crate::CborSerializer::new();
        self.limit.map_or(s, |l| s.with_limit(l))
    }

    #[cfg(feature = "postcard")]
    fn postcard(&self) -> PostcardValues {
        let s = crate::PostcardSerializer::new();
        PostcardValues(self.limit.map_or(s, |l| s.with_limit(l)))
    }

    fn structs(&self, format: &str) -> Result<StructValues, SpecError> {
        crate::StructSerializer::new(format)
            .map(StructValues)
            .map_err(|e| SpecError::new(format!("struct:{format}: {e}")))
    }

    /// `record:NAME=FMT,...`: EasyNetwork's named-tuple structs; text fields use the spec's
    /// encoding (UTF-8 by default, `bytes` keeps them as byte strings).
    fn record(&self, fields: &str) -> Result<crate::RecordSerializer, SpecError> {
        let bad = |why: String| SpecError::new(format!("record:{fields}: {why}"));
        let pairs = fields
            .split(',')
            .map(|field| {
                field
                    .split_once('=')
                    .map(|(name, format)| (name.trim().to_owned(), format.trim().to_owned()))
                    .ok_or_else(|| bad(format!("expected NAME=FORMAT, got {field:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let encoding = match self.encoding.as_deref() {
            Some("bytes" | "none") => None,
            other => Some(parse_encoding(other, Encoding::Utf8)?),
        };
        crate::RecordSerializer::new(pairs)
            .map(|r| r.with_encoding(encoding))
            .map_err(|e| bad(e.to_string()))
    }

    fn unknown_serializer(&self) -> SpecError {
        SpecError::new(format!(
            "unknown or disabled serializer {:?} (known: json, json-raw, line, msgpack, cbor, \
             pickle, struct:FORMAT, record:NAME=FMT,..., postcard)",
            self.serializer
        ))
    }

    /// The serializer alone, as a one-shot serializer.
    fn base_datagram(&self) -> Result<OneShot, SpecError> {
        Ok(match self.serializer.as_str() {
            #[cfg(feature = "json")]
            "json" | "json-raw" => Box::new(self.json(true)),
            "line" => Box::new(LineValues(self.line()?)),
            #[cfg(feature = "pickle")]
            "pickle" => Box::new(crate::PickleSerializer::new()),
            #[cfg(feature = "msgpack")]
            "msgpack" => Box::new(self.msgpack()),
            #[cfg(feature = "cbor")]
            "cbor" => Box::new(self.cbor()),
            #[cfg(feature = "postcard")]
            "postcard" => Box::new(self.postcard()),
            name => {
                if let Some(format) = name.strip_prefix("struct:") {
                    Box::new(self.structs(format)?)
                } else if let Some(fields) = name.strip_prefix("record:") {
                    Box::new(self.record(fields)?)
                } else {
                    return Err(self.unknown_serializer());
                }
            }
        })
    }

    /// Wraps `inner` in the wrapper named `name`.
    #[cfg_attr(
        not(any(
            feature = "base64",
            feature = "zlib",
            feature = "bz2",
            feature = "zstd"
        )),
        allow(unused_variables, unreachable_code)
    )]
    fn wrap_datagram(&self, inner: OneShot, name: &str) -> Result<OneShot, SpecError> {
        let wrapper = parse_wrapper(name)?;
        Ok(with_wrapper!(self, wrapper, inner, boxed))
    }

    /// Wraps `inner` in the wrapper named `name`, as the outermost stream layer.
    #[cfg_attr(
        not(any(
            feature = "base64",
            feature = "zlib",
            feature = "bz2",
            feature = "zstd"
        )),
        allow(unused_variables, unreachable_code)
    )]
    fn wrap_stream(
        &self,
        inner: OneShot,
        name: &str,
    ) -> Result<Box<dyn DynStreamCodec>, SpecError> {
        let wrapper = parse_wrapper(name)?;
        Ok(with_wrapper!(self, wrapper, inner, erase))
    }

    /// Builds the stream codec: the outermost wrapper's framing, or the serializer's own.
    pub fn build_stream(&self) -> Result<Box<dyn DynStreamCodec>, SpecError> {
        let Some((outer, inner_wrappers)) = self.wrap.split_last() else {
            return Ok(match self.serializer.as_str() {
                #[cfg(feature = "json")]
                "json" => erase(self.json(true)),
                #[cfg(feature = "json")]
                "json-raw" => erase(self.json(false)),
                "line" => erase(LineValues(self.line()?)),
                #[cfg(feature = "msgpack")]
                "msgpack" => erase(self.msgpack()),
                #[cfg(feature = "cbor")]
                "cbor" => erase(self.cbor()),
                #[cfg(feature = "postcard")]
                "postcard" => erase(self.postcard()),
                "pickle" => {
                    return Err(SpecError::new(
                        "pickle is a one-shot serializer: wrap it to use it on a stream \
                         (for example --wrap base64), or use datagrams",
                    ))
                }
                name => {
                    if let Some(format) = name.strip_prefix("struct:") {
                        erase(self.structs(format)?)
                    } else if let Some(fields) = name.strip_prefix("record:") {
                        erase(self.record(fields)?)
                    } else {
                        return Err(self.unknown_serializer());
                    }
                }
            });
        };
        let mut inner = self.base_datagram()?;
        for name in inner_wrappers {
            inner = self.wrap_datagram(inner, name)?;
        }
        self.wrap_stream(inner, outer)
    }

    /// Builds the datagram codec: the serializer inside its wrappers.
    pub fn build_datagram(&self) -> Result<Box<dyn DynDatagramCodec>, SpecError> {
        let mut codec = self.base_datagram()?;
        for name in &self.wrap {
            codec = self.wrap_datagram(codec, name)?;
        }
        Ok(Box::new(codec))
    }

    /// [`build_stream`](Self::build_stream) as a protocol object.
    pub fn stream_protocol(&self) -> Result<crate::StreamProtocol<DynStreamSerializer>, SpecError> {
        Ok(crate::StreamProtocol::new(DynStreamSerializer(
            self.build_stream()?,
        )))
    }

    /// [`build_datagram`](Self::build_datagram) as a protocol object.
    pub fn datagram_protocol(
        &self,
    ) -> Result<crate::DatagramProtocol<DynDatagramSerializer>, SpecError> {
        Ok(crate::DatagramProtocol::new(DynDatagramSerializer(
            self.build_datagram()?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_errors() {
        assert!(CodecSpec::new("nope").build_stream().is_err());
        assert!(CodecSpec::new("json")
            .with_wrap_list("nope")
            .build_stream()
            .is_err());
        let mut spec = CodecSpec::new("line");
        spec.newline = Some("lfcr".into());
        assert!(spec.build_stream().is_err());
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_raw_stream_and_datagram() {
        let codec = CodecSpec::new("json-raw").build_stream().unwrap();
        let mut wire = BytesMut::new();
        codec
            .encode(&Value::List(vec![Value::Int(1)]), &mut wire)
            .unwrap();
        codec.encode(&Value::Int(2), &mut wire).unwrap();
        assert_eq!(&wire[..], b"[1]2\n");
        let mut d = codec.decoder();
        assert_eq!(
            d.decode(&mut wire).unwrap(),
            Some(Value::List(vec![Value::Int(1)]))
        );
        assert_eq!(d.decode(&mut wire).unwrap(), Some(Value::Int(2)));
        let dg = CodecSpec::new("json").build_datagram().unwrap();
        let mut out = BytesMut::new();
        dg.serialize(&Value::Null, &mut out).unwrap();
        assert_eq!(&out[..], b"null");
    }

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_nesting_is_bounded() {
        let codec = CodecSpec::new("postcard").build_datagram().unwrap();
        let mut deep = Value::Null;
        for _ in 0..100 {
            deep = Value::List(vec![deep]);
        }
        let mut out = BytesMut::new();
        codec.serialize(&deep, &mut out).unwrap();
        assert_eq!(codec.deserialize(&out).unwrap(), deep);
        // Hand-made: List([List([... 100k levels ...])]) is variant 6, length 1, repeated.
        let hostile: Vec<u8> = [6u8, 1].repeat(100_000).into_iter().chain([0]).collect();
        // Refused (postcard keeps no message) instead of overflowing the stack.
        assert!(codec.deserialize(&hostile).is_err());
        let mut too_deep = deep;
        for _ in 0..POSTCARD_MAX_DEPTH {
            too_deep = Value::List(vec![too_deep]);
        }
        let mut out = BytesMut::new();
        codec.serialize(&too_deep, &mut out).unwrap();
        assert!(codec.deserialize(&out).is_err());
    }
}
