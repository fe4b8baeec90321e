//! Standalone (blocking) servers: lifecycle from other threads, `ServerThread`, and std
//! clients against TCP, Unix stream, UDP and Unix datagram servers.
#![cfg(all(any(feature = "tokio", feature = "smol"), feature = "json"))]

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use packetwire::server::{
    DatagramRequestHandler, DatagramServerOptions, DatagramSession, HandlerResult, ServeError,
    ServerOptions, ServerThread, ServiceContext, StandaloneTcpServer, StandaloneUdpServer,
    StandaloneUnixDatagramServer, StandaloneUnixStreamServer, StreamRequestHandler, StreamSession,
};
use packetwire::{DatagramProtocol, JsonSerializer, StreamProtocol};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Echo {
    inits: AtomicUsize,
}

impl StreamRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    async fn service_init(&self, _service: &mut ServiceContext) -> HandlerResult {
        self.inits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        let request = session.recv().await?;
        if request == json!("slow") {
            packetwire::runtime::sleep(&**session.client().runtime(), Duration::from_millis(400))
                .await;
        }
        session.send_packet(&request).await?;
        Ok(())
    }
}

impl DatagramRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    async fn handle(&self, session: &mut DatagramSession<Value, Value>) -> HandlerResult {
        let request = session.recv().await?;
        session.send_packet(&request).await?;
        Ok(())
    }
}

fn stream_protocol() -> StreamProtocol<JsonSerializer<Value>> {
    StreamProtocol::new(JsonSerializer::new())
}

fn datagram_protocol() -> DatagramProtocol<JsonSerializer<Value>> {
    DatagramProtocol::new(JsonSerializer::new())
}

fn line_request<S: std::io::Read + Write>(stream: &mut S, line: &[u8]) -> std::io::Result<String> {
    stream.write_all(line)?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply)
}

fn tcp_client(port: u16) -> std::io::Result<std::net::TcpStream> {
    let client = std::net::TcpStream::connect(("127.0.0.1", port))?;
    client.set_read_timeout(Some(LIMIT))?;
    Ok(client)
}

#[test]
fn lifecycle_from_other_threads() -> TestResult {
    let server = Arc::new(StandaloneTcpServer::bind(
        "127.0.0.1",
        0,
        stream_protocol(),
        Echo::default(),
    )?);
    let port = server.local_addrs()[0].port();
    assert!(!server.is_serving());
    // Shutdown when idle does nothing, at once.
    assert!(server.shutdown(Some(Duration::from_millis(10))));
    for round in 1..=3 {
        let stopper = {
            let server = Arc::clone(&server);
            thread::spawn(move || {
                while !server.is_serving() {
                    thread::sleep(Duration::from_millis(1));
                }
                let mut client = tcp_client(port)?;
                let reply = line_request(&mut client, b"\"hi\"\n")?;
                assert!(server.shutdown(Some(LIMIT)));
                Ok::<_, std::io::Error>(reply)
            })
        };
        // Blocks this thread until the other one shuts it down.
        server.serve_forever()?;
        assert_eq!(stopper.join().unwrap()?, "\"hi\"\n");
        assert_eq!(server.handler().inits.load(Ordering::SeqCst), round);
    }
    server.server_close();
    server.server_close();
    assert!(matches!(server.serve_forever(), Err(ServeError::Closed)));
    Ok(())
}

#[test]
fn server_thread_starts_serving_and_joins() -> TestResult {
    let server = Arc::new(StandaloneTcpServer::bind(
        "127.0.0.1",
        0,
        stream_protocol(),
        Echo::default(),
    )?);
    let port = server.local_addrs()[0].port();
    for _ in 0..3 {
        let running = ServerThread::start_shared(Arc::clone(&server))?;
        assert!(running.server().is_serving());
        let mut client = tcp_client(port)?;
        assert_eq!(line_request(&mut client, b"[1]\n")?, "[1]\n");
        assert!(matches!(running.join(Some(LIMIT)), Some(Ok(()))));
        assert!(!server.is_serving());
    }
    // A closed server cannot start.
    server.server_close();
    assert!(matches!(
        ServerThread::start_shared(Arc::clone(&server)),
        Err(ServeError::Closed)
    ));
    Ok(())
}

#[test]
fn shutdown_timeout_with_a_busy_handler() -> TestResult {
    let server = StandaloneTcpServer::bind_with(
        "127.0.0.1",
        0,
        stream_protocol(),
        Echo::default(),
        ServerOptions::new().shutdown_grace(Duration::from_secs(5)),
    )?;
    let port = server.local_addrs()[0].port();
    let running = ServerThread::start(server)?;
    let mut client = tcp_client(port)?;
    client.write_all(b"\"slow\"\n")?;
    thread::sleep(Duration::from_millis(50));
    // The busy handler holds the shutdown past a short timeout...
    assert!(!running.server().shutdown(Some(Duration::from_millis(20))));
    // ...finishes its request, and the serve ends.
    let mut reply = String::new();
    BufReader::new(&client).read_line(&mut reply)?;
    assert_eq!(reply, "\"slow\"\n");
    assert!(matches!(running.join(Some(LIMIT)), Some(Ok(()))));
    Ok(())
}

#[test]
fn unix_stream_end_to_end() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("s.sock");
    let server = StandaloneUnixStreamServer::bind(&path, stream_protocol(), Echo::default())?;
    let running = ServerThread::start(server)?;
    let mut client = std::os::unix::net::UnixStream::connect(&path)?;
    client.set_read_timeout(Some(LIMIT))?;
    assert_eq!(line_request(&mut client, b"{\"a\": 1}\n")?, "{\"a\":1}\n");
    assert!(matches!(running.join(Some(LIMIT)), Some(Ok(()))));
    Ok(())
}

#[test]
fn udp_end_to_end() -> TestResult {
    let server = StandaloneUdpServer::bind_with(
        "127.0.0.1",
        0,
        datagram_protocol(),
        Echo::default(),
        DatagramServerOptions::new().max_queue(8),
    )?;
    let addr = server.local_addr();
    let running = ServerThread::start(server)?;
    let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
    client.set_read_timeout(Some(LIMIT))?;
    client.connect(addr)?;
    client.send(b"[1, 2]")?;
    let mut buf = [0u8; 64];
    let n = client.recv(&mut buf)?;
    assert_eq!(&buf[..n], b"[1,2]");
    assert!(matches!(running.join(Some(LIMIT)), Some(Ok(()))));
    Ok(())
}

#[test]
fn unix_datagram_end_to_end() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("d.sock");
    let server = StandaloneUnixDatagramServer::bind(&path, datagram_protocol(), Echo::default())?;
    let running = ServerThread::start(server)?;
    let client = std::os::unix::net::UnixDatagram::bind(dir.path().join("client.sock"))?;
    client.set_read_timeout(Some(LIMIT))?;
    client.send_to(b"\"x\"", &path)?;
    let mut buf = [0u8; 64];
    let n = client.recv(&mut buf)?;
    assert_eq!(&buf[..n], b"\"x\"");
    assert!(matches!(running.join(Some(LIMIT)), Some(Ok(()))));
    // The server was dropped with the thread: its socket file is gone.
    assert!(!path.exists());
    Ok(())
}
