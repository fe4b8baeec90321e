//! The blocking UDP packet client (EasyNetwork's `UDPNetworkClient`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::Duration;

use packetwire_proto::{
    DatagramProtocol, DatagramSerializer, NoConverter, RecvConverter, SendConverter,
};

use super::datagram_client::{
    datagram_client_impls, datagram_client_methods, ClientCore, DatagramPacketIter,
};
use crate::client::datagram::{Received, Sent};
use crate::client::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::datagram::{self, IpFamily, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::net::ConnectError;
use crate::socket::adopt::inet_addr;

/// A blocking UDP client: a socket connected to one peer, sending and receiving whole
/// packets through a [`DatagramProtocol`] (EasyNetwork's `UDPNetworkClient`).
///
/// Open one with [`UdpClient::connect`] or [`UdpClientOptions`] (address family, local
/// address, receive size, resolution timeout), or adopt a connected socket with
/// [`UdpClient::from_std`] / [`UdpClient::from_socket`]. The async client of the same name is
/// [`client::UdpClient`](crate::client::UdpClient).
///
/// Being connected, the socket only gets datagrams from its peer: the kernel drops the
/// others. Each datagram is one packet; one that does not parse is a
/// [`RecvPacketError::Parse`] and the next call gets the next packet. A datagram larger than
/// [`max_recv_size`](Self::max_recv_size) (64 KiB by default, enough for any UDP datagram) is
/// discarded whole ([`RecvPacketError::DatagramTooLarge`]), never cut. An ICMP "port
/// unreachable" for a datagram sent earlier is reported once by the next send or receive, as
/// [`SendPacketError::Refused`] / [`RecvPacketError::Refused`].
///
/// # Threads
///
/// `UdpClient` is `Send + Sync`: share it by reference or in an `Arc`. Sends and receives take
/// separate locks, so one thread can wait in [`recv_packet`](Self::recv_packet) while others
/// send; concurrent sends each go out as a whole datagram. The timeouts of the `*_within`
/// methods count the wait for the lock. [`close`](Self::close) from another thread wakes a
/// receiving thread, which returns [`RecvPacketError::Closed`].
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::UdpClient;
/// use packetwire::client::RecvPacketError;
/// use packetwire::{DatagramProtocol, JsonSerializer};
/// use serde_json::{json, Value};
///
/// // An echo server made with a standard socket.
/// let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let port = server.local_addr()?.port();
/// let echo = std::thread::spawn(move || -> std::io::Result<()> {
///     let mut buf = [0u8; 1024];
///     let (len, from) = server.recv_from(&mut buf)?;
///     server.send_to(&buf[..len], from)?;
///     Ok(())
/// });
///
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let client = UdpClient::connect("127.0.0.1", port, protocol)?;
/// client.send_packet(&json!({"data": 42}))?;
/// assert_eq!(client.recv_packet()?, json!({"data": 42}));
/// assert!(matches!(
///     client.recv_packet_within(Duration::from_millis(10)),
///     Err(RecvPacketError::TimedOut)
/// ));
/// echo.join().unwrap()?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct UdpClient<S: DatagramSerializer, C = NoConverter> {
    core: ClientCore<S, C>,
}

impl<S, C> UdpClient<S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to `host:port` with the default options: resolves `host` on this thread, then
    /// uses the first address a socket can be connected to. Connecting a UDP socket sends
    /// nothing: a peer that is not there shows as [`SendPacketError::Refused`] or
    /// [`RecvPacketError::Refused`] later.
    pub fn connect(
        host: &str,
        port: u16,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UdpClientOptions::new().connect(host, port, protocol)
    }

    /// Adopts a connected standard UDP socket; the client owns it from now on. A socket of
    /// the wrong type or family, or not connected, is a [`ClientConnectError::Adopt`] error.
    /// The socket is switched to non-blocking mode.
    pub fn from_std(
        socket: std::net::UdpSocket,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        Self::adopt(OwnedFd::from(socket), protocol, DEFAULT_MAX_DATAGRAM_SIZE)
    }

    /// Adopts a connected [`blocking::UdpSocket`](crate::blocking::UdpSocket), keeping its
    /// [`max_datagram_size`](crate::blocking::UdpSocket::max_datagram_size) as the receive
    /// size (its timeouts do not carry over: the client's methods take their own).
    pub fn from_socket(
        socket: super::UdpSocket,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        let max = socket.max_datagram_size();
        Self::adopt(socket.into_fd(), protocol, max)
    }

    fn adopt(
        fd: OwnedFd,
        protocol: DatagramProtocol<S, C>,
        max: usize,
    ) -> Result<Self, ClientConnectError> {
        datagram::adopt_udp(&fd)?;
        Ok(Self {
            core: ClientCore::adopt(fd, protocol, max)?,
        })
    }

    /// Sends one packet to the peer, waiting as long as it takes for room in the socket
    /// buffer. [`SendPacketError::Serialize`] if the packet cannot be serialized (nothing is
    /// sent).
    pub fn send_packet(&self, packet: &Sent<S, C>) -> Result<(), SendPacketError> {
        self.core.send_packet(packet, None)
    }

    /// Receives the next packet from the peer, waiting as long as it takes.
    pub fn recv_packet(&self) -> Result<Received<S, C>, RecvPacketError> {
        self.core.recv_packet(None)
    }

    /// The packets received within a time budget, as an iterator (EasyNetwork's
    /// `iter_received_packets`).
    ///
    /// `timeout` counts the time spent waiting in the iterator, not between items:
    /// `Some(Duration::ZERO)` gives the datagrams already there, `None` waits without limit.
    /// The iteration ends (without an error item) at the first error: the budget spent, the
    /// client closed, a datagram that does not parse, ...;
    /// [`DatagramPacketIter::error`] tells which.
    ///
    /// ```
    /// use std::time::Duration;
    /// use packetwire::blocking::UdpClient;
    /// use packetwire::client::RecvPacketError;
    /// use packetwire::{DatagramProtocol, JsonSerializer};
    /// use serde_json::Value;
    ///
    /// let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
    /// let client = UdpClient::connect("127.0.0.1", server.local_addr()?.port(), protocol)?;
    /// server.connect(client.local_addr()?)?;
    /// for datagram in ["1", "2", "not json", "3"] {
    ///     server.send(datagram.as_bytes())?;
    /// }
    /// let mut packets = client.iter_received_packets(Some(Duration::from_millis(100)));
    /// assert_eq!(packets.by_ref().collect::<Vec<Value>>(), [1, 2]);
    /// assert!(matches!(packets.error(), Some(RecvPacketError::Parse(_))));
    /// // The next iteration goes on after the bad datagram, until the budget is spent.
    /// let mut packets = client.iter_received_packets(Some(Duration::from_millis(100)));
    /// assert_eq!(packets.by_ref().collect::<Vec<Value>>(), [3]);
    /// assert!(matches!(packets.error(), Some(RecvPacketError::TimedOut)));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter_received_packets(&self, timeout: Option<Duration>) -> DatagramPacketIter<'_, S, C> {
        DatagramPacketIter::new(&self.core, timeout)
    }

    /// Closes the client (idempotent). A thread waiting in a receive or a send returns
    /// [`RecvPacketError::Closed`] / [`SendPacketError::Closed`], as does every later call.
    ///
    /// The socket is shut down at once; its descriptor is closed when the client is dropped,
    /// so that no thread still inside a call can see the descriptor number reused.
    pub fn close(&self) {
        self.core.close();
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(socket2::SockRef::from(self).local_addr()?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(socket2::SockRef::from(self).peer_addr()?)
    }

    datagram_client_methods!();
}

