//! The blocking Unix datagram packet client (EasyNetwork's `UnixDatagramClient`).

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use packetwire_proto::{
    DatagramProtocol, DatagramSerializer, NoConverter, RecvConverter, SendConverter,
};

use super::datagram_client::{
    datagram_client_impls, datagram_client_methods, ClientCore, DatagramPacketIter,
};
use crate::client::datagram::{ensure_named, Received, Sent};
use crate::client::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::datagram::{self, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::os;
use crate::unix::{AddressError, Credentials, SocketAncillary, UnixSocketAddress};

/// A blocking Unix datagram client: a socket connected to one named peer, sending and
/// receiving whole packets through a [`DatagramProtocol`], with descriptors and credentials
/// if you like (EasyNetwork's `UnixDatagramClient`).
///
/// Open one with [`UnixDatagramClient::connect`] (a path, or `@name` for a Linux abstract
/// name), [`connect_addr`](Self::connect_addr) or [`UnixDatagramClientOptions`], or adopt a
/// connected socket with [`from_std`](Self::from_std) / [`from_socket`](Self::from_socket).
/// The peer can only answer a socket that has a name: without a local path the client's
/// socket is auto-bound to an abstract name the kernel picks (Linux). The async client of
/// the same name is [`client::UnixDatagramClient`](crate::client::UnixDatagramClient).
///
/// Everything said of [`UdpClient`](crate::blocking::UdpClient) holds here: parse errors,
/// `max_recv_size` and [`RecvPacketError::DatagramTooLarge`], timeouts counting the lock wait,
/// separate send and receive locks, `close` waking a blocked receive. A peer that is gone
/// makes sends fail with [`SendPacketError::Refused`].
///
/// ```
/// use packetwire::blocking::UnixDatagramClient;
/// use packetwire::unix::UnixSocketAddress;
/// use packetwire::{DatagramProtocol, JsonSerializer};
/// use serde_json::{json, Value};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("app.sock");
/// let server = std::os::unix::net::UnixDatagram::bind(&path)?;
///
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let client = UnixDatagramClient::connect(&path, protocol)?;
/// assert_eq!(client.peer_addr()?, UnixSocketAddress::from_pathname(&path)?);
/// client.send_packet(&json!({"data": 42}))?;
///
/// let mut buf = [0u8; 1024];
/// let (len, from) = server.recv_from(&mut buf)?;
/// assert_eq!(&buf[..len], br#"{"data":42}"#);
/// // The client was auto-bound, so the server can answer.
/// server.send_to_addr(b"[1,2]", &from)?;
/// assert_eq!(client.recv_packet()?, json!([1, 2]));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct UnixDatagramClient<S: DatagramSerializer, C = NoConverter> {
    core: ClientCore<S, C>,
}

