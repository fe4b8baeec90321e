//! The async Unix stream packet client (EasyNetwork's `AsyncUnixStreamClient`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use packetwire_proto::{
    NoConverter, RecvConverter, SendConverter, StreamProtocol, StreamSerializer,
};

use super::stream::{async_stream_client_impls, async_stream_client_methods, Adopted, Core};
use super::stream_reader::{clamp_recv_size, Received, Sent, DEFAULT_MAX_RECV_SIZE};
use super::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::net::{UnixConnectOptions, UnixStream};
use crate::runtime::{BoxFuture, NoRuntime, Runtime};
use crate::unix::{Credentials, SocketAncillary, UnixSocketAddress};

/// An async Unix stream client that sends and receives whole packets of a
/// [`StreamProtocol`], with descriptor passing and credentials, on tokio, smol or any
/// [`Runtime`](crate::runtime::Runtime).
///
/// The same rules as [`TcpClient`](super::TcpClient): separate receive and send locks,
/// whole concurrent sends, cancel-safe [`recv_packet`](Self::recv_packet), `close` wakes a
/// waiting receiver, a `Stream` ([`packets`](Self::packets)) and a `Sink`
/// ([`sink`](Self::sink)).
///
/// ```
/// # #[cfg(all(feature = "tokio", feature = "json"))]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::client::UnixStreamClient;
/// use packetwire::{JsonSerializer, StreamProtocol};
/// use serde_json::{json, Value};
///
/// let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
/// let (a, b) = packetwire::net::socketpair()?;
/// let a = UnixStreamClient::from_socket(a, protocol.clone());
/// let b = UnixStreamClient::from_socket(b, protocol);
/// a.send_packet(&json!({"ping": 1})).await?;
/// assert_eq!(b.recv_packet_within(Duration::from_secs(5)).await?, json!({"ping": 1}));
/// assert_eq!(b.peer_credentials()?.pid, std::process::id() as i32);
/// a.send_eof().await?;
/// assert!(b.recv_packet().await.is_err()); // EndOfStream; `b` can still send
/// b.send_packet(&json!("pong")).await?;
/// assert_eq!(a.recv_packet().await?, json!("pong"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct UnixStreamClient<S: StreamSerializer, C = NoConverter> {
    core: Core<S, C>,
}

impl<S, C> UnixStreamClient<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to the socket at `path` (`@name`: a Linux abstract name) with the default
    /// options, on the current runtime.
    pub async fn connect(
        path: impl AsRef<Path>,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixStreamClientOptions::new().connect(path, protocol).await
    }

    /// Connects to `addr` (a path or an abstract name) with the default options.
    pub async fn connect_addr(
        addr: &UnixSocketAddress,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixStreamClientOptions::new()
            .connect_addr(addr, protocol)
            .await
    }

    /// Adopts a connected standard Unix stream (ownership passes to the client), on the
    /// current runtime. A socket that is not a Unix stream socket or not connected is a
    /// [`ClientConnectError::Adopt`] error.
    pub fn from_std(
        stream: std::os::unix::net::UnixStream,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        Ok(Self::from_socket(UnixStream::from_std(stream)?, protocol))
    }

    /// Takes over a packetwire Unix stream, on its runtime, with the bytes it had buffered
    /// and its `send_eof` state.
    pub fn from_socket(stream: UnixStream, protocol: StreamProtocol<S, C>) -> Self {
        let runtime = Arc::clone(stream.runtime());
        Self {
            core: Core::from_split(stream.into_split(), protocol, runtime),
        }
    }

    /// The local address (`NotConnected` before a lazy client connects).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddress> {
        crate::os::unix_local_address(self.core.fd_or_error()?)
    }

    /// The peer's address (`NotConnected` before a lazy client connects).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddress> {
        crate::os::unix_peer_address(self.core.fd_or_error()?)
    }

    /// The credentials of the peer process from when the connection was made
    /// (`SO_PEERCRED`).
    pub fn peer_credentials(&self) -> io::Result<Credentials> {
        crate::os::peer_credentials(self.core.fd_or_error()?)
    }

    /// Enables or disables receiving the sender's credentials with the data (`SO_PASSCRED`),
    /// in [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary).
    pub fn set_passcred(&self, enable: bool) -> io::Result<()> {
        crate::os::set_passcred(self.core.fd_or_error()?, enable)
    }

    /// Sends one packet, whole, with `ancillary` (descriptors, credentials) attached to its
    /// first byte. The peer must receive that byte with `recvmsg(2)` asking for control data
    /// (as [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary) does), or the
    /// kernel closes the descriptors. Not cancel-safe, like
    /// [`send_packet`](Self::send_packet).
    ///
    /// ```
    /// # #[cfg(all(feature = "tokio", feature = "json"))]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use packetwire::client::UnixStreamClient;
    /// use packetwire::unix::{Credentials, SocketAncillary};
    /// use packetwire::{JsonSerializer, StreamProtocol};
    /// use serde_json::json;
    ///
    /// let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
    /// let (a, b) = packetwire::net::socketpair()?;
    /// let (a, b) = (
    ///     UnixStreamClient::from_socket(a, protocol.clone()),
    ///     UnixStreamClient::from_socket(b, protocol),
    /// );
    /// b.set_passcred(true)?;
    /// let (_reader, writer) = packetwire::os::pipe()?;
    /// let mut out = SocketAncillary::new();
    /// out.add_fd(&writer);
    /// a.send_packet_with_ancillary(&json!("a pipe"), &out).await?;
    ///
    /// let mut anc = SocketAncillary::new();
    /// assert_eq!(b.recv_packet_with_ancillary(&mut anc).await?, json!("a pipe"));
    /// assert_eq!(anc.take_fds().len(), 1);
    /// assert_eq!(anc.credentials().next(), Some(Credentials::current()));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send_packet_with_ancillary(
        &self,
        packet: &Sent<S, C>,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        self.core.send(packet, Some(ancillary)).await
    }

    /// Receives the next packet with the ancillary data that came with its bytes (appended
    /// to `ancillary`): every read made while the packet arrives is a `recvmsg(2)` asking for
    /// control data. Bytes already buffered by an earlier plain receive came without theirs.
    /// Cancel-safe (descriptors received before the future is dropped stay in
    /// `ancillary`).
    ///
    /// [`RecvPacketError::ControlTruncated`] when the control data did not fit in
    /// `ancillary`'s receive capacity (the descriptors that came were closed).
    pub async fn recv_packet_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.core.recv(Some(ancillary)).await
    }

    async_stream_client_methods!();
}

