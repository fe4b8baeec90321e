//! One error type per stream operation: receive, send, connect, adopt.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use packetwire_proto::TakeError;

use crate::runtime::NoRuntime;

/// Why a `receive*` call returned no data.
///
/// The end of the stream is not an I/O error: [`EndOfStream`](Self::EndOfStream) and
/// [`IncompleteRead`](Self::IncompleteRead) say the peer closed its side, and
/// [`is_end_of_stream`](Self::is_end_of_stream) tells both apart from real failures.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The peer closed its side and no byte is left (AnyIO's `EndOfStream`). Returned by
    /// `receive`.
    EndOfStream,
    /// The peer closed its side before the call could be met (asyncio's
    /// `IncompleteReadError`). Returned by `receive_exactly`, `receive_until` and
    /// `receive_line`; `partial` holds the bytes that were left, possibly none.
    IncompleteRead {
        /// The bytes received before the end of the stream.
        partial: Bytes,
        /// How many bytes were asked for (`receive_exactly`), or `None` (separator search).
        expected: Option<usize>,
    },
    /// The separator was not found within the stream's buffer limit (asyncio's
    /// `LimitOverrunError`). The data stays in the buffer: `receive` and `receive_exactly` can
    /// still read it, or raise the limit with `set_limit`.
    LimitOverrun {
        /// The separator's offset when it was found too far, otherwise how many bytes were
        /// searched.
        consumed: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The receive timeout elapsed first (blocking shell: `set_receive_timeout` and the
    /// `*_within` methods; async code cancels with its runtime's timeout instead). Nothing was
    /// consumed: the bytes received so far stay buffered, and a later call reads them.
    TimedOut,
    /// The ancillary data of a `receive_with_ancillary` did not fit in the
    /// [`SocketAncillary`](crate::unix::SocketAncillary) control buffer (`MSG_CTRUNC`). The
    /// descriptors that arrived were closed, and the bytes that came with them are lost: treat
    /// the connection as broken.
    ControlTruncated {
        /// The size of the control buffer that was too small.
        capacity: usize,
        /// How many received descriptors were closed.
        fds_closed: usize,
    },
    /// The system call failed (connection reset, ...).
    Io(io::Error),
}

impl ReceiveError {
    /// From an error that crossed the runtime seam from a `recvmsg`: a control-buffer
    /// truncation gets its own variant back.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn from_recvmsg(error: io::Error) -> Self {
        use crate::os::RecvError;
        match RecvError::from(error) {
            RecvError::ControlTruncated {
                capacity,
                fds_closed,
            } => Self::ControlTruncated {
                capacity,
                fds_closed,
            },
            RecvError::Io(e) => Self::Io(e),
            other => Self::Io(other.into()),
        }
    }

    /// Whether the peer closed its side: [`EndOfStream`](Self::EndOfStream) or
    /// [`IncompleteRead`](Self::IncompleteRead).
    pub fn is_end_of_stream(&self) -> bool {
        matches!(self, Self::EndOfStream | Self::IncompleteRead { .. })
    }
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EndOfStream => f.write_str("end of stream"),
            Self::IncompleteRead {
                partial,
                expected: Some(n),
            } => write!(
                f,
                "end of stream after {} of {n} expected bytes",
                partial.len()
            ),
            Self::IncompleteRead {
                partial,
                expected: None,
            } => write!(
                f,
                "end of stream before the separator ({} bytes received)",
                partial.len()
            ),
            Self::LimitOverrun { consumed, limit } => write!(
                f,
                "separator not found within the buffer limit ({consumed} bytes, limit {limit})"
            ),
            Self::TimedOut => f.write_str("receive timed out"),
            Self::ControlTruncated {
                capacity,
                fds_closed,
            } => write!(
                f,
                "ancillary data larger than the {capacity}-byte control buffer \
                 ({fds_closed} received descriptors closed, their bytes lost)"
            ),
            Self::Io(e) => write!(f, "receive failed: {e}"),
        }
    }
}

impl std::error::Error for ReceiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ReceiveError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<TakeError> for ReceiveError {
    fn from(error: TakeError) -> Self {
        match error {
            TakeError::EndOfStream => Self::EndOfStream,
            TakeError::IncompleteRead { partial, expected } => {
                Self::IncompleteRead { partial, expected }
            }
            TakeError::LimitOverrun { consumed, limit } => Self::LimitOverrun { consumed, limit },
            // A future kind of buffer error: keep its message.
            other => Self::Io(io::Error::new(io::ErrorKind::InvalidData, other)),
        }
    }
}

