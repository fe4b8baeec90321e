//! Blocking sockets: the vocabulary of [`crate::net`] on plain threads, no runtime.
//!
//! | | TCP | Unix stream |
//! |---|---|---|
//! | stream | [`TcpStream`] | [`UnixStream`] |
//! | open | [`TcpStream::connect`], [`TcpConnectOptions`] | [`UnixStream::connect`], [`UnixConnectOptions`], [`socketpair`] |
//! | adopt | [`TcpStream::from_std`] | [`UnixStream::from_std`] |
//! | listen | [`TcpListener`], [`TcpListenerOptions`] | [`UnixListener`], [`UnixListenerOptions`] |
//!
//! | | UDP | Unix datagram |
//! |---|---|---|
//! | socket | [`UdpSocket`] | [`UnixDatagram`] |
//! | open | [`UdpSocket::bind`], [`UdpSocket::connect`], [`UdpSocketOptions`] | [`UnixDatagram::bind`], [`UnixDatagram::connect`], [`UnixDatagram::pair`], [`UnixDatagramOptions`] |
//! | adopt | [`UdpSocket::from_std`] | [`UnixDatagram::from_std`] |
//! | iterate | [`UdpSocket::incoming`] → [`Incoming`] | [`UnixDatagram::incoming`] → [`Incoming`] |
//!
//! The methods, options, errors and rules are those of the async types: `receive(max)`,
//! `receive_exactly(n)`, `receive_until(separator)` and `receive_line()` over the same
//! sans-IO buffer ([`packetwire_proto::ReceiveBuffer`], 64 KiB limit by default,
//! [`ReceiveError::LimitOverrun`] leaves the data in place, [`ReceiveError::IncompleteRead`]
//! at the end of the stream), `send_all`, `send_all_vectored`, `flush` and `send_eof`; the same
//! socket options, `from_std` checks and listener behaviour (backlog 100, IPv4 + IPv6-only
//! sockets for every interface, stale Unix socket files, inode-checked unlink, `accept`
//! back-off). The socket code itself is shared with the async shell; only the waiting
//! differs.
//!
//! What the blocking shell adds is time: the async shell leaves timeouts to the runtime
//! (`runtime::timeout`), here every stream has a receive timeout and a send timeout
//! (`set_receive_timeout`, `set_send_timeout`), every call a `*_within` variant with its own
//! timeout, every listener an accept timeout, and connects an overall timeout. A timeout is a
//! budget for the whole call; it ends in [`ReceiveError::TimedOut`], [`SendError::TimedOut`],
//! [`ConnectError::TimedOut`] or an [`io::Error`](std::io::Error) of kind
//! [`TimedOut`](std::io::ErrorKind::TimedOut), and a timed out receive loses no byte.
//!
//! Streams also implement [`std::io::Read`], [`std::io::BufRead`] (over the internal buffer)
//! and [`std::io::Write`]. To receive in one thread while another sends, split a stream into
//! its [`ReadHalf`] and [`WriteHalf`].
//!
//! ```
//! use std::io::IoSlice;
//! use packetwire::blocking::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1", 0)?;
//! let port = listener.local_addrs()[0].port();
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let (stream, _peer) = listener.accept()?;
//!     let (mut rx, mut tx) = stream.into_split();
//!     while let Ok(line) = rx.receive_line() {
//!         tx.send_all(&line)?; // echo
//!     }
//!     Ok(())
//! });
//!
//! let mut client = TcpStream::connect("127.0.0.1", port)?;
//! client.send_all_vectored(&[IoSlice::new(b"hello, "), IoSlice::new(b"world\n")])?;
//! assert_eq!(client.receive_line()?, &b"hello, world\n"[..]);
//! client.send_eof()?;
//! assert!(client.receive(1).unwrap_err().is_end_of_stream());
//! server.join().unwrap()?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! # How it waits
//!
//! Every socket is in non-blocking mode. A call tries the system call first, and on
//! `WouldBlock` waits in `poll(2)` until the socket is ready or the deadline passes. So the
//! two halves of a stream work at the same time from two threads, and a listener waits on all
//! its sockets at once.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod datagram;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod datagram_client;
mod listener;
mod server;
mod stream;
mod stream_client;
mod tcp;
mod tcp_client;
mod tcp_listener;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod udp;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod udp_client;
mod unix;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_datagram;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_datagram_client;
mod unix_listener;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_stream_client;
pub(crate) mod wait;

pub use crate::client::{ClientConnectError, RecvPacketError, SendPacketError};
pub use crate::net::{AdoptError, ConnectError, ReceiveError, SendError};
pub use crate::socket::{StaleSocketPolicy, ACCEPT_BACKOFF, DEFAULT_BACKLOG};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use datagram::Incoming;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use server::UnixServer;
pub use server::{ServerStopper, ShutdownOutcome, StreamServer, TcpServer, ABORT_WAIT};
pub use stream::{ReadHalf, WriteHalf};
pub use stream_client::StreamPacketIter;
pub use tcp::{TcpConnectOptions, TcpStream};
pub use tcp_client::{TcpClient, TcpClientOptions};
pub use tcp_listener::{TcpListener, TcpListenerOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use udp::{UdpSocket, UdpSocketOptions};
pub use unix::{socketpair, UnixConnectOptions, UnixStream};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_datagram::{UnixDatagram, UnixDatagramOptions};
pub use unix_listener::{UnixListener, UnixListenerOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_stream_client::{UnixStreamClient, UnixStreamClientOptions};

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use datagram_client::{DatagramPacketIter, DatagramPackets};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use udp_client::{UdpClient, UdpClientOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_datagram_client::{UnixDatagramClient, UnixDatagramClientOptions};

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        send_sync::<TcpStream>();
        send_sync::<UnixStream>();
        send_sync::<ReadHalf>();
        send_sync::<WriteHalf>();
        send_sync::<TcpListener>();
        send_sync::<UnixListener>();
        send_sync::<TcpConnectOptions>();
        send_sync::<UnixConnectOptions>();
        send_sync::<TcpListenerOptions>();
        send_sync::<UnixListenerOptions>();
    }
}
