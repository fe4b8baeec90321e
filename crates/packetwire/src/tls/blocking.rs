//! Blocking TLS over a standard TCP stream: rustls' `StreamOwned`, with the stream vocabulary
//! over the same sans-IO receive buffer as the async [`TlsStream`](super::TlsStream).

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use packetwire_proto::{ReceiveBuffer, DEFAULT_LIMIT, DEFAULT_READ_SIZE};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConnection, CommonState, ConnectionCommon, ProtocolVersion, ServerConnection, SideData,
    StreamOwned, SupportedCipherSuite,
};

use super::config::{StreamSettings, TlsAcceptor, TlsConnector};
use super::error::{TlsConnectError, TlsHandshakeError};
use crate::net::{ConnectError, ReceiveError, SendError};

/// Gathered sends are copied into chunks of the largest TLS record.
const COALESCE_SIZE: usize = 16 * 1024;

enum Owned {
    Client(StreamOwned<ClientConnection, TcpStream>),
    Server(StreamOwned<ServerConnection, TcpStream>),
}

impl Owned {
    fn common(&self) -> &CommonState {
        match self {
            Self::Client(s) => &s.conn,
            Self::Server(s) => &s.conn,
        }
    }

    fn sock(&self) -> &TcpStream {
        match self {
            Self::Client(s) => &s.sock,
            Self::Server(s) => &s.sock,
        }
    }

    fn send_close_notify(&mut self) {
        match self {
            Self::Client(s) => s.conn.send_close_notify(),
            Self::Server(s) => s.conn.send_close_notify(),
        }
    }
}

impl Read for Owned {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Client(s) => s.read(buf),
            Self::Server(s) => s.read(buf),
        }
    }
}

impl Write for Owned {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Client(s) => s.write(buf),
            Self::Server(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Client(s) => s.write_vectored(bufs),
            Self::Server(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Client(s) => s.flush(),
            Self::Server(s) => s.flush(),
        }
    }
}

/// Runs a handshake to its end on a blocking socket, within `timeout` (socket timeouts set
/// to what is left before each step, then put back).
fn complete_handshake<S: SideData>(
    conn: &mut ConnectionCommon<S>,
    sock: &mut TcpStream,
    timeout: Duration,
) -> Result<(), TlsHandshakeError> {
    // The handshake relies on blocking reads with timeouts.
    sock.set_nonblocking(false)?;
    let saved = (sock.read_timeout()?, sock.write_timeout()?);
    let deadline = Instant::now().checked_add(timeout);
    let result = (|| {
        while conn.is_handshaking() {
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(TlsHandshakeError::TimedOut);
                }
                sock.set_read_timeout(Some(left))?;
                sock.set_write_timeout(Some(left))?;
            }
            match conn.complete_io(sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A socket timeout (EAGAIN on Linux, ETIMEDOUT elsewhere).
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(TlsHandshakeError::TimedOut)
                }
                Err(e) => return Err(TlsHandshakeError::from_io(e)),
            }
        }
        Ok(())
    })();
    sock.set_read_timeout(saved.0)?;
    sock.set_write_timeout(saved.1)?;
    result
}

/// Plaintext into `out`, reading and decrypting what the socket has when none is buffered;
/// never writes. See [`BlockingTlsStream::read_step`].
fn read_step<S: SideData>(
    conn: &mut ConnectionCommon<S>,
    sock: &mut TcpStream,
    out: &mut [u8],
) -> io::Result<usize> {
    loop {
        match conn.reader().read(out) {
            // No plaintext yet, and the session goes on.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Plaintext, the peer's close_notify (0), or an unclean end of stream.
            other => return other,
        }
        let n = loop {
            match conn.read_tls(sock) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if let Err(e) = conn.process_new_packets() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        if n == 0 {
            // The end of the TCP stream: the reader now says how it ended.
            return match conn.reader().read(out) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    Err(io::ErrorKind::UnexpectedEof.into())
                }
                other => other,
            };
        }
    }
}

