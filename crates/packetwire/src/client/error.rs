//! The errors of the packet clients, shared by the async clients ([`crate::client`]) and the
//! blocking ones ([`crate::blocking`]).

use std::fmt;
use std::io;

use packetwire_proto::{BuildError, ParseError};

use crate::net::{ConnectError, DatagramReceiveError, ReceiveError, SendError};

/// Why a client could not be made: connecting, adopting a socket, or the TLS handshake.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientConnectError {
    /// Connecting failed: resolution, refusal, every address failed, or the connect timeout.
    Connect(ConnectError),
    /// The socket given to `from_std` is of the wrong type or family, or not connected.
    Adopt(crate::net::AdoptError),
    /// The TLS handshake failed (TCP clients with TLS options).
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsHandshakeError),
    /// The TLS options are not usable (bad server name, no roots, ...).
    #[cfg(feature = "tls")]
    TlsConfig(crate::tls::TlsConfigError),
    /// The client was closed before the connection was made (async clients that connect
    /// lazily).
    Closed,
    /// Any other failure: creating or binding the socket, ...
    Io(io::Error),
}

impl ClientConnectError {
    /// Whether the connect timeout elapsed (or the TLS handshake timeout).
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Connect(ConnectError::TimedOut) => true,
            #[cfg(feature = "tls")]
            Self::Tls(crate::tls::TlsHandshakeError::TimedOut) => true,
            Self::Io(e) => e.kind() == io::ErrorKind::TimedOut,
            _ => false,
        }
    }
}

impl fmt::Display for ClientConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect failed: {e}"),
            Self::Adopt(e) => write!(f, "cannot adopt the socket: {e}"),
            #[cfg(feature = "tls")]
            Self::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            #[cfg(feature = "tls")]
            Self::TlsConfig(e) => write!(f, "bad TLS options: {e}"),
            Self::Closed => f.write_str("the client was closed before it connected"),
            Self::Io(e) => write!(f, "connect failed: {e}"),
        }
    }
}

impl std::error::Error for ClientConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) => Some(e),
            Self::Adopt(e) => Some(e),
            #[cfg(feature = "tls")]
            Self::Tls(e) => Some(e),
            #[cfg(feature = "tls")]
            Self::TlsConfig(e) => Some(e),
            Self::Closed => None,
            Self::Io(e) => Some(e),
        }
    }
}

impl From<ConnectError> for ClientConnectError {
    fn from(error: ConnectError) -> Self {
        Self::Connect(error)
    }
}

impl From<crate::net::AdoptError> for ClientConnectError {
    fn from(error: crate::net::AdoptError) -> Self {
        Self::Adopt(error)
    }
}

#[cfg(feature = "tls")]
impl From<crate::tls::TlsConnectError> for ClientConnectError {
    fn from(error: crate::tls::TlsConnectError) -> Self {
        match error {
            crate::tls::TlsConnectError::Connect(e) => Self::Connect(e),
            crate::tls::TlsConnectError::Handshake(e) => Self::Tls(e),
        }
    }
}

#[cfg(feature = "tls")]
impl From<crate::tls::TlsHandshakeError> for ClientConnectError {
    fn from(error: crate::tls::TlsHandshakeError) -> Self {
        Self::Tls(error)
    }
}

#[cfg(feature = "tls")]
impl From<crate::tls::TlsConfigError> for ClientConnectError {
    fn from(error: crate::tls::TlsConfigError) -> Self {
        Self::TlsConfig(error)
    }
}

impl From<io::Error> for ClientConnectError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<ClientConnectError> for io::Error {
    fn from(error: ClientConnectError) -> Self {
        match error {
            ClientConnectError::Io(e) => e,
            ClientConnectError::Connect(e) => e.into(),
            e if e.is_timeout() => io::Error::new(io::ErrorKind::TimedOut, e),
            e @ ClientConnectError::Closed => io::Error::new(io::ErrorKind::NotConnected, e),
            e => io::Error::other(e),
        }
    }
}

