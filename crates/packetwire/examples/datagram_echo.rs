//! A "hello" echo service over UDP and over a Unix datagram socket (AnyIO's
//! `async for packet, addr in udp`), a client for each, and the same exchange with the
//! blocking shell; on tokio.
//!
//! ```sh
//! cargo run -p packetwire --example datagram_echo
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use packetwire::net::{UdpSocket, UnixDatagram};

/// The next item of a stream (any `StreamExt::next` does the same).
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // UDP: answer every datagram with "Hello, " + datagram, from the same socket.
    let udp = Arc::new(UdpSocket::bind("127.0.0.1", 0).await?);
    let port = udp.local_addr()?.port();
    println!("UDP service on {}", udp.local_addr()?);
    let service = Arc::clone(&udp);
    tokio::spawn(async move {
        let mut incoming = service.incoming();
        while let Some(item) = next(&mut incoming).await {
            match item {
                Ok((packet, from)) => {
                    let reply = [&b"Hello, "[..], &packet].concat();
                    let _ = service.send_to(&reply, from).await;
                }
                // A bad datagram (too large, ICMP error) is not the end of the service.
                Err(e) => eprintln!("UDP service: {e}"),
            }
        }
    });
    let client = UdpSocket::connect("127.0.0.1", port).await?;
    client.send(b"UDP").await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), client.receive()).await??;
    println!("UDP client got {:?}", String::from_utf8_lossy(&reply));

    // Unix datagrams: an abstract name; the client is auto-bound so it can be answered.
    let name = format!("@packetwire-example-{}", std::process::id());
    let unix = Arc::new(UnixDatagram::bind(&name).await?);
    println!("Unix datagram service on {}", unix.local_addr()?);
    let service = Arc::clone(&unix);
    tokio::spawn(async move {
        let mut incoming = service.incoming();
        while let Some(Ok((packet, from))) = next(&mut incoming).await {
            let reply = [&b"Hello, "[..], &packet].concat();
            let _ = service.send_to(&reply, &from).await;
        }
    });
    let client = UnixDatagram::connect(&name).await?;
    client.send(b"Unix").await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), client.receive()).await??;
    println!(
        "Unix client at {} got {:?}",
        client.local_addr()?,
        String::from_utf8_lossy(&reply)
    );

    // The blocking shell talks to the same services, on a thread of its own.
    let reply = tokio::task::spawn_blocking(move || {
        let mut client = packetwire::blocking::UdpSocket::connect("127.0.0.1", port)?;
        client.set_receive_timeout(Some(Duration::from_secs(5)));
        client.send(b"blocking UDP")?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(client.receive()?)
    })
    .await?
    .map_err(|e| e.to_string())?;
    println!("blocking client got {:?}", String::from_utf8_lossy(&reply));
    Ok(())
}
