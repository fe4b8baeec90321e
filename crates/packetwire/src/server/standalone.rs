//! Standalone servers: the async servers driven by a private runtime, for programs without
//! async code (EasyNetwork's `Standalone*Server` and `NetworkServerThread`).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use super::{
    DatagramRequestHandler, DatagramServerOptions, ServeError, ServerDatagramProtocol,
    ServerOptions, ServerStreamProtocol, StreamRequestHandler, TcpServer, UdpServer,
    UnixDatagramServer, UnixStreamServer,
};
use crate::runtime::Runtime;
use crate::unix::UnixSocketAddress;

/// The runtime a standalone server owns: a current-thread tokio runtime (feature `tokio`),
/// otherwise smol's global executor and reactor.
enum PrivateRuntime {
    #[cfg(feature = "tokio")]
    Tokio(tokio::runtime::Runtime),
    #[cfg(all(feature = "smol", not(feature = "tokio")))]
    Smol,
}

impl PrivateRuntime {
    fn new() -> io::Result<Self> {
        #[cfg(feature = "tokio")]
        {
            Ok(Self::Tokio(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
            ))
        }
        #[cfg(all(feature = "smol", not(feature = "tokio")))]
        {
            Ok(Self::Smol)
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            #[cfg(feature = "tokio")]
            Self::Tokio(rt) => rt.block_on(future),
            #[cfg(all(feature = "smol", not(feature = "tokio")))]
            Self::Smol => smol::block_on(future),
        }
    }
}

impl fmt::Debug for PrivateRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "tokio")]
            Self::Tokio(_) => f.write_str("tokio (current thread)"),
            #[cfg(all(feature = "smol", not(feature = "tokio")))]
            Self::Smol => f.write_str("smol"),
        }
    }
}

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future that needs no reactor (it waits on the servers' own events) on this
/// thread, until `deadline`. `None` if the deadline passed first.
fn park_on<F: Future>(future: F, deadline: Option<Instant>) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        match deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return None;
                }
                thread::park_timeout(deadline - now);
            }
            None => thread::park(),
        }
    }
}

/// A server that blocks a thread while it serves: what [`ServerThread`] runs.
pub trait BlockingServe: Send + Sync + 'static {
    /// Serves until shut down, blocking the calling thread.
    fn serve_forever(&self) -> Result<(), ServeError>;

    /// Stops serving from another thread; `false` if `timeout` passed first.
    fn shutdown(&self, timeout: Option<Duration>) -> bool;

    /// Whether the server is serving.
    fn is_serving(&self) -> bool;
}

macro_rules! standalone {
    (
        $(#[$doc:meta])*
        $name:ident, $inner:ident, $bound:ident
    ) => {
        $(#[$doc])*
        pub struct $name<H: $bound> {
            // Dropped before the runtime it is registered with.
            server: $inner<H>,
            runtime: PrivateRuntime,
        }

        impl<H: $bound> fmt::Debug for $name<H> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("server", &self.server)
                    .field("runtime", &self.runtime)
                    .finish()
            }
        }

        impl<H: $bound> $name<H> {
            /// Serves until [`shutdown`](Self::shutdown) or [`server_close`](Self::server_close)
            /// is called from another thread, blocking this one (the server's tasks run on it).
            /// Can be called again after a shutdown.
            ///
            /// # Panics
            ///
            /// With tokio, when called from inside an async runtime (use the async server
            /// there).
            pub fn serve_forever(&self) -> Result<(), ServeError> {
                self.runtime.block_on(self.server.serve_forever())
            }

            /// Stops serving (see the async server's `shutdown`) and waits until
            /// `serve_forever` has returned, at most `timeout`: `false` if it had not by
            /// then. Call it from another thread than the serving one, which it would
            /// deadlock. Does nothing when not serving.
            pub fn shutdown(&self, timeout: Option<Duration>) -> bool {
                let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
                park_on(self.server.shutdown(), deadline).is_some()
            }

            /// Shuts down (waiting without limit) and closes the socket for good. From any
            /// thread but the serving one. Idempotent.
            pub fn server_close(&self) {
                park_on(self.server.server_close(), None);
            }

            /// Whether the server is serving.
            pub fn is_serving(&self) -> bool {
                self.server.is_serving()
            }

            /// The request handler.
            pub fn handler(&self) -> &H {
                self.server.handler()
            }

            /// The async server inside.
            pub fn as_async(&self) -> &$inner<H> {
                &self.server
            }

            /// The runtime the server runs on.
            pub fn runtime(&self) -> &Arc<dyn Runtime> {
                self.server.runtime()
            }
        }

        impl<H: $bound> BlockingServe for $name<H> {
            fn serve_forever(&self) -> Result<(), ServeError> {
                $name::serve_forever(self)
            }

            fn shutdown(&self, timeout: Option<Duration>) -> bool {
                $name::shutdown(self, timeout)
            }

            fn is_serving(&self) -> bool {
                $name::is_serving(self)
            }
        }
    };
}

