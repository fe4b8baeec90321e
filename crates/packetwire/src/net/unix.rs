//! Unix stream sockets: connect by path or abstract name, adopt, or make a pair.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use packetwire_proto::DEFAULT_LIMIT;
use socket2::{Domain, SockAddr, Socket, Type};

use super::error::{AdoptError, ConnectError, ReceiveError, SendError};
use super::stream::{
    fd_io_methods, halves, impl_async_read, impl_async_write, receive_methods, send_eof_method,
    send_methods, ReadHalf, Shared, WriteHalf,
};
use crate::os;
use crate::runtime::{self, AsyncFdIo, Runtime};
use crate::socket::adopt::{check_connected, check_unix_stream_socket};
use crate::socket::connect::{self as connecting, ConnectStep};
use crate::socket::sys::{self, FdKind};
use crate::sockopt::SocketOptions;
use crate::unix::{Credentials, SocketAncillary, UnixSocketAddress};

/// A connected Unix stream socket, with the same vocabulary as
/// [`TcpStream`](crate::net::TcpStream).
///
/// Addresses are paths, or on Linux abstract names written `@name`
/// (use `./@name` for a file whose name starts with `@`). Connect with
/// [`UnixStream::connect`] (or [`UnixConnectOptions`]), accept from a
/// [`UnixListener`](crate::net::UnixListener), adopt with [`UnixStream::from_std`], or make a
/// connected pair with [`socketpair`].
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (mut a, mut b) = packetwire::net::socketpair()?;
/// a.send_all(b"ping\n").await?;
/// assert_eq!(b.receive_line().await?, &b"ping\n"[..]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct UnixStream {
    read: ReadHalf,
    write: WriteHalf,
}

impl UnixStream {
    /// Connects to the socket at `path` (`@name`: Linux abstract name) with the default
    /// options.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Self, ConnectError> {
        UnixConnectOptions::new().connect(path).await
    }

    /// Adopts a connected standard Unix stream, on the current runtime. The socket is checked
    /// at once (stream type, `AF_UNIX`, connected) and switched to non-blocking mode.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> Result<Self, AdoptError> {
        Self::from_std_with_runtime(stream, runtime::current()?)
    }

    /// [`from_std`](Self::from_std) on the given runtime.
    pub fn from_std_with_runtime(
        stream: std::os::unix::net::UnixStream,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(stream);
        check_unix_stream_socket(fd.as_fd())?;
        check_connected(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
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

    /// The local address ([`Unnamed`](UnixSocketAddress::Unnamed) for a client that did not
    /// bind).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddress> {
        os::unix_local_address(self.as_fd())
    }

    /// The peer's address (often [`Unnamed`](UnixSocketAddress::Unnamed) for a client seen
    /// by a server).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddress> {
        os::unix_peer_address(self.as_fd())
    }

    /// Sends all of `data`, with `ancillary` (descriptors, credentials) attached to its first
    /// byte: one `sendmsg` carries them, the rest of `data` follows without. `data` must not
    /// be empty when there is ancillary data ([`io::ErrorKind::InvalidInput`]). The
    /// descriptors stay open here; the peer receives duplicates.
    ///
    /// The peer must read that first byte with
    /// [`receive_with_ancillary`](Self::receive_with_ancillary) (or another `recvmsg` asking
    /// for control data): a plain read makes the kernel close the descriptors. Linux never
    /// returns the bytes of two descriptor-carrying sends in one read, so sending a message
    /// per call and receiving it with one `receive_with_ancillary` keeps them together. Not
    /// cancel-safe, like [`send_all`](Self::send_all).
    ///
    /// ```
    /// # #[cfg(feature = "tokio")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use packetwire::unix::SocketAncillary;
    ///
    /// let (mut a, mut b) = packetwire::net::socketpair()?;
    /// let (_reader, writer) = packetwire::os::pipe()?;
    /// let mut out = SocketAncillary::new();
    /// out.add_fd(&writer);
    /// a.send_all_with_ancillary(b"take this pipe", &out).await?;
    ///
    /// let mut anc = SocketAncillary::new();
    /// let data = b.receive_with_ancillary(1024, &mut anc).await?;
    /// assert_eq!(data, "take this pipe");
    /// assert_eq!(anc.take_fds().len(), 1);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn send_all_with_ancillary(
        &mut self,
        data: &[u8],
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendError> {
        self.write
            .core
            .send_all_with_ancillary(data, ancillary)
            .await
    }

    /// Receives up to `max` bytes with one `recvmsg`, appending the ancillary data that came
    /// with them (descriptors, and credentials with [`set_passcred`](Self::set_passcred)) to
    /// `ancillary`.
    ///
    /// **Buffered bytes come first.** If earlier calls (`receive_until`, `receive_exactly`,
    /// `AsyncRead`, ...) left bytes in the stream's buffer, they are returned (up to `max`)
    /// without a system call, and `ancillary` is not touched: those bytes were taken by a
    /// plain read, and the kernel closed whatever descriptors came with them. Check
    /// [`buffered`](Self::buffered) to tell; call again to reach the socket.
    ///
    /// Returns [`ReceiveError::EndOfStream`] once the peer closed its side, and
    /// [`ReceiveError::ControlTruncated`] when the control data did not fit in
    /// [`ancillary.recv_capacity()`](SocketAncillary::recv_capacity) (the descriptors that
    /// arrived are closed; the connection should be dropped). Cancel-safe.
    pub async fn receive_with_ancillary(
        &mut self,
        max: usize,
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<bytes::Bytes, ReceiveError> {
        self.read.core.receive_with_ancillary(max, ancillary).await
    }

    /// The credentials of the peer process from when it connected (`SO_PEERCRED`).
    pub fn peer_credentials(&self) -> io::Result<Credentials> {
        os::peer_credentials(self.as_fd())
    }

    /// Enables or disables receiving the sender's credentials with the data
    /// (`SO_PASSCRED`), in [`receive_with_ancillary`](Self::receive_with_ancillary).
    pub fn set_passcred(&self, enable: bool) -> io::Result<()> {
        os::set_passcred(self.as_fd(), enable)
    }

    /// Whether `SO_PASSCRED` is on.
    pub fn passcred(&self) -> io::Result<bool> {
        os::passcred(self.as_fd())
    }

    /// The socket's options (buffer sizes, ...).
    pub fn socket_options(&self) -> SocketOptions<'_> {
        SocketOptions::new(self)
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

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl_async_read!(UnixStream, read.core);
impl_async_write!(UnixStream, true, write.core);

/// Two connected Unix streams (`socketpair(AF_UNIX, SOCK_STREAM)`), on the current runtime.
pub fn socketpair() -> io::Result<(UnixStream, UnixStream)> {
    socketpair_with_runtime(runtime::current()?)
}

/// [`socketpair`] on the given runtime.
pub fn socketpair_with_runtime(runtime: Arc<dyn Runtime>) -> io::Result<(UnixStream, UnixStream)> {
    let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
    let a = UnixStream::from_registered(
        runtime.register(a.into())?,
        Arc::clone(&runtime),
        DEFAULT_LIMIT,
    );
    let b = UnixStream::from_registered(runtime.register(b.into())?, runtime, DEFAULT_LIMIT);
    Ok((a, b))
}

/// How to open a Unix stream connection: timeout, local path, buffer limit and runtime.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use packetwire::net::{UnixConnectOptions, UnixListener};
///
/// let name = format!("@packetwire-doc-{}", std::process::id());
/// let listener = UnixListener::bind(&name).await?;
/// let client = UnixConnectOptions::new()
///     .timeout(Duration::from_secs(5))
///     .connect(&name)
///     .await?;
/// let (server, _) = listener.accept().await?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct UnixConnectOptions {
    timeout: Option<Duration>,
    local_path: Option<std::path::PathBuf>,
    limit: usize,
    runtime: Option<Arc<dyn Runtime>>,
}

