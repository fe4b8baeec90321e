//! The TLS stream: rustls (driven by tokio-rustls) over a packetwire TCP stream, with the
//! receive vocabulary over the shared sans-IO [`ReceiveBuffer`].
//!
//! The transport under rustls is [`RawStream`]: the two halves of a [`TcpStream`], whose I/O
//! goes through the runtime seam. So one driver serves every runtime; tokio-rustls only needs
//! tokio's I/O traits (the `tokio` crate without its runtime), which `RawStream` implements
//! whatever runtime the stream is registered with.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use packetwire_proto::{ReceiveBuffer, DEFAULT_READ_SIZE};
use rustls::pki_types::CertificateDer;
use rustls::{CommonState, ProtocolVersion, SupportedCipherSuite};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::config::StreamSettings;
use crate::net::{ReadHalf, ReceiveError, SendError, TcpStream};
use crate::runtime::{self, Runtime};
use crate::socket::adopt::inet_addr;

/// Gathered sends are copied into chunks of this size (the largest TLS record), so that many
/// small buffers do not each become a record.
const COALESCE_SIZE: usize = 16 * 1024;

/// The transport under rustls: a TCP stream's halves, which keep the stream's buffered bytes
/// (read first) and do their I/O through the runtime seam.
#[derive(Debug)]
pub(crate) struct RawStream {
    read: ReadHalf,
    write: crate::net::WriteHalf,
}

impl RawStream {
    /// Takes a TCP stream apart: the transport, its runtime and its buffer limit.
    pub(crate) fn new(stream: TcpStream) -> (Self, Arc<dyn Runtime>, usize) {
        let runtime = Arc::clone(stream.runtime());
        let limit = stream.limit();
        let (read, write) = stream.into_split();
        (Self { read, write }, runtime, limit)
    }
}

impl AsyncRead for RawStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self
            .get_mut()
            .read
            .core
            .poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for RawStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write.core.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write.core.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().write.core.send_eof().map_err(Into::into))
    }
}

