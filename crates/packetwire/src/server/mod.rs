//! Packet servers: write one request handler, and the server does the rest (accepting,
//! reading, parsing, timeouts, per-connection hooks, errors, shutdown). EasyNetwork's
//! servers, in Rust.
//!
//! | | async | handler |
//! |---|---|---|
//! | TCP (optionally TLS) | [`TcpServer`] | [`StreamRequestHandler`] |
//! | Unix stream | [`UnixStreamServer`] | [`StreamRequestHandler`] |
//! | UDP | [`UdpServer`] | [`DatagramRequestHandler`] |
//! | Unix datagram | [`UnixDatagramServer`] | [`DatagramRequestHandler`] |
//!
//! For programs without async code, `StandaloneTcpServer`, `StandaloneUnixStreamServer`,
//! `StandaloneUdpServer` and `StandaloneUnixDatagramServer` (features `tokio` or `smol`) run
//! the same servers on a private runtime: `serve_forever` blocks the calling thread,
//! `shutdown(timeout)` from another thread makes it return, and `ServerThread` serves on a
//! background thread until joined.
//!
//! The servers run on any [`Runtime`](crate::runtime::Runtime) (tokio, smol): the one their
//! listener was made on.
//!
//! # The request handler
//!
//! EasyNetwork's handler is an async generator: `request = yield` receives the next packet,
//! and whatever goes wrong while waiting (a timeout, a parse error) is thrown in at the
//! `yield`. Here the handler owns its loop over a session:
//!
//! | EasyNetwork | packetwire |
//! |---|---|
//! | `request = yield` | `let request = session.recv().await?` |
//! | `yield RecvParams(timeout=30)` | `session.recv_with(RecvParams::new().timeout(..))` |
//! | `TimeoutError` at the `yield` | `Err(RecvError::TimedOut)` |
//! | `StreamProtocolParseError` at the `yield` | `Err(RecvError::Parse(_))` (connection kept) |
//! | generator closed on disconnect | `Err(RecvError::Disconnected)`: return |
//! | returning: a new generator starts | returning `Ok`: a new `handle` call starts |
//! | returning before the first `yield` | returning before the first `recv`: connection closed |
//! | `client.send_packet(p)` | `session.send_packet(&p)` / `session.client().send_packet(&p)` |
//! | `client.aclose()` | `session.close()` |
//! | `client.extra(peer_name)` | `session.peer_addr()`, `client().peer_credentials()`, `client().socket_options()` |
//! | `RecvAncillaryDataParams` | `session.recv_with_ancillary(&mut ancillary, params)` |
//! | `send_packet_with_ancillary` | `session.send_packet_with_ancillary(&p, &ancillary)` |
//! | context variables | `session.extensions_mut()`, seeded by `service_init` |
//! | `service_init(exit_stack, server)` | `service_init(&mut ServiceContext)`: `spawn`, `on_teardown` |
//!
//! A handler error is logged through [`tracing`](https://docs.rs/tracing) with the client's
//! address and closes that connection only; the server and the other clients go on. The
//! server logs connections at `INFO` (or `DEBUG`, see [`ServerOptions::log_connections`]).
//!
//! ```
//! # #[cfg(all(feature = "tokio", feature = "json"))]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use packetwire::server::{
//!     HandlerResult, RecvError, RecvParams, StreamRequestHandler, StreamSession, UnixStreamServer,
//! };
//! use packetwire::{JsonSerializer, StreamProtocol};
//! use serde_json::{json, Value};
//!
//! struct Greeter;
//!
//! impl StreamRequestHandler for Greeter {
//!     type Request = Value;
//!     type Response = Value;
//!
//!     // A login exchange before the requests.
//!     async fn on_connection(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
//!         let params = RecvParams::new().timeout(Duration::from_secs(5));
//!         match session.recv_with(params).await {
//!             Ok(name) => {
//!                 session.extensions_mut().insert(name.as_str().unwrap_or("?").to_owned());
//!                 session.send_packet(&json!("welcome")).await?;
//!             }
//!             // Refuse the client.
//!             Err(_) => session.close().await,
//!         }
//!         Ok(())
//!     }
//!
//!     async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
//!         let name = session.extensions().get::<String>().cloned().unwrap_or_default();
//!         loop {
//!             match session.recv_with(RecvParams::new().timeout(Duration::from_secs(30))).await {
//!                 Ok(request) => session.send_packet(&json!([name, request])).await?,
//!                 Err(RecvError::Parse(_)) => session.send_packet(&json!("bad request")).await?,
//!                 Err(RecvError::TimedOut) => session.send_packet(&json!("timed out")).await?,
//!                 Err(e) => return Err(e.into()),
//!             }
//!         }
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.sock");
//! let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
//! let server = UnixStreamServer::bind(&path, protocol, Greeter).await?;
//! let serving = tokio::spawn({
//!     let server = server.clone();
//!     async move { server.serve_forever().await }
//! });
//!
//! let mut client = packetwire::net::UnixStream::connect(&path).await?;
//! client.send_all(b"\"alice\"\n").await?;
//! assert_eq!(client.receive_line().await?, &b"\"welcome\"\n"[..]);
//! client.send_all(b"1\n{oops\n2\n").await?;
//! assert_eq!(client.receive_line().await?, &b"[\"alice\",1]\n"[..]);
//! assert_eq!(client.receive_line().await?, &b"\"bad request\"\n"[..]);
//! assert_eq!(client.receive_line().await?, &b"[\"alice\",2]\n"[..]);
//!
//! server.server_close().await;
//! serving.await.unwrap()?;
//! assert!(!path.exists());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Plugging in a protocol chosen at run time
//!
//! [`CodecSpec`](packetwire_proto::dynamic::CodecSpec) builds a protocol object on
//! [`Value`](packetwire_proto::Value) packets, for a handler whose `Request` and `Response`
//! are `Value`: `CodecSpec::new("json").stream_protocol()?` for the stream servers,
//! `datagram_protocol()` for the datagram servers (or wrap the boxed codecs in
//! [`DynStreamSerializer`](packetwire_proto::dynamic::DynStreamSerializer) and
//! [`DynDatagramSerializer`](packetwire_proto::dynamic::DynDatagramSerializer)).

