//! The datagram servers: UDP and Unix datagram, one session per client address.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::conn::Encoder;
use super::handler::{
    log_handler_error, Address, Extensions, HandlerResult, RecvError, RecvParams, ServiceContext,
};
use super::protocol::ServerDatagramProtocol;
use super::stream::{addr_list, drain_tasks, stop_run, Run, RunGuard, RunState};
use super::util::{catch_panic, lock, until};
use super::ServeError;
use crate::client::SendPacketError;
use crate::net::{DatagramReceiveError, UdpSocket, UnixDatagram};
use crate::runtime::{self, Runtime};
use crate::sockopt::SocketOptions;
use crate::sync::CatchUnwind;
use crate::unix::{AncillaryMessage, SocketAncillary, UnixSocketAddress};

/// The request handler of a datagram server (UDP, Unix datagram): EasyNetwork's
/// `AsyncDatagramRequestHandler`.
///
/// One value serves every client. A client is a source address; its datagrams are queued in
/// order, and at most one `handle` call runs for it at a time. A `handle` call starts with
/// the client's oldest queued datagram: its first [`recv`](DatagramSession::recv) returns it
/// at once (its timeout is ignored); later receives wait for the client's next datagrams.
/// When `handle` returns and more datagrams are queued, a fresh call starts.
///
/// Returning before the first receive discards the datagram (to ignore unknown peers). An
/// error is logged with the client's address and ends that call only.
pub trait DatagramRequestHandler: Send + Sync + 'static {
    /// The packets clients send.
    type Request: Send + 'static;
    /// The packets the server sends back.
    type Response: ?Sized + Sync + 'static;

    /// Called once per `serve_forever`, before the first datagram; see
    /// [`ServiceContext`].
    fn service_init(
        &self,
        service: &mut ServiceContext,
    ) -> impl Future<Output = HandlerResult> + Send {
        let _ = service;
        async { Ok(()) }
    }

    /// Handles a client's datagrams; see the trait documentation.
    fn handle(
        &self,
        session: &mut DatagramSession<Self::Request, Self::Response>,
    ) -> impl Future<Output = HandlerResult> + Send;
}

/// What a datagram server does with datagrams from unnamed Unix sockets (which cannot be
/// answered): EasyNetwork's `unnamed_addresses_behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnnamedPolicy {
    /// Drop them quietly (the default).
    #[default]
    Ignore,
    /// Drop them with a warning.
    Warn,
    /// Handle each in a session of its own (never cached); replying fails with `EINVAL`.
    Handle,
}

/// The default [`DatagramServerOptions::max_queue`].
pub const DEFAULT_MAX_QUEUE: usize = 256;

/// The default [`DatagramServerOptions::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of the datagram servers.
#[derive(Debug, Clone)]
pub struct DatagramServerOptions {
    max_queue: usize,
    idle_timeout: Duration,
    max_sessions: Option<usize>,
    unnamed: UnnamedPolicy,
    receive_ancillary: Option<usize>,
    shutdown_grace: Duration,
    mode: Option<u32>,
}

impl Default for DatagramServerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DatagramServerOptions {
    /// 256 queued datagrams per client, sessions forgotten after 60 s idle, no session
    /// limit, unnamed senders ignored, no ancillary data, a 5 s shutdown grace period.
    pub fn new() -> Self {
        Self {
            max_queue: DEFAULT_MAX_QUEUE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_sessions: None,
            unnamed: UnnamedPolicy::Ignore,
            receive_ancillary: None,
            shutdown_grace: super::DEFAULT_SHUTDOWN_GRACE,
            mode: None,
        }
    }

    /// How many datagrams may wait for one client's handler (beyond EasyNetwork, whose
    /// queue is unbounded). When full, the **oldest** queued datagram is dropped and counted
    /// ([`dropped_datagrams`](UdpServer::dropped_datagrams)).
    ///
    /// # Panics
    ///
    /// If `max` is zero.
    pub fn max_queue(mut self, max: usize) -> Self {
        assert!(max > 0, "max_queue must be at least 1");
        self.max_queue = max;
        self
    }

