//! [`RecvError`]: what a receive call can fail with besides an OS error.

use std::fmt;
use std::io;

/// Why a receive call failed.
///
/// Truncation is never silent: a datagram larger than the buffer and control data larger than
/// the control buffer are errors, and the descriptors that arrived with such a message are
/// closed before the error is returned.
///
/// # Through `io::Error` and back
///
/// Readiness loops (tokio's `AsyncFd::try_io`, smol's `Async::read_with`) want closures that
/// return [`io::Result`]. `RecvError` converts into an [`io::Error`] (an OS error stays itself;
/// a truncation becomes an error of kind [`InvalidData`](io::ErrorKind::InvalidData) that wraps
/// this value), and [`RecvError::from`] an `io::Error` unwraps it again, so nothing is lost on
/// the way:
///
/// ```
/// use std::io;
/// use packetwire::os::RecvError;
///
/// let error = RecvError::DatagramTruncated { buffer_len: 4 };
/// let through_io: io::Error = error.into();
/// assert_eq!(through_io.kind(), io::ErrorKind::InvalidData);
/// assert!(matches!(RecvError::from(through_io), RecvError::DatagramTruncated { buffer_len: 4 }));
///
/// let would_block = RecvError::from(io::Error::from(io::ErrorKind::WouldBlock));
/// assert!(would_block.is_would_block());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// The system call failed (including [`WouldBlock`](io::ErrorKind::WouldBlock) on a
    /// non-blocking socket, and [`Interrupted`](io::ErrorKind::Interrupted) never: it is
    /// retried).
    Io(io::Error),
    /// The datagram was larger than the buffer (`MSG_TRUNC`). Its end is lost; the next receive
    /// reads the next datagram.
    DatagramTruncated {
        /// Length of the buffer that was too small.
        buffer_len: usize,
    },
    /// The control data did not fit in the control buffer (`MSG_CTRUNC`). The data was
    /// received, but is dropped with the message: the descriptors that arrived are closed,
    /// those that did not fit were never installed. On a stream socket those bytes are gone
    /// from the stream, so the connection should be treated as broken.
    ControlTruncated {
        /// Size of the control buffer that was too small.
        capacity: usize,
        /// Descriptors that arrived and were closed.
        fds_closed: usize,
    },
}

impl RecvError {
    /// Whether this is an OS error of kind [`WouldBlock`](io::ErrorKind::WouldBlock): wait
    /// for readiness and retry.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Self::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// The [`io::ErrorKind`] this error converts to.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::Io(e) => e.kind(),
            Self::DatagramTruncated { .. } | Self::ControlTruncated { .. } => {
                io::ErrorKind::InvalidData
            }
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => fmt::Display::fmt(e, f),
            Self::DatagramTruncated { buffer_len } => {
                write!(
                    f,
                    "datagram larger than the {buffer_len}-byte receive buffer"
                )
            }
            Self::ControlTruncated {
                capacity,
                fds_closed,
            } => write!(
                f,
                "ancillary data larger than the {capacity}-byte control buffer \
                 ({fds_closed} received descriptors closed)"
            ),
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RecvError {
    fn from(error: io::Error) -> Self {
        if error.get_ref().is_some_and(|inner| inner.is::<RecvError>()) {
            if let Some(inner) = error.into_inner() {
                return match inner.downcast::<RecvError>() {
                    Ok(recv_error) => *recv_error,
                    Err(other) => Self::Io(io::Error::new(io::ErrorKind::InvalidData, other)),
                };
            }
            // `get_ref` said there was an inner error: not reached.
            return Self::Io(io::Error::from(io::ErrorKind::InvalidData));
        }
        Self::Io(error)
    }
}

impl From<RecvError> for io::Error {
    fn from(error: RecvError) -> Self {
        match error {
            RecvError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

impl From<rustix::io::Errno> for RecvError {
    fn from(errno: rustix::io::Errno) -> Self {
        Self::Io(errno.into())
    }
}