datagram_client_impls!(UdpClient);

/// How to open a blocking [`UdpClient`]: address family, local address, receive size and a
/// timeout for the name resolution (the only part of a UDP connect that can wait).
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::UdpClientOptions;
/// use packetwire::net::IpFamily;
/// use packetwire::{DatagramProtocol, JsonSerializer};
///
/// let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let client = UdpClientOptions::new()
///     .family(IpFamily::V4)
///     .local_addr("127.0.0.1:0".parse()?)
///     .max_recv_size(1500)
///     .connect_timeout(Duration::from_secs(5))
///     .connect(
///         "localhost",
///         server.local_addr()?.port(),
///         DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new()),
///     )?;
/// assert_eq!(client.peer_addr()?, server.local_addr()?);
/// assert_eq!(client.max_recv_size(), 1500);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UdpClientOptions {
    family: IpFamily,
    local_addr: Option<SocketAddr>,
    max_recv_size: usize,
    connect_timeout: Option<Duration>,
}

impl Default for UdpClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UdpClientOptions {
    /// Any family, no local address, a 64 KiB receive size, no timeout.
    pub fn new() -> Self {
        Self {
            family: IpFamily::Any,
            local_addr: None,
            max_recv_size: DEFAULT_MAX_DATAGRAM_SIZE,
            connect_timeout: None,
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

    /// How long resolving the host name may take ([`ConnectError::TimedOut`] then).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Connects to `host:port` (see [`UdpClient::connect`]).
    pub fn connect<S, C>(
        &self,
        host: &str,
        port: u16,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UdpClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let addrs = resolve_within(host, port, self.connect_timeout)?;
        self.connect_addrs_for(host, &addrs, protocol)
    }

    /// Connects to the first of `addrs` that works.
    pub fn connect_addrs<S, C>(
        &self,
        addrs: &[SocketAddr],
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UdpClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        self.connect_addrs_for("", addrs, protocol)
    }

    fn connect_addrs_for<S, C>(
        &self,
        host: &str,
        addrs: &[SocketAddr],
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UdpClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let addrs = datagram::usable(addrs, self.family, self.local_addr);
        let fd = datagram::connect_udp(host, &addrs, self.local_addr)?;
        Ok(UdpClient {
            core: ClientCore::new(fd, protocol, self.max_recv_size),
        })
    }
}

/// Resolves `host`, giving up after `timeout` (the lookup then finishes on its own thread,
/// unobserved: `getaddrinfo` cannot be cancelled).
fn resolve_within(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let resolve_error = |source| ConnectError::Resolve {
        host: host.to_owned(),
        source,
    };
    let Some(timeout) = timeout else {
        return datagram::resolve_blocking(host, port).map_err(resolve_error);
    };
    if datagram::bind_literal(host, port, IpFamily::Any).is_some() && !host.is_empty() {
        return datagram::resolve_blocking(host, port).map_err(resolve_error);
    }
    let (sender, receiver) = mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("packetwire-resolve".into())
        .spawn(move || {
            let _ = sender.send(datagram::resolve_blocking(&name, port));
        })
        .map_err(ConnectError::Io)?;
    match receiver.recv_timeout(timeout) {
        Ok(result) => result.map_err(resolve_error),
        Err(_) => Err(ConnectError::TimedOut),
    }
}
