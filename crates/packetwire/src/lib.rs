//! # packetwire
//!
//! Typed packets over sockets. Pick a serializer, and send and receive whole packets.
//!
//! This crate re-exports the sans-IO protocol core, [`packetwire_proto`], as [`proto`] and at
//! its root: serializers, wrappers, converters, protocol objects and their errors. On top of it:
//!
//! - [`runtime`]: the narrow seam to async runtimes ([`runtime::Runtime`]), with tokio
//!   (feature `tokio`, on by default) and smol (feature `smol`);
//! - [`net`]: async byte streams, datagram sockets (UDP, Unix), listeners and servers over
//!   TCP, UDP, Unix sockets and pipes, with AnyIO/asyncio semantics;
//! - [`blocking`]: the same sockets on plain threads, with timeouts and the `std::io` traits;
//!   no runtime needed.
//! - `tls` (feature `tls`): TLS streams, connectors and listeners over TCP with rustls.
//! - `server` (Linux): packet servers over TCP (optionally TLS), UDP and Unix sockets,
//!   driven by one request handler, async or standalone (blocking).
//!
//! ```text
//!  socket ──▶ AsyncFdIo (runtime seam) ──▶ ReceiveBuffer (sans-IO) ──▶ receive / receive_until
//!                                                                     ──▶ StreamSerializer ──▶ packet
//! ```
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
