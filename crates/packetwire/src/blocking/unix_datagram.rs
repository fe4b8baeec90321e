//! Blocking Unix datagram sockets, with the vocabulary of [`crate::net::UnixDatagram`].

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::datagram::{BlockingDatagram, Incoming};
use crate::datagram::{self, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::net::{AdoptError, ConnectError, DatagramReceiveError};
use crate::os;
use crate::sockopt::SocketOptions;
use crate::unix::{AddressError, Credentials, SocketAncillary, UnixSocketAddress};

/// A blocking Unix datagram socket: [`net::UnixDatagram`](crate::net::UnixDatagram) without a
/// runtime, with receive and send timeouts.
///
/// Addresses are paths, Linux abstract names (`@name`) or unnamed, as
/// [`UnixSocketAddress`]es. [`UnixDatagram::connect`] auto-binds the socket to an abstract
/// name first, so that the peer can answer. Datagrams can carry descriptors and credentials.
/// A datagram larger than [`max_datagram_size`](Self::max_datagram_size) (64 KiB by default)
/// is never cut: the receive fails with [`DatagramReceiveError::Truncated`].
///
/// ```
/// use packetwire::blocking::UnixDatagram;
///
/// let name = format!("@packetwire-doc-blocking-dgram-{}", std::process::id());
/// let server = UnixDatagram::bind(&name)?;
/// let client = UnixDatagram::connect(&name)?;
/// client.send(b"ping")?;
/// let (datagram, from) = server.receive_from()?;
/// assert_eq!(datagram, "ping");
/// server.send_to(b"pong", &from)?;
/// assert_eq!(client.receive()?, "pong");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    core: BlockingDatagram,
}

