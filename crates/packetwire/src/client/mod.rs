//! Packet clients: give an address and a protocol object, then send and receive whole packets
//! (EasyNetwork's `AsyncTCPNetworkClient`, `AsyncUDPNetworkClient`, `AsyncUnixStreamClient` and
//! `AsyncUnixDatagramClient`).
//!
//! These are the async clients; they run on any [`Runtime`](crate::runtime::Runtime). The
//! blocking clients of the same names live in [`crate::blocking`] and share this module's
//! error types.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod datagram;
mod error;
mod stream;
pub(crate) mod stream_reader;
mod tcp;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_stream;

pub use error::{ClientConnectError, RecvPacketError, SendPacketError};
pub use stream::{StreamPacketIter, StreamPacketSink, StreamPackets};
pub use tcp::{TcpClient, TcpClientOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_stream::{UnixStreamClient, UnixStreamClientOptions};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod udp;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_datagram;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use datagram::{DatagramPacketIter, DatagramPacketSink, DatagramPackets};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use udp::{UdpClient, UdpClientOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_datagram::{UnixDatagramClient, UnixDatagramClientOptions};