/// Why `send_packet` failed.
///
/// After [`Serialize`](Self::Serialize) nothing was sent and the client goes on; after the
/// other variants, a stream client should be closed (part of the packet may have been written).
#[derive(Debug)]
#[non_exhaustive]
pub enum SendPacketError {
    /// The client is closed (`close` was called, possibly from another thread or task).
    Closed,
    /// `send_eof` was called before: a stream client cannot send any more.
    EofSent,
    /// The packet could not be converted or serialized. Nothing was sent.
    Serialize(BuildError),
    /// The send timeout elapsed, counting the wait for the send lock (blocking clients).
    TimedOut,
    /// The peer refused the datagram: an ICMP "port unreachable" came back for this or an
    /// earlier datagram (connected datagram clients, `ECONNREFUSED`).
    Refused,
    /// The connection was reset or the peer is gone (`ECONNRESET`, `EPIPE`).
    ConnectionReset,
    /// Any other system error.
    Io(io::Error),
}

impl SendPacketError {
    /// Sorts an I/O error into [`Refused`](Self::Refused), [`ConnectionReset`](Self::ConnectionReset)
    /// or [`Io`](Self::Io).
    pub fn from_io(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Self::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => Self::ConnectionReset,
            io::ErrorKind::TimedOut => Self::TimedOut,
            _ => Self::Io(error),
        }
    }

    /// The [`io::ErrorKind`] this error converts to.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Closed => io::ErrorKind::NotConnected,
            Self::EofSent => io::ErrorKind::BrokenPipe,
            Self::Serialize(_) => io::ErrorKind::InvalidInput,
            Self::TimedOut => io::ErrorKind::TimedOut,
            Self::Refused => io::ErrorKind::ConnectionRefused,
            Self::ConnectionReset => io::ErrorKind::ConnectionReset,
            Self::Io(e) => e.kind(),
        }
    }
}

impl fmt::Display for SendPacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the client is closed"),
            Self::EofSent => f.write_str("send_eof() was called: the client cannot send"),
            Self::Serialize(e) => write!(f, "cannot serialize the packet: {e}"),
            Self::TimedOut => f.write_str("send timed out"),
            Self::Refused => f.write_str("the peer refused the datagram (port unreachable)"),
            Self::ConnectionReset => f.write_str("the connection was reset by the peer"),
            Self::Io(e) => write!(f, "send failed: {e}"),
        }
    }
}

impl std::error::Error for SendPacketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Serialize(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BuildError> for SendPacketError {
    fn from(error: BuildError) -> Self {
        Self::Serialize(error)
    }
}

impl From<io::Error> for SendPacketError {
    fn from(error: io::Error) -> Self {
        Self::from_io(error)
    }
}

impl From<SendError> for SendPacketError {
    fn from(error: SendError) -> Self {
        match error {
            SendError::WriteClosed => Self::EofSent,
            SendError::TimedOut => Self::TimedOut,
            SendError::Io(e) => Self::from_io(e),
            // `SendError` is non-exhaustive within the crate too, for symmetry.
            #[allow(unreachable_patterns)]
            other => Self::Io(other.into()),
        }
    }
}

impl From<SendPacketError> for io::Error {
    fn from(error: SendPacketError) -> Self {
        match error {
            SendPacketError::Io(e) => e,
            e => io::Error::new(e.kind(), e),
        }
    }
}

/// Why `recv_packet` returned no packet.
///
/// After [`Parse`](Self::Parse) (when [`ParseError::is_recoverable`]),
/// [`TimedOut`](Self::TimedOut) and, for datagram clients,
/// [`DatagramTooLarge`](Self::DatagramTooLarge), the client goes on and the next call
/// receives the next packet. After [`EndOfStream`](Self::EndOfStream) a stream client can still
/// send.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvPacketError {
    /// The client is closed (`close` was called, possibly from another thread or task while
    /// this call was waiting).
    Closed,
    /// The peer closed or half-closed the connection and no whole packet is left (stream
    /// clients). Leftover bytes that did not make a packet are reported once as a
    /// [`Parse`](Self::Parse) error first.
    EndOfStream,
    /// The receive timeout elapsed, counting the wait for the receive lock (blocking clients;
    /// async code may also pass a timeout). Bytes received so far stay buffered.
    TimedOut,
    /// The received bytes do not make a valid packet. The bad packet was dropped; see
    /// [`ParseError::is_recoverable`] for stream clients.
    Parse(ParseError),
    /// A datagram larger than `max_recv_size` arrived and was discarded whole (datagram
    /// clients). Never a cut packet.
    DatagramTooLarge {
        /// The receive buffer size that was too small.
        max_size: usize,
    },
    /// The ancillary data did not fit in the control buffer (`MSG_CTRUNC`): the descriptors
    /// that arrived were closed.
    ControlTruncated {
        /// The size of the control buffer that was too small.
        capacity: usize,
        /// How many received descriptors were closed.
        fds_closed: usize,
    },
    /// The peer refused an earlier datagram (connected datagram clients, `ECONNREFUSED`).
    Refused,
    /// The connection was reset by the peer (`ECONNRESET`).
    ConnectionReset,
    /// Any other system error.
    Io(io::Error),
}

