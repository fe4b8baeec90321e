//! The plain tokio echo server: every received chunk (stream) or datagram goes back as it is.
//! The ceiling a tokio-based library can reach.

use bench_baselines::{listen, until_signal, Addr, Listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn echo_stream<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn serve(addr: &Addr) -> std::io::Result<()> {
    match addr {
        Addr::Tcp(_) | Addr::Unix(_) => match listen(addr).await? {
            Listener::Tcp(listener) => loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                tokio::spawn(echo_stream(stream));
            },
            Listener::Unix(listener, _) => loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(echo_stream(stream));
            },
        },
        Addr::Udp(hostport) => {
            let socket = tokio::net::UdpSocket::bind(hostport).await?;
            eprintln!("ready udp://{}", socket.local_addr()?);
            let mut buf = vec![0u8; 65536];
            loop {
                let (n, peer) = socket.recv_from(&mut buf).await?;
                let _ = socket.send_to(&buf[..n], peer).await;
            }
        }
        Addr::UnixDatagram(path) => {
            let socket = tokio::net::UnixDatagram::bind(path)?;
            eprintln!("ready unix-dgram:{}", path.display());
            let mut buf = vec![0u8; 65536];
            loop {
                let (n, peer) = socket.recv_from(&mut buf).await?;
                if let Some(peer) = peer.as_pathname() {
                    let _ = socket.send_to(&buf[..n], peer).await;
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = Addr::from_args("tokio-echo");
    until_signal(&addr, serve(&addr)).await
}
