//! Unix datagram sockets: bind a path or abstract name, connect (auto-bound), adopt, pairs;
//! whole datagrams with ancillary data.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::datagram::{DatagramCore, Incoming};
use super::error::{AdoptError, ConnectError, DatagramReceiveError};
use crate::datagram::{self, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::os;
use crate::runtime::{self, Runtime};
use crate::sockopt::SocketOptions;
use crate::unix::{AddressError, Credentials, SocketAncillary, UnixSocketAddress};

/// An async Unix datagram socket, with the vocabulary of [`UdpSocket`](crate::net::UdpSocket)
/// and addresses that are [`UnixSocketAddress`]es: paths, Linux abstract names (`@name`), or
/// unnamed.
///
/// Open one with [`UnixDatagram::bind`] (a named socket that others send to),
/// [`UnixDatagram::connect`] (one peer; the socket is auto-bound to an abstract name first,
/// so that the peer can answer, as EasyNetwork's client does), [`UnixDatagram::unbound`] or
/// [`UnixDatagram::pair`]; [`UnixDatagramOptions`] chooses the local name and the receive
/// buffer size. Adopt a standard socket with [`UnixDatagram::from_std`].
///
/// Datagrams can carry descriptors and credentials
/// ([`send_with_ancillary`](Self::send_with_ancillary),
/// [`receive_with_ancillary`](Self::receive_with_ancillary)).
///
/// A datagram larger than [`max_datagram_size`](Self::max_datagram_size) (64 KiB by default)
/// is never cut: the receive fails with [`DatagramReceiveError::Truncated`] and the next one
/// reads the next datagram. Every method takes `&self`; concurrent receives (or sends) take
/// turns. A socket file is neither removed before binding nor when the socket is dropped.
///
/// # Cancel safety
///
/// As for [`UdpSocket`](crate::net::UdpSocket): receives are cancel-safe, a cancelled send
/// sent its datagram whole or not at all.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::UnixDatagram;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("server.sock");
/// let server = UnixDatagram::bind(&path).await?;
/// let client = UnixDatagram::connect(&path).await?;
/// client.send(b"ping").await?;
///
/// let (datagram, from) = server.receive_from().await?;
/// assert_eq!(datagram, "ping");
/// assert!(from.as_abstract_name().is_some()); // the client was auto-bound
/// server.send_to(b"pong", &from).await?;
/// assert_eq!(client.receive().await?, "pong");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    core: DatagramCore,
}

