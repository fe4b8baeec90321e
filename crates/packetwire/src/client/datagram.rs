//! What the datagram clients share, blocking and async: the packet types, the sans-IO steps
//! (encode into a reused buffer, decode one datagram, which receive errors end an iteration,
//! the time budget of `iter_received_packets`), and the async core (lazy connection, locks,
//! close).

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;

use bytes::{Bytes, BytesMut};
use packetwire_proto::{DatagramProtocol, DatagramSerializer, RecvConverter, SendConverter};

use super::error::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::net::DatagramReceiveError;
use crate::os::RecvError;
use crate::runtime::{self, Runtime};
use crate::sync::Event;

/// The packet a datagram client sends (may be unsized, e.g. `str`).
pub(crate) type Sent<S, C> = <C as SendConverter<<S as DatagramSerializer>::Sent>>::Sent;
/// The packet a datagram client receives.
pub(crate) type Received<S, C> =
    <C as RecvConverter<<S as DatagramSerializer>::Received>>::Received;

/// Serializes `packet` into `buffer` (cleared first): the datagram to send.
pub(crate) fn encode<S, C>(
    protocol: &DatagramProtocol<S, C>,
    packet: &Sent<S, C>,
    buffer: &mut BytesMut,
) -> Result<(), SendPacketError>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    buffer.clear();
    protocol.encode(packet, buffer)?;
    Ok(())
}

/// Parses one received datagram. A bad datagram is a [`RecvPacketError::Parse`] and costs
/// nothing else: the next datagram is independent of it.
pub(crate) fn decode<S, C>(
    protocol: &DatagramProtocol<S, C>,
    datagram: &[u8],
) -> Result<Received<S, C>, RecvPacketError>
where
    S: DatagramSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    Ok(protocol.decode(datagram)?)
}

/// Maps a receive failure of the socket layer (the nonblocking call itself).
pub(crate) fn recv_error(error: RecvError) -> RecvPacketError {
    RecvPacketError::from(DatagramReceiveError::from(error))
}

/// What `packets()` / `iter()` do after an error: `Some(true)` to yield it and go on,
/// `Some(false)` to yield it and end, `None` to end without yielding it (the client was
/// closed).
pub(crate) fn stream_after_error(error: &RecvPacketError) -> Option<bool> {
    match error {
        RecvPacketError::Closed => None,
        e => Some(e.is_recoverable()),
    }
}

/// The time left to an `iter_received_packets` iteration: only the time spent waiting inside
/// the iterator counts, not the consumer's time between items (EasyNetwork's `_iter.py`).
/// Clock-free: the shells measure and [`spend`](Self::spend).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    left: Option<Duration>,
}

impl Budget {
    /// `None`: no limit.
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Self { left: timeout }
    }

    /// The time the next wait may take (`None`: no limit).
    pub(crate) fn left(&self) -> Option<Duration> {
        self.left
    }

    /// Counts `spent` against the budget.
    pub(crate) fn spend(&mut self, spent: Duration) {
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(spent);
        }
    }
}

/// Receives one datagram now, without waiting, into `buffer` (grown to `max` bytes): the
/// length, or `None` if nothing is there.
pub(crate) fn try_receive_now<R>(
    fd: BorrowedFd<'_>,
    buffer: &mut Vec<u8>,
    max: usize,
    op: impl FnOnce(BorrowedFd<'_>, &mut [u8]) -> Result<(usize, R), RecvError>,
) -> Result<Option<(usize, R)>, RecvPacketError> {
    if buffer.len() < max {
        buffer.resize(max, 0);
    }
    match op(fd, &mut buffer[..max]) {
        Ok(received) => Ok(Some(received)),
        Err(e) if e.is_would_block() => Ok(None),
        Err(e) => Err(recv_error(e)),
    }
}

/// The socket under an async datagram client: [`net::UdpSocket`](crate::net::UdpSocket) or
/// [`net::UnixDatagram`](crate::net::UnixDatagram).
pub(crate) trait AsyncClientSocket: AsFd + Send + Sync + 'static {
    fn max_datagram_size(&self) -> usize;
    fn runtime(&self) -> &Arc<dyn Runtime>;
    fn send<'a>(&'a self, datagram: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a;
    fn receive(&self) -> impl Future<Output = Result<Bytes, DatagramReceiveError>> + Send + '_;
}

