//! `accept` outcomes: EasyNetwork's accept-loop resilience, decided once for both shells.

use std::ffi::OsStr;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use rustix::net::{SocketAddrAny, SocketAddrUnix};

use super::sys;

/// How long `accept` backs off when the process or system is out of descriptors or memory
/// (EasyNetwork's accept loop sleeps 100 ms).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What an accept loop does with a failed `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// Out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): wait
    /// [`ACCEPT_BACKOFF`] and try again.
    BackOff,
    /// Caused by one peer or the network (`ECONNABORTED`, `EPROTO`, `ECONNRESET`, ...): skip
    /// that connection and accept the next.
    Skip,
    /// Anything else: return the error.
    Fatal,
}

impl AcceptFailure {
    /// Classifies an `accept` error (EasyNetwork's `ACCEPT_CAPACITY_ERRNOS` and
    /// `IGNORABLE_ACCEPT_ERRNOS`).
    pub(crate) fn of(error: &io::Error) -> Self {
        if sys::is_accept_capacity_error(error) {
            Self::BackOff
        } else if sys::is_ignorable_accept_error(error) {
            Self::Skip
        } else {
            Self::Fatal
        }
    }
}

/// The IP address of an accepted TCP peer, or `None` when the peer is already gone (no
/// address): the connection is then skipped.
pub(crate) fn tcp_peer(addr: Option<SocketAddrAny>) -> Option<SocketAddr> {
    addr.and_then(|addr| SocketAddr::try_from(addr).ok())
}

/// The address of an accepted Unix peer (usually unnamed).
pub(crate) fn unix_peer(addr: Option<SocketAddrAny>) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::unix::net::SocketAddr;
    let Some(addr) = addr.and_then(|a| SocketAddrUnix::try_from(a).ok()) else {
        return SocketAddr::from_pathname("");
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // An empty abstract name is how some kernels report an unnamed peer.
    if let Some(name) = addr.abstract_name().filter(|name| !name.is_empty()) {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(name);
    }
    match addr.path_bytes() {
        Some(path) => SocketAddr::from_pathname(OsStr::from_bytes(path)),
        None => SocketAddr::from_pathname(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    #[test]
    fn failures_are_classified() {
        let of = |e: Errno| AcceptFailure::of(&io::Error::from_raw_os_error(e.raw_os_error()));
        assert_eq!(of(Errno::MFILE), AcceptFailure::BackOff);
        assert_eq!(of(Errno::NOBUFS), AcceptFailure::BackOff);
        assert_eq!(of(Errno::CONNABORTED), AcceptFailure::Skip);
        assert_eq!(of(Errno::CONNRESET), AcceptFailure::Skip);
        assert_eq!(of(Errno::BADF), AcceptFailure::Fatal);
        assert_eq!(of(Errno::INVAL), AcceptFailure::Fatal);
    }
}