    /// How long a client's session (its per-client [`Extensions`]) is kept with no datagram
    /// and no handler running. Expired sessions are swept when datagrams arrive.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// At most `max` client sessions: datagrams from new addresses are dropped (and counted)
    /// while full.
    ///
    /// # Panics
    ///
    /// If `max` is zero.
    pub fn max_sessions(mut self, max: usize) -> Self {
        assert!(max > 0, "max_sessions must be at least 1");
        self.max_sessions = Some(max);
        self
    }

    /// What to do with datagrams from unnamed Unix sockets.
    pub fn unnamed(mut self, policy: UnnamedPolicy) -> Self {
        self.unnamed = policy;
        self
    }

    /// Receives ancillary data (descriptors, credentials) with each datagram, with a control
    /// buffer of `capacity` bytes (Unix datagram servers;
    /// [`SocketAncillary::DEFAULT_RECV_CAPACITY`] is a good start). The handler takes it with
    /// [`DatagramSession::recv_with_ancillary`]; descriptors it does not take are closed.
    pub fn receive_ancillary(mut self, capacity: usize) -> Self {
        self.receive_ancillary = Some(capacity);
        self
    }

    /// How long `shutdown` lets busy handlers finish before aborting them.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The socket file's permission bits, set right after the server is made (Unix datagram
    /// servers on a path).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
}

enum Socket {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Socket {
    async fn receive(
        &self,
        ancillary: Option<&mut SocketAncillary<'_>>,
    ) -> Result<(Bytes, Address), DatagramReceiveError> {
        match (self, ancillary) {
            (Self::Udp(s), _) => s.receive_from().await.map(|(d, a)| (d, Address::Inet(a))),
            (Self::Unix(s), Some(ancillary)) => s
                .receive_with_ancillary(ancillary)
                .await
                .map(|(d, a)| (d, Address::Unix(a))),
            (Self::Unix(s), None) => s.receive_from().await.map(|(d, a)| (d, Address::Unix(a))),
        }
    }

    async fn send_to(
        &self,
        data: &[u8],
        to: &Address,
        ancillary: Option<&SocketAncillary<'_>>,
    ) -> io::Result<()> {
        match (self, to) {
            (Self::Udp(s), Address::Inet(addr)) => {
                if ancillary.is_some() {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "ancillary data needs a Unix socket",
                    ));
                }
                s.send_to(data, *addr).await
            }
            (Self::Unix(_), Address::Unix(addr)) if addr.is_unnamed() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Cannot send a datagram to an unnamed address.",
            )),
            (Self::Unix(s), Address::Unix(addr)) => match ancillary {
                Some(ancillary) => s.send_to_with_ancillary(data, ancillary, addr).await,
                None => s.send_to(data, addr).await,
            },
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "address of the wrong family",
            )),
        }
    }

    fn options(&self) -> SocketOptions<'_> {
        match self {
            Self::Udp(s) => s.socket_options(),
            Self::Unix(s) => s.socket_options(),
        }
    }

    fn runtime(&self) -> &Arc<dyn Runtime> {
        match self {
            Self::Udp(s) => s.runtime(),
            Self::Unix(s) => s.runtime(),
        }
    }
}

/// One received datagram and its ancillary data.
struct Datagram {
    data: Bytes,
    ancillary: Vec<AncillaryMessage>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Datagram>,
    waker: Option<Waker>,
    active: bool,
    last_seen: Option<Instant>,
    extensions: Option<Extensions>,
}

struct ClientSlot {
    queue: Mutex<Queue>,
}

type Decoder<Req> = Arc<dyn Fn(&[u8]) -> Result<Req, packetwire_proto::ParseError> + Send + Sync>;

