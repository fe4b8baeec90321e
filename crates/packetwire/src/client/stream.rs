//! What the async stream clients ([`TcpClient`](super::TcpClient) and
//! [`UnixStreamClient`](super::UnixStreamClient)) share: the connection (made at once or on
//! first use), a receive lock over the sans-IO [`PacketReader`], a send lock over the encode
//! buffer, the closed flag, and the `Stream`/`Sink` adapters.
//!
//! Every wait goes through the runtime seam ([`AsyncFdIo`](crate::runtime::AsyncFdIo)); TLS
//! sessions are driven one poll at a time under a short lock, so a task waiting for packets
//! never stops another from sending. `close` shuts the socket down, which wakes every task
//! waiting on it; the descriptor is released when the client is dropped.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
#[cfg(feature = "tls")]
use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use packetwire_proto::{RecvConverter, SendConverter, StreamProtocol, StreamSerializer};

use super::stream_reader::{PacketReader, Received, Sent, DEFAULT_MAX_RECV_SIZE};
use super::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::net::stream::Shared;
use crate::net::ReceiveError;
use crate::runtime::{self, BoxFuture, NoRuntime, Runtime};
use crate::socket::sys;
use crate::sync::Event;

/// A made connection: a registered socket, or a TLS session over one.
pub(crate) enum Conn {
    Socket(Arc<Shared>),
    #[cfg(feature = "tls")]
    Tls {
        session: Box<std::sync::Mutex<crate::tls::TlsStream>>,
        /// A second descriptor of the socket, for shutdown(2), options and `AsFd` without
        /// the session lock.
        fd: std::os::fd::OwnedFd,
    },
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(shared) => f.debug_tuple("Socket").field(shared).finish(),
            #[cfg(feature = "tls")]
            Self::Tls { fd, .. } => f
                .debug_struct("Tls")
                .field("fd", fd)
                .finish_non_exhaustive(),
        }
    }
}

impl Conn {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Socket(shared) => shared.io.fd(),
            #[cfg(feature = "tls")]
            Self::Tls { fd, .. } => fd.as_fd(),
        }
    }

    /// Over a TLS session (its socket descriptor is duplicated).
    #[cfg(feature = "tls")]
    pub(crate) fn tls(session: crate::tls::TlsStream) -> io::Result<Self> {
        let fd = session.as_fd().try_clone_to_owned()?;
        Ok(Self::Tls {
            session: Box::new(std::sync::Mutex::new(session)),
            fd,
        })
    }
}

/// A connection with what its previous owner left: buffered bytes, the end of the stream
/// seen, `send_eof` called.
pub(crate) struct Adopted {
    pub(crate) conn: Conn,
    pub(crate) buffered: Bytes,
    pub(crate) eof: bool,
    pub(crate) eof_sent: bool,
}

impl Adopted {
    /// A fresh connection.
    #[cfg(feature = "tls")]
    pub(crate) fn fresh(conn: Conn) -> Self {
        Self {
            conn,
            buffered: Bytes::new(),
            eof: false,
            eof_sent: false,
        }
    }

    /// Takes the halves of a packetwire stream apart.
    pub(crate) fn from_halves(read: crate::net::ReadHalf, write: crate::net::WriteHalf) -> Self {
        let eof_sent = write.eof_sent();
        drop(write);
        let (shared, buffered, eof) = read.core.into_parts();
        Self {
            conn: Conn::Socket(shared),
            buffered,
            eof,
            eof_sent,
        }
    }
}

/// How a lazy client connects (called again after a failure).
pub(crate) type Connector =
    Box<dyn Fn() -> BoxFuture<Result<Adopted, ClientConnectError>> + Send + Sync>;

/// The send side: whether `send_eof` was called.
#[derive(Debug, Default)]
struct SendState {
    eof_sent: bool,
}

/// The shared body of the async stream clients.
pub(crate) struct Core<S: StreamSerializer, C> {
    protocol: StreamProtocol<S, C>,
    runtime: Arc<dyn Runtime>,
    max_recv_size: usize,
    closed: AtomicBool,
    closed_event: Event,
    conn: OnceLock<Conn>,
    connector: async_lock::Mutex<Option<Connector>>,
    recv: async_lock::Mutex<PacketReader<S, C>>,
    send: async_lock::Mutex<SendState>,
}

