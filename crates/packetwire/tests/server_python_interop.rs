//! Python EasyNetwork's own clients (TCP, UDP, Unix stream, Unix datagram) against packetwire's
//! standalone echo servers, JSON packets, driven by `tests/support/en_client.py`. Skipped, with
//! a notice, when the Python given by `PACKETWIRE_PYTHON` (default `python3`) cannot import
//! `easynetwork`.
#![cfg(all(any(feature = "tokio", feature = "smol"), feature = "json"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use packetwire::server::{
    EchoHandler, ServerThread, StandaloneTcpServer, StandaloneUdpServer,
    StandaloneUnixDatagramServer, StandaloneUnixStreamServer,
};
use packetwire::{DatagramProtocol, JsonSerializer, StreamProtocol};
use serde_json::Value;

fn python() -> String {
    std::env::var("PACKETWIRE_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn easynetwork_available() -> bool {
    let found = Command::new(python())
        .args(["-c", "import easynetwork"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        println!("easynetwork not importable: skipping the EasyNetwork interop test");
    }
    found
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/en_client.py")
}

/// Runs the Python client, killed if it takes more than 30 s.
fn run_client(kind: &str, target: &str) {
    let mut child = Command::new(python())
        .arg(script())
        .args([kind, target])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start python");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the {kind} client hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    // Shown with --nocapture: proof that the client ran.
    print!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success() && output.stdout.starts_with(b"ok"),
        "{kind} client failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stream_protocol() -> StreamProtocol<JsonSerializer<Value>> {
    StreamProtocol::new(JsonSerializer::new())
}

fn datagram_protocol() -> DatagramProtocol<JsonSerializer<Value>> {
    DatagramProtocol::new(JsonSerializer::new())
}

#[test]
fn easynetwork_clients_against_packetwire_servers() {
    if !easynetwork_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let timeout = Some(Duration::from_secs(10));

    let tcp = StandaloneTcpServer::bind(
        "127.0.0.1",
        0,
        stream_protocol(),
        EchoHandler::<Value>::new(),
    )
    .unwrap();
    let port = tcp.local_addrs()[0].port();
    let running = ServerThread::start(tcp).unwrap();
    run_client("tcp", &port.to_string());
    assert!(matches!(running.join(timeout), Some(Ok(()))));

    let udp = StandaloneUdpServer::bind(
        "127.0.0.1",
        0,
        datagram_protocol(),
        EchoHandler::<Value>::new(),
    )
    .unwrap();
    let port = udp.local_addr().port();
    let running = ServerThread::start(udp).unwrap();
    run_client("udp", &port.to_string());
    assert!(matches!(running.join(timeout), Some(Ok(()))));

    let path = dir.path().join("stream.sock");
    let unix =
        StandaloneUnixStreamServer::bind(&path, stream_protocol(), EchoHandler::<Value>::new())
            .unwrap();
    let running = ServerThread::start(unix).unwrap();
    run_client("unix-stream", path.to_str().unwrap());
    assert!(matches!(running.join(timeout), Some(Ok(()))));

    let path = dir.path().join("datagram.sock");
    let unix =
        StandaloneUnixDatagramServer::bind(&path, datagram_protocol(), EchoHandler::<Value>::new())
            .unwrap();
    let running = ServerThread::start(unix).unwrap();
    run_client("unix-datagram", path.to_str().unwrap());
    assert!(matches!(running.join(timeout), Some(Ok(()))));
}
