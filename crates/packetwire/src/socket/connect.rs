//! Opening connections: the non-blocking `connect` calls and how their results read. Waiting
//! for a connection in progress, and the overall timeout, are the shells' business.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rustix::io::Errno;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::sys;
use crate::net::ConnectError;

/// How long to wait before retrying a Unix `connect` that found the listener's backlog full
/// (`EAGAIN`: Linux offers no readiness event for it). Doubles up to
/// [`BACKLOG_RETRY_MAX`].
pub(crate) const BACKLOG_RETRY_MIN: Duration = Duration::from_millis(1);
/// The longest wait between two Unix `connect` retries.
pub(crate) const BACKLOG_RETRY_MAX: Duration = Duration::from_millis(50);

/// How far a non-blocking `connect` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectStep {
    /// Connected at once.
    Connected,
    /// In progress: wait for writability, then read [`sys::connect_result`].
    InProgress,
    /// A Unix listener's backlog is full: wait a little and call `connect` again.
    BacklogFull,
}

/// The addresses worth trying: with a local address, only those of its family.
/// [`ConnectError::NoAddress`] if none is left.
pub(crate) fn usable_addrs(
    host: &str,
    addrs: &[SocketAddr],
    local: Option<SocketAddr>,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let usable: Vec<SocketAddr> = match local {
        Some(local) => addrs
            .iter()
            .filter(|a| a.is_ipv4() == local.is_ipv4())
            .copied()
            .collect(),
        None => addrs.to_vec(),
    };
    if usable.is_empty() {
        return Err(ConnectError::NoAddress {
            host: host.to_owned(),
        });
    }
    Ok(usable)
}

/// Starts connecting a new non-blocking TCP socket to `addr`, bound to `local` first if given.
pub(crate) fn start_tcp(
    addr: SocketAddr,
    local: Option<SocketAddr>,
) -> io::Result<(Socket, ConnectStep)> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    if let Some(local) = local {
        socket.bind(&local.into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => Ok((socket, ConnectStep::Connected)),
        Err(e) if sys::is_in_progress(&e) => Ok((socket, ConnectStep::InProgress)),
        Err(e) => Err(e),
    }
}

/// A new non-blocking Unix stream socket, bound to `local` (a path or `@name`) if given.
pub(crate) fn unix_socket(local: Option<&Path>) -> io::Result<Socket> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
    if let Some(local) = local {
        socket.bind(&sys::unix_sockaddr(local)?)?;
    }
    Ok(socket)
}

/// One non-blocking `connect` of a Unix stream socket.
pub(crate) fn try_unix(socket: &Socket, addr: &SockAddr) -> io::Result<ConnectStep> {
    match socket.connect(addr) {
        Ok(()) => Ok(ConnectStep::Connected),
        Err(e) if sys::errno(&e) == Some(Errno::INPROGRESS) => Ok(ConnectStep::InProgress),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ConnectStep::BacklogFull),
        Err(e) => Err(e),
    }
}

/// The next wait between Unix `connect` retries.
pub(crate) fn next_backlog_wait(wait: Duration) -> Duration {
    (wait * 2).min(BACKLOG_RETRY_MAX)
}