impl UnixDatagram {
    /// Binds a socket to `path` (`@name`: Linux abstract name) with the default options.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        UnixDatagramOptions::new().bind(path)
    }

    /// Opens a socket connected to `path` (`@name`: Linux abstract name), auto-bound so the
    /// peer can answer.
    pub fn connect(path: impl AsRef<Path>) -> Result<Self, ConnectError> {
        UnixDatagramOptions::new().connect(path)
    }

    /// Opens an unnamed, unconnected socket.
    pub fn unbound() -> io::Result<Self> {
        UnixDatagramOptions::new().autobind(false).unbound()
    }

    /// Two connected, unnamed sockets (`socketpair(AF_UNIX, SOCK_DGRAM)`).
    pub fn pair() -> io::Result<(Self, Self)> {
        UnixDatagramOptions::new().pair()
    }

    /// Adopts a standard Unix datagram socket: checked at once (datagram type, `AF_UNIX`)
    /// and switched to non-blocking mode, which this type uses underneath. No timeouts.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(socket);
        datagram::adopt_unix_datagram(&fd)?;
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

    /// Sends one datagram to the connected peer, waiting at most the send timeout while its
    /// queue is full. Fails with [`io::ErrorKind::ConnectionRefused`] once the peer is gone.
    pub fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.core
            .send_with(datagram.len(), |fd| os::send(fd, datagram))
    }

    /// Sends one datagram to `addr` (named; an unnamed address is an
    /// [`io::ErrorKind::InvalidInput`] error). While the receiver's queue is full, the send is
    /// tried again after a growing delay (1 ms to 50 ms), until the send timeout: Linux
    /// signals room in a receiver's queue only to the socket connected to it.
    pub fn send_to(&self, datagram: &[u8], addr: &UnixSocketAddress) -> io::Result<()> {
        self.core
            .send_with_retry(datagram.len(), |fd| os::send_to_unix(fd, datagram, addr))
    }

    /// Sends one datagram with ancillary data (descriptors, credentials) to the connected
    /// peer.
    pub fn send_with_ancillary(
        &self,
        datagram: &[u8],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<()> {
        let bufs = [IoSlice::new(datagram)];
        self.core.send_with(datagram.len(), |fd| {
            os::send_with_ancillary(fd, &bufs, ancillary, None)
        })
    }

    /// Sends one datagram with ancillary data to `addr` (retrying while the receiver's queue
    /// is full, as [`send_to`](Self::send_to) does).
    pub fn send_to_with_ancillary(
        &self,
        datagram: &[u8],
        ancillary: &SocketAncillary<'_>,
        addr: &UnixSocketAddress,
    ) -> io::Result<()> {
        let bufs = [IoSlice::new(datagram)];
        self.core.send_with_retry(datagram.len(), |fd| {
            os::send_with_ancillary(fd, &bufs, ancillary, Some(addr))
        })
    }

    /// Receives one datagram (descriptors sent with it are discarded by the kernel), waiting
    /// at most the receive timeout.
    pub fn receive(&self) -> Result<Bytes, DatagramReceiveError> {
        self.core
            .receive_with(|fd, buf| Ok((os::recv_datagram(fd, buf)?, ())))
            .map(|(datagram, ())| datagram)
    }

    /// Receives one datagram and its sender's address, waiting at most the receive timeout.
    pub fn receive_from(&self) -> Result<(Bytes, UnixSocketAddress), DatagramReceiveError> {
        self.core.receive_with(os::recv_from_unix)
    }

    /// Receives one datagram, its sender's address and its ancillary data (appended to
    /// `ancillary`), waiting at most the receive timeout. Control data larger than
    /// [`ancillary.recv_capacity()`](SocketAncillary::recv_capacity) fails with
    /// [`DatagramReceiveError::ControlTruncated`]: the datagram is dropped and the
    /// descriptors that arrived are closed.
    ///
    /// ```
    /// use packetwire::blocking::UnixDatagram;
    /// use packetwire::unix::{Credentials, SocketAncillary};
    ///
    /// let (a, b) = UnixDatagram::pair()?;
    /// b.set_passcred(true)?;
    /// a.send(b"who am I?")?;
    /// let mut anc = SocketAncillary::new();
    /// let (datagram, _from) = b.receive_with_ancillary(&mut anc)?;
    /// assert_eq!(datagram, "who am I?");
    /// assert_eq!(anc.credentials().next(), Some(Credentials::current()));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<(Bytes, UnixSocketAddress), DatagramReceiveError> {
        self.core.receive_with(|fd, buf| {
            let meta = os::recv_with_ancillary(fd, buf, ancillary)?;
            Ok((meta.len, meta.address))
        })
    }

    /// The received datagrams and their senders, as an [`Iterator`] (see [`Incoming`]).
    pub fn incoming(&self) -> Incoming<'_, UnixSocketAddress> {
        Incoming::new(&self.core, os::recv_from_unix)
    }

    /// Enables or disables receiving the sender's credentials with each datagram
    /// (`SO_PASSCRED`).
    pub fn set_passcred(&self, enable: bool) -> io::Result<()> {
        os::set_passcred(self.as_fd(), enable)
    }

    /// Whether `SO_PASSCRED` is on.
    pub fn passcred(&self) -> io::Result<bool> {
        os::passcred(self.as_fd())
    }

    /// The credentials of the peer from when the socket was connected (`SO_PEERCRED`).
    pub fn peer_credentials(&self) -> io::Result<Credentials> {
        os::peer_credentials(self.as_fd())
    }

    /// The local address ([`Unnamed`](UnixSocketAddress::Unnamed) if not bound).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddress> {
        os::unix_local_address(self.as_fd())
    }

    /// The connected peer's address ([`io::ErrorKind::NotConnected`] if none).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddress> {
        os::unix_peer_address(self.as_fd())
    }

    /// The socket's options.
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

    /// How long a send waits at most while the peer's queue is full (`None`: no limit).
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

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.fd()
    }
}

