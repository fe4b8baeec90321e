//! `packetwire serve`: an echo server on any transport, with any serializer, on tokio or smol.

use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use clap::{Args, ValueEnum};
use packetwire::net::{TcpListener, UdpSocket, UnixDatagram, UnixListener};
use packetwire::server::{
    DatagramServerOptions, EchoHandler, ServerOptions, TcpServer, UdpServer, UnixDatagramServer,
    UnixStreamServer,
};
use packetwire::{
    DatagramProtocol, DatagramSerializer, DeserializeError, Separated, SerializeError,
    StreamProtocol, StreamSerializer, Value,
};

use crate::address::Address;
use crate::SerializerArgs;

/// The async runtime that drives the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeChoice {
    /// tokio's multi-threaded runtime, one worker per core.
    Tokio,
    /// smol's global executor, one thread per core (unless `SMOL_THREADS` says otherwise).
    Smol,
}

/// The request handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HandlerChoice {
    /// Send every packet back to its sender.
    Echo,
}

/// Options of `packetwire serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen: tcp://HOST:PORT, udp://HOST:PORT, tls://HOST:PORT, unix:PATH,
    /// unix:@NAME, unix-dgram:PATH (port 0: the system chooses; the ready line says which).
    address: String,
    #[command(flatten)]
    serializer: SerializerArgs,
    /// What to do with each packet.
    #[arg(long, value_enum, default_value = "echo")]
    handler: HandlerChoice,
    /// The async runtime.
    #[arg(long, value_enum, default_value = "tokio")]
    runtime: RuntimeChoice,
    /// Log warnings and errors only (not every connection).
    #[arg(long)]
    quiet: bool,
    /// Seconds that connected clients get to finish on SIGINT/SIGTERM before they are cut.
    #[arg(long, default_value_t = 5.0)]
    grace: f64,
    /// TLS: the server's certificate chain (PEM, leaf first).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// TLS: the server's private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
}

/// `raw`: every chunk the socket gives is one packet, sent back as it is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawSerializer;

impl StreamSerializer for RawSerializer {
    type Sent = Bytes;
    type Received = Bytes;
    type DecodeState = ();

    fn decode_state(&self) {}

    fn encode(&self, packet: &Bytes, dst: &mut BytesMut) -> Result<(), SerializeError> {
        dst.extend_from_slice(packet);
        Ok(())
    }

    fn decode(&self, _: &mut (), src: &mut BytesMut) -> Result<Option<Bytes>, DeserializeError> {
        if src.is_empty() {
            Ok(None)
        } else {
            Ok(Some(src.split().freeze()))
        }
    }
}

impl DatagramSerializer for RawSerializer {
    type Sent = Bytes;
    type Received = Bytes;

