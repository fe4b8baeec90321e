//! Blocking TCP byte streams: connect (every address in turn, one overall timeout) or adopt,
//! then the shared stream vocabulary.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use packetwire_proto::DEFAULT_LIMIT;
use socket2::Socket;

use super::stream::{
    halves, impl_std_read, impl_std_write, receive_methods, send_methods, ReadHalf, WriteHalf,
};
use super::wait::{self, Interest};
use crate::net::{AdoptError, ConnectError};
use crate::socket::adopt::{check_connected, check_tcp_socket, inet_addr, set_stream_options};
use crate::socket::connect::{self as connecting, ConnectStep};
use crate::socket::resolve::{interleave, lookup, parse_literal};
use crate::socket::sys;

/// A connected TCP stream that blocks the calling thread, with the vocabulary of
/// [`net::TcpStream`](crate::net::TcpStream): AnyIO/asyncio receive and send methods over an
/// internal receive buffer, plus timeouts.
///
/// Connect with [`TcpStream::connect`] (or [`TcpConnectOptions`] for a timeout, a local
/// address or a buffer limit), accept one from a [`TcpListener`](super::TcpListener), or
/// adopt a connected standard socket with [`TcpStream::from_std`]. `TCP_NODELAY` and
/// `SO_KEEPALIVE` are on.
///
/// Receive and send calls wait as long as it takes unless a timeout is set
/// ([`set_receive_timeout`](Self::set_receive_timeout),
/// [`set_send_timeout`](Self::set_send_timeout)) or given (the `*_within` methods). A timed
/// out receive loses nothing: the bytes stay buffered for the next call.
///
/// It implements [`std::io::Read`], [`std::io::BufRead`] and [`std::io::Write`], which read the
/// internal buffer first. To receive in one thread while sending in another, split it with
/// [`into_split`](Self::into_split) (or [`split`](Self::split) in a scoped thread).
///
/// The socket is in non-blocking mode (the stream waits in `poll(2)`): keep that in mind when
/// using [`as_fd`](AsFd::as_fd) for system calls of your own, or use
/// [`read_with`](Self::read_with) and [`write_with`](Self::write_with).
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::{ReceiveError, TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1", 0)?;
/// let port = listener.local_addrs()[0].port();
///
/// let mut client = TcpStream::connect("127.0.0.1", port)?;
/// let (mut server, _peer) = listener.accept()?;
///
/// client.send_all(b"hello\nwor")?;
/// assert_eq!(server.receive_line()?, &b"hello\n"[..]);
/// // Half a line: the timeout elapses, the bytes stay buffered.
/// let error = server.receive_line_within(Some(Duration::from_millis(20))).unwrap_err();
/// assert!(matches!(error, ReceiveError::TimedOut));
/// client.send_all(b"ld\n")?;
/// client.send_eof()?;
/// assert_eq!(server.receive_line()?, &b"world\n"[..]);
/// assert!(server.receive(1024).unwrap_err().is_end_of_stream());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TcpStream {
    read: ReadHalf,
    write: WriteHalf,
}

impl TcpStream {
    /// Connects to `host:port` with the default options: no timeout, every resolved address
    /// in turn. `host` is a name or an IP literal.
    pub fn connect(host: &str, port: u16) -> Result<Self, ConnectError> {
        TcpConnectOptions::new().connect(host, port)
    }

    /// Adopts a connected standard TCP stream.
    ///
    /// The socket is checked at once: not a stream socket, not IPv4/IPv6, or not connected is
    /// an [`AdoptError`]. It is switched to non-blocking mode, with `TCP_NODELAY` and
    /// `SO_KEEPALIVE` on.
    pub fn from_std(stream: std::net::TcpStream) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(stream);
        check_tcp_socket(fd.as_fd())?;
        check_connected(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        set_stream_options(fd.as_fd())?;
        Ok(Self::from_fd(fd, DEFAULT_LIMIT))
    }

    /// A stream over a connected, non-blocking TCP socket.
    pub(crate) fn from_fd(fd: OwnedFd, limit: usize) -> Self {
        let (read, write) = halves(fd, limit);
        Self { read, write }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(sys::sock(self).local_addr()?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(sys::sock(self).peer_addr()?)
    }

    /// Typed socket options (`TCP_NODELAY`, `SO_LINGER`, buffer sizes, ...), EasyNetwork's
    /// socket proxy.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn socket_options(&self) -> crate::sockopt::SocketOptions<'_> {
        crate::sockopt::SocketOptions::new(self)
    }

    /// Borrows the receive and send halves, to use them at the same time (for instance from
    /// two scoped threads).
    ///
    /// On an owned stream with [`std::io::BufRead`] in scope, `stream.split()` means
    /// `BufRead::split`: write `TcpStream::split(&mut stream)`.
    pub fn split(&mut self) -> (&mut ReadHalf, &mut WriteHalf) {
        (&mut self.read, &mut self.write)
    }

