//! The stream servers: TCP (optionally TLS) and Unix stream, over one accept loop and one
//! connection task per client.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::conn::{Encoder, ReadSide, StreamClient, StreamSession, WriteSide};
use super::handler::{
    is_disconnection, log_handler_error, Address, Extensions, HandlerResult, ServiceContext,
};
use super::protocol::ServerStreamProtocol;
use super::util::{catch_panic, lock, until, Limit, LimitPermit, Signal};
use super::{ServeError, ServerOptions};
use crate::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use crate::runtime::{self, Runtime, TaskHandle};
use crate::sync::CatchUnwind;
use crate::unix::UnixSocketAddress;

/// The request handler of a stream server (TCP, TLS, Unix stream): EasyNetwork's
/// `AsyncStreamRequestHandler`.
///
/// One value serves every connection (the server keeps it in an `Arc`); per-client state
/// lives in the handler's own locals while it loops, or in the session's
/// [`extensions`](StreamSession::extensions_mut) across calls. For each connection the server
/// calls [`on_connection`](Self::on_connection), then [`handle`](Self::handle) again and
/// again, then [`on_disconnection`](Self::on_disconnection):
///
/// - `handle` owns its loop: it receives with [`StreamSession::recv`] (or
///   [`recv_with`](StreamSession::recv_with) for a timeout), answers, and may loop. When it
///   returns `Ok`, a fresh `handle` call starts for the next request, as EasyNetwork starts a
///   new generator. Returning before its first receive closes the connection (to refuse a
///   client); so does returning an error, which is logged with the client's address (errors
///   that only say the client is gone are not).
/// - A bad request is [`RecvError::Parse`](super::RecvError::Parse): the connection stays
///   open. The end of the connection is [`RecvError::Disconnected`](super::RecvError::Disconnected):
///   return (with `?`).
/// - `on_connection` may receive requests itself (a login exchange) and may refuse the client
///   by closing it ([`StreamSession::close`]) or by returning an error.
/// - `on_disconnection` runs once `on_connection` completed, including after a `handle`
///   error and before the forced close, so it can still send a last packet.
///
/// How a connection ends: after the peer closed it, or after the handler closed the client,
/// the server closes it gracefully (the peer reads every reply, then the end of the stream;
/// TLS sends `close_notify`). After a handler error or panic, or a `handle` that returned
/// before receiving, it is aborted: over TCP without TLS the peer sees a reset (EasyNetwork
/// resets in every case where the handler did not close the client itself).
///
/// The methods return `impl Future + Send`: write them as `async fn` in the `impl`.
pub trait StreamRequestHandler: Send + Sync + 'static {
    /// The packets clients send.
    type Request: Send + 'static;
    /// The packets the server sends back.
    type Response: ?Sized + Sync + 'static;

    /// Called once per `serve_forever`, before the first client: register teardown actions,
    /// spawn background tasks, seed per-client values. An error stops the serve.
    fn service_init(
        &self,
        service: &mut ServiceContext,
    ) -> impl Future<Output = HandlerResult> + Send {
        let _ = service;
        async { Ok(()) }
    }

    /// Called when a client connects, before the first `handle`.
    fn on_connection(
        &self,
        session: &mut StreamSession<Self::Request, Self::Response>,
    ) -> impl Future<Output = HandlerResult> + Send {
        let _ = session;
        async { Ok(()) }
    }

    /// Handles requests; see the trait documentation.
    fn handle(
        &self,
        session: &mut StreamSession<Self::Request, Self::Response>,
    ) -> impl Future<Output = HandlerResult> + Send;

    /// Called when the connection ends, if `on_connection` completed. Receiving returns
    /// [`RecvError::Disconnected`](super::RecvError::Disconnected); sending still works unless
    /// the peer is gone. An error is logged as a warning.
    fn on_disconnection(
        &self,
        session: &mut StreamSession<Self::Request, Self::Response>,
    ) -> impl Future<Output = HandlerResult> + Send {
        let _ = session;
        async { Ok(()) }
    }
}

pub(crate) enum RawConn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

type AcceptFuture<'a> = Pin<Box<dyn Future<Output = io::Result<(RawConn, Address)>> + Send + 'a>>;

