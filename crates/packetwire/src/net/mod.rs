//! Async byte streams, listeners and servers over TCP, Unix sockets and pipes.
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
//! Receiving: `receive(max)` (end of stream is [`ReceiveError::EndOfStream`]),
//! `receive_exactly(n)`, `receive_until(separator)` and `receive_line()`, over an internal
//! buffer ([`packetwire_proto::ReceiveBuffer`]) whose limit bounds separator searches (64 KiB
//! by default, [`ReceiveError::LimitOverrun`] leaves the data in place). Sending: `send_all`,
//! `send_all_vectored`, `flush`, and `send_eof` to half-close a socket.
//!
//! Every stream also implements tokio's `AsyncRead`/`AsyncWrite` (feature `tokio`) and
//! futures-io's (feature `smol`), reading the internal buffer first.
//!
//! # Cancel safety
//!
//! The `receive*` methods and `accept` are cancel-safe: dropping the future loses no byte, as
//! whatever was read stays in the stream's buffer. The `send*` methods are not: when the future
//! is dropped, part of the data may have been sent.

mod error;
mod listener;
mod pipe;
mod resolve;
mod server;
mod stream;
mod sys;
mod tcp;
mod tcp_listener;
mod unix;
mod unix_listener;

pub use error::{AdoptError, ConnectError, ReceiveError, SendError};
pub use listener::{ACCEPT_BACKOFF, DEFAULT_BACKLOG};
pub use pipe::{pipe, pipe_with_runtime, PipeReader, PipeWriter};
pub use server::{ShutdownOutcome, StreamServer, TcpServer, UnixServer};
pub use stream::{ReadHalf, WriteHalf};
pub use tcp::{TcpConnectOptions, TcpStream, HAPPY_EYEBALLS_DELAY};
pub use tcp_listener::{TcpListener, TcpListenerOptions};
pub use unix::{socketpair, socketpair_with_runtime, UnixConnectOptions, UnixStream};
pub use unix_listener::{StaleSocketPolicy, UnixListener, UnixListenerOptions};