standalone!(
    /// [`TcpServer`] without async code (EasyNetwork's `StandaloneTCPNetworkServer`).
    ///
    /// ```
    /// # #[cfg(feature = "json")]
    /// # {
    /// use std::io::{BufRead, BufReader, Write};
    /// use packetwire::server::{
    ///     HandlerResult, ServerThread, StandaloneTcpServer, StreamRequestHandler, StreamSession,
    /// };
    /// use packetwire::{JsonSerializer, StreamProtocol};
    /// use serde_json::Value;
    ///
    /// struct Echo;
    ///
    /// impl StreamRequestHandler for Echo {
    ///     type Request = Value;
    ///     type Response = Value;
    ///
    ///     async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
    ///         let request = session.recv().await?;
    ///         session.send_packet(&request).await?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
    /// let server = StandaloneTcpServer::bind("127.0.0.1", 0, protocol, Echo)?;
    /// let port = server.local_addrs()[0].port();
    /// let thread = ServerThread::start(server)?;
    ///
    /// let mut client = std::net::TcpStream::connect(("127.0.0.1", port))?;
    /// client.write_all(b"[1, 2]\n")?;
    /// let mut line = String::new();
    /// BufReader::new(&client).read_line(&mut line)?;
    /// assert_eq!(line, "[1,2]\n");
    ///
    /// thread.join(None).unwrap()?;
    /// # }
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    StandaloneTcpServer, TcpServer, StreamRequestHandler
);

standalone!(
    /// [`UnixStreamServer`] without async code (EasyNetwork's
    /// `StandaloneUnixStreamServer`).
    StandaloneUnixStreamServer, UnixStreamServer, StreamRequestHandler
);

standalone!(
    /// [`UdpServer`] without async code (EasyNetwork's `StandaloneUDPNetworkServer`).
    StandaloneUdpServer, UdpServer, DatagramRequestHandler
);

standalone!(
    /// [`UnixDatagramServer`] without async code (EasyNetwork's
    /// `StandaloneUnixDatagramServer`).
    StandaloneUnixDatagramServer, UnixDatagramServer, DatagramRequestHandler
);

impl<H: StreamRequestHandler> StandaloneTcpServer<H> {
    /// Listens on `host:port` (see [`TcpServer::bind`]) with a private runtime.
    pub fn bind<P>(host: &str, port: u16, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        Self::bind_with(host, port, protocol, handler, ServerOptions::new())
    }

    /// [`bind`](Self::bind) with options.
    pub fn bind_with<P>(
        host: &str,
        port: u16,
        protocol: P,
        handler: H,
        options: ServerOptions,
    ) -> io::Result<Self>
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        let runtime = PrivateRuntime::new()?;
        let listener = runtime.block_on(crate::net::TcpListener::bind(host, port))?;
        let server = TcpServer::from_listener(listener, protocol, handler, options);
        Ok(Self { server, runtime })
    }

    /// The addresses listened on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.server.local_addrs()
    }
}

impl<H: StreamRequestHandler> StandaloneUnixStreamServer<H> {
    /// Listens on `path` (`@name`: abstract) with a private runtime.
    pub fn bind<P>(path: impl AsRef<Path>, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        Self::bind_with(
            path,
            crate::net::UnixListenerOptions::new(),
            protocol,
            handler,
            ServerOptions::new(),
        )
    }

    /// [`bind`](Self::bind) with listener options (file mode, stale-file policy; their
    /// runtime is replaced by the private one) and server options.
    pub fn bind_with<P>(
        path: impl AsRef<Path>,
        listener: crate::net::UnixListenerOptions,
        protocol: P,
        handler: H,
        options: ServerOptions,
    ) -> io::Result<Self>
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        let runtime = PrivateRuntime::new()?;
        let listener = runtime.block_on(async {
            let rt = crate::runtime::current()?;
            listener.runtime(rt).bind(path).await
        })?;
        let server = UnixStreamServer::from_listener(listener, protocol, handler, options);
        Ok(Self { server, runtime })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> UnixSocketAddress {
        self.server.local_addr()
    }
}

