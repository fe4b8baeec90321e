//! One connection of a stream server: the client handle (send, close, metadata) and the
//! session the handler receives requests from.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use bytes::BytesMut;
use packetwire_proto::BuildError;

use super::handler::{Address, Extensions, RecvError, RecvParams};
use super::protocol::StreamRequestDecoder;
#[cfg(feature = "tls")]
use super::util::lock;
use super::util::{until_either, Signal, SignalWaiter, Slot};
use crate::client::SendPacketError;
use crate::net::stream::Shared;
use crate::net::{ReadHalf, WriteHalf};
use crate::runtime::{self, Runtime};
use crate::sockopt::SocketOptions;
use crate::unix::{Credentials, SocketAncillary};

/// How much one read asks the socket for (EasyNetwork's `max_recv_size`).
pub(crate) const READ_SIZE: usize = 16 * 1024;

/// Encode buffers that grew past this are not kept for the next packet.
const KEEP_ENCODE_CAPACITY: usize = 64 * 1024;

pub(crate) type Encoder<Resp> =
    Arc<dyn Fn(&Resp, &mut BytesMut) -> Result<(), BuildError> + Send + Sync>;

/// The receiving side of a connection.
pub(crate) enum ReadSide {
    /// A TCP (`false`) or Unix stream (`true`) connection.
    Net(ReadHalf, bool),
    #[cfg(feature = "tls")]
    Tls(Arc<Mutex<crate::tls::TlsStream>>),
}

/// The sending side of a connection.
pub(crate) enum WriteSide {
    Net(WriteHalf),
    #[cfg(feature = "tls")]
    Tls(Arc<Mutex<crate::tls::TlsStream>>),
}

impl ReadSide {
    fn poll_read(
        &mut self,
        cx: &mut std::task::Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            Self::Net(half, unix) => half.core.poll_read_stream(cx, out, *unix),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => lock(tls).server_poll_read(cx, out),
        }
    }

    /// Reads once, appending what came to `buffer` in the same step (so a cancelled read
    /// loses nothing). Zero: the end of the stream. The read lands in the thread's scratch
    /// buffer ([`read_via_scratch`](packetwire_proto::read_via_scratch)), so an idle connection
    /// holds no read buffer at all (10,000 idle clients would otherwise keep 160 MiB of zeroed
    /// room).
    async fn read_into(&mut self, buffer: &mut BytesMut) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut pending = false;
            let result = packetwire_proto::read_via_scratch(buffer, READ_SIZE, |room| {
                match self.poll_read(cx, room) {
                    Poll::Ready(result) => result,
                    Poll::Pending => {
                        pending = true;
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                }
            });
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(result)
            }
        })
        .await
    }
}

impl WriteSide {
    async fn write_all(&mut self, data: &[u8]) -> Result<(), SendPacketError> {
        match self {
            Self::Net(half) => Ok(half.core.send_all(data).await?),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => {
                let mut sent = 0;
                while sent < data.len() {
                    let n = poll_fn(|cx| lock(tls).server_poll_write(cx, &data[sent..])).await?;
                    if n == 0 {
                        return Err(io::Error::from(io::ErrorKind::WriteZero).into());
                    }
                    sent += n;
                }
                poll_fn(|cx| lock(tls).server_poll_flush(cx)).await?;
                Ok(())
            }
        }
    }

    async fn write_all_with_ancillary(
        &mut self,
        data: &[u8],
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        match self {
            Self::Net(half) => Ok(half.core.send_all_with_ancillary(data, ancillary).await?),
            #[cfg(feature = "tls")]
            Self::Tls(_) => Err(SendPacketError::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "ancillary data cannot be sent over TLS",
            ))),
        }
    }

    async fn shutdown(&mut self) {
        match self {
            Self::Net(half) => {
                let _ = half.core.send_eof();
            }
            #[cfg(feature = "tls")]
            Self::Tls(tls) => {
                let _ = poll_fn(|cx| lock(tls).server_poll_shutdown(cx)).await;
            }
        }
    }
}

/// The sending side and the buffer responses are encoded into (kept between packets).
struct Writer {
    side: WriteSide,
    encoded: BytesMut,
}

struct ClientInner<Resp: ?Sized> {
    writer: Slot<Writer>,
    socket: Arc<Shared>,
    peer: Address,
    local: Address,
    unix: bool,
    tls: bool,
    closing: Arc<Signal>,
    closed: AtomicBool,
    encoder: Encoder<Resp>,
    runtime: Arc<dyn Runtime>,
}