/// How to open a blocking Unix datagram socket:
/// [`net::UnixDatagramOptions`](crate::net::UnixDatagramOptions) with timeouts instead of a
/// runtime.
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::{UnixDatagram, UnixDatagramOptions};
/// use packetwire::net::DatagramReceiveError;
///
/// let (a, _b) = UnixDatagramOptions::new()
///     .receive_timeout(Duration::from_millis(20))
///     .pair()?;
/// assert!(matches!(a.receive(), Err(DatagramReceiveError::TimedOut)));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UnixDatagramOptions {
    local: Option<Result<UnixSocketAddress, AddressError>>,
    autobind: bool,
    max_datagram_size: usize,
    receive_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
}

impl Default for UnixDatagramOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixDatagramOptions {
    /// No local name (auto-bind on [`connect`](Self::connect)), a 64 KiB receive buffer, no
    /// timeouts.
    pub fn new() -> Self {
        Self {
            local: None,
            autobind: true,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
            receive_timeout: None,
            send_timeout: None,
        }
    }

    /// [`connect`](Self::connect) and [`unbound`](Self::unbound) bind the socket to this path
    /// (`@name`: Linux abstract name) first; an invalid path makes them fail with
    /// [`io::ErrorKind::InvalidInput`]. [`bind`](Self::bind) ignores it.
    pub fn local_path(mut self, path: impl AsRef<Path>) -> Self {
        self.local = Some(datagram::unix_address(path.as_ref()));
        self
    }

    /// As [`local_path`](Self::local_path), with an address;
    /// [`Unnamed`](UnixSocketAddress::Unnamed) asks for auto-bind.
    pub fn local_addr(mut self, addr: UnixSocketAddress) -> Self {
        self.local = Some(Ok(addr));
        self
    }

    /// Whether a socket without a local name is auto-bound to an abstract name (on by
    /// default).
    pub fn autobind(mut self, autobind: bool) -> Self {
        self.autobind = autobind;
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

    /// The socket's receive timeout (see [`UnixDatagram::set_receive_timeout`]).
    pub fn receive_timeout(mut self, timeout: Duration) -> Self {
        self.receive_timeout = Some(timeout);
        self
    }

    /// The socket's send timeout (see [`UnixDatagram::set_send_timeout`]).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = Some(timeout);
        self
    }

    fn wrap(&self, fd: OwnedFd) -> UnixDatagram {
        UnixDatagram::new(
            fd,
            self.max_datagram_size,
            self.receive_timeout,
            self.send_timeout,
        )
    }

    fn local(&self) -> io::Result<Option<UnixSocketAddress>> {
        Ok(self.local.clone().transpose()?)
    }

    /// Binds a socket to `path` (`@name`: Linux abstract name; the empty path auto-binds).
    pub fn bind(&self, path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        self.bind_addr(&datagram::unix_address(path.as_ref())?)
    }

    /// Binds a socket to `addr` ([`Unnamed`](UnixSocketAddress::Unnamed) auto-binds).
    pub fn bind_addr(&self, addr: &UnixSocketAddress) -> io::Result<UnixDatagram> {
        Ok(self.wrap(datagram::unix_datagram(Some(addr), false)?))
    }

    /// Opens a socket connected to `path` (`@name`: Linux abstract name).
    pub fn connect(&self, path: impl AsRef<Path>) -> Result<UnixDatagram, ConnectError> {
        let addr = datagram::unix_address(path.as_ref()).map_err(io::Error::from)?;
        self.connect_addr(&addr)
    }

    /// Opens a socket connected to `addr`.
    pub fn connect_addr(&self, addr: &UnixSocketAddress) -> Result<UnixDatagram, ConnectError> {
        let local = self.local()?;
        let fd = datagram::connect_unix_datagram(local.as_ref(), self.autobind, addr)?;
        Ok(self.wrap(fd))
    }

    /// Opens an unconnected socket, named as the options say.
    pub fn unbound(&self) -> io::Result<UnixDatagram> {
        let local = self.local()?;
        Ok(self.wrap(datagram::unix_datagram(local.as_ref(), self.autobind)?))
    }

    /// Two connected, unnamed sockets, with these options' buffer size and timeouts.
    pub fn pair(&self) -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = datagram::unix_datagram_pair()?;
        Ok((self.wrap(a), self.wrap(b)))
    }
}