trait Acceptor: Send + Sync + 'static {
    fn accept_conn(&self) -> AcceptFuture<'_>;
    fn fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>>;
}

impl Acceptor for TcpListener {
    fn accept_conn(&self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (stream, peer) = self.accept().await?;
            Ok((RawConn::Tcp(stream), Address::Inet(peer)))
        })
    }

    fn fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        self.sockets()
    }
}

impl Acceptor for UnixListener {
    fn accept_conn(&self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (stream, peer) = self.accept().await?;
            Ok((RawConn::Unix(stream), Address::Unix(peer)))
        })
    }

    fn fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        self.sockets()
    }
}

/// One run of `serve_forever`.
#[derive(Default)]
pub(crate) struct Run {
    pub(crate) stop: Arc<Signal>,
    pub(crate) done: Signal,
}

#[derive(Default)]
pub(crate) struct RunState {
    pub(crate) closed: bool,
    pub(crate) run: Option<Arc<Run>>,
}

impl RunState {
    /// Starts a run, unless the server is closed or serving.
    pub(crate) fn begin(state: &Mutex<Self>) -> Result<Arc<Run>, ServeError> {
        let mut state = lock(state);
        if state.closed {
            return Err(ServeError::Closed);
        }
        if state.run.is_some() {
            return Err(ServeError::AlreadyServing);
        }
        let run = Arc::new(Run::default());
        state.run = Some(Arc::clone(&run));
        Ok(run)
    }
}

/// Ends a run however `serve_forever` ends (returned or cancelled): the tasks left are
/// aborted and waiters of `shutdown` are released.
pub(crate) struct RunGuard<'a> {
    pub(crate) state: &'a Mutex<RunState>,
    pub(crate) run: Arc<Run>,
    pub(crate) tasks: Vec<Box<dyn TaskHandle>>,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        for task in &mut self.tasks {
            task.abort();
        }
        self.run.stop.set();
        lock(self.state).run = None;
        self.run.done.set();
    }
}

/// Stops a run and waits until it is over.
pub(crate) async fn stop_run(state: &Mutex<RunState>, close: bool) {
    let run = {
        let mut state = lock(state);
        if close {
            state.closed = true;
        }
        state.run.clone()
    };
    if let Some(run) = run {
        run.stop.set();
        run.done.wait().await;
    }
}

/// Waits up to the grace period for `tasks`, then aborts those left and waits for them.
pub(crate) async fn drain_tasks(
    runtime: &dyn Runtime,
    grace: std::time::Duration,
    tasks: &mut [Box<dyn TaskHandle>],
) {
    let deadline = runtime.now().checked_add(grace);
    let waited = runtime::maybe_timeout_at(runtime, deadline, async {
        for task in tasks.iter_mut() {
            task.join().await;
        }
    })
    .await;
    if waited.is_err() {
        let mut aborted = 0;
        for task in tasks.iter_mut() {
            if !task.is_finished() {
                task.abort();
                aborted += 1;
            }
        }
        tracing::warn!("{aborted} client task(s) still running after the grace period: aborted");
        for task in tasks.iter_mut() {
            task.join().await;
        }
    }
}

pub(crate) fn addr_list(addrs: &[Address]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) struct StreamCore<H: StreamRequestHandler> {
    handler: Arc<H>,
    protocol: Arc<dyn ServerStreamProtocol<H::Request, H::Response>>,
    listener: Mutex<Option<Arc<dyn Acceptor>>>,
    addrs: Vec<Address>,
    runtime: Arc<dyn Runtime>,
    options: ServerOptions,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsAcceptor>,
    state: Mutex<RunState>,
    active: Arc<AtomicUsize>,
}