impl<H: DatagramRequestHandler> StandaloneUdpServer<H> {
    /// Binds `host:port` with a private runtime and the default options.
    pub fn bind<P>(host: &str, port: u16, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        Self::bind_with(host, port, protocol, handler, DatagramServerOptions::new())
    }

    /// [`bind`](Self::bind) with options.
    pub fn bind_with<P>(
        host: &str,
        port: u16,
        protocol: P,
        handler: H,
        options: DatagramServerOptions,
    ) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        let runtime = PrivateRuntime::new()?;
        let socket = runtime.block_on(crate::net::UdpSocket::bind(host, port))?;
        let server = UdpServer::from_socket(socket, protocol, handler, options)?;
        Ok(Self { server, runtime })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

impl<H: DatagramRequestHandler> StandaloneUnixDatagramServer<H> {
    /// Binds `path` (`@name`: abstract) with a private runtime and the default options.
    pub fn bind<P>(path: impl AsRef<Path>, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        Self::bind_with(path, protocol, handler, DatagramServerOptions::new())
    }

    /// [`bind`](Self::bind) with options.
    pub fn bind_with<P>(
        path: impl AsRef<Path>,
        protocol: P,
        handler: H,
        options: DatagramServerOptions,
    ) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        let runtime = PrivateRuntime::new()?;
        let socket = runtime.block_on(crate::net::UnixDatagram::bind(path))?;
        let server = UnixDatagramServer::from_socket(socket, protocol, handler, options)?;
        Ok(Self { server, runtime })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> UnixSocketAddress {
        self.server.local_addr()
    }
}

/// A standalone server serving on a thread of its own (EasyNetwork's
/// `NetworkServerThread`): [`start`](Self::start) returns once it serves,
/// [`join`](Self::join) shuts it down and waits for the thread.
pub struct ServerThread<S: BlockingServe> {
    server: Arc<S>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl<S: BlockingServe> fmt::Debug for ServerThread<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerThread")
            .field("serving", &self.server.is_serving())
            .finish_non_exhaustive()
    }
}

impl<S: BlockingServe> ServerThread<S> {
    /// Starts `server.serve_forever()` on a new thread and returns once it serves. If
    /// `serve_forever` fails at once (`service_init` failed, server closed), its error is
    /// returned.
    pub fn start(server: S) -> Result<Self, ServeError> {
        Self::start_shared(Arc::new(server))
    }

    /// [`start`](Self::start) with a server shared with the caller.
    pub fn start_shared(server: Arc<S>) -> Result<Self, ServeError> {
        let serving = Arc::clone(&server);
        let thread = thread::Builder::new()
            .name("packetwire-server".into())
            .spawn(move || serving.serve_forever())
            .map_err(ServeError::Listener)?;
        loop {
            if server.is_serving() {
                return Ok(Self {
                    server,
                    thread: Some(thread),
                });
            }
            if thread.is_finished() {
                return match thread.join() {
                    Ok(Err(e)) => Err(e),
                    Ok(Ok(())) => Err(ServeError::Closed),
                    Err(_panic) => Err(ServeError::Listener(io::Error::other(
                        "the server thread panicked",
                    ))),
                };
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// The server.
    pub fn server(&self) -> &Arc<S> {
        &self.server
    }

    /// Shuts the server down and waits for the thread, at most `timeout` for both: `None`
    /// if time ran out (the thread goes on), otherwise what `serve_forever` returned.
    pub fn join(mut self, timeout: Option<Duration>) -> Option<Result<(), ServeError>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // Out of time: the thread is detached and goes on.
        let thread = self.thread.take()?;
        if !self.server.shutdown(left) {
            return None;
        }
        while !thread.is_finished() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            thread::sleep(Duration::from_millis(1));
        }
        match thread.join() {
            Ok(result) => Some(result),
            Err(_panic) => Some(Err(ServeError::Listener(io::Error::other(
                "the server thread panicked",
            )))),
        }
    }
}

impl<S: BlockingServe> Drop for ServerThread<S> {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.server.shutdown(None);
            let _ = thread.join();
        }
    }
}
