//! Blocking Unix stream listeners: bind a path or abstract name, handle stale socket files,
//! remove the file on drop only if it is still ours.

use crate::unix::UnixSocketAddress;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use packetwire_proto::DEFAULT_LIMIT;

use super::listener::{accept_timed_out, Listening};
use super::unix::UnixStream;
use super::wait;
use crate::net::AdoptError;
use crate::socket::accept::unix_peer;
use crate::socket::adopt::{check_listening, check_unix_stream_socket};
use crate::socket::listen::{unix_listener, SocketFile, StaleSocketPolicy, DEFAULT_BACKLOG};
use crate::socket::sys;

/// A blocking Unix stream server socket, on a path or (Linux) an abstract name `@name`, with
/// the behaviour of [`net::UnixListener`](crate::net::UnixListener).
///
/// On drop, the socket file is removed, but only if the path still names the file this
/// listener created: if it was replaced, it is left alone. A socket adopted with
/// [`from_std`](Self::from_std) never removes anything.
///
/// ```
/// use packetwire::blocking::{StaleSocketPolicy, UnixListenerOptions, UnixStream};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("server.sock");
/// let listener = UnixListenerOptions::new()
///     .mode(0o600)
///     .stale_socket(StaleSocketPolicy::RemoveIfStale)
///     .bind(&path)?;
/// let _client = UnixStream::connect(&path)?;
/// let (_stream, _peer) = listener.accept()?;
/// drop(listener);
/// assert!(!path.exists());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    listening: Listening,
    addr: UnixSocketAddress,
    /// The socket file we bound: dropping it removes the file if it is still ours.
    _file: Option<SocketFile>,
    limit: usize,
    timeout: Option<Duration>,
}

impl UnixListener {
    /// Listens on `path` (`@name`: Linux abstract name) with the default options.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<Self> {
        UnixListenerOptions::new().bind(path)
    }

    /// Adopts a listening standard Unix socket (checked at once), switching it to
    /// non-blocking mode. Its file is not removed on drop.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(listener);
        check_unix_stream_socket(fd.as_fd())?;
        check_listening(fd.as_fd())?;
        let addr = crate::os::unix_local_address(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Self {
            listening: Listening::new(vec![fd]),
            addr,
            _file: None,
            limit: DEFAULT_LIMIT,
            timeout: None,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> &UnixSocketAddress {
        &self.addr
    }

    /// The address listened on, as a one-element slice: the same shape as
    /// [`TcpListener::local_addrs`](super::TcpListener::local_addrs).
    pub fn local_addrs(&self) -> &[UnixSocketAddress] {
        std::slice::from_ref(&self.addr)
    }

    /// The listening socket, as a one-element list (asyncio's `Server.sockets`), in
    /// non-blocking mode.
    pub fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    /// Accepts the next connection within the accept timeout, with the same resilience as
    /// [`TcpListener::accept`](super::TcpListener::accept).
    pub fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddress)> {
        self.accept_within(self.timeout)
    }

    /// [`accept`](Self::accept) within `timeout` instead of the accept timeout (`None`: no
    /// limit).
    pub fn accept_within(
        &self,
        timeout: Option<Duration>,
    ) -> io::Result<(UnixStream, UnixSocketAddress)> {
        self.accept_until(wait::deadline(timeout), None)?
            .ok_or_else(accept_timed_out)
    }

    /// Accepts before `deadline`, or until `stop` is readable: `Ok(None)` then.
    fn accept_until(
        &self,
        deadline: Option<Instant>,
        stop: Option<BorrowedFd<'_>>,
    ) -> io::Result<Option<(UnixStream, UnixSocketAddress)>> {
        let Some((fd, addr)) = self.listening.accept(deadline, stop, |_| Ok(()))? else {
            return Ok(None);
        };
        let peer = UnixSocketAddress::from(unix_peer(addr)?);
        Ok(Some((UnixStream::from_fd(fd, self.limit), peer)))
    }

    /// The accept timeout (`None`, the default: wait as long as it takes).
    pub fn accept_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sets how long [`accept`](Self::accept) waits for a connection. `None` waits as long
    /// as it takes.
    pub fn set_accept_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Runs `handler` on its own thread for each accepted connection, until the returned
    /// server is shut down; the socket file is removed when the server closes. See
    /// [`StreamServer`](super::StreamServer).
    pub fn serve<F>(self, handler: F) -> io::Result<super::UnixServer>
    where
        F: Fn(UnixStream) + Send + Sync + 'static,
    {
        let addrs = vec![self.addr.clone()];
        super::StreamServer::start(self, addrs, handler)
    }
}

impl super::server::ServeListener for UnixListener {
    type Stream = UnixStream;

    fn accept_or_stop(&self, stop: BorrowedFd<'_>) -> io::Result<Option<UnixStream>> {
        Ok(self
            .accept_until(None, Some(stop))?
            .map(|(stream, _)| stream))
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }
}

/// How to listen on a Unix stream socket, blocking: backlog, file mode, stale-file policy and
/// the buffer limit of the accepted streams.
#[derive(Debug, Clone)]
pub struct UnixListenerOptions {
    backlog: u32,
    mode: Option<u32>,
    stale: StaleSocketPolicy,
    limit: usize,
}

impl Default for UnixListenerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixListenerOptions {
    /// Backlog 100, the mode the umask gives, [`StaleSocketPolicy::Fail`], a 64 KiB buffer
    /// limit.
    pub fn new() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            mode: None,
            stale: StaleSocketPolicy::Fail,
            limit: DEFAULT_LIMIT,
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

    /// Listens on `path` (`@name`: Linux abstract name).
    pub fn bind(&self, path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let bound = unix_listener(path.as_ref(), self.backlog, self.mode, self.stale)?;
        Ok(UnixListener {
            listening: Listening::new(vec![bound.socket.into()]),
            addr: bound.addr,
            _file: bound.file,
            limit: self.limit,
            timeout: None,
        })
    }
}
