//! The async Unix datagram packet client (EasyNetwork's `AsyncUnixDatagramClient`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use packetwire_proto::{
    DatagramProtocol, DatagramSerializer, NoConverter, RecvConverter, SendConverter,
};

use super::datagram::{
    self as common, async_datagram_client_impls, async_datagram_client_methods, ensure_named,
    AsyncCore, Connector, DatagramPacketIter, Received, Sent,
};
use super::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::datagram::{self, DEFAULT_MAX_DATAGRAM_SIZE};
use crate::net::{self, AdoptError, ConnectError};
use crate::os;
use crate::runtime::{self, Runtime};
use crate::unix::{AddressError, Credentials, SocketAncillary, UnixSocketAddress};

/// How a lazy Unix datagram client connects.
#[derive(Debug)]
pub(crate) struct UnixConnector {
    options: UnixDatagramClientOptions,
    peer: Result<UnixSocketAddress, AddressError>,
}

impl Connector for UnixConnector {
    type Socket = net::UnixDatagram;

    fn runtime(&self) -> Option<&Arc<dyn Runtime>> {
        self.options.runtime.as_ref()
    }

    async fn connect(&self) -> Result<net::UnixDatagram, ClientConnectError> {
        let peer = self.peer.clone().map_err(io::Error::from)?;
        self.options.open(&peer).await
    }
}

/// An async Unix datagram client: a socket connected to one named peer, sending and
/// receiving whole packets through a [`DatagramProtocol`], with descriptors and credentials
/// if you like (EasyNetwork's `AsyncUnixDatagramClient`), on any [`Runtime`].
///
/// Open one with [`UnixDatagramClient::connect`] (a path, or `@name` for a Linux abstract
/// name), [`connect_addr`](Self::connect_addr) or [`UnixDatagramClientOptions`] (local name,
/// receive size, runtime, [`connect_lazy`](UnixDatagramClientOptions::connect_lazy)), or
/// adopt a connected socket with [`from_std`](Self::from_std) /
/// [`from_socket`](Self::from_socket). Without a local path the socket is auto-bound to an
/// abstract name, so the peer can answer. The blocking client of the same name is
/// [`blocking::UnixDatagramClient`](crate::blocking::UnixDatagramClient).
///
/// What [`client::UdpClient`](crate::client::UdpClient) says about sharing between tasks,
/// errors, `close` and timeouts holds here too. A peer that is gone makes sends fail with
/// [`SendPacketError::Refused`].
///
/// # Cancel safety
///
/// The receive methods are cancel-safe: a datagram (and its ancillary data) is taken from
/// the socket only in the poll that returns its packet. A cancelled send sent its datagram
/// whole or not at all.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::client::UnixDatagramClient;
/// use packetwire::net::UnixDatagram;
/// use packetwire::{DatagramProtocol, JsonSerializer};
/// use serde_json::{json, Value};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("app.sock");
/// let server = UnixDatagram::bind(&path).await?;
///
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let client = UnixDatagramClient::connect(&path, protocol).await?;
/// println!("Remote address: {}", client.peer_addr()?);
/// client.send_packet(&json!({"data": 42})).await?;
///
/// let (datagram, from) = server.receive_from().await?;
/// assert_eq!(datagram, r#"{"data":42}"#);
/// server.send_to(b"\"pong\"", &from).await?;
/// assert_eq!(client.recv_packet().await?, json!("pong"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct UnixDatagramClient<S: DatagramSerializer, C = NoConverter> {
    core: AsyncCore<UnixConnector>,
    protocol: DatagramProtocol<S, C>,
    max_recv_size: usize,
}