impl AsyncClientSocket for crate::net::UdpSocket {
    fn max_datagram_size(&self) -> usize {
        crate::net::UdpSocket::max_datagram_size(self)
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        crate::net::UdpSocket::runtime(self)
    }
    fn send<'a>(&'a self, datagram: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a {
        crate::net::UdpSocket::send(self, datagram)
    }
    fn receive(&self) -> impl Future<Output = Result<Bytes, DatagramReceiveError>> + Send + '_ {
        crate::net::UdpSocket::receive(self)
    }
}

impl AsyncClientSocket for crate::net::UnixDatagram {
    fn max_datagram_size(&self) -> usize {
        crate::net::UnixDatagram::max_datagram_size(self)
    }
    fn runtime(&self) -> &Arc<dyn Runtime> {
        crate::net::UnixDatagram::runtime(self)
    }
    fn send<'a>(&'a self, datagram: &'a [u8]) -> impl Future<Output = io::Result<()>> + Send + 'a {
        crate::net::UnixDatagram::send(self, datagram)
    }
    fn receive(&self) -> impl Future<Output = Result<Bytes, DatagramReceiveError>> + Send + '_ {
        crate::net::UnixDatagram::receive(self)
    }
}

/// How a lazy async client makes its socket at the first use.
pub(crate) trait Connector: Send + Sync + 'static {
    type Socket: AsyncClientSocket;
    /// The runtime given in the options, if any.
    fn runtime(&self) -> Option<&Arc<dyn Runtime>>;
    fn connect(&self)
        -> impl Future<Output = Result<Self::Socket, ClientConnectError>> + Send + '_;
}

/// The state of an async datagram client: its socket (made now or at the first use), the
/// locks of each direction and the closed flag.
pub(crate) struct AsyncCore<K: Connector> {
    socket: OnceLock<K::Socket>,
    connector: Option<K>,
    connecting: async_lock::Mutex<()>,
    closed: AtomicBool,
    closed_event: Event,
    /// Holds the encode buffer. async-lock queues waiting tasks in arrival order, so
    /// concurrent sends go out in the order they asked (a task that arrives just as the lock
    /// is released may take it first: async-lock's fairness is enforced after 0.5 ms).
    pub(crate) send: async_lock::Mutex<BytesMut>,
    /// Holds the buffer of the non-waiting receive.
    pub(crate) recv: async_lock::Mutex<Vec<u8>>,
}