/// Reads plaintext from the session into `out` (zero bytes: end of stream). A TCP end of
/// stream without `close_notify` is an `UnexpectedEof` error from rustls, or the end of the
/// stream when not `standard_compatible`.
fn poll_tls_read(
    tls: &mut tokio_rustls::TlsStream<RawStream>,
    standard_compatible: bool,
    cx: &mut Context<'_>,
    out: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut buf = ReadBuf::new(out);
    match Pin::new(tls).poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
        Poll::Ready(Err(e)) if !standard_compatible && e.kind() == io::ErrorKind::UnexpectedEof => {
            Poll::Ready(Ok(0))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// The rustls session over the transport, the plaintext receive buffer and the send state.
#[derive(Debug)]
pub(crate) struct TlsCore {
    tls: tokio_rustls::TlsStream<RawStream>,
    buffer: ReceiveBuffer,
    standard_compatible: bool,
    eof_sent: bool,
}

impl TlsCore {
    fn common(&self) -> &CommonState {
        self.tls.get_ref().1
    }

    pub(crate) fn limit(&self) -> usize {
        self.buffer.limit()
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.buffer.set_limit(limit);
    }

    pub(crate) fn buffered(&self) -> &[u8] {
        self.buffer.buffered()
    }

    pub(crate) fn at_eof(&self) -> bool {
        self.buffer.at_eof()
    }

    /// Reads plaintext once into the buffer (zero bytes: end of stream).
    fn poll_fill(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let max = max.clamp(1, crate::socket::stream::MAX_READ_SIZE);
        let Self {
            tls,
            buffer,
            standard_compatible,
            ..
        } = self;
        let mut pending = false;
        let result = buffer.fill_with(max, |room| {
            match poll_tls_read(tls, *standard_compatible, cx, room) {
                Poll::Ready(result) => result,
                Poll::Pending => {
                    pending = true;
                    // Leaves the buffer as it was; turned back into `Pending` below.
                    Err(io::ErrorKind::WouldBlock.into())
                }
            }
        });
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(result)
        }
    }

    async fn fill(&mut self, max: usize) -> Result<(), ReceiveError> {
        poll_fn(|cx| self.poll_fill(cx, max)).await?;
        Ok(())
    }

    pub(crate) async fn receive(&mut self, max: usize) -> Result<Bytes, ReceiveError> {
        loop {
            if let Some(bytes) = self.buffer.take_up_to(max)? {
                return Ok(bytes);
            }
            self.fill(max).await?;
        }
    }

    pub(crate) async fn receive_exactly(&mut self, n: usize) -> Result<Bytes, ReceiveError> {
        loop {
            if let Some(bytes) = self.buffer.take_exactly(n)? {
                return Ok(bytes);
            }
            let missing = self.buffer.missing_for(n);
            self.fill(missing.max(DEFAULT_READ_SIZE)).await?;
        }
    }

    pub(crate) async fn receive_until(&mut self, separator: &[u8]) -> Result<Bytes, ReceiveError> {
        loop {
            if let Some(bytes) = self.buffer.take_until(separator)? {
                return Ok(bytes);
            }
            self.fill(DEFAULT_READ_SIZE).await?;
        }
    }

    /// `AsyncRead`: the buffer first, then the session straight into `out`.
    fn poll_read_into(&mut self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !self.buffer.is_empty() {
            return Poll::Ready(Ok(self.buffer.copy_to(out)));
        }
        if self.buffer.is_eof() {
            return Poll::Ready(Ok(0));
        }
        poll_tls_read(&mut self.tls, self.standard_compatible, cx, out)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.eof_sent {
            return Poll::Ready(Err(SendError::WriteClosed.into()));
        }
        Pin::new(&mut self.tls).poll_write(cx, data)
    }

    #[cfg_attr(not(any(feature = "tokio", feature = "smol")), allow(dead_code))]
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.eof_sent {
            return Poll::Ready(Err(SendError::WriteClosed.into()));
        }
        Pin::new(&mut self.tls).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    /// Sends `close_notify` (once), flushes, and shuts down the TCP write side.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.eof_sent = true;
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }

    async fn write_all(&mut self, data: &[u8]) -> Result<(), SendError> {
        let mut sent = 0;
        while sent < data.len() {
            let n = poll_fn(|cx| self.poll_write(cx, &data[sent..])).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            sent += n;
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.eof_sent {
            Err(SendError::WriteClosed)
        } else {
            Ok(())
        }
    }

    async fn flush(&mut self) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_flush(cx)).await?;
        Ok(())
    }

    async fn send_all(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        self.write_all(data).await?;
        self.flush().await
    }

    async fn send_all_vectored(&mut self, bufs: &[IoSlice<'_>]) -> Result<(), SendError> {
        self.check_open()?;
        let mut chunk = Vec::new();
        for buf in bufs.iter().filter(|b| !b.is_empty()) {
            if chunk.len() + buf.len() <= COALESCE_SIZE {
                chunk.extend_from_slice(buf);
                continue;
            }
            if !chunk.is_empty() {
                self.write_all(&chunk).await?;
                chunk.clear();
            }
            if buf.len() >= COALESCE_SIZE {
                self.write_all(buf).await?;
            } else {
                chunk.extend_from_slice(buf);
            }
        }
        if !chunk.is_empty() {
            self.write_all(&chunk).await?;
        }
        self.flush().await
    }

    async fn send_eof(&mut self) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_shutdown(cx)).await?;
        Ok(())
    }
}

