//! The blocking Unix stream packet client (EasyNetwork's `UnixStreamClient`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use packetwire_proto::{
    NoConverter, RecvConverter, SendConverter, StreamProtocol, StreamSerializer,
};

use super::stream_client::{stream_client_impls, stream_client_methods, ClientCore};
use super::{UnixConnectOptions, UnixStream};
use crate::client::stream_reader::{Received, Sent, DEFAULT_MAX_RECV_SIZE};
use crate::client::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::socket::adopt::check_unix_stream_socket;
use crate::unix::{Credentials, SocketAncillary, UnixSocketAddress};

/// A blocking Unix stream client that sends and receives whole packets of a
/// [`StreamProtocol`], with descriptor passing and credentials.
///
/// It is `Send + Sync`; sending and receiving take separate locks (one thread can wait in
/// [`recv_packet`](Self::recv_packet) while others send), and [`close`](Self::close) wakes a
/// blocked receive with [`RecvPacketError::Closed`].
///
/// ```
/// # #[cfg(feature = "json")] {
/// use std::io::{BufRead, BufReader, Write};
/// use std::time::Duration;
/// use packetwire::blocking::UnixStreamClient;
/// use packetwire::{JsonSerializer, StreamProtocol};
/// use serde_json::{json, Value};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("echo.sock");
/// let listener = std::os::unix::net::UnixListener::bind(&path)?;
/// let server = std::thread::spawn(move || -> std::io::Result<()> {
///     let (stream, _) = listener.accept()?;
///     let mut writer = stream.try_clone()?;
///     for line in BufReader::new(stream).lines() {
///         writeln!(writer, "{}", line?)?;
///     }
///     Ok(())
/// });
///
/// let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
/// let client = UnixStreamClient::connect(&path, protocol)?;
/// assert_eq!(client.peer_credentials()?.pid, std::process::id() as i32);
/// client.send_packet(&json!(["ping"]))?;
/// assert_eq!(client.recv_packet_within(Duration::from_secs(5))?, json!(["ping"]));
/// client.close();
/// server.join().unwrap()?;
/// # }
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct UnixStreamClient<S: StreamSerializer, C = NoConverter> {
    core: ClientCore<S, C>,
}

impl<S, C> UnixStreamClient<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// Connects to the socket at `path` (`@name`: a Linux abstract name) with the default
    /// options.
    pub fn connect(
        path: impl AsRef<Path>,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixStreamClientOptions::new().connect(path, protocol)
    }

    /// Connects to `addr` (a path or an abstract name) with the default options.
    pub fn connect_addr(
        addr: &UnixSocketAddress,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        UnixStreamClientOptions::new().connect_addr(addr, protocol)
    }

    /// Adopts a connected standard Unix stream (ownership passes to the client). A socket
    /// that is not a Unix stream socket or not connected is a [`ClientConnectError::Adopt`]
    /// error. It is switched to non-blocking mode.
    pub fn from_std(
        stream: std::os::unix::net::UnixStream,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        let fd = OwnedFd::from(stream);
        check_unix_stream_socket(fd.as_fd())?;
        Ok(Self {
            core: ClientCore::adopt_std(fd, protocol)?,
        })
    }

    /// Takes over a packetwire blocking Unix stream, with the bytes it had buffered and its
    /// `send_eof` state.
    pub fn from_socket(stream: UnixStream, protocol: StreamProtocol<S, C>) -> Self {
        let (read, write) = stream.into_split();
        Self {
            core: ClientCore::from_halves(read, write, protocol, DEFAULT_MAX_RECV_SIZE),
        }
    }

    /// The local address ([`Unnamed`](UnixSocketAddress::Unnamed) unless bound with
    /// [`UnixStreamClientOptions::local_path`]).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddress> {
        crate::os::unix_local_address(self.as_fd())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddress> {
        crate::os::unix_peer_address(self.as_fd())
    }

    /// The credentials of the peer process from when the connection was made
    /// (`SO_PEERCRED`).
    pub fn peer_credentials(&self) -> io::Result<Credentials> {
        crate::os::peer_credentials(self.as_fd())
    }

    /// Enables or disables receiving the sender's credentials with the data (`SO_PASSCRED`),
    /// in [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary).
    pub fn set_passcred(&self, enable: bool) -> io::Result<()> {
        crate::os::set_passcred(self.as_fd(), enable)
    }

    /// Sends one packet, whole, with `ancillary` (descriptors, credentials) attached to its
    /// first byte. The descriptors stay open here; the peer receives duplicates. The peer
    /// must receive that byte with `recvmsg(2)` asking for control data (as
    /// [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary) does), or the kernel
    /// closes the descriptors.
    ///
    /// ```
    /// # #[cfg(feature = "json")] {
    /// use std::time::Duration;
    /// use packetwire::blocking::UnixStreamClient;
    /// use packetwire::unix::SocketAncillary;
    /// use packetwire::{JsonSerializer, StreamProtocol};
    /// use serde_json::json;
    ///
    /// let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let a = UnixStreamClient::from_std(a, protocol.clone())?;
    /// let b = UnixStreamClient::from_std(b, protocol)?;
    ///
    /// let (_reader, writer) = packetwire::os::pipe()?;
    /// let mut out = SocketAncillary::new();
    /// out.add_fd(&writer);
    /// a.send_packet_with_ancillary(&json!("a pipe"), &out)?;
    ///
    /// let mut anc = SocketAncillary::new();
    /// let packet = b.recv_packet_with_ancillary_within(&mut anc, Duration::from_secs(5))?;
    /// assert_eq!(packet, json!("a pipe"));
    /// assert_eq!(anc.take_fds().len(), 1);
    /// # }
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_packet_with_ancillary(
        &self,
        packet: &Sent<S, C>,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        self.core
            .send_with_ancillary_within(packet, ancillary, None)
    }

    /// [`send_packet_with_ancillary`](Self::send_packet_with_ancillary) within `timeout`,
    /// counting the wait for the send lock.
    pub fn send_packet_with_ancillary_within(
        &self,
        packet: &Sent<S, C>,
        ancillary: &SocketAncillary<'_>,
        timeout: Duration,
    ) -> Result<(), SendPacketError> {
        self.core
            .send_with_ancillary_within(packet, ancillary, Some(timeout))
    }

    /// Receives the next packet with the ancillary data that came with its bytes (appended
    /// to `ancillary`): every read made while the packet arrives is a `recvmsg(2)` asking for
    /// control data. Bytes already buffered by an earlier plain receive came without theirs
    /// (the kernel closed those descriptors).
    ///
    /// [`RecvPacketError::ControlTruncated`] when the control data did not fit in
    /// `ancillary`'s receive capacity (the descriptors that came were closed).
    pub fn recv_packet_with_ancillary(
        &self,
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.core.recv_with_ancillary_within(ancillary, None)
    }

    /// [`recv_packet_with_ancillary`](Self::recv_packet_with_ancillary) within `timeout`,
    /// counting the wait for the receive lock.
    pub fn recv_packet_with_ancillary_within(
        &self,
        ancillary: &mut SocketAncillary<'_>,
        timeout: Duration,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.core
            .recv_with_ancillary_within(ancillary, Some(timeout))
    }

    stream_client_methods!();
}