struct Shared<Req, Resp: ?Sized> {
    socket: Socket,
    /// Whether datagrams are received with their ancillary data.
    ancillary: bool,
    local: Address,
    encoder: Encoder<Resp>,
    decode: Decoder<Req>,
}

/// The sending side of a datagram server's client, and its metadata (EasyNetwork's
/// `AsyncDatagramClient`). Cheap to clone.
pub struct DatagramClient<Req, Resp: ?Sized> {
    shared: Arc<Shared<Req, Resp>>,
    peer: Address,
    run: Arc<Run>,
}

impl<Req, Resp: ?Sized> Clone for DatagramClient<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            peer: self.peer.clone(),
            run: Arc::clone(&self.run),
        }
    }
}

/// Two handles are equal when they name the same client address of the same server (as
/// EasyNetwork's datagram clients).
impl<Req, Resp: ?Sized> PartialEq for DatagramClient<Req, Resp> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared) && self.peer == other.peer
    }
}

impl<Req, Resp: ?Sized> Eq for DatagramClient<Req, Resp> {}

impl<Req, Resp: ?Sized> std::hash::Hash for DatagramClient<Req, Resp> {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.peer.hash(state);
    }
}

impl<Req, Resp: ?Sized> fmt::Debug for DatagramClient<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramClient")
            .field("peer", &self.peer)
            .field("local", &self.shared.local)
            .field("closing", &self.is_closing())
            .finish()
    }
}

impl<Req, Resp: ?Sized> DatagramClient<Req, Resp> {
    /// Serializes `packet` and sends it to the client as one datagram. Fails with
    /// [`SendPacketError::Closed`] once the server stopped serving.
    pub async fn send_packet(&self, packet: &Resp) -> Result<(), SendPacketError> {
        let data = self.encode(packet)?;
        Ok(self.shared.socket.send_to(&data, &self.peer, None).await?)
    }

    /// Sends `packet` with ancillary data (Unix datagram servers).
    pub async fn send_packet_with_ancillary(
        &self,
        packet: &Resp,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        let data = self.encode(packet)?;
        Ok(self
            .shared
            .socket
            .send_to(&data, &self.peer, Some(ancillary))
            .await?)
    }

    fn encode(&self, packet: &Resp) -> Result<BytesMut, SendPacketError> {
        if self.is_closing() {
            return Err(SendPacketError::Closed);
        }
        let mut data = BytesMut::new();
        (self.shared.encoder)(packet, &mut data)?;
        Ok(data)
    }

    /// Whether the serve this client belongs to is over: sends fail from then on. (During
    /// a shutdown's grace period, handlers still running can still reply.)
    pub fn is_closing(&self) -> bool {
        self.run.done.is_set()
    }

    /// The client's address.
    pub fn peer_addr(&self) -> &Address {
        &self.peer
    }

    /// The server's address.
    pub fn local_addr(&self) -> &Address {
        &self.shared.local
    }

    /// The server socket's options (shared by every client).
    pub fn socket_options(&self) -> SocketOptions<'_> {
        self.shared.socket.options()
    }

    /// The runtime the server runs on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        self.shared.socket.runtime()
    }
}

/// One client of a datagram server, as the handler sees it during a `handle` call.
pub struct DatagramSession<Req, Resp: ?Sized> {
    client: DatagramClient<Req, Resp>,
    first: Option<Datagram>,
    slot: Arc<ClientSlot>,
    receives: u64,
    extensions: Extensions,
}

