//! Unix socket extras: descriptor passing and credentials ([`SocketAncillary`]), addresses
//! with Linux's abstract namespace ([`UnixSocketAddress`]), peer credentials, and blocking
//! helpers on the standard library's Unix sockets ([`UnixStreamExt`], [`UnixDatagramExt`]).
//!
//! The system calls behind them live in [`crate::os`], shared with the async runtimes.
//!
//! ```
//! use std::io::IoSlice;
//! use std::os::unix::net::UnixDatagram;
//! use packetwire::unix::{SocketAncillary, UnixDatagramExt};
//!
//! // Pass one end of a pipe to the other side of a socketpair.
//! let (left, right) = UnixDatagram::pair()?;
//! let (_reader, writer) = packetwire::os::pipe()?;
//! let mut out = SocketAncillary::new();
//! out.add_fd(&writer);
//! left.send_with_ancillary(&[IoSlice::new(b"take this")], &out)?;
//!
//! let mut anc = SocketAncillary::new();
//! let mut buf = [0u8; 32];
//! let meta = right.recv_with_ancillary(&mut buf, &mut anc)?;
//! assert_eq!(&buf[..meta.len], b"take this");
//! let fds = anc.take_fds(); // owned: closed when dropped
//! assert_eq!(fds.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod address;
pub(crate) mod ancillary;
mod ext;

pub use crate::os::RecvError;
pub use address::{AddressError, UnixSocketAddress};
pub use ancillary::{AncillaryMessage, Credentials, RecvMeta, Rights, SocketAncillary};
pub use ext::{bind_datagram, bind_listener, UnixDatagramExt, UnixStreamExt};
