//! The async TCP packet client (EasyNetwork's `AsyncTCPNetworkClient`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use packetwire_proto::{
    NoConverter, RecvConverter, SendConverter, StreamProtocol, StreamSerializer,
};

use super::stream::{async_stream_client_impls, async_stream_client_methods, Adopted, Core};
use super::stream_reader::{clamp_recv_size, DEFAULT_MAX_RECV_SIZE};
use super::ClientConnectError;
use crate::net::{TcpConnectOptions, TcpStream};
use crate::runtime::{BoxFuture, NoRuntime, Runtime};
use crate::socket::adopt::inet_addr;
use crate::socket::sys;

/// An async TCP client that sends and receives whole packets of a [`StreamProtocol`]
/// (optionally over TLS, feature `tls`), on tokio, smol or any
/// [`Runtime`](crate::runtime::Runtime).
///
/// Share it between tasks by reference or in an `Arc`: receiving and sending take separate
/// locks, concurrent sends each go out whole, [`recv_packet`](Self::recv_packet) is
/// cancel-safe, and [`close`](Self::close) wakes a task waiting for a packet. It is also a
/// [`Stream`](futures_core::Stream) of packets ([`packets`](Self::packets)) and a
/// [`Sink`](futures_sink::Sink) ([`sink`](Self::sink)).
///
/// ```
/// # #[cfg(all(feature = "tokio", feature = "json"))]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::client::TcpClient;
/// use packetwire::net::TcpListener;
/// use packetwire::{JsonSerializer, StreamProtocol};
/// use serde_json::{json, Value};
///
/// // An echo server, one line at a time.
/// let listener = TcpListener::bind("127.0.0.1", 0).await?;
/// let port = listener.local_addrs()[0].port();
/// let server = listener.serve(|mut stream| async move {
///     while let Ok(line) = stream.receive_line().await {
///         if stream.send_all(&line).await.is_err() {
///             break;
///         }
///     }
/// });
///
/// let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
/// let client = TcpClient::connect("127.0.0.1", port, protocol).await?;
/// client.send_packet(&json!({"hello": "world"})).await?;
/// let reply = client.recv_packet_within(Duration::from_secs(5)).await?;
/// assert_eq!(reply, json!({"hello": "world"}));
/// client.close().await;
/// # drop(server);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct TcpClient<S: StreamSerializer, C = NoConverter> {
    core: Core<S, C>,
}

impl<S, C> TcpClient<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to `host:port` (a name or an IP literal; Happy Eyeballs over the resolved
    /// addresses) with the default options, on the current runtime.
    pub async fn connect(
        host: &str,
        port: u16,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        TcpClientOptions::new().connect(host, port, protocol).await
    }

    /// Adopts a connected standard TCP stream (ownership passes to the client), on the
    /// current runtime. A socket that is not a TCP stream or not connected is a
    /// [`ClientConnectError::Adopt`] error.
    pub fn from_std(
        stream: std::net::TcpStream,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        Ok(Self::from_socket(TcpStream::from_std(stream)?, protocol))
    }

    /// Takes over a packetwire TCP stream, on its runtime, with the bytes it had buffered
    /// (the start of the first packet) and its `send_eof` state.
    pub fn from_socket(stream: TcpStream, protocol: StreamProtocol<S, C>) -> Self {
        let runtime = Arc::clone(stream.runtime());
        Self {
            core: Core::from_split(stream.into_split(), protocol, runtime),
        }
    }

    /// The local address (`NotConnected` before a lazy client connects).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(sys::sock(&self.core.fd_or_error()?).local_addr()?)
    }

    /// The peer's address (`NotConnected` before a lazy client connects).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(sys::sock(&self.core.fd_or_error()?).peer_addr()?)
    }

    /// Whether the connection runs over TLS (`false` before a lazy client connects).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.core.with_tls(|_| ()).is_some()
        }
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The server's certificate chain (TLS connections), end-entity first.
    #[cfg(feature = "tls")]
    pub fn peer_certificates(&self) -> Option<Vec<crate::tls::CertificateDer<'static>>> {
        self.core
            .with_tls(|tls| tls.peer_certificates().map(<[_]>::to_vec))
            .flatten()
    }

    async_stream_client_methods!();
}