impl<Req, Resp: ?Sized> fmt::Debug for DatagramSession<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramSession")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp: ?Sized> DatagramSession<Req, Resp> {
    /// The client handle. Clone it to send from another task.
    pub fn client(&self) -> &DatagramClient<Req, Resp> {
        &self.client
    }

    /// The client's address.
    pub fn peer_addr(&self) -> &Address {
        &self.client.peer
    }

    /// Per-client values, kept while the client's session lives (see
    /// [`DatagramServerOptions::idle_timeout`]).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Per-client values, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// [`DatagramClient::send_packet`].
    pub async fn send_packet(&self, packet: &Resp) -> Result<(), SendPacketError> {
        self.client.send_packet(packet).await
    }

    /// [`DatagramClient::send_packet_with_ancillary`].
    pub async fn send_packet_with_ancillary(
        &self,
        packet: &Resp,
        ancillary: &SocketAncillary<'_>,
    ) -> Result<(), SendPacketError> {
        self.client
            .send_packet_with_ancillary(packet, ancillary)
            .await
    }

    /// The client's next datagram, parsed. The first receive of a `handle` call returns the
    /// datagram that started it. A bad datagram is [`RecvError::Parse`] and is skipped.
    /// [`RecvError::Disconnected`] once the server stops.
    pub async fn recv(&mut self) -> Result<Req, RecvError> {
        self.recv_inner(RecvParams::new(), None).await
    }

    /// The next datagram, with [`RecvParams`] (a timeout, ignored for the first datagram).
    pub async fn recv_with(&mut self, params: RecvParams) -> Result<Req, RecvError> {
        self.recv_inner(params, None).await
    }

    /// The next datagram and its ancillary data, appended to `ancillary` (Unix datagram
    /// servers with [`DatagramServerOptions::receive_ancillary`];
    /// [`RecvError::Unsupported`] otherwise).
    pub async fn recv_with_ancillary(
        &mut self,
        ancillary: &mut SocketAncillary<'_>,
        params: RecvParams,
    ) -> Result<Req, RecvError> {
        self.recv_inner(params, Some(ancillary)).await
    }

    async fn recv_inner(
        &mut self,
        params: RecvParams,
        ancillary: Option<&mut SocketAncillary<'_>>,
    ) -> Result<Req, RecvError> {
        self.receives += 1;
        if ancillary.is_some() && !self.client.shared.ancillary {
            return Err(RecvError::Unsupported);
        }
        let datagram = match self.first.take() {
            Some(datagram) => datagram,
            None => {
                let runtime = Arc::clone(self.client.runtime());
                let deadline = params
                    .get_timeout()
                    .and_then(|t| runtime.now().checked_add(t));
                let slot = Arc::clone(&self.slot);
                let next = poll_fn(|cx| {
                    let mut queue = lock(&slot.queue);
                    match queue.items.pop_front() {
                        Some(datagram) => Poll::Ready(datagram),
                        None => {
                            queue.waker = Some(cx.waker().clone());
                            Poll::Pending
                        }
                    }
                });
                let run = Arc::clone(&self.client.run);
                match runtime::maybe_timeout_at(&*runtime, deadline, until(&run.stop, next)).await {
                    Ok(Some(datagram)) => datagram,
                    Ok(None) => return Err(RecvError::Disconnected),
                    Err(_) => return Err(RecvError::TimedOut),
                }
            }
        };
        if let Some(ancillary) = ancillary {
            for message in datagram.ancillary {
                ancillary.push_received(message);
            }
        }
        // Otherwise the ancillary data is dropped here: received descriptors are closed.
        (self.client.shared.decode)(&datagram.data).map_err(RecvError::Parse)
    }
}

pub(crate) struct DatagramCore<H: DatagramRequestHandler> {
    handler: Arc<H>,
    shared: Arc<Shared<H::Request, H::Response>>,
    options: DatagramServerOptions,
    state: Mutex<RunState>,
    /// The socket file to remove on close (Unix, on a path).
    closed_socket: Mutex<Option<crate::socket::listen::SocketFile>>,
    dropped: AtomicU64,
    sessions: AtomicUsize,
}

