//! Addresses, datagrams and plain sends over a borrowed descriptor, through rustix's safe API.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use rustix::net::{RecvAncillaryBuffer, RecvFlags, ReturnFlags, SendAncillaryBuffer, SendFlags};

use super::error::RecvError;
use super::sockaddr;
use crate::unix::UnixSocketAddress;

/// Runs `call` until it does not fail with `EINTR`.
pub(crate) fn retry<T>(mut call: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match call() {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// One `recvmsg` without control buffer (so no credentials are parsed), reporting truncation.
fn recv_plain(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<rustix::net::SocketAddrAny>), RecvError> {
    let buffer_len = buf.len();
    let mut bufs = [IoSliceMut::new(buf)];
    let msg = retry(|| {
        let mut control = RecvAncillaryBuffer::default();
        rustix::net::recvmsg(fd, &mut bufs, &mut control, RecvFlags::CMSG_CLOEXEC)
    })?;
    if msg.flags.contains(ReturnFlags::TRUNC) {
        return Err(RecvError::DatagramTruncated { buffer_len });
    }
    Ok((msg.bytes, msg.address))
}

/// Receives one datagram on a connected socket, failing with
/// [`RecvError::DatagramTruncated`] instead of cutting it when it is larger than `buf`.
///
/// Works on UDP and Unix datagram sockets. Control data (descriptors sent to this socket) is
/// discarded by the kernel. `EINTR` is retried; `WouldBlock` passes through.
///
/// ```
/// use std::os::fd::AsFd;
/// use packetwire::os::{self, RecvError};
///
/// let (a, b) = os::socketpair_dgram()?;
/// os::send(a.as_fd(), b"twelve bytes")?;
/// let mut buf = [0u8; 12];
/// assert_eq!(os::recv_datagram(b.as_fd(), &mut buf)?, 12);
/// os::send(a.as_fd(), b"thirteen byte")?;
/// assert!(matches!(
///     os::recv_datagram(b.as_fd(), &mut buf),
///     Err(RecvError::DatagramTruncated { buffer_len: 12 })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recv_datagram(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, RecvError> {
    recv_plain(fd, buf).map(|(len, _)| len)
}

/// Receives one datagram and the address of its sender on an IP (UDP) socket; like
/// [`recv_datagram`], a datagram larger than `buf` is an error.
///
/// Fails with [`InvalidInput`](io::ErrorKind::InvalidInput) if the sender's address is not an
/// IP one (use [`recv_from_unix`] on Unix sockets).
///
/// ```
/// use std::net::UdpSocket;
/// use std::os::fd::AsFd;
/// use packetwire::os;
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// os::send_to(a.as_fd(), b"hi", b.local_addr()?)?;
/// let mut buf = [0u8; 8];
/// let (len, from) = os::recv_from(b.as_fd(), &mut buf)?;
/// assert_eq!((&buf[..len], from), (&b"hi"[..], a.local_addr()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, SocketAddr), RecvError> {
    let (len, addr) = recv_plain(fd, buf)?;
    let addr = addr
        .and_then(|addr| SocketAddr::try_from(addr).ok())
        .ok_or_else(|| {
            RecvError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the sender's address is not an IP address",
            ))
        })?;
    Ok((len, addr))
}

/// Receives one datagram and the address of its sender on a Unix datagram socket; like
/// [`recv_datagram`], a datagram larger than `buf` is an error. A sender that is not bound
/// gives [`UnixSocketAddress::Unnamed`].
///
/// ```
/// use std::os::unix::net::UnixDatagram;
/// use std::os::fd::AsFd;
/// use packetwire::os;
/// use packetwire::unix::UnixSocketAddress;
///
/// let dir = tempfile::tempdir()?;
/// let server_addr = UnixSocketAddress::from_pathname(dir.path().join("server"))?;
/// let server = UnixDatagram::unbound()?;
/// os::bind_unix(server.as_fd(), &server_addr)?;
/// let client = UnixDatagram::unbound()?;
/// let client_addr = os::autobind(client.as_fd())?;
/// os::send_to_unix(client.as_fd(), b"hello", &server_addr)?;
///
/// let mut buf = [0u8; 16];
/// let (len, from) = os::recv_from_unix(server.as_fd(), &mut buf)?;
/// assert_eq!((&buf[..len], from), (&b"hello"[..], client_addr));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recv_from_unix(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, UnixSocketAddress), RecvError> {
    super::msg::recv_from_unix_plain(fd, buf)
}

/// Sends a datagram to an IP address (`sendto(2)`, with `MSG_NOSIGNAL`). `EINTR` is retried.
pub fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
    Ok(retry(|| {
        rustix::net::sendto(fd, buf, SendFlags::NOSIGNAL, &addr)
    })?)
}

