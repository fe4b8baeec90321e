//! # packetwire
//!
//! Typed packets over sockets. Pick a serializer, and send and receive whole packets.
//!
//! This crate re-exports the sans-IO protocol core, [`packetwire_proto`], as [`proto`] and at
//! its root: serializers, wrappers, converters, protocol objects and their errors. Transports,
//! clients and servers build on it.
//!
//! On Linux, [`os`] holds every system call made on a socket, written once over borrowed
//! descriptors for the blocking and async shells; [`unix`] adds descriptor passing,
//! credentials and abstract addresses for Unix sockets; [`sockopt`] has typed socket options.
//!
//! ```
//! use bytes::BytesMut;
//! use packetwire::{JsonSerializer, StreamProtocol};
//!
//! let protocol = StreamProtocol::new(JsonSerializer::<serde_json::Value>::new());
//! let mut wire = BytesMut::new();
//! protocol.encode(&serde_json::json!([1, 2, 3]), &mut wire).unwrap();
//! assert_eq!(&wire[..], b"[1,2,3]\n");
//! ```

pub use packetwire_proto as proto;
pub use packetwire_proto::*;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod os;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod sockopt;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod unix;
