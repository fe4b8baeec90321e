//! TCP byte streams: connect (Happy Eyeballs) or adopt, then the shared stream vocabulary.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use packetwire_proto::DEFAULT_LIMIT;

use super::error::{AdoptError, ConnectError};
use super::resolve::resolve;
use super::stream::{
    fd_io_methods, halves, impl_async_read, impl_async_write, receive_methods, send_eof_method,
    send_methods, ReadHalf, Shared, WriteHalf,
};
use crate::runtime::{self, AsyncFdIo, BoxFuture, Runtime};
use crate::socket::adopt::{check_connected, check_tcp_socket, inet_addr, set_stream_options};
use crate::socket::connect::{self as connecting, ConnectStep};
use crate::socket::resolve::interleave;
use crate::socket::sys::{self, FdKind};

/// The delay between two connection attempts of Happy Eyeballs (RFC 8305 recommends 250 ms).
pub const HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// A connected TCP stream, with AnyIO/asyncio receive and send methods over an internal
/// receive buffer.
///
/// Connect with [`TcpStream::connect`] (or [`TcpConnectOptions`] for a timeout, a local
/// address or a runtime), accept one from a [`TcpListener`](crate::net::TcpListener), or adopt
/// a connected standard socket with [`TcpStream::from_std`]. `TCP_NODELAY` and `SO_KEEPALIVE`
/// are on.
///
/// It also implements tokio's `AsyncRead`/`AsyncWrite` (feature `tokio`) and futures-io's
/// (feature `smol`), which read the internal buffer first: ecosystem extension traits and TLS
/// wrappers work on it.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1", 0).await?;
/// let port = listener.local_addrs()[0].port();
///
/// let mut client = TcpStream::connect("127.0.0.1", port).await?;
/// let (mut server, _peer) = listener.accept().await?;
///
/// client.send_all(b"hello\nworld").await?;
/// client.send_eof()?;
/// assert_eq!(server.receive_line().await?, &b"hello\n"[..]);
/// assert_eq!(server.receive(1024).await?, &b"world"[..]);
/// assert!(server.receive(1024).await.unwrap_err().is_end_of_stream());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpStream {
    read: ReadHalf,
    write: WriteHalf,
}

impl TcpStream {
    /// Connects to `host:port` with the default options: no timeout, Happy Eyeballs over every
    /// resolved address, the current runtime. `host` is a name or an IP literal.
    pub async fn connect(host: &str, port: u16) -> Result<Self, ConnectError> {
        TcpConnectOptions::new().connect(host, port).await
    }

    /// Adopts a connected standard TCP stream, on the current runtime.
    ///
    /// The socket is checked at once: not a stream socket, not IPv4/IPv6, or not connected is
    /// an [`AdoptError`]. It is switched to non-blocking mode, with `TCP_NODELAY` and
    /// `SO_KEEPALIVE` on.
    pub fn from_std(stream: std::net::TcpStream) -> Result<Self, AdoptError> {
        Self::from_std_with_runtime(stream, runtime::current()?)
    }

    /// [`from_std`](Self::from_std) on the given runtime.
    pub fn from_std_with_runtime(
        stream: std::net::TcpStream,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(stream);
        check_tcp_socket(fd.as_fd())?;
        check_connected(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        set_stream_options(fd.as_fd())?;
        let io = runtime.register(fd)?;
        Ok(Self::from_registered(io, runtime, DEFAULT_LIMIT))
    }

    pub(crate) fn from_registered(
        io: Box<dyn AsyncFdIo>,
        runtime: Arc<dyn Runtime>,
        limit: usize,
    ) -> Self {
        let (read, write) = halves(Shared::new(io, FdKind::Socket, runtime), limit);
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

    /// The socket's options: `TCP_NODELAY`, keep-alive, linger, buffer sizes, ...
    /// (EasyNetwork's socket proxy).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn socket_options(&self) -> crate::sockopt::SocketOptions<'_> {
        crate::sockopt::SocketOptions::new(self)
    }

    /// The runtime the stream is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        self.read.runtime()
    }

    /// Borrows the receive and send halves, to use them at the same time.
    pub fn split(&mut self) -> (&mut ReadHalf, &mut WriteHalf) {
        (&mut self.read, &mut self.write)
    }

    /// Splits into owned halves, for two tasks. The receive half keeps the buffered bytes.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        (self.read, self.write)
    }

    receive_methods!(read.core);
    send_methods!(write.core);
    send_eof_method!(write.core);
    fd_io_methods!(read.core);
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl_async_read!(TcpStream, read.core);
impl_async_write!(TcpStream, true, write.core);

