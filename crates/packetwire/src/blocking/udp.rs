//! Blocking UDP sockets, with the vocabulary of [`crate::net::UdpSocket`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use bytes::Bytes;

use super::datagram::{BlockingDatagram, Incoming};
use crate::datagram::{self, IpFamily, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::net::{AdoptError, ConnectError, DatagramReceiveError};
use crate::os;
use crate::socket::adopt::inet_addr;
use crate::sockopt::SocketOptions;

/// A blocking UDP socket: [`net::UdpSocket`](crate::net::UdpSocket) without a runtime, with
/// receive and send timeouts.
///
/// Open one with [`UdpSocket::bind`] or [`UdpSocket::connect`] (or [`UdpSocketOptions`]), or
/// adopt a standard socket with [`UdpSocket::from_std`]. A datagram larger than
/// [`max_datagram_size`](Self::max_datagram_size) (64 KiB by default) is never cut: the
/// receive fails with [`DatagramReceiveError::Truncated`] and the next one reads the next
/// datagram. Share it between threads by reference or `Arc`.
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::UdpSocket;
/// use packetwire::net::DatagramReceiveError;
///
/// let mut server = UdpSocket::bind("127.0.0.1", 0)?;
/// server.set_receive_timeout(Some(Duration::from_millis(50)));
/// let client = UdpSocket::connect("127.0.0.1", server.local_addr()?.port())?;
///
/// client.send(b"ping")?;
/// let (datagram, from) = server.receive_from()?;
/// assert_eq!((&datagram[..], from), (&b"ping"[..], client.local_addr()?));
/// assert!(matches!(server.receive_from(), Err(DatagramReceiveError::TimedOut)));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    core: BlockingDatagram,
}

impl UdpSocket {
    /// Binds a socket to `host:port` with the default options (see
    /// [`net::UdpSocket::bind`](crate::net::UdpSocket::bind)); a name is resolved on this
    /// thread.
    pub fn bind(host: &str, port: u16) -> io::Result<Self> {
        UdpSocketOptions::new().bind(host, port)
    }

    /// Opens a socket connected to `host:port` with the default options (see
    /// [`net::UdpSocket::connect`](crate::net::UdpSocket::connect)).
    pub fn connect(host: &str, port: u16) -> Result<Self, ConnectError> {
        UdpSocketOptions::new().connect(host, port)
    }

    /// Adopts a standard UDP socket, bound or connected or not. It is checked at once
    /// (datagram type, `AF_INET` or `AF_INET6`: an [`AdoptError`] otherwise) and switched to
    /// non-blocking mode, which this type uses underneath (a descriptor duplicated from it
    /// shares that mode). No timeouts.
    pub fn from_std(socket: std::net::UdpSocket) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(socket);
        datagram::adopt_udp(&fd)?;
        Ok(Self::new(fd, DEFAULT_MAX_DATAGRAM_SIZE, None, None))
    }

    /// The descriptor (non-blocking), for a client that takes the socket over.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.core.into_fd()
    }

    fn new(
        fd: OwnedFd,
        max: usize,
        receive_timeout: Option<Duration>,
        send_timeout: Option<Duration>,
    ) -> Self {
        Self {
            core: BlockingDatagram::new(fd, max, receive_timeout, send_timeout),
        }
    }

    /// Sends one datagram to the connected peer. An ICMP "port unreachable" for an earlier
    /// datagram makes it fail with [`io::ErrorKind::ConnectionRefused`] (once).
    pub fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.core
            .send_with(datagram.len(), |fd| os::send(fd, datagram))
    }

    /// Sends one datagram to `addr`.
    pub fn send_to(&self, datagram: &[u8], addr: SocketAddr) -> io::Result<()> {
        self.core
            .send_with(datagram.len(), |fd| os::send_to(fd, datagram, addr))
    }

    /// Receives one datagram (on a connected socket, from its peer), waiting at most the
    /// receive timeout ([`DatagramReceiveError::TimedOut`]). On a connected socket, an ICMP
    /// "port unreachable" for an earlier datagram is reported as an
    /// [`io::ErrorKind::ConnectionRefused`] error (once).
    pub fn receive(&self) -> Result<Bytes, DatagramReceiveError> {
        self.core
            .receive_with(|fd, buf| Ok((os::recv_datagram(fd, buf)?, ())))
            .map(|(datagram, ())| datagram)
    }

    /// Receives one datagram and its sender's address, waiting at most the receive timeout.
    pub fn receive_from(&self) -> Result<(Bytes, SocketAddr), DatagramReceiveError> {
        self.core.receive_with(os::recv_from)
    }

    /// The received datagrams and their senders, as an [`Iterator`] (see [`Incoming`]).
    pub fn incoming(&self) -> Incoming<'_, SocketAddr> {
        Incoming::new(&self.core, os::recv_from)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(socket2::SockRef::from(self).local_addr()?)
    }

    /// The connected peer's address ([`io::ErrorKind::NotConnected`] if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(socket2::SockRef::from(self).peer_addr()?)
    }

    /// The socket's options: buffer sizes, broadcast, TTL, ...
    pub fn socket_options(&self) -> SocketOptions<'_> {
        SocketOptions::new(self)
    }

    /// How long a receive waits at most (`None`: no limit, the default).
    pub fn receive_timeout(&self) -> Option<Duration> {
        self.core.receive_timeout()
    }

    /// Sets how long a receive waits at most; `Some(Duration::ZERO)` takes only a datagram
    /// that is already there.
    pub fn set_receive_timeout(&mut self, timeout: Option<Duration>) {
        self.core.set_receive_timeout(timeout);
    }

    /// How long a send waits at most for room in the socket buffer (`None`: no limit).
    pub fn send_timeout(&self) -> Option<Duration> {
        self.core.send_timeout()
    }

    /// Sets how long a send waits at most ([`io::ErrorKind::TimedOut`] then).
    pub fn set_send_timeout(&mut self, timeout: Option<Duration>) {
        self.core.set_send_timeout(timeout);
    }

    /// The size of the receive buffer: the largest datagram a receive accepts.
    pub fn max_datagram_size(&self) -> usize {
        self.core.max_datagram_size()
    }

    /// Changes the size of the receive buffer.
    ///
    /// # Panics
    ///
    /// If `size` is zero.
    pub fn set_max_datagram_size(&mut self, size: usize) {
        self.core.set_max_datagram_size(size);
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.fd()
    }
}