impl From<ReceiveError> for io::Error {
    fn from(error: ReceiveError) -> Self {
        match error {
            ReceiveError::Io(e) => e,
            e @ (ReceiveError::EndOfStream | ReceiveError::IncompleteRead { .. }) => {
                io::Error::new(io::ErrorKind::UnexpectedEof, e)
            }
            e @ (ReceiveError::LimitOverrun { .. } | ReceiveError::ControlTruncated { .. }) => {
                io::Error::new(io::ErrorKind::InvalidData, e)
            }
            e @ ReceiveError::TimedOut => io::Error::new(io::ErrorKind::TimedOut, e),
        }
    }
}

/// Why a `send*` call failed. Bytes may have been written before the failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// `send_eof` was called before: the write side is shut down.
    WriteClosed,
    /// The send timeout elapsed before every byte was sent (blocking shell:
    /// `set_send_timeout` and `send_all_within`). Part of the data may have been sent.
    TimedOut,
    /// The system call failed (`EPIPE`, connection reset, ...).
    Io(io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WriteClosed => f.write_str("the write side was shut down by send_eof()"),
            Self::TimedOut => f.write_str("send timed out"),
            Self::Io(e) => write!(f, "send failed: {e}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::WriteClosed | Self::TimedOut => None,
        }
    }
}

impl From<io::Error> for SendError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<SendError> for io::Error {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Io(e) => e,
            e @ SendError::WriteClosed => io::Error::new(io::ErrorKind::BrokenPipe, e),
            e @ SendError::TimedOut => io::Error::new(io::ErrorKind::TimedOut, e),
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// No runtime was given and none could be found (async shell only).
    NoRuntime,
    /// The host name could not be resolved.
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The host resolved to no address usable here (for instance none of the local address's
    /// family).
    NoAddress {
        /// The host name.
        host: String,
    },
    /// The connect timeout elapsed.
    TimedOut,
    /// Every address was tried and every attempt failed; the errors are in the order the
    /// attempts failed.
    AllAttemptsFailed(Vec<(SocketAddr, io::Error)>),
    /// Any other failure: socket creation, binding the local address, a Unix `connect`, ...
    Io(io::Error),
}

impl ConnectError {
    /// The closest [`io::ErrorKind`] (what `From<ConnectError> for io::Error` uses).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::NoRuntime => io::ErrorKind::Unsupported,
            Self::Resolve { source, .. } => source.kind(),
            Self::NoAddress { .. } => io::ErrorKind::AddrNotAvailable,
            Self::TimedOut => io::ErrorKind::TimedOut,
            Self::AllAttemptsFailed(errors) => errors
                .last()
                .map_or(io::ErrorKind::NotFound, |(_, e)| e.kind()),
            Self::Io(e) => e.kind(),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRuntime => NoRuntime.fmt(f),
            Self::Resolve { host, source } => write!(f, "cannot resolve {host:?}: {source}"),
            Self::NoAddress { host } => write!(f, "{host:?} has no usable address"),
            Self::TimedOut => f.write_str("connect timed out"),
            Self::AllAttemptsFailed(errors) => {
                f.write_str("cannot connect")?;
                for (i, (addr, e)) in errors.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{addr}: {e}")?;
                }
                Ok(())
            }
            Self::Io(e) => write!(f, "cannot connect: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve { source, .. } => Some(source),
            Self::AllAttemptsFailed(errors) => errors
                .last()
                .map(|(_, e)| e as &(dyn std::error::Error + 'static)),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ConnectError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<NoRuntime> for ConnectError {
    fn from(_: NoRuntime) -> Self {
        Self::NoRuntime
    }
}

impl From<ConnectError> for io::Error {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::Io(e) => e,
            e => io::Error::new(e.kind(), e),
        }
    }
}

/// Why a descriptor could not be adopted (`from_std`, `from_fd`): checked at once, so a wrong
/// descriptor fails here and not at the first read.
#[derive(Debug)]
#[non_exhaustive]
pub enum AdoptError {
    /// No runtime was given and none could be found (async shell only).
    NoRuntime,
    /// The descriptor is of the wrong kind (`SO_TYPE`, or not a pipe).
    WrongType {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// The socket is of the wrong address family.
    WrongFamily {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// The socket is not connected (`getpeername` failed with `ENOTCONN`).
    NotConnected,
    /// The socket is not listening (`SO_ACCEPTCONN` is off).
    NotListening,
    /// A system call failed while checking or registering the descriptor.
    Io(io::Error),
}

impl fmt::Display for AdoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRuntime => NoRuntime.fmt(f),
            Self::WrongType { expected, found } => {
                write!(
                    f,
                    "wrong descriptor type: expected {expected}, found {found}"
                )
            }
            Self::WrongFamily { expected, found } => {
                write!(
                    f,
                    "wrong address family: expected {expected}, found {found}"
                )
            }
            Self::NotConnected => f.write_str("the socket is not connected"),
            Self::NotListening => f.write_str("the socket is not listening"),
            Self::Io(e) => write!(f, "cannot adopt the descriptor: {e}"),
        }
    }
}

