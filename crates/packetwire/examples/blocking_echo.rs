//! A line echo server and its clients without any async runtime: `serve(callback)` on a
//! blocking TCP listener and on a blocking Unix listener runs each connection on its own
//! thread; a graceful shutdown waits for the connections, then stops.
//!
//! Run: `cargo run -p packetwire --example blocking_echo`

use std::io::Write;
use std::time::Duration;

use packetwire::blocking::{TcpListener, TcpStream, UnixListener, UnixStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // TCP on loopback, port chosen by the system.
    let tcp_server = TcpListener::bind("127.0.0.1", 0)?.serve(|mut stream| {
        let peer = stream.peer_addr().ok();
        while let Ok(line) = stream.receive_line() {
            if stream.send_all(&line).is_err() {
                break;
            }
        }
        println!("server: {peer:?} left");
    })?;
    let port = tcp_server.local_addrs()[0].port();
    println!("TCP server on {:?}", tcp_server.local_addrs());

    // A Unix socket in a temporary directory; its file is removed when the server closes.
    let dir = std::env::temp_dir().join(format!("packetwire-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("echo.sock");
    let unix_server = UnixListener::bind(&path)?.serve(|mut stream| {
        while let Ok(line) = stream.receive_line() {
            let reply = [b"unix says: ".as_slice(), &line].concat();
            if stream.send_all(&reply).is_err() {
                break;
            }
        }
    })?;
    println!("Unix server on {}", unix_server.local_addrs()[0]);

    // Clients, each on its own thread.
    let clients: Vec<_> = (0..3)
        .map(|i| {
            std::thread::spawn(move || -> std::io::Result<String> {
                let mut client = TcpStream::connect("127.0.0.1", port)?;
                client.set_receive_timeout(Some(Duration::from_secs(5)));
                client.write_all(format!("hello from client {i}\n").as_bytes())?;
                let reply = client.receive_line()?;
                client.send_eof()?;
                Ok(String::from_utf8_lossy(&reply).trim_end().to_owned())
            })
        })
        .collect();
    for client in clients {
        println!("TCP client got: {}", client.join().expect("client thread")?);
    }

    let mut unix_client = UnixStream::connect(&path)?;
    unix_client.write_all(b"ping\n")?;
    println!(
        "Unix client got: {}",
        String::from_utf8_lossy(&unix_client.receive_line()?).trim_end()
    );
    unix_client.send_eof()?;

    let outcome = tcp_server.shutdown(Duration::from_secs(5));
    println!("TCP server stopped: {outcome:?}");
    let outcome = unix_server.shutdown(Duration::from_secs(5));
    println!(
        "Unix server stopped: {outcome:?}; socket file left: {}",
        path.exists()
    );
    std::fs::remove_dir(&dir)?;
    Ok(())
}