/// How to open a TCP connection: timeout, local address, Happy Eyeballs delay, buffer limit
/// and runtime. Build it, then call [`connect`](Self::connect) or
/// [`connect_addrs`](Self::connect_addrs).
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::net::{TcpConnectOptions, TcpListener};
///
/// let listener = TcpListener::bind("127.0.0.1", 0).await?;
/// let port = listener.local_addrs()[0].port();
/// let stream = TcpConnectOptions::new()
///     .timeout(Duration::from_secs(5))
///     .limit(1024)
///     .connect("localhost", port)
///     .await?;
/// assert_eq!(stream.limit(), 1024);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct TcpConnectOptions {
    timeout: Option<Duration>,
    local_addr: Option<SocketAddr>,
    happy_eyeballs_delay: Duration,
    limit: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for TcpConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpConnectOptions {
    /// No timeout, no local address, a 250 ms Happy Eyeballs delay, a 64 KiB buffer limit,
    /// the current runtime.
    pub fn new() -> Self {
        Self {
            timeout: None,
            local_addr: None,
            happy_eyeballs_delay: HAPPY_EYEBALLS_DELAY,
            limit: DEFAULT_LIMIT,
            runtime: None,
        }
    }

    /// The same timeout, local address and limit for the blocking shell (which has no Happy
    /// Eyeballs and no runtime).
    #[cfg(feature = "tls")]
    pub(crate) fn to_blocking(&self) -> crate::blocking::TcpConnectOptions {
        let mut options = crate::blocking::TcpConnectOptions::new().limit(self.limit);
        if let Some(timeout) = self.timeout {
            options = options.timeout(timeout);
        }
        if let Some(addr) = self.local_addr {
            options = options.local_addr(addr);
        }
        options
    }

    /// Gives up after `timeout`, resolution included ([`ConnectError::TimedOut`]).
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

    /// How long an attempt runs alone before the next address is tried in parallel
    /// (RFC 8305 "Connection Attempt Delay"; 250 ms by default).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.happy_eyeballs_delay = delay;
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

    /// Uses this runtime instead of [`runtime::current()`].
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Resolves `host` and connects to `port` on its addresses, IPv6 first and alternating
    /// families, a new attempt starting every Happy Eyeballs delay or as soon as one fails;
    /// the first to succeed wins and the others are closed.
    pub async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        self.with_timeout(&rt, async {
            let addrs =
                resolve(&*rt, host, port)
                    .await
                    .map_err(|source| ConnectError::Resolve {
                        host: host.to_owned(),
                        source,
                    })?;
            self.connect_resolved(&rt, host, &addrs).await
        })
        .await
    }

    /// Connects to one of `addrs` with Happy Eyeballs, in the RFC 8305 order (IPv6 first,
    /// alternating families).
    pub async fn connect_addrs(&self, addrs: &[SocketAddr]) -> Result<TcpStream, ConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        self.with_timeout(&rt, self.connect_resolved(&rt, "", addrs))
            .await
    }

    async fn with_timeout(
        &self,
        rt: &Arc<dyn Runtime>,
        attempt: impl Future<Output = Result<TcpStream, ConnectError>>,
    ) -> Result<TcpStream, ConnectError> {
        let deadline = self.timeout.and_then(|t| rt.now().checked_add(t));
        runtime::maybe_timeout_at(&**rt, deadline, attempt)
            .await
            .unwrap_or(Err(ConnectError::TimedOut))
    }

    async fn connect_resolved(
        &self,
        rt: &Arc<dyn Runtime>,
        host: &str,
        addrs: &[SocketAddr],
    ) -> Result<TcpStream, ConnectError> {
        let usable = connecting::usable_addrs(host, addrs, self.local_addr)?;
        let ordered = interleave(&usable);
        let io =
            happy_eyeballs(&**rt, &ordered, self.local_addr, self.happy_eyeballs_delay).await?;
        set_stream_options(io.fd())?;
        Ok(TcpStream::from_registered(io, Arc::clone(rt), self.limit))
    }
}

type Attempt<'a> = Pin<Box<dyn Future<Output = io::Result<Box<dyn AsyncFdIo>>> + Send + 'a>>;

/// Runs staggered connection attempts over `addrs` (already ordered).
async fn happy_eyeballs(
    rt: &dyn Runtime,
    addrs: &[SocketAddr],
    local: Option<SocketAddr>,
    delay: Duration,
) -> Result<Box<dyn AsyncFdIo>, ConnectError> {
    let mut running: Vec<(SocketAddr, Attempt<'_>)> = Vec::new();
    let mut failures: Vec<(SocketAddr, io::Error)> = Vec::new();
    let mut next = 0;
    let mut stagger: Option<BoxFuture<()>> = None;
    let mut start_now = true;
    poll_fn(|cx| loop {
        let timer_fired = stagger
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        if next < addrs.len() && (start_now || timer_fired || running.is_empty()) {
            let addr = addrs[next];
            next += 1;
            start_now = false;
            running.push((addr, Box::pin(connect_one(rt, addr, local))));
            stagger = match rt.now().checked_add(delay) {
                Some(deadline) if next < addrs.len() => Some(rt.sleep_until(deadline)),
                _ => None,
            };
            continue;
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].1.as_mut().poll(cx) {
                Poll::Ready(Ok(io)) => return Poll::Ready(Ok(io)),
                Poll::Ready(Err(e)) => {
                    let (addr, _) = running.swap_remove(i);
                    failures.push((addr, e));
                    // RFC 8305 §5: a failure starts the next attempt at once.
                    start_now = true;
                }
                Poll::Pending => i += 1,
            }
        }
        if start_now && next < addrs.len() {
            continue;
        }
        if running.is_empty() && next >= addrs.len() {
            return Poll::Ready(Err(ConnectError::AllAttemptsFailed(std::mem::take(
                &mut failures,
            ))));
        }
        return Poll::Pending;
    })
    .await
}

/// One non-blocking connection attempt.
async fn connect_one(
    rt: &dyn Runtime,
    addr: SocketAddr,
    local: Option<SocketAddr>,
) -> io::Result<Box<dyn AsyncFdIo>> {
    let (socket, progress) = connecting::start_tcp(addr, local)?;
    let io = rt.register(socket.into())?;
    if progress == ConnectStep::InProgress {
        poll_fn(|cx| io.poll_write_with(cx, &mut sys::connect_result)).await?;
    }
    Ok(io)
}