/// The sending half of a stream server's connection, and its metadata (EasyNetwork's
/// `AsyncStreamClient`). Cheap to clone: a background task can keep one to send to the client
/// later. Sends are serialized: packets never interleave.
pub struct StreamClient<Resp: ?Sized> {
    inner: Arc<ClientInner<Resp>>,
}

impl<Resp: ?Sized> Clone for StreamClient<Resp> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<Resp: ?Sized> fmt::Debug for StreamClient<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamClient")
            .field("peer", &self.inner.peer)
            .field("local", &self.inner.local)
            .field("tls", &self.inner.tls)
            .field("closing", &self.is_closing())
            .finish()
    }
}

impl<Resp: ?Sized> StreamClient<Resp> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        writer: WriteSide,
        socket: Arc<Shared>,
        peer: Address,
        local: Address,
        unix: bool,
        tls: bool,
        encoder: Encoder<Resp>,
        runtime: Arc<dyn Runtime>,
    ) -> Self {
        Self {
            inner: Arc::new(ClientInner {
                writer: Slot::new(Writer {
                    side: writer,
                    encoded: BytesMut::new(),
                }),
                socket,
                peer,
                local,
                unix,
                tls,
                closing: Arc::default(),
                closed: AtomicBool::new(false),
                encoder,
                runtime,
            }),
        }
    }

    /// Serializes `packet` and sends it. Fails with [`SendPacketError::Closed`] once the
    /// client is closing. Not cancel-safe (part of the packet may have been sent).
    pub async fn send_packet(&self, packet: &Resp) -> Result<(), SendPacketError> {
        if self.is_closing() {
            return Err(SendPacketError::Closed);
        }
        let mut writer = self.inner.writer.lock().await;
        match writer.get_mut() {
            Some(w) if !self.is_closing() => {
                let encoded = self.encode_into(packet, &mut w.encoded);
                let sent = match encoded {
                    Ok(()) => w.side.write_all(&w.encoded).await,
                    Err(e) => Err(e),
                };
                w.encoded.clear();
                if w.encoded.capacity() > KEEP_ENCODE_CAPACITY {
                    w.encoded = BytesMut::new();
                }
                sent
            }
            _ => Err(SendPacketError::Closed),
        }
    }

    /// Sends `packet` with ancillary data (descriptors, credentials) on its first byte (Unix
    /// stream servers; an [`io::ErrorKind::Unsupported`] error over TLS, an OS error over
    /// TCP).
    pub async fn send_packet_with_ancillary(
        &self,
        packet: &Resp,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        if self.is_closing() {
            return Err(SendPacketError::Closed);
        }
        let mut data = BytesMut::new();
        self.encode_into(packet, &mut data)?;
        let mut writer = self.inner.writer.lock().await;
        match writer.get_mut() {
            Some(w) if !self.is_closing() => {
                w.side.write_all_with_ancillary(&data, ancillary).await
            }
            _ => Err(SendPacketError::Closed),
        }
    }

    fn encode_into(&self, packet: &Resp, dst: &mut BytesMut) -> Result<(), SendPacketError> {
        dst.clear();
        (self.inner.encoder)(packet, dst)?;
        Ok(())
    }

    /// Closes the connection gracefully: waits for a send under way, then shuts down the
    /// write side (TLS: `close_notify`), so the peer reads the end of the stream after the
    /// last packet. The handler's next `recv` returns [`RecvError::Disconnected`] and no new
    /// `handle` call starts. Calling it again does nothing.
    pub async fn close(&self) {
        self.inner.closing.set();
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut writer = self.inner.writer.lock().await;
        if let Some(mut w) = writer.take() {
            w.side.shutdown().await;
        }
    }

    /// Aborts the connection: on TCP without TLS the peer sees a reset (`SO_LINGER` 0)
    /// instead of an orderly end, as EasyNetwork does after a handler error.
    pub(crate) fn abort(&self) {
        self.inner.closing.set();
        self.inner.closed.store(true, Ordering::SeqCst);
        if !self.inner.unix && !self.inner.tls {
            let _ = self
                .socket_options()
                .set_linger(Some(std::time::Duration::ZERO));
        }
    }

    /// Whether [`close`](Self::close) was called or the connection is being torn down.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.is_set()
    }

    pub(crate) fn closing_event(&self) -> &Arc<Signal> {
        &self.inner.closing
    }

    /// The client's address (an unnamed Unix address for most Unix clients).
    pub fn peer_addr(&self) -> &Address {
        &self.inner.peer
    }

    /// The server's address this connection arrived on.
    pub fn local_addr(&self) -> &Address {
        &self.inner.local
    }

    /// Whether the connection is encrypted with TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.tls
    }

    /// The credentials of the client process, from when it connected (`SO_PEERCRED`; Unix
    /// stream servers only, an [`io::ErrorKind::Unsupported`] error otherwise).
    pub fn peer_credentials(&self) -> io::Result<Credentials> {
        if !self.inner.unix {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "peer credentials exist only on Unix sockets",
            ));
        }
        crate::os::peer_credentials(self.inner.socket.io.fd())
    }

    /// The connection's socket options (EasyNetwork's socket proxy). Do not read or write
    /// the socket through its descriptor: that would corrupt the stream.
    pub fn socket_options(&self) -> SocketOptions<'_> {
        SocketOptions::from_fd(self.inner.socket.io.fd())
    }

    /// The runtime the server runs on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }
}

