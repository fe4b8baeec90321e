//! Shared pieces of the stream-server tests: a test handler driven by its requests, and one
//! set of scenarios run over TCP and over Unix stream sockets.
#![allow(dead_code)]

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use packetwire::net::{TcpStream, UnixStream};
use packetwire::runtime::{self, Runtime, TaskHandle};
use packetwire::server::{
    HandlerResult, RecvError, RecvParams, ServeError, ServerOptions, ServiceContext,
    ShutdownTrigger, StreamRequestHandler, StreamSession, TcpServer, UnixStreamServer,
};
use packetwire::unix::SocketAncillary;
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicUsize,
    pub(crate) disconnections: AtomicUsize,
    pub(crate) handle_calls: AtomicUsize,
    pub(crate) inits: AtomicUsize,
    pub(crate) teardowns: AtomicUsize,
    pub(crate) background_ticks: AtomicUsize,
    pub(crate) slow_started: AtomicUsize,
}

/// A handler whose behaviour each request picks.
#[derive(Default)]
pub(crate) struct TestHandler {
    pub(crate) counters: Arc<Counters>,
    /// Ask for a password in `on_connection`.
    pub(crate) login: bool,
    /// Return from `handle` before receiving anything (refuse every client).
    pub(crate) refuse: bool,
}

#[derive(Clone, Default)]
struct PerClient {
    total: u64,
}

impl StreamRequestHandler for TestHandler {
    type Request = Value;
    type Response = Value;

    async fn service_init(&self, service: &mut ServiceContext) -> HandlerResult {
        self.counters.inits.fetch_add(1, Ordering::SeqCst);
        let counters = Arc::clone(&self.counters);
        service.on_teardown(move || {
            counters.teardowns.fetch_add(1, Ordering::SeqCst);
        });
        let counters = Arc::clone(&self.counters);
        let rt = Arc::clone(service.runtime());
        service.spawn(async move {
            loop {
                counters.background_ticks.fetch_add(1, Ordering::SeqCst);
                runtime::sleep(&*rt, Duration::from_millis(10)).await;
            }
        });
        service.client_extensions().insert(PerClient::default());
        let trigger = service.shutdown_trigger();
        service.client_extensions().insert(trigger);
        Ok(())
    }

