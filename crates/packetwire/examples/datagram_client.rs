//! The datagram packet clients, following EasyNetwork's "Unix Datagram Client Endpoints" page:
//! connect (by path, abstract name, adopted socket), send packets, receive with a timeout,
//! handle a parse error, iterate over what arrived, send and receive ancillary data
//! (a descriptor, credentials), socket options, and sharing a client between threads; with
//! the blocking clients, then the async ones on tokio, against JSON echo services started
//! here.
//!
//! ```sh
//! cargo run -p packetwire --example datagram_client
//! ```

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use packetwire::blocking;
use packetwire::client::{self, RecvPacketError};
use packetwire::unix::{AncillaryMessage, SocketAncillary};
use packetwire::{DatagramProtocol, JsonSerializer};
use serde_json::{json, Value};

type Json = JsonSerializer<Value>;

/// The next item of a stream (any `StreamExt::next` does the same).
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// A Unix datagram echo service on `path`, in a thread: every datagram goes back to its
/// sender, with the descriptors it carried.
fn unix_echo_service(path: &std::path::Path) -> std::io::Result<()> {
    let service = blocking::UnixDatagram::bind(path)?;
    std::thread::spawn(move || loop {
        let mut ancillary = SocketAncillary::new();
        let Ok((datagram, from)) = service.receive_with_ancillary(&mut ancillary) else {
            return;
        };
        let fds = ancillary.take_fds();
        let mut reply = SocketAncillary::new();
        for fd in &fds {
            reply.add_fd(fd);
        }
        let _ = service.send_to_with_ancillary(&datagram, &reply, &from);
    });
    Ok(())
}

/// A UDP echo service, in a thread.
fn udp_echo_service() -> std::io::Result<u16> {
    let service = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let port = service.local_addr()?.port();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((len, from)) = service.recv_from(&mut buf) {
            let _ = service.send_to(&buf[..len], from);
        }
    });
    Ok(port)
}

