//! Socket options and socket identity: [`SocketOptions`], a typed proxy over a borrowed socket
//! (EasyNetwork's `SocketProxy` getsockopt/setsockopt side), and what a descriptor is
//! ([`SocketKind`], [`SocketFamily`]) with the error for an adopted socket of the wrong sort
//! ([`InvalidSocketError`]).
//!
//! ```
//! use std::net::TcpListener;
//! use std::time::Duration;
//! use packetwire::sockopt::{SocketFamily, SocketKind, SocketOptions};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let options = SocketOptions::new(&listener);
//! assert_eq!(options.kind()?, SocketKind::Stream);
//! assert_eq!(options.family()?, SocketFamily::Inet);
//! options.set_linger(Some(Duration::from_secs(1)))?;
//! assert_eq!(options.linger()?, Some(Duration::from_secs(1)));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io;

pub use crate::os::SocketOptions;

/// The type of a socket (`SO_TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketKind {
    /// `SOCK_STREAM`: TCP, Unix stream.
    Stream,
    /// `SOCK_DGRAM`: UDP, Unix datagram.
    Datagram,
    /// `SOCK_SEQPACKET`.
    SeqPacket,
    /// `SOCK_RAW`.
    Raw,
    /// Any other type, by number.
    Other(i32),
}

impl fmt::Display for SocketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stream => f.write_str("SOCK_STREAM"),
            Self::Datagram => f.write_str("SOCK_DGRAM"),
            Self::SeqPacket => f.write_str("SOCK_SEQPACKET"),
            Self::Raw => f.write_str("SOCK_RAW"),
            Self::Other(n) => write!(f, "socket type {n}"),
        }
    }
}

/// The address family of a socket (`SO_DOMAIN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketFamily {
    /// `AF_INET`: IPv4.
    Inet,
    /// `AF_INET6`: IPv6.
    Inet6,
    /// `AF_UNIX`.
    Unix,
    /// Any other family, by number.
    Other(i32),
}

impl fmt::Display for SocketFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inet => f.write_str("AF_INET"),
            Self::Inet6 => f.write_str("AF_INET6"),
            Self::Unix => f.write_str("AF_UNIX"),
            Self::Other(n) => write!(f, "address family {n}"),
        }
    }
}

/// Why a descriptor cannot be used as the socket an operation wants (see
/// [`os::ensure_socket`](crate::os::ensure_socket) and
/// [`os::ensure_connected`](crate::os::ensure_connected)).
///
/// Converts into an [`io::Error`]: [`InvalidInput`](io::ErrorKind::InvalidInput) for a wrong
/// descriptor, [`NotConnected`](io::ErrorKind::NotConnected) for an unconnected socket.
#[derive(Debug)]
#[non_exhaustive]
pub enum InvalidSocketError {
    /// The descriptor is not a socket (`ENOTSOCK`).
    NotASocket,
    /// The socket has another type.
    WrongKind {
        /// The type wanted.
        expected: SocketKind,
        /// The socket's type.
        found: SocketKind,
    },
    /// The socket has another address family.
    WrongFamily {
        /// The families accepted.
        expected: Vec<SocketFamily>,
        /// The socket's family.
        found: SocketFamily,
    },
    /// The socket is not connected.
    NotConnected,
    /// Asking the system failed for another reason (for example a closed descriptor).
    Io(io::Error),
}

impl fmt::Display for InvalidSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotASocket => f.write_str("the descriptor is not a socket"),
            Self::WrongKind { expected, found } => {
                write!(f, "wrong socket type: expected {expected}, found {found}")
            }
            Self::WrongFamily { expected, found } => {
                f.write_str("wrong address family: expected ")?;
                for (i, family) in expected.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{family}")?;
                }
                write!(f, ", found {found}")
            }
            Self::NotConnected => f.write_str("the socket is not connected"),
            Self::Io(e) => write!(f, "cannot inspect the socket: {e}"),
        }
    }
}

impl std::error::Error for InvalidSocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<InvalidSocketError> for io::Error {
    fn from(error: InvalidSocketError) -> Self {
        match error {
            InvalidSocketError::Io(e) => e,
            InvalidSocketError::NotConnected => io::Error::new(io::ErrorKind::NotConnected, error),
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
        }
    }
}