impl<H: DatagramRequestHandler> DatagramCore<H> {
    fn new<P>(
        socket: Socket,
        local: Address,
        protocol: P,
        handler: H,
        options: DatagramServerOptions,
    ) -> Self
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        let protocol = Arc::new(protocol);
        let encoder: Encoder<H::Response> = {
            let protocol = Arc::clone(&protocol);
            Arc::new(move |packet, dst| protocol.encode(packet, dst))
        };
        let decode = Arc::new(move |data: &[u8]| protocol.decode(data));
        Self {
            handler: Arc::new(handler),
            shared: Arc::new(Shared {
                ancillary: options.receive_ancillary.is_some(),
                socket,
                local,
                encoder,
                decode,
            }),
            options,
            state: Mutex::new(RunState::default()),
            closed_socket: Mutex::new(None),
            dropped: AtomicU64::new(0),
            sessions: AtomicUsize::new(0),
        }
    }

    fn runtime(&self) -> &Arc<dyn Runtime> {
        self.shared.socket.runtime()
    }

    async fn serve_forever(self: &Arc<Self>) -> Result<(), ServeError> {
        let run = RunState::begin(&self.state)?;
        let mut guard = RunGuard {
            state: &self.state,
            run: Arc::clone(&run),
            tasks: Vec::new(),
        };
        let runtime = Arc::clone(self.runtime());
        let local = vec![self.shared.local.clone()];
        let mut service =
            ServiceContext::new(Arc::clone(&runtime), Arc::clone(&run.stop), local.clone());
        match until(&run.stop, self.handler.service_init(&mut service)).await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                tracing::error!("service_init failed: {e}");
                service.finish().await;
                return Err(ServeError::ServiceInit(e));
            }
            None => {
                service.finish().await;
                return Ok(());
            }
        }
        let template = service.client_extensions_template();
        tracing::info!("Start serving at {}", addr_list(&local));
        let mut clients: HashMap<Address, Arc<ClientSlot>> = HashMap::new();
        let mut last_sweep = runtime.now();
        let result = loop {
            let mut ancillary = self
                .options
                .receive_ancillary
                .map(SocketAncillary::with_recv_capacity);
            let received = until(&run.stop, self.shared.socket.receive(ancillary.as_mut())).await;
            let (data, peer) = match received {
                None => break Ok(()),
                Some(Ok(received)) => received,
                Some(Err(DatagramReceiveError::Io(e))) if !is_transient(&e) => {
                    tracing::error!("receive failed, the server stops: {e}");
                    break Err(ServeError::Listener(e));
                }
                Some(Err(e)) => {
                    tracing::debug!("Unrelated error occurred on datagram reception: {e}");
                    continue;
                }
            };
            let datagram = Datagram {
                data,
                ancillary: ancillary
                    .as_mut()
                    .map(|a| a.take_messages())
                    .unwrap_or_default(),
            };
            drop(ancillary);
            let now = runtime.now();
            if now.saturating_duration_since(last_sweep) >= Duration::from_secs(1)
                || self
                    .options
                    .max_sessions
                    .is_some_and(|max| clients.len() >= max)
            {
                self.sweep(&mut clients, now);
                last_sweep = now;
            }
            let unnamed = peer.as_unix().is_some_and(UnixSocketAddress::is_unnamed);
            if unnamed {
                match self.options.unnamed {
                    UnnamedPolicy::Ignore => continue,
                    UnnamedPolicy::Warn => {
                        tracing::warn!("A datagram from an unnamed socket was dropped");
                        continue;
                    }
                    UnnamedPolicy::Handle => {}
                }
            }
            let slot = if unnamed {
                // Never cached: every datagram is a client of its own.
                Arc::new(ClientSlot {
                    queue: Mutex::new(Queue::default()),
                })
            } else if let Some(slot) = clients.get(&peer) {
                Arc::clone(slot)
            } else {
                if self
                    .options
                    .max_sessions
                    .is_some_and(|max| clients.len() >= max)
                {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(client = %peer, "session limit reached: datagram dropped");
                    continue;
                }
                let slot = Arc::new(ClientSlot {
                    queue: Mutex::new(Queue::default()),
                });
                clients.insert(peer.clone(), Arc::clone(&slot));
                self.sessions.store(clients.len(), Ordering::Relaxed);
                slot
            };
            let start = {
                let mut queue = lock(&slot.queue);
                if queue.items.len() >= self.options.max_queue {
                    queue.items.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(client = %peer, "queue full: the oldest datagram was dropped");
                }
                queue.items.push_back(datagram);
                queue.last_seen = Some(now);
                if queue.extensions.is_none() {
                    queue.extensions = Some(template.clone());
                }
                if let Some(waker) = queue.waker.take() {
                    waker.wake();
                }
                !std::mem::replace(&mut queue.active, true)
            };
            if start {
                // The client's handling is polled once here first: a handler that answers
                // without waiting (an echo) is done at once, with no task spawned and no
                // wake-up of another worker thread per datagram. One that waits goes on in
                // a task of its own (the next poll there registers that task's waker).
                let mut client = self.client_future(peer, slot, Arc::clone(&run));
                let finished = poll_fn(|cx| Poll::Ready(client.as_mut().poll(cx).is_ready())).await;
                if !finished {
                    let task = runtime.spawn(client);
                    guard.tasks.retain(|t| !t.is_finished());
                    guard.tasks.push(task);
                }
            }
        };
        tracing::info!("Server loop break, waiting for remaining tasks...");
        run.stop.set();
        let mut tasks = std::mem::take(&mut guard.tasks);
        drain_tasks(&*runtime, self.options.shutdown_grace, &mut tasks).await;
        drop(clients);
        self.sessions.store(0, Ordering::Relaxed);
        service.finish().await;
        tracing::info!("Server stopped");
        drop(guard);
        result
    }

    /// Forgets the sessions idle for longer than the idle timeout.
    fn sweep(&self, clients: &mut HashMap<Address, Arc<ClientSlot>>, now: Instant) {
        let idle = self.options.idle_timeout;
        clients.retain(|_, slot| {
            let queue = lock(&slot.queue);
            queue.active
                || !queue.items.is_empty()
                || queue
                    .last_seen
                    .is_some_and(|seen| now.saturating_duration_since(seen) < idle)
        });
        self.sessions.store(clients.len(), Ordering::Relaxed);
    }

    fn client_future(
        self: &Arc<Self>,
        peer: Address,
        slot: Arc<ClientSlot>,
        run: Arc<Run>,
    ) -> runtime::BoxFuture<()> {
        let core = Arc::clone(self);
        Box::pin(CatchUnwind::new(async move {
            let client = DatagramClient {
                shared: Arc::clone(&core.shared),
                peer,
                run,
            };
            core.run_client(client, slot).await;
        }))
    }

    async fn run_client(
        &self,
        client: DatagramClient<H::Request, H::Response>,
        slot: Arc<ClientSlot>,
    ) {
        // If the handler panics or the task is aborted, the client must not stay "active"
        // for good: its next datagram starts a new task.
        let mut reset = ActiveReset(Some(Arc::clone(&slot)));
        loop {
            let (first, extensions) = {
                let mut queue = lock(&slot.queue);
                match queue.items.pop_front() {
                    Some(first) if !client.run.stop.is_set() => {
                        (first, queue.extensions.take().unwrap_or_default())
                    }
                    _ => {
                        queue.active = false;
                        reset.0 = None;
                        return;
                    }
                }
            };
            let mut session = DatagramSession {
                client: client.clone(),
                first: Some(first),
                slot: Arc::clone(&slot),
                receives: 0,
                extensions,
            };
            let result = catch_panic(self.handler.handle(&mut session))
                .await
                .and_then(|r| r);
            if let Err(e) = result {
                log_handler_error(&client.peer, "handle", &e);
            }
            let mut queue = lock(&slot.queue);
            queue.extensions = Some(std::mem::take(&mut session.extensions));
            queue.last_seen = Some(client.runtime().now());
        }
    }
}