impl RecvPacketError {
    /// Sorts an I/O error into [`Refused`](Self::Refused),
    /// [`ConnectionReset`](Self::ConnectionReset), [`TimedOut`](Self::TimedOut) or
    /// [`Io`](Self::Io).
    pub fn from_io(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Self::Refused,
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                Self::ConnectionReset
            }
            io::ErrorKind::TimedOut => Self::TimedOut,
            _ => Self::Io(error),
        }
    }

    /// Whether the client can go on receiving after this error.
    pub fn is_recoverable(&self) -> bool {
        match self {
            Self::Parse(e) => e.is_recoverable(),
            Self::TimedOut | Self::DatagramTooLarge { .. } | Self::Refused => true,
            _ => false,
        }
    }

    /// The [`io::ErrorKind`] this error converts to.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Closed => io::ErrorKind::NotConnected,
            Self::EndOfStream => io::ErrorKind::UnexpectedEof,
            Self::TimedOut => io::ErrorKind::TimedOut,
            Self::Parse(_) | Self::DatagramTooLarge { .. } | Self::ControlTruncated { .. } => {
                io::ErrorKind::InvalidData
            }
            Self::Refused => io::ErrorKind::ConnectionRefused,
            Self::ConnectionReset => io::ErrorKind::ConnectionReset,
            Self::Io(e) => e.kind(),
        }
    }
}

impl fmt::Display for RecvPacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the client is closed"),
            Self::EndOfStream => f.write_str("the peer closed the connection"),
            Self::TimedOut => f.write_str("receive timed out"),
            Self::Parse(e) => write!(f, "bad packet: {e}"),
            Self::DatagramTooLarge { max_size } => write!(
                f,
                "datagram larger than the {max_size}-byte receive size (discarded)"
            ),
            Self::ControlTruncated {
                capacity,
                fds_closed,
            } => write!(
                f,
                "ancillary data larger than the {capacity}-byte control buffer \
                 ({fds_closed} received descriptors closed)"
            ),
            Self::Refused => f.write_str("the peer refused a datagram (port unreachable)"),
            Self::ConnectionReset => f.write_str("the connection was reset by the peer"),
            Self::Io(e) => write!(f, "receive failed: {e}"),
        }
    }
}

impl std::error::Error for RecvPacketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Parse(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParseError> for RecvPacketError {
    fn from(error: ParseError) -> Self {
        Self::Parse(error)
    }
}

impl From<io::Error> for RecvPacketError {
    fn from(error: io::Error) -> Self {
        Self::from_io(error)
    }
}

impl From<ReceiveError> for RecvPacketError {
    fn from(error: ReceiveError) -> Self {
        match error {
            ReceiveError::EndOfStream | ReceiveError::IncompleteRead { .. } => Self::EndOfStream,
            ReceiveError::TimedOut => Self::TimedOut,
            ReceiveError::ControlTruncated {
                capacity,
                fds_closed,
            } => Self::ControlTruncated {
                capacity,
                fds_closed,
            },
            ReceiveError::Io(e) => Self::from_io(e),
            other => Self::Io(other.into()),
        }
    }
}

impl From<DatagramReceiveError> for RecvPacketError {
    fn from(error: DatagramReceiveError) -> Self {
        match error {
            DatagramReceiveError::Truncated { buffer_len } => Self::DatagramTooLarge {
                max_size: buffer_len,
            },
            DatagramReceiveError::ControlTruncated {
                capacity,
                fds_closed,
            } => Self::ControlTruncated {
                capacity,
                fds_closed,
            },
            DatagramReceiveError::TimedOut => Self::TimedOut,
            DatagramReceiveError::Io(e) => Self::from_io(e),
            #[allow(unreachable_patterns)]
            other => Self::Io(other.into()),
        }
    }
}

impl From<RecvPacketError> for io::Error {
    fn from(error: RecvPacketError) -> Self {
        match error {
            RecvPacketError::Io(e) => e,
            e => io::Error::new(e.kind(), e),
        }
    }
}