impl Default for UnixConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixConnectOptions {
    /// No timeout, no local path, a 64 KiB buffer limit, the current runtime.
    pub fn new() -> Self {
        Self {
            timeout: None,
            local_path: None,
            limit: DEFAULT_LIMIT,
            runtime: None,
        }
    }

    /// Gives up after `timeout` ([`ConnectError::TimedOut`]); a listener whose backlog is full
    /// is retried until then.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Binds the client socket to this path (or `@name`) first, so the server sees a named
    /// peer.
    pub fn local_path(mut self, path: impl AsRef<Path>) -> Self {
        self.local_path = Some(path.as_ref().to_owned());
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

    /// Connects to the socket at `path` (`@name`: Linux abstract name).
    pub async fn connect(&self, path: impl AsRef<Path>) -> Result<UnixStream, ConnectError> {
        let addr = sys::unix_sockaddr(path.as_ref())?;
        self.connect_sockaddr(addr).await
    }

    /// Connects to a Unix socket address (path or abstract name; an unnamed address is an
    /// [`io::ErrorKind::InvalidInput`] error).
    pub async fn connect_addr(&self, addr: &UnixSocketAddress) -> Result<UnixStream, ConnectError> {
        let addr = sys::sockaddr_from_std(&addr.to_std().map_err(io::Error::from)?)?;
        self.connect_sockaddr(addr).await
    }

    async fn connect_sockaddr(&self, addr: SockAddr) -> Result<UnixStream, ConnectError> {
        let rt = runtime::or_current(self.runtime.as_ref())?;
        let deadline = self.timeout.and_then(|t| rt.now().checked_add(t));
        let attempt = async {
            let socket = connecting::unix_socket(self.local_path.as_deref())?;
            let mut wait = connecting::BACKLOG_RETRY_MIN;
            let in_progress = loop {
                match connecting::try_unix(&socket, &addr)? {
                    ConnectStep::Connected => break false,
                    ConnectStep::InProgress => break true,
                    ConnectStep::BacklogFull => {
                        runtime::sleep(&*rt, wait).await;
                        wait = connecting::next_backlog_wait(wait);
                    }
                }
            };
            let io = rt.register(socket.into())?;
            if in_progress {
                std::future::poll_fn(|cx| io.poll_write_with(cx, &mut sys::connect_result)).await?;
            }
            Ok(UnixStream::from_registered(io, Arc::clone(&rt), self.limit))
        };
        runtime::maybe_timeout_at(&*rt, deadline, attempt)
            .await
            .unwrap_or(Err(ConnectError::TimedOut))
    }
}
