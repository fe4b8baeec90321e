//! The async UDP packet client (EasyNetwork's `AsyncUDPNetworkClient`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use packetwire_proto::{
    DatagramProtocol, DatagramSerializer, NoConverter, RecvConverter, SendConverter,
};

use super::datagram::{
    async_datagram_client_impls, async_datagram_client_methods, AsyncCore, Connector,
    DatagramPacketIter, Received, Sent,
};
use super::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::datagram::{self, IpFamily, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::net::{self, AdoptError, ConnectError};
use crate::runtime::{self, Runtime};

/// How a lazy UDP client connects.
#[derive(Debug)]
pub(crate) struct UdpConnector {
    options: UdpClientOptions,
    host: String,
    port: u16,
}

impl Connector for UdpConnector {
    type Socket = net::UdpSocket;

    fn runtime(&self) -> Option<&Arc<dyn Runtime>> {
        self.options.runtime.as_ref()
    }

    fn connect(
        &self,
    ) -> impl Future<Output = Result<net::UdpSocket, ClientConnectError>> + Send + '_ {
        self.options.open(&self.host, self.port)
    }
}

/// An async UDP client: a socket connected to one peer, sending and receiving whole packets
/// through a [`DatagramProtocol`] (EasyNetwork's `AsyncUDPNetworkClient`), on any
/// [`Runtime`] (tokio, smol).
///
/// Open one with [`UdpClient::connect`], or with [`UdpClientOptions`] (address family, local
/// address, receive size, connect timeout, runtime), which can also
/// [`connect_lazy`](UdpClientOptions::connect_lazy): no I/O until the first use or
/// [`wait_connected`](Self::wait_connected). Adopt a connected socket with
/// [`from_std`](Self::from_std) or [`from_socket`](Self::from_socket). The blocking client
/// of the same name is [`blocking::UdpClient`](crate::blocking::UdpClient), and the rules on
/// datagrams are the same: foreign datagrams are dropped by the kernel, a bad datagram is a
/// [`RecvPacketError::Parse`] and the next call gets the next packet, a datagram larger than
/// [`max_recv_size`](Self::max_recv_size) is [`RecvPacketError::DatagramTooLarge`] (never
/// cut), an ICMP "port unreachable" shows as `Refused` on the next send or receive.
///
/// Every method takes `&self`: share the client between tasks with an `Arc`. Concurrent
/// sends go out whole, in the order the tasks asked (waiters for the send lock are served in
/// arrival order); concurrent receives take turns. [`close`](Self::close) wakes the tasks
/// waiting in the client, which return `Closed`.
///
/// Timeouts come from the caller ([`runtime::timeout`](crate::runtime::timeout), or
/// `tokio::time::timeout`), or from [`recv_packet_within`](Self::recv_packet_within).
///
/// # Cancel safety
///
/// [`recv_packet`](Self::recv_packet) and its variants are cancel-safe: a datagram is taken
/// from the socket only in the poll that returns its packet, so dropping the future (a
/// timeout, a `select!`) loses nothing. A cancelled [`send_packet`](Self::send_packet) sent
/// its datagram whole or not at all.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::client::{RecvPacketError, UdpClient};
/// use packetwire::net::UdpSocket;
/// use packetwire::{DatagramProtocol, JsonSerializer};
/// use serde_json::{json, Value};
///
/// let server = UdpSocket::bind("127.0.0.1", 0).await?;
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let client = UdpClient::connect("127.0.0.1", server.local_addr()?.port(), protocol).await?;
///
/// client.send_packet(&json!({"data": 42})).await?;
/// let (datagram, from) = server.receive_from().await?;
/// server.send_to(&datagram, from).await?; // echo
/// assert_eq!(client.recv_packet().await?, json!({"data": 42}));
/// assert!(matches!(
///     client.recv_packet_within(Duration::from_millis(10)).await,
///     Err(RecvPacketError::TimedOut)
/// ));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct UdpClient<S: DatagramSerializer, C = NoConverter> {
    core: AsyncCore<UdpConnector>,
    protocol: DatagramProtocol<S, C>,
    max_recv_size: usize,
}

