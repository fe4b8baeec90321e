//! The blocking shell: the sockets of [`crate::net`] with the same vocabulary, for code
//! without an async runtime. Every call blocks the calling thread, up to the socket's timeouts.
//!
//! | | UDP | Unix datagram |
//! |---|---|---|
//! | socket | [`UdpSocket`] | [`UnixDatagram`] |
//! | open | [`UdpSocket::bind`], [`UdpSocket::connect`], [`UdpSocketOptions`] | [`UnixDatagram::bind`], [`UnixDatagram::connect`], [`UnixDatagram::pair`], [`UnixDatagramOptions`] |
//! | adopt | [`UdpSocket::from_std`] | [`UnixDatagram::from_std`] |
//! | iterate | [`UdpSocket::incoming`] → [`Incoming`] | [`UnixDatagram::incoming`] → [`Incoming`] |
//!
//! The system calls are those of the async shell ([`crate::os`]), on a descriptor kept in
//! non-blocking mode: a call that would block waits for readiness with `poll(2)`, until the
//! socket's receive or send timeout if it has one. So a timeout is a deadline for the whole
//! call, a zero timeout means "only what is already there", and several threads can share a
//! socket (every method but the setters takes `&self`).

#[cfg(any(target_os = "linux", target_os = "android"))]
mod datagram;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod udp;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix_datagram;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use datagram::Incoming;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use udp::{UdpSocket, UdpSocketOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use unix_datagram::{UnixDatagram, UnixDatagramOptions};