impl<S, C> UnixDatagramClient<S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to the socket at `path` (`@name`: a Linux abstract name) with the default
    /// options, auto-bound so the peer can answer. A path nobody is bound to is a
    /// [`ClientConnectError::Connect`] error.
    pub fn connect(
        path: impl AsRef<Path>,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixDatagramClientOptions::new().connect(path, protocol)
    }

    /// Connects to `addr` (a path or an abstract name) with the default options.
    pub fn connect_addr(
        addr: &UnixSocketAddress,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixDatagramClientOptions::new().connect_addr(addr, protocol)
    }

    /// Adopts a connected standard Unix datagram socket; the client owns it from now on. A
    /// socket of the wrong type or family, or not connected, is a
    /// [`ClientConnectError::Adopt`] error. An unnamed socket is auto-bound, so the peer can
    /// answer. The socket is switched to non-blocking mode.
    pub fn from_std(
        socket: std::os::unix::net::UnixDatagram,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        Self::adopt(OwnedFd::from(socket), protocol, DEFAULT_MAX_DATAGRAM_SIZE)
    }

    /// Adopts a connected [`blocking::UnixDatagram`](crate::blocking::UnixDatagram), keeping
    /// its [`max_datagram_size`](crate::blocking::UnixDatagram::max_datagram_size) as the
    /// receive size.
    pub fn from_socket(
        socket: super::UnixDatagram,
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
        datagram::adopt_unix_datagram(&fd)?;
        let core = ClientCore::adopt(fd, protocol, max)?;
        ensure_named(core.fd())?;
        Ok(Self { core })
    }

    /// Sends one packet to the peer, waiting while its queue is full.
    pub fn send_packet(&self, packet: &Sent<S, C>) -> Result<(), SendPacketError> {
        self.core.send_packet(packet, None)
    }

    /// Sends one packet with ancillary data: descriptors (`SCM_RIGHTS`, which stay open here:
    /// the peer gets duplicates) and credentials (`SCM_CREDENTIALS`).
    ///
    /// ```
    /// use packetwire::blocking::UnixDatagramClient;
    /// use packetwire::unix::SocketAncillary;
    /// use packetwire::{DatagramProtocol, JsonSerializer};
    /// use serde_json::json;
    ///
    /// let (mine, theirs) = std::os::unix::net::UnixDatagram::pair()?;
    /// let protocol = DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new());
    /// let client = UnixDatagramClient::from_std(mine, protocol.clone())?;
    /// let peer = UnixDatagramClient::from_std(theirs, protocol)?;
    ///
    /// let (_reader, writer) = packetwire::os::pipe()?;
    /// let mut ancillary = SocketAncillary::new();
    /// ancillary.add_fd(&writer);
    /// client.send_packet_with_ancillary(&json!({"data": 42}), &ancillary)?;
    ///
    /// let mut received = SocketAncillary::new();
    /// assert_eq!(peer.recv_packet_with_ancillary(&mut received)?, json!({"data": 42}));
    /// assert_eq!(received.take_fds().len(), 1);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_packet_with_ancillary(
        &self,
        packet: &Sent<S, C>,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        self.core.send_with(packet, None, |fd, datagram| {
            os::send_with_ancillary(fd, &[IoSlice::new(datagram)], ancillary, None)
        })
    }

    /// Receives the next packet from the peer, waiting as long as it takes. Descriptors sent
    /// with it are discarded by the kernel: use
    /// [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary) to get them.
    pub fn recv_packet(&self) -> Result<Received<S, C>, RecvPacketError> {
        self.core.recv_packet(None)
    }

    /// Receives the next packet and its ancillary data, which is appended to `ancillary`
    /// (received descriptors are owned by it; credentials come with every datagram once
    /// [`set_passcred`](Self::set_passcred) is on).
    ///
    /// Control data larger than
    /// [`ancillary.recv_capacity()`](SocketAncillary::recv_capacity) (8 KiB by default, as
    /// EasyNetwork's) is a [`RecvPacketError::ControlTruncated`] error: the datagram is
    /// dropped and the descriptors that arrived are closed. A datagram that does not parse is
    /// a [`RecvPacketError::Parse`] error, and its ancillary data is still appended.
    ///
    /// ```
    /// use packetwire::blocking::UnixDatagramClient;
    /// use packetwire::unix::{Credentials, SocketAncillary};
    /// use packetwire::{DatagramProtocol, JsonSerializer};
    ///
    /// let (mine, theirs) = std::os::unix::net::UnixDatagram::pair()?;
    /// let client = UnixDatagramClient::from_std(
    ///     mine,
    ///     DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new()),
    /// )?;
    /// client.set_passcred(true)?;
    /// theirs.send(b"\"who am I?\"")?;
    ///
    /// let mut ancillary = SocketAncillary::new();
    /// assert_eq!(client.recv_packet_with_ancillary(&mut ancillary)?, "who am I?");
    /// assert_eq!(ancillary.credentials().next(), Some(Credentials::current()));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_packet_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.recv_with_ancillary(ancillary, None)
    }

    /// As [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary), waiting at most
    /// `timeout` in all.
    pub fn recv_packet_with_ancillary_within(
        &self,
        ancillary: &mut SocketAncillary<'_>,
        timeout: Duration,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.recv_with_ancillary(ancillary, Some(timeout))
    }

    fn recv_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
        timeout: Option<Duration>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.core
            .recv_with(timeout, |fd, buf| {
                Ok((os::recv_with_ancillary(fd, buf, ancillary)?.len, ()))
            })
            .map(|(packet, ())| packet)
    }

    /// The packets received within a time budget, as an iterator; see
    /// [`UdpClient::iter_received_packets`](crate::blocking::UdpClient::iter_received_packets).
    pub fn iter_received_packets(&self, timeout: Option<Duration>) -> DatagramPacketIter<'_, S, C> {
        DatagramPacketIter::new(&self.core, timeout)
    }

    /// Closes the client (idempotent); see [`UdpClient::close`](crate::blocking::UdpClient::close).
    /// The socket is shut down at once, so the peer's sends to it fail; a local socket file
    /// is never removed.
    pub fn close(&self) {
        self.core.close();
    }

    /// Enables or disables receiving the sender's credentials with each datagram
    /// (`SO_PASSCRED`), in [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary).
    pub fn set_passcred(&self, enable: bool) -> io::Result<()> {
        os::set_passcred(self.as_fd(), enable)
    }

    /// Whether `SO_PASSCRED` is on.
    pub fn passcred(&self) -> io::Result<bool> {
        os::passcred(self.as_fd())
    }

    /// The peer's credentials from when the socket was connected (`SO_PEERCRED`: known for a
    /// socket pair; the kernel reports nothing useful for a datagram socket connected by
    /// name, whose sender credentials come with each datagram instead).
    pub fn peer_credentials(&self) -> io::Result<Credentials> {
        os::peer_credentials(self.as_fd())
    }

    /// The local name (EasyNetwork's `get_local_name`).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddress> {
        os::unix_local_address(self.as_fd())
    }

    /// The peer's name (EasyNetwork's `get_peer_name`).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddress> {
        os::unix_peer_address(self.as_fd())
    }

    datagram_client_methods!();
}

