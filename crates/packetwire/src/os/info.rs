//! What a descriptor is: type, family, connected. Used to validate adopted sockets.

use std::io;
use std::os::fd::BorrowedFd;

use rustix::io::Errno;
use rustix::net::{sockopt, AddressFamily, SocketType};

use crate::sockopt::{InvalidSocketError, SocketFamily, SocketKind};

fn not_a_socket(errno: Errno) -> io::Error {
    if errno == Errno::NOTSOCK {
        io::Error::new(io::ErrorKind::InvalidInput, InvalidSocketError::NotASocket)
    } else {
        errno.into()
    }
}

/// The socket's type (`SO_TYPE`).
///
/// Fails with [`InvalidInput`](io::ErrorKind::InvalidInput) wrapping
/// [`InvalidSocketError::NotASocket`] if the descriptor is not a socket.
///
/// ```
/// use std::os::fd::AsFd;
/// use packetwire::os;
/// use packetwire::sockopt::SocketKind;
///
/// let (a, _b) = os::socketpair_dgram()?;
/// assert_eq!(os::socket_type(a.as_fd())?, SocketKind::Datagram);
/// let (r, _w) = os::pipe()?;
/// assert!(os::socket_type(r.as_fd()).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn socket_type(fd: BorrowedFd<'_>) -> io::Result<SocketKind> {
    let kind = sockopt::socket_type(fd).map_err(not_a_socket)?;
    Ok(match kind {
        SocketType::STREAM => SocketKind::Stream,
        SocketType::DGRAM => SocketKind::Datagram,
        SocketType::SEQPACKET => SocketKind::SeqPacket,
        SocketType::RAW => SocketKind::Raw,
        other => SocketKind::Other(other.as_raw() as i32),
    })
}

/// The socket's address family (`SO_DOMAIN`).
///
/// ```
/// use std::net::UdpSocket;
/// use std::os::fd::AsFd;
/// use packetwire::os;
/// use packetwire::sockopt::SocketFamily;
///
/// let udp = UdpSocket::bind("127.0.0.1:0")?;
/// assert_eq!(os::socket_family(udp.as_fd())?, SocketFamily::Inet);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn socket_family(fd: BorrowedFd<'_>) -> io::Result<SocketFamily> {
    let family = sockopt::socket_domain(fd).map_err(not_a_socket)?;
    Ok(match family {
        AddressFamily::INET => SocketFamily::Inet,
        AddressFamily::INET6 => SocketFamily::Inet6,
        AddressFamily::UNIX => SocketFamily::Unix,
        other => SocketFamily::Other(i32::from(other.as_raw())),
    })
}

/// Whether the socket has a peer (`getpeername` succeeds). `ENOTCONN` and `EINVAL`
/// (EasyNetwork's "not connected" errnos) give `false`; other errors pass through.
///
/// ```
/// use std::net::UdpSocket;
/// use std::os::fd::AsFd;
/// use packetwire::os;
///
/// let udp = UdpSocket::bind("127.0.0.1:0")?;
/// assert!(!os::is_connected(udp.as_fd())?);
/// udp.connect("127.0.0.1:9")?;
/// assert!(os::is_connected(udp.as_fd())?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_connected(fd: BorrowedFd<'_>) -> io::Result<bool> {
    match rustix::net::getpeername(fd) {
        Ok(_) => Ok(true),
        Err(Errno::NOTCONN | Errno::INVAL) => Ok(false),
        Err(errno) => Err(not_a_socket(errno)),
    }
}

/// Checks that a descriptor is a socket of type `kind` in one of `families`, as a transport
/// adopting a user's socket must do; the error says what is wrong.
///
/// ```
/// use std::net::UdpSocket;
/// use std::os::fd::AsFd;
/// use packetwire::os;
/// use packetwire::sockopt::{InvalidSocketError, SocketFamily, SocketKind};
///
/// let udp = UdpSocket::bind("127.0.0.1:0")?;
/// let tcp_families = [SocketFamily::Inet, SocketFamily::Inet6];
/// let error = os::ensure_socket(udp.as_fd(), &tcp_families, SocketKind::Stream).unwrap_err();
/// assert!(matches!(
///     error,
///     InvalidSocketError::WrongKind { expected: SocketKind::Stream, found: SocketKind::Datagram }
/// ));
/// assert_eq!(error.to_string(), "wrong socket type: expected SOCK_STREAM, found SOCK_DGRAM");
/// os::ensure_socket(udp.as_fd(), &tcp_families, SocketKind::Datagram)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ensure_socket(
    fd: BorrowedFd<'_>,
    families: &[SocketFamily],
    kind: SocketKind,
) -> Result<(), InvalidSocketError> {
    let found_kind = socket_type(fd).map_err(into_invalid)?;
    if found_kind != kind {
        return Err(InvalidSocketError::WrongKind {
            expected: kind,
            found: found_kind,
        });
    }
    let found_family = socket_family(fd).map_err(into_invalid)?;
    if !families.contains(&found_family) {
        return Err(InvalidSocketError::WrongFamily {
            expected: families.to_vec(),
            found: found_family,
        });
    }
    Ok(())
}

/// Checks that a socket is connected ([`is_connected`]), with
/// [`InvalidSocketError::NotConnected`] otherwise.
pub fn ensure_connected(fd: BorrowedFd<'_>) -> Result<(), InvalidSocketError> {
    match is_connected(fd) {
        Ok(true) => Ok(()),
        Ok(false) => Err(InvalidSocketError::NotConnected),
        Err(error) => Err(into_invalid(error)),
    }
}

fn into_invalid(error: io::Error) -> InvalidSocketError {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<InvalidSocketError>())
    {
        if let Some(Ok(inner)) = error
            .into_inner()
            .map(|e| e.downcast::<InvalidSocketError>())
        {
            return *inner;
        }
        return InvalidSocketError::NotASocket;
    }
    InvalidSocketError::Io(error)
}
