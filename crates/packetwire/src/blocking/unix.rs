//! Blocking Unix stream sockets: connect by path or abstract name, adopt, or make a pair; on
//! Linux, peer credentials and descriptor passing.

use crate::unix::UnixSocketAddress;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use packetwire_proto::DEFAULT_LIMIT;
use socket2::{Domain, SockAddr, Socket, Type};

use super::stream::{
    halves, impl_std_read, impl_std_write, receive_methods, send_methods, ReadHalf, WriteHalf,
};
use super::wait::{self, Interest};
use crate::net::{AdoptError, ConnectError};
use crate::socket::adopt::{check_connected, check_unix_stream_socket};
use crate::socket::connect::{self as connecting, ConnectStep};
use crate::socket::sys;

/// A connected Unix stream socket that blocks the calling thread, with the same vocabulary as
/// [`TcpStream`](super::TcpStream).
///
/// Addresses are paths, or on Linux abstract names written `@name` (use `./@name` for a file
/// whose name starts with `@`). Connect with [`UnixStream::connect`] (or
/// [`UnixConnectOptions`]), accept from a [`UnixListener`](super::UnixListener), adopt with
/// [`UnixStream::from_std`], or make a connected pair with [`socketpair`].
///
/// On Linux it also passes descriptors and credentials
/// ([`send_all_with_ancillary`](Self::send_all_with_ancillary),
/// [`receive_with_ancillary`](Self::receive_with_ancillary)) and tells who the peer is
/// ([`peer_credentials`](Self::peer_credentials)).
///
/// ```
/// use std::io::BufRead;
///
/// let (mut a, mut b) = packetwire::blocking::socketpair()?;
/// a.send_all(b"ping\npong\n")?;
/// assert_eq!(b.receive_line()?, &b"ping\n"[..]);
/// // std's BufRead reads the same buffer.
/// let mut line = String::new();
/// b.read_line(&mut line)?;
/// assert_eq!(line, "pong\n");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UnixStream {
    read: ReadHalf,
    write: WriteHalf,
}

impl UnixStream {
    /// Connects to the socket at `path` (`@name`: Linux abstract name) with the default
    /// options.
    pub fn connect(path: impl AsRef<Path>) -> Result<Self, ConnectError> {
        UnixConnectOptions::new().connect(path)
    }

    /// Adopts a connected standard Unix stream. The socket is checked at once (stream type,
    /// `AF_UNIX`, connected) and switched to non-blocking mode.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> Result<Self, AdoptError> {
        let fd = OwnedFd::from(stream);
        check_unix_stream_socket(fd.as_fd())?;
        check_connected(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Self::from_fd(fd, DEFAULT_LIMIT))
    }

    /// A stream over a connected, non-blocking Unix stream socket.
    pub(crate) fn from_fd(fd: OwnedFd, limit: usize) -> Self {
        let (read, write) = halves(fd, limit);
        Self { read, write }
    }

    /// The local address (often unnamed for a client).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddress> {
        crate::os::unix_local_address(self.as_fd())
    }

    /// The peer's address (often unnamed for a client seen by a server).
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddress> {
        crate::os::unix_peer_address(self.as_fd())
    }

    /// Typed socket options (buffer sizes, `SO_PASSCRED` through
    /// [`crate::os::set_passcred`], ...), EasyNetwork's socket proxy.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn socket_options(&self) -> crate::sockopt::SocketOptions<'_> {
        crate::sockopt::SocketOptions::new(self)
    }

    /// The credentials of the peer process, as they were when it connected (`SO_PEERCRED`);
    /// see [`os::peer_credentials`](crate::os::peer_credentials).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn peer_credentials(&self) -> io::Result<crate::unix::Credentials> {
        crate::os::peer_credentials(self.as_fd())
    }

    /// Sends all of `data` with ancillary data (descriptors, credentials) attached to its
    /// first byte, within the send timeout: one `sendmsg`
    /// ([`os::send_with_ancillary`](crate::os::send_with_ancillary)), then plain sends for
    /// what did not fit. `data` must not be empty when there is ancillary data. Like
    /// [`send_all`](Self::send_all), part of `data` may have been sent on error.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use packetwire::unix::SocketAncillary;
    ///
    /// let (mut a, mut b) = packetwire::blocking::socketpair()?;
    /// let (reader, writer) = packetwire::os::pipe()?;
    /// let mut out = SocketAncillary::new();
    /// out.add_fd(&writer);
    /// a.send_all_with_ancillary(b"a pipe", &out)?;
    /// drop(writer);
    ///
    /// let mut received = SocketAncillary::new();
    /// assert_eq!(b.receive_with_ancillary(64, &mut received)?, &b"a pipe"[..]);
    /// let [fd] = <[_; 1]>::try_from(received.take_fds()).unwrap();
    /// std::fs::File::from(fd).write_all(b"through the pipe")?;
    /// let mut text = String::new();
    /// std::fs::File::from(reader).read_to_string(&mut text)?;
    /// assert_eq!(text, "through the pipe");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn send_all_with_ancillary(
        &mut self,
        data: &[u8],
        ancillary: &crate::unix::SocketAncillary<'_>,
    ) -> Result<(), crate::net::SendError> {
        let timeout = self.write.core.timeout();
        self.write
            .core
            .send_all_with_ancillary(data, ancillary, timeout)
    }

    /// Receives up to `max` bytes with one `recvmsg`
    /// ([`os::recv_with_ancillary`](crate::os::recv_with_ancillary)), appending the control
    /// messages that came with them (descriptors, credentials) to `ancillary`; waits within
    /// the receive timeout. End of stream is [`ReceiveError::EndOfStream`].
    ///
    /// # The receive buffer comes first
    ///
    /// Bytes already in [`buffered`](Self::buffered) were received by plain reads, which
    /// carry no control messages (the kernel closes descriptors that arrive that way). While
    /// there are any, this returns them, up to `max`, and leaves `ancillary` untouched; only
    /// an empty buffer makes it call `recvmsg`. So to receive descriptors, do not read past
    /// the bytes they travel with: have the peer send them at a message boundary you reach
    /// exactly (with `receive_exactly` or `receive_until`), or check that
    /// [`buffered`](Self::buffered) is empty. Linux ends a `recvmsg` after the bytes a
    /// message with descriptors came with, so the descriptors of two messages never mix.
    ///
    /// [`ReceiveError::EndOfStream`]: crate::net::ReceiveError::EndOfStream
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn receive_with_ancillary(
        &mut self,
        max: usize,
        ancillary: &mut crate::unix::SocketAncillary<'_>,
    ) -> Result<bytes::Bytes, crate::net::ReceiveError> {
        let timeout = self.read.core.timeout();
        self.read
            .core
            .receive_with_ancillary(max, ancillary, timeout)
    }

    /// Borrows the receive and send halves, to use them at the same time (for instance from
    /// two scoped threads).
    ///
    /// On an owned stream with [`std::io::BufRead`] in scope, `stream.split()` means
    /// `BufRead::split`: write `UnixStream::split(&mut stream)`.
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

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl_std_read!(UnixStream, read.core);
impl_std_write!(UnixStream, write.core);

