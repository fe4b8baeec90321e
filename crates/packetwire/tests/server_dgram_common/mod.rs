//! Shared pieces of the datagram-server tests: a test handler and the scenarios run over UDP
//! and Unix datagram sockets.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use packetwire::net::{UdpSocket, UnixDatagram};
use packetwire::runtime::{self, Runtime, TaskHandle};
use packetwire::server::{
    Address, DatagramClient, DatagramRequestHandler, DatagramServerOptions, DatagramSession,
    HandlerResult, RecvError, RecvParams, ServeError, ServiceContext, UdpServer,
    UnixDatagramServer,
};
use packetwire::unix::SocketAncillary;
use packetwire::{DatagramProtocol, JsonSerializer};
use serde_json::{json, Value};

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[derive(Default)]
pub(crate) struct DgramHandler {
    pub(crate) handle_calls: AtomicUsize,
    pub(crate) inits: AtomicUsize,
    pub(crate) teardowns: Arc<AtomicUsize>,
    pub(crate) send_failures: AtomicUsize,
    pub(crate) refused: Mutex<HashSet<Address>>,
    /// Every client handle seen: equal handles for one address.
    pub(crate) clients: Mutex<HashSet<DatagramClient<Value, Value>>>,
}

#[derive(Clone, Default)]
struct Total(u64);

impl DatagramRequestHandler for DgramHandler {
    type Request = Value;
    type Response = Value;

    async fn service_init(&self, service: &mut ServiceContext) -> HandlerResult {
        self.inits.fetch_add(1, Ordering::SeqCst);
        let teardowns = Arc::clone(&self.teardowns);
        service.on_teardown(move || {
            teardowns.fetch_add(1, Ordering::SeqCst);
        });
        Ok(())
    }

    async fn handle(&self, session: &mut DatagramSession<Value, Value>) -> HandlerResult {
        self.handle_calls.fetch_add(1, Ordering::SeqCst);
        self.clients
            .lock()
            .unwrap()
            .insert(session.client().clone());
        if self.refused.lock().unwrap().contains(session.peer_addr()) {
            // Returning before the first receive discards the datagram.
            return Ok(());
        }
        let unix = session.peer_addr().as_unix().is_some();
        let mut ancillary = SocketAncillary::new();
        let received = if unix {
            match session
                .recv_with_ancillary(&mut ancillary, RecvParams::new())
                .await
            {
                // A server made without ancillary data: the datagram is still there.
                Err(RecvError::Unsupported) => session.recv().await,
                other => other,
            }
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
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let total = {
            let t = session.extensions_mut().get_or_insert_with(Total::default);
            t.0 += 1;
            t.0
        };
        let reply = match request {
            Value::Number(n) => json!(n.as_i64().unwrap_or(0) + 1),
            Value::String(s) => match s.as_str() {
                "ping" => json!("pong"),
                "fail" => return Err("boom (expected by the test)".into()),
                "panic" => panic!("handler panic (expected by the test)"),
                "total" => json!(total),
                "slow" => {
                    runtime::sleep(&**session.client().runtime(), Duration::from_millis(400)).await;
                    json!("slow done")
                }
                "pair" => {
                    // Two receives in one call: the second datagram comes from the queue.
                    let params = RecvParams::new().timeout(Duration::from_millis(500));
                    match session.recv_with(params).await {
                        Ok(second) => json!(["pair", second]),
                        Err(RecvError::TimedOut) => json!("timed out"),
                        Err(e) => return Err(e.into()),
                    }
                }
                "fds" => {
                    let mut first = String::new();
                    if let Some(fd) = fds.first() {
                        use std::io::Read;
                        std::fs::File::from(fd.try_clone()?).read_to_string(&mut first)?;
                    }
                    json!([fds.len(), first])
                }
                "give fd" => {
                    let (reader, writer) = packetwire::os::pipe()?;
                    {
                        use std::io::Write;
                        std::fs::File::from(writer).write_all(b"from the server")?;
                    }
                    let mut out = SocketAncillary::new();
                    out.add_fd(&reader);
                    session
                        .send_packet_with_ancillary(&json!("here"), &out)
                        .await?;
                    return Ok(());
                }
                other => json!(["echo", other]),
            },
            other => other,
        };
        if let Err(e) = session.send_packet(&reply).await {
            self.send_failures.fetch_add(1, Ordering::SeqCst);
            return Err(e.into());
        }
        Ok(())
    }
}

pub(crate) fn protocol() -> DatagramProtocol<JsonSerializer<Value>> {
    DatagramProtocol::new(JsonSerializer::<Value>::new())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Unix,
}

pub(crate) enum AnyServer {
    Udp(UdpServer<DgramHandler>),
    Unix(UnixDatagramServer<DgramHandler>, tempfile::TempDir),
}

/// Where a spawned `serve_forever` leaves its result.
pub(crate) type ServeResult = Arc<Mutex<Option<Result<(), ServeError>>>>;

macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyServer::Udp($s) => $e,
            AnyServer::Unix($s, _) => $e,
        }
    };
}

