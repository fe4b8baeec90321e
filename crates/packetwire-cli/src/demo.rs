//! `packetwire demo`: a tour for a newcomer, with no set-up. Two JSON servers (a Unix socket in a
//! temporary directory, a loopback TCP port) run one request handler; a blocking client and an
//! async client talk to them (a file descriptor travels with one request, a bad packet is
//! survived); everything shuts down cleanly.

use std::fs::File;
use std::io::{Read, Write};
use std::time::Duration;

use packetwire::blocking::UnixStreamClient;
use packetwire::client::TcpClient;
use packetwire::server::{
    HandlerResult, RecvError, RecvParams, StreamRequestHandler, StreamSession, TcpServer,
    UnixStreamServer,
};
use packetwire::unix::SocketAncillary;
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};

/// How long any step of the demo may wait before it is reported as a failure.
const STEP: Duration = Duration::from_secs(10);

/// The demo's service: a tiny calculator that also reads from descriptors it is given.
struct Calculator;

impl Calculator {
    fn answer(request: &Value) -> Value {
        match request.get("op").and_then(Value::as_str) {
            Some("add") => match request["args"].as_array() {
                Some(args) if args.iter().all(Value::is_number) => {
                    json!({"result": args.iter().filter_map(Value::as_f64).sum::<f64>()})
                }
                _ => json!({"error": "add takes a list of numbers"}),
            },
            Some("upper") => match request["text"].as_str() {
                Some(text) => json!({"result": text.to_uppercase()}),
                None => json!({"error": "upper takes a text"}),
            },
            Some("ping") => json!({"result": "pong"}),
            _ => json!({"error": "unknown op"}),
        }
    }
}

impl StreamRequestHandler for Calculator {
    type Request = Value;
    type Response = Value;

    async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        let mut ancillary = SocketAncillary::new();
        let params = RecvParams::new().timeout(Duration::from_secs(30));
        let received = match session.recv_with_ancillary(&mut ancillary, params).await {
            // TCP carries no descriptors: a plain receive.
            Err(RecvError::Unsupported) => session.recv_with(params).await,
            other => other,
        };
        let reply = match received {
            Ok(request) if request.get("op").and_then(Value::as_str) == Some("read-fd") => {
                match ancillary.take_fds().pop() {
                    Some(fd) => {
                        let mut text = String::new();
                        File::from(fd).read_to_string(&mut text)?;
                        json!({"result": format!("read {} bytes: {text:?}", text.len())})
                    }
                    None => json!({"error": "no descriptor came with the request"}),
                }
            }
            Ok(request) => Self::answer(&request),
            // A bad packet: say so, and keep the connection.
            Err(RecvError::Parse(e)) => json!({"error": format!("bad packet: {e}")}),
            Err(e) => return Err(e.into()),
        };
        session.send_packet(&reply).await?;
        Ok(())
    }
}

fn protocol() -> StreamProtocol<JsonSerializer<Value>> {
    StreamProtocol::new(JsonSerializer::new())
}

fn show(who: &str, request: &str, reply: &Value) {
    println!("  {who:<15} {request:<44} <- {reply}");
}