impl std::error::Error for AdoptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for AdoptError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl From<NoRuntime> for AdoptError {
    fn from(_: NoRuntime) -> Self {
        Self::NoRuntime
    }
}

impl From<AdoptError> for io::Error {
    fn from(error: AdoptError) -> Self {
        let kind = match &error {
            AdoptError::Io(e) => return io::Error::new(e.kind(), error),
            AdoptError::NoRuntime => io::ErrorKind::Unsupported,
            AdoptError::NotConnected => io::ErrorKind::NotConnected,
            AdoptError::WrongType { .. }
            | AdoptError::WrongFamily { .. }
            | AdoptError::NotListening => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, error)
    }
}

/// Why a datagram receive (`receive`, `receive_from`, `receive_with_ancillary`, and the items
/// of `incoming()`) returned no datagram, in the async ([`crate::net`]) and blocking
/// ([`crate::blocking`]) shells alike.
///
/// Only [`Io`](Self::Io) can mean the socket is broken; after the other variants, the socket
/// goes on and the next receive reads the next datagram.
#[derive(Debug)]
#[non_exhaustive]
pub enum DatagramReceiveError {
    /// The datagram was larger than the receive buffer (`max_datagram_size`, 64 KiB by
    /// default). It was discarded whole: nothing of it is returned, never a cut datagram.
    Truncated {
        /// The size of the receive buffer that was too small.
        buffer_len: usize,
    },
    /// The ancillary data did not fit in the [`SocketAncillary`](crate::unix::SocketAncillary)
    /// control buffer (`MSG_CTRUNC`). The datagram is dropped, and the descriptors that did
    /// arrive were closed.
    ControlTruncated {
        /// The size of the control buffer that was too small.
        capacity: usize,
        /// How many received descriptors were closed.
        fds_closed: usize,
    },
    /// The receive timeout of a blocking socket elapsed (async sockets leave timeouts to the
    /// caller: [`runtime::timeout`](crate::runtime::timeout)).
    TimedOut,
    /// The system call failed. On a connected socket, an ICMP "port unreachable" for an
    /// earlier datagram is reported here as [`io::ErrorKind::ConnectionRefused`].
    Io(io::Error),
}

impl DatagramReceiveError {
    /// The [`io::ErrorKind`] this error converts to.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Truncated { .. } | Self::ControlTruncated { .. } => io::ErrorKind::InvalidData,
            Self::TimedOut => io::ErrorKind::TimedOut,
            Self::Io(e) => e.kind(),
        }
    }
}

impl fmt::Display for DatagramReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { buffer_len } => write!(
                f,
                "datagram larger than the {buffer_len}-byte receive buffer (discarded)"
            ),
            Self::ControlTruncated {
                capacity,
                fds_closed,
            } => write!(
                f,
                "ancillary data larger than the {capacity}-byte control buffer \
                 (datagram dropped, {fds_closed} received descriptors closed)"
            ),
            Self::TimedOut => f.write_str("receive timed out"),
            Self::Io(e) => write!(f, "receive failed: {e}"),
        }
    }
}

impl std::error::Error for DatagramReceiveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for DatagramReceiveError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl From<crate::os::RecvError> for DatagramReceiveError {
    fn from(error: crate::os::RecvError) -> Self {
        use crate::os::RecvError;
        match error {
            RecvError::DatagramTruncated { buffer_len } => Self::Truncated { buffer_len },
            RecvError::ControlTruncated {
                capacity,
                fds_closed,
            } => Self::ControlTruncated {
                capacity,
                fds_closed,
            },
            RecvError::Io(e) => Self::Io(e),
        }
    }
}

impl From<DatagramReceiveError> for io::Error {
    fn from(error: DatagramReceiveError) -> Self {
        match error {
            DatagramReceiveError::Io(e) => e,
            e => io::Error::new(e.kind(), e),
        }
    }
}