impl TlsConnector {
    /// Blocking [`connect`](Self::connect): connects as
    /// [`blocking::TcpConnectOptions::connect`](crate::blocking::TcpConnectOptions::connect)
    /// does (each resolved address in turn, no Happy Eyeballs racing), with the connect
    /// timeout and local address of the [`TcpConnectOptions`](crate::net::TcpConnectOptions)
    /// given to the configuration, then runs the handshake within the handshake timeout.
    pub fn connect_blocking(
        &self,
        host: &str,
        port: u16,
    ) -> Result<BlockingTlsStream, TlsConnectError> {
        let name = match self.server_name() {
            Some(name) => name.clone(),
            None => super::config::parse_server_name(host)?,
        };
        let stream = self.tcp_options().to_blocking().connect(host, port)?;
        // Nothing was read yet: the socket alone is the whole connection. rustls' blocking
        // driver wants a blocking standard stream.
        let fd = stream
            .as_fd()
            .try_clone_to_owned()
            .map_err(ConnectError::Io)?;
        drop(stream);
        let sock = TcpStream::from(fd);
        sock.set_nonblocking(false).map_err(ConnectError::Io)?;
        Ok(self.handshake_blocking_as(sock, name)?)
    }

    /// Blocking [`handshake`](Self::handshake) over a connected standard TCP stream (switched
    /// to blocking mode if it was not).
    pub fn handshake_blocking(
        &self,
        sock: TcpStream,
        server_name: &str,
    ) -> Result<BlockingTlsStream, TlsHandshakeError> {
        let name = super::config::parse_server_name(server_name)?;
        self.handshake_blocking_as(sock, name)
    }

    fn handshake_blocking_as(
        &self,
        mut sock: TcpStream,
        name: ServerName<'static>,
    ) -> Result<BlockingTlsStream, TlsHandshakeError> {
        let mut conn = ClientConnection::new(Arc::clone(self.rustls_config()), name)
            .map_err(TlsHandshakeError::Tls)?;
        let settings = self.settings();
        complete_handshake(&mut conn, &mut sock, settings.handshake_timeout)?;
        Ok(BlockingTlsStream::new(
            Owned::Client(StreamOwned::new(conn, sock)),
            settings,
        ))
    }
}

impl TlsAcceptor {
    /// Blocking [`accept`](Self::accept): runs the server handshake over an accepted
    /// standard TCP stream (switched to blocking mode if it was not), within the handshake
    /// timeout.
    pub fn accept_blocking(
        &self,
        mut sock: TcpStream,
    ) -> Result<BlockingTlsStream, TlsHandshakeError> {
        let mut conn = ServerConnection::new(Arc::clone(self.rustls_config()))
            .map_err(TlsHandshakeError::Tls)?;
        let settings = self.settings();
        complete_handshake(&mut conn, &mut sock, settings.handshake_timeout)?;
        Ok(BlockingTlsStream::new(
            Owned::Server(StreamOwned::new(conn, sock)),
            settings,
        ))
    }
}

/// A blocking TLS connection over a standard TCP stream, with the vocabulary of the async
/// [`TlsStream`](super::TlsStream): `receive`, `receive_exactly`, `receive_until`,
/// `receive_line`, `send_all`, `send_all_vectored`, `flush`, `send_eof`, `close`, and the
/// session's details. It also implements [`Read`] and [`Write`] (reading the internal buffer
/// first).
///
/// Get one from [`TlsConnector::connect_blocking`], [`TlsConnector::handshake_blocking`] or
/// [`TlsAcceptor::accept_blocking`]. Operations block without a time limit unless socket
/// timeouts are set on [`get_ref`](Self::get_ref); a timed-out `receive` keeps the bytes
/// received so far. Ending the connection works as for the async stream: `send_eof` sends
/// `close_notify` and shuts down the TCP write side, and a TCP end of stream without
/// `close_notify` is an [`io::ErrorKind::UnexpectedEof`] error in standard-compatible mode.
///
/// ```
/// use std::thread;
/// use packetwire::tls::{TlsClientConfig, TlsServerConfig};
///
/// # let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// # let (cert, key) = (certified.cert.der().clone(), certified.signing_key.serialize_der());
/// let acceptor = TlsServerConfig::new(vec![cert.clone()], key.try_into()?).build()?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let server = thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     let mut stream = acceptor.accept_blocking(listener.accept()?.0)?;
///     let line = stream.receive_line()?;
///     stream.send_all(&line)?;
///     stream.close()?;
///     Ok(())
/// });
///
/// let connector = TlsClientConfig::new().root_certificates([cert]).build()?;
/// let mut stream = connector.connect_blocking("localhost", port)?;
/// stream.send_all(b"blocking\n")?;
/// assert_eq!(stream.receive_line()?, &b"blocking\n"[..]);
/// assert!(stream.receive(1).unwrap_err().is_end_of_stream());
/// server.join().unwrap().unwrap();
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct BlockingTlsStream {
    stream: Owned,
    buffer: ReceiveBuffer,
    settings: StreamSettings,
    eof_sent: bool,
}