/// Two connected blocking Unix streams (`socketpair(AF_UNIX, SOCK_STREAM)`).
pub fn socketpair() -> io::Result<(UnixStream, UnixStream)> {
    let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
    Ok((
        UnixStream::from_fd(a.into(), DEFAULT_LIMIT),
        UnixStream::from_fd(b.into(), DEFAULT_LIMIT),
    ))
}

/// How to open a blocking Unix stream connection: timeout, local path and buffer limit.
///
/// ```
/// use std::time::Duration;
/// use packetwire::blocking::{UnixConnectOptions, UnixListener};
///
/// let name = format!("@packetwire-doc-blocking-{}", std::process::id());
/// let listener = UnixListener::bind(&name)?;
/// let client = UnixConnectOptions::new()
///     .timeout(Duration::from_secs(5))
///     .connect(&name)?;
/// let (server, _) = listener.accept()?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UnixConnectOptions {
    timeout: Option<Duration>,
    local_path: Option<PathBuf>,
    limit: usize,
}

impl Default for UnixConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixConnectOptions {
    /// No timeout, no local path, a 64 KiB buffer limit.
    pub fn new() -> Self {
        Self {
            timeout: None,
            local_path: None,
            limit: DEFAULT_LIMIT,
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

    /// Connects to the socket at `path` (`@name`: Linux abstract name).
    pub fn connect(&self, path: impl AsRef<Path>) -> Result<UnixStream, ConnectError> {
        let addr = sys::unix_sockaddr(path.as_ref())?;
        self.connect_sockaddr(&addr)
    }

    /// Connects to a Unix socket address (path or abstract name).
    pub fn connect_addr(&self, addr: &UnixSocketAddress) -> Result<UnixStream, ConnectError> {
        let addr = sys::sockaddr_from_std(&addr.to_std().map_err(io::Error::from)?)?;
        self.connect_sockaddr(&addr)
    }

    fn connect_sockaddr(&self, addr: &SockAddr) -> Result<UnixStream, ConnectError> {
        let deadline = wait::deadline(self.timeout);
        let socket = connecting::unix_socket(self.local_path.as_deref())?;
        let fd = socket.as_fd();
        let mut backoff = connecting::BACKLOG_RETRY_MIN;
        loop {
            match connecting::try_unix(&socket, addr)? {
                ConnectStep::Connected => break,
                ConnectStep::InProgress => {
                    match wait::retry(fd, Interest::Write, deadline, || sys::connect_result(fd))? {
                        Some(_) => break,
                        None => return Err(ConnectError::TimedOut),
                    }
                }
                ConnectStep::BacklogFull => {
                    if !wait::sleep(backoff, deadline) {
                        return Err(ConnectError::TimedOut);
                    }
                    backoff = connecting::next_backlog_wait(backoff);
                }
            }
        }
        Ok(UnixStream::from_fd(socket.into(), self.limit))
    }
}