const ENOMEM: i32 = 12;
const ENOBUFS: i32 = 105;

/// Errors that one datagram or a short lack of memory causes: the server goes on.
/// Marks a client inactive when dropped while armed.
struct ActiveReset(Option<Arc<ClientSlot>>);

impl Drop for ActiveReset {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            lock(&slot.queue).active = false;
        }
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || matches!(error.raw_os_error(), Some(ENOMEM | ENOBUFS))
}

/// The methods every datagram server has.
macro_rules! datagram_server_methods {
    ($handler:ident) => {
        /// Serves until [`shutdown`](Self::shutdown) or [`server_close`](Self::server_close):
        /// runs `service_init`, then receives datagrams and runs the handler per client.
        /// Returns at once with [`ServeError::AlreadyServing`] or [`ServeError::Closed`].
        /// Can be called again after a shutdown.
        pub async fn serve_forever(&self) -> Result<(), ServeError> {
            self.core.serve_forever().await
        }

        /// Stops receiving, lets running handlers finish within the grace period (their
        /// waiting receives return [`RecvError::Disconnected`]; queued datagrams whose
        /// handler did not start are dropped), then aborts them, stops background tasks and
        /// runs teardown actions. The socket stays open for another `serve_forever`.
        pub async fn shutdown(&self) {
            stop_run(&self.core.state, false).await
        }

        /// [`shutdown`](Self::shutdown), and the server cannot serve again. The socket is
        /// closed when the last clone of the server is dropped; a Unix socket file is
        /// removed now, if it is still the one the server was bound to.
        pub async fn server_close(&self) {
            stop_run(&self.core.state, true).await;
            lock(&self.core.closed_socket).take();
        }

        /// Whether `serve_forever` is running and not stopping.
        pub fn is_serving(&self) -> bool {
            lock(&self.core.state)
                .run
                .as_ref()
                .is_some_and(|run| !run.stop.is_set())
        }

        /// How many datagrams were dropped: a client's queue was full (the oldest went), or
        /// the session limit was reached.
        pub fn dropped_datagrams(&self) -> u64 {
            self.core.dropped.load(Ordering::Relaxed)
        }

        /// The options of the server's socket.
        pub fn socket_options(&self) -> SocketOptions<'_> {
            self.core.shared.socket.options()
        }

        /// How many client sessions are kept.
        pub fn sessions(&self) -> usize {
            self.core.sessions.load(Ordering::Relaxed)
        }

        /// The request handler.
        pub fn handler(&self) -> &$handler {
            &self.core.handler
        }

        /// The runtime the server runs on.
        pub fn runtime(&self) -> &Arc<dyn Runtime> {
            self.core.runtime()
        }
    };
}