    /// Splits into owned halves, for two threads. The receive half keeps the buffered bytes;
    /// the socket closes when both are dropped.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        (self.read, self.write)
    }

    receive_methods!(read.core);
    send_methods!(write.core);
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl_std_read!(TcpStream, read.core);
impl_std_write!(TcpStream, write.core);

/// How to open a blocking TCP connection: timeout, local address and buffer limit. Build it,
/// then call [`connect`](Self::connect) or [`connect_addrs`](Self::connect_addrs).
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::{TcpConnectOptions, TcpListener};
///
/// let listener = TcpListener::bind("127.0.0.1", 0)?;
/// let port = listener.local_addrs()[0].port();
/// let stream = TcpConnectOptions::new()
///     .timeout(Duration::from_secs(5))
///     .limit(1024)
///     .connect("localhost", port)?;
/// assert_eq!(stream.limit(), 1024);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpConnectOptions {
    timeout: Option<Duration>,
    local_addr: Option<SocketAddr>,
    limit: usize,
}

impl Default for TcpConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpConnectOptions {
    /// No timeout, no local address, a 64 KiB buffer limit.
    pub fn new() -> Self {
        Self {
            timeout: None,
            local_addr: None,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Gives up after `timeout` in all, resolution and every attempt included
    /// ([`ConnectError::TimedOut`]).
    ///
    /// With a timeout, a host name is resolved on a helper thread, so that a slow resolver
    /// cannot overrun it (a lookup given up on finishes there, unobserved).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Binds the socket to this local address before connecting (port 0: any port). Only
    /// remote addresses of the same family are tried.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// The stream's buffer limit for separator searches (64 KiB by default).
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn limit(mut self, limit: usize) -> Self {
        assert!(limit > 0, "the buffer limit must be positive");
        self.limit = limit;
        self
    }

    /// Resolves `host` and connects to `port` on its addresses, one after the other in the
    /// order the async shell uses (IPv6 first, then alternating families), until one
    /// succeeds. There is no Happy Eyeballs racing: an attempt that hangs holds the others
    /// back until the timeout elapses.
    pub fn connect(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        let deadline = wait::deadline(self.timeout);
        let addrs = resolve(host, port, deadline)?;
        self.connect_resolved(host, &addrs, deadline)
    }

    /// Connects to one of `addrs`, in the order [`connect`](Self::connect) uses.
    pub fn connect_addrs(&self, addrs: &[SocketAddr]) -> Result<TcpStream, ConnectError> {
        self.connect_resolved("", addrs, wait::deadline(self.timeout))
    }

    fn connect_resolved(
        &self,
        host: &str,
        addrs: &[SocketAddr],
        deadline: Option<Instant>,
    ) -> Result<TcpStream, ConnectError> {
        let usable = connecting::usable_addrs(host, addrs, self.local_addr)?;
        let mut failures = Vec::new();
        for addr in interleave(&usable) {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(ConnectError::TimedOut);
            }
            match connect_one(addr, self.local_addr, deadline) {
                Ok(Some(socket)) => {
                    let fd = OwnedFd::from(socket);
                    set_stream_options(fd.as_fd())?;
                    return Ok(TcpStream::from_fd(fd, self.limit));
                }
                Ok(None) => return Err(ConnectError::TimedOut),
                Err(e) => failures.push((addr, e)),
            }
        }
        Err(ConnectError::AllAttemptsFailed(failures))
    }
}

/// One connection attempt; `Ok(None)` when `deadline` passed first.
fn connect_one(
    addr: SocketAddr,
    local: Option<SocketAddr>,
    deadline: Option<Instant>,
) -> io::Result<Option<Socket>> {
    let (socket, progress) = connecting::start_tcp(addr, local)?;
    if progress == ConnectStep::InProgress {
        let fd = socket.as_fd();
        if wait::retry(fd, Interest::Write, deadline, || sys::connect_result(fd))?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(socket))
}

/// Resolves `host`, on a helper thread when there is a deadline.
fn resolve(
    host: &str,
    port: u16,
    deadline: Option<Instant>,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let failed = |source| ConnectError::Resolve {
        host: host.to_owned(),
        source,
    };
    let Some(deadline) = deadline.filter(|_| parse_literal(host).is_none()) else {
        return lookup(host, port).map_err(failed);
    };
    let (sender, receiver) = mpsc::channel();
    let owned = host.to_owned();
    std::thread::Builder::new()
        .name("packetwire-resolve".into())
        .spawn(move || {
            let _ = sender.send(lookup(&owned, port));
        })?;
    match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(found) => found.map_err(failed),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ConnectError::TimedOut),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(failed(io::Error::other(
            "the resolver thread ended without an answer",
        ))),
    }
}