impl<S: StreamSerializer, C> fmt::Debug for Core<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("conn", &self.conn.get())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .field("max_recv_size", &self.max_recv_size)
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

fn would_block(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock
}

/// A connect failure, as a receive error.
fn recv_connect_error(error: ClientConnectError) -> RecvPacketError {
    match error {
        ClientConnectError::Closed => RecvPacketError::Closed,
        other => RecvPacketError::Io(other.into()),
    }
}

/// A connect failure, as a send error.
fn send_connect_error(error: ClientConnectError) -> SendPacketError {
    match error {
        ClientConnectError::Closed => SendPacketError::Closed,
        other => SendPacketError::Io(other.into()),
    }
}

/// Runs `future` until it completes or `event` is set (`None` then).
async fn unless_set<F: Future>(event: &Event, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut stop = std::pin::pin!(event.wait());
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        match stop.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

impl<S, C> Core<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    fn with_parts(
        protocol: StreamProtocol<S, C>,
        runtime: Arc<dyn Runtime>,
        max_recv_size: usize,
        reader: PacketReader<S, C>,
        send: SendState,
        connector: Option<Connector>,
    ) -> Self {
        Self {
            protocol,
            runtime,
            max_recv_size,
            closed: AtomicBool::new(false),
            closed_event: Event::default(),
            conn: OnceLock::new(),
            connector: async_lock::Mutex::new(connector),
            recv: async_lock::Mutex::new(reader),
            send: async_lock::Mutex::new(send),
        }
    }

    /// A client over a made connection.
    pub(crate) fn connected(
        adopted: Adopted,
        protocol: StreamProtocol<S, C>,
        runtime: Arc<dyn Runtime>,
        max_recv_size: usize,
    ) -> Self {
        let mut reader = PacketReader::new(&protocol, max_recv_size);
        reader.extend_from_slice(&adopted.buffered);
        if adopted.eof {
            reader.feed_eof();
        }
        let max_recv_size = reader.max_recv_size();
        let send = SendState {
            eof_sent: adopted.eof_sent,
        };
        let core = Self::with_parts(protocol, runtime, max_recv_size, reader, send, None);
        let _ = core.conn.set(adopted.conn);
        core
    }

    /// A client over a packetwire stream split into its halves, on the stream's `runtime`,
    /// with the bytes it had buffered and its `send_eof` state (the clients' `from_socket`).
    pub(crate) fn from_split(
        (read, write): (crate::net::ReadHalf, crate::net::WriteHalf),
        protocol: StreamProtocol<S, C>,
        runtime: Arc<dyn Runtime>,
    ) -> Self {
        let adopted = Adopted::from_halves(read, write);
        Self::connected(adopted, protocol, runtime, DEFAULT_MAX_RECV_SIZE)
    }

    /// Connects now with `establish`, on `runtime` or else the current one (the options'
    /// `connect`).
    pub(crate) async fn connect<F>(
        runtime: Option<&Arc<dyn Runtime>>,
        max_recv_size: usize,
        protocol: StreamProtocol<S, C>,
        establish: impl FnOnce(Arc<dyn Runtime>) -> F,
    ) -> Result<Self, ClientConnectError>
    where
        F: Future<Output = Result<Adopted, ClientConnectError>>,
    {
        let runtime = runtime::or_current(runtime).map_err(io::Error::from)?;
        let adopted = establish(Arc::clone(&runtime)).await?;
        Ok(Self::connected(adopted, protocol, runtime, max_recv_size))
    }

    /// A client that connects on first use with `establish`, on `runtime` or else the
    /// current one (the options' `connect_lazy`): no I/O now.
    pub(crate) fn lazy(
        runtime: Option<&Arc<dyn Runtime>>,
        max_recv_size: usize,
        protocol: StreamProtocol<S, C>,
        establish: impl Fn(Arc<dyn Runtime>) -> BoxFuture<Result<Adopted, ClientConnectError>>
            + Send
            + Sync
            + 'static,
    ) -> Result<Self, NoRuntime> {
        let runtime = runtime::or_current(runtime)?;
        let rt = Arc::clone(&runtime);
        let connector: Connector = Box::new(move || establish(Arc::clone(&rt)));
        let reader = PacketReader::new(&protocol, max_recv_size);
        let max_recv_size = reader.max_recv_size();
        Ok(Self::with_parts(
            protocol,
            runtime,
            max_recv_size,
            reader,
            SendState::default(),
            Some(connector),
        ))
    }

    pub(crate) fn protocol(&self) -> &StreamProtocol<S, C> {
        &self.protocol
    }

    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    pub(crate) fn max_recv_size(&self) -> usize {
        self.max_recv_size
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.conn.get().is_some()
    }

    /// The descriptor, once connected.
    pub(crate) fn try_fd(&self) -> Option<BorrowedFd<'_>> {
        self.conn.get().map(Conn::fd)
    }

    /// The descriptor; see the `AsFd` implementations for the panic.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.try_fd()
            .expect("the client is not connected yet: call `wait_connected` first")
    }

    /// The descriptor, or a `NotConnected` error.
    pub(crate) fn fd_or_error(&self) -> io::Result<BorrowedFd<'_>> {
        self.try_fd()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// The TLS session, once connected over TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls<R>(&self, f: impl FnOnce(&crate::tls::TlsStream) -> R) -> Option<R> {
        match self.conn.get()? {
            Conn::Tls { session, .. } => Some(f(&session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner))),
            Conn::Socket(_) => None,
        }
    }

    /// The connection, made now if the client is lazy. Idempotent; concurrent callers wait
    /// for one attempt. A failed attempt is tried again by the next call.
    pub(crate) async fn wait_connected(&self) -> Result<&Conn, ClientConnectError> {
        if self.is_closed() {
            return Err(ClientConnectError::Closed);
        }
        if let Some(conn) = self.conn.get() {
            return Ok(conn);
        }
        let mut connector = unless_set(&self.closed_event, self.connector.lock())
            .await
            .ok_or(ClientConnectError::Closed)?;
        if let Some(conn) = self.conn.get() {
            return Ok(conn);
        }
        let Some(connect) = connector.as_ref() else {
            // Only a connected client has no connector.
            return Err(ClientConnectError::Closed);
        };
        let adopted = unless_set(&self.closed_event, connect())
            .await
            .ok_or(ClientConnectError::Closed)??;
        // A fresh connection: nothing buffered, nothing to carry over.
        let _ = self.conn.set(adopted.conn);
        *connector = None;
        if self.is_closed() {
            // `close` ran while the connection was made, and may have missed it.
            self.shutdown();
            return Err(ClientConnectError::Closed);
        }
        Ok(self.conn.get().expect("just set"))
    }

    fn shutdown(&self) {
        if let Some(fd) = self.try_fd() {
            let _ = sys::sock(&fd).shutdown(std::net::Shutdown::Both);
        }
    }

    /// Closes the client: later calls fail with `Closed`, and tasks waiting to receive,
    /// send or connect wake up with `Closed`. Idempotent.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.closed_event.set();
        self.shutdown();
    }

    fn send_error(&self, error: impl Into<SendPacketError>) -> SendPacketError {
        if self.is_closed() {
            SendPacketError::Closed
        } else {
            error.into()
        }
    }

    fn recv_error(&self, error: impl Into<RecvPacketError>) -> RecvPacketError {
        if self.is_closed() {
            RecvPacketError::Closed
        } else {
            error.into()
        }
    }

    /// Encodes `packet` (outside the send lock: concurrent senders encode in parallel).
    pub(crate) fn encode(&self, packet: &Sent<S, C>) -> Result<BytesMut, SendPacketError> {
        if self.is_closed() {
            return Err(SendPacketError::Closed);
        }
        let mut buf = BytesMut::new();
        self.protocol.encode(packet, &mut buf)?;
        Ok(buf)
    }

    /// Encodes `packet` and sends it whole, `ancillary` with its first byte (Unix).
    pub(crate) async fn send(
        &self,
        packet: &Sent<S, C>,
        #[cfg(any(target_os = "linux", target_os = "android"))] ancillary: Option<
            &crate::unix::SocketAncillary<'_>,
        >,
    ) -> Result<(), SendPacketError> {
        let data = self.encode(packet)?;
        self.send_encoded(
            &data,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ancillary,
        )
        .await
    }

    /// Sends encoded packet bytes whole, `ancillary` with the first byte (Unix).
    pub(crate) async fn send_encoded(
        &self,
        data: &[u8],
        #[cfg(any(target_os = "linux", target_os = "android"))] ancillary: Option<
            &crate::unix::SocketAncillary<'_>,
        >,
    ) -> Result<(), SendPacketError> {
        let conn = self.wait_connected().await.map_err(send_connect_error)?;
        let state = self.send.lock().await;
        if self.is_closed() {
            return Err(SendPacketError::Closed);
        }
        if state.eof_sent {
            return Err(SendPacketError::EofSent);
        }
        let mut sent = 0;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let (Some(ancillary), Conn::Socket(shared), false) = (ancillary, conn, data.is_empty()) {
            let bufs = [io::IoSlice::new(data)];
            sent = poll_fn(|cx| {
                shared.io.poll_write_with(cx, &mut |fd| {
                    crate::os::send_with_ancillary(fd, &bufs, ancillary, None)
                })
            })
            .await
            .map_err(|e| self.send_error(e))?;
        }
        self.write_all(conn, &data[sent..]).await
    }

    async fn write_all(&self, conn: &Conn, data: &[u8]) -> Result<(), SendPacketError> {
        let mut sent = 0;
        while sent < data.len() {
            let rest = &data[sent..];
            let n = match conn {
                Conn::Socket(shared) => {
                    let kind = shared.kind;
                    poll_fn(|cx| {
                        shared
                            .io
                            .poll_write_with(cx, &mut |fd| sys::write(fd, kind, rest))
                    })
                    .await
                }
                #[cfg(feature = "tls")]
                Conn::Tls { session, .. } => {
                    poll_fn(|cx| lock(session).poll_write_plain(cx, rest)).await
                }
            }
            .map_err(|e| self.send_error(e))?;
            if n == 0 {
                return Err(self.send_error(io::Error::from(io::ErrorKind::WriteZero)));
            }
            sent += n;
        }
        #[cfg(feature = "tls")]
        if let Conn::Tls { session, .. } = conn {
            poll_fn(|cx| lock(session).poll_flush_plain(cx))
                .await
                .map_err(|e| self.send_error(e))?;
        }
        Ok(())
    }

    /// Ends the sending side. Idempotent.
    pub(crate) async fn send_eof(&self) -> Result<(), SendPacketError> {
        let conn = self.wait_connected().await.map_err(send_connect_error)?;
        let mut state = self.send.lock().await;
        if self.is_closed() {
            return Err(SendPacketError::Closed);
        }
        if state.eof_sent {
            return Ok(());
        }
        let result = match conn {
            Conn::Socket(shared) => sys::shutdown_write(shared.io.fd()),
            #[cfg(feature = "tls")]
            Conn::Tls { session, .. } => poll_fn(|cx| lock(session).poll_send_eof(cx)).await,
        };
        match result {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(self.send_error(e)),
            _ => {
                state.eof_sent = true;
                Ok(())
            }
        }
    }

    /// Receives the next packet; with `ancillary`, every read is a `recvmsg(2)` asking for
    /// control data. Cancel-safe.
    pub(crate) async fn recv(
        &self,
        #[cfg(any(target_os = "linux", target_os = "android"))] mut ancillary: Option<
            &mut crate::unix::SocketAncillary<'_>,
        >,
    ) -> Result<Received<S, C>, RecvPacketError> {
        let conn = self.wait_connected().await.map_err(recv_connect_error)?;
        let mut reader = self.recv.lock().await;
        loop {
            if self.is_closed() {
                return Err(RecvPacketError::Closed);
            }
            if let Some(packet) = reader.next_packet()? {
                return Ok(packet);
            }
            match conn {
                Conn::Socket(shared) => {
                    #[cfg(any(target_os = "linux", target_os = "android"))]
                    if let Some(ancillary) = ancillary.as_deref_mut() {
                        self.fill(shared, &mut reader, &mut |fd, room| {
                            crate::os::recv_with_ancillary(fd, room, ancillary)
                                .map(|meta| meta.len)
                                .map_err(io::Error::from)
                        })
                        .await?;
                        continue;
                    }
                    self.fill(shared, &mut reader, &mut |fd, room| sys::read(fd, room))
                        .await?;
                }
                #[cfg(feature = "tls")]
                Conn::Tls { session, .. } => {
                    poll_fn(|cx| {
                        let mut session = lock(session);
                        match reader.fill_with(|room| match session.poll_read_plain(cx, room) {
                            Poll::Ready(result) => result,
                            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                        }) {
                            Err(e) if would_block(&e) => Poll::Pending,
                            other => Poll::Ready(other),
                        }
                    })
                    .await
                    .map_err(|e| self.recv_error(ReceiveError::Io(e)))?;
                }
            }
        }
    }

    /// One read into the reader: at once if the socket has data, else when it is ready.
    async fn fill(
        &self,
        shared: &Shared,
        reader: &mut PacketReader<S, C>,
        read: &mut (dyn FnMut(BorrowedFd<'_>, &mut [u8]) -> io::Result<usize> + Send),
    ) -> Result<(), RecvPacketError> {
        let fd = shared.io.fd();
        let result = match reader.fill_with(|room| read(fd, room)) {
            Err(e) if would_block(&e) => {
                poll_fn(|cx| {
                    shared
                        .io
                        .poll_read_with(cx, &mut |fd| reader.fill_with(|room| read(fd, room)))
                })
                .await
            }
            other => other,
        };
        result
            .map(drop)
            .map_err(|e| self.recv_error(ReceiveError::from_recvmsg(e)))
    }

    /// [`recv`](Self::recv) within `timeout` on the runtime's clock, the wait for the lock
    /// and the connection included.
    pub(crate) async fn recv_within(
        &self,
        timeout: Duration,
    ) -> Result<Received<S, C>, RecvPacketError> {
        match runtime::timeout(
            &*self.runtime,
            timeout,
            self.recv(
                #[cfg(any(target_os = "linux", target_os = "android"))]
                None,
            ),
        )
        .await
        {
            Ok(result) => result,
            Err(runtime::Elapsed) => Err(RecvPacketError::TimedOut),
        }
    }
}

#[cfg(feature = "tls")]
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

type RecvFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RecvPacketError>> + Send + 'a>>;

/// The received packets of an async stream client as a [`Stream`] of results, from
/// `packets()`.
///
/// A parse error that leaves the connection usable is an `Err` item, and the stream goes on
/// with the next packet; the end of the stream and the client's closing end the stream; any
/// other error is the last item. Dropping it while a packet is arriving loses nothing: the
/// receive is cancel-safe.
pub struct StreamPackets<'a, S: StreamSerializer, C = packetwire_proto::NoConverter>
where
    C: RecvConverter<S::Received>,
{
    core: &'a Core<S, C>,
    pending: Option<RecvFuture<'a, Received<S, C>>>,
    done: bool,
}

impl<S: StreamSerializer, C: RecvConverter<S::Received>> fmt::Debug for StreamPackets<'_, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPackets")
            .field("receiving", &self.pending.is_some())
            .field("done", &self.done)
            .finish()
    }
}