impl fmt::Debug for BlockingTlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingTlsStream")
            .field("sock", self.stream.sock())
            .field("server", &self.is_server())
            .field("protocol_version", &self.protocol_version())
            .field("buffered", &self.buffer.len())
            .field("eof_sent", &self.eof_sent)
            .finish()
    }
}

impl BlockingTlsStream {
    fn new(stream: Owned, settings: StreamSettings) -> Self {
        Self {
            stream,
            buffer: ReceiveBuffer::with_limit(DEFAULT_LIMIT),
            settings,
            eof_sent: false,
        }
    }

    /// Reads plaintext (zero bytes: end of stream), retrying interrupted reads.
    fn read_plain(
        stream: &mut Owned,
        standard_compatible: bool,
        out: &mut [u8],
    ) -> io::Result<usize> {
        loop {
            match stream.read(out) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A TCP end of stream without close_notify.
                Err(e) if !standard_compatible && e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(0)
                }
                result => return result,
            }
        }
    }

    /// One non-blocking read step for the packet clients: plaintext into `out` (the buffer
    /// first), else the TLS records the socket has, decrypted. Unlike `Read::read` it never
    /// writes (a send that is waiting for room in the socket does not turn a receive into a
    /// busy loop). Zero bytes: the end of the stream; `WouldBlock` when nothing is there.
    pub(crate) fn read_step(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if !self.buffer.is_empty() {
            return Ok(self.buffer.copy_to(out));
        }
        let standard_compatible = self.settings.standard_compatible;
        let result = match &mut self.stream {
            Owned::Client(s) => read_step(&mut s.conn, &mut s.sock, out),
            Owned::Server(s) => read_step(&mut s.conn, &mut s.sock, out),
        };
        match result {
            // A TCP end of stream without close_notify.
            Err(e) if !standard_compatible && e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }

    fn fill(&mut self, max: usize) -> Result<(), ReceiveError> {
        let max = max.clamp(1, crate::socket::stream::MAX_READ_SIZE);
        let Self {
            stream,
            buffer,
            settings,
            ..
        } = self;
        buffer.fill_with(max, |room| {
            Self::read_plain(stream, settings.standard_compatible, room)
        })?;
        Ok(())
    }

    /// Receives up to `max` bytes: what the buffer holds, otherwise what one read returns.
    /// [`ReceiveError::EndOfStream`] once the peer closed its side and every byte was
    /// received.
    pub fn receive(&mut self, max: usize) -> Result<Bytes, ReceiveError> {
        loop {
            if let Some(bytes) = self.buffer.take_up_to(max)? {
                return Ok(bytes);
            }
            self.fill(max)?;
        }
    }

    /// Receives exactly `n` bytes; [`ReceiveError::IncompleteRead`] if the peer closes its
    /// side first.
    pub fn receive_exactly(&mut self, n: usize) -> Result<Bytes, ReceiveError> {
        loop {
            if let Some(bytes) = self.buffer.take_exactly(n)? {
                return Ok(bytes);
            }
            let missing = self.buffer.missing_for(n);
            self.fill(missing.max(DEFAULT_READ_SIZE))?;
        }
    }

    /// Receives up to and including `separator`, within the buffer limit
    /// ([`ReceiveError::LimitOverrun`] leaves the data in place).
    ///
    /// # Panics
    ///
    /// If `separator` is empty.
    pub fn receive_until(&mut self, separator: &[u8]) -> Result<Bytes, ReceiveError> {
        loop {
            if let Some(bytes) = self.buffer.take_until(separator)? {
                return Ok(bytes);
            }
            self.fill(DEFAULT_READ_SIZE)?;
        }
    }

    /// Receives one line, ending with `\n` (which is kept).
    pub fn receive_line(&mut self) -> Result<Bytes, ReceiveError> {
        self.receive_until(b"\n")
    }

    /// The buffer limit for separator searches (64 KiB unless set otherwise).
    pub fn limit(&self) -> usize {
        self.buffer.limit()
    }

    /// Changes the buffer limit for separator searches.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn set_limit(&mut self, limit: usize) {
        self.buffer.set_limit(limit);
    }

    /// The decrypted bytes received but not handed out yet.
    pub fn buffered(&self) -> &[u8] {
        self.buffer.buffered()
    }

    /// Whether the peer closed its side and every byte was handed out.
    pub fn at_eof(&self) -> bool {
        self.buffer.at_eof()
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.eof_sent {
            Err(SendError::WriteClosed)
        } else {
            Ok(())
        }
    }

    /// Sends all of `data`, encrypted, and flushes it to the socket.
    pub fn send_all(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        self.stream.write_all(data)?;
        self.stream.flush()?;
        Ok(())
    }

    /// Sends every buffer in order, then flushes; small buffers are gathered into records
    /// of up to 16 KiB.
    pub fn send_all_vectored(&mut self, bufs: &[IoSlice<'_>]) -> Result<(), SendError> {
        self.check_open()?;
        let mut chunk = Vec::new();
        for buf in bufs.iter().filter(|b| !b.is_empty()) {
            if chunk.len() + buf.len() <= COALESCE_SIZE {
                chunk.extend_from_slice(buf);
                continue;
            }
            if !chunk.is_empty() {
                self.stream.write_all(&chunk)?;
                chunk.clear();
            }
            if buf.len() >= COALESCE_SIZE {
                self.stream.write_all(buf)?;
            } else {
                chunk.extend_from_slice(buf);
            }
        }
        if !chunk.is_empty() {
            self.stream.write_all(&chunk)?;
        }
        self.stream.flush()?;
        Ok(())
    }

    /// Writes to the socket whatever rustls still holds.
    pub fn flush(&mut self) -> Result<(), SendError> {
        self.stream.flush()?;
        Ok(())
    }

    /// Sends `close_notify`, flushes, and shuts down the TCP write side; receiving still
    /// works. Calling it again only flushes. Sending afterwards fails with
    /// [`SendError::WriteClosed`].
    pub fn send_eof(&mut self) -> Result<(), SendError> {
        if !self.eof_sent {
            self.eof_sent = true;
            self.stream.send_close_notify();
        }
        self.stream.flush()?;
        match self.stream.sock().shutdown(Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Whether [`send_eof`](Self::send_eof) was called.
    pub fn eof_sent(&self) -> bool {
        self.eof_sent
    }

    /// Closes the connection: in standard-compatible mode, sends `close_notify` first, with
    /// the shutdown timeout (30 s by default) as the socket's write timeout. The socket is
    /// closed in every case.
    pub fn close(mut self) -> Result<(), SendError> {
        if !self.settings.standard_compatible {
            return Ok(());
        }
        if !self.settings.shutdown_timeout.is_zero() {
            self.stream
                .sock()
                .set_write_timeout(Some(self.settings.shutdown_timeout))?;
        }
        self.send_eof()
    }

    /// The standard TCP stream, for socket options and timeouts. Reading or writing it
    /// directly would corrupt the TLS session.
    pub fn get_ref(&self) -> &TcpStream {
        self.stream.sock()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.sock().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.sock().peer_addr()
    }

    /// The certificate chain the peer presented, leaf first.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.stream.common().peer_certificates()
    }

    /// The application protocol agreed with ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.stream.common().alpn_protocol()
    }

    /// The TLS version in use.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.stream.common().protocol_version()
    }

    /// The cipher suite in use.
    pub fn negotiated_cipher_suite(&self) -> Option<SupportedCipherSuite> {
        self.stream.common().negotiated_cipher_suite()
    }

    /// On a server, the name the client asked for with SNI; `None` on a client.
    pub fn sni_hostname(&self) -> Option<&str> {
        match &self.stream {
            Owned::Server(s) => s.conn.server_name(),
            Owned::Client(_) => None,
        }
    }

    /// Whether this is the server side of the connection.
    pub fn is_server(&self) -> bool {
        matches!(self.stream, Owned::Server(_))
    }
}

/// The TCP socket, for socket options. Reading or writing it directly would corrupt the TLS
/// session.
impl AsFd for BlockingTlsStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.sock().as_fd()
    }
}

/// Reads the internal buffer first, then the session.
impl Read for BlockingTlsStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if !self.buffer.is_empty() {
            return Ok(self.buffer.copy_to(out));
        }
        if self.buffer.is_eof() {
            return Ok(0);
        }
        Self::read_plain(&mut self.stream, self.settings.standard_compatible, out)
    }
}

/// Writes go into rustls, which sends what it can; [`flush`](Write::flush) sends the rest.
impl Write for BlockingTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.check_open()?;
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