impl<K: Connector> std::fmt::Debug for AsyncCore<K>
where
    K::Socket: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncCore")
            .field("socket", &self.socket.get())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<K: Connector> AsyncCore<K> {
    /// A client over a socket that exists already.
    pub(crate) fn connected(socket: K::Socket) -> Self {
        let core = Self::new(None);
        let _ = core.socket.set(socket);
        core
    }

    /// A client that connects at its first use.
    pub(crate) fn lazy(connector: K) -> Self {
        Self::new(Some(connector))
    }

    fn new(connector: Option<K>) -> Self {
        Self {
            socket: OnceLock::new(),
            connector,
            connecting: async_lock::Mutex::new(()),
            closed: AtomicBool::new(false),
            closed_event: Event::default(),
            send: async_lock::Mutex::new(BytesMut::new()),
            recv: async_lock::Mutex::new(Vec::new()),
        }
    }

    /// The socket, if connected.
    pub(crate) fn socket_now(&self) -> Option<&K::Socket> {
        self.socket.get()
    }

    /// The socket, or [`io::ErrorKind::NotConnected`] before a lazy client connects.
    pub(crate) fn socket_or_not_connected(&self) -> io::Result<&K::Socket> {
        self.socket_now()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    /// The socket, connecting first if needed. Idempotent and safe from several tasks: one
    /// connects, the others wait for it; after a failure the next call tries again.
    pub(crate) async fn socket(&self) -> Result<&K::Socket, ClientConnectError> {
        if self.is_closed() {
            return Err(ClientConnectError::Closed);
        }
        if let Some(socket) = self.socket.get() {
            return Ok(socket);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(socket) = self.socket.get() {
            return Ok(socket);
        }
        let Some(connector) = &self.connector else {
            // `connected` always sets the socket.
            return Err(ClientConnectError::Closed);
        };
        let socket = connector.connect().await?;
        if self.is_closed() {
            return Err(ClientConnectError::Closed);
        }
        Ok(self.socket.get_or_init(|| socket))
    }

    /// The runtime the client uses (its socket's, else the options', else the current one).
    pub(crate) fn runtime(&self) -> io::Result<Arc<dyn Runtime>> {
        if let Some(socket) = self.socket.get() {
            return Ok(Arc::clone(socket.runtime()));
        }
        let given = self.connector.as_ref().and_then(|c| c.runtime());
        Ok(runtime::or_current(given)?)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the client closed and wakes every task waiting in it. The socket itself is
    /// closed when the client is dropped (see the clients' `close`).
    pub(crate) fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            if let Some(socket) = self.socket.get() {
                // Makes the socket inert at once: a Unix peer's sends now fail.
                let _ = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Both);
            }
            self.closed_event.set();
        }
    }

    /// Runs `future` unless or until the client is closed (`None` then; `future` is dropped,
    /// which the receive and send paths are safe for).
    pub(crate) async fn or_closed<F: Future>(&self, future: F) -> Option<F::Output> {
        if self.is_closed() {
            return None;
        }
        let mut future = pin!(future);
        let mut closed = pin!(self.closed_event.wait());
        poll_fn(|cx| {
            if closed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }

    /// Runs a receive with an optional timeout (counting everything, lock wait included).
    pub(crate) async fn recv_within<T>(
        &self,
        timeout: Option<Duration>,
        receive: impl Future<Output = Result<T, RecvPacketError>>,
    ) -> Result<T, RecvPacketError> {
        let bounded = async {
            match timeout {
                None => receive.await,
                Some(timeout) => {
                    let rt = self.runtime().map_err(RecvPacketError::Io)?;
                    runtime::timeout(&*rt, timeout, receive)
                        .await
                        .unwrap_or(Err(RecvPacketError::TimedOut))
                }
            }
        };
        self.or_closed(bounded)
            .await
            .unwrap_or(Err(RecvPacketError::Closed))
    }

    /// Sends one packet: connect if needed, take the send lock, encode, send.
    pub(crate) async fn send_packet<S, C>(
        &self,
        protocol: &DatagramProtocol<S, C>,
        packet: &Sent<S, C>,
    ) -> Result<(), SendPacketError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        self.send_packet_with(protocol, packet, |socket, datagram| async move {
            socket.send(&datagram).await
        })
        .await
    }

    /// As [`send_packet`](Self::send_packet), the encoded datagram (in the locked send
    /// buffer) sent by `send`.
    pub(crate) async fn send_packet_with<'a, S, C, F>(
        &'a self,
        protocol: &DatagramProtocol<S, C>,
        packet: &Sent<S, C>,
        send: impl FnOnce(&'a K::Socket, async_lock::MutexGuard<'a, BytesMut>) -> F,
    ) -> Result<(), SendPacketError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
        F: Future<Output = io::Result<()>>,
    {
        let send = async {
            let socket = self.socket().await.map_err(connect_to_send)?;
            let mut buffer = self.send.lock().await;
            encode(protocol, packet, &mut buffer)?;
            send(socket, buffer).await.map_err(SendPacketError::from_io)
        };
        self.or_closed(send)
            .await
            .unwrap_or(Err(SendPacketError::Closed))
    }

    /// Receives and parses one datagram, within `timeout` if given. Tries a receive that does
    /// not wait first, so a zero timeout takes a datagram that is already there even when the
    /// runtime's reactor has not noticed it yet.
    pub(crate) async fn recv_packet<S, C>(
        &self,
        protocol: &DatagramProtocol<S, C>,
        timeout: Option<Duration>,
    ) -> Result<Received<S, C>, RecvPacketError>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
    {
        let receive = async {
            let socket = self.socket().await.map_err(connect_to_recv)?;
            let mut buffer = self.recv.lock().await;
            let max = socket.max_datagram_size();
            let now = try_receive_now(socket.as_fd(), &mut buffer, max, |fd, buf| {
                Ok((crate::os::recv_datagram(fd, buf)?, ()))
            })?;
            if let Some((len, ())) = now {
                return decode(protocol, &buffer[..len]);
            }
            if timeout == Some(Duration::ZERO) {
                return Err(RecvPacketError::TimedOut);
            }
            let datagram = socket.receive().await?;
            drop(buffer);
            decode(protocol, &datagram)
        };
        self.recv_within(timeout, receive).await
    }
}

