//! The standalone (blocking) servers against the blocking packet clients, over the four
//! transports: a program with no async code of its own, end to end.
#![cfg(all(
    any(target_os = "linux", target_os = "android"),
    any(feature = "tokio", feature = "smol"),
    feature = "json"
))]

use std::time::Duration;

use packetwire::blocking::{TcpClient, UdpClient, UnixDatagramClient, UnixStreamClient};
use packetwire::client::RecvPacketError;
use packetwire::server::{
    EchoHandler, ServerThread, StandaloneTcpServer, StandaloneUdpServer,
    StandaloneUnixDatagramServer, StandaloneUnixStreamServer,
};
use packetwire::{DatagramProtocol, JsonSerializer, StreamProtocol};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const LIMIT: Duration = Duration::from_secs(10);

fn stream() -> StreamProtocol<JsonSerializer<Value>> {
    StreamProtocol::new(JsonSerializer::new())
}

fn datagram() -> DatagramProtocol<JsonSerializer<Value>> {
    DatagramProtocol::new(JsonSerializer::new())
}

fn packets() -> Vec<Value> {
    vec![
        json!({"n": 1, "s": "one"}),
        json!([1, 2.5, null]),
        json!("three"),
    ]
}

#[test]
fn tcp() -> TestResult {
    let server = StandaloneTcpServer::bind("127.0.0.1", 0, stream(), EchoHandler::<Value>::new())?;
    let port = server.local_addrs()[0].port();
    let thread = ServerThread::start(server)?;
    let client = TcpClient::connect("127.0.0.1", port, stream())?;
    for packet in packets() {
        client.send_packet(&packet)?;
        assert_eq!(client.recv_packet_within(LIMIT)?, packet);
    }
    // Nothing more comes: the timeout, then the client goes on.
    assert!(matches!(
        client.recv_packet_within(Duration::from_millis(50)),
        Err(RecvPacketError::TimedOut)
    ));
    client.send_packet(&json!("again"))?;
    assert_eq!(client.recv_packet_within(LIMIT)?, json!("again"));
    client.send_eof()?;
    assert!(matches!(
        client.recv_packet_within(LIMIT),
        Err(RecvPacketError::EndOfStream)
    ));
    assert!(
        thread.join(Some(LIMIT)).is_some(),
        "the server stopped in time"
    );
    Ok(())
}

#[test]
fn unix_stream() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("standalone.sock");
    let server = StandaloneUnixStreamServer::bind(&path, stream(), EchoHandler::<Value>::new())?;
    let thread = ServerThread::start(server)?;
    let client = UnixStreamClient::connect(&path, stream())?;
    for packet in packets() {
        client.send_packet(&packet)?;
        assert_eq!(client.recv_packet_within(LIMIT)?, packet);
    }
    client.close();
    assert!(
        thread.join(Some(LIMIT)).is_some(),
        "the server stopped in time"
    );
    assert!(!path.exists(), "the socket file is removed");
    Ok(())
}

#[test]
fn udp() -> TestResult {
    let server =
        StandaloneUdpServer::bind("127.0.0.1", 0, datagram(), EchoHandler::<Value>::new())?;
    let port = server.local_addr().port();
    let thread = ServerThread::start(server)?;
    let client = UdpClient::connect("127.0.0.1", port, datagram())?;
    for packet in packets() {
        client.send_packet(&packet)?;
        assert_eq!(client.recv_packet_within(LIMIT)?, packet);
    }
    assert!(
        thread.join(Some(LIMIT)).is_some(),
        "the server stopped in time"
    );
    Ok(())
}

#[test]
fn unix_datagram() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("standalone.dgram");
    let server =
        StandaloneUnixDatagramServer::bind(&path, datagram(), EchoHandler::<Value>::new())?;
    let thread = ServerThread::start(server)?;
    // The client binds itself (Linux auto-bind) so that the replies come back.
    let client = UnixDatagramClient::connect(&path, datagram())?;
    assert!(!client.local_addr()?.is_unnamed());
    for packet in packets() {
        client.send_packet(&packet)?;
        assert_eq!(client.recv_packet_within(LIMIT)?, packet);
    }
    assert!(
        thread.join(Some(LIMIT)).is_some(),
        "the server stopped in time"
    );
    assert!(!path.exists(), "the socket file is removed");
    Ok(())
}
