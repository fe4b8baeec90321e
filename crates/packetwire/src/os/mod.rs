//! The operating-system layer: every system call packetwire makes on a socket, written once.
//!
//! Each call is a free function over a [`BorrowedFd`](std::os::fd::BorrowedFd) taking plain
//! buffers. It works on blocking and non-blocking descriptors alike, so the blocking shell and
//! the async shells share it: on a non-blocking descriptor a call that cannot proceed fails
//! with [`WouldBlock`](std::io::ErrorKind::WouldBlock), the runtime waits for readiness
//! (tokio's `AsyncFd`, smol's `Async`) and calls again. `EINTR` is retried inside; sends use
//! `MSG_NOSIGNAL` so a closed peer is an error, never a `SIGPIPE`. Nothing here keeps state
//! between calls, so a call abandoned between two retries (a cancelled future) loses nothing.
//!
//! This is also the only module with `unsafe` code (the workspace denies it elsewhere): the
//! `sendmsg`/`recvmsg` calls with ancillary data, the adoption of received descriptors,
//! `getsockname`/`getpeername` for Unix addresses, and raw `getsockopt`/`setsockopt`, all
//! through `libc`. Everything else goes through rustix's safe API. Each `unsafe` block carries
//! a `SAFETY:` comment. (rustix's own `recvmsg` is not used for ancillary data because it reads
//! `SCM_CREDENTIALS` into a type whose pid cannot be 0, which the kernel does send; and its
//! conversion to a Unix address misreads unnamed addresses.)
//!
//! | Group | Functions |
//! |---|---|
//! | ancillary data (Unix) | [`send_with_ancillary`], [`recv_with_ancillary`], [`recv_vectored_with_ancillary`] |
//! | datagrams | [`recv_datagram`], [`recv_from`], [`send_to`], [`recv_from_unix`], [`send_to_unix`] |
//! | plain send and receive | [`send`], [`send_vectored`], [`recv`] |
//! | Unix addresses | [`bind_unix`], [`connect_unix`], [`autobind`], [`unix_local_address`], [`unix_peer_address`] |
//! | credentials | [`peer_credentials`], [`set_passcred`], [`passcred`] |
//! | identity checks | [`socket_type`], [`socket_family`], [`is_connected`], [`ensure_socket`], [`ensure_connected`] |
//! | options | [`SocketOptions`], [`getsockopt_raw`], [`setsockopt_raw`] |
//! | descriptors | [`socketpair_stream`], [`socketpair_dgram`], [`unix_socket`], [`listen`], [`pipe`], [`set_nonblocking`] |
//!
//! # In a readiness loop
//!
//! Receive errors are [`RecvError`]; readiness APIs want [`std::io::Result`], so convert on the
//! way in and back on the way out, losing nothing (see [`RecvError`]). With tokio it reads
//! `async_fd.async_io(Interest::READABLE, |fd| ...).await`; here `try_io` stands for that
//! closure-taking readiness call:
//!
//! ```
//! use std::io::{self, IoSlice};
//! use std::os::fd::AsFd;
//! use packetwire::os::{self, RecvError};
//! use packetwire::unix::SocketAncillary;
//!
//! fn try_io<R>(io: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
//!     io() // a runtime would wait for readiness and retry on `WouldBlock`
//! }
//!
//! let (a, b) = os::socketpair_dgram()?;
//! os::send_with_ancillary(a.as_fd(), &[IoSlice::new(b"0123456789")], &SocketAncillary::new(), None)?;
//! let (mut buf, mut anc) = ([0u8; 4], SocketAncillary::new());
//! let result = try_io(|| {
//!     os::recv_with_ancillary(b.as_fd(), &mut buf, &mut anc).map_err(io::Error::from)
//! })
//! .map_err(RecvError::from);
//! assert!(matches!(result, Err(RecvError::DatagramTruncated { buffer_len: 4 })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same loop by hand, on a non-blocking socketpair:
//!
//! ```
//! use std::io::IoSlice;
//! use std::os::fd::AsFd;
//! use packetwire::os;
//! use packetwire::unix::SocketAncillary;
//!
//! let (a, b) = os::socketpair_dgram()?;
//! os::set_nonblocking(b.as_fd(), true)?;
//! let mut anc = SocketAncillary::new();
//! let mut buf = [0u8; 64];
//! assert!(os::recv_with_ancillary(b.as_fd(), &mut buf, &mut anc).unwrap_err().is_would_block());
//!
//! os::send_with_ancillary(a.as_fd(), &[IoSlice::new(b"ready")], &SocketAncillary::new(), None)?;
//! let meta = loop {
//!     match os::recv_with_ancillary(b.as_fd(), &mut buf, &mut anc) {
//!         Err(e) if e.is_would_block() => std::thread::yield_now(), // a runtime would wait here
//!         result => break result?,
//!     }
//! };
//! assert_eq!(&buf[..meta.len], b"ready");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![allow(unsafe_code)]

pub(crate) mod cmsg;
mod error;
mod fd;
mod info;
mod msg;
mod net;
mod sockaddr;
mod sockopt;

pub use error::RecvError;
pub use fd::{listen, pipe, set_nonblocking, socketpair_dgram, socketpair_stream, unix_socket};
pub use info::{ensure_connected, ensure_socket, is_connected, socket_family, socket_type};
pub use msg::{recv_vectored_with_ancillary, recv_with_ancillary, send_with_ancillary};
pub use net::{
    autobind, bind_unix, connect_unix, recv, recv_datagram, recv_from, recv_from_unix, send,
    send_to, send_to_unix, send_vectored, unix_local_address, unix_peer_address,
};
pub(crate) use sockopt::current_credentials;
pub use sockopt::{
    getsockopt_raw, passcred, peer_credentials, set_passcred, setsockopt_raw, SocketOptions,
};
