//! What the async ([`crate::net`]) and blocking ([`crate::blocking`]) datagram sockets share,
//! so the two shells behave the same: the address family choice, opening, binding and
//! connecting sockets over resolved addresses, checking adopted sockets, and reading `@name`
//! paths. Plain synchronous calls: binding and connecting a datagram socket never wait.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};

use crate::net::{AdoptError, ConnectError};
use crate::os;
use crate::sockopt::{SocketFamily, SocketKind};
use crate::unix::{AddressError, UnixSocketAddress};

/// The receive buffer of a datagram socket unless set otherwise: 64 KiB, EasyNetwork's
/// `MAX_DATAGRAM_BUFSIZE`. Every UDP datagram fits (at most 65,507 bytes over IPv4 and 65,527
/// over IPv6); a larger Unix datagram is an error, never cut.
pub const DEFAULT_MAX_DATAGRAM_SIZE: usize = 64 * 1024;

/// Which IP family a UDP socket may use when a host name resolves to both (EasyNetwork's
/// `family`: `AF_UNSPEC`, `AF_INET`, `AF_INET6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IpFamily {
    /// Either: the resolver's order decides (the default).
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl IpFamily {
    /// Whether `addr` belongs to this family.
    pub fn accepts(self, addr: &SocketAddr) -> bool {
        match self {
            Self::Any => true,
            Self::V4 => addr.is_ipv4(),
            Self::V6 => addr.is_ipv6(),
        }
    }
}

/// Checks a user-chosen receive buffer size.
pub(crate) fn check_max_datagram_size(size: usize) -> usize {
    assert!(size > 0, "the datagram receive buffer must not be empty");
    size
}

/// An IP literal, with or without IPv6 brackets.
fn parse_literal(host: &str) -> Option<std::net::IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// The addresses to bind a UDP socket to for `host`: the empty host is every interface of the
/// family (`0.0.0.0`, or `::` for [`IpFamily::V6`]), a literal is itself; `None` means `host`
/// is a name to resolve.
pub(crate) fn bind_literal(host: &str, port: u16, family: IpFamily) -> Option<SocketAddr> {
    if host.is_empty() {
        let ip = match family {
            IpFamily::V6 => Ipv6Addr::UNSPECIFIED.into(),
            IpFamily::Any | IpFamily::V4 => Ipv4Addr::UNSPECIFIED.into(),
        };
        return Some(SocketAddr::new(ip, port));
    }
    parse_literal(host).map(|ip| SocketAddr::new(ip, port))
}

/// Resolves `host` on the calling thread (`getaddrinfo`), keeping the resolver's order and
/// dropping duplicates.
pub(crate) fn resolve_blocking(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Some(ip) = parse_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut unique = Vec::new();
    for addr in (host, port).to_socket_addrs()? {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    Ok(unique)
}

/// The addresses of `family` (and of `local`'s family, if given), in order.
pub(crate) fn usable(
    addrs: &[SocketAddr],
    family: IpFamily,
    local: Option<SocketAddr>,
) -> Vec<SocketAddr> {
    addrs
        .iter()
        .filter(|a| family.accepts(a))
        .filter(|a| match local {
            Some(local) => local.is_ipv4() == a.is_ipv4(),
            None => true,
        })
        .copied()
        .collect()
}

/// A new non-blocking, close-on-exec UDP socket of `addr`'s family.
fn udp_socket(addr: &SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(*addr),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )
}

/// A UDP socket bound to the first of `addrs` that can be bound. `SO_REUSEADDR` is not set:
/// two sockets bound to one port would share its datagrams.
pub(crate) fn bind_udp(host: &str, addrs: &[SocketAddr]) -> io::Result<OwnedFd> {
    let mut last_error = None;
    for addr in addrs {
        let attempt = udp_socket(addr).and_then(|socket| {
            if addr.is_ipv6() && addr.ip().is_unspecified() {
                // `::` means IPv6 only, like a TCP listener's IPv6 socket; IPv4 is `0.0.0.0`.
                socket.set_only_v6(true)?;
            }
            socket.bind(&(*addr).into())?;
            Ok(socket)
        });
        match attempt {
            Ok(socket) => return prepared(socket),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| no_address(host)))
}