impl<H: StreamRequestHandler> StreamCore<H> {
    fn new(
        listener: Arc<dyn Acceptor>,
        addrs: Vec<Address>,
        runtime: Arc<dyn Runtime>,
        protocol: Arc<dyn ServerStreamProtocol<H::Request, H::Response>>,
        handler: H,
        options: ServerOptions,
    ) -> Self {
        Self {
            handler: Arc::new(handler),
            protocol,
            listener: Mutex::new(Some(listener)),
            addrs,
            runtime,
            options,
            #[cfg(feature = "tls")]
            tls: None,
            state: Mutex::new(RunState::default()),
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn serve_forever(self: &Arc<Self>) -> Result<(), ServeError> {
        let run = RunState::begin(&self.state)?;
        let mut guard = RunGuard {
            state: &self.state,
            run: Arc::clone(&run),
            tasks: Vec::new(),
        };
        let Some(listener) = lock(&self.listener).clone() else {
            return Err(ServeError::Closed);
        };
        let mut service = ServiceContext::new(
            Arc::clone(&self.runtime),
            Arc::clone(&run.stop),
            self.addrs.clone(),
        );
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
        let limit = self.options.max_connections.map(Limit::new);
        tracing::info!("Start serving at {}", addr_list(&self.addrs));
        let result = loop {
            let permit = match &limit {
                Some(limit) => match until(&run.stop, limit.acquire()).await {
                    Some(permit) => Some(permit),
                    None => break Ok(()),
                },
                None => None,
            };
            match until(&run.stop, listener.accept_conn()).await {
                None => break Ok(()),
                Some(Ok((conn, peer))) => {
                    let task = self.spawn_connection(
                        conn,
                        peer,
                        permit,
                        Arc::clone(&run.stop),
                        service.client_extensions_template(),
                    );
                    guard.tasks.retain(|t| !t.is_finished());
                    guard.tasks.push(task);
                }
                Some(Err(e)) => {
                    tracing::error!("accept failed, the server stops: {e}");
                    break Err(ServeError::Listener(e));
                }
            }
        };
        drop(listener);
        tracing::info!("Server loop break, waiting for remaining tasks...");
        run.stop.set();
        let mut tasks = std::mem::take(&mut guard.tasks);
        drain_tasks(&*self.runtime, self.options.shutdown_grace, &mut tasks).await;
        service.finish().await;
        tracing::info!("Server stopped");
        drop(guard);
        result
    }

    fn spawn_connection(
        self: &Arc<Self>,
        conn: RawConn,
        peer: Address,
        permit: Option<LimitPermit>,
        stop: Arc<Signal>,
        extensions: Extensions,
    ) -> Box<dyn TaskHandle> {
        let core = Arc::clone(self);
        core.active.fetch_add(1, Ordering::SeqCst);
        let active = ActiveGuard(Arc::clone(&core.active));
        self.runtime.spawn(Box::pin(CatchUnwind::new(async move {
            let _permit = permit;
            let _active = active;
            if let Some(session) = core.open_session(conn, peer, stop, extensions).await {
                core.run_session(session).await;
            }
        })))
    }

    async fn open_session(
        &self,
        conn: RawConn,
        peer: Address,
        stop: Arc<Signal>,
        extensions: Extensions,
    ) -> Option<StreamSession<H::Request, H::Response>> {
        let encoder: Encoder<H::Response> = {
            let protocol = Arc::clone(&self.protocol);
            Arc::new(move |packet, dst| protocol.encode(packet, dst))
        };
        let decoder = self.protocol.new_decoder();
        let runtime = Arc::clone(&self.runtime);
        match conn {
            RawConn::Tcp(stream) => {
                // A client that reset at once may have no local address any more: drop it.
                let local = Address::Inet(stream.local_addr().ok()?);
                #[cfg(feature = "tls")]
                if let Some(acceptor) = &self.tls {
                    let tls = match until(&stop, acceptor.accept(stream)).await? {
                        Ok(tls) => tls,
                        Err(crate::tls::TlsHandshakeError::TimedOut) => {
                            tracing::debug!(client = %peer, "TLS handshake timed out");
                            return None;
                        }
                        Err(e) => {
                            tracing::warn!(client = %peer, "TLS handshake failed: {e}");
                            return None;
                        }
                    };
                    let socket = tls.socket_shared();
                    let tls = Arc::new(Mutex::new(tls));
                    let client = StreamClient::new(
                        WriteSide::Tls(Arc::clone(&tls)),
                        socket,
                        peer,
                        local,
                        false,
                        true,
                        encoder,
                        runtime,
                    );
                    return Some(StreamSession::new(
                        client,
                        ReadSide::Tls(tls),
                        decoder,
                        stop,
                        extensions,
                    ));
                }
                let (read, write) = stream.into_split();
                let socket = Arc::clone(read.core.shared());
                let client = StreamClient::new(
                    WriteSide::Net(write),
                    socket,
                    peer,
                    local,
                    false,
                    false,
                    encoder,
                    runtime,
                );
                Some(StreamSession::new(
                    client,
                    ReadSide::Net(read, false),
                    decoder,
                    stop,
                    extensions,
                ))
            }
            RawConn::Unix(stream) => {
                let local = Address::Unix(stream.local_addr().ok()?);
                let (read, write) = stream.into_split();
                let socket = Arc::clone(read.core.shared());
                let client = StreamClient::new(
                    WriteSide::Net(write),
                    socket,
                    peer,
                    local,
                    true,
                    false,
                    encoder,
                    runtime,
                );
                Some(StreamSession::new(
                    client,
                    ReadSide::Net(read, true),
                    decoder,
                    stop,
                    extensions,
                ))
            }
        }
    }

    async fn run_session(&self, mut session: StreamSession<H::Request, H::Response>) {
        let peer = session.peer_addr().clone();
        if self.options.log_connections {
            tracing::info!(client = %peer, "Accepted new connection (address = {peer})");
        } else {
            tracing::debug!(client = %peer, "Accepted new connection (address = {peer})");
        }
        let on_connection = catch_panic(self.handler.on_connection(&mut session)).await;
        let forced = match on_connection.and_then(|r| r) {
            Err(e) => {
                log_handler_error(&peer, "on_connection", &e);
                session.client().abort();
                tracing::debug!(client = %peer, "{peer} disconnected");
                return;
            }
            Ok(()) => {
                let mut forced = false;
                while !session.is_over() {
                    let before = session.receives();
                    let handled = catch_panic(self.handler.handle(&mut session)).await;
                    match handled.and_then(|r| r) {
                        Ok(()) if session.receives() == before && !session.is_closing() => {
                            // Returned before its first receive: refuse the client.
                            forced = true;
                            break;
                        }
                        Ok(()) => {}
                        Err(e) => {
                            log_handler_error(&peer, "handle", &e);
                            forced = !is_disconnection(&e);
                            break;
                        }
                    }
                }
                forced
            }
        };
        session.end();
        let on_disconnection = catch_panic(self.handler.on_disconnection(&mut session)).await;
        if let Err(e) = on_disconnection.and_then(|r| r) {
            tracing::warn!(client = %peer, "on_disconnection failed: {e}");
        }
        if forced {
            session.client().abort();
        } else {
            session.client().close().await;
        }
        if self.options.log_connections {
            tracing::info!(client = %peer, "{peer} disconnected");
        } else {
            tracing::debug!(client = %peer, "{peer} disconnected");
        }
    }

    fn is_serving(&self) -> bool {
        lock(&self.state)
            .run
            .as_ref()
            .is_some_and(|run| !run.stop.is_set())
    }

    fn is_listening(&self) -> bool {
        lock(&self.listener).is_some()
    }

    async fn server_close(&self) {
        stop_run(&self.state, true).await;
        // The serve loop dropped its clone: this removes a Unix socket file (if still ours).
        lock(&self.listener).take();
    }
}

/// The methods every async server has.
macro_rules! server_methods {
    ($handler:ident) => {
        /// Serves until [`shutdown`](Self::shutdown) or [`server_close`](Self::server_close)
        /// (from another task, through a clone of this server): runs `service_init`, accepts
        /// clients and runs the handler for each, then stops (see
        /// [`shutdown`](Self::shutdown)). Returns at once with
        /// [`ServeError::AlreadyServing`] or [`ServeError::Closed`]. Can be called again after
        /// a shutdown. Dropping the future stops the serve at once (client tasks aborted).
        pub async fn serve_forever(&self) -> Result<(), ServeError> {
            self.core.serve_forever().await
        }

        /// Stops serving and waits until `serve_forever` has returned: the listener stops
        /// accepting first; clients waiting for a request are disconnected at once, clients
        /// being handled get the [grace period](ServerOptions::shutdown_grace) to finish
        /// (pipelined requests already received are still handled), then their tasks are
        /// aborted; then background tasks stop and teardown actions run. The listening
        /// socket stays open: `serve_forever` may be called again. Does nothing when not
        /// serving; concurrent calls all wait for the same end.
        pub async fn shutdown(&self) {
            stop_run(&self.core.state, false).await
        }

        /// [`shutdown`](Self::shutdown), then closes the listening socket for good (a Unix
        /// socket file is removed if it is still the one the server created). Idempotent.
        pub async fn server_close(&self) {
            self.core.server_close().await
        }

        /// Whether `serve_forever` is running and not stopping.
        pub fn is_serving(&self) -> bool {
            self.core.is_serving()
        }

        /// Whether the listening socket is open (until [`server_close`](Self::server_close)).
        pub fn is_listening(&self) -> bool {
            self.core.is_listening()
        }

        /// Runs `f` with the options of the listening sockets (EasyNetwork's `get_sockets()`
        /// proxies); `None` once the server is closed.
        pub fn with_socket_options<R>(
            &self,
            f: impl FnOnce(&[crate::sockopt::SocketOptions<'_>]) -> R,
        ) -> Option<R> {
            let listener = lock(&self.core.listener).clone()?;
            let options: Vec<_> = listener
                .fds()
                .into_iter()
                .map(crate::sockopt::SocketOptions::from_fd)
                .collect();
            Some(f(&options))
        }

        /// How many client connections are being handled.
        pub fn active_connections(&self) -> usize {
            self.core.active.load(Ordering::SeqCst)
        }

        /// The request handler.
        pub fn handler(&self) -> &$handler {
            &self.core.handler
        }

        /// The runtime the server runs on.
        pub fn runtime(&self) -> &Arc<dyn Runtime> {
            &self.core.runtime
        }
    };
}

/// A packet server over TCP, optionally with TLS (EasyNetwork's `AsyncTCPNetworkServer`).
///
/// Clone it to control it from another task: clones share the server.
///
/// ```
/// # #[cfg(all(feature = "tokio", feature = "json"))]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use packetwire::server::{HandlerResult, RecvError, StreamRequestHandler, StreamSession, TcpServer};
/// use packetwire::{JsonSerializer, StreamProtocol};
/// use serde_json::Value;
///
/// struct Echo;
///
/// impl StreamRequestHandler for Echo {
///     type Request = Value;
///     type Response = Value;
///
///     async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
///         match session.recv().await {
///             Ok(request) => session.send_packet(&request).await?,
///             Err(RecvError::Parse(e)) => {
///                 session.send_packet(&Value::from(format!("bad request: {e}"))).await?
///             }
///             Err(e) => return Err(e.into()),
///         }
///         Ok(())
///     }
/// }
///
/// let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
/// let server = TcpServer::bind("127.0.0.1", 0, protocol, Echo).await?;
/// let port = server.local_addrs()[0].port();
/// let serving = tokio::spawn({
///     let server = server.clone();
///     async move { server.serve_forever().await }
/// });
///
/// let mut client = packetwire::net::TcpStream::connect("127.0.0.1", port).await?;
/// client.send_all(b"{\"hello\": 1}\n").await?;
/// assert_eq!(client.receive_line().await?, &b"{\"hello\":1}\n"[..]);
///
/// server.shutdown().await;
/// serving.await.unwrap()?;
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct TcpServer<H: StreamRequestHandler> {
    core: Arc<StreamCore<H>>,
}

impl<H: StreamRequestHandler> Clone for TcpServer<H> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<H: StreamRequestHandler> fmt::Debug for TcpServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpServer")
            .field("addrs", &self.core.addrs)
            .field("serving", &self.is_serving())
            .field("active_connections", &self.active_connections())
            .finish()
    }
}

impl<H: StreamRequestHandler> TcpServer<H> {
    /// Listens on `host:port` (as [`TcpListener::bind`]: `""` is every interface, port 0 lets
    /// the system choose) with the default [`ServerOptions`], on the current runtime.
    pub async fn bind<P>(host: &str, port: u16, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        let listener = TcpListener::bind(host, port).await?;
        Ok(Self::from_listener(
            listener,
            protocol,
            handler,
            ServerOptions::new(),
        ))
    }

    /// Serves on a listener made with [`TcpListenerOptions`](crate::net::TcpListenerOptions)
    /// (backlog, `SO_REUSEPORT`, runtime).
    pub fn from_listener<P>(
        listener: TcpListener,
        protocol: P,
        handler: H,
        options: ServerOptions,
    ) -> Self
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        let addrs = listener
            .local_addrs()
            .iter()
            .map(|a| Address::Inet(*a))
            .collect();
        let runtime = Arc::clone(listener.runtime());
        Self {
            core: Arc::new(StreamCore::new(
                Arc::new(listener),
                addrs,
                runtime,
                Arc::new(protocol),
                handler,
                options,
            )),
        }
    }

    /// Serves TLS on a listener: each connection's handshake runs on its own task, within
    /// the acceptor's handshake timeout; a failed handshake is logged (a timeout quietly)
    /// and never reaches the handler.
    #[cfg(feature = "tls")]
    pub fn from_listener_tls<P>(
        listener: TcpListener,
        acceptor: crate::tls::TlsAcceptor,
        protocol: P,
        handler: H,
        options: ServerOptions,
    ) -> Self
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        let mut server = Self::from_listener(listener, protocol, handler, options);
        match Arc::get_mut(&mut server.core) {
            Some(core) => core.tls = Some(acceptor),
            None => unreachable!("a server just made has no clone"),
        }
        server
    }

