//! Packet clients: give an address and a protocol object, then send and receive whole packets
//! (EasyNetwork's `AsyncTCPNetworkClient`, `AsyncUDPNetworkClient`, `AsyncUnixStreamClient` and
//! `AsyncUnixDatagramClient`).
//!
//! These are the async clients; they run on any [`Runtime`](crate::runtime::Runtime). The
//! blocking clients of the same names live in [`crate::blocking`] and share this module's
//! error types.

mod error;
pub(crate) mod stream_reader;

pub use error::{ClientConnectError, RecvPacketError, SendPacketError};