fn prepared(socket: Socket) -> io::Result<OwnedFd> {
    let fd = OwnedFd::from(socket);
    prepare_udp(fd.as_fd())?;
    Ok(fd)
}

fn no_address(host: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("{host:?} has no address of the requested family"),
    )
}

/// A UDP socket connected to the first of `addrs` that works, bound to `local` first if
/// given. `addrs` is already filtered by [`usable`]; empty gives [`ConnectError::NoAddress`].
pub(crate) fn connect_udp(
    host: &str,
    addrs: &[SocketAddr],
    local: Option<SocketAddr>,
) -> Result<OwnedFd, ConnectError> {
    if addrs.is_empty() {
        return Err(ConnectError::NoAddress {
            host: host.to_owned(),
        });
    }
    let mut failures = Vec::new();
    for addr in addrs {
        let attempt = udp_socket(addr).and_then(|socket| {
            if let Some(local) = local {
                socket.bind(&local.into())?;
            }
            socket.connect(&(*addr).into())?;
            Ok(socket)
        });
        match attempt {
            Ok(socket) => return Ok(prepared(socket)?),
            Err(e) => failures.push((*addr, e)),
        }
    }
    Err(ConnectError::AllAttemptsFailed(failures))
}

/// Checks that `fd` is a datagram socket of one of `families`.
fn check_datagram_socket(
    fd: BorrowedFd<'_>,
    families: &[SocketFamily],
    expected_family: &'static str,
) -> Result<(), AdoptError> {
    let kind = os::socket_type(fd)?;
    if kind != SocketKind::Datagram {
        return Err(AdoptError::WrongType {
            expected: "SOCK_DGRAM",
            found: kind.to_string(),
        });
    }
    let family = os::socket_family(fd)?;
    if !families.contains(&family) {
        return Err(AdoptError::WrongFamily {
            expected: expected_family,
            found: family.to_string(),
        });
    }
    Ok(())
}

/// Checks that `fd` is an IPv4 or IPv6 datagram socket, and prepares it ([`prepare_udp`]).
pub(crate) fn adopt_udp(fd: &OwnedFd) -> Result<(), AdoptError> {
    check_datagram_socket(
        fd.as_fd(),
        &[SocketFamily::Inet, SocketFamily::Inet6],
        "AF_INET or AF_INET6",
    )?;
    prepare_udp(fd.as_fd())?;
    Ok(())
}

/// `SO_SELECT_ERR_QUEUE`, which libc does not export: 45 in the kernel's asm-generic header
/// and in the MIPS and PowerPC ones, 41 on SPARC (the kernel's
/// `arch/*/include/uapi/asm/socket.h`; Rust has no PA-RISC Linux target).
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_SELECT_ERR_QUEUE: i32 = 45;
/// `SO_SELECT_ERR_QUEUE` on SPARC.
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_SELECT_ERR_QUEUE: i32 = 41;

/// Non-blocking mode, and `SO_SELECT_ERR_QUEUE`: a pending socket error (an ICMP "port
/// unreachable" on a connected socket) then also reports `EPOLLPRI`, which wakes a task
/// waiting to receive even on a runtime that ignores `EPOLLERR` for readers (tokio).
pub(crate) fn prepare_udp(fd: BorrowedFd<'_>) -> io::Result<()> {
    os::set_nonblocking(fd, true)?;
    os::setsockopt_raw(
        fd,
        libc::SOL_SOCKET,
        SO_SELECT_ERR_QUEUE,
        &1i32.to_ne_bytes(),
    )
}

/// Checks that `fd` is a Unix datagram socket, and makes it non-blocking.
pub(crate) fn adopt_unix_datagram(fd: &OwnedFd) -> Result<(), AdoptError> {
    check_datagram_socket(fd.as_fd(), &[SocketFamily::Unix], "AF_UNIX")?;
    os::set_nonblocking(fd.as_fd(), true)?;
    Ok(())
}