impl<'a, S, C> StreamPackets<'a, S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    pub(crate) fn new(core: &'a Core<S, C>) -> Self {
        Self {
            core,
            pending: None,
            done: false,
        }
    }
}

impl<S, C> Stream for StreamPackets<'_, S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    Received<S, C>: Send,
{
    type Item = Result<Received<S, C>, RecvPacketError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let core = this.core;
        let pending = this.pending.get_or_insert_with(|| {
            Box::pin(core.recv(
                #[cfg(any(target_os = "linux", target_os = "android"))]
                None,
            ))
        });
        let result = std::task::ready!(pending.as_mut().poll(cx));
        this.pending = None;
        Poll::Ready(match result {
            Ok(packet) => Some(Ok(packet)),
            Err(RecvPacketError::EndOfStream | RecvPacketError::Closed) => {
                this.done = true;
                None
            }
            Err(e) => {
                this.done = !e.is_recoverable();
                Some(Err(e))
            }
        })
    }
}

/// The received packets of an async stream client as a [`Stream`] of packets, from
/// `iter_received_packets`, with a timeout budget for the whole iteration.
///
/// It ends at the first error: the budget spent, the end of the stream, the client closed,
/// or any other receive error; [`error`](Self::error) tells which.
pub struct StreamPacketIter<'a, S: StreamSerializer, C = packetwire_proto::NoConverter>
where
    C: RecvConverter<S::Received>,
{
    core: &'a Core<S, C>,
    deadline: Option<Instant>,
    pending: Option<RecvFuture<'a, Received<S, C>>>,
    error: Option<RecvPacketError>,
}