/// `packetwire demo`.
pub(crate) fn demo() -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("packetwire-demo-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let path = dir.path().join("demo.sock");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))?;
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");

    println!("packetwire demo: typed JSON packets over a Unix socket and a TCP port\n");
    // Servers: one handler type, two transports, on tokio.
    let (unix_server, tcp_server) = runtime.block_on(async {
        let unix = UnixStreamServer::bind(&path, protocol(), Calculator)
            .await
            .map_err(|e| fail("cannot bind the Unix server", &e))?;
        let tcp = TcpServer::bind("127.0.0.1", 0, protocol(), Calculator)
            .await
            .map_err(|e| fail("cannot bind the TCP server", &e))?;
        Ok::<_, String>((unix, tcp))
    })?;
    let tcp_port = tcp_server.local_addrs()[0].port();
    let serving_unix = runtime.spawn({
        let server = unix_server.clone();
        async move { server.serve_forever().await }
    });
    let serving_tcp = runtime.spawn({
        let server = tcp_server.clone();
        async move { server.serve_forever().await }
    });
    println!("server  JSON on unix:{}", path.display());
    println!("server  JSON on tcp://127.0.0.1:{tcp_port}\n");

    // A blocking client over the Unix socket, with a file descriptor.
    println!("blocking client over the Unix socket:");
    let client = UnixStreamClient::connect(&path, protocol())
        .map_err(|e| fail("blocking client: cannot connect", &e))?;
    for request in [
        json!({"op": "add", "args": [2, 3, 4.5]}),
        json!({"op": "upper", "text": "typed packets"}),
    ] {
        client
            .send_packet(&request)
            .map_err(|e| fail("blocking client: send", &e))?;
        let reply = client
            .recv_packet_within(STEP)
            .map_err(|e| fail("blocking client: receive", &e))?;
        show("->", &request.to_string(), &reply);
    }
    let (reader, writer) = packetwire::os::pipe().map_err(|e| fail("pipe", &e))?;
    File::from(writer)
        .write_all(b"hello through a pipe")
        .map_err(|e| fail("pipe", &e))?;
    let mut ancillary = SocketAncillary::new();
    ancillary.add_fd(&reader);
    let request = json!({"op": "read-fd"});
    client
        .send_packet_with_ancillary(&request, &ancillary)
        .map_err(|e| fail("blocking client: send with a descriptor", &e))?;
    drop(ancillary);
    drop(reader);
    let reply = client
        .recv_packet_within(STEP)
        .map_err(|e| fail("blocking client: receive", &e))?;
    show("-> (+ pipe fd)", &request.to_string(), &reply);
    let creds = client
        .peer_credentials()
        .map_err(|e| fail("peer credentials", &e))?;
    println!("  the server runs as pid {}, uid {}", creds.pid, creds.uid);
    client.close();

    // An async client over TCP, and a bad packet on a raw connection.
    println!("\nasync client (tokio) over TCP:");
    runtime.block_on(async {
        let client = TcpClient::connect("127.0.0.1", tcp_port, protocol())
            .await
            .map_err(|e| fail("async client: cannot connect", &e))?;
        for request in [
            json!({"op": "ping"}),
            json!({"op": "add", "args": [1, "two"]}),
        ] {
            client
                .send_packet(&request)
                .await
                .map_err(|e| fail("async client: send", &e))?;
            let reply = client
                .recv_packet_within(STEP)
                .await
                .map_err(|e| fail("async client: receive", &e))?;
            show("->", &request.to_string(), &reply);
        }
        client.close().await;

        let mut raw = packetwire::net::TcpStream::connect("127.0.0.1", tcp_port)
            .await
            .map_err(|e| fail("raw connection", &e))?;
        raw.send_all(b"{\"op\": oops}\n{\"op\": \"ping\"}\n")
            .await
            .map_err(|e| fail("raw connection: send", &e))?;
        for sent in [
            r#"{"op": oops}   (bad JSON)"#,
            r#"{"op": "ping"}   (same connection)"#,
        ] {
            let rt = std::sync::Arc::clone(raw.runtime());
            let line = packetwire::runtime::timeout(rt.as_ref(), STEP, raw.receive_line())
                .await
                .map_err(|_| "raw connection: no reply".to_owned())?
                .map_err(|e| fail("raw connection: receive", &e))?;
            let reply: Value =
                serde_json::from_slice(&line).map_err(|e| fail("raw connection: reply", &e))?;
            show("-> (raw bytes)", sent, &reply);
        }
        Ok::<_, String>(())
    })?;

    // Shutdown: listeners first, then the connections; the socket file goes away.
    runtime.block_on(async {
        unix_server.shutdown().await;
        tcp_server.shutdown().await;
        unix_server.server_close().await;
        tcp_server.server_close().await;
    });
    for serving in [serving_unix, serving_tcp] {
        runtime
            .block_on(serving)
            .map_err(|e| fail("server task", &e))?
            .map_err(|e| fail("server", &e))?;
    }
    println!(
        "\nshutdown: both servers stopped; the socket file is {}",
        if path.exists() {
            "still there (unexpected)"
        } else {
            "removed"
        }
    );
    if path.exists() {
        return Err("the Unix socket file was not removed".into());
    }
    Ok(())
}