impl<K: Connector> AsyncCore<K> {
    /// The packets received within a time budget, as a `Stream` (the clients'
    /// `iter_received_packets`).
    pub(crate) fn iter_received_packets<'a, S, C>(
        &'a self,
        protocol: &'a DatagramProtocol<S, C>,
        timeout: Option<Duration>,
    ) -> DatagramPacketIter<'a, Received<S, C>>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
        Received<S, C>: Send,
    {
        DatagramPacketIter::new(
            move |left| Box::pin(self.recv_packet(protocol, left)),
            self.runtime(),
            timeout,
        )
    }

    /// Every receive, as a `Stream` of results (the clients' `packets`).
    pub(crate) fn packets<'a, S, C>(
        &'a self,
        protocol: &'a DatagramProtocol<S, C>,
    ) -> DatagramPackets<'a, Received<S, C>>
    where
        S: DatagramSerializer,
        C: SendConverter<S::Sent> + RecvConverter<S::Received>,
        Received<S, C>: Send,
    {
        DatagramPackets::new(move |_| Box::pin(self.recv_packet(protocol, None)))
    }
}

/// A boxed receive of one packet.
pub(crate) type RecvFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, RecvPacketError>> + Send + 'a>>;
/// Makes the receive of the next packet, given the time it may take.
type MakeRecv<'a, T> = Box<dyn Fn(Option<Duration>) -> RecvFuture<'a, T> + Send + Sync + 'a>;

/// Every receive of an async datagram client, as a [`Stream`] of results: made by
/// `packets()` on [`client::UdpClient`](crate::client::UdpClient) and
/// [`client::UnixDatagramClient`](crate::client::UnixDatagramClient). `T` is the packet type.
///
/// A recoverable error (a datagram that does not parse or is too large, a refused datagram)
/// is an `Err` item and the stream goes on; another error is the last item; the stream ends
/// when the client is closed. Dropping it while a receive is pending loses nothing (the
/// receive is cancel-safe).
pub struct DatagramPackets<'a, T> {
    make: MakeRecv<'a, T>,
    pending: Option<RecvFuture<'a, T>>,
    done: bool,
}

impl<T> std::fmt::Debug for DatagramPackets<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramPackets")
            .field("receiving", &self.pending.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'a, T> DatagramPackets<'a, T> {
    pub(crate) fn new(
        make: impl Fn(Option<Duration>) -> RecvFuture<'a, T> + Send + Sync + 'a,
    ) -> Self {
        Self {
            make: Box::new(make),
            pending: None,
            done: false,
        }
    }
}

impl<T> Stream for DatagramPackets<'_, T> {
    type Item = Result<T, RecvPacketError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let pending = this.pending.get_or_insert_with(|| (this.make)(None));
        let result = ready!(pending.as_mut().poll(cx));
        this.pending = None;
        match result {
            Ok(packet) => Poll::Ready(Some(Ok(packet))),
            Err(e) => match stream_after_error(&e) {
                None => {
                    this.done = true;
                    Poll::Ready(None)
                }
                Some(go_on) => {
                    this.done = !go_on;
                    Poll::Ready(Some(Err(e)))
                }
            },
        }
    }
}