stream_client_impls!(UnixStreamClient);

/// The options of a blocking [`UnixStreamClient`]: connect timeout, local path and receive
/// size.
///
/// ```
/// # #[cfg(feature = "json")] {
/// use std::time::Duration;
/// use packetwire::blocking::UnixStreamClientOptions;
/// use packetwire::unix::UnixSocketAddress;
/// use packetwire::{JsonSerializer, StreamProtocol};
///
/// // A Linux abstract name: no file.
/// let name = format!("packetwire-doc-client-{}", std::process::id());
/// let addr = UnixSocketAddress::from_abstract_name(&name)?;
/// let listener = packetwire::unix::bind_listener(&addr, 1)?;
/// let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
/// let client = UnixStreamClientOptions::new()
///     .connect_timeout(Duration::from_secs(5))
///     .max_recv_size(1024)
///     .connect_addr(&addr, protocol)?;
/// assert_eq!(client.peer_addr()?, addr);
/// # drop(listener);
/// # }
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct UnixStreamClientOptions {
    unix: UnixConnectOptions,
    max_recv_size: usize,
}

impl Default for UnixStreamClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl UnixStreamClientOptions {
    /// The defaults: no connect timeout, no local path, 64 KiB reads.
    pub fn new() -> Self {
        Self {
            unix: UnixConnectOptions::new(),
            max_recv_size: DEFAULT_MAX_RECV_SIZE,
        }
    }

    /// A timeout for connecting.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.unix = self.unix.timeout(timeout);
        self
    }

    /// Binds the socket to this path (`@name`: an abstract name) before connecting, so that
    /// the server sees a named peer.
    pub fn local_path(mut self, path: impl AsRef<Path>) -> Self {
        self.unix = self.unix.local_path(path);
        self
    }

    /// How many bytes one read asks for at most (64 KiB by default; at least 1).
    pub fn max_recv_size(mut self, size: usize) -> Self {
        self.max_recv_size = crate::client::stream_reader::clamp_recv_size(size);
        self
    }

    /// Connects to the socket at `path` (`@name`: a Linux abstract name).
    pub fn connect<S, C>(
        &self,
        path: impl AsRef<Path>,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, ClientConnectError>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let stream = self.unix.connect(path)?;
        Ok(self.adopt(stream, protocol))
    }

    /// Connects to `addr` (a path or an abstract name).
    pub fn connect_addr<S, C>(
        &self,
        addr: &UnixSocketAddress,
        protocol: StreamProtocol<S, C>,
    ) -> Result<UnixStreamClient<S, C>, ClientConnectError>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let stream = self.unix.connect_addr(addr)?;
        Ok(self.adopt(stream, protocol))
    }

    fn adopt<S, C>(
        &self,
        stream: UnixStream,
        protocol: StreamProtocol<S, C>,
    ) -> UnixStreamClient<S, C>
    where
        S: StreamSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let (read, write) = stream.into_split();
        UnixStreamClient {
            core: ClientCore::from_halves(read, write, protocol, self.max_recv_size),
        }
    }
}