/// A packet server over UDP (EasyNetwork's `AsyncUDPNetworkServer`).
///
/// ```
/// # #[cfg(all(feature = "tokio", feature = "json"))]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::server::{DatagramRequestHandler, DatagramSession, HandlerResult, UdpServer};
/// use packetwire::{DatagramProtocol, JsonSerializer};
/// use serde_json::Value;
///
/// struct Echo;
///
/// impl DatagramRequestHandler for Echo {
///     type Request = Value;
///     type Response = Value;
///
///     async fn handle(&self, session: &mut DatagramSession<Value, Value>) -> HandlerResult {
///         let request = session.recv().await?;
///         session.send_packet(&request).await?;
///         Ok(())
///     }
/// }
///
/// let protocol = DatagramProtocol::new(JsonSerializer::<Value>::new());
/// let server = UdpServer::bind("127.0.0.1", 0, protocol, Echo).await?;
/// let addr = server.local_addr();
/// let serving = tokio::spawn({
///     let server = server.clone();
///     async move { server.serve_forever().await }
/// });
///
/// let client = packetwire::net::UdpSocket::connect("127.0.0.1", addr.port()).await?;
/// client.send(b"[1,2]").await?;
/// assert_eq!(client.receive().await?, &b"[1,2]"[..]);
///
/// server.shutdown().await;
/// serving.await.unwrap()?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct UdpServer<H: DatagramRequestHandler> {
    core: Arc<DatagramCore<H>>,
}

