//! Typed errors of the protocol core: one per operation.
//!
//! * [`SerializeError`]: a packet could not be turned into bytes (sending side).
//! * [`DeserializeError`]: bytes could not be turned into a packet (receiving side). It says
//!   whether the stream can go on ([`DeserializeError::is_recoverable`]) and what kind of failure
//!   it was ([`DeserializeErrorKind`]), including limit overruns.
//! * [`ConversionError`]: a converter refused a wire value.
//! * [`ParseError`]: what a protocol object reports on receive, either of the two above.

use std::error::Error as StdError;
use std::fmt;
use std::io;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A packet could not be serialized.
///
/// Nothing was written to the output buffer when this is returned by a serializer of this crate:
/// the buffer is left as it was before the call.
#[derive(Debug)]
pub struct SerializeError {
    message: String,
    source: Option<BoxError>,
}

impl SerializeError {
    /// Creates an error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Creates an error with a message and an underlying cause.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for SerializeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<SerializeError> for io::Error {
    fn from(err: SerializeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}

/// What went wrong while deserializing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeserializeErrorKind {
    /// The bytes of a complete frame are not a valid packet (bad syntax, bad encoding, wrong type).
    Invalid,
    /// A frame is larger than the serializer's limit. The oversized frame is skipped where the
    /// format lets the decoder find its end.
    LimitExceeded {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// A datagram ends before the packet does.
    Incomplete,
    /// A datagram holds bytes after the end of the packet.
    TrailingData,
    /// A checksum or signature did not match (base64 wrapper).
    Integrity,
    /// Compressed data is corrupt, or decompresses to more than the allowed size.
    Decompression,
}

impl fmt::Display for DeserializeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid => f.write_str("invalid packet"),
            Self::LimitExceeded { limit } => write!(f, "packet exceeds the {limit}-byte limit"),
            Self::Incomplete => f.write_str("incomplete packet"),
            Self::TrailingData => f.write_str("trailing data after the packet"),
            Self::Integrity => f.write_str("integrity check failed"),
            Self::Decompression => f.write_str("decompression failed"),
        }
    }
}

/// Bytes could not be turned into a packet.
///
/// On a stream, a decoder that returns this error has already removed the faulty frame from the
/// receive buffer: what is left in the buffer is EasyNetwork's `remaining_data`, the bytes after
/// the bad packet. When [`is_recoverable`](Self::is_recoverable) is true the next decode call
/// starts at the following packet. When it is false the decoder could not find where the bad
/// frame ends (for example corrupt compressed data): it discarded the bytes it could not account
/// for (what it held, or for CBOR the broken item up to the bad byte), and what follows may be
/// out of step with the framing.
#[derive(Debug)]
pub struct DeserializeError {
    kind: DeserializeErrorKind,
    recoverable: bool,
    message: String,
    source: Option<BoxError>,
}

impl DeserializeError {
    /// Creates a recoverable error of the given kind.
    pub fn new(kind: DeserializeErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            recoverable: true,
            message: message.into(),
            source: None,
        }
    }

    /// Creates a recoverable [`DeserializeErrorKind::Invalid`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(DeserializeErrorKind::Invalid, message)
    }

    /// Creates a recoverable [`DeserializeErrorKind::LimitExceeded`] error.
    pub fn limit_exceeded(limit: usize, message: impl Into<String>) -> Self {
        Self::new(DeserializeErrorKind::LimitExceeded { limit }, message)
    }

    /// Attaches an underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Marks the error as unrecoverable: the stream lost its framing.
    pub fn unrecoverable(mut self) -> Self {
        self.recoverable = false;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> DeserializeErrorKind {
        self.kind
    }

    /// Whether the next decode on the same stream starts cleanly at the following packet.
    pub fn is_recoverable(&self) -> bool {
        self.recoverable
    }

    /// The human-readable message (without the cause).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DeserializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for DeserializeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<DeserializeError> for io::Error {
    fn from(err: DeserializeError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// A converter refused a value (EasyNetwork's `PacketConversionError`).
///
/// Conversion happens after a whole frame was taken from the buffer, so a conversion error never
/// disturbs the framing: the next packet is decoded normally.
#[derive(Debug)]
pub struct ConversionError {
    message: String,
    source: Option<BoxError>,
}

impl ConversionError {
    /// Creates an error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Creates an error with a message and an underlying cause.
    pub fn with_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for ConversionError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<ConversionError> for io::Error {
    fn from(err: ConversionError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// A received packet could not be built: EasyNetwork's `BaseProtocolParseError`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ParseError {
    /// The serializer rejected the bytes.
    Deserialize(DeserializeError),
    /// The converter rejected the deserialized value.
    Conversion(ConversionError),
}

impl ParseError {
    /// Whether the next receive on the same stream starts cleanly at the following packet.
    /// Datagram parse errors are always recoverable: one datagram is one unit.
    pub fn is_recoverable(&self) -> bool {
        match self {
            Self::Deserialize(e) => e.is_recoverable(),
            Self::Conversion(_) => true,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Deserialize(e) => write!(f, "error while parsing data: {e}"),
            Self::Conversion(e) => write!(f, "error while converting packet: {e}"),
        }
    }
}

impl StdError for ParseError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Deserialize(e) => Some(e),
            Self::Conversion(e) => Some(e),
        }
    }
}

impl From<DeserializeError> for ParseError {
    fn from(err: DeserializeError) -> Self {
        Self::Deserialize(err)
    }
}

impl From<ConversionError> for ParseError {
    fn from(err: ConversionError) -> Self {
        Self::Conversion(err)
    }
}

impl From<ParseError> for io::Error {
    fn from(err: ParseError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// What the send path of a protocol object reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The converter refused the application packet.
    Conversion(ConversionError),
    /// The serializer could not encode the wire value.
    Serialize(SerializeError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conversion(e) => write!(f, "error while converting packet: {e}"),
            Self::Serialize(e) => write!(f, "error while serializing packet: {e}"),
        }
    }
}

impl StdError for BuildError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Conversion(e) => Some(e),
            Self::Serialize(e) => Some(e),
        }
    }
}

impl From<SerializeError> for BuildError {
    fn from(err: SerializeError) -> Self {
        Self::Serialize(err)
    }
}

impl From<ConversionError> for BuildError {
    fn from(err: ConversionError) -> Self {
        Self::Conversion(err)
    }
}

impl From<BuildError> for io::Error {
    fn from(err: BuildError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}