/// A TLS connection over TCP, with the same receive and send vocabulary as
/// [`TcpStream`](crate::net::TcpStream): `receive`, `receive_exactly`, `receive_until`,
/// `receive_line` over an internal buffer of decrypted bytes, and `send_all`,
/// `send_all_vectored`, `flush`, `send_eof`. Also the TLS session's details
/// ([`peer_certificates`](Self::peer_certificates), [`alpn_protocol`](Self::alpn_protocol),
/// [`protocol_version`](Self::protocol_version)), and tokio's `AsyncRead`/`AsyncWrite`
/// (feature `tokio`) and futures-io's (feature `smol`), which read the internal buffer first.
///
/// Get one from [`TlsConnector::connect`](super::TlsConnector::connect),
/// [`TlsConnector::handshake`](super::TlsConnector::handshake),
/// [`TlsAcceptor::accept`](super::TlsAcceptor::accept) or a
/// [`TlsListener`](super::TlsListener). It works on every runtime: rustls runs over the TCP
/// stream's own I/O, which goes through the runtime seam.
///
/// # Ending the connection
///
/// - [`send_eof`](Self::send_eof) sends TLS `close_notify`, then shuts down the TCP write
///   side: the TLS half-close. The peer's `receive` then reports
///   [`EndOfStream`](ReceiveError::EndOfStream), and it may go on sending (TLS 1.3 allows it;
///   rustls and most TLS 1.3 stacks do; some TLS 1.2 stacks close at once). EasyNetwork
///   refuses `send_eof` over TLS instead; packetwire follows AnyIO's `TLSStream.send_eof`
///   semantics minus the refusal, because `close_notify` is a real end-of-data signal.
/// - [`close`](Self::close) sends `close_notify` (standard-compatible mode, the default)
///   within the shutdown timeout, then closes the socket. It does not wait for the peer's
///   `close_notify`.
/// - Dropping the stream closes the socket without `close_notify`: in standard-compatible
///   mode the peer sees an error, not the end of the stream.
///
/// When the peer closes TCP without `close_notify`, `receive` fails with an
/// [`io::ErrorKind::UnexpectedEof`] I/O error in standard-compatible mode (a truncation
/// attack cannot pass for the end of the data), and reports the end of the stream otherwise.
///
/// # Cancel safety
///
/// As for [`TcpStream`](crate::net::TcpStream): the `receive*` methods are cancel-safe
/// (decrypted bytes stay buffered, undecrypted ones stay in rustls), the `send*` methods and
/// `send_eof` are not.
pub struct TlsStream {
    core: TlsCore,
    runtime: Arc<dyn Runtime>,
    settings: StreamSettings,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("fd", &self.as_fd())
            .field("server", &self.is_server())
            .field("protocol_version", &self.protocol_version())
            .field("buffered", &self.core.buffer.len())
            .field("eof_sent", &self.core.eof_sent)
            .finish()
    }
}

impl TlsStream {
    pub(crate) fn new(
        tls: tokio_rustls::TlsStream<RawStream>,
        runtime: Arc<dyn Runtime>,
        limit: usize,
        settings: StreamSettings,
    ) -> Self {
        Self {
            core: TlsCore {
                tls,
                buffer: ReceiveBuffer::with_limit(limit),
                standard_compatible: settings.standard_compatible,
                eof_sent: false,
            },
            runtime,
            settings,
        }
    }

    fn common(&self) -> &CommonState {
        self.core.common()
    }

    crate::net::receive_methods!(core);

    /// Sends all of `data`, encrypted, and flushes it to the socket (asyncio's `write` +
    /// `drain`). Not cancel-safe: if the future is dropped, part of `data` may have been
    /// sent.
    pub async fn send_all(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.core.send_all(data).await
    }

