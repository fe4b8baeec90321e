//! Socket code that does not depend on how the caller waits: shared by the async shell
//! ([`crate::net`], which waits through a runtime) and the blocking shell
//! ([`crate::blocking`], which waits in `poll(2)`).
//!
//! Nothing here blocks on readiness or knows a runtime. Sockets are created non-blocking and
//! close-on-exec; each shell adds its own way of waiting.
//!
//! | module | what |
//! |---|---|
//! | [`sys`] | system calls over borrowed descriptors, errno classification, Unix addresses |
//! | [`resolve`] | IP literals, `getaddrinfo`, RFC 8305 address ordering, "all interfaces" |
//! | [`adopt`] | the checks `from_std` runs, and the options every TCP stream gets |
//! | [`connect`] | starting a TCP or Unix `connect` and reading how it went |
//! | [`listen`] | listening sockets with their options, stale Unix socket files, inode-checked unlink |
//! | [`accept`] | what to do with an `accept` error, and the peer's address |
//! | [`stream`] | the receive requests over the sans-IO buffer, and gathered-write bookkeeping |

pub(crate) mod accept;
pub(crate) mod adopt;
pub(crate) mod connect;
pub(crate) mod listen;
pub(crate) mod resolve;
pub(crate) mod stream;
pub(crate) mod sys;

pub use accept::ACCEPT_BACKOFF;
pub use listen::{StaleSocketPolicy, DEFAULT_BACKLOG};