async_stream_client_impls!(TcpClient);

/// The options of an async [`TcpClient`]: connect timeout, local address, receive size,
/// runtime and TLS; then [`connect`](Self::connect) or [`connect_lazy`](Self::connect_lazy).
///
/// ```
/// # #[cfg(all(feature = "tokio", feature = "json"))]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::client::TcpClientOptions;
/// use packetwire::{JsonSerializer, StreamProtocol};
///
/// let listener = packetwire::net::TcpListener::bind("127.0.0.1", 0).await?;
/// let port = listener.local_addrs()[0].port();
/// let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
/// let client = TcpClientOptions::new()
///     .connect_timeout(Duration::from_secs(5))
///     .max_recv_size(4096)
///     .connect_lazy("127.0.0.1", port, protocol)?;
/// assert!(!client.is_connected());
/// client.wait_connected().await?;
/// client.wait_connected().await?; // idempotent
/// assert_eq!(client.peer_addr()?.port(), port);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct TcpClientOptions {
    tcp: TcpConnectOptions,
    max_recv_size: usize,
    runtime: Option<Arc<dyn Runtime>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
}

impl Default for TcpClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpClientOptions {
    /// The defaults: no connect timeout, no local address, 64 KiB reads, the current
    /// runtime, no TLS.
    pub fn new() -> Self {
        Self {
            tcp: TcpConnectOptions::new(),
            max_recv_size: DEFAULT_MAX_RECV_SIZE,
            runtime: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A timeout for connecting (resolution and every address tried; the TLS handshake has
    /// the connector's own timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.tcp = self.tcp.timeout(timeout);
        self
    }

    /// Binds the socket to this local address before connecting.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.tcp = self.tcp.local_addr(addr);
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

    /// Runs a TLS handshake over the connection with `connector`, verifying the server for
    /// the host given to [`connect`](Self::connect) unless the connector names a server.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, connector: crate::tls::TlsConnector) -> Self {
        self.tls = Some(connector);
        self
    }

    /// Connects to `host:port` now.
    pub async fn connect<S, C>(
        &self,
        host: &str,
        port: u16,
        protocol: StreamProtocol<S, C>,
    ) -> Result<TcpClient<S, C>, ClientConnectError>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let establish = |runtime| self.clone().establish(host.to_owned(), port, runtime);
        let core = Core::connect(
            self.runtime.as_ref(),
            self.max_recv_size,
            protocol,
            establish,
        );
        Ok(TcpClient { core: core.await? })
    }

    /// A client that connects to `host:port` on first use (a send, a receive or
    /// [`TcpClient::wait_connected`]); no I/O now. Fails only when no runtime is given and
    /// none is current.
    pub fn connect_lazy<S, C>(
        &self,
        host: &str,
        port: u16,
        protocol: StreamProtocol<S, C>,
    ) -> Result<TcpClient<S, C>, NoRuntime>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let options = self.clone();
        let host = host.to_owned();
        let establish = move |runtime: Arc<dyn Runtime>| -> BoxFuture<_> {
            Box::pin(options.clone().establish(host.clone(), port, runtime))
        };
        let core = Core::lazy(
            self.runtime.as_ref(),
            self.max_recv_size,
            protocol,
            establish,
        );
        Ok(TcpClient { core: core? })
    }

    async fn establish(
        self,
        host: String,
        port: u16,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Adopted, ClientConnectError> {
        let stream = self.tcp.runtime(runtime).connect(&host, port).await?;
        #[cfg(feature = "tls")]
        if let Some(connector) = &self.tls {
            let name = match connector.server_name() {
                Some(name) => name.to_str().into_owned(),
                None => host,
            };
            let session = connector.handshake(stream, &name).await?;
            return Ok(Adopted::fresh(super::stream::Conn::tls(session)?));
        }
        let (read, write) = stream.into_split();
        Ok(Adopted::from_halves(read, write))
    }
}