impl<S: StreamSerializer, C: RecvConverter<S::Received>> fmt::Debug for StreamPacketIter<'_, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPacketIter")
            .field("deadline", &self.deadline)
            .field("receiving", &self.pending.is_some())
            .field("error", &self.error)
            .finish()
    }
}

impl<'a, S, C> StreamPacketIter<'a, S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    pub(crate) fn new(core: &'a Core<S, C>, timeout: Option<Duration>) -> Self {
        let deadline = timeout.and_then(|t| core.runtime.now().checked_add(t));
        Self {
            core,
            deadline,
            pending: None,
            error: None,
        }
    }

    /// The error that ended the iteration ([`RecvPacketError::TimedOut`] when the budget
    /// was spent, [`RecvPacketError::EndOfStream`], ...); `None` while it goes on.
    pub fn error(&self) -> Option<&RecvPacketError> {
        self.error.as_ref()
    }
}

impl<S, C> Stream for StreamPacketIter<'_, S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    Received<S, C>: Send,
{
    type Item = Received<S, C>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.error.is_some() {
            return Poll::Ready(None);
        }
        let (core, deadline) = (this.core, this.deadline);
        let pending = this.pending.get_or_insert_with(|| {
            Box::pin(async move {
                let receiving = core.recv(
                    #[cfg(any(target_os = "linux", target_os = "android"))]
                    None,
                );
                match runtime::maybe_timeout_at(&*core.runtime, deadline, receiving).await {
                    Ok(result) => result,
                    Err(runtime::Elapsed) => Err(RecvPacketError::TimedOut),
                }
            })
        });
        let result = std::task::ready!(pending.as_mut().poll(cx));
        this.pending = None;
        Poll::Ready(match result {
            Ok(packet) => Some(packet),
            Err(e) => {
                this.error = Some(e);
                None
            }
        })
    }
}

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendPacketError>> + Send + 'a>>;

