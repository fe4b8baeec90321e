//! A line echo server and a client on loopback, over TCP and a Unix socket, on tokio.
//!
//! ```sh
//! cargo run -p packetwire --example echo
//! ```

use std::time::Duration;

use packetwire::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Echoes every line back until the client closes its side.
macro_rules! echo_handler {
    () => {
        |mut stream| async move {
            while let Ok(line) = stream.receive_line().await {
                if stream.send_all(&line).await.is_err() {
                    return;
                }
            }
        }
    };
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // TCP: every interface, a port chosen by the system.
    let server = TcpListener::bind("", 0).await?.serve(echo_handler!());
    let port = server.local_addrs()[0].port();
    println!("TCP server on {:?}", server.local_addrs());

    let mut client = TcpStream::connect("localhost", port).await?;
    for line in ["hello\n", "world\n"] {
        client.send_all(line.as_bytes()).await?;
        let echoed = client.receive_line().await?;
        print!("tcp echo: {}", String::from_utf8_lossy(&echoed));
    }
    client.send_eof()?;
    let outcome = server.shutdown(Duration::from_secs(5)).await;
    println!("tcp server stopped: {outcome:?}");

    // Unix: an abstract name on Linux, no file to clean up.
    let name = format!("@packetwire-echo-{}", std::process::id());
    let server = UnixListener::bind(&name).await?.serve(echo_handler!());
    let mut client = UnixStream::connect(&name).await?;
    client.send_all(b"over unix\n").await?;
    print!(
        "unix echo: {}",
        String::from_utf8_lossy(&client.receive_line().await?)
    );
    drop(client);
    server.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
