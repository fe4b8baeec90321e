//! EasyNetwork's "Unix stream servers" page, section by section, as a packetwire server: a
//! request handler with `service_init`, a login exchange in `on_connection`, a `handle` loop
//! with receive timeouts and bad requests, client metadata, descriptor passing both ways,
//! per-client values, `on_disconnection`; then the server object (serve, shutdown). A client
//! in the same program talks to it and prints the transcript. On tokio.
//!
//! ```sh
//! cargo run -p packetwire --example server
//! ```

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use packetwire::net::UnixStream;
use packetwire::server::{
    HandlerResult, RecvError, RecvParams, ServiceContext, StreamRequestHandler, StreamSession,
    UnixStreamServer,
};
use packetwire::unix::SocketAncillary;
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};

/// "Request Handler Objects": one instance for the whole service.
#[derive(Default)]
struct MyRequestHandler {
    requests: Arc<AtomicUsize>,
}

/// "Per-client variables": the user name, kept with the client's session.
#[derive(Clone)]
struct User(String);

impl StreamRequestHandler for MyRequestHandler {
    type Request = Value;
    type Response = Value;

    /// "Service Initialization": teardown actions and background tasks tied to the server.
    async fn service_init(&self, service: &mut ServiceContext) -> HandlerResult {
        service.on_teardown(|| println!("[server] service stopped"));
        let requests = Arc::clone(&self.requests);
        let runtime = Arc::clone(service.runtime());
        service.spawn(async move {
            loop {
                packetwire::runtime::sleep(&*runtime, Duration::from_secs(1)).await;
                println!(
                    "[server] {} requests so far",
                    requests.load(Ordering::Relaxed)
                );
            }
        });
        // "Low-Level Socket Operations": the server's addresses.
        let addrs: Vec<String> = service
            .local_addrs()
            .iter()
            .map(ToString::to_string)
            .collect();
        println!("[server] serving at {}", addrs.join(", "));
        Ok(())
    }

    /// "Wait For Client Data On Connection": a login exchange; a wrong or late answer
    /// refuses the client.
    async fn on_connection(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        // "Client Metadata".
        let creds = session.client().peer_credentials()?;
        println!("[server] connection from pid {}", creds.pid);
        session.send_packet(&json!("login?")).await?;
        match session
            .recv_with(RecvParams::new().timeout(Duration::from_secs(1)))
            .await
        {
            Ok(Value::String(name)) if !name.is_empty() => {
                session.extensions_mut().insert(User(name.clone()));
                session
                    .send_packet(&json!(format!("welcome {name}")))
                    .await?;
            }
            Ok(_) | Err(RecvError::Parse(_)) | Err(RecvError::TimedOut) => {
                session.send_packet(&json!("login refused")).await?;
                session.close().await;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// "Using handle()" with "Having Multiple yield Statements": the handler owns its loop.
    async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        let user = session
            .extensions()
            .get::<User>()
            .map(|u| u.0.clone())
            .unwrap_or_default();
        loop {
            // "Receiving Packets with socket control messages".
            let mut ancillary = SocketAncillary::new();
            // "Cancellation And Timeouts": the client has 30 seconds to send a request.
            let params = RecvParams::new().timeout(Duration::from_secs(30));
            let request = match session.recv_with_ancillary(&mut ancillary, params).await {
                Ok(request) => request,
                // "Error Handling": a bad request is answered, the connection stays.
                Err(RecvError::Parse(e)) => {
                    session
                        .send_packet(&json!({"error": e.to_string()}))
                        .await?;
                    continue;
                }
                Err(RecvError::TimedOut) => {
                    session.send_packet(&json!("timed out")).await?;
                    continue;
                }
                // Disconnected: return (not logged as an error).
                Err(e) => return Err(e.into()),
            };
            self.requests.fetch_add(1, Ordering::Relaxed);
            match request.as_str() {
                Some("read this") => {
                    let mut text = String::new();
                    for fd in ancillary.take_fds() {
                        std::fs::File::from(fd).read_to_string(&mut text)?;
                    }
                    session
                        .send_packet(&json!(format!("{user}, your file says: {text}")))
                        .await?;
                }
                Some("send me a file") => {
                    // "Sending Packets with socket control messages".
                    let (reader, writer) = packetwire::os::pipe()?;
                    std::fs::File::from(writer).write_all(b"a pipe from the server")?;
                    let mut out = SocketAncillary::new();
                    out.add_fd(&reader);
                    session
                        .send_packet_with_ancillary(&json!("here it is"), &out)
                        .await?;
                }
                // "Closing the connection".
                Some("bye") => {
                    session.send_packet(&json!(format!("bye {user}"))).await?;
                    session.close().await;
                    return Ok(());
                }
                _ => {
                    session
                        .send_packet(&json!({"user": user, "echo": request}))
                        .await?
                }
            }
        }
    }

    /// "Connecting/Disconnecting Hooks".
    async fn on_disconnection(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        let user = session.extensions().get::<User>().map(|u| u.0.clone());
        println!("[server] {user:?} disconnected");
        Ok(())
    }
}

async fn request(
    client: &mut UnixStream,
    line: &[u8],
) -> Result<String, Box<dyn std::error::Error>> {
    client.send_all(line).await?;
    let reply = client.receive_line().await?;
    Ok(String::from_utf8_lossy(&reply).trim_end().to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // "Server Object".
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("app.sock");
    let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
    let server = UnixStreamServer::bind(&path, protocol, MyRequestHandler::default()).await?;
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });

    let mut client = UnixStream::connect(&path).await?;
    println!(
        "[client] {}",
        String::from_utf8_lossy(&client.receive_line().await?).trim_end()
    );
    println!("[client] {}", request(&mut client, b"\"alice\"\n").await?);
    println!(
        "[client] {}",
        request(&mut client, b"{\"hello\": \"world\"}\n").await?
    );
    println!("[client] {}", request(&mut client, b"{not json\n").await?);

    let (reader, writer) = packetwire::os::pipe()?;
    std::fs::File::from(writer).write_all(b"a pipe from the client")?;
    let mut out = SocketAncillary::new();
    out.add_fd(&reader);
    client
        .send_all_with_ancillary(b"\"read this\"\n", &out)
        .await?;
    drop(out);
    println!(
        "[client] {}",
        String::from_utf8_lossy(&client.receive_line().await?).trim_end()
    );

    client.send_all(b"\"send me a file\"\n").await?;
    let mut anc = SocketAncillary::new();
    let reply = client.receive_with_ancillary(1024, &mut anc).await?;
    let mut text = String::new();
    for fd in anc.take_fds() {
        std::fs::File::from(fd).read_to_string(&mut text)?;
    }
    println!(
        "[client] {} ({text:?})",
        String::from_utf8_lossy(&reply).trim_end()
    );
    println!("[client] {}", request(&mut client, b"\"bye\"\n").await?);

    // A client that does not log in in time is refused.
    let mut late = UnixStream::connect(&path).await?;
    println!(
        "[late client] {}",
        String::from_utf8_lossy(&late.receive_line().await?).trim_end()
    );
    println!(
        "[late client] {}",
        String::from_utf8_lossy(&late.receive_line().await?).trim_end()
    );

    server.server_close().await;
    serving.await??;
    println!("socket file removed: {}", !path.exists());
    Ok(())
}