/// A [`futures_sink::Sink`] of packets to send through an async stream client, from
/// `sink()`. Items are owned packets (`P: Borrow<Sent>`, such as `serde_json::Value` for a
/// JSON protocol, or `String` for `str` packets); each is sent whole, in order. Closing the
/// sink ends the client's sending side (`send_eof`).
pub struct StreamPacketSink<'a, S: StreamSerializer, C, P> {
    core: &'a Core<S, C>,
    pending: Option<SendFuture<'a>>,
    _packet: std::marker::PhantomData<fn(P)>,
}

impl<S: StreamSerializer, C, P> fmt::Debug for StreamPacketSink<'_, S, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPacketSink")
            .field("sending", &self.pending.is_some())
            .finish()
    }
}

impl<'a, S, C, P> StreamPacketSink<'a, S, C, P>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    pub(crate) fn new(core: &'a Core<S, C>) -> Self {
        Self {
            core,
            pending: None,
            _packet: std::marker::PhantomData,
        }
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendPacketError>> {
        match &mut self.pending {
            None => Poll::Ready(Ok(())),
            Some(sending) => {
                let result = std::task::ready!(sending.as_mut().poll(cx));
                self.pending = None;
                Poll::Ready(result)
            }
        }
    }
}

impl<'a, S, C, P> futures_sink::Sink<P> for StreamPacketSink<'a, S, C, P>
where
    S: StreamSerializer + 'a,
    C: SendConverter<S::Sent> + RecvConverter<S::Received> + 'a,
    P: std::borrow::Borrow<Sent<S, C>>,
{
    type Error = SendPacketError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_pending(cx)
    }

    /// Encodes the packet now (a serialization error is returned here), and starts
    /// sending it.
    fn start_send(self: Pin<&mut Self>, item: P) -> Result<(), Self::Error> {
        let this = self.get_mut();
        let core = this.core;
        let data = core.encode(item.borrow())?;
        this.pending = Some(Box::pin(async move {
            core.send_encoded(
                &data,
                #[cfg(any(target_os = "linux", target_os = "android"))]
                None,
            )
            .await
        }));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_pending(cx))?;
        let core = this.core;
        let closing = this
            .pending
            .get_or_insert_with(|| Box::pin(async move { core.send_eof().await }));
        let result = std::task::ready!(closing.as_mut().poll(cx));
        this.pending = None;
        Poll::Ready(result)
    }
}