fn blocking_clients(
    path: &std::path::Path,
    udp_port: u16,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("== blocking clients");
    let protocol = DatagramProtocol::new(Json::new());

    // Connecting: the client's socket is auto-bound, so the service can answer.
    let client = blocking::UnixDatagramClient::connect(path, protocol.clone())?;
    println!("Remote address: {}", client.peer_addr()?);
    println!("Local address: {}", client.local_addr()?);

    // Sending and receiving, with a timeout.
    client.send_packet(&json!({"data": 42}))?;
    match client.recv_packet_within(Duration::from_secs(30)) {
        Ok(packet) => println!("Received packet: {packet}"),
        Err(RecvPacketError::Parse(e)) => println!("Received something, but was not valid: {e}"),
        Err(RecvPacketError::TimedOut) => println!("Timed out"),
        Err(e) => return Err(e.into()),
    }

    // Ancillary data: a pipe's write end goes out with a packet and comes back.
    let (reader, writer) = packetwire::os::pipe()?;
    let mut ancillary = SocketAncillary::new();
    ancillary.add_fd(&writer);
    client.send_packet_with_ancillary(&json!({"fd": "pipe"}), &ancillary)?;
    drop(ancillary);
    drop(writer);
    client.set_passcred(true)?;
    let mut ancillary = SocketAncillary::with_recv_capacity(4096);
    let packet = client.recv_packet_with_ancillary(&mut ancillary)?;
    println!("Received packet: {packet}");
    for message in ancillary.messages() {
        match message {
            AncillaryMessage::Rights(fds) => println!("Received file descriptors: {fds:?}"),
            AncillaryMessage::Credentials(creds) => println!("Received credentials: {creds:?}"),
            _ => {}
        }
    }
    let mut writer = std::fs::File::from(ancillary.take_fds().remove(0));
    writer.write_all(b"written through the received descriptor")?;
    drop(writer);
    let mut text = String::new();
    std::fs::File::from(reader).read_to_string(&mut text)?;
    println!("The pipe says: {text:?}");

    // Receiving several packets at once: what is there, then with a budget.
    for n in 0..3 {
        client.send_packet(&json!(n))?;
    }
    std::thread::sleep(Duration::from_millis(50));
    let all: Vec<Value> = client.iter_received_packets(Some(Duration::ZERO)).collect();
    println!("Already there: {}", Value::from(all));
    let mut later = client.iter_received_packets(Some(Duration::from_millis(100)));
    let none: Vec<Value> = later.by_ref().collect();
    println!(
        "Within 100 ms: {} (ended by: {:?})",
        Value::from(none),
        later.error()
    );

    // Socket options.
    let options = client.socket_options();
    options.set_send_buffer_size(1 << 16)?;
    println!("Send buffer: {} bytes", options.send_buffer_size()?);

    // Adopting a connected socket.
    let socket = std::os::unix::net::UnixDatagram::unbound()?;
    socket.connect(path)?;
    let adopted = blocking::UnixDatagramClient::from_std(socket, protocol.clone())?;
    adopted.send_packet(&json!("adopted"))?;
    println!("Adopted client got {}", adopted.recv_packet()?);

    // Threads: one blocks in recv_packet while another sends; close wakes the receiver.
    let udp = Arc::new(blocking::UdpClient::connect(
        "127.0.0.1",
        udp_port,
        protocol,
    )?);
    let receiver = {
        let udp = Arc::clone(&udp);
        std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match udp.recv_packet() {
                    Ok(packet) => got.push(packet),
                    Err(RecvPacketError::Closed) => return got,
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    for word in ["one", "two", "three"] {
        udp.send_packet(&json!(word))?;
    }
    std::thread::sleep(Duration::from_millis(100));
    udp.close();
    println!(
        "UDP receiver thread got {}",
        Value::from(receiver.join().unwrap())
    );
    Ok(())
}

async fn async_clients(
    path: &std::path::Path,
    udp_port: u16,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("== async clients");
    let protocol = DatagramProtocol::new(Json::new());

    // Connecting lazily: `wait_connected` does it (or the first send or receive).
    let client = client::UnixDatagramClientOptions::new().connect_lazy(path, protocol.clone());
    client.wait_connected().await?;
    println!("Remote address: {}", client.peer_addr()?);

    client.send_packet(&json!({"data": 42})).await?;
    // Timeouts come from the caller...
    match tokio::time::timeout(Duration::from_secs(30), client.recv_packet()).await {
        Ok(Ok(packet)) => println!("Received packet: {packet}"),
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => println!("Timed out"),
    }
    // ... or from the client, on the runtime's clock.
    match client.recv_packet_within(Duration::from_millis(50)).await {
        Err(RecvPacketError::TimedOut) => println!("Nothing more within 50 ms"),
        other => println!("Unexpected: {other:?}"),
    }

    // Ancillary data.
    let (_reader, writer) = packetwire::os::pipe()?;
    let mut ancillary = SocketAncillary::new();
    ancillary.add_fd(&writer);
    client
        .send_packet_with_ancillary(&json!({"fd": "pipe"}), &ancillary)
        .await?;
    let mut received = SocketAncillary::new();
    let packet = client.recv_packet_with_ancillary(&mut received).await?;
    println!(
        "Received packet {packet} with {} descriptor(s)",
        received.fds().count()
    );

    // Iterating, with a budget for the whole iteration.
    for n in 0..3 {
        client.send_packet(&json!(n)).await?;
    }
    let mut packets = client.iter_received_packets(Some(Duration::from_millis(200)));
    while let Some(packet) = next(&mut packets).await {
        println!("Iterated: {packet}");
    }
    println!("The iteration ended with: {:?}", packets.error());

    // Tasks: several senders at once, one receiver; close wakes it.
    let udp = Arc::new(client::UdpClient::connect("127.0.0.1", udp_port, protocol).await?);
    let receiver = {
        let udp = Arc::clone(&udp);
        tokio::spawn(async move {
            let mut got = Vec::new();
            let mut packets = udp.packets();
            while let Some(item) = next(&mut packets).await {
                got.push(item.expect("a packet"));
            }
            got // the stream ends when the client is closed
        })
    };
    let senders: Vec<_> = (0..3)
        .map(|n| {
            let udp = Arc::clone(&udp);
            tokio::spawn(async move { udp.send_packet(&json!({"task": n})).await })
        })
        .collect();
    for sender in senders {
        sender.await??;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    udp.close().await;
    println!("UDP receiver task got {}", Value::from(receiver.await?));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("app.sock");
    unix_echo_service(&path)?;
    let udp_port = udp_echo_service()?;

    blocking_clients(&path, udp_port)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async_clients(&path, udp_port))
}
