//! The blocking TCP packet client (EasyNetwork's `TCPNetworkClient`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use packetwire_proto::{
    NoConverter, RecvConverter, SendConverter, StreamProtocol, StreamSerializer,
};

use super::stream_client::{stream_client_impls, stream_client_methods, ClientCore};
use super::{TcpConnectOptions, TcpStream};
use crate::client::stream_reader::DEFAULT_MAX_RECV_SIZE;
use crate::client::ClientConnectError;
use crate::socket::adopt::{check_tcp_socket, inet_addr, set_stream_options};
use crate::socket::sys;

/// A blocking TCP client that sends and receives whole packets of a [`StreamProtocol`]
/// (optionally over TLS, feature `tls`).
///
/// It is `Send + Sync`: share it between threads (`Arc`, or scoped threads). Sending and
/// receiving take separate locks, so one thread can wait in [`recv_packet`](Self::recv_packet)
/// while others send; concurrent sends each go out whole. [`close`](Self::close) from any
/// thread wakes a thread blocked in a receive with [`RecvPacketError::Closed`].
///
/// [`RecvPacketError::Closed`]: crate::client::RecvPacketError::Closed
///
/// ```
/// # #[cfg(feature = "json")] {
/// use std::io::{BufRead, BufReader, Write};
/// use std::time::Duration;
/// use packetwire::blocking::TcpClient;
/// use packetwire::{JsonSerializer, StreamProtocol};
/// use serde_json::{json, Value};
///
/// // An echo server, one line at a time.
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let server = std::thread::spawn(move || -> std::io::Result<()> {
///     let (stream, _) = listener.accept()?;
///     let mut writer = stream.try_clone()?;
///     for line in BufReader::new(stream).lines() {
///         writeln!(writer, "{}", line?)?;
///     }
///     Ok(())
/// });
///
/// let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
/// let client = TcpClient::connect("127.0.0.1", port, protocol)?;
/// client.send_packet(&json!({"hello": "world"}))?;
/// assert_eq!(client.recv_packet_within(Duration::from_secs(5))?, json!({"hello": "world"}));
///
/// client.send_packet(&json!(1))?;
/// client.send_packet(&json!(2))?;
/// client.send_eof()?; // the server sees the end of the stream, echoes, and closes
/// let rest: Vec<Value> = client.iter_received_packets(Some(Duration::from_secs(5))).collect();
/// assert_eq!(rest, [json!(1), json!(2)]);
/// server.join().unwrap()?;
/// # }
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct TcpClient<S: StreamSerializer, C = NoConverter> {
    core: ClientCore<S, C>,
}

impl<S, C> TcpClient<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to `host:port` (a name or an IP literal; every resolved address in turn)
    /// with the default options: no connect timeout, no TLS.
    pub fn connect(
        host: &str,
        port: u16,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        TcpClientOptions::new().connect(host, port, protocol)
    }

    /// Adopts a connected standard TCP stream (ownership passes to the client). A socket
    /// that is not a TCP stream or not connected is a [`ClientConnectError::Adopt`] error.
    /// It is switched to non-blocking mode, with `TCP_NODELAY` and `SO_KEEPALIVE` on.
    pub fn from_std(
        stream: std::net::TcpStream,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        let fd = OwnedFd::from(stream);
        check_tcp_socket(fd.as_fd())?;
        let core = ClientCore::adopt_std(fd, protocol)?;
        set_stream_options(core.fd())?;
        Ok(Self { core })
    }

    /// Takes over a packetwire blocking TCP stream, with the bytes it had buffered (they are
    /// the start of the first packet) and its `send_eof` state.
    pub fn from_socket(stream: TcpStream, protocol: StreamProtocol<S, C>) -> Self {
        let (read, write) = stream.into_split();
        Self {
            core: ClientCore::from_halves(read, write, protocol, DEFAULT_MAX_RECV_SIZE),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(sys::sock(self).local_addr()?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(sys::sock(self).peer_addr()?)
    }

    /// Whether the connection runs over TLS.
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

    stream_client_methods!();
}

stream_client_impls!(TcpClient);

/// The options of a blocking [`TcpClient`]: connect timeout, local address, receive size and
/// TLS.
///
/// ```
/// # #[cfg(feature = "json")] {
/// use std::time::Duration;
/// use packetwire::blocking::TcpClientOptions;
/// use packetwire::{JsonSerializer, StreamProtocol};
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
/// let client = TcpClientOptions::new()
///     .connect_timeout(Duration::from_secs(5))
///     .local_addr("127.0.0.1:0".parse()?)
///     .max_recv_size(4096)
///     .connect("127.0.0.1", port, protocol)?;
/// assert_eq!(client.max_recv_size(), 4096);
/// assert_eq!(client.peer_addr()?, listener.local_addr()?);
/// # }
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpClientOptions {
    tcp: TcpConnectOptions,
    max_recv_size: usize,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConnector>,
}

impl Default for TcpClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpClientOptions {
    /// The defaults: no connect timeout, no local address, 64 KiB reads, no TLS.
    pub fn new() -> Self {
        Self {
            tcp: TcpConnectOptions::new(),
            max_recv_size: DEFAULT_MAX_RECV_SIZE,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A timeout for connecting (resolution and every address tried, not the TLS
    /// handshake, which has the connector's own timeout).
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
        self.max_recv_size = crate::client::stream_reader::clamp_recv_size(size);
        self
    }

    /// Runs a TLS handshake over the connection with `connector`, verifying the server for
    /// the host given to [`connect`](Self::connect) unless the connector names a server.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, connector: crate::tls::TlsConnector) -> Self {
        self.tls = Some(connector);
        self
    }

    /// Connects to `host:port`.
    pub fn connect<S, C>(
        &self,
        host: &str,
        port: u16,
        protocol: StreamProtocol<S, C>,
    ) -> Result<TcpClient<S, C>, ClientConnectError>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let stream = self.tcp.connect(host, port)?;
        #[cfg(feature = "tls")]
        if let Some(connector) = &self.tls {
            let name = match connector.server_name() {
                Some(name) => name.to_str().into_owned(),
                None => host.to_owned(),
            };
            let (read, write) = stream.into_split();
            drop(write);
            let (fd, _, _) = read.core.into_parts();
            let fd = std::sync::Arc::try_unwrap(fd)
                .map_err(|_| io::Error::other("the TCP stream's descriptor is still shared"))?;
            let tls = connector.handshake_blocking(std::net::TcpStream::from(fd), &name)?;
            return Ok(TcpClient {
                core: ClientCore::new_tls(tls, protocol, self.max_recv_size)?,
            });
        }
        let (read, write) = stream.into_split();
        Ok(TcpClient {
            core: ClientCore::from_halves(read, write, protocol, self.max_recv_size),
        })
    }
}