/// Generates the methods the async stream clients share, delegating to a `core` field.
macro_rules! async_stream_client_methods {
    () => {
        /// Connects now if the client was made with `connect_lazy`; returns at once if it is
        /// connected. Idempotent, and safe to call from several tasks at once: they wait for
        /// one attempt. A failed attempt is made again by the next call (or the next send or
        /// receive). [`ClientConnectError::Closed`](crate::client::ClientConnectError::Closed)
        /// if the client is closed, also while connecting.
        pub async fn wait_connected(&self) -> Result<(), $crate::client::ClientConnectError> {
            self.core.wait_connected().await.map(drop)
        }

        /// Whether the connection is made.
        pub fn is_connected(&self) -> bool {
            self.core.is_connected()
        }

        /// Sends one packet, whole (connecting first if the client is lazy). Concurrent
        /// sends from several tasks each go out whole, in the order they got the send lock.
        ///
        /// Errors: [`SendPacketError::Serialize`](crate::client::SendPacketError::Serialize)
        /// (nothing was sent, the client goes on),
        /// [`SendPacketError::EofSent`](crate::client::SendPacketError::EofSent) after
        /// [`send_eof`](Self::send_eof),
        /// [`SendPacketError::Closed`](crate::client::SendPacketError::Closed),
        /// [`SendPacketError::ConnectionReset`](crate::client::SendPacketError::ConnectionReset), ...
        ///
        /// # Cancel safety
        ///
        /// Not cancel-safe: dropped while writing, part of the packet may be sent, and the
        /// stream is then out of step; close the client.
        pub async fn send_packet(
            &self,
            packet: &$crate::client::stream_reader::Sent<S, C>,
        ) -> Result<(), $crate::client::SendPacketError> {
            self.core
                .send(
                    packet,
                    #[cfg(any(target_os = "linux", target_os = "android"))]
                    None,
                )
                .await
        }

        /// Receives the next packet (connecting first if the client is lazy).
        ///
        /// Errors: [`RecvPacketError::EndOfStream`](crate::client::RecvPacketError::EndOfStream)
        /// once the peer ended its side (the client can still send),
        /// [`RecvPacketError::Parse`](crate::client::RecvPacketError::Parse) for bytes that do
        /// not make a packet (dropped; the next call returns the next packet),
        /// [`RecvPacketError::Closed`](crate::client::RecvPacketError::Closed), also when
        /// another task closes the client while this one waits.
        ///
        /// # Cancel safety
        ///
        /// Cancel-safe: if the future is dropped (a timeout, a `select!` branch not taken),
        /// no byte and no packet is lost; bytes of a packet that was arriving stay buffered
        /// for the next call. Several tasks may receive at once; each packet goes to one of
        /// them.
        pub async fn recv_packet(
            &self,
        ) -> Result<$crate::client::stream_reader::Received<S, C>, $crate::client::RecvPacketError>
        {
            self.core
                .recv(
                    #[cfg(any(target_os = "linux", target_os = "android"))]
                    None,
                )
                .await
        }

        /// [`recv_packet`](Self::recv_packet) within `timeout` on the runtime's clock,
        /// counting the wait for the receive lock (and the connection of a lazy client).
        /// [`Duration::ZERO`](std::time::Duration::ZERO) returns a packet only if its bytes
        /// are buffered or readable at once. After
        /// [`RecvPacketError::TimedOut`](crate::client::RecvPacketError::TimedOut) no byte is
        /// lost. Cancel-safe.
        pub async fn recv_packet_within(
            &self,
            timeout: std::time::Duration,
        ) -> Result<$crate::client::stream_reader::Received<S, C>, $crate::client::RecvPacketError>
        {
            self.core.recv_within(timeout).await
        }

        /// The received packets, as a [`Stream`](futures_core::Stream). `timeout` is a
        /// budget for the whole iteration: `Some(Duration::ZERO)` yields what is buffered or
        /// readable at once, `None` waits as long as packets come. It ends (without an error
        /// item) at the timeout, the end of the stream or any receive error;
        /// [`StreamPacketIter::error`](crate::client::StreamPacketIter::error) tells which.
        pub fn iter_received_packets(
            &self,
            timeout: Option<std::time::Duration>,
        ) -> $crate::client::StreamPacketIter<'_, S, C> {
            $crate::client::StreamPacketIter::new(&self.core, timeout)
        }

        /// The received packets, as a [`Stream`](futures_core::Stream) of results: see
        /// [`StreamPackets`](crate::client::StreamPackets).
        pub fn packets(&self) -> $crate::client::StreamPackets<'_, S, C> {
            $crate::client::StreamPackets::new(&self.core)
        }

        /// A [`Sink`](futures_sink::Sink) of owned packets: see
        /// [`StreamPacketSink`](crate::client::StreamPacketSink).
        pub fn sink<P>(&self) -> $crate::client::StreamPacketSink<'_, S, C, P>
        where
            P: std::borrow::Borrow<$crate::client::stream_reader::Sent<S, C>>,
        {
            $crate::client::StreamPacketSink::new(&self.core)
        }

        /// Ends the sending side (`shutdown(SHUT_WR)`; over TLS, `close_notify` first): the
        /// peer sees the end of the stream, and this client can still receive. Idempotent; a
        /// later [`send_packet`](Self::send_packet) fails with
        /// [`SendPacketError::EofSent`](crate::client::SendPacketError::EofSent).
        pub async fn send_eof(&self) -> Result<(), $crate::client::SendPacketError> {
            self.core.send_eof().await
        }

        /// Closes the client. Idempotent. Every later call fails with `Closed`; a task
        /// waiting in [`recv_packet`](Self::recv_packet) (or a send, or
        /// [`wait_connected`](Self::wait_connected)) wakes up with `Closed`. The connection is
        /// shut down at once (over TLS, without `close_notify`: use
        /// [`send_eof`](Self::send_eof) first for that); the descriptor is released when the
        /// client is dropped.
        pub async fn close(&self) {
            self.core.close()
        }

        /// Whether [`close`](Self::close) was called.
        pub fn is_closed(&self) -> bool {
            self.core.is_closed()
        }

        /// The protocol object.
        pub fn protocol(&self) -> &packetwire_proto::StreamProtocol<S, C> {
            self.core.protocol()
        }

        /// The runtime the client runs on.
        pub fn runtime(&self) -> &std::sync::Arc<dyn $crate::runtime::Runtime> {
            self.core.runtime()
        }

        /// How many bytes one read asks for at most.
        pub fn max_recv_size(&self) -> usize {
            self.core.max_recv_size()
        }

        /// The socket's options (buffer sizes, keep-alive, ...), EasyNetwork's socket proxy.
        ///
        /// # Panics
        ///
        /// If the client was made with `connect_lazy` and is not connected yet (see
        /// [`wait_connected`](Self::wait_connected)).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        pub fn socket_options(&self) -> crate::sockopt::SocketOptions<'_> {
            crate::sockopt::SocketOptions::new(self)
        }
    };
}

