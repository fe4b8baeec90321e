//! # packetwire
//!
//! Typed packets over sockets. Pick a serializer, and send and receive whole packets.
//!
//! This crate re-exports the sans-IO protocol core, [`packetwire_proto`], as [`proto`] and at
//! its root: serializers, wrappers, converters, protocol objects and their errors. On top of it:
//!
//! - [`client`]: async packet clients (`TcpClient`, `UdpClient`, `UnixStreamClient`,
//!   `UnixDatagramClient`): connect or adopt a socket, `send_packet`, `recv_packet` with
//!   timeouts, `iter_received_packets`, ancillary data, a `Stream` and a `Sink`; the blocking
//!   clients of the same names are in [`blocking`];
//! - `server` (Linux): packet servers over TCP (optionally TLS), UDP and Unix sockets,
//!   driven by one request handler, async or standalone (blocking);
//! - [`runtime`]: the narrow seam to async runtimes ([`runtime::Runtime`]), with tokio
//!   (feature `tokio`, on by default) and smol (feature `smol`);
//! - [`net`]: async byte streams, datagram sockets (UDP, Unix), listeners and servers over
//!   TCP, UDP, Unix sockets and pipes, with AnyIO/asyncio semantics;
//! - [`blocking`]: the same sockets on plain threads, with timeouts and the `std::io` traits;
//!   no runtime needed.
//! - `tls` (feature `tls`): TLS streams, connectors and listeners over TCP with rustls.
//!
//! ```text
//!  socket ──▶ AsyncFdIo (runtime seam) ──▶ ReceiveBuffer (sans-IO) ──▶ receive / receive_until
//!                                                                     ──▶ StreamSerializer ──▶ packet
//!  packet ──▶ converter ──▶ serializer (+ wrappers) ──▶ framed bytes ──▶ socket
//! ```
//!
//! A client and a server, on tokio:
//!
//! ```
//! # #[cfg(all(feature = "tokio", feature = "json", any(target_os = "linux", target_os = "android")))]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use packetwire::client::TcpClient;
//! use packetwire::server::{EchoHandler, TcpServer};
//! use packetwire::{JsonSerializer, StreamProtocol};
//! use serde_json::{json, Value};
//!
//! let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
//! let server = TcpServer::bind("127.0.0.1", 0, protocol.clone(), EchoHandler::<Value>::new()).await?;
//! let port = server.local_addrs()[0].port();
//! let serving = tokio::spawn({
//!     let server = server.clone();
//!     async move { server.serve_forever().await }
//! });
//!
//! let client = TcpClient::connect("127.0.0.1", port, protocol).await?;
//! client.send_packet(&json!({"hello": ["world", 1, 2.5]})).await?;
//! assert_eq!(client.recv_packet().await?, json!({"hello": ["world", 1, 2.5]}));
//! client.close().await;
//!
//! server.shutdown().await;
//! server.server_close().await;
//! serving.await.unwrap()?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! ## Cancel safety
//!
//! The async clients' `recv_packet` is cancel-safe: dropping its future (in a `select!`, or
//! after a timeout) loses no byte and no packet; the next call returns the packet. Their
//! `send_packet` is not: a dropped send may have written part of a packet, and the stream
//! client should then be closed. The async byte streams follow the same rule (`receive*` are
//! cancel-safe, `send_all` is not).
//!
//! On Linux, [`os`] holds every system call made on a socket, written once over borrowed
//! descriptors for the blocking and async shells; [`unix`] adds descriptor passing,
//! credentials and abstract addresses for Unix sockets; [`sockopt`] has typed socket options.
//!
//! ```
//! # #[cfg(feature = "json")]
//! # {
//! use bytes::BytesMut;
//! use packetwire::{JsonSerializer, StreamProtocol};
//!
//! let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
//! let mut wire = BytesMut::new();
//! protocol.encode(&serde_json::json!([1, 2, 3]), &mut wire).unwrap();
//! assert_eq!(&wire[..], b"[1,2,3]\n");
//! # }
//! ```
//!
//! ## Features
//!
//! - `tokio` (default): [`runtime::TokioRuntime`], and tokio's `AsyncRead`/`AsyncWrite` on
//!   every stream.
//! - `smol`: [`runtime::SmolRuntime`], and futures-io's `AsyncRead`/`AsyncWrite` on every
//!   stream.
//! - `tls`: the `tls` module, TLS over TCP with rustls and its `ring` crypto provider (given
//!   explicitly: the process-wide default provider is never needed); works on every runtime.
//! - `tls-webpki-roots`: Mozilla's root certificates for TLS clients (implies `tls`).
//! - the serializer features of [`packetwire_proto`]: `json`, `msgpack`, `cbor`, `postcard`,
//!   `pickle`, `base64`, `zlib`, `bz2`, `zstd`, `codec`.
//!
//! With neither runtime feature, the streams still build; pass a [`runtime::Runtime`] of your
//! own to their `*_with_runtime` constructors and options, or use [`blocking`].
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod blocking;
pub mod client;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod datagram;
pub mod net;
pub mod runtime;
mod socket;
mod sync;
#[cfg(feature = "tls")]
pub mod tls;

pub use packetwire_proto as proto;
pub use packetwire_proto::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod os;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod server;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod sockopt;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod unix;