    /// Sends every buffer in order (asyncio's `writelines`), then flushes. Small buffers
    /// are gathered into records of up to 16 KiB. Not cancel-safe.
    pub async fn send_all_vectored(&mut self, bufs: &[IoSlice<'_>]) -> Result<(), SendError> {
        self.core.send_all_vectored(bufs).await
    }

    /// Writes to the socket whatever rustls still holds (records and alerts). `send_all`
    /// already does; this is for data written through `AsyncWrite`.
    pub async fn flush(&mut self) -> Result<(), SendError> {
        self.core.flush().await
    }

    /// Ends the sending side: sends TLS `close_notify`, flushes, and shuts down the TCP
    /// write side (see [Ending the connection](Self#ending-the-connection)). Receiving still
    /// works. Calling it again only flushes. Sending afterwards fails with
    /// [`SendError::WriteClosed`].
    pub async fn send_eof(&mut self) -> Result<(), SendError> {
        self.core.send_eof().await
    }

    /// Whether [`send_eof`](Self::send_eof) was called.
    pub fn eof_sent(&self) -> bool {
        self.core.eof_sent
    }

    /// Closes the connection: in standard-compatible mode, sends `close_notify` first (as
    /// [`send_eof`](Self::send_eof)), giving up after the shutdown timeout (30 s by default)
    /// with an [`io::ErrorKind::TimedOut`] error. The socket is closed in every case.
    pub async fn close(mut self) -> Result<(), SendError> {
        if !self.settings.standard_compatible {
            return Ok(());
        }
        let timeout = self.settings.shutdown_timeout;
        match runtime::timeout(&*self.runtime, timeout, self.core.send_eof()).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS shutdown timed out",
            ))),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(socket2::SockRef::from(self).local_addr()?)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet_addr(socket2::SockRef::from(self).peer_addr()?)
    }

    /// The runtime the stream is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The certificate chain the peer presented, leaf first: always there on a client (the
    /// server's chain); on a server, only when a client certificate was asked for and given.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.common().peer_certificates()
    }

    /// The application protocol agreed with ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.common().alpn_protocol()
    }

    /// The TLS version in use (`TLSv1_3` or `TLSv1_2`).
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.common().protocol_version()
    }

    /// The cipher suite in use.
    pub fn negotiated_cipher_suite(&self) -> Option<SupportedCipherSuite> {
        self.common().negotiated_cipher_suite()
    }

    /// On a server, the name the client asked for with SNI; `None` on a client.
    pub fn sni_hostname(&self) -> Option<&str> {
        match &self.core.tls {
            tokio_rustls::TlsStream::Server(tls) => tls.get_ref().1.server_name(),
            tokio_rustls::TlsStream::Client(_) => None,
        }
    }

    /// Whether this is the server side of the connection.
    pub fn is_server(&self) -> bool {
        matches!(self.core.tls, tokio_rustls::TlsStream::Server(_))
    }

    /// Reads decrypted bytes into `out` (the buffer first); zero bytes: the end of the
    /// stream. For the packet clients, which drive the session one poll at a time.
    pub(crate) fn poll_read_plain(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_read_into(cx, out)
    }

    /// Encrypts and writes some of `data` (see [`poll_read_plain`](Self::poll_read_plain)).
    pub(crate) fn poll_write_plain(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write(cx, data)
    }

    /// Flushes the records rustls holds.
    pub(crate) fn poll_flush_plain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.poll_flush(cx)
    }

    /// [`send_eof`](Self::send_eof), one poll at a time.
    pub(crate) fn poll_send_eof(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.poll_shutdown(cx)
    }
}

/// Poll-level access for the packet servers, which share one TLS stream between the
/// session that receives and the client handle that sends.
#[cfg(any(target_os = "linux", target_os = "android"))]
impl TlsStream {
    pub(crate) fn server_poll_read(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_read_into(cx, out)
    }

    pub(crate) fn server_poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write(cx, data)
    }

    pub(crate) fn server_poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.poll_flush(cx)
    }

    pub(crate) fn server_poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.poll_shutdown(cx)
    }

    /// The registered TCP socket under the session.
    pub(crate) fn socket_shared(&self) -> Arc<crate::net::stream::Shared> {
        Arc::clone(self.core.tls.get_ref().0.read.core.shared())
    }
}

/// The TCP socket, for socket options. Reading or writing it directly would corrupt the TLS
/// session.
impl AsFd for TlsStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.tls.get_ref().0.read.as_fd()
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self
            .get_mut()
            .core
            .poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().core.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().core.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().core.poll_flush(cx)
    }

    /// Sends `close_notify` and shuts down the TCP write side, as
    /// [`TlsStream::send_eof`].
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().core.poll_shutdown(cx)
    }
}

#[cfg(feature = "smol")]
impl futures_io::AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().core.poll_read_into(cx, buf)
    }
}

#[cfg(feature = "smol")]
impl futures_io::AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().core.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().core.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().core.poll_flush(cx)
    }

    /// Sends `close_notify` and shuts down the TCP write side, as
    /// [`TlsStream::send_eof`].
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().core.poll_shutdown(cx)
    }
}