/// The packets an async datagram client receives, with a time budget, as a [`Stream`]: what
/// `iter_received_packets` returns on [`client::UdpClient`](crate::client::UdpClient) and
/// [`client::UnixDatagramClient`](crate::client::UnixDatagramClient). `T` is the packet type.
///
/// The budget counts only the time spent waiting for the next item, on the runtime's clock,
/// not the consumer's time between items (as EasyNetwork's): `Some(Duration::ZERO)` yields
/// the datagrams already there, `None` waits without limit. The stream ends at the first
/// error: the budget spent ([`RecvPacketError::TimedOut`]), the client closed, a datagram
/// that does not parse or is too large, or any other receive error; [`error`](Self::error)
/// tells which. Dropping it while a receive is pending loses nothing.
pub struct DatagramPacketIter<'a, T> {
    make: MakeRecv<'a, T>,
    pending: Option<(RecvFuture<'a, T>, Instant)>,
    runtime: Option<Arc<dyn Runtime>>,
    budget: Budget,
    error: Option<RecvPacketError>,
}

impl<T> std::fmt::Debug for DatagramPacketIter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramPacketIter")
            .field("receiving", &self.pending.is_some())
            .field("time_left", &self.budget.left())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<'a, T> DatagramPacketIter<'a, T> {
    pub(crate) fn new(
        make: impl Fn(Option<Duration>) -> RecvFuture<'a, T> + Send + Sync + 'a,
        runtime: io::Result<Arc<dyn Runtime>>,
        timeout: Option<Duration>,
    ) -> Self {
        let (runtime, error) = match runtime {
            Ok(runtime) => (Some(runtime), None),
            Err(e) => (None, Some(RecvPacketError::Io(e))),
        };
        Self {
            make: Box::new(make),
            pending: None,
            runtime,
            budget: Budget::new(timeout),
            error,
        }
    }

    /// The error that ended the stream ([`RecvPacketError::TimedOut`] when the budget was
    /// spent, [`RecvPacketError::Closed`], [`RecvPacketError::Parse`], ...); `None` while it
    /// goes on.
    pub fn error(&self) -> Option<&RecvPacketError> {
        self.error.as_ref()
    }
}

impl<T> Stream for DatagramPacketIter<'_, T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.error.is_some() {
            return Poll::Ready(None);
        }
        let Some(runtime) = &this.runtime else {
            return Poll::Ready(None);
        };
        if this.pending.is_none() {
            this.pending = Some(((this.make)(this.budget.left()), runtime.now()));
        }
        let (future, started) = this.pending.as_mut().expect("set above");
        let result = ready!(future.as_mut().poll(cx));
        let spent = runtime.now().saturating_duration_since(*started);
        this.pending = None;
        this.budget.spend(spent);
        match result {
            Ok(packet) => Poll::Ready(Some(packet)),
            Err(e) => {
                this.error = Some(e);
                Poll::Ready(None)
            }
        }
    }
}

/// A boxed send of one packet.
type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendPacketError>> + Send + 'a>>;

/// The packets to send through an async datagram client, as a [`futures_sink::Sink`]: made
/// by `sink()` on [`client::UdpClient`](crate::client::UdpClient) and
/// [`client::UnixDatagramClient`](crate::client::UnixDatagramClient).
///
/// Items are owned packets (`I: Borrow<Sent>`, e.g. `serde_json::Value` or `String` for a
/// `str` packet). Each item is sent whole before the next one is accepted: `poll_ready` and
/// `poll_flush` drive the send in flight, `poll_close` flushes (it does not close the
/// client). An error is the one `send_packet` would return.
pub struct DatagramPacketSink<'a, I> {
    send: Box<dyn Fn(I) -> SendFuture<'a> + Send + Sync + 'a>,
    pending: Option<SendFuture<'a>>,
}