impl AnyServer {
    pub(crate) async fn bind(t: Transport, options: DatagramServerOptions) -> io::Result<Self> {
        Ok(match t {
            Transport::Udp => {
                let socket = UdpSocket::bind("127.0.0.1", 0).await?;
                Self::Udp(UdpServer::from_socket(
                    socket,
                    protocol(),
                    DgramHandler::default(),
                    options,
                )?)
            }
            Transport::Unix => {
                let dir = tempfile::tempdir()?;
                let socket = UnixDatagram::bind(dir.path().join("d.sock")).await?;
                let options = options.receive_ancillary(SocketAncillary::DEFAULT_RECV_CAPACITY);
                Self::Unix(
                    UnixDatagramServer::from_socket(
                        socket,
                        protocol(),
                        DgramHandler::default(),
                        options,
                    )?,
                    dir,
                )
            }
        })
    }

    pub(crate) fn handler(&self) -> &DgramHandler {
        both!(self, s => s.handler())
    }

    pub(crate) fn spawn_serve(&self, rt: &Arc<dyn Runtime>) -> (Box<dyn TaskHandle>, ServeResult) {
        let result = Arc::new(Mutex::new(None));
        let out = Arc::clone(&result);
        let task: runtime::BoxFuture<()> = match self {
            Self::Udp(s) => {
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

    pub(crate) async fn started(
        rt: &Arc<dyn Runtime>,
        t: Transport,
        options: DatagramServerOptions,
    ) -> io::Result<(Self, Box<dyn TaskHandle>)> {
        let server = Self::bind(t, options).await?;
        let (task, _) = server.spawn_serve(rt);
        server.wait_serving(rt).await;
        Ok((server, task))
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
        both!(self, s => s.is_serving())
    }

    pub(crate) async fn serve_forever(&self) -> Result<(), ServeError> {
        both!(self, s => s.serve_forever().await)
    }

    pub(crate) async fn shutdown(&self) {
        both!(self, s => s.shutdown().await)
    }

    pub(crate) async fn server_close(&self) {
        both!(self, s => s.server_close().await)
    }

    pub(crate) fn dropped(&self) -> u64 {
        both!(self, s => s.dropped_datagrams())
    }

    pub(crate) fn socket_path(&self) -> Option<std::path::PathBuf> {
        match self {
            Self::Udp(_) => None,
            Self::Unix(s, _) => s.local_addr().as_pathname().map(|p| p.to_path_buf()),
        }
    }

    pub(crate) async fn client(&self) -> io::Result<Client> {
        Ok(match self {
            Self::Udp(s) => {
                Client::Udp(UdpSocket::connect("127.0.0.1", s.local_addr().port()).await?)
            }
            Self::Unix(s, _) => {
                Client::Unix(UnixDatagram::connect(s.local_addr().as_pathname().unwrap()).await?)
            }
        })
    }
}

pub(crate) enum Client {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Client {
    pub(crate) async fn send_raw(&self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Udp(s) => s.send(data).await,
            Self::Unix(s) => s.send(data).await,
        }
    }

    pub(crate) async fn send(&self, value: &Value) -> io::Result<()> {
        self.send_raw(&serde_json::to_vec(value)?).await
    }

    pub(crate) async fn recv(&self) -> io::Result<Value> {
        let data = match self {
            Self::Udp(s) => s.receive().await,
            Self::Unix(s) => s.receive().await,
        }
        .map_err(io::Error::from)?;
        Ok(serde_json::from_slice(&data)?)
    }

    pub(crate) async fn request(&self, value: Value) -> io::Result<Value> {
        self.send(&value).await?;
        self.recv().await
    }

    pub(crate) fn address(&self) -> io::Result<Address> {
        Ok(match self {
            Self::Udp(s) => Address::Inet(s.local_addr()?),
            Self::Unix(s) => Address::Unix(s.local_addr()?),
        })
    }

    pub(crate) fn unix(&self) -> &UnixDatagram {
        match self {
            Self::Unix(s) => s,
            Self::Udp(_) => panic!("not a Unix client"),
        }
    }
}

pub(crate) async fn within<F: std::future::Future>(
    rt: &Arc<dyn Runtime>,
    ms: u64,
    f: F,
) -> F::Output {
    runtime::timeout(&**rt, Duration::from_millis(ms), f)
        .await
        .expect("took too long")
}

/// Waits until the handler has been called `n` times.
async fn handled(rt: &Arc<dyn Runtime>, server: &AnyServer, n: usize) {
    for _ in 0..1000 {
        if server.handler().handle_calls.load(Ordering::SeqCst) >= n {
            return;
        }
        runtime::sleep(&**rt, Duration::from_millis(2)).await;
    }
    panic!("the handler was not called {n} times");
}

async fn nothing_within(rt: &Arc<dyn Runtime>, ms: u64, client: &Client) -> bool {
    runtime::timeout(&**rt, Duration::from_millis(ms), client.recv())
        .await
        .is_err()
}

// ---- scenarios -------------------------------------------------------------------------

pub(crate) async fn lifecycle(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let server = Arc::new(AnyServer::bind(t, DatagramServerOptions::new()).await?);
    server.shutdown().await;
    for round in 1..=3 {
        let (mut task, result) = server.spawn_serve(&rt);
        server.wait_serving(&rt).await;
        assert!(matches!(
            server.serve_forever().await,
            Err(ServeError::AlreadyServing)
        ));
        let client = server.client().await?;
        assert_eq!(
            within(&rt, 5000, client.request(json!("ping"))).await?,
            json!("pong")
        );
        let mut waiters = Vec::new();
        for _ in 0..5 {
            let server = Arc::clone(&server);
            waiters.push(rt.spawn(Box::pin(async move { server.shutdown().await })));
        }
        for w in &mut waiters {
            within(&rt, 5000, w.join()).await;
        }
        within(&rt, 5000, task.join()).await;
        assert!(matches!(*result.lock().unwrap(), Some(Ok(()))));
        assert!(!server.is_serving());
        assert_eq!(server.handler().inits.load(Ordering::SeqCst), round);
        assert_eq!(server.handler().teardowns.load(Ordering::SeqCst), round);
    }
    // Close while serving.
    let (mut task, _) = server.spawn_serve(&rt);
    server.wait_serving(&rt).await;
    let path = server.socket_path();
    within(&rt, 5000, server.server_close()).await;
    within(&rt, 5000, task.join()).await;
    server.server_close().await;
    assert!(matches!(
        server.serve_forever().await,
        Err(ServeError::Closed)
    ));
    if let Some(path) = path {
        assert!(!path.exists(), "socket file left behind");
    }
    Ok(())
}

pub(crate) async fn bad_datagram_then_good(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = AnyServer::started(&rt, t, DatagramServerOptions::new()).await?;
    let client = server.client().await?;
    client.send_raw(b"{oops").await?;
    assert_eq!(
        within(&rt, 5000, client.recv()).await?,
        json!({"error": "bad request"})
    );
    assert_eq!(within(&rt, 5000, client.request(json!(1))).await?, json!(2));
    server.server_close().await;
    Ok(())
}

pub(crate) async fn ordering_and_queueing(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = AnyServer::started(&rt, t, DatagramServerOptions::new()).await?;
    let busy = server.client().await?;
    let other = server.client().await?;
    // While the first datagram is handled, the next ones wait in order.
    busy.send(&json!("slow")).await?;
    for n in 1..=5 {
        busy.send(&json!(n)).await?;
    }
    // Another client is not held up by the busy one.
    assert_eq!(
        within(&rt, 100, other.request(json!("ping"))).await?,
        json!("pong")
    );
    assert_eq!(within(&rt, 5000, busy.recv()).await?, json!("slow done"));
    for n in 1..=5 {
        assert_eq!(within(&rt, 5000, busy.recv()).await?, json!(n + 1));
    }
    // One call receiving twice takes the second datagram from the client's queue.
    busy.send(&json!("pair")).await?;
    busy.send(&json!("second")).await?;
    assert_eq!(
        within(&rt, 5000, busy.recv()).await?,
        json!(["pair", "second"])
    );
    // A receive timeout inside the handler.
    assert_eq!(
        within(&rt, 5000, busy.request(json!("pair"))).await?,
        json!("timed out")
    );
    // Per-client values live across handler calls.
    let before = within(&rt, 5000, busy.request(json!("total"))).await?;
    assert_eq!(
        within(&rt, 5000, busy.request(json!("total"))).await?,
        json!(before.as_u64().unwrap() + 1)
    );
    assert_eq!(
        within(&rt, 5000, other.request(json!("total"))).await?,
        json!(2)
    );
    assert_eq!(server.dropped(), 0);
    // Many handler calls, two clients.
    assert!(server.handler().handle_calls.load(Ordering::SeqCst) > 2);
    assert_eq!(server.handler().clients.lock().unwrap().len(), 2);
    server.server_close().await;
    Ok(())
}

pub(crate) async fn bounded_queue_drops_the_oldest(
    rt: Arc<dyn Runtime>,
    t: Transport,
) -> TestResult {
    let (server, _task) =
        AnyServer::started(&rt, t, DatagramServerOptions::new().max_queue(2)).await?;
    let client = server.client().await?;
    client.send(&json!("slow")).await?;
    handled(&rt, &server, 1).await;
    for n in 1..=5 {
        client.send(&json!(n)).await?;
    }
    assert_eq!(within(&rt, 5000, client.recv()).await?, json!("slow done"));
    assert_eq!(within(&rt, 5000, client.recv()).await?, json!(5));
    assert_eq!(within(&rt, 5000, client.recv()).await?, json!(6));
    assert!(nothing_within(&rt, 100, &client).await);
    assert_eq!(server.dropped(), 3);
    server.server_close().await;
    Ok(())
}

pub(crate) async fn refused_and_failing(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = AnyServer::started(&rt, t, DatagramServerOptions::new()).await?;
    let good = server.client().await?;
    let refused = server.client().await?;
    server
        .handler()
        .refused
        .lock()
        .unwrap()
        .insert(refused.address()?);
    refused.send(&json!("ping")).await?;
    assert!(nothing_within(&rt, 100, &refused).await);
    assert_eq!(
        within(&rt, 5000, good.request(json!("ping"))).await?,
        json!("pong")
    );
    // A handler error ends that call only: the client's next datagram is handled afresh.
    good.send(&json!("fail")).await?;
    assert_eq!(within(&rt, 5000, good.request(json!(9))).await?, json!(10));
    // So does a panic.
    good.send(&json!("panic")).await?;
    assert_eq!(within(&rt, 5000, good.request(json!(19))).await?, json!(20));
    assert!(server.is_serving());
    server.server_close().await;
    Ok(())
}

pub(crate) async fn many_clients(rt: Arc<dyn Runtime>, t: Transport) -> TestResult {
    let (server, _task) = AnyServer::started(&rt, t, DatagramServerOptions::new()).await?;
    let server = Arc::new(server);
    let failures = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..200i64 {
        let server = Arc::clone(&server);
        let failures = Arc::clone(&failures);
        let rt2 = Arc::clone(&rt);
        tasks.push(rt.spawn(Box::pin(async move {
            let ok = async {
                let client = server.client().await?;
                for j in 0..3 {
                    let n = i * 10 + j;
                    let reply =
                        runtime::timeout(&*rt2, Duration::from_secs(5), client.request(json!(n)))
                            .await
                            .map_err(io::Error::from)??;
                    if reply != json!(n + 1) {
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

pub(crate) async fn shutdown_with_queued_datagrams(
    rt: Arc<dyn Runtime>,
    t: Transport,
) -> TestResult {
    let server = AnyServer::bind(t, DatagramServerOptions::new()).await?;
    let (mut task, _) = server.spawn_serve(&rt);
    server.wait_serving(&rt).await;
    let client = server.client().await?;
    client.send(&json!("slow")).await?;
    handled(&rt, &server, 1).await;
    for n in 1..=3 {
        client.send(&json!(n)).await?;
    }
    runtime::sleep(&*rt, Duration::from_millis(30)).await;
    within(&rt, 5000, server.shutdown()).await;
    within(&rt, 5000, task.join()).await;
    // The running handler finished its datagram; the queued ones were dropped.
    assert_eq!(within(&rt, 1000, client.recv()).await?, json!("slow done"));
    assert!(nothing_within(&rt, 100, &client).await);
    // Serving again works, with a fresh queue.
    let (_task, _) = server.spawn_serve(&rt);
    server.wait_serving(&rt).await;
    assert_eq!(within(&rt, 5000, client.request(json!(1))).await?, json!(2));
    server.server_close().await;
    Ok(())
}
