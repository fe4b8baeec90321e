//! `packetwire send`: sends packets with the blocking packet clients and prints the replies.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use packetwire::blocking::{
    TcpClient, TcpClientOptions, UdpClient, UdpClientOptions, UnixDatagramClient, UnixStreamClient,
    UnixStreamClientOptions,
};
use packetwire::client::RecvPacketError;
use packetwire::dynamic::{DynDatagramSerializer, DynStreamSerializer};
use packetwire::Value;

use crate::address::Address;
use crate::SerializerArgs;

/// Options of `packetwire send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Where to send: tcp://HOST:PORT, udp://HOST:PORT, tls://HOST:PORT, unix:PATH,
    /// unix:@NAME, unix-dgram:PATH.
    address: String,
    #[command(flatten)]
    serializer: SerializerArgs,
    /// Seconds to wait for the connection and for each reply (default: 10).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Send only: do not wait for replies.
    #[arg(long)]
    no_reply: bool,
    /// TLS: do not verify the server's certificate.
    #[arg(long)]
    insecure: bool,
    /// TLS: trust the CA certificates of this PEM file.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Packets as JSON values (`{"$bytes": "hex"}` is a byte string). Without any, one packet
    /// per line of standard input.
    packets: Vec<String>,
}

/// One of the four blocking clients, with the run-time protocol.
enum Client {
    Tcp(TcpClient<DynStreamSerializer>),
    Unix(UnixStreamClient<DynStreamSerializer>),
    Udp(UdpClient<DynDatagramSerializer>),
    UnixDatagram(UnixDatagramClient<DynDatagramSerializer>),
}

impl Client {
    fn connect(address: &Address, args: &SendArgs, timeout: Duration) -> Result<Self, String> {
        let spec = args.serializer.spec();
        let failed = |e: &dyn std::fmt::Display| format!("{address}: {e}");
        let stream = || spec.stream_protocol().map_err(|e| e.to_string());
        let datagram = || spec.datagram_protocol().map_err(|e| e.to_string());
        Ok(match address {
            Address::Tcp { host, port } => Client::Tcp(
                TcpClientOptions::new()
                    .connect_timeout(timeout)
                    .connect(host, *port, stream()?)
                    .map_err(|e| failed(&e))?,
            ),
            Address::Tls { host, port } => {
                let connector = crate::tls::connector(args.insecure, args.ca.as_deref())?;
                Client::Tcp(
                    TcpClientOptions::new()
                        .connect_timeout(timeout)
                        .tls(connector)
                        .connect(host, *port, stream()?)
                        .map_err(|e| failed(&e))?,
                )
            }
            Address::Unix(path) => Client::Unix(
                UnixStreamClientOptions::new()
                    .connect_timeout(timeout)
                    .connect(path, stream()?)
                    .map_err(|e| failed(&e))?,
            ),
            Address::Udp { host, port } => Client::Udp(
                UdpClientOptions::new()
                    .connect_timeout(timeout)
                    .connect(host, *port, datagram()?)
                    .map_err(|e| failed(&e))?,
            ),
            Address::UnixDatagram(path) => Client::UnixDatagram(
                UnixDatagramClient::connect(path, datagram()?).map_err(|e| failed(&e))?,
            ),
        })
    }

    fn send(&self, packet: &Value) -> Result<(), String> {
        let result = match self {
            Client::Tcp(c) => c.send_packet(packet),
            Client::Unix(c) => c.send_packet(packet),
            Client::Udp(c) => c.send_packet(packet),
            Client::UnixDatagram(c) => c.send_packet(packet),
        };
        result.map_err(|e| format!("send failed: {e}"))
    }

    fn receive(&self, timeout: Duration) -> Result<Value, RecvPacketError> {
        match self {
            Client::Tcp(c) => c.recv_packet_within(timeout),
            Client::Unix(c) => c.recv_packet_within(timeout),
            Client::Udp(c) => c.recv_packet_within(timeout),
            Client::UnixDatagram(c) => c.recv_packet_within(timeout),
        }
    }

    /// Tells a stream peer that nothing more comes (datagram clients have nothing to say).
    fn finish(&self) {
        match self {
            Client::Tcp(c) => {
                let _ = c.send_eof();
            }
            Client::Unix(c) => {
                let _ = c.send_eof();
            }
            Client::Udp(_) | Client::UnixDatagram(_) => {}
        }
    }
}

fn parse_packet(text: &str) -> Result<Value, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("packet {text:?} is not JSON: {e}"))?;
    Value::from_json(json).map_err(|e| format!("packet {text:?}: {e}"))
}

fn describe(error: &RecvPacketError, timeout: Duration) -> String {
    match error {
        RecvPacketError::TimedOut => format!("no reply within {:.1} s", timeout.as_secs_f64()),
        RecvPacketError::EndOfStream => "the server closed the connection before replying".into(),
        RecvPacketError::Parse(e) => format!("bad reply: {e}"),
        RecvPacketError::Refused => "the server refused the packet (nothing listens there)".into(),
        other => format!("receive failed: {other}"),
    }
}

/// `packetwire send`.
pub(crate) fn send(args: &SendArgs) -> Result<(), String> {
    let address: Address = args.address.parse().map_err(|e| format!("{e}"))?;
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err("--timeout must be a positive number of seconds".into());
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    // Check every packet given as an argument before connecting.
    let given = args
        .packets
        .iter()
        .map(|p| parse_packet(p))
        .collect::<Result<Vec<_>, _>>()?;
    let client = Client::connect(&address, args, timeout)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut exchange = |packet: &Value| -> Result<(), String> {
        client.send(packet)?;
        if !args.no_reply {
            let reply = client
                .receive(timeout)
                .map_err(|e| format!("{address}: {}", describe(&e, timeout)))?;
            serde_json::to_writer(&mut out, &reply.to_json()).map_err(|e| e.to_string())?;
            out.write_all(b"\n")
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write stdout: {e}"))?;
        }
        Ok(())
    };
    if args.packets.is_empty() {
        for line in io::stdin().lock().lines() {
            let line = line.map_err(|e| format!("cannot read stdin: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            exchange(&parse_packet(&line)?)?;
        }
    } else {
        for packet in &given {
            exchange(packet)?;
        }
    }
    client.finish();
    Ok(())
}