    /// The addresses listened on, one per socket.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.core
            .addrs
            .iter()
            .filter_map(Address::as_inet)
            .collect()
    }

    server_methods!(H);
}

/// A packet server over a Unix stream socket (EasyNetwork's `AsyncUnixStreamServer`): on a
/// path, or a Linux abstract name (`@name`).
///
/// The socket file is removed by [`server_close`](Self::server_close) (or when the last clone
/// is dropped), but only if the path still names the file this server created: a file
/// removed or replaced by someone else is left alone. File mode and the stale-file policy are
/// [`UnixListenerOptions`](crate::net::UnixListenerOptions)' (use
/// [`from_listener`](Self::from_listener)).
pub struct UnixStreamServer<H: StreamRequestHandler> {
    core: Arc<StreamCore<H>>,
}

impl<H: StreamRequestHandler> Clone for UnixStreamServer<H> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<H: StreamRequestHandler> fmt::Debug for UnixStreamServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStreamServer")
            .field("addr", &self.core.addrs)
            .field("serving", &self.is_serving())
            .field("active_connections", &self.active_connections())
            .finish()
    }
}

impl<H: StreamRequestHandler> UnixStreamServer<H> {
    /// Listens on `path` (`@name`: abstract) with the default listener and server options,
    /// on the current runtime.
    pub async fn bind<P>(path: impl AsRef<Path>, protocol: P, handler: H) -> io::Result<Self>
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        let listener = UnixListener::bind(path).await?;
        Ok(Self::from_listener(
            listener,
            protocol,
            handler,
            ServerOptions::new(),
        ))
    }

    /// Serves on a listener made with [`UnixListenerOptions`](crate::net::UnixListenerOptions)
    /// (file mode, stale-file policy, backlog, runtime).
    pub fn from_listener<P>(
        listener: UnixListener,
        protocol: P,
        handler: H,
        options: ServerOptions,
    ) -> Self
    where
        P: ServerStreamProtocol<H::Request, H::Response>,
    {
        let addrs = vec![Address::Unix(listener.local_addr().clone())];
        let runtime = Arc::clone(listener.runtime());
        Self {
            core: Arc::new(StreamCore::new(
                Arc::new(listener),
                addrs,
                runtime,
                Arc::new(protocol),
                handler,
                options,
            )),
        }
    }

    /// The address listened on.
    pub fn local_addr(&self) -> UnixSocketAddress {
        match self.core.addrs.first().and_then(Address::as_unix) {
            Some(addr) => addr.clone(),
            None => UnixSocketAddress::Unnamed,
        }
    }

    server_methods!(H);
}