impl UnixDatagram {
    /// Binds a socket to `path` (`@name`: Linux abstract name) with the default options.
    pub async fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        UnixDatagramOptions::new().bind(path).await
    }

    /// Opens a socket connected to `path` (`@name`: Linux abstract name) with the default
    /// options: auto-bound to an abstract name, so the peer can answer.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, ConnectError> {
        UnixDatagramOptions::new().connect(path).await
    }

    /// Opens an unnamed, unconnected socket: it can send to named sockets with
    /// [`send_to`](Self::send_to), but nobody can answer it.
    pub fn unbound() -> io::Result<Self> {
        UnixDatagramOptions::new().autobind(false).unbound()
    }

    /// Two connected, unnamed sockets (`socketpair(AF_UNIX, SOCK_DGRAM)`), on the current
    /// runtime.
    pub fn pair() -> io::Result<(Self, Self)> {
        UnixDatagramOptions::new().pair()
    }

    /// Adopts a standard Unix datagram socket, on the current runtime. It is checked at once
    /// (datagram type, `AF_UNIX`: an [`AdoptError`] otherwise) and switched to non-blocking
    /// mode.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> Result<Self, AdoptError> {
        Self::from_std_with_runtime(socket, runtime::current()?)
    }

    /// [`from_std`](Self::from_std) on the given runtime.
    pub fn from_std_with_runtime(
        socket: std::os::unix::net::UnixDatagram,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(socket);
        datagram::adopt_unix_datagram(&fd)?;
        Ok(Self::register(fd, runtime, DEFAULT_MAX_DATAGRAM_SIZE)?)
    }

    fn register(fd: OwnedFd, runtime: Arc<dyn Runtime>, max: usize) -> io::Result<Self> {
        let io = runtime.register(fd)?;
        Ok(Self {
            core: DatagramCore::new(io, runtime, max),
        })
    }

    /// Sends one datagram to the connected peer. Fails with
    /// [`io::ErrorKind::ConnectionRefused`] once the peer is gone.
    pub async fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.core
            .send_with(datagram.len(), &mut |fd| os::send(fd, datagram))
            .await
    }

    /// Sends one datagram to `addr` (a path or an abstract name; an unnamed address is an
    /// [`io::ErrorKind::InvalidInput`] error).
    ///
    /// While the receiver's queue is full, the send is tried again after a growing delay
    /// (1 ms to 50 ms): Linux signals room in a receiver's queue only to the socket connected
    /// to it, so there is no readiness event to wait for.
    pub async fn send_to(&self, datagram: &[u8], addr: &UnixSocketAddress) -> io::Result<()> {
        self.core
            .send_with_retry(datagram.len(), &mut |fd| {
                os::send_to_unix(fd, datagram, addr)
            })
            .await
    }

    /// Sends one datagram with ancillary data (descriptors, credentials) to the connected
    /// peer. The descriptors stay open here: the peer receives duplicates.
    pub async fn send_with_ancillary(
        &self,
        datagram: &[u8],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<()> {
        let bufs = [io::IoSlice::new(datagram)];
        self.core
            .send_with(datagram.len(), &mut |fd| {
                os::send_with_ancillary(fd, &bufs, ancillary, None)
            })
            .await
    }

    /// Sends one datagram with ancillary data to `addr` (retrying while the receiver's queue
    /// is full, as [`send_to`](Self::send_to) does).
    pub async fn send_to_with_ancillary(
        &self,
        datagram: &[u8],
        ancillary: &SocketAncillary<'_>,
        addr: &UnixSocketAddress,
    ) -> io::Result<()> {
        let bufs = [io::IoSlice::new(datagram)];
        self.core
            .send_with_retry(datagram.len(), &mut |fd| {
                os::send_with_ancillary(fd, &bufs, ancillary, Some(addr))
            })
            .await
    }

    /// Receives one datagram (on a connected socket, from its peer). Descriptors sent with it
    /// are discarded by the kernel: use
    /// [`receive_with_ancillary`](Self::receive_with_ancillary) to get them. Cancel-safe.
    pub async fn receive(&self) -> Result<Bytes, DatagramReceiveError> {
        self.core
            .receive_with(&mut |fd, buf| {
                let len = os::recv_datagram(fd, buf)?;
                Ok(Bytes::copy_from_slice(&buf[..len]))
            })
            .await
    }

    /// Receives one datagram and its sender's address
    /// ([`Unnamed`](UnixSocketAddress::Unnamed) for an unbound sender, which cannot be
    /// answered). Cancel-safe.
    pub async fn receive_from(&self) -> Result<(Bytes, UnixSocketAddress), DatagramReceiveError> {
        self.core
            .receive_with(&mut |fd, buf| {
                let (len, from) = os::recv_from_unix(fd, buf)?;
                Ok((Bytes::copy_from_slice(&buf[..len]), from))
            })
            .await
    }

    /// Receives one datagram, its sender's address, and its ancillary data, which is appended
    /// to `ancillary` (received descriptors are owned by it; see [`SocketAncillary`]).
    ///
    /// If the control data does not fit in
    /// [`ancillary.recv_capacity()`](SocketAncillary::recv_capacity), fails with
    /// [`DatagramReceiveError::ControlTruncated`]: the datagram is dropped, the descriptors
    /// that arrived are closed, and `ancillary` is left as it was. Cancel-safe.
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use packetwire::net::UnixDatagram;
    /// use packetwire::unix::SocketAncillary;
    ///
    /// let (a, b) = UnixDatagram::pair()?;
    /// let (_reader, writer) = packetwire::os::pipe()?;
    /// let mut out = SocketAncillary::new();
    /// out.add_fd(&writer);
    /// a.send_with_ancillary(b"a pipe", &out).await?;
    ///
    /// let mut anc = SocketAncillary::new();
    /// let (datagram, _from) = b.receive_with_ancillary(&mut anc).await?;
    /// assert_eq!(datagram, "a pipe");
    /// assert_eq!(anc.take_fds().len(), 1);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn receive_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<(Bytes, UnixSocketAddress), DatagramReceiveError> {
        self.core
            .receive_with(&mut |fd, buf| {
                let meta = os::recv_with_ancillary(fd, buf, ancillary)?;
                Ok((Bytes::copy_from_slice(&buf[..meta.len]), meta.address))
            })
            .await
    }

    /// The received datagrams and their senders, as a [`Stream`](futures_core::Stream) (see
    /// [`Incoming`]).
    pub fn incoming(&self) -> Incoming<'_, UnixSocketAddress> {
        Incoming::new(&self.core, os::recv_from_unix)
    }

    /// Enables or disables receiving the sender's credentials with each datagram
    /// (`SO_PASSCRED`), in [`receive_with_ancillary`](Self::receive_with_ancillary). With it
    /// on, an unbound socket is auto-bound when it sends.
    pub fn set_passcred(&self, enable: bool) -> io::Result<()> {
        os::set_passcred(self.as_fd(), enable)
    }

    /// Whether `SO_PASSCRED` is on.
    pub fn passcred(&self) -> io::Result<bool> {
        os::passcred(self.as_fd())
    }

    /// The credentials of the peer from when the socket was connected (`SO_PEERCRED`: known
    /// for a [`pair`](Self::pair); [`io::ErrorKind::NotConnected`] or zeros otherwise, as
    /// the kernel reports them).
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

    /// The socket's options (buffer sizes, ...).
    pub fn socket_options(&self) -> SocketOptions<'_> {
        SocketOptions::new(self)
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

    /// The runtime the socket is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        self.core.runtime()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.fd()
    }
}