impl<S, C> UdpClient<S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to `host:port` with the default options, on the current runtime: resolves
    /// `host` on the runtime's blocking pool, then uses the first address a socket can be
    /// connected to. Connecting sends nothing.
    pub async fn connect(
        host: &str,
        port: u16,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UdpClientOptions::new().connect(host, port, protocol).await
    }

    /// Adopts a connected standard UDP socket, on the current runtime; the client owns it
    /// from now on. A socket of the wrong type or family, or not connected, is a
    /// [`ClientConnectError::Adopt`] error.
    pub fn from_std(
        socket: std::net::UdpSocket,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        let fd = OwnedFd::from(socket);
        datagram::adopt_udp(&fd)?;
        if !crate::os::is_connected(fd.as_fd())? {
            return Err(AdoptError::NotConnected.into());
        }
        Self::from_socket(net::UdpSocket::from_std(fd.into())?, protocol)
    }

    /// Adopts a connected [`net::UdpSocket`], keeping its runtime and its
    /// [`max_datagram_size`](net::UdpSocket::max_datagram_size) as the receive size.
    pub fn from_socket(
        socket: net::UdpSocket,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        if !crate::os::is_connected(socket.as_fd())? {
            return Err(AdoptError::NotConnected.into());
        }
        Ok(Self {
            max_recv_size: socket.max_datagram_size(),
            core: AsyncCore::connected(socket),
            protocol,
        })
    }

    /// Sends one packet to the peer (connecting first if needed).
    pub async fn send_packet(&self, packet: &Sent<S, C>) -> Result<(), SendPacketError> {
        self.core.send_packet(&self.protocol, packet).await
    }

    /// Receives the next packet from the peer (connecting first if needed). Cancel-safe.
    pub async fn recv_packet(&self) -> Result<Received<S, C>, RecvPacketError> {
        self.core.recv_packet(&self.protocol, None).await
    }

    /// The packets received within a time budget, as a [`Stream`](futures_core::Stream)
    /// (EasyNetwork's `iter_received_packets`; see [`DatagramPacketIter`]): `timeout` counts
    /// only the time spent waiting for the next item (`Some(Duration::ZERO)`: the datagrams
    /// already there, `None`: no limit). The stream ends at the first error (the budget
    /// spent, the client closed, a datagram that does not parse, ...);
    /// [`DatagramPacketIter::error`] tells which.
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use futures_core::Stream;
    /// use packetwire::client::{RecvPacketError, UdpClient};
    /// use packetwire::net::UdpSocket;
    /// use packetwire::{DatagramProtocol, JsonSerializer};
    /// use serde_json::Value;
    ///
    /// async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    ///     std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
    /// }
    ///
    /// let server = UdpSocket::bind("127.0.0.1", 0).await?;
    /// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
    /// let client = UdpClient::connect("127.0.0.1", server.local_addr()?.port(), protocol).await?;
    /// for datagram in ["1", "2"] {
    ///     server.send_to(datagram.as_bytes(), client.local_addr()?).await?;
    /// }
    /// let mut packets = Vec::new();
    /// let mut stream = client.iter_received_packets(Some(Duration::from_millis(100)));
    /// while let Some(packet) = next(&mut stream).await {
    ///     packets.push(packet);
    /// }
    /// assert_eq!(packets, [1, 2]);
    /// assert!(matches!(stream.error(), Some(RecvPacketError::TimedOut)));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn iter_received_packets(
        &self,
        timeout: Option<Duration>,
    ) -> DatagramPacketIter<'_, Received<S, C>>
    where
        Received<S, C>: Send,
    {
        self.core.iter_received_packets(&self.protocol, timeout)
    }

    /// Closes the client (idempotent): every task waiting in it, and every later call,
    /// returns `Closed`. The socket is shut down at once; its descriptor is closed when the
    /// client is dropped (so [`as_fd`](AsFd::as_fd) stays valid meanwhile).
    pub async fn close(&self) {
        self.core.close();
    }

    /// The local address ([`io::ErrorKind::NotConnected`] before a lazy client connects).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.core.socket_or_not_connected()?.local_addr()
    }

    /// The peer's address ([`io::ErrorKind::NotConnected`] before a lazy client connects).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.core.socket_or_not_connected()?.peer_addr()
    }

    async_datagram_client_methods!();
}

