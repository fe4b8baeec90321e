//! # packetwire
//!
//! Typed packets over sockets. Pick a serializer, and send and receive whole packets.
//!
//! This crate re-exports the sans-IO protocol core, [`packetwire_proto`], as [`proto`] and at
//! its root: serializers, wrappers, converters, protocol objects and their errors. Transports,
//! clients and servers build on it.
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