impl<S, C> UnixDatagramClient<S, C>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to the socket at `path` (`@name`: a Linux abstract name) with the default
    /// options, on the current runtime.
    pub async fn connect(
        path: impl AsRef<Path>,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixDatagramClientOptions::new()
            .connect(path, protocol)
            .await
    }

    /// Connects to `addr` (a path or an abstract name) with the default options.
    pub async fn connect_addr(
        addr: &UnixSocketAddress,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixDatagramClientOptions::new()
            .connect_addr(addr, protocol)
            .await
    }

    /// Adopts a connected standard Unix datagram socket, on the current runtime; the client
    /// owns it from now on. A socket of the wrong type or family, or not connected, is a
    /// [`ClientConnectError::Adopt`] error. An unnamed socket is auto-bound.
    pub fn from_std(
        socket: std::os::unix::net::UnixDatagram,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        let fd = OwnedFd::from(socket);
        datagram::adopt_unix_datagram(&fd)?;
        Self::from_socket(net::UnixDatagram::from_std(fd.into())?, protocol)
    }

    /// Adopts a connected [`net::UnixDatagram`], keeping its runtime and its
    /// [`max_datagram_size`](net::UnixDatagram::max_datagram_size) as the receive size. An
    /// unnamed socket is auto-bound.
    pub fn from_socket(
        socket: net::UnixDatagram,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        if !os::is_connected(socket.as_fd())? {
            return Err(AdoptError::NotConnected.into());
        }
        ensure_named(socket.as_fd())?;
        Ok(Self {
            max_recv_size: socket.max_datagram_size(),
            core: AsyncCore::connected(socket),
            protocol,
        })
    }

    /// Sends one packet to the peer, waiting while its queue is full.
    pub async fn send_packet(&self, packet: &Sent<S, C>) -> Result<(), SendPacketError> {
        self.core.send_packet(&self.protocol, packet).await
    }

    /// Sends one packet with ancillary data: descriptors (which stay open here: the peer
    /// gets duplicates) and credentials.
    pub async fn send_packet_with_ancillary(
        &self,
        packet: &Sent<S, C>,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        self.core
            .send_packet_with(&self.protocol, packet, |socket, datagram| async move {
                socket.send_with_ancillary(&datagram, ancillary).await
            })
            .await
    }

    /// Receives the next packet from the peer. Descriptors sent with it are discarded by the
    /// kernel. Cancel-safe.
    pub async fn recv_packet(&self) -> Result<Received<S, C>, RecvPacketError> {
        self.core.recv_packet(&self.protocol, None).await
    }

    /// Receives the next packet and its ancillary data, appended to `ancillary` (see
    /// [`blocking::UnixDatagramClient::recv_packet_with_ancillary`](crate::blocking::UnixDatagramClient::recv_packet_with_ancillary)).
    /// Cancel-safe: `ancillary` is only changed by the poll that returns.
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use packetwire::client::UnixDatagramClient;
    /// use packetwire::unix::{AncillaryMessage, SocketAncillary};
    /// use packetwire::{DatagramProtocol, JsonSerializer};
    /// use serde_json::json;
    ///
    /// let (mine, theirs) = std::os::unix::net::UnixDatagram::pair()?;
    /// let protocol = DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new());
    /// let client = UnixDatagramClient::from_std(mine, protocol.clone())?;
    /// let peer = UnixDatagramClient::from_std(theirs, protocol)?;
    /// client.set_passcred(true)?;
    ///
    /// let (_reader, writer) = packetwire::os::pipe()?;
    /// let mut out = SocketAncillary::new();
    /// out.add_fd(&writer);
    /// peer.send_packet_with_ancillary(&json!({"data": 42}), &out).await?;
    ///
    /// let mut ancillary = SocketAncillary::new();
    /// let packet = client.recv_packet_with_ancillary(&mut ancillary).await?;
    /// assert_eq!(packet, json!({"data": 42}));
    /// for message in ancillary.messages() {
    ///     match message {
    ///         AncillaryMessage::Rights(fds) => println!("Received file descriptors: {fds:?}"),
    ///         AncillaryMessage::Credentials(creds) => println!("Received credentials: {creds:?}"),
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(ancillary.take_fds().len(), 1);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn recv_packet_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.recv_with_ancillary(ancillary, None).await
    }

    /// As [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary), within `timeout`.
    pub async fn recv_packet_with_ancillary_within(
        &self,
        ancillary: &mut SocketAncillary<'_>,
        timeout: Duration,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.recv_with_ancillary(ancillary, Some(timeout)).await
    }

    async fn recv_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
        timeout: Option<Duration>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        let receive = async {
            let socket = self.core.socket().await.map_err(common::connect_to_recv)?;
            let mut buffer = self.core.recv.lock().await;
            let max = socket.max_datagram_size();
            let now = common::try_receive_now(socket.as_fd(), &mut buffer, max, |fd, buf| {
                Ok((os::recv_with_ancillary(fd, buf, ancillary)?.len, ()))
            })?;
            if let Some((len, ())) = now {
                return common::decode(&self.protocol, &buffer[..len]);
            }
            if timeout == Some(Duration::ZERO) {
                return Err(RecvPacketError::TimedOut);
            }
            let (datagram, _from) = socket.receive_with_ancillary(ancillary).await?;
            drop(buffer);
            common::decode(&self.protocol, &datagram)
        };
        self.core.recv_within(timeout, receive).await
    }

    /// The packets received within a time budget, as a [`Stream`](futures_core::Stream); see
    /// [`client::UdpClient::iter_received_packets`](crate::client::UdpClient::iter_received_packets).
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
    /// returns `Closed`. The socket is shut down at once (the peer's sends to it fail); its
    /// descriptor is closed when the client is dropped. A local socket file is never removed.
    pub async fn close(&self) {
        self.core.close();
    }

    /// Enables or disables receiving the sender's credentials with each datagram
    /// (`SO_PASSCRED`) ([`io::ErrorKind::NotConnected`] before a lazy client connects).
    pub fn set_passcred(&self, enable: bool) -> io::Result<()> {
        self.core.socket_or_not_connected()?.set_passcred(enable)
    }

    /// Whether `SO_PASSCRED` is on.
    pub fn passcred(&self) -> io::Result<bool> {
        self.core.socket_or_not_connected()?.passcred()
    }

    /// The peer's credentials from when the socket was connected (`SO_PEERCRED`; see
    /// [`blocking::UnixDatagramClient::peer_credentials`](crate::blocking::UnixDatagramClient::peer_credentials)).
    pub fn peer_credentials(&self) -> io::Result<Credentials> {
        self.core.socket_or_not_connected()?.peer_credentials()
    }

    /// The local name ([`io::ErrorKind::NotConnected`] before a lazy client connects).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddress> {
        self.core.socket_or_not_connected()?.local_addr()
    }

    /// The peer's name ([`io::ErrorKind::NotConnected`] before a lazy client connects).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddress> {
        self.core.socket_or_not_connected()?.peer_addr()
    }

    async_datagram_client_methods!();
}