/// How to open a Unix datagram socket: local name, auto-bind, receive buffer size and
/// runtime. Build it, then [`bind`](Self::bind), [`connect`](Self::connect),
/// [`unbound`](Self::unbound) or [`pair`](Self::pair).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::{UnixDatagram, UnixDatagramOptions};
///
/// let server_name = format!("@packetwire-doc-dgram-opts-{}", std::process::id());
/// let server = UnixDatagram::bind(&server_name).await?;
/// let client = UnixDatagramOptions::new()
///     .local_path(format!("{server_name}-client"))
///     .max_datagram_size(4096)
///     .connect(&server_name)
///     .await?;
/// client.send(b"hi").await?;
/// let (_, from) = server.receive_from().await?;
/// assert_eq!(from.to_string(), format!("{server_name}-client"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct UnixDatagramOptions {
    /// The local name, or why the path given for it is not one (reported when opening).
    local: Option<Result<UnixSocketAddress, AddressError>>,
    autobind: bool,
    max_datagram_size: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UnixDatagramOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixDatagramOptions {
    /// No local name (auto-bind on [`connect`](Self::connect)), a 64 KiB receive buffer, the
    /// current runtime.
    pub fn new() -> Self {
        Self {
            local: None,
            autobind: true,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
            runtime: None,
        }
    }

    /// [`connect`](Self::connect) and [`unbound`](Self::unbound) bind the socket to this path
    /// (`@name`: Linux abstract name) first. [`bind`](Self::bind) ignores it. A path that
    /// cannot be a Unix socket address (NUL byte, too long) makes opening fail with
    /// [`io::ErrorKind::InvalidInput`].
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

    fn local(&self) -> io::Result<Option<UnixSocketAddress>> {
        Ok(self.local.clone().transpose()?)
    }

    /// Whether a socket without a local name is auto-bound to an abstract name the kernel
    /// picks, so that its peer can answer (on by default, as EasyNetwork's client does; off,
    /// it stays unnamed).
    pub fn autobind(mut self, autobind: bool) -> Self {
        self.autobind = autobind;
        self
    }

    /// The size of the receive buffer, the largest datagram a receive accepts (64 KiB by
    /// default).
    ///
    /// # Panics
    ///
    /// If `size` is zero.
    pub fn max_datagram_size(mut self, size: usize) -> Self {
        self.max_datagram_size = datagram::check_max_datagram_size(size);
        self
    }

    /// Uses this runtime instead of [`runtime::current()`].
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Binds a socket to `path` (`@name`: Linux abstract name; the empty path auto-binds).
    pub async fn bind(&self, path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        self.bind_addr(&datagram::unix_address(path.as_ref())?)
            .await
    }

    /// Binds a socket to `addr` ([`Unnamed`](UnixSocketAddress::Unnamed) auto-binds).
    pub async fn bind_addr(&self, addr: &UnixSocketAddress) -> io::Result<UnixDatagram> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let fd = datagram::unix_datagram(Some(addr), false)?;
        UnixDatagram::register(fd, rt, self.max_datagram_size)
    }

    /// Opens a socket connected to `path` (`@name`: Linux abstract name). A missing path is
    /// [`io::ErrorKind::NotFound`], an abstract name nobody bound is
    /// [`io::ErrorKind::ConnectionRefused`].
    pub async fn connect(&self, path: impl AsRef<Path>) -> Result<UnixDatagram, ConnectError> {
        let addr = datagram::unix_address(path.as_ref()).map_err(io::Error::from)?;
        self.connect_addr(&addr).await
    }

    /// Opens a socket connected to `addr`.
    pub async fn connect_addr(
        &self,
        addr: &UnixSocketAddress,
    ) -> Result<UnixDatagram, ConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let local = self.local()?;
        let fd = datagram::connect_unix_datagram(local.as_ref(), self.autobind, addr)?;
        Ok(UnixDatagram::register(fd, rt, self.max_datagram_size)?)
    }

    /// Opens an unconnected socket, named as the options say (local name, else auto-bound,
    /// else unnamed).
    pub fn unbound(&self) -> io::Result<UnixDatagram> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let local = self.local()?;
        let fd = datagram::unix_datagram(local.as_ref(), self.autobind)?;
        UnixDatagram::register(fd, rt, self.max_datagram_size)
    }

    /// Two connected, unnamed sockets, with these options' buffer size and runtime.
    pub fn pair(&self) -> io::Result<(UnixDatagram, UnixDatagram)> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let (a, b) = datagram::unix_datagram_pair()?;
        Ok((
            UnixDatagram::register(a, Arc::clone(&rt), self.max_datagram_size)?,
            UnixDatagram::register(b, rt, self.max_datagram_size)?,
        ))
    }
}
