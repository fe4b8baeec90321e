//! UDP sockets: bind or connect (with name resolution and a family choice), adopt, send and
//! receive whole datagrams.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use bytes::Bytes;

use super::datagram::{DatagramCore, Incoming};
use super::error::{AdoptError, ConnectError, DatagramReceiveError};
use super::resolve::resolve;
use crate::datagram::{self, IpFamily, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::os;
use crate::runtime::{self, Runtime};
use crate::socket::adopt::inet_addr;
use crate::sockopt::SocketOptions;

/// An async UDP socket: whole datagrams in and out, with AnyIO's vocabulary.
///
/// Open one with [`UdpSocket::bind`] (a server, or a client that talks to many peers with
/// [`send_to`](Self::send_to) and [`receive_from`](Self::receive_from)) or
/// [`UdpSocket::connect`] (one peer: [`send`](Self::send) and [`receive`](Self::receive), and
/// the kernel drops datagrams from anybody else); [`UdpSocketOptions`] adds a family choice, a
/// local address, the receive buffer size and a runtime. Adopt a standard socket with
/// [`UdpSocket::from_std`].
///
/// Each receive reads one datagram into a buffer of
/// [`max_datagram_size`](Self::max_datagram_size) bytes (64 KiB by default, enough for any UDP
/// datagram) and returns a copy of it. A larger datagram is never cut: the receive fails with
/// [`DatagramReceiveError::Truncated`] and the next one reads the next datagram.
///
/// Every method takes `&self`: share the socket between tasks with an `Arc`. Concurrent
/// receives (or sends) take turns.
///
/// # Cancel safety
///
/// The receive methods, and polling [`incoming`](Self::incoming), are cancel-safe: a datagram
/// is taken from the socket only in the poll that returns it. A send whose future is dropped
/// has sent its datagram whole or not at all.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::UdpSocket;
///
/// let server = UdpSocket::bind("127.0.0.1", 0).await?;
/// let port = server.local_addr()?.port();
///
/// let client = UdpSocket::connect("127.0.0.1", port).await?;
/// client.send(b"ping").await?;
///
/// let (datagram, from) = server.receive_from().await?;
/// assert_eq!((&datagram[..], from), (&b"ping"[..], client.local_addr()?));
/// server.send_to(b"pong", from).await?;
/// assert_eq!(client.receive().await?, "pong");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    core: DatagramCore,
}

impl UdpSocket {
    /// Binds a socket to `host:port` with the default options. `host` is an IP literal, a
    /// name (the first of its addresses that can be bound is used), or `""` for every IPv4
    /// interface (`0.0.0.0`; [`UdpSocketOptions::family`] `V6` for `::`). Port 0 lets the
    /// system choose.
    pub async fn bind(host: &str, port: u16) -> io::Result<Self> {
        UdpSocketOptions::new().bind(host, port).await
    }

    /// Opens a socket connected to `host:port` with the default options: resolves `host`,
    /// then tries its addresses in order until one connects (EasyNetwork's UDP client).
    /// Connecting sends nothing; it fixes the peer, so the kernel drops datagrams from any
    /// other address.
    pub async fn connect(host: &str, port: u16) -> Result<Self, ConnectError> {
        UdpSocketOptions::new().connect(host, port).await
    }

    /// Adopts a standard UDP socket, bound or connected or not, on the current runtime.
    ///
    /// It is checked at once (datagram type, `AF_INET` or `AF_INET6`: an [`AdoptError`]
    /// otherwise) and switched to non-blocking mode.
    pub fn from_std(socket: std::net::UdpSocket) -> Result<Self, AdoptError> {
        Self::from_std_with_runtime(socket, runtime::current()?)
    }

    /// [`from_std`](Self::from_std) on the given runtime.
    pub fn from_std_with_runtime(
        socket: std::net::UdpSocket,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(socket);
        datagram::adopt_udp(&fd)?;
        Ok(Self::register(fd, runtime, DEFAULT_MAX_DATAGRAM_SIZE)?)
    }

    fn register(fd: OwnedFd, runtime: Arc<dyn Runtime>, max: usize) -> io::Result<Self> {
        let io = runtime.register(fd)?;
        Ok(Self {
            core: DatagramCore::new(io, runtime, max),
        })
    }