async_datagram_client_impls!(UnixDatagramClient);

/// How to open an async [`UnixDatagramClient`]: local name, receive size and runtime. Then
/// [`connect`](Self::connect), [`connect_addr`](Self::connect_addr) or
/// [`connect_lazy`](Self::connect_lazy). Connecting a Unix datagram socket never waits, so
/// there is no connect timeout.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::client::UnixDatagramClientOptions;
/// use packetwire::net::UnixDatagram;
/// use packetwire::{DatagramProtocol, JsonSerializer};
///
/// let dir = tempfile::tempdir()?;
/// let _server = UnixDatagram::bind(dir.path().join("server.sock")).await?;
/// let client = UnixDatagramClientOptions::new()
///     .local_path(dir.path().join("client.sock"))
///     .connect_lazy(
///         dir.path().join("server.sock"),
///         DatagramProtocol::new(JsonSerializer::<serde_json::Value>::new()),
///     );
/// client.wait_connected().await?;
/// assert!(client.local_addr()?.as_pathname().is_some());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct UnixDatagramClientOptions {
    local: Option<Result<UnixSocketAddress, AddressError>>,
    max_recv_size: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UnixDatagramClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixDatagramClientOptions {
    /// An auto-bound local name, a 64 KiB receive size, the current runtime.
    pub fn new() -> Self {
        Self {
            local: None,
            max_recv_size: DEFAULT_MAX_DATAGRAM_SIZE,
            runtime: None,
        }
    }

    /// Binds the client's socket to this path (`@name`: a Linux abstract name) first. The
    /// client never removes the file.
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

    /// Uses this runtime instead of [`runtime::current()`].
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Connects to `path` (`@name`: a Linux abstract name) now.
    pub async fn connect<S, C>(
        &self,
        path: impl AsRef<Path>,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UnixDatagramClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let addr = datagram::unix_address(path.as_ref()).map_err(io::Error::from)?;
        self.connect_addr(&addr, protocol).await
    }

    /// Connects to `addr` now.
    pub async fn connect_addr<S, C>(
        &self,
        addr: &UnixSocketAddress,
        protocol: DatagramProtocol<S, C>,
    ) -> Result<UnixDatagramClient<S, C>, ClientConnectError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let socket = self.open(addr).await?;
        UnixDatagramClient::from_socket(socket, protocol)
    }

    /// A client that connects to `path` (`@name`: a Linux abstract name) at its first use,
    /// or at [`wait_connected`](UnixDatagramClient::wait_connected). No I/O here; a bad path
    /// is reported then.
    pub fn connect_lazy<S, C>(
        &self,
        path: impl AsRef<Path>,
        protocol: DatagramProtocol<S, C>,
    ) -> UnixDatagramClient<S, C>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        UnixDatagramClient {
            core: AsyncCore::lazy(UnixConnector {
                options: self.clone(),
                peer: datagram::unix_address(path.as_ref()),
            }),
            protocol,
            max_recv_size: self.max_recv_size,
        }
    }

    async fn open(
        &self,
        peer: &UnixSocketAddress,
    ) -> Result<net::UnixDatagram, ClientConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref()).map_err(ConnectError::from)?;
        let mut options = net::UnixDatagramOptions::new()
            .max_datagram_size(self.max_recv_size)
            .runtime(rt);
        if let Some(local) = self.local.clone().transpose().map_err(io::Error::from)? {
            options = options.local_addr(local);
        }
        Ok(options.connect_addr(peer).await?)
    }
}