impl<H: DatagramRequestHandler> Clone for UdpServer<H> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<H: DatagramRequestHandler> fmt::Debug for UdpServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpServer")
            .field("addr", &self.core.shared.local)
            .field("serving", &self.is_serving())
            .finish()
    }
}

impl<H: DatagramRequestHandler> UdpServer<H> {
    /// Binds a UDP socket to `host:port` with the default options, on the current runtime.
    pub async fn bind<P>(host: &str, port: u16, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        let socket = UdpSocket::bind(host, port).await?;
        Self::from_socket(socket, protocol, handler, DatagramServerOptions::new())
    }

    /// Serves on a bound socket made with [`UdpSocketOptions`](crate::net::UdpSocketOptions)
    /// (family, receive buffer size, runtime).
    pub fn from_socket<P>(
        socket: UdpSocket,
        protocol: P,
        handler: H,
        options: DatagramServerOptions,
    ) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        let local = Address::Inet(socket.local_addr()?);
        Ok(Self {
            core: Arc::new(DatagramCore::new(
                Socket::Udp(socket),
                local,
                protocol,
                handler,
                options,
            )),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.core
            .shared
            .local
            .as_inet()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    datagram_server_methods!(H);
}

/// A packet server over a Unix datagram socket (EasyNetwork's `AsyncUnixDatagramServer`).
///
/// Clients must have a name (a path, an abstract name, or the auto-bound name that
/// [`UnixDatagram::connect`] gives) for the server to answer; see [`UnnamedPolicy`].
pub struct UnixDatagramServer<H: DatagramRequestHandler> {
    core: Arc<DatagramCore<H>>,
}

impl<H: DatagramRequestHandler> Clone for UnixDatagramServer<H> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<H: DatagramRequestHandler> fmt::Debug for UnixDatagramServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagramServer")
            .field("addr", &self.core.shared.local)
            .field("serving", &self.is_serving())
            .finish()
    }
}

impl<H: DatagramRequestHandler> UnixDatagramServer<H> {
    /// Binds a socket to `path` (`@name`: abstract), on the current runtime.
    pub async fn bind<P>(path: impl AsRef<Path>, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        let socket = UnixDatagram::bind(path).await?;
        Self::from_socket(socket, protocol, handler, DatagramServerOptions::new())
    }

    /// Serves on a bound socket made with
    /// [`UnixDatagramOptions`](crate::net::UnixDatagramOptions). The socket file, if any,
    /// is recorded now (device and inode) and removed by
    /// [`server_close`](Self::server_close) only if the path still names it.
    pub fn from_socket<P>(
        socket: UnixDatagram,
        protocol: P,
        handler: H,
        options: DatagramServerOptions,
    ) -> io::Result<Self>
    where
        P: ServerDatagramProtocol<H::Request, H::Response>,
    {
        let addr = socket.local_addr()?;
        let file = match addr.as_pathname() {
            Some(path) => {
                if let Some(mode) = options.mode {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
                }
                Some(crate::socket::listen::SocketFile::stat(path)?)
            }
            None => None,
        };
        let core = DatagramCore::new(
            Socket::Unix(socket),
            Address::Unix(addr),
            protocol,
            handler,
            options,
        );
        *lock(&core.closed_socket) = file;
        Ok(Self {
            core: Arc::new(core),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> UnixSocketAddress {
        match self.core.shared.local.as_unix() {
            Some(addr) => addr.clone(),
            None => UnixSocketAddress::Unnamed,
        }
    }

    datagram_server_methods!(H);
}
