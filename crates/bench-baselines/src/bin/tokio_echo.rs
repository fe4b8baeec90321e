//! The plain tokio echo server: every received chunk (stream) or datagram goes back as it is.
//! The ceiling a tokio-based library can reach.

use bench_baselines::{serve_datagrams, serve_streams, until_signal, Addr, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn echo_stream(mut stream: Box<dyn Stream>) {
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
        Addr::Tcp(_) | Addr::Unix(_) => serve_streams(addr, echo_stream).await,
        Addr::Udp(_) | Addr::UnixDatagram(_) => serve_datagrams(addr, |d| Some(d.to_vec())).await,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = Addr::from_args("tokio-echo");
    until_signal(&addr, serve(&addr)).await
}
