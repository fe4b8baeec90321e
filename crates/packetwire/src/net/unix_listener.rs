//! Unix stream listeners: bind a path or abstract name, handle stale socket files, remove the
//! file on close only if it is still ours.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::sockopt::SocketOptions;
use crate::unix::UnixSocketAddress;
use std::sync::Arc;

use packetwire_proto::DEFAULT_LIMIT;

use super::error::AdoptError;
use super::listener::Listening;
use super::server::{AcceptFuture, ServeListener, StreamServer};
use super::unix::UnixStream;
use crate::runtime::{self, Runtime};
use crate::socket::accept::unix_peer;
use crate::socket::adopt::{check_listening, check_unix_stream_socket};
use crate::socket::listen::{unix_listener, SocketFile, StaleSocketPolicy, DEFAULT_BACKLOG};
use crate::socket::sys;

/// A Unix stream server socket, on a path or (Linux) an abstract name `@name`.
///
/// On drop (or when its server closes), the socket file is removed, but only if the path
/// still names the file this listener created: if it was replaced, it is left alone. A socket
/// adopted with [`from_std`](Self::from_std) never removes anything.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::{StaleSocketPolicy, UnixListenerOptions, UnixStream};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("server.sock");
/// let listener = UnixListenerOptions::new()
///     .mode(0o600)
///     .stale_socket(StaleSocketPolicy::RemoveIfStale)
///     .bind(&path)
///     .await?;
/// let _client = UnixStream::connect(&path).await?;
/// let (_stream, _peer) = listener.accept().await?;
/// drop(listener);
/// assert!(!path.exists());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixListener {
    listening: Listening,
    addr: UnixSocketAddress,
    /// The socket file we bound: dropping it removes the file if it is still ours.
    _file: Option<SocketFile>,
    limit: usize,
}

impl UnixListener {
    /// Listens on `path` (`@name`: Linux abstract name) with the default options.
    pub async fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        UnixListenerOptions::new().bind(path).await
    }

    /// Adopts a listening standard Unix socket, on the current runtime. Its file is not
    /// removed on drop.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> Result<Self, AdoptError> {
        Self::from_std_with_runtime(listener, runtime::current()?)
    }

    /// [`from_std`](Self::from_std) on the given runtime.
    pub fn from_std_with_runtime(
        listener: std::os::unix::net::UnixListener,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(listener);
        check_unix_stream_socket(fd.as_fd())?;
        check_listening(fd.as_fd())?;
        let addr = crate::os::unix_local_address(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        let io = runtime.register(fd)?;
        Ok(Self {
            listening: Listening::new(vec![io], runtime),
            addr,
            _file: None,
            limit: DEFAULT_LIMIT,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> &UnixSocketAddress {
        &self.addr
    }

    /// The address listened on, as a one-element slice: the same shape as
    /// [`TcpListener::local_addrs`](crate::net::TcpListener::local_addrs).
    pub fn local_addrs(&self) -> &[UnixSocketAddress] {
        std::slice::from_ref(&self.addr)
    }

    /// The listening socket's options.
    pub fn socket_options(&self) -> SocketOptions<'_> {
        SocketOptions::from_fd(self.listening.fds()[0])
    }

    /// The listening socket, as a one-element list (asyncio's `Server.sockets`).
    pub fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    /// The runtime the listener is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.listening.runtime
    }

    /// Accepts the next connection, with the same resilience as
    /// [`TcpListener::accept`](crate::net::TcpListener::accept). Cancel-safe.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddress)> {
        let (io, addr) = self.listening.accept(|_| Ok(())).await?;
        let peer = UnixSocketAddress::from(unix_peer(addr)?);
        let stream =
            UnixStream::from_registered(io, Arc::clone(&self.listening.runtime), self.limit);
        Ok((stream, peer))
    }

    /// Runs `handler` on its own task for each accepted connection; see [`StreamServer`].
    pub fn serve<F, Fut>(self, handler: F) -> StreamServer<UnixSocketAddress>
    where
        F: Fn(UnixStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addrs = vec![self.addr.clone()];
        StreamServer::start(self, addrs, handler)
    }
}

impl ServeListener for UnixListener {
    type Stream = UnixStream;

    fn accept_stream(&self) -> AcceptFuture<'_, UnixStream> {
        Box::pin(async move { Ok(self.accept().await?.0) })
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.listening.runtime
    }
}

/// How to listen on a Unix stream socket: backlog, file mode, stale-file policy, buffer limit
/// of the accepted streams, and runtime.
#[derive(Debug, Clone)]
pub struct UnixListenerOptions {
    backlog: u32,
    mode: Option<u32>,
    stale: StaleSocketPolicy,
    limit: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UnixListenerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixListenerOptions {
    /// Backlog 100, the mode the umask gives, [`StaleSocketPolicy::Fail`], a 64 KiB buffer
    /// limit, the current runtime.
    pub fn new() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            mode: None,
            stale: StaleSocketPolicy::Fail,
            limit: DEFAULT_LIMIT,
            runtime: None,
        }
    }

    /// The listen backlog (100 by default).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The socket file's permission bits, set with `chmod` right after `bind` (for instance
    /// `0o600`). Ignored for abstract names, which have no file.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// What to do when the path is already a socket file.
    pub fn stale_socket(mut self, policy: StaleSocketPolicy) -> Self {
        self.stale = policy;
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

    /// Listens on `path` (`@name`: Linux abstract name).
    pub async fn bind(&self, path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let bound = unix_listener(path.as_ref(), self.backlog, self.mode, self.stale)?;
        // If registering fails, dropping `bound.file` removes the file.
        let io = rt.register(bound.socket.into())?;
        Ok(UnixListener {
            listening: Listening::new(vec![io], rt),
            addr: bound.addr,
            _file: bound.file,
            limit: self.limit,
        })
    }
}
