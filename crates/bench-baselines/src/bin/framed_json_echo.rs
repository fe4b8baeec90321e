//! What a Rust user writes today for JSON request/response: tokio-util's `Framed` with
//! `LinesCodec` (64 KiB lines) and serde_json. Every line is parsed into a `serde_json::Value`
//! and serialized back; a bad line is answered with nothing and the connection goes on. On
//! datagram transports, each datagram is one JSON document.

use bench_baselines::{serve_datagrams, serve_streams, until_signal, Addr, Stream};
use futures_util::{SinkExt, StreamExt};
use tokio_util::codec::{Framed, LinesCodec};

async fn echo_json(stream: Box<dyn Stream>) {
    let mut framed = Framed::new(stream, LinesCodec::new_with_max_length(64 * 1024));
    while let Some(line) = framed.next().await {
        let Ok(line) = line else { return };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Ok(reply) = serde_json::to_string(&value) else {
            continue;
        };
        if framed.send(reply).await.is_err() {
            return;
        }
    }
}

fn reencode(datagram: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(datagram).ok()?;
    serde_json::to_vec(&value).ok()
}

async fn serve(addr: &Addr) -> std::io::Result<()> {
    match addr {
        Addr::Tcp(_) | Addr::Unix(_) => serve_streams(addr, echo_json).await,
        Addr::Udp(_) | Addr::UnixDatagram(_) => serve_datagrams(addr, reencode).await,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = Addr::from_args("framed-json-echo");
    until_signal(&addr, serve(&addr)).await
}
