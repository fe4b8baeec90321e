//! Echo servers written directly on tokio: the baselines that packetwire's benchmark suite
//! (`scripts/bench/suite.py`) measures `packetwire serve` against. They take the same `ADDR`
//! forms as `packetwire serve` (`tcp://HOST:PORT`, `udp://HOST:PORT`, `unix:PATH`,
//! `unix-dgram:PATH`) and print `ready ADDR` on stderr once they accept.
//!
//! This library holds what the two binaries share: address parsing and the listeners.

use std::io;
use std::path::PathBuf;

/// A parsed `ADDR`.
#[derive(Debug, Clone)]
pub enum Addr {
    /// `tcp://HOST:PORT`.
    Tcp(String),
    /// `udp://HOST:PORT`.
    Udp(String),
    /// `unix:PATH`.
    Unix(PathBuf),
    /// `unix-dgram:PATH`.
    UnixDatagram(PathBuf),
}

impl Addr {
    /// Parses the first command-line argument, or exits with a usage line.
    pub fn from_args(program: &str) -> Self {
        let Some(text) = std::env::args().nth(1) else {
            eprintln!(
                "usage: {program} tcp://HOST:PORT | udp://HOST:PORT | unix:PATH | unix-dgram:PATH"
            );
            std::process::exit(2);
        };
        if let Some(rest) = text.strip_prefix("tcp://") {
            Addr::Tcp(rest.to_owned())
        } else if let Some(rest) = text.strip_prefix("udp://") {
            Addr::Udp(rest.to_owned())
        } else if let Some(rest) = text.strip_prefix("unix-dgram:") {
            Addr::UnixDatagram(rest.into())
        } else if let Some(rest) = text.strip_prefix("unix:") {
            Addr::Unix(rest.into())
        } else {
            eprintln!("{program}: unsupported address {text:?}");
            std::process::exit(2);
        }
    }
}

/// A listening stream socket, TCP or Unix.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(tokio::net::TcpListener),
    /// Unix stream, with the path to remove at exit.
    Unix(tokio::net::UnixListener, PathBuf),
}

/// Binds a stream listener and prints `ready ADDR` on stderr.
pub async fn listen(addr: &Addr) -> io::Result<Listener> {
    match addr {
        Addr::Tcp(hostport) => {
            let listener = tokio::net::TcpListener::bind(hostport).await?;
            eprintln!("ready tcp://{}", listener.local_addr()?);
            Ok(Listener::Tcp(listener))
        }
        Addr::Unix(path) => {
            let listener = tokio::net::UnixListener::bind(path)?;
            eprintln!("ready unix:{}", path.display());
            Ok(Listener::Unix(listener, path.clone()))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a stream address",
        )),
    }
}

/// Accepts connections on a TCP or Unix listener for `addr` (printing `ready ADDR`) and runs
/// `handle` on its own task for each.
pub async fn serve_streams<F, Fut>(addr: &Addr, handle: F) -> io::Result<()>
where
    F: Fn(Box<dyn Stream>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    match listen(addr).await? {
        Listener::Tcp(listener) => loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(handle(Box::new(stream)));
        },
        Listener::Unix(listener, _) => loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(handle(Box::new(stream)));
        },
    }
}

/// A connected TCP or Unix stream.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// A bound UDP or Unix datagram socket that answers each sender.
#[derive(Debug)]
pub enum DatagramSocket {
    /// UDP.
    Udp(tokio::net::UdpSocket),
    /// Unix datagram (replies go to pathname senders only: tokio sends to paths).
    Unix(tokio::net::UnixDatagram),
}

/// Binds a datagram socket for `addr` (printing `ready ADDR`) and answers every datagram with
/// `reply(datagram)` when it returns bytes.
pub async fn serve_datagrams(
    addr: &Addr,
    reply: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> io::Result<()> {
    let socket = match addr {
        Addr::Udp(hostport) => {
            let socket = tokio::net::UdpSocket::bind(hostport).await?;
            eprintln!("ready udp://{}", socket.local_addr()?);
            DatagramSocket::Udp(socket)
        }
        Addr::UnixDatagram(path) => {
            let socket = tokio::net::UnixDatagram::bind(path)?;
            eprintln!("ready unix-dgram:{}", path.display());
            DatagramSocket::Unix(socket)
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a datagram address",
            ))
        }
    };
    let mut buf = vec![0u8; 65536];
    loop {
        match &socket {
            DatagramSocket::Udp(socket) => {
                let (n, peer) = socket.recv_from(&mut buf).await?;
                if let Some(answer) = reply(&buf[..n]) {
                    let _ = socket.send_to(&answer, peer).await;
                }
            }
            DatagramSocket::Unix(socket) => {
                let (n, peer) = socket.recv_from(&mut buf).await?;
                if let (Some(answer), Some(peer)) = (reply(&buf[..n]), peer.as_pathname()) {
                    let _ = socket.send_to(&answer, peer).await;
                }
            }
        }
    }
}

/// Runs `serve` until SIGINT or SIGTERM, then removes a Unix socket file of `addr`.
pub async fn until_signal(
    addr: &Addr,
    serve: impl std::future::Future<Output = io::Result<()>>,
) -> io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = serve => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    };
    if let Addr::Unix(path) | Addr::UnixDatagram(path) = addr {
        let _ = std::fs::remove_file(path);
    }
    result
}