    async fn on_connection(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        self.counters.connections.fetch_add(1, Ordering::SeqCst);
        if self.login {
            session.send_packet(&json!("password?")).await?;
            let params = RecvParams::new().timeout(Duration::from_millis(500));
            match session.recv_with(params).await {
                Ok(v) if v == json!("secret") => session.send_packet(&json!("welcome")).await?,
                Ok(_) => {
                    session.send_packet(&json!("wrong password")).await?;
                    session.close().await;
                }
                Err(RecvError::TimedOut) => {
                    session.send_packet(&json!("too slow")).await?;
                    session.close().await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        self.counters.handle_calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse {
            return Ok(());
        }
        // State of this call only: reset when `handle` starts again.
        let mut in_this_call = 0u64;
        let unix = session.peer_addr().as_unix().is_some();
        loop {
            let mut ancillary = SocketAncillary::new();
            let received = if unix {
                session
                    .recv_with_ancillary(&mut ancillary, RecvParams::new())
                    .await
            } else {
                session.recv().await
            };
            // Only the "fds" request claims the descriptors; dropping the ancillary data
            // closes the others before any reply goes out.
            let fds = if matches!(&received, Ok(r) if *r == json!("fds")) {
                ancillary.take_fds()
            } else {
                Vec::new()
            };
            drop(ancillary);
            let request = match received {
                Ok(request) => request,
                Err(RecvError::Parse(_)) => {
                    session
                        .send_packet(&json!({"error": "bad request"}))
                        .await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            in_this_call += 1;
            let total = {
                let state = session
                    .extensions_mut()
                    .get_or_insert_with(PerClient::default);
                state.total += 1;
                state.total
            };
            match request {
                Value::Number(n) => {
                    session
                        .send_packet(&json!(n.as_i64().unwrap_or(0) + 1))
                        .await?;
                }
                Value::String(s) => match s.as_str() {
                    "ping" => session.send_packet(&json!("pong")).await?,
                    "stop the server" => {
                        let trigger = session.extensions().get::<ShutdownTrigger>().cloned();
                        session.send_packet(&json!("stopping")).await?;
                        if let Some(trigger) = trigger {
                            trigger.trigger();
                        }
                    }
                    "fail" => return Err("boom (expected by the test)".into()),
                    "panic" => panic!("handler panic (expected by the test)"),
                    "count" => session.send_packet(&json!([in_this_call, total])).await?,
                    "return" => {
                        session.send_packet(&json!("returning")).await?;
                        return Ok(());
                    }
                    "close" => {
                        session.send_packet(&json!("bye")).await?;
                        session.close().await;
                        return Ok(());
                    }
                    "wait" => {
                        let params = RecvParams::new().timeout(Duration::from_millis(100));
                        match session.recv_with(params).await {
                            Ok(next) => session.send_packet(&json!(["got", next])).await?,
                            Err(RecvError::TimedOut) => {
                                session.send_packet(&json!("timed out")).await?
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    "now" => {
                        // A zero timeout: only what has arrived already.
                        let params = RecvParams::new().timeout(Duration::ZERO);
                        match session.recv_with(params).await {
                            Ok(next) => session.send_packet(&json!(["now", next])).await?,
                            Err(RecvError::TimedOut) => {
                                session.send_packet(&json!("nothing yet")).await?
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    "slow" => {
                        self.counters.slow_started.fetch_add(1, Ordering::SeqCst);
                        runtime::sleep(&**session.client().runtime(), Duration::from_millis(300))
                            .await;
                        session.send_packet(&json!("slow done")).await?;
                    }
                    "fds" => {
                        // Report how many descriptors came, and what the first one holds.
                        let mut first = String::new();
                        if let Some(fd) = fds.first() {
                            use std::io::Read;
                            let mut file = std::fs::File::from(fd.try_clone()?);
                            file.read_to_string(&mut first)?;
                        }
                        session.send_packet(&json!([fds.len(), first])).await?;
                    }
                    "give fd" => {
                        let (reader, writer) = packetwire::os::pipe()?;
                        {
                            use std::io::Write;
                            let mut w = std::fs::File::from(writer);
                            w.write_all(b"from the server")?;
                        }
                        let mut out = SocketAncillary::new();
                        out.add_fd(&reader);
                        session
                            .send_packet_with_ancillary(&json!("here"), &out)
                            .await?;
                    }
                    "peer" => {
                        let creds = session.client().peer_credentials().ok().map(|c| c.pid);
                        let nodelay = session.client().socket_options().nodelay().ok();
                        session
                            .send_packet(&json!([session.peer_addr().to_string(), creds, nodelay]))
                            .await?
                    }
                    other => session.send_packet(&json!(["echo", other])).await?,
                },
                other => session.send_packet(&other).await?,
            }
            drop(fds);
        }
    }

    async fn on_disconnection(&self, _session: &mut StreamSession<Value, Value>) -> HandlerResult {
        self.counters.disconnections.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub(crate) fn protocol() -> StreamProtocol<JsonSerializer<Value>> {
    StreamProtocol::new(JsonSerializer::<Value>::new())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Unix,
}

/// Where a spawned `serve_forever` leaves its result.
pub(crate) type ServeResult = Arc<std::sync::Mutex<Option<Result<(), ServeError>>>>;

/// A server of either transport, with the temporary directory of its socket file.
pub(crate) enum AnyServer {
    Tcp(TcpServer<TestHandler>),
    Unix(UnixStreamServer<TestHandler>, tempfile::TempDir),
}

impl AnyServer {
    pub(crate) async fn bind(
        transport: Transport,
        handler: TestHandler,
        options: ServerOptions,
    ) -> io::Result<Self> {
        Ok(match transport {
            Transport::Tcp => {
                let listener = packetwire::net::TcpListener::bind("127.0.0.1", 0).await?;
                Self::Tcp(TcpServer::from_listener(
                    listener,
                    protocol(),
                    handler,
                    options,
                ))
            }
            Transport::Unix => {
                let dir = tempfile::tempdir()?;
                let listener =
                    packetwire::net::UnixListener::bind(dir.path().join("s.sock")).await?;
                Self::Unix(
                    UnixStreamServer::from_listener(listener, protocol(), handler, options),
                    dir,
                )
            }
        })
    }

    pub(crate) fn counters(&self) -> Arc<Counters> {
        match self {
            Self::Tcp(s) => Arc::clone(&s.handler().counters),
            Self::Unix(s, _) => Arc::clone(&s.handler().counters),
        }
    }

    /// Runs `serve_forever` on a task; the handle's join says when it returned.
    pub(crate) fn spawn_serve(&self, rt: &Arc<dyn Runtime>) -> (Box<dyn TaskHandle>, ServeResult) {
        let result = Arc::new(std::sync::Mutex::new(None));
        let out = Arc::clone(&result);
        let task: runtime::BoxFuture<()> = match self {
            Self::Tcp(s) => {
                let s = s.clone();
                Box::pin(async move { *out.lock().unwrap() = Some(s.serve_forever().await) })
            }
            Self::Unix(s, _) => {
                let s = s.clone();
                Box::pin(async move { *out.lock().unwrap() = Some(s.serve_forever().await) })
            }
        };
        (rt.spawn(task), result)
    }

    pub(crate) async fn serve_forever(&self) -> Result<(), ServeError> {
        match self {
            Self::Tcp(s) => s.serve_forever().await,
            Self::Unix(s, _) => s.serve_forever().await,
        }
    }

    pub(crate) async fn wait_serving(&self, rt: &Arc<dyn Runtime>) {
        for _ in 0..500 {
            if self.is_serving() {
                return;
            }
            runtime::sleep(&**rt, Duration::from_millis(2)).await;
        }
        panic!("the server never started serving");
    }

    pub(crate) fn is_serving(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_serving(),
            Self::Unix(s, _) => s.is_serving(),
        }
    }

    pub(crate) fn is_listening(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_listening(),
            Self::Unix(s, _) => s.is_listening(),
        }
    }

    pub(crate) fn active_connections(&self) -> usize {
        match self {
            Self::Tcp(s) => s.active_connections(),
            Self::Unix(s, _) => s.active_connections(),
        }
    }

    pub(crate) async fn shutdown(&self) {
        match self {
            Self::Tcp(s) => s.shutdown().await,
            Self::Unix(s, _) => s.shutdown().await,
        }
    }

    pub(crate) async fn server_close(&self) {
        match self {
            Self::Tcp(s) => s.server_close().await,
            Self::Unix(s, _) => s.server_close().await,
        }
    }

    pub(crate) fn socket_path(&self) -> Option<std::path::PathBuf> {
        match self {
            Self::Tcp(_) => None,
            Self::Unix(s, _) => s.local_addr().as_pathname().map(|p| p.to_path_buf()),
        }
    }

    pub(crate) async fn connect(&self) -> io::Result<Conn> {
        Ok(match self {
            Self::Tcp(s) => {
                let port = s.local_addrs()[0].port();
                Conn::Tcp(TcpStream::connect("127.0.0.1", port).await?)
            }
            Self::Unix(s, _) => {
                Conn::Unix(UnixStream::connect(s.local_addr().as_pathname().unwrap()).await?)
            }
        })
    }
}

/// A raw client connection.
pub(crate) enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    pub(crate) async fn send_raw(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.send_all(data).await?,
            Self::Unix(s) => s.send_all(data).await?,
        }
        Ok(())
    }

    pub(crate) async fn send(&mut self, value: &Value) -> io::Result<()> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.send_raw(&line).await
    }

    /// The next reply; an error at the end of the stream.
    pub(crate) async fn recv(&mut self) -> io::Result<Value> {
        let line = match self {
            Self::Tcp(s) => s.receive_line().await?,
            Self::Unix(s) => s.receive_line().await?,
        };
        Ok(serde_json::from_slice(&line)?)
    }

    pub(crate) async fn request(&mut self, value: Value) -> io::Result<Value> {
        self.send(&value).await?;
        self.recv().await
    }

    /// Whether the server ended the connection (end of stream or reset).
    pub(crate) async fn is_ended(&mut self) -> bool {
        let r = match self {
            Self::Tcp(s) => s.receive(1).await,
            Self::Unix(s) => s.receive(1).await,
        };
        r.is_err()
    }

    pub(crate) fn unix(&mut self) -> &mut UnixStream {
        match self {
            Self::Unix(s) => s,
            Self::Tcp(_) => panic!("not a Unix connection"),
        }
    }

    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Self::Tcp(s) => s.as_fd(),
            Self::Unix(s) => s.as_fd(),
        }
    }
}

async fn within<F: std::future::Future>(rt: &Arc<dyn Runtime>, ms: u64, f: F) -> F::Output {
    runtime::timeout(&**rt, Duration::from_millis(ms), f)
        .await
        .expect("took too long")
}

async fn started(
    rt: &Arc<dyn Runtime>,
    transport: Transport,
    handler: TestHandler,
) -> io::Result<(AnyServer, Box<dyn TaskHandle>)> {
    let server = AnyServer::bind(transport, handler, ServerOptions::new()).await?;
    let (task, _) = server.spawn_serve(rt);
    server.wait_serving(rt).await;
    Ok((server, task))
}

/// Waits until `n` "slow" requests have started.
async fn slow_started(rt: &Arc<dyn Runtime>, server: &AnyServer, n: usize) {
    let counters = server.counters();
    for _ in 0..1000 {
        if counters.slow_started.load(Ordering::SeqCst) >= n {
            return;
        }
        runtime::sleep(&**rt, Duration::from_millis(2)).await;
    }
    panic!("the slow request never started");
}

// ---- scenarios -------------------------------------------------------------------------

pub(crate) async fn lifecycle(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let server = AnyServer::bind(t, TestHandler::default(), ServerOptions::new()).await?;
    let counters = server.counters();
    assert!(!server.is_serving());
    assert!(server.is_listening());
    let kinds = match &server {
        AnyServer::Tcp(s) => {
            s.with_socket_options(|o| o.iter().map(|o| o.kind().ok()).collect::<Vec<_>>())
        }
        AnyServer::Unix(s, _) => {
            s.with_socket_options(|o| o.iter().map(|o| o.kind().ok()).collect::<Vec<_>>())
        }
    };
    assert_eq!(
        kinds,
        Some(vec![Some(packetwire::sockopt::SocketKind::Stream)])
    );
    // Shutdown when idle does nothing.
    server.shutdown().await;
    for round in 1..=3 {
        let (mut task, result) = server.spawn_serve(&rt);
        server.wait_serving(&rt).await;
        assert!(matches!(
            server.serve_forever().await,
            Err(ServeError::AlreadyServing)
        ));
        let mut conn = server.connect().await?;
        assert_eq!(conn.request(json!("ping")).await?, json!("pong"));
        server.shutdown().await;
        task.join().await;
        assert!(matches!(*result.lock().unwrap(), Some(Ok(()))));
        assert!(!server.is_serving());
        assert_eq!(counters.inits.load(Ordering::SeqCst), round);
        assert_eq!(counters.teardowns.load(Ordering::SeqCst), round);
        // The idle client was disconnected by the shutdown.
        assert!(conn.is_ended().await);
        assert_eq!(counters.disconnections.load(Ordering::SeqCst), round);
    }
    assert!(counters.background_ticks.load(Ordering::SeqCst) > 0);
    let ticks = counters.background_ticks.load(Ordering::SeqCst);
    runtime::sleep(&*rt, Duration::from_millis(50)).await;
    assert_eq!(
        counters.background_ticks.load(Ordering::SeqCst),
        ticks,
        "background task still running"
    );
    server.server_close().await;
    server.server_close().await;
    assert!(!server.is_listening());
    assert!(matches!(
        server.serve_forever().await,
        Err(ServeError::Closed)
    ));
    Ok(())
}

pub(crate) async fn close_while_serving_and_concurrent_shutdowns(
    rt: Arc<dyn Runtime>,
    t: Transport,
) -> TestResult {
    let (server, mut task) = started(&rt, t, TestHandler::default()).await?;
    let server = Arc::new(server);
    let mut conn = server.connect().await?;
    assert_eq!(conn.request(json!(1)).await?, json!(2));
    // Ten shutdowns at once all return once the serve is over.
    let mut waiters = Vec::new();
    for _ in 0..10 {
        let server = Arc::clone(&server);
        waiters.push(rt.spawn(Box::pin(async move { server.shutdown().await })));
    }
    for w in &mut waiters {
        within(&rt, 5000, w.join()).await;
    }
    within(&rt, 5000, task.join()).await;
    // Serve again, then close while serving.
    let (mut task, result) = server.spawn_serve(&rt);
    server.wait_serving(&rt).await;
    let path = server.socket_path();
    let mut conn = server.connect().await?;
    assert_eq!(conn.request(json!("ping")).await?, json!("pong"));
    within(&rt, 5000, server.server_close()).await;
    within(&rt, 5000, task.join()).await;
    assert!(matches!(*result.lock().unwrap(), Some(Ok(()))));
    assert!(conn.is_ended().await);
    if let Some(path) = path {
        assert!(!path.exists(), "socket file left behind");
    }
    assert!(server.connect().await.is_err());
    Ok(())
}

pub(crate) async fn stop_from_a_handler(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let server = AnyServer::bind(t, TestHandler::default(), ServerOptions::new()).await?;
    for _ in 0..2 {
        let (mut task, result) = server.spawn_serve(&rt);
        server.wait_serving(&rt).await;
        let mut conn = server.connect().await?;
        assert_eq!(
            conn.request(json!("stop the server")).await?,
            json!("stopping")
        );
        within(&rt, 5000, task.join()).await;
        assert!(matches!(*result.lock().unwrap(), Some(Ok(()))));
        assert!(conn.is_ended().await);
        // The trigger belonged to that serve: the next one starts clean.
    }
    server.server_close().await;
    Ok(())
}

pub(crate) async fn pipelined_and_split(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    let mut conn = server.connect().await?;
    // Several requests in one write.
    conn.send_raw(b"1\n2\n3\n\"ping\"\n").await?;
    for expected in [json!(2), json!(3), json!(4), json!("pong")] {
        assert_eq!(conn.recv().await?, expected);
    }
    // One request over several writes.
    for part in [&b"[\"sp"[..], b"lit\", ", b"1", b"]\n"] {
        conn.send_raw(part).await?;
        runtime::sleep(&*rt, Duration::from_millis(20)).await;
    }
    assert_eq!(conn.recv().await?, json!(["split", 1]));
    server.server_close().await;
    Ok(())
}

pub(crate) async fn bad_request_then_good(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    let mut conn = server.connect().await?;
    conn.send_raw(b"{oops\n5\n").await?;
    assert_eq!(conn.recv().await?, json!({"error": "bad request"}));
    assert_eq!(conn.recv().await?, json!(6));
    // The bad request did not restart the handler: its count goes on.
    assert_eq!(conn.request(json!("count")).await?, json!([2, 2]));
    server.server_close().await;
    Ok(())
}

pub(crate) async fn handler_error_closes_only_that_client(
    rt: Arc<dyn Runtime>,
    t: Transport,
) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    let counters = server.counters();
    let mut a = server.connect().await?;
    let mut b = server.connect().await?;
    assert_eq!(a.request(json!("ping")).await?, json!("pong"));
    assert_eq!(b.request(json!("ping")).await?, json!("pong"));
    a.send(&json!("fail")).await?;
    assert!(within(&rt, 5000, a.is_ended()).await);
    // on_disconnection ran for the failed client.
    for _ in 0..100 {
        if counters.disconnections.load(Ordering::SeqCst) == 1 {
            break;
        }
        runtime::sleep(&*rt, Duration::from_millis(5)).await;
    }
    assert_eq!(counters.disconnections.load(Ordering::SeqCst), 1);
    assert_eq!(b.request(json!(41)).await?, json!(42));
    let mut c = server.connect().await?;
    assert_eq!(c.request(json!("ping")).await?, json!("pong"));
    // A panicking handler ends its own connection only.
    c.send(&json!("panic")).await?;
    assert!(within(&rt, 5000, c.is_ended()).await);
    assert_eq!(b.request(json!(1)).await?, json!(2));
    assert!(server.is_serving());
    server.server_close().await;
    Ok(())
}

pub(crate) async fn state_across_receives_and_restarts(
    rt: Arc<dyn Runtime>,
    t: Transport,
) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    let counters = server.counters();
    let mut conn = server.connect().await?;
    assert_eq!(conn.request(json!("count")).await?, json!([1, 1]));
    assert_eq!(conn.request(json!("count")).await?, json!([2, 2]));
    // Returning starts a fresh `handle`: its locals reset, the extensions stay.
    assert_eq!(conn.request(json!("return")).await?, json!("returning"));
    assert_eq!(conn.request(json!("count")).await?, json!([1, 4]));
    assert_eq!(counters.handle_calls.load(Ordering::SeqCst), 2);
    // Another client has its own state.
    let mut other = server.connect().await?;
    assert_eq!(other.request(json!("count")).await?, json!([1, 1]));
    // A handler closing the client: the peer reads the reply, then the end.
    assert_eq!(conn.request(json!("close")).await?, json!("bye"));
    assert!(conn.is_ended().await);
    server.server_close().await;
    Ok(())
}

pub(crate) async fn login_in_on_connection(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let handler = TestHandler {
        login: true,
        ..TestHandler::default()
    };
    let (server, _task) = started(&rt, t, handler).await?;
    let counters = server.counters();
    let mut good = server.connect().await?;
    assert_eq!(good.recv().await?, json!("password?"));
    assert_eq!(good.request(json!("secret")).await?, json!("welcome"));
    assert_eq!(good.request(json!(1)).await?, json!(2));
    let mut bad = server.connect().await?;
    assert_eq!(bad.recv().await?, json!("password?"));
    assert_eq!(bad.request(json!("guess")).await?, json!("wrong password"));
    assert!(bad.is_ended().await);
    let mut slow = server.connect().await?;
    assert_eq!(slow.recv().await?, json!("password?"));
    assert_eq!(within(&rt, 5000, slow.recv()).await?, json!("too slow"));
    assert!(slow.is_ended().await);
    // Refused clients never reached `handle`.
    assert_eq!(counters.handle_calls.load(Ordering::SeqCst), 1);
    server.server_close().await;
    Ok(())
}

pub(crate) async fn handle_returning_before_receiving_refuses(
    rt: Arc<dyn Runtime>,
    t: Transport,
) -> TestResult {
    let handler = TestHandler {
        refuse: true,
        ..TestHandler::default()
    };
    let (server, _task) = started(&rt, t, handler).await?;
    let counters = server.counters();
    for _ in 0..3 {
        match server.connect().await {
            Ok(mut conn) => {
                let _ = conn.send(&json!("ping")).await;
                assert!(within(&rt, 5000, conn.is_ended()).await);
            }
            // The reset can come before the connect call has looked at the socket.
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
    for _ in 0..500 {
        if counters.handle_calls.load(Ordering::SeqCst) == 3 {
            break;
        }
        runtime::sleep(&*rt, Duration::from_millis(2)).await;
    }
    // One `handle` call per client: no new call was started for the refused ones.
    assert_eq!(counters.handle_calls.load(Ordering::SeqCst), 3);
    assert!(server.is_serving());
    server.server_close().await;
    Ok(())
}

pub(crate) async fn receive_timeout(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    let mut conn = server.connect().await?;
    assert_eq!(conn.request(json!("wait")).await?, json!("timed out"));
    conn.send(&json!("wait")).await?;
    conn.send(&json!(7)).await?;
    assert_eq!(conn.recv().await?, json!(["got", 7]));
    // A request cut by the timeout is still whole afterwards.
    conn.send(&json!("wait")).await?;
    conn.send_raw(b"[\"ha").await?;
    assert_eq!(conn.recv().await?, json!("timed out"));
    conn.send_raw(b"lf\"]\n").await?;
    assert_eq!(conn.recv().await?, json!(["half"]));
    // Zero timeouts: nothing there yet, then a request sent in the same write.
    assert_eq!(conn.request(json!("now")).await?, json!("nothing yet"));
    conn.send_raw(b"\"now\"\n3\n").await?;
    assert_eq!(conn.recv().await?, json!(["now", 3]));
    server.server_close().await;
    Ok(())
}

pub(crate) async fn peer_reset_right_after_accept(
    rt: Arc<dyn Runtime>,
    t: Transport,
) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    for _ in 0..20 {
        let conn = server.connect().await?;
        if let Conn::Tcp(_) = conn {
            packetwire::sockopt::SocketOptions::new(&conn.fd()).set_linger(Some(Duration::ZERO))?;
        }
        drop(conn);
    }
    let mut conn = server.connect().await?;
    assert_eq!(conn.request(json!("ping")).await?, json!("pong"));
    assert!(server.is_serving());
    server.server_close().await;
    Ok(())
}

pub(crate) async fn many_clients(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    let failures = Arc::new(AtomicUsize::new(0));
    for i in 0..300i64 {
        let server = Arc::clone(&server);
        let failures = Arc::clone(&failures);
        tasks.push(rt.spawn(Box::pin(async move {
            let ok = async {
                let mut conn = server.connect().await?;
                for j in 0..3 {
                    let n = i * 10 + j;
                    if conn.request(json!(n)).await? != json!(n + 1) {
                        return Ok::<bool, io::Error>(false);
                    }
                }
                Ok(true)
            }
            .await;
            if !matches!(ok, Ok(true)) {
                failures.fetch_add(1, Ordering::SeqCst);
            }
        })));
    }
    for task in &mut tasks {
        task.join().await;
    }
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    server.server_close().await;
    Ok(())
}

pub(crate) async fn shutdown_with_busy_client(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let server = AnyServer::bind(
        t,
        TestHandler::default(),
        ServerOptions::new().shutdown_grace(Duration::from_secs(5)),
    )
    .await?;
    let (mut task, _) = server.spawn_serve(&rt);
    server.wait_serving(&rt).await;
    let mut busy = server.connect().await?;
    let mut idle = server.connect().await?;
    assert_eq!(idle.request(json!("ping")).await?, json!("pong"));
    busy.send(&json!("slow")).await?;
    slow_started(&rt, &server, 1).await;
    within(&rt, 5000, server.shutdown()).await;
    // The busy client got its answer before the end; the idle one was let go.
    assert_eq!(busy.recv().await?, json!("slow done"));
    assert!(busy.is_ended().await);
    assert!(idle.is_ended().await);
    within(&rt, 5000, task.join()).await;
    assert_eq!(server.active_connections(), 0);

    // A handler that would not finish is aborted after the grace period.
    let server = AnyServer::bind(
        t,
        TestHandler::default(),
        ServerOptions::new().shutdown_grace(Duration::from_millis(50)),
    )
    .await?;
    let (mut task, _) = server.spawn_serve(&rt);
    server.wait_serving(&rt).await;
    let mut busy = server.connect().await?;
    busy.send(&json!("slow")).await?;
    slow_started(&rt, &server, 1).await;
    within(&rt, 2000, server.shutdown()).await;
    assert!(busy.is_ended().await);
    within(&rt, 2000, task.join()).await;
    Ok(())
}

pub(crate) async fn max_connections(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let server = AnyServer::bind(
        t,
        TestHandler::default(),
        ServerOptions::new().max_connections(2),
    )
    .await?;
    let (_task, _) = server.spawn_serve(&rt);
    server.wait_serving(&rt).await;
    let mut a = server.connect().await?;
    let mut b = server.connect().await?;
    assert_eq!(a.request(json!(1)).await?, json!(2));
    assert_eq!(b.request(json!(1)).await?, json!(2));
    // The third waits in the backlog until a place frees up.
    let mut c = server.connect().await?;
    c.send(&json!(10)).await?;
    let early = runtime::timeout(&*rt, Duration::from_millis(200), c.recv()).await;
    assert!(early.is_err(), "served beyond the limit: {early:?}");
    assert_eq!(server.active_connections(), 2);
    drop(a);
    assert_eq!(within(&rt, 5000, c.recv()).await?, json!(11));
    server.server_close().await;
    Ok(())
}

pub(crate) async fn peer_metadata(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = started(&rt, t, TestHandler::default()).await?;
    let mut conn = server.connect().await?;
    let reply = conn.request(json!("peer")).await?;
    match t {
        Transport::Tcp => {
            let Conn::Tcp(s) = &conn else { unreachable!() };
            assert_eq!(reply[0], json!(s.local_addr()?.to_string()));
            assert_eq!(reply[1], Value::Null);
            assert_eq!(reply[2], json!(true), "TCP_NODELAY on accepted sockets");
        }
        Transport::Unix => {
            assert_eq!(reply[1], json!(std::process::id()));
        }
    }
    server.server_close().await;
    Ok(())
}