/// Sends a datagram to a named Unix address (`sendto(2)`, with `MSG_NOSIGNAL`): a path or an
/// abstract name. An unnamed address fails with
/// [`AddressError::Unnamed`](crate::unix::AddressError::Unnamed) (as an
/// [`InvalidInput`](io::ErrorKind::InvalidInput) error). `EINTR` is retried.
pub fn send_to_unix(fd: BorrowedFd<'_>, buf: &[u8], addr: &UnixSocketAddress) -> io::Result<usize> {
    let addr = sockaddr::to_rustix_named(addr)?;
    Ok(retry(|| {
        rustix::net::sendto(fd, buf, SendFlags::NOSIGNAL, &addr)
    })?)
}

/// Sends on a connected socket (`send(2)` with `MSG_NOSIGNAL`: a closed peer is a
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe) error, never a `SIGPIPE`). `EINTR` is retried.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    Ok(retry(|| rustix::net::send(fd, buf, SendFlags::NOSIGNAL))?)
}

/// Receives on a connected socket (`recv(2)`): for streams, where a short read is normal; use
/// [`recv_datagram`] for datagrams, which reports truncation. Returns 0 at end of stream.
/// `EINTR` is retried.
///
/// ```
/// use std::os::fd::AsFd;
/// use packetwire::os;
///
/// let (a, b) = os::socketpair_stream()?;
/// os::send(a.as_fd(), b"abc")?;
/// drop(a);
/// let mut buf = [0u8; 8];
/// assert_eq!(os::recv(b.as_fd(), &mut buf)?, 3);
/// assert_eq!(os::recv(b.as_fd(), &mut buf)?, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    Ok(retry(|| rustix::net::recv(fd, &mut *buf, RecvFlags::empty()))?.0)
}

/// Sends several buffers at once on a connected socket (`sendmsg(2)` without control data,
/// with `MSG_NOSIGNAL`). On a stream socket it may send fewer bytes than offered.
///
/// ```
/// use std::io::{IoSlice, Read};
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use packetwire::os;
///
/// let (a, mut b) = UnixStream::pair()?;
/// let sent = os::send_vectored(a.as_fd(), &[IoSlice::new(b"ab"), IoSlice::new(b"cd")])?;
/// assert_eq!(sent, 4);
/// let mut buf = [0u8; 4];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"abcd");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    Ok(retry(|| {
        let mut control = SendAncillaryBuffer::default();
        rustix::net::sendmsg(fd, bufs, &mut control, SendFlags::NOSIGNAL)
    })?)
}

/// Binds a socket to a Unix address; [`UnixSocketAddress::Unnamed`] auto-binds like
/// [`autobind`]. A pathname must not exist yet.
pub fn bind_unix(fd: BorrowedFd<'_>, addr: &UnixSocketAddress) -> io::Result<()> {
    let addr = sockaddr::to_rustix(addr)?;
    Ok(rustix::net::bind(fd, &addr)?)
}

/// Connects a socket to a named Unix address. On a blocking socket this waits; on a
/// non-blocking stream socket it fails with `WouldBlock` while the listener's queue is full
/// (Unix sockets do not report `EINPROGRESS`).
pub fn connect_unix(fd: BorrowedFd<'_>, addr: &UnixSocketAddress) -> io::Result<()> {
    let addr = sockaddr::to_rustix_named(addr)?;
    Ok(retry(|| rustix::net::connect(fd, &addr))?)
}

/// Binds a Unix socket to a name the kernel picks in the abstract namespace (Linux's
/// auto-bind: `bind` with an empty address), and returns that name. A socket that is already
/// bound keeps its name, which is returned.
///
/// This is what EasyNetwork does for a Unix datagram client without a local path, so that
/// the server can answer it.
///
/// ```
/// use std::os::fd::AsFd;
/// use packetwire::os;
///
/// let (sock, _peer) = os::socketpair_dgram()?;
/// let name = os::autobind(sock.as_fd())?;
/// assert!(name.as_abstract_name().is_some());
/// assert_eq!(os::unix_local_address(sock.as_fd())?, name);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn autobind(fd: BorrowedFd<'_>) -> io::Result<UnixSocketAddress> {
    rustix::net::bind(fd, &rustix::net::SocketAddrUnix::new_unnamed())?;
    unix_local_address(fd)
}

/// The address a Unix socket is bound to ([`UnixSocketAddress::Unnamed`] if none).
pub fn unix_local_address(fd: BorrowedFd<'_>) -> io::Result<UnixSocketAddress> {
    super::msg::unix_name(fd, false)
}

/// The address of the peer of a connected Unix socket (often
/// [`UnixSocketAddress::Unnamed`]: clients rarely bind). Fails with
/// [`NotConnected`](io::ErrorKind::NotConnected) if not connected.
pub fn unix_peer_address(fd: BorrowedFd<'_>) -> io::Result<UnixSocketAddress> {
    super::msg::unix_name(fd, true)
}