datagram_client_impls!(UnixDatagramClient);

/// How to open a blocking [`UnixDatagramClient`]: its local name and receive size.
///
/// Connecting a Unix datagram socket never waits, so there is no connect timeout.
///
/// ```
/// use packetwire::blocking::UnixDatagramClientOptions;
/// use packetwire::{DatagramProtocol, JsonSerializer};
///
/// let dir = tempfile::tempdir()?;
/// let server_path = dir.path().join("server.sock");
/// let _server = std::os::unix::net::UnixDatagram::bind(&server_path)?;
/// let client = UnixDatagramClientOptions::new()
///     .local_path(dir.path().join("client.sock"))
///     .max_recv_size(4096)
///     .connect(&server_path, DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new()))?;
/// assert_eq!(
///     client.local_addr()?.as_pathname(),
///     Some(dir.path().join("client.sock").as_path())
/// );
/// assert_eq!(client.max_recv_size(), 4096);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UnixDatagramClientOptions {
    local: Option<Result<UnixSocketAddress, AddressError>>,
    max_recv_size: usize,
}

impl Default for UnixDatagramClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixDatagramClientOptions {
    /// An auto-bound local name, a 64 KiB receive size.
    pub fn new() -> Self {
        Self {
            local: None,
            max_recv_size: DEFAULT_MAX_DATAGRAM_SIZE,
        }
    }

    /// Binds the client's socket to this path (`@name`: a Linux abstract name) first. The
    /// client never removes the file. A path that cannot be a socket address makes
    /// `connect` fail.
    pub fn local_path(mut self, path: impl AsRef<Path>) -> Self {
        self.local = Some(datagram::unix_address(path.as_ref()));
        self
    }

    /// As [`local_path`](Self::local_path), with an address
    /// ([`Unnamed`](UnixSocketAddress::Unnamed): auto-bind, the default).
    pub fn local_addr(mut self, addr: UnixSocketAddress) -> Self {
        self.local = Some(Ok(addr));
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

    pub(crate) fn local(&self) -> io::Result<Option<UnixSocketAddress>> {
        Ok(self.local.clone().transpose()?)
    }

    /// Connects to `path` (`@name`: a Linux abstract name).
    pub fn connect<S, C>(
        &self,
        path: impl AsRef<Path>,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UnixDatagramClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let addr = datagram::unix_address(path.as_ref()).map_err(io::Error::from)?;
        self.connect_addr(&addr, protocol)
    }

    /// Connects to `addr`.
    pub fn connect_addr<S, C>(
        &self,
        addr: &UnixSocketAddress,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UnixDatagramClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let local = self.local()?;
        let fd = datagram::connect_unix_datagram(local.as_ref(), true, addr)?;
        Ok(UnixDatagramClient {
            core: ClientCore::new(fd, protocol, self.max_recv_size),
        })
    }
}