    /// Sends one datagram to the connected peer.
    ///
    /// An ICMP "port unreachable" for an earlier datagram makes it fail with
    /// [`io::ErrorKind::ConnectionRefused`] (once; the socket goes on).
    pub async fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.core
            .send_with(datagram.len(), &mut |fd| os::send(fd, datagram))
            .await
    }

    /// Sends one datagram to `addr`.
    pub async fn send_to(&self, datagram: &[u8], addr: SocketAddr) -> io::Result<()> {
        self.core
            .send_with(datagram.len(), &mut |fd| os::send_to(fd, datagram, addr))
            .await
    }

    /// Receives one datagram (on a connected socket, from its peer).
    ///
    /// On a connected socket, an ICMP "port unreachable" for an earlier datagram makes it fail
    /// with [`DatagramReceiveError::Io`] of kind [`io::ErrorKind::ConnectionRefused`] (once;
    /// the socket goes on). Cancel-safe.
    pub async fn receive(&self) -> Result<Bytes, DatagramReceiveError> {
        self.core
            .receive_with(&mut |fd, buf| {
                let len = os::recv_datagram(fd, buf)?;
                Ok(Bytes::copy_from_slice(&buf[..len]))
            })
            .await
    }

    /// Receives one datagram and its sender's address. Cancel-safe.
    pub async fn receive_from(&self) -> Result<(Bytes, SocketAddr), DatagramReceiveError> {
        self.core
            .receive_with(&mut |fd, buf| {
                let (len, from) = os::recv_from(fd, buf)?;
                Ok((Bytes::copy_from_slice(&buf[..len]), from))
            })
            .await
    }

    /// The received datagrams and their senders, as a [`Stream`](futures_core::Stream) (see
    /// [`Incoming`]).
    pub fn incoming(&self) -> Incoming<'_, SocketAddr> {
        Incoming::new(&self.core, os::recv_from)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(crate::socket::sys::sock(self).local_addr()?)
    }

    /// The connected peer's address ([`io::ErrorKind::NotConnected`] if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(crate::socket::sys::sock(self).peer_addr()?)
    }

    /// The socket's options: buffer sizes, broadcast, TTL, ... (EasyNetwork's socket proxy).
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

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.fd()
    }
}

/// How to open a UDP socket: address family, local address, receive buffer size and runtime.
/// Build it, then [`bind`](Self::bind) or [`connect`](Self::connect).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::{IpFamily, UdpSocketOptions};
///
/// let server = UdpSocketOptions::new().family(IpFamily::V4).bind("localhost", 0).await?;
/// assert!(server.local_addr()?.is_ipv4());
/// let client = UdpSocketOptions::new()
///     .family(IpFamily::V4)
///     .max_datagram_size(1500)
///     .connect("localhost", server.local_addr()?.port())
///     .await?;
/// assert_eq!(client.peer_addr()?, server.local_addr()?);
/// assert_eq!(client.max_datagram_size(), 1500);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct UdpSocketOptions {
    family: IpFamily,
    local_addr: Option<SocketAddr>,
    max_datagram_size: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UdpSocketOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UdpSocketOptions {
    /// Any family, no local address, a 64 KiB receive buffer, the current runtime.
    pub fn new() -> Self {
        Self {
            family: IpFamily::Any,
            local_addr: None,
            max_datagram_size: DEFAULT_MAX_DATAGRAM_SIZE,
            runtime: None,
        }
    }

    /// Only addresses of this family are used (for names resolving to both, like
    /// `localhost`).
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

    /// Binds a socket to `host:port` (see [`UdpSocket::bind`]); names are resolved on the
    /// runtime's blocking pool.
    pub async fn bind(&self, host: &str, port: u16) -> io::Result<UdpSocket> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let addrs = match datagram::bind_literal(host, port, self.family) {
            Some(addr) => vec![addr],
            None => resolve(&*rt, host, port).await?,
        };
        let addrs = datagram::usable(&addrs, self.family, None);
        let fd = datagram::bind_udp(host, &addrs)?;
        UdpSocket::register(fd, rt, self.max_datagram_size)
    }

    /// Opens a socket connected to `host:port` (see [`UdpSocket::connect`]); names are
    /// resolved on the runtime's blocking pool.
    pub async fn connect(&self, host: &str, port: u16) -> Result<UdpSocket, ConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let addrs = resolve(&*rt, host, port)
            .await
            .map_err(|source| ConnectError::Resolve {
                host: host.to_owned(),
                source,
            })?;
        self.connect_resolved(rt, host, &addrs)
    }

    /// Opens a socket connected to the first of `addrs` that works.
    pub async fn connect_addrs(&self, addrs: &[SocketAddr]) -> Result<UdpSocket, ConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        self.connect_resolved(rt, "", addrs)
    }

    fn connect_resolved(
        &self,
        rt: Arc<dyn Runtime>,
        host: &str,
        addrs: &[SocketAddr],
    ) -> Result<UdpSocket, ConnectError> {
        let addrs = datagram::usable(addrs, self.family, self.local_addr);
        let fd = datagram::connect_udp(host, &addrs, self.local_addr)?;
        Ok(UdpSocket::register(fd, rt, self.max_datagram_size)?)
    }
}