/// One connection, as the handler sees it: receive the next request with
/// [`recv`](Self::recv), send with [`send_packet`](Self::send_packet) (or through
/// [`client`](Self::client)), keep per-client values in
/// [`extensions`](Self::extensions).
///
/// It replaces EasyNetwork's `request = yield`: the handler owns its loop, and whatever
/// would be thrown in at the `yield` is the `Err` of `recv` ([`RecvError`]).
pub struct StreamSession<Req, Resp: ?Sized> {
    client: StreamClient<Resp>,
    reader: ReadSide,
    // In a mutex only to make the session `Sync` (handlers hold `&session` across awaits);
    // it is reached through `&mut self`, never locked.
    decoder: Mutex<Box<dyn StreamRequestDecoder<Req>>>,
    buffer: BytesMut,
    eof: bool,
    broken: bool,
    ending: bool,
    gone: bool,
    stop: Arc<Signal>,
    // Lasting registrations with the two signals every read is raced against.
    closing_waiter: SignalWaiter,
    stop_waiter: SignalWaiter,
    receives: u64,
    extensions: Extensions,
}

impl<Req, Resp: ?Sized> fmt::Debug for StreamSession<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSession")
            .field("client", &self.client)
            .field("buffered", &self.buffer.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp: ?Sized> StreamSession<Req, Resp> {
    pub(crate) fn new(
        client: StreamClient<Resp>,
        reader: ReadSide,
        decoder: Box<dyn StreamRequestDecoder<Req>>,
        stop: Arc<Signal>,
        extensions: Extensions,
    ) -> Self {
        Self {
            closing_waiter: SignalWaiter::new(Arc::clone(client.closing_event())),
            stop_waiter: SignalWaiter::new(Arc::clone(&stop)),
            client,
            reader,
            decoder: Mutex::new(decoder),
            buffer: BytesMut::new(),
            eof: false,
            broken: false,
            ending: false,
            gone: false,
            stop,
            receives: 0,
            extensions,
        }
    }

    /// The client handle: send, close, metadata. Clone it to send from another task.
    pub fn client(&self) -> &StreamClient<Resp> {
        &self.client
    }

    /// The client's address.
    pub fn peer_addr(&self) -> &Address {
        self.client.peer_addr()
    }

    /// Per-client values, kept across `handle` calls.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Per-client values, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// [`StreamClient::send_packet`].
    pub async fn send_packet(&self, packet: &Resp) -> Result<(), SendPacketError> {
        self.client.send_packet(packet).await
    }

    /// [`StreamClient::send_packet_with_ancillary`].
    pub async fn send_packet_with_ancillary(
        &self,
        packet: &Resp,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        self.client
            .send_packet_with_ancillary(packet, ancillary)
            .await
    }

    /// [`StreamClient::close`].
    pub async fn close(&self) {
        self.client.close().await
    }

    /// Whether the client is closing.
    pub fn is_closing(&self) -> bool {
        self.client.is_closing()
    }

    /// The next request, waiting as long as it takes.
    ///
    /// Pipelined requests already received are returned one by one without reading the
    /// socket. Cancel-safe: bytes received so far stay buffered.
    pub async fn recv(&mut self) -> Result<Req, RecvError> {
        self.recv_inner(RecvParams::new(), None).await
    }

    /// The next request, with [`RecvParams`] (a timeout).
    pub async fn recv_with(&mut self, params: RecvParams) -> Result<Req, RecvError> {
        self.recv_inner(params, None).await
    }

    /// The next request, appending the ancillary data (descriptors, credentials) that came
    /// with the bytes read for it to `ancillary` (Unix stream servers; TCP and TLS return
    /// [`RecvError::Unsupported`]).
    ///
    /// Only the reads this call makes carry ancillary data: a request that was already
    /// buffered (pipelined behind an earlier one) comes back with nothing added. Descriptors
    /// the handler does not take are closed when `ancillary` is dropped.
    pub async fn recv_with_ancillary(
        &mut self,
        ancillary: &mut SocketAncillary<'_>,
        params: RecvParams,
    ) -> Result<Req, RecvError> {
        if !self.client.inner.unix {
            self.receives += 1;
            return Err(RecvError::Unsupported);
        }
        self.recv_inner(params, Some(ancillary)).await
    }

    /// How many receives the handler started (to tell a `handle` that returned before its
    /// first receive).
    pub(crate) fn receives(&self) -> u64 {
        self.receives
    }

    /// Whether no further `handle` call should start.
    pub(crate) fn is_over(&self) -> bool {
        self.broken
            || self.gone
            || self.client.is_closing()
            || (self.eof && self.buffer.is_empty())
            || (self.stop.is_set() && self.buffer.is_empty())
    }

    /// From now on every receive returns [`RecvError::Disconnected`] (`on_disconnection`).
    pub(crate) fn end(&mut self) {
        self.ending = true;
    }

    async fn recv_inner(
        &mut self,
        params: RecvParams,
        ancillary: Option<&mut SocketAncillary<'_>>,
    ) -> Result<Req, RecvError> {
        self.receives += 1;
        let result = self.recv_loop(params, ancillary).await;
        if matches!(result, Err(RecvError::Disconnected)) {
            self.gone = true;
        }
        result
    }

    async fn recv_loop(
        &mut self,
        params: RecvParams,
        mut ancillary: Option<&mut SocketAncillary<'_>>,
    ) -> Result<Req, RecvError> {
        let runtime = Arc::clone(&self.client.inner.runtime);
        let deadline: Option<Instant> = params
            .get_timeout()
            .and_then(|t| runtime.now().checked_add(t));
        loop {
            if self.ending || self.broken {
                return Err(RecvError::Disconnected);
            }
            match decoder_mut(&mut self.decoder).decode(&mut self.buffer) {
                Ok(Some(request)) => return Ok(request),
                Ok(None) => {}
                Err(e) => {
                    if !e.is_recoverable() {
                        self.broken = true;
                    }
                    return Err(RecvError::Parse(e));
                }
            }
            if self.eof || self.client.is_closing() || self.stop.is_set() {
                return Err(RecvError::Disconnected);
            }
            // No early check of the deadline: the read is polled before the timer, so with
            // a zero timeout the bytes the kernel already holds still count.
            let read = read_once(&mut self.reader, &mut self.buffer, ancillary.as_deref_mut());
            let raced = until_either(&mut self.closing_waiter, &mut self.stop_waiter, read);
            let outcome = runtime::maybe_timeout_at(&*runtime, deadline, raced).await;
            match outcome {
                Err(_elapsed) => return Err(RecvError::TimedOut),
                // Closing or shutting down: the loop answers from the buffer or says so.
                Ok(None) => continue,
                Ok(Some(Ok(0))) => {
                    self.eof = true;
                    return match decoder_mut(&mut self.decoder).decode_eof(&mut self.buffer) {
                        Ok(Some(request)) => Ok(request),
                        // A partial packet at the end of the stream is dropped.
                        Ok(None) | Err(_) => {
                            self.buffer.clear();
                            Err(RecvError::Disconnected)
                        }
                    };
                }
                // `read_once` appended the bytes already.
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => {
                    self.broken = true;
                    return Err(match e {
                        ReadError::ControlTruncated => RecvError::ControlTruncated,
                        ReadError::Io(e) => match e.kind() {
                            io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::BrokenPipe
                            | io::ErrorKind::NotConnected
                            | io::ErrorKind::UnexpectedEof => RecvError::Disconnected,
                            _ => RecvError::Io(e),
                        },
                    });
                }
            }
        }
    }
}

fn decoder_mut<T: ?Sized>(decoder: &mut Mutex<Box<T>>) -> &mut T {
    decoder
        .get_mut()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

enum ReadError {
    ControlTruncated,
    Io(io::Error),
}

/// Reads once, appending the bytes to `buffer`.
async fn read_once(
    reader: &mut ReadSide,
    buffer: &mut BytesMut,
    ancillary: Option<&mut SocketAncillary<'_>>,
) -> Result<usize, ReadError> {
    match (reader, ancillary) {
        (ReadSide::Net(half, _), Some(ancillary)) => {
            match half.core.receive_with_ancillary(READ_SIZE, ancillary).await {
                Ok(bytes) => {
                    buffer.extend_from_slice(&bytes);
                    Ok(bytes.len())
                }
                Err(crate::net::ReceiveError::ControlTruncated { .. }) => {
                    Err(ReadError::ControlTruncated)
                }
                Err(e) => Err(ReadError::Io(e.into())),
            }
        }
        (reader, _) => reader.read_into(buffer).await.map_err(ReadError::Io),
    }
}
