//! What `from_std` checks before it takes a socket, and the options every TCP stream gets.
//! Checked at once, so a wrong descriptor fails at adoption and not at the first read.

use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use socket2::{Domain, SockAddr, Type};

use super::sys;
use crate::net::AdoptError;

/// Checks that `fd` is a stream socket of one of `families` (`expected` names them).
fn check_stream_socket(
    fd: BorrowedFd<'_>,
    families: &[Domain],
    expected: &'static str,
) -> Result<(), AdoptError> {
    let socket = sys::sock(&fd);
    let ty = socket.r#type()?;
    if ty != Type::STREAM {
        return Err(AdoptError::WrongType {
            expected: "SOCK_STREAM",
            found: sys::describe_type(ty),
        });
    }
    let domain = socket.domain()?;
    if !families.contains(&domain) {
        return Err(AdoptError::WrongFamily {
            expected,
            found: sys::describe_domain(domain),
        });
    }
    Ok(())
}

/// Checks that `fd` is an IPv4 or IPv6 stream socket.
pub(crate) fn check_tcp_socket(fd: BorrowedFd<'_>) -> Result<(), AdoptError> {
    check_stream_socket(fd, &[Domain::IPV4, Domain::IPV6], "AF_INET or AF_INET6")
}

/// Checks that `fd` is an `AF_UNIX` stream socket.
pub(crate) fn check_unix_stream_socket(fd: BorrowedFd<'_>) -> Result<(), AdoptError> {
    check_stream_socket(fd, &[Domain::UNIX], "AF_UNIX")
}

/// Checks that `fd` has a peer ([`AdoptError::NotConnected`] otherwise).
pub(crate) fn check_connected(fd: BorrowedFd<'_>) -> Result<(), AdoptError> {
    match sys::sock(&fd).peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(AdoptError::NotConnected),
        Err(e) => Err(e.into()),
    }
}

/// Checks that `fd` is listening ([`AdoptError::NotListening`] otherwise).
pub(crate) fn check_listening(fd: BorrowedFd<'_>) -> Result<(), AdoptError> {
    if sys::sock(&fd).is_listener()? {
        Ok(())
    } else {
        Err(AdoptError::NotListening)
    }
}

/// `TCP_NODELAY` and `SO_KEEPALIVE`, as EasyNetwork sets them on every TCP stream.
pub(crate) fn set_stream_options(fd: BorrowedFd<'_>) -> io::Result<()> {
    let socket = sys::sock(&fd);
    socket.set_tcp_nodelay(true)?;
    socket.set_keepalive(true)
}

/// An IP socket address from socket2's.
pub(crate) fn inet_addr(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
}
