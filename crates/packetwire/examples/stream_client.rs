//! The stream packet clients, following EasyNetwork's "Unix Stream Client Endpoints" page:
//! connect (with a timeout), adopt a connected socket, send, receive (with a timeout, and
//! with a parse error caught), send and receive with ancillary data, iterate over what is
//! buffered, half-close, peer credentials, socket options, receive size, and one thread
//! receiving while another sends. First with the blocking client, then with the async one on
//! tokio. The server is a small JSON echo server in this file.
//!
//! ```text
//! cargo run -p packetwire --example stream_client
//! ```

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use packetwire::client::RecvPacketError;
use packetwire::unix::SocketAncillary;
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Echoes every line back on each connection, and a bad line for "please send garbage".
fn echo_server(listener: UnixListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { return };
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut writer = stream.try_clone()?;
            for line in BufReader::new(stream).lines() {
                let line = line?;
                if line == "\"please send garbage\"" {
                    writer.write_all(b"{not json\n")?;
                }
                writeln!(writer, "{line}")?;
            }
            Ok(())
        });
    }
}

fn blocking(path: &Path) -> Result<(), Error> {
    use packetwire::blocking::{UnixStreamClient, UnixStreamClientOptions};

    let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());

    // Connecting to the peer, with a connect timeout and a receive size.
    let client = UnixStreamClientOptions::new()
        .connect_timeout(Duration::from_secs(5))
        .max_recv_size(8192)
        .connect(path, protocol.clone())?;

    // Sending and receiving packets; extraneous data is kept for the next call.
    client.send_packet(&json!({"data": 42}))?;
    let packet = client.recv_packet_within(Duration::from_secs(5))?;
    println!("blocking: received {packet}");

    // Catching invalid data: the next packet still arrives.
    client.send_packet(&json!("please send garbage"))?;
    match client.recv_packet_within(Duration::from_secs(5)) {
        Err(RecvPacketError::Parse(e)) => println!("blocking: bad packet skipped: {e}"),
        other => println!("blocking: unexpected {other:?}"),
    }
    println!("blocking: then {}", client.recv_packet()?);

    // Receiving several packets at once: a zero budget takes what is already buffered.
    for i in 0..3 {
        client.send_packet(&json!(i))?;
    }
    std::thread::sleep(Duration::from_millis(50));
    let batch: Vec<Value> = client.iter_received_packets(Some(Duration::ZERO)).collect();
    println!("blocking: batch {batch:?}");

    // Concurrency: one thread blocks in recv_packet while this one sends.
    std::thread::scope(|scope| -> Result<(), Error> {
        let receiver = scope.spawn(|| client.recv_packet());
        client.send_packet(&json!("from another thread"))?;
        println!(
            "blocking: the receiving thread got {}",
            receiver.join().unwrap()?
        );
        Ok(())
    })?;

    // Peer credentials and the socket proxy.
    let creds = client.peer_credentials()?;
    println!("blocking: peer pid {} uid {}", creds.pid, creds.uid);
    println!(
        "blocking: send buffer {} bytes",
        client.socket_options().send_buffer_size()?
    );

    // Closing the write end: the server sees the end of the stream and closes too.
    client.send_eof()?;
    assert!(matches!(
        client.recv_packet_within(Duration::from_secs(5)),
        Err(RecvPacketError::EndOfStream)
    ));
    client.close();

    // An already connected socket, with descriptors sent along with a packet.
    let (a, b) = UnixStream::pair()?;
    let a = UnixStreamClient::from_std(a, protocol.clone())?;
    let b = UnixStreamClient::from_std(b, protocol)?;
    let (_read_end, write_end) = packetwire::os::pipe()?;
    let mut ancillary = SocketAncillary::new();
    ancillary.add_fd(&write_end);
    a.send_packet_with_ancillary(&json!("here is a pipe"), &ancillary)?;
    // A control buffer sized for what is expected.
    let mut received = SocketAncillary::with_recv_capacity(SocketAncillary::space_for_fds(4));
    let packet = b.recv_packet_with_ancillary(&mut received)?;
    println!(
        "blocking: {packet} with {} descriptor(s)",
        received.take_fds().len()
    );
    Ok(())
}

async fn asynchronous(path: &Path) -> Result<(), Error> {
    use packetwire::client::{UnixStreamClient, UnixStreamClientOptions};
    use packetwire::runtime;

    let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());

    // Lazily: nothing happens until `wait_connected` (or the first send or receive).
    let client = UnixStreamClientOptions::new()
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy(path, protocol.clone())?;
    client.wait_connected().await?;

    client.send_packet(&json!({"data": 42})).await?;
    // A timeout on the runtime's clock; the receive is cancel-safe.
    let packet = client.recv_packet_within(Duration::from_secs(5)).await?;
    println!("async: received {packet}");

    // Or any timeout scope of the runtime: dropping the receive loses nothing.
    let rt = runtime::current()?;
    match runtime::timeout(&*rt, Duration::from_millis(50), client.recv_packet()).await {
        Err(runtime::Elapsed) => println!("async: nothing more within 50 ms"),
        Ok(result) => println!("async: unexpected {result:?}"),
    }

    for i in 0..3 {
        client.send_packet(&json!(i)).await?;
    }
    let mut batch = Vec::new();
    let mut packets = client.iter_received_packets(Some(Duration::from_millis(200)));
    while let Some(packet) = std::future::poll_fn(|cx| {
        futures_core::Stream::poll_next(std::pin::Pin::new(&mut packets), cx)
    })
    .await
    {
        batch.push(packet);
    }
    println!("async: batch {batch:?}");

    println!("async: peer pid {}", client.peer_credentials()?.pid);
    client.send_eof().await?;
    assert!(matches!(
        client.recv_packet().await,
        Err(RecvPacketError::EndOfStream)
    ));
    client.close().await;

    // An already connected socket.
    let (a, _b) = UnixStream::pair()?;
    let adopted = UnixStreamClient::from_std(a, protocol)?;
    println!("async: adopted, peer {:?}", adopted.peer_addr()?);
    Ok(())
}

fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");
    let listener = UnixListener::bind(&path)?;
    std::thread::spawn(move || echo_server(listener));

    blocking(&path)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(asynchronous(&path))
}