    fn serialize(&self, packet: &Bytes, dst: &mut BytesMut) -> Result<(), SerializeError> {
        dst.extend_from_slice(packet);
        Ok(())
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Bytes, DeserializeError> {
        Ok(Bytes::copy_from_slice(datagram))
    }
}

/// The limit of a `line-bytes` line.
const LINE_BYTES_LIMIT: usize = 64 * 1024;

/// `line-bytes`: lines of bytes (up to 64 KiB), not decoded.
fn line_bytes() -> Separated<RawSerializer> {
    Separated::new(RawSerializer, b"\n")
        .expect("the separator is not empty")
        .with_limit(LINE_BYTES_LIMIT)
        .with_separator_check(false)
}

/// `packetwire serve`.
pub(crate) fn serve(args: &ServeArgs) -> Result<(), String> {
    let address: Address = args.address.parse().map_err(|e| format!("{e}"))?;
    if !(args.grace >= 0.0 && args.grace.is_finite()) {
        return Err("--grace must be a number of seconds, 0 or more".into());
    }
    init_logging(args.quiet);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    watch_signals(stop_tx)?;
    match args.runtime {
        RuntimeChoice::Tokio => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start tokio: {e}"))?
            .block_on(run(&address, args, stop_rx)),
        RuntimeChoice::Smol => {
            if std::env::var_os("SMOL_THREADS").is_none() {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                // Read once, when the global executor starts (after this line).
                std::env::set_var("SMOL_THREADS", threads.to_string());
            }
            smol::block_on(run(&address, args, stop_rx))
        }
    }
}

fn init_logging(quiet: bool) {
    let level = if quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// SIGINT and SIGTERM, seen on a thread of their own, end the serve through `stop`.
fn watch_signals(stop: tokio::sync::oneshot::Sender<&'static str>) -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = stop.send(if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                });
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}

/// What a running server of any kind can do, for one shutdown path.
trait Running: Clone + Send + Sync + 'static {
    async fn serve_forever(&self) -> Result<(), String>;
    async fn shutdown(&self);
    async fn server_close(&self);
}

macro_rules! running {
    ($($server:ident: $bound:ident),*) => {$(
        impl<H: packetwire::server::$bound> Running for $server<H> {
            async fn serve_forever(&self) -> Result<(), String> {
                $server::serve_forever(self).await.map_err(|e| e.to_string())
            }
            async fn shutdown(&self) {
                $server::shutdown(self).await
            }
            async fn server_close(&self) {
                $server::server_close(self).await
            }
        }
    )*};
}

running!(
    TcpServer: StreamRequestHandler,
    UnixStreamServer: StreamRequestHandler,
    UdpServer: DatagramRequestHandler,
    UnixDatagramServer: DatagramRequestHandler
);

/// Serves until a signal: the ready line first, then a graceful shutdown and the close (which
/// removes a Unix socket file).
async fn serve_until<S: Running>(
    server: S,
    shown: String,
    what: &str,
    stop: tokio::sync::oneshot::Receiver<&'static str>,
) -> Result<(), String> {
    eprintln!("packetwire serve: ready {shown} ({what})");
    let stopper = {
        let server = server.clone();
        async move {
            let signal = stop.await.unwrap_or("the signal watcher ending");
            tracing::info!("{signal}: shutting down");
            server.shutdown().await;
        }
    };
    let (served, ()) = futures_util::future::join(server.serve_forever(), stopper).await;
    server.server_close().await;
    eprintln!("packetwire serve: stopped");
    served
}

fn host_for_bind(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

async fn run(
    address: &Address,
    args: &ServeArgs,
    stop: tokio::sync::oneshot::Receiver<&'static str>,
) -> Result<(), String> {
    let grace = Duration::from_secs_f64(args.grace);
    let options = ServerOptions::new()
        .shutdown_grace(grace)
        .log_connections(!args.quiet);
    let dgram_options = DatagramServerOptions::new().shutdown_grace(grace);
    let name = args.serializer.serializer.as_str();
    let bytes_framing = match name {
        "raw" | "line-bytes" => {
            if !args.serializer.wrap.iter().all(|w| w.is_empty()) {
                return Err(format!("--serializer {name} takes no --wrap"));
            }
            true
        }
        _ => false,
    };
    let what = if args.serializer.wrap.iter().any(|w| !w.is_empty()) {
        format!("{name} in {}", args.serializer.wrap.join(","))
    } else {
        name.to_owned()
    };
    let bind_failed = |e: std::io::Error| format!("cannot listen on {address}: {e}");
    let HandlerChoice::Echo = args.handler;

    // The protocol objects, chosen at run time: `Value` packets for the codec specs, `Bytes`
    // for the two byte-level serializers. `$kind` is `StreamProtocol` or `DatagramProtocol`,
    // `$from_spec` the method of the spec that makes one; `$make` binds the server.
    macro_rules! echo_server {
        ($kind:ident, $from_spec:ident, |$protocol:ident, $handler:ident| $make:expr) => {{
            if bytes_framing {
                if name == "raw" {
                    let raw = $kind::new(RawSerializer);
                    echo_server!(@serve raw, Bytes, |$protocol, $handler| $make)
                } else {
                    let lines = $kind::new(line_bytes());
                    echo_server!(@serve lines, Bytes, |$protocol, $handler| $make)
                }
            } else {
                let from_spec = args.serializer.spec().$from_spec();
                let spec_protocol = from_spec.map_err(|e| e.to_string())?;
                echo_server!(@serve spec_protocol, Value, |$protocol, $handler| $make)
            }
        }};
        (@serve $value:expr, $packet:ty, |$protocol:ident, $handler:ident| $make:expr) => {{
            let $protocol = $value;
            let $handler = EchoHandler::<$packet>::new();
            let (server, shown) = $make.await?;
            serve_until(server, shown, &what, stop).await
        }};
    }

    match address {
        Address::Tcp { host, port } => {
            echo_server!(StreamProtocol, stream_protocol, |protocol, handler| {
                let options = options.clone();
                async {
                    let listener = TcpListener::bind(host_for_bind(host), *port)
                        .await
                        .map_err(bind_failed)?;
                    let server = TcpServer::from_listener(listener, protocol, handler, options);
                    let shown = format!("tcp://{}", server.local_addrs()[0]);
                    Ok::<_, String>((server, shown))
                }
            })
        }
        Address::Tls { host, port } => {
            let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
                return Err("a tls:// address needs --cert FILE and --key FILE".into());
            };
            let acceptor = packetwire::tls::TlsServerConfig::from_pem_files(cert, key)
                .and_then(|c| c.build())
                .map_err(|e| format!("bad TLS certificate or key: {e}"))?;
            echo_server!(StreamProtocol, stream_protocol, |protocol, handler| {
                let options = options.clone();
                let acceptor = acceptor.clone();
                async {
                    let listener = TcpListener::bind(host_for_bind(host), *port)
                        .await
                        .map_err(bind_failed)?;
                    let server = TcpServer::from_listener_tls(
                        listener, acceptor, protocol, handler, options,
                    );
                    let shown = format!("tls://{}", server.local_addrs()[0]);
                    Ok::<_, String>((server, shown))
                }
            })
        }
        Address::Unix(path) => {
            echo_server!(StreamProtocol, stream_protocol, |protocol, handler| {
                let options = options.clone();
                async {
                    let listener = UnixListener::bind(path).await.map_err(bind_failed)?;
                    let server =
                        UnixStreamServer::from_listener(listener, protocol, handler, options);
                    let shown = format!("unix:{}", server.local_addr());
                    Ok::<_, String>((server, shown))
                }
            })
        }
        Address::Udp { host, port } => {
            echo_server!(DatagramProtocol, datagram_protocol, |protocol, handler| {
                let options = dgram_options.clone();
                async {
                    let socket = UdpSocket::bind(host_for_bind(host), *port)
                        .await
                        .map_err(bind_failed)?;
                    let server = UdpServer::from_socket(socket, protocol, handler, options)
                        .map_err(bind_failed)?;
                    let shown = format!("udp://{}", server.local_addr());
                    Ok::<_, String>((server, shown))
                }
            })
        }
        Address::UnixDatagram(path) => {
            echo_server!(DatagramProtocol, datagram_protocol, |protocol, handler| {
                let options = dgram_options.clone();
                async {
                    let socket = UnixDatagram::bind(path).await.map_err(bind_failed)?;
                    let server =
                        UnixDatagramServer::from_socket(socket, protocol, handler, options)
                            .map_err(bind_failed)?;
                    let shown = format!("unix-dgram:{}", server.local_addr());
                    Ok::<_, String>((server, shown))
                }
            })
        }
    }
}