impl<I> std::fmt::Debug for DatagramPacketSink<'_, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramPacketSink")
            .field("sending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, I> DatagramPacketSink<'a, I> {
    pub(crate) fn new(send: impl Fn(I) -> SendFuture<'a> + Send + Sync + 'a) -> Self {
        Self {
            send: Box::new(send),
            pending: None,
        }
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendPacketError>> {
        if let Some(pending) = &mut self.pending {
            let result = ready!(pending.as_mut().poll(cx));
            self.pending = None;
            result?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<I> Unpin for DatagramPacketSink<'_, I> {}

impl<I> futures_sink::Sink<I> for DatagramPacketSink<'_, I> {
    type Error = SendPacketError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: I) -> Result<(), Self::Error> {
        let this = self.get_mut();
        if this.pending.is_some() {
            return Err(SendPacketError::Io(io::Error::other(
                "start_send without poll_ready first",
            )));
        }
        this.pending = Some((this.send)(item));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_pending(cx)
    }
}

/// Auto-binds an unnamed Unix datagram socket, so that its peer can answer (EasyNetwork
/// requires a named client socket; Linux can name it).
pub(crate) fn ensure_named(fd: BorrowedFd<'_>) -> Result<(), ClientConnectError> {
    if crate::os::unix_local_address(fd)?.is_unnamed() {
        crate::os::autobind(fd)?;
    }
    Ok(())
}

/// A failed lazy connection, seen from `send_packet`.
pub(crate) fn connect_to_send(error: ClientConnectError) -> SendPacketError {
    match error {
        ClientConnectError::Closed => SendPacketError::Closed,
        e => SendPacketError::Io(e.into()),
    }
}

/// A failed lazy connection, seen from `recv_packet`.
pub(crate) fn connect_to_recv(error: ClientConnectError) -> RecvPacketError {
    match error {
        ClientConnectError::Closed => RecvPacketError::Closed,
        e => RecvPacketError::Io(e.into()),
    }
}

/// The methods that the async datagram clients (`UdpClient`, `UnixDatagramClient`) share
/// to the letter, for their `impl<S, C>` block: each client has the fields `core`
/// ([`AsyncCore`]), `protocol` and `max_recv_size`.
macro_rules! async_datagram_client_methods {
    () => {
        /// Connects now if the client was made by `connect_lazy` (EasyNetwork's
        /// `wait_connected`). Idempotent, and safe to call from several tasks at once: one
        /// connects, the others wait for it. After a failure, the next call (or the next send
        /// or receive) tries again.
        pub async fn wait_connected(&self) -> Result<(), $crate::client::ClientConnectError> {
            self.core.socket().await.map(|_| ())
        }

        /// Whether the socket exists (always true unless made by `connect_lazy`).
        pub fn is_connected(&self) -> bool {
            self.core.socket_now().is_some()
        }

        /// As [`recv_packet`](Self::recv_packet), within `timeout` on the runtime's clock,
        /// counting the wait for the receive lock
        /// ([`RecvPacketError::TimedOut`](crate::client::RecvPacketError::TimedOut) then).
        /// `Duration::ZERO` takes only a datagram that is already there. Cancel-safe.
        pub async fn recv_packet_within(
            &self,
            timeout: std::time::Duration,
        ) -> Result<$crate::client::datagram::Received<S, C>, $crate::client::RecvPacketError> {
            self.core.recv_packet(&self.protocol, Some(timeout)).await
        }

        /// Every receive, as a [`Stream`](futures_core::Stream) of results (see
        /// [`DatagramPackets`](crate::client::DatagramPackets)): a recoverable error (bad
        /// datagram, refused datagram, ...) is an item and the stream goes on, another error
        /// is the last item, and the stream ends when the client is closed.
        pub fn packets(
            &self,
        ) -> $crate::client::DatagramPackets<'_, $crate::client::datagram::Received<S, C>>
        where
            $crate::client::datagram::Received<S, C>: Send,
        {
            self.core.packets(&self.protocol)
        }

        /// The packets to send, as a [`futures_sink::Sink`] of owned packets (see
        /// [`DatagramPacketSink`](crate::client::DatagramPacketSink)).
        pub fn sink<'a, I>(&'a self) -> $crate::client::DatagramPacketSink<'a, I>
        where
            I: std::borrow::Borrow<$crate::client::datagram::Sent<S, C>> + Send + 'a,
            $crate::client::datagram::Sent<S, C>: Sync,
        {
            $crate::client::DatagramPacketSink::new(move |item: I| {
                Box::pin(async move { self.send_packet(std::borrow::Borrow::borrow(&item)).await })
            })
        }

        /// Whether [`close`](Self::close) was called (EasyNetwork's `is_closing`).
        pub fn is_closed(&self) -> bool {
            self.core.is_closed()
        }

        /// The socket's options (EasyNetwork's socket proxy).
        ///
        /// # Panics
        ///
        /// If the client was made by `connect_lazy` and is not connected yet (see
        /// [`is_connected`](Self::is_connected), [`wait_connected`](Self::wait_connected)).
        pub fn socket_options(&self) -> $crate::sockopt::SocketOptions<'_> {
            $crate::sockopt::SocketOptions::new(self)
        }

        /// The protocol object.
        pub fn protocol(&self) -> &packetwire_proto::DatagramProtocol<S, C> {
            &self.protocol
        }

        /// The largest datagram a receive accepts.
        pub fn max_recv_size(&self) -> usize {
            self.max_recv_size
        }

        /// The runtime the client runs on.
        pub fn runtime(&self) -> std::io::Result<std::sync::Arc<dyn $crate::runtime::Runtime>> {
            self.core.runtime()
        }
    };
}

