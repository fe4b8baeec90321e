//! Blocking TCP listeners: one or several listening sockets, accept with a timeout.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use packetwire_proto::DEFAULT_LIMIT;

use super::listener::{accept_timed_out, Listening};
use super::tcp::TcpStream;
use super::wait;
use crate::net::AdoptError;
use crate::socket::accept::tcp_peer;
use crate::socket::adopt::{check_listening, check_tcp_socket, inet_addr, set_stream_options};
use crate::socket::listen::{tcp_listeners, DEFAULT_BACKLOG};
use crate::socket::resolve::{all_interfaces, lookup};
use crate::socket::sys;

/// A blocking TCP server socket, or several (one per address: all interfaces means one IPv4
/// and one IPv6 socket sharing one port), with the behaviour of
/// [`net::TcpListener`](crate::net::TcpListener).
///
/// `SO_REUSEADDR` is on; IPv6 sockets are IPv6-only (`IPV6_V6ONLY`) so that an IPv4 socket can
/// share the port. Accepted streams have `TCP_NODELAY` and `SO_KEEPALIVE` on. `accept` takes
/// `&self`: several threads can accept from one listener.
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::{TcpListenerOptions, TcpStream};
///
/// // Every interface, IPv4 and IPv6, one port chosen by the system for both.
/// let listener = TcpListenerOptions::new().backlog(10).bind("", 0)?;
/// let port = listener.local_addrs()[0].port();
/// assert!(listener.local_addrs().iter().all(|a| a.port() == port));
///
/// // Nobody connects yet: the timeout elapses.
/// let error = listener.accept_within(Some(Duration::from_millis(10))).unwrap_err();
/// assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
///
/// let _client = TcpStream::connect("127.0.0.1", port)?;
/// let (_stream, peer) = listener.accept()?;
/// assert!(peer.ip().is_loopback());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    listening: Listening,
    addrs: Vec<SocketAddr>,
    limit: usize,
    timeout: Option<Duration>,
}

impl TcpListener {
    /// Listens on `host:port` with the default options. `host` is a name (every address it
    /// resolves to gets a socket), an IP literal, or `""` for every interface (`0.0.0.0` and
    /// `::`). Port 0 lets the system choose one port, shared by all the sockets.
    pub fn bind(host: &str, port: u16) -> io::Result<Self> {
        TcpListenerOptions::new().bind(host, port)
    }

    /// Adopts a listening standard socket (checked at once: TCP, listening), switching it to
    /// non-blocking mode.
    pub fn from_std(listener: std::net::TcpListener) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(listener);
        check_tcp_socket(fd.as_fd())?;
        check_listening(fd.as_fd())?;
        let addr = inet_addr(sys::sock(&fd).local_addr()?)?;
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Self {
            listening: Listening::new(vec![fd]),
            addrs: vec![addr],
            limit: DEFAULT_LIMIT,
            timeout: None,
        })
    }

    /// The addresses listened on, one per socket.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The listening sockets (asyncio's `Server.sockets`), in non-blocking mode.
    pub fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }

    /// Accepts the next connection, from whichever socket has one, waiting within the accept
    /// timeout ([`set_accept_timeout`](Self::set_accept_timeout); an error of kind
    /// [`TimedOut`](io::ErrorKind::TimedOut) when it elapses).
    ///
    /// Errors caused by one peer (`ECONNABORTED`, `EPROTO`, `ECONNRESET`, `EPERM`, ...) are
    /// skipped; lack of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`) waits
    /// 100 ms ([`ACCEPT_BACKOFF`](super::ACCEPT_BACKOFF)) and tries again. Any other error is
    /// returned.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_within(self.timeout)
    }

    /// [`accept`](Self::accept) within `timeout` instead of the accept timeout (`None`: no
    /// limit).
    pub fn accept_within(&self, timeout: Option<Duration>) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_until(wait::deadline(timeout), None)?
            .ok_or_else(accept_timed_out)
    }

    /// Accepts before `deadline`, or until `stop` is readable: `Ok(None)` then.
    fn accept_until(
        &self,
        deadline: Option<Instant>,
        stop: Option<BorrowedFd<'_>>,
    ) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        loop {
            let Some((fd, addr)) = self.listening.accept(deadline, stop, set_stream_options)?
            else {
                return Ok(None);
            };
            let Some(peer) = tcp_peer(addr) else {
                // The peer is already gone (no address): skip it.
                continue;
            };
            return Ok(Some((TcpStream::from_fd(fd, self.limit), peer)));
        }
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
    /// server is shut down. See [`StreamServer`](super::StreamServer).
    pub fn serve<F>(self, handler: F) -> io::Result<super::TcpServer>
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let addrs = self.addrs.clone();
        super::StreamServer::start(self, addrs, handler)
    }
}

impl super::server::ServeListener for TcpListener {
    type Stream = TcpStream;

    fn accept_or_stop(&self, stop: BorrowedFd<'_>) -> io::Result<Option<TcpStream>> {
        Ok(self
            .accept_until(None, Some(stop))?
            .map(|(stream, _)| stream))
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.listening.fds()
    }
}

/// How to listen on TCP, blocking: backlog, `SO_REUSEPORT` and the buffer limit of the
/// accepted streams. Build it, then call [`bind`](Self::bind) or
/// [`bind_addrs`](Self::bind_addrs).
#[derive(Debug, Clone)]
pub struct TcpListenerOptions {
    backlog: u32,
    reuse_port: bool,
    limit: usize,
}

impl Default for TcpListenerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpListenerOptions {
    /// Backlog 100, no `SO_REUSEPORT`, a 64 KiB buffer limit.
    pub fn new() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
            limit: DEFAULT_LIMIT,
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

    /// Listens on `host:port`; see [`TcpListener::bind`].
    pub fn bind(&self, host: &str, port: u16) -> io::Result<TcpListener> {
        if host.is_empty() {
            self.bind_with(&all_interfaces(port), true)
        } else {
            self.bind_with(&lookup(host, port)?, false)
        }
    }

    /// Listens on each of `addrs`, one socket each. With port 0 in several addresses, the
    /// port the system picks for the first is used for the others.
    pub fn bind_addrs(&self, addrs: &[SocketAddr]) -> io::Result<TcpListener> {
        self.bind_with(addrs, false)
    }

    fn bind_with(&self, addrs: &[SocketAddr], skip_unsupported: bool) -> io::Result<TcpListener> {
        let (sockets, addrs) =
            tcp_listeners(addrs, self.backlog, self.reuse_port, skip_unsupported)?
                .into_iter()
                .map(|(socket, addr)| (OwnedFd::from(socket), addr))
                .unzip();
        Ok(TcpListener {
            listening: Listening::new(sockets),
            addrs,
            limit: self.limit,
            timeout: None,
        })
    }
}