/// How to open a blocking UDP socket: [`net::UdpSocketOptions`](crate::net::UdpSocketOptions)
/// with timeouts instead of a runtime.
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::UdpSocketOptions;
/// use packetwire::net::IpFamily;
///
/// let server = UdpSocketOptions::new()
///     .family(IpFamily::V4)
///     .receive_timeout(Duration::from_secs(5))
///     .bind("localhost", 0)?;
/// assert!(server.local_addr()?.is_ipv4());
/// assert_eq!(server.receive_timeout(), Some(Duration::from_secs(5)));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UdpSocketOptions {
    family: IpFamily,
    local_addr: Option<SocketAddr>,
    max_datagram_size: usize,
    receive_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
}

impl Default for UdpSocketOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UdpSocketOptions {
    /// Any family, no local address, a 64 KiB receive buffer, no timeouts.
    pub fn new() -> Self {
        Self {
            family: IpFamily::Any,
            local_addr: None,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
            receive_timeout: None,
            send_timeout: None,
        }
    }

    /// Only addresses of this family are used.
    pub fn family(mut self, family: IpFamily) -> Self {
        self.family = family;
        self
    }

    /// [`connect`](Self::connect) binds to this local address first (port 0: any port); only
    /// remote addresses of its family are tried. [`bind`](Self::bind) ignores it.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// The size of the receive buffer (64 KiB by default).
    ///
    /// # Panics
    ///
    /// If `size` is zero.
    pub fn max_datagram_size(mut self, size: usize) -> Self {
        self.max_datagram_size = datagram::check_max_datagram_size(size);
        self
    }

    /// The socket's receive timeout (see [`UdpSocket::set_receive_timeout`]).
    pub fn receive_timeout(mut self, timeout: Duration) -> Self {
        self.receive_timeout = Some(timeout);
        self
    }

    /// The socket's send timeout (see [`UdpSocket::set_send_timeout`]).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = Some(timeout);
        self
    }

    fn wrap(&self, fd: OwnedFd) -> UdpSocket {
        UdpSocket::new(
            fd,
            self.max_datagram_size,
            self.receive_timeout,
            self.send_timeout,
        )
    }

    /// Binds a socket to `host:port` (see [`UdpSocket::bind`]).
    pub fn bind(&self, host: &str, port: u16) -> io::Result<UdpSocket> {
        let addrs = match datagram::bind_literal(host, port, self.family) {
            Some(addr) => vec![addr],
            None => datagram::resolve_blocking(host, port)?,
        };
        let addrs = datagram::usable(&addrs, self.family, None);
        Ok(self.wrap(datagram::bind_udp(host, &addrs)?))
    }

    /// Opens a socket connected to `host:port` (see [`UdpSocket::connect`]).
    pub fn connect(&self, host: &str, port: u16) -> Result<UdpSocket, ConnectError> {
        let addrs =
            datagram::resolve_blocking(host, port).map_err(|source| ConnectError::Resolve {
                host: host.to_owned(),
                source,
            })?;
        self.connect_resolved(host, &addrs)
    }

    /// Opens a socket connected to the first of `addrs` that works.
    pub fn connect_addrs(&self, addrs: &[SocketAddr]) -> Result<UdpSocket, ConnectError> {
        self.connect_resolved("", addrs)
    }

    fn connect_resolved(
        &self,
        host: &str,
        addrs: &[SocketAddr],
    ) -> Result<UdpSocket, ConnectError> {
        let addrs = datagram::usable(addrs, self.family, self.local_addr);
        Ok(self.wrap(datagram::connect_udp(host, &addrs, self.local_addr)?))
    }
}