/// The trait impls of an async datagram client: `Debug` and `AsFd`.
macro_rules! async_datagram_client_impls {
    ($client:ident) => {
        impl<S: packetwire_proto::DatagramSerializer, C> std::fmt::Debug for $client<S, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($client))
                    .field("core", &self.core)
                    .field("protocol", &self.protocol)
                    .finish()
            }
        }

        impl<S: packetwire_proto::DatagramSerializer, C> std::os::fd::AsFd for $client<S, C> {
            /// The socket.
            ///
            /// # Panics
            ///
            /// If the client was made by `connect_lazy` and is not connected yet.
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                let socket = self.core.socket_now();
                std::os::fd::AsFd::as_fd(
                    socket.expect("the client is not connected yet: call wait_connected() first"),
                )
            }
        }
    };
}

pub(crate) use {async_datagram_client_impls, async_datagram_client_methods};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_down_and_saturates() {
        let mut budget = Budget::new(Some(Duration::from_millis(100)));
        budget.spend(Duration::from_millis(30));
        assert_eq!(budget.left(), Some(Duration::from_millis(70)));
        budget.spend(Duration::from_secs(1));
        assert_eq!(budget.left(), Some(Duration::ZERO));
        let mut unlimited = Budget::new(None);
        unlimited.spend(Duration::from_secs(1));
        assert_eq!(unlimited.left(), None);
    }

    #[cfg(feature = "json")]
    #[test]
    fn clients_and_their_futures_are_send() {
        use super::super::{UdpClient, UnixDatagramClient};
        use crate::unix::SocketAncillary;
        type Json = packetwire_proto::JsonSerializer<serde_json::Value>;
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<UdpClient<Json>>();
        send_sync::<UnixDatagramClient<Json>>();
        fn futures(udp: &UdpClient<Json>, unix: &UnixDatagramClient<Json>) {
            let packet = serde_json::Value::Null;
            send(&udp.send_packet(&packet));
            send(&udp.recv_packet());
            send(&udp.recv_packet_within(Duration::ZERO));
            send(&udp.wait_connected());
            send(&udp.packets());
            send(&udp.iter_received_packets(None));
            send(&udp.sink::<serde_json::Value>());
            send(&unix.send_packet(&packet));
            send(&unix.send_packet_with_ancillary(&packet, &SocketAncillary::new()));
            send(&unix.recv_packet_with_ancillary(&mut SocketAncillary::new()));
            send(&unix.close());
        }
        let _ = futures;
    }

    #[test]
    fn which_errors_end_a_stream_of_results() {
        assert_eq!(stream_after_error(&RecvPacketError::Closed), None);
        assert_eq!(stream_after_error(&RecvPacketError::Refused), Some(true));
        assert_eq!(
            stream_after_error(&RecvPacketError::Io(io::ErrorKind::Other.into())),
            Some(false)
        );
    }
}