/// The address a path names: `@name` is a Linux abstract name (write `./@name` for a file
/// whose name starts with `@`), the empty path is unnamed, anything else a pathname. The
/// same convention as the stream sockets' `connect` and `bind`; unlike
/// [`UnixSocketAddress`]'s parser, no escape is decoded.
pub(crate) fn unix_address(path: &Path) -> Result<UnixSocketAddress, AddressError> {
    match path.as_os_str().as_bytes().split_first() {
        Some((b'@', name)) => UnixSocketAddress::from_abstract_name(name),
        _ => UnixSocketAddress::from_pathname(path),
    }
}

/// A new non-blocking Unix datagram socket, bound to `local` if given
/// ([`UnixSocketAddress::Unnamed`] auto-binds), else auto-bound if `autobind`, else unnamed.
pub(crate) fn unix_datagram(
    local: Option<&UnixSocketAddress>,
    autobind: bool,
) -> io::Result<OwnedFd> {
    let fd = os::unix_socket(SocketKind::Datagram)?;
    match local {
        Some(addr) => os::bind_unix(fd.as_fd(), addr)?,
        None if autobind => {
            os::autobind(fd.as_fd())?;
        }
        None => {}
    }
    os::set_nonblocking(fd.as_fd(), true)?;
    Ok(fd)
}

/// A new non-blocking Unix datagram socket connected to `peer` (see [`unix_datagram`] for
/// the local name).
pub(crate) fn connect_unix_datagram(
    local: Option<&UnixSocketAddress>,
    autobind: bool,
    peer: &UnixSocketAddress,
) -> Result<OwnedFd, ConnectError> {
    let fd = unix_datagram(local, autobind)?;
    os::connect_unix(fd.as_fd(), peer)?;
    Ok(fd)
}

/// A connected pair of non-blocking Unix datagram sockets.
pub(crate) fn unix_datagram_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = os::socketpair_dgram()?;
    os::set_nonblocking(a.as_fd(), true)?;
    os::set_nonblocking(b.as_fd(), true)?;
    Ok((a, b))
}

/// The first delay before sending again to a Unix datagram receiver whose queue was full.
pub(crate) const FULL_QUEUE_RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(1);
/// The longest delay between two such attempts.
pub(crate) const FULL_QUEUE_RETRY_MAX: std::time::Duration = std::time::Duration::from_millis(50);

/// Checks that a datagram send went out whole (it always does, or fails: datagram sends
/// are atomic).
pub(crate) fn check_sent(sent: usize, len: usize) -> io::Result<()> {
    if sent == len {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("only {sent} of {len} bytes of the datagram were sent"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_filter_addresses() {
        let addrs: Vec<SocketAddr> = ["127.0.0.1:1", "[::1]:1", "10.0.0.1:1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(usable(&addrs, IpFamily::Any, None), addrs);
        assert_eq!(usable(&addrs, IpFamily::V6, None), [addrs[1]]);
        assert_eq!(usable(&addrs, IpFamily::V4, None), [addrs[0], addrs[2]]);
        let local_v6 = "[::]:0".parse().ok();
        assert_eq!(usable(&addrs, IpFamily::Any, local_v6), [addrs[1]]);
        assert!(usable(&addrs, IpFamily::V4, local_v6).is_empty());
    }

    #[test]
    fn bind_literals() {
        assert_eq!(
            bind_literal("", 5, IpFamily::Any),
            Some("0.0.0.0:5".parse().unwrap())
        );
        assert_eq!(
            bind_literal("", 5, IpFamily::V6),
            Some("[::]:5".parse().unwrap())
        );
        assert_eq!(
            bind_literal("[::1]", 5, IpFamily::Any),
            Some("[::1]:5".parse().unwrap())
        );
        assert_eq!(bind_literal("localhost", 5, IpFamily::Any), None);
    }

    #[test]
    fn unix_paths() {
        assert_eq!(
            unix_address(Path::new("@name")).unwrap(),
            UnixSocketAddress::Abstract(b"name".to_vec())
        );
        assert_eq!(
            unix_address(Path::new("./@name")).unwrap(),
            UnixSocketAddress::Pathname("./@name".into())
        );
        assert!(unix_address(Path::new("")).unwrap().is_unnamed());
        assert!(unix_address(Path::new("a\0b")).is_err());
    }
}
