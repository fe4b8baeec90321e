//! Async byte streams, datagram sockets, listeners and servers over TCP, UDP, Unix sockets and
//! pipes.
//!
//! One type per transport, one method vocabulary (AnyIO and asyncio semantics):
//!
//! | | TCP | Unix stream | pipe |
//! |---|---|---|---|
//! | stream | [`TcpStream`] | [`UnixStream`] | [`PipeReader`] + [`PipeWriter`] |
//! | open | [`TcpStream::connect`], [`TcpConnectOptions`] | [`UnixStream::connect`], [`UnixConnectOptions`], [`socketpair`] | [`pipe`] |
//! | adopt | [`TcpStream::from_std`] | [`UnixStream::from_std`] | [`PipeReader::from_fd`], [`PipeWriter::from_fd`] |
//! | listen | [`TcpListener`], [`TcpListenerOptions`] | [`UnixListener`], [`UnixListenerOptions`] | |
//! | serve | [`TcpListener::serve`] → [`TcpServer`] | [`UnixListener::serve`] → [`UnixServer`] | |
//!
//! | | UDP | Unix datagram |
//! |---|---|---|
//! | socket | [`UdpSocket`] | [`UnixDatagram`] |
//! | open | [`UdpSocket::bind`], [`UdpSocket::connect`], [`UdpSocketOptions`] ([`IpFamily`]) | [`UnixDatagram::bind`], [`UnixDatagram::connect`], [`UnixDatagram::unbound`], [`UnixDatagram::pair`], [`UnixDatagramOptions`] |
//! | adopt | [`UdpSocket::from_std`] | [`UnixDatagram::from_std`] |
//! | iterate | [`UdpSocket::incoming`] → [`Incoming`] | [`UnixDatagram::incoming`] → [`Incoming`] |
//!
//! Stream receiving: `receive(max)` (end of stream is [`ReceiveError::EndOfStream`]),
//! `receive_exactly(n)`, `receive_until(separator)` and `receive_line()`, over an internal
//! buffer ([`packetwire_proto::ReceiveBuffer`]) whose limit bounds separator searches (64 KiB
//! by default, [`ReceiveError::LimitOverrun`] leaves the data in place). Sending: `send_all`,
//! `send_all_vectored`, `flush`, and `send_eof` to half-close a socket.
//!
//! Datagram sockets send and receive whole datagrams: `send`/`receive` on a connected socket,
//! `send_to`/`receive_from` with addresses, and `incoming()` as a
//! [`Stream`](futures_core::Stream). A datagram larger than the receive buffer
//! ([`DEFAULT_MAX_DATAGRAM_SIZE`] unless set) is a [`DatagramReceiveError::Truncated`] error,
//! never cut. The same sockets without a runtime are in [`crate::blocking`].
//!
//! Unix addresses are [`UnixSocketAddress`](crate::unix::UnixSocketAddress)es everywhere:
//! paths, Linux abstract names (`@name` in paths given as strings), or unnamed. The Unix
//! types exist on Linux and Android, like [`crate::unix`].
//!
//! Every stream also implements tokio's `AsyncRead`/`AsyncWrite` (feature `tokio`) and
//! futures-io's (feature `smol`), reading the internal buffer first.
//!
//! # Cancel safety
//!
//! The `receive*` methods, polling a datagram socket's [`Incoming`] stream, and `accept` are
//! cancel-safe: dropping the future loses no byte, as whatever was read stays in the stream's
//! buffer, and a datagram is taken from its socket only by the poll that returns it. The
//! stream `send*` methods are not: when the future is dropped, part of the data may have been
//! sent. A datagram send is whole or nothing.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod datagram;
mod error;
mod listener;
mod pipe;
mod resolve;
mod server;
pub(crate) mod stream;
mod tcp;
mod tcp_listener;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod udp;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_datagram;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_listener;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use crate::datagram::{IpFamily, DEFAULT_MAX_DATAGRAM_SIZE};
pub use crate::socket::{StaleSocketPolicy, ACCEPT_BACKOFF, DEFAULT_BACKLOG};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use datagram::Incoming;
pub use error::{AdoptError, ConnectError, DatagramReceiveError, ReceiveError, SendError};
pub use pipe::{pipe, pipe_with_runtime, PipeReader, PipeWriter};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use server::UnixServer;
pub use server::{ShutdownOutcome, StreamServer, TcpServer};
pub use stream::{ReadHalf, WriteHalf};
pub use tcp::{TcpConnectOptions, TcpStream, HAPPY_EYEBALLS_DELAY};
pub use tcp_listener::{TcpListener, TcpListenerOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use udp::{UdpSocket, UdpSocketOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix::{socketpair, socketpair_with_runtime, UnixConnectOptions, UnixStream};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_datagram::{UnixDatagram, UnixDatagramOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_listener::{UnixListener, UnixListenerOptions};

/// The receive vocabulary, shared with the TLS stream.
#[cfg(feature = "tls")]
pub(crate) use stream::receive_methods;

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn public_types_are_send_and_sync() {
        send_sync::<TcpStream>();
        send_sync::<UnixStream>();
        send_sync::<ReadHalf>();
        send_sync::<WriteHalf>();
        send_sync::<PipeReader>();
        send_sync::<PipeWriter>();
        send_sync::<TcpListener>();
        send_sync::<UnixListener>();
        send_sync::<TcpConnectOptions>();
        send_sync::<UnixConnectOptions>();
        send_sync::<ReceiveError>();
        send_sync::<ConnectError>();
        send_sync::<UdpSocket>();
        send_sync::<UnixDatagram>();
        send_sync::<UdpSocketOptions>();
        send_sync::<UnixDatagramOptions>();
        send_sync::<Incoming<'_, std::net::SocketAddr>>();
        send_sync::<DatagramReceiveError>();
    }

    /// Compiled, never run: every future can go to a multi-threaded executor.
    #[allow(dead_code, clippy::let_underscore_future, clippy::too_many_arguments)]
    async fn futures_are_send(
        tcp: &mut TcpStream,
        unix: &mut UnixStream,
        listener: &TcpListener,
        unix_listener: &UnixListener,
        server: &mut TcpServer,
        udp: &UdpSocket,
        dgram: &UnixDatagram,
        anc: &mut crate::unix::SocketAncillary<'_>,
    ) {
        send(&UdpSocket::bind("", 0));
        send(&UdpSocket::connect("localhost", 1));
        send(&udp.send(b""));
        send(&udp.send_to(b"", "127.0.0.1:1".parse().unwrap()));
        send(&udp.receive());
        send(&udp.receive_from());
        send(&UnixDatagram::bind("/x"));
        send(&UnixDatagram::connect("/x"));
        send(&dgram.send_to(b"", &crate::unix::UnixSocketAddress::Unnamed));
        send(&dgram.send_with_ancillary(b"", &crate::unix::SocketAncillary::new()));
        send(&dgram.receive_with_ancillary(anc));
        send(&unix.receive_with_ancillary(1, anc));
        send(&unix.send_with_ancillary(b"", &crate::unix::SocketAncillary::new()));
        send(&tcp.receive(1));
        send(&tcp.receive_exactly(1));
        send(&tcp.receive_line());
        send(&tcp.send_all(b""));
        send(&tcp.send_all_vectored(&[]));
        send(&unix.receive_until(b";"));
        send(&TcpStream::connect("localhost", 1));
        send(&TcpConnectOptions::new().connect_addrs(&[]));
        send(&UnixStream::connect("/x"));
        send(&listener.accept());
        send(&unix_listener.accept());
        send(&TcpListener::bind("", 0));
        send(&UnixListener::bind("/x"));
        send(&server.close());
        send(&server.serve_forever());
    }
}
