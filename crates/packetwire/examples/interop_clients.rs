//! Drives a server with packetwire's clients of every flavour: blocking, async on tokio, async
//! on smol. `scripts/interop/run.sh` points it at Python EasyNetwork's servers.
//!
//! ```text
//! interop_clients ADDR SERIALIZER WRAP PACKET...
//! ```
//!
//! `ADDR` is `tcp://HOST:PORT`, `udp://HOST:PORT`, `unix:PATH` or `unix-dgram:PATH`;
//! `SERIALIZER` and `WRAP` (comma-separated, possibly empty) name a codec spec as the
//! command-line tool does; each `PACKET` is a JSON value. For each flavour, every packet is sent
//! and one reply awaited; each reply is printed as `FLAVOUR JSON`.
//!
//! Run: `cargo run -p packetwire --features smol --example interop_clients -- tcp://127.0.0.1:9000 json "" '{"a":1}'`

use std::error::Error;
use std::time::Duration;

use packetwire::dynamic::{CodecSpec, DynDatagramSerializer, DynStreamSerializer};
use packetwire::runtime::{Runtime, SmolRuntime};
use packetwire::{blocking, client, DatagramProtocol, StreamProtocol, Value};

const TIMEOUT: Duration = Duration::from_secs(10);

enum Addr {
    Tcp(String, u16),
    Udp(String, u16),
    Unix(String),
    UnixDatagram(String),
}

fn parse(addr: &str) -> Result<Addr, Box<dyn Error>> {
    let host_port = |rest: &str| -> Result<(String, u16), Box<dyn Error>> {
        let (host, port) = rest.rsplit_once(':').ok_or("expected HOST:PORT")?;
        Ok((host.trim_matches(['[', ']']).to_owned(), port.parse()?))
    };
    Ok(if let Some(rest) = addr.strip_prefix("tcp://") {
        let (h, p) = host_port(rest)?;
        Addr::Tcp(h, p)
    } else if let Some(rest) = addr.strip_prefix("udp://") {
        let (h, p) = host_port(rest)?;
        Addr::Udp(h, p)
    } else if let Some(rest) = addr.strip_prefix("unix-dgram:") {
        Addr::UnixDatagram(rest.to_owned())
    } else if let Some(rest) = addr.strip_prefix("unix:") {
        Addr::Unix(rest.to_owned())
    } else {
        return Err(format!("unsupported address {addr:?}").into());
    })
}

fn print(flavour: &str, reply: &Value) {
    println!("{flavour} {}", reply.to_json());
}

fn blocking_run(
    addr: &Addr,
    stream: StreamProtocol<DynStreamSerializer>,
    datagram: DatagramProtocol<DynDatagramSerializer>,
    packets: &[Value],
) -> Result<(), Box<dyn Error>> {
    macro_rules! exchange {
        ($client:expr) => {{
            let client = $client;
            for packet in packets {
                client.send_packet(packet)?;
                print("blocking", &client.recv_packet_within(TIMEOUT)?);
            }
            client.close();
        }};
    }
    match addr {
        Addr::Tcp(h, p) => exchange!(blocking::TcpClientOptions::new()
            .connect_timeout(TIMEOUT)
            .connect(h, *p, stream)?),
        Addr::Unix(path) => exchange!(blocking::UnixStreamClient::connect(path, stream)?),
        Addr::Udp(h, p) => exchange!(blocking::UdpClient::connect(h, *p, datagram)?),
        Addr::UnixDatagram(path) => {
            exchange!(blocking::UnixDatagramClient::connect(path, datagram)?)
        }
    }
    Ok(())
}

async fn async_run(
    flavour: &str,
    runtime: std::sync::Arc<dyn Runtime>,
    addr: &Addr,
    stream: StreamProtocol<DynStreamSerializer>,
    datagram: DatagramProtocol<DynDatagramSerializer>,
    packets: &[Value],
) -> Result<(), Box<dyn Error>> {
    macro_rules! exchange {
        ($client:expr) => {{
            let client = $client;
            for packet in packets {
                client.send_packet(packet).await?;
                print(flavour, &client.recv_packet_within(TIMEOUT).await?);
            }
            client.close().await;
        }};
    }
    match addr {
        Addr::Tcp(h, p) => exchange!(
            client::TcpClientOptions::new()
                .runtime(runtime)
                .connect_timeout(TIMEOUT)
                .connect(h, *p, stream)
                .await?
        ),
        Addr::Unix(path) => exchange!(
            client::UnixStreamClientOptions::new()
                .runtime(runtime)
                .connect(path, stream)
                .await?
        ),
        Addr::Udp(h, p) => exchange!(
            client::UdpClientOptions::new()
                .runtime(runtime)
                .connect(h, *p, datagram)
                .await?
        ),
        Addr::UnixDatagram(path) => exchange!(
            client::UnixDatagramClientOptions::new()
                .runtime(runtime)
                .connect(path, datagram)
                .await?
        ),
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, serializer, wrap, packets @ ..] = &args[..] else {
        return Err("usage: interop_clients ADDR SERIALIZER WRAP PACKET...".into());
    };
    let addr = parse(addr)?;
    let spec = CodecSpec::new(serializer.as_str()).with_wrap_list(wrap);
    let packets = packets
        .iter()
        .map(|p| Ok(Value::from_json(serde_json::from_str(p)?)?))
        .collect::<Result<Vec<_>, Box<dyn Error>>>()?;
    let protocols = || -> Result<_, Box<dyn Error>> {
        // One side of each pair fails for serializers that cannot frame a stream (pickle):
        // build lazily and only what the transport needs.
        Ok((spec.stream_protocol(), spec.datagram_protocol()))
    };

    let (stream, datagram) = protocols()?;
    let pick = |stream: Result<_, _>, datagram: Result<_, _>| -> Result<_, Box<dyn Error>> {
        match addr {
            Addr::Tcp(..) | Addr::Unix(_) => {
                Ok((stream?, CodecSpec::new("json").datagram_protocol()?))
            }
            Addr::Udp(..) | Addr::UnixDatagram(_) => {
                Ok((CodecSpec::new("json").stream_protocol()?, datagram?))
            }
        }
    };
    let (s, d) = pick(stream, datagram)?;
    blocking_run(&addr, s, d, &packets)?;

    let (stream, datagram) = protocols()?;
    let (s, d) = pick(stream, datagram)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let runtime = packetwire::runtime::current()?;
            async_run("tokio", runtime, &addr, s, d, &packets).await
        })?;

    let (stream, datagram) = protocols()?;
    let (s, d) = pick(stream, datagram)?;
    smol::block_on(async_run(
        "smol",
        std::sync::Arc::new(SmolRuntime::new()),
        &addr,
        s,
        d,
        &packets,
    ))?;
    Ok(())
}
