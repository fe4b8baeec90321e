//! TCP listeners: one or several listening sockets, accept, serve.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use packetwire_proto::DEFAULT_LIMIT;

use super::error::AdoptError;
use super::listener::Listening;
use super::resolve::resolve;
use super::server::{AcceptFuture, ServeListener, StreamServer};
use super::tcp::TcpStream;
use crate::runtime::{self, Runtime};
use crate::socket::accept::tcp_peer;
use crate::socket::adopt::{check_listening, check_tcp_socket, inet_addr, set_stream_options};
use crate::socket::listen::{tcp_listeners, DEFAULT_BACKLOG};
use crate::socket::resolve::all_interfaces;
use crate::socket::sys;

/// A TCP server socket, or several (one per address: all interfaces means one IPv4 and one
/// IPv6 socket). Accept connections one by one with [`accept`](Self::accept), or hand each to
/// its own task with [`serve`](Self::serve).
///
/// `SO_REUSEADDR` is on; IPv6 sockets are IPv6-only (`IPV6_V6ONLY`) so that an IPv4 socket can
/// share the port. Accepted streams have `TCP_NODELAY` and `SO_KEEPALIVE` on.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::{TcpListenerOptions, TcpStream};
///
/// // Every interface, IPv4 and IPv6, one port chosen by the system for both.
/// let listener = TcpListenerOptions::new().backlog(10).bind("", 0).await?;
/// let port = listener.local_addrs()[0].port();
/// assert!(listener.local_addrs().iter().all(|a| a.port() == port));
///
/// let _client = TcpStream::connect("127.0.0.1", port).await?;
/// let (_stream, peer) = listener.accept().await?;
/// assert!(peer.ip().is_loopback());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpListener {
    listening: Listening,
    addrs: Vec<SocketAddr>,
    limit: usize,
}

impl TcpListener {
    /// Listens on `host:port` with the default options. `host` is a name (every address it
    /// resolves to gets a socket), an IP literal, or `""` for every interface (`0.0.0.0` and
    /// `::`). Port 0 lets the system choose one port, shared by all the sockets.
    pub async fn bind(host: &str, port: u16) -> io::Result<Self> {
        TcpListenerOptions::new().bind(host, port).await
    }

    /// Adopts a listening standard socket, on the current runtime.
    pub fn from_std(listener: std::net::TcpListener) -> Result<Self, AdoptError> {
        Self::from_std_with_runtime(listener, runtime::current()?)
    }

    /// [`from_std`](Self::from_std) on the given runtime.
    pub fn from_std_with_runtime(
        listener: std::net::TcpListener,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(listener);
        check_tcp_socket(fd.as_fd())?;
        check_listening(fd.as_fd())?;
        let addr = inet_addr(sys::sock(&fd).local_addr()?)?;
        sys::set_nonblocking(fd.as_fd())?;
        let io = runtime.register(fd)?;
        Ok(Self {
            listening: Listening::new(vec![io], runtime),
            addrs: vec![addr],
            limit: DEFAULT_LIMIT,
        })
    }

    /// The addresses listened on, one per socket.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The listening sockets (asyncio's `Server.sockets`).
    pub fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    /// The options of each listening socket, in the order of
    /// [`local_addrs`](Self::local_addrs).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn socket_options(&self) -> Vec<crate::sockopt::SocketOptions<'_>> {
        self.listening
            .fds()
            .into_iter()
            .map(crate::sockopt::SocketOptions::from_fd)
            .collect()
    }

    /// The runtime the listener is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.listening.runtime
    }

    /// Accepts the next connection, from whichever socket has one.
    ///
    /// Errors caused by one peer (`ECONNABORTED`, `EPROTO`, `ECONNRESET`, `EPERM`, ...) are
    /// skipped; lack of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) waits
    /// 100 ms and tries again. Any other error is returned. Cancel-safe.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            let (io, addr) = self.listening.accept(set_stream_options).await?;
            let Some(peer) = tcp_peer(addr) else {
                // The peer is already gone (no address): skip it.
                continue;
            };
            let stream =
                TcpStream::from_registered(io, Arc::clone(&self.listening.runtime), self.limit);
            return Ok((stream, peer));
        }
    }

    /// Runs `handler` on its own task for each accepted connection, until the returned server
    /// is shut down. See [`StreamServer`].
    pub fn serve<F, Fut>(self, handler: F) -> StreamServer<SocketAddr>
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addrs = self.addrs.clone();
        StreamServer::start(self, addrs, handler)
    }
}

impl ServeListener for TcpListener {
    type Stream = TcpStream;

    fn accept_stream(&self) -> AcceptFuture<'_, TcpStream> {
        Box::pin(async move { Ok(self.accept().await?.0) })
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.listening.runtime
    }
}

/// How to listen on TCP: backlog, `SO_REUSEPORT`, buffer limit of the accepted streams, and
/// runtime. Build it, then call [`bind`](Self::bind) or [`bind_addrs`](Self::bind_addrs).
#[derive(Debug, Clone)]
pub struct TcpListenerOptions {
    backlog: u32,
    reuse_port: bool,
    limit: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for TcpListenerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpListenerOptions {
    /// Backlog 100, no `SO_REUSEPORT`, a 64 KiB buffer limit, the current runtime.
    pub fn new() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
            limit: DEFAULT_LIMIT,
            runtime: None,
        }
    }

    /// The listen backlog (100 by default).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Sets `SO_REUSEPORT`, so several processes can listen on the same port.
    pub fn reuse_port(mut self, reuse_port: bool) -> Self {
        self.reuse_port = reuse_port;
        self
    }

    /// The buffer limit of accepted streams (64 KiB by default).
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn limit(mut self, limit: usize) -> Self {
        assert!(limit > 0, "the buffer limit must be positive");
        self.limit = limit;
        self
    }

    /// Uses this runtime instead of [`runtime::current()`].
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Listens on `host:port`; see [`TcpListener::bind`].
    pub async fn bind(&self, host: &str, port: u16) -> io::Result<TcpListener> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let addrs = if host.is_empty() {
            all_interfaces(port)
        } else {
            resolve(&*rt, host, port).await?
        };
        self.bind_with(rt, &addrs, host.is_empty())
    }

    /// Listens on each of `addrs`, one socket each. With port 0 in several addresses, the
    /// port the system picks for the first is used for the others.
    pub async fn bind_addrs(&self, addrs: &[SocketAddr]) -> io::Result<TcpListener> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        self.bind_with(rt, addrs, false)
    }

    fn bind_with(
        &self,
        rt: Arc<dyn Runtime>,
        addrs: &[SocketAddr],
        skip_unsupported: bool,
    ) -> io::Result<TcpListener> {
        let mut sockets = Vec::with_capacity(addrs.len());
        let mut bound = Vec::with_capacity(addrs.len());
        for (socket, local) in
            tcp_listeners(addrs, self.backlog, self.reuse_port, skip_unsupported)?
        {
            sockets.push(rt.register(socket.into())?);
            bound.push(local);
        }
        Ok(TcpListener {
            listening: Listening::new(sockets, rt),
            addrs: bound,
            limit: self.limit,
        })
    }
}