/// Generates the trait implementations the async stream clients share.
macro_rules! async_stream_client_impls {
    ($client:ident) => {
        /// The socket.
        ///
        /// # Panics
        ///
        /// If the client was made with `connect_lazy` and is not connected yet (see
        /// `wait_connected`).
        impl<S, C> std::os::fd::AsFd for $client<S, C>
        where
            S: packetwire_proto::StreamSerializer,
            C: packetwire_proto::SendConverter<S::Sent>
                + packetwire_proto::RecvConverter<S::Received>,
        {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.core.fd()
            }
        }

        impl<S: packetwire_proto::StreamSerializer, C> std::fmt::Debug for $client<S, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($client))
                    .field("core", &self.core)
                    .finish()
            }
        }
    };
}

pub(crate) use {async_stream_client_impls, async_stream_client_methods};

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::super::{TcpClient, TcpClientOptions};

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    type Json = packetwire_proto::JsonSerializer<serde_json::Value>;

    #[test]
    fn clients_and_their_futures_are_send() {
        send_sync::<TcpClient<Json>>();
        send_sync::<TcpClientOptions>();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        send_sync::<super::super::UnixStreamClient<Json>>();
        fn futures(client: &TcpClient<Json>) {
            send(&client.recv_packet());
            send(&client.send_packet(&serde_json::Value::Null));
            send(&client.wait_connected());
            send(&client.close());
            send(&client.packets());
            send(&client.iter_received_packets(None));
            send(&client.sink::<serde_json::Value>());
        }
        let _ = futures;
    }
}