async_datagram_client_impls!(UdpClient);

/// How to open an async [`UdpClient`]: address family, local address, receive size, connect
/// timeout and runtime. Then [`connect`](Self::connect), or
/// [`connect_lazy`](Self::connect_lazy).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::client::UdpClientOptions;
/// use packetwire::net::{IpFamily, UdpSocket};
/// use packetwire::{DatagramProtocol, JsonSerializer};
///
/// let server = UdpSocket::bind("127.0.0.1", 0).await?;
/// let client = UdpClientOptions::new()
///     .family(IpFamily::V4)
///     .max_recv_size(1500)
///     .connect_timeout(Duration::from_secs(5))
///     .connect_lazy(
///         "localhost",
///         server.local_addr()?.port(),
///         DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new()),
///     );
/// assert!(!client.is_connected());
/// client.wait_connected().await?;
/// client.wait_connected().await?; // idempotent
/// assert_eq!(client.peer_addr()?, server.local_addr()?);
/// assert_eq!(client.max_recv_size(), 1500);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct UdpClientOptions {
    family: IpFamily,
    local_addr: Option<SocketAddr>,
    max_recv_size: usize,
    connect_timeout: Option<Duration>,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UdpClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UdpClientOptions {
    /// Any family, no local address, a 64 KiB receive size, no connect timeout, the current
    /// runtime.
    pub fn new() -> Self {
        Self {
            family: IpFamily::Any,
            local_addr: None,
            max_recv_size: DEFAULT_MAX_DATAGRAM_SIZE,
            connect_timeout: None,
            runtime: None,
        }
    }

    /// Only addresses of this family are used (EasyNetwork's `family`).
    pub fn family(mut self, family: IpFamily) -> Self {
        self.family = family;
        self
    }

    /// Binds the socket to this local address first (port 0: any port); only peer addresses
    /// of its family are tried.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// The largest datagram a receive accepts (64 KiB by default).
    ///
    /// # Panics
    ///
    /// If `size` is zero.
    pub fn max_recv_size(mut self, size: usize) -> Self {
        self.max_recv_size = datagram::check_max_datagram_size(size);
        self
    }

    /// How long connecting (resolving the host name) may take
    /// ([`ConnectError::TimedOut`] then).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Uses this runtime instead of [`runtime::current()`].
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Connects to `host:port` now (see [`UdpClient::connect`]).
    pub async fn connect<S, C>(
        &self,
        host: &str,
        port: u16,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UdpClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let socket = self.open(host, port).await?;
        UdpClient::from_socket(socket, protocol)
    }

    /// A client that connects to `host:port` at its first use, or at
    /// [`wait_connected`](UdpClient::wait_connected). No I/O here, and no runtime needed yet.
    pub fn connect_lazy<S, C>(
        &self,
        host: &str,
        port: u16,
        protocol: DatagramProtocol<S, C>,
    ) -> UdpClient<S, C>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        UdpClient {
            core: AsyncCore::lazy(UdpConnector {
                options: self.clone(),
                host: host.to_owned(),
                port,
            }),
            protocol,
            max_recv_size: self.max_recv_size,
        }
    }

    async fn open(&self, host: &str, port: u16) -> Result<net::UdpSocket, ClientConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref()).map_err(ConnectError::from)?;
        let mut options = net::UdpSocketOptions::new()
            .family(self.family)
            .max_datagram_size(self.max_recv_size)
            .runtime(Arc::clone(&rt));
        if let Some(local) = self.local_addr {
            options = options.local_addr(local);
        }
        let connect = options.connect(host, port);
        let socket = match self.connect_timeout {
            None => connect.await?,
            Some(timeout) => runtime::timeout(&*rt, timeout, connect)
                .await
                .map_err(|_| ConnectError::TimedOut)??,
        };
        Ok(socket)
    }
}