async_stream_client_impls!(UnixStreamClient);

/// What a Unix client connects to.
#[derive(Debug, Clone)]
enum Target {
    Path(PathBuf),
    Addr(UnixSocketAddress),
}

/// The options of an async [`UnixStreamClient`]: connect timeout, local path, receive size
/// and runtime; then [`connect`](Self::connect), [`connect_addr`](Self::connect_addr) or
/// their lazy forms.
///
/// ```
/// # #[cfg(all(feature = "tokio", feature = "json"))]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::client::UnixStreamClientOptions;
/// use packetwire::unix::UnixSocketAddress;
/// use packetwire::{JsonSerializer, StreamProtocol};
///
/// let name = format!("packetwire-doc-async-client-{}", std::process::id());
/// let addr = UnixSocketAddress::from_abstract_name(&name)?;
/// let listener = packetwire::unix::bind_listener(&addr, 1)?;
/// let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
/// let client = UnixStreamClientOptions::new()
///     .connect_timeout(Duration::from_secs(5))
///     .connect_addr_lazy(&addr, protocol)?;
/// client.wait_connected().await?;
/// assert_eq!(client.peer_addr()?, addr);
/// # drop(listener);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct UnixStreamClientOptions {
    unix: UnixConnectOptions,
    max_recv_size: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UnixStreamClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixStreamClientOptions {
    /// The defaults: no connect timeout, no local path, 64 KiB reads, the current runtime.
    pub fn new() -> Self {
        Self {
            unix: UnixConnectOptions::new(),
            max_recv_size: DEFAULT_MAX_RECV_SIZE,
            runtime: None,
        }
    }

    /// A timeout for connecting.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.unix = self.unix.timeout(timeout);
        self
    }

    /// Binds the socket to this path (`@name`: an abstract name) before connecting.
    pub fn local_path(mut self, path: impl AsRef<Path>) -> Self {
        self.unix = self.unix.local_path(path);
        self
    }

    /// How many bytes one read asks for at most (64 KiB by default; at least 1).
    pub fn max_recv_size(mut self, size: usize) -> Self {
        self.max_recv_size = clamp_recv_size(size);
        self
    }

    /// The runtime to run on, instead of the current one.
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Connects to the socket at `path` (`@name`: a Linux abstract name) now.
    pub async fn connect<S, C>(
        &self,
        path: impl AsRef<Path>,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, ClientConnectError>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        self.connect_target(Target::Path(path.as_ref().to_owned()), protocol)
            .await
    }

    /// Connects to `addr` (a path or an abstract name) now.
    pub async fn connect_addr<S, C>(
        &self,
        addr: &UnixSocketAddress,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, ClientConnectError>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        self.connect_target(Target::Addr(addr.clone()), protocol)
            .await
    }

    /// A client that connects to `path` on first use; no I/O now. Fails only when no
    /// runtime is given and none is current.
    pub fn connect_lazy<S, C>(
        &self,
        path: impl AsRef<Path>,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, NoRuntime>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        self.lazy(Target::Path(path.as_ref().to_owned()), protocol)
    }

    /// A client that connects to `addr` on first use; no I/O now.
    pub fn connect_addr_lazy<S, C>(
        &self,
        addr: &UnixSocketAddress,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, NoRuntime>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        self.lazy(Target::Addr(addr.clone()), protocol)
    }

    async fn connect_target<S, C>(
        &self,
        target: Target,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, ClientConnectError>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let establish = |runtime| self.clone().establish(target, runtime);
        let core = Core::connect(
            self.runtime.as_ref(),
            self.max_recv_size,
            protocol,
            establish,
        );
        Ok(UnixStreamClient { core: core.await? })
    }

    fn lazy<S, C>(
        &self,
        target: Target,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, NoRuntime>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let options = self.clone();
        let establish = move |runtime: Arc<dyn Runtime>| -> BoxFuture<_> {
            Box::pin(options.clone().establish(target.clone(), runtime))
        };
        let core = Core::lazy(
            self.runtime.as_ref(),
            self.max_recv_size,
            protocol,
            establish,
        );
        Ok(UnixStreamClient { core: core? })
    }

    async fn establish(
        self,
        target: Target,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Adopted, ClientConnectError> {
        let options = self.unix.runtime(runtime);
        let stream = match &target {
            Target::Path(path) => options.connect(path).await?,
            Target::Addr(addr) => options.connect_addr(addr).await?,
        };
        let (read, write) = stream.into_split();
        Ok(Adopted::from_halves(read, write))
    }
}