mod conn;
mod datagram;
mod echo;
mod handler;
mod protocol;
#[cfg(any(feature = "tokio", feature = "smol"))]
mod standalone;
mod stream;
mod util;

use std::fmt;
use std::io;
use std::time::Duration;

pub use conn::{StreamClient, StreamSession};
pub use datagram::{
    DatagramClient, DatagramRequestHandler, DatagramServerOptions, DatagramSession, UdpServer,
    UnixDatagramServer, UnnamedPolicy, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_QUEUE,
};
pub use echo::EchoHandler;
pub use handler::{
    Address, Extensions, HandlerError, HandlerResult, RecvError, RecvParams, ServiceContext,
    ShutdownTrigger,
};
pub use protocol::{ServerDatagramProtocol, ServerStreamProtocol, StreamRequestDecoder};
#[cfg(any(feature = "tokio", feature = "smol"))]
pub use standalone::{
    BlockingServe, ServerThread, StandaloneTcpServer, StandaloneUdpServer,
    StandaloneUnixDatagramServer, StandaloneUnixStreamServer,
};
pub use stream::{StreamRequestHandler, TcpServer, UnixStreamServer};

/// The default [`ServerOptions::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Options every server shares. Transport options (backlog, `SO_REUSEPORT`, file mode,
/// stale-file policy, runtime) belong to the listener or socket the server is made from.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub(crate) max_connections: Option<usize>,
    pub(crate) shutdown_grace: Duration,
    pub(crate) log_connections: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerOptions {
    /// No connection limit, a 5 s shutdown grace period, connections logged at `INFO`.
    pub fn new() -> Self {
        Self {
            max_connections: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log_connections: true,
        }
    }

    /// At most `max` clients handled at once: the server stops accepting while it is full
    /// (new clients wait in the listen backlog). Datagram servers have
    /// [`DatagramServerOptions::max_sessions`] instead.
    ///
    /// # Panics
    ///
    /// If `max` is zero.
    pub fn max_connections(mut self, max: usize) -> Self {
        assert!(max > 0, "max_connections must be at least 1");
        self.max_connections = Some(max);
        self
    }

    /// How long `shutdown` lets busy client handlers finish before aborting them.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Logs connections and disconnections at `INFO` (`true`, the default) or `DEBUG`
    /// (EasyNetwork's `log_client_connection`).
    pub fn log_connections(mut self, info: bool) -> Self {
        self.log_connections = info;
        self
    }
}

/// Why `serve_forever` returned an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// `serve_forever` is already running (EasyNetwork's `ServerAlreadyRunning`).
    AlreadyServing,
    /// The server was closed with `server_close` (EasyNetwork's `ServerClosedError`).
    Closed,
    /// The handler's `service_init` failed.
    ServiceInit(HandlerError),
    /// The listening socket failed (an error `accept` does not retry).
    Listener(io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyServing => f.write_str("the server is already serving"),
            Self::Closed => f.write_str("the server is closed"),
            Self::ServiceInit(e) => write!(f, "service_init failed: {e}"),
            Self::Listener(e) => write!(f, "the listening socket failed: {e}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ServiceInit(e) => Some(&**e),
            Self::Listener(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ServeError> for io::Error {
    fn from(error: ServeError) -> Self {
        match error {
            ServeError::Listener(e) => e,
            ServeError::AlreadyServing => io::Error::new(io::ErrorKind::AddrInUse, error),
            ServeError::Closed => io::Error::new(io::ErrorKind::NotConnected, error),
            ServeError::ServiceInit(_) => io::Error::other(error),
        }
    }
}
