//! Non-blocking system calls over borrowed descriptors, written once: the async shell runs
//! them through the runtime seam ([`crate::runtime::AsyncFdIo`]), the blocking shell between
//! `poll(2)` waits. Safe wrappers only: `rustix` and `socket2`.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendFlags};
use socket2::{SockAddr, SockRef};

/// The most buffers one `sendmsg`/`writev` takes (`IOV_MAX` on Linux).
pub(crate) const IOV_MAX: usize = 1024;

/// What a descriptor is, which decides the system calls used on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A connected stream socket: `send`/`sendmsg` with `MSG_NOSIGNAL`, `shutdown`.
    Socket,
    /// A pipe, FIFO or character device: `write`/`writev`.
    Pipe,
}

pub(crate) fn errno(error: &io::Error) -> Option<Errno> {
    Errno::from_io_error(error)
}

fn retry<T>(mut call: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(Errno::INTR) => continue,
            result => return result.map_err(io::Error::from),
        }
    }
}

pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    retry(|| rustix::io::read(fd, &mut *buf))
}

/// A read from a connected stream socket that also says whether it drained the socket: it
/// returned fewer bytes than `buf` holds, and (on a Unix socket, `unix`) no control data
/// made it stop early. A Unix stream read ends at a message that carried descriptors (or,
/// with `SO_PASSCRED`, at a message from another writer) with more bytes still queued; with
/// no control buffer given, the kernel discards that control data and flags it with
/// `MSG_CTRUNC`, which this call takes as "maybe not drained". (TCP urgent data can also end
/// a read early; packetwire never reads it, like tokio's streams, which drain the same way.)
pub(crate) fn read_stream(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    unix: bool,
) -> io::Result<(usize, bool)> {
    let len = buf.len();
    if !unix {
        let n = read(fd, buf)?;
        return Ok((n, n > 0 && n < len));
    }
    let received = retry(|| {
        rustix::net::recvmsg(
            fd,
            &mut [io::IoSliceMut::new(&mut *buf)],
            &mut rustix::net::RecvAncillaryBuffer::default(),
            rustix::net::RecvFlags::CMSG_CLOEXEC,
        )
    })?;
    let n = received.bytes;
    let clean = !received.flags.contains(rustix::net::ReturnFlags::CTRUNC);
    Ok((n, n > 0 && n < len && clean))
}

pub(crate) fn write(fd: BorrowedFd<'_>, kind: FdKind, buf: &[u8]) -> io::Result<usize> {
    match kind {
        // No SIGPIPE when the peer is gone: the caller gets EPIPE.
        FdKind::Socket => retry(|| rustix::net::send(fd, buf, SendFlags::NOSIGNAL)),
        FdKind::Pipe => retry(|| rustix::io::write(fd, buf)),
    }
}

pub(crate) fn write_vectored(
    fd: BorrowedFd<'_>,
    kind: FdKind,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    match kind {
        FdKind::Socket => retry(|| {
            rustix::net::sendmsg(
                fd,
                bufs,
                &mut SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL,
            )
        }),
        FdKind::Pipe => retry(|| rustix::io::writev(fd, bufs)),
    }
}

pub(crate) fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    retry(|| rustix::net::shutdown(fd, rustix::net::Shutdown::Write))
}

pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    retry(|| rustix::io::ioctl_fionbio(fd, true))
}

/// Accepts one connection, non-blocking and close-on-exec.
pub(crate) fn accept(
    fd: BorrowedFd<'_>,
) -> io::Result<(OwnedFd, Option<rustix::net::SocketAddrAny>)> {
    use rustix::net::SocketFlags;
    retry(|| rustix::net::acceptfrom_with(fd, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC))
}

/// The second half of a non-blocking `connect`: the pending error if it failed, `WouldBlock`
/// while it is still going on, `Ok(0)` once connected.
pub(crate) fn connect_result(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let socket = SockRef::from(&fd);
    if let Some(error) = socket.take_error()? {
        return Err(error);
    }
    match socket.peer_addr() {
        Ok(_) => Ok(0),
        Err(e) if errno(&e) == Some(Errno::NOTCONN) => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

/// Whether a `connect` error only means "in progress".
pub(crate) fn is_in_progress(error: &io::Error) -> bool {
    matches!(errno(error), Some(Errno::INPROGRESS)) || error.kind() == io::ErrorKind::WouldBlock
}

/// `accept` errors caused by a lack of resources: back off and try again (EasyNetwork's
/// `ACCEPT_CAPACITY_ERRNOS`).
pub(crate) fn is_accept_capacity_error(error: &io::Error) -> bool {
    matches!(
        errno(error),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// `accept` errors caused by one peer (or the network), not by the listener: skip the
/// connection (EasyNetwork's `IGNORABLE_ACCEPT_ERRNOS`).
pub(crate) fn is_ignorable_accept_error(error: &io::Error) -> bool {
    matches!(
        errno(error),
        Some(
            Errno::PERM
                | Errno::CONNABORTED
                | Errno::PROTO
                | Errno::NETDOWN
                | Errno::NOPROTOOPT
                | Errno::HOSTDOWN
                | Errno::NONET
                | Errno::HOSTUNREACH
                | Errno::OPNOTSUPP
                | Errno::NETUNREACH
                | Errno::NOSR
                | Errno::SOCKTNOSUPPORT
                | Errno::PROTONOSUPPORT
                | Errno::TIMEDOUT
                | Errno::CONNRESET
        )
    )
}

/// A Unix socket address from a path: a leading `@` names a Linux abstract socket.
pub(crate) fn unix_sockaddr(path: &Path) -> io::Result<SockAddr> {
    let bytes = path.as_os_str().as_bytes();
    match bytes.split_first() {
        Some((b'@', name)) if cfg!(any(target_os = "linux", target_os = "android")) => {
            abstract_sockaddr(name)
        }
        _ => {
            if bytes.contains(&0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a Unix socket path must not contain NUL bytes",
                ));
            }
            SockAddr::unix(path)
        }
    }
}

fn abstract_sockaddr(name: &[u8]) -> io::Result<SockAddr> {
    let mut raw = Vec::with_capacity(name.len() + 1);
    raw.push(0);
    raw.extend_from_slice(name);
    // socket2 treats a leading NUL as an abstract name and keeps its exact length.
    SockAddr::unix(std::ffi::OsStr::from_bytes(&raw))
}

/// socket2's address for a standard Unix socket address.
pub(crate) fn sockaddr_from_std(addr: &std::os::unix::net::SocketAddr) -> io::Result<SockAddr> {
    if let Some(path) = addr.as_pathname() {
        return SockAddr::unix(path);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::linux::net::SocketAddrExt;
        if let Some(name) = addr.as_abstract_name() {
            return abstract_sockaddr(name);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "an unnamed Unix socket address cannot be connected to or bound",
    ))
}

/// A short description of a socket's type, for error messages.
pub(crate) fn describe_type(ty: socket2::Type) -> String {
    match ty {
        socket2::Type::STREAM => "SOCK_STREAM".into(),
        socket2::Type::DGRAM => "SOCK_DGRAM".into(),
        socket2::Type::SEQPACKET => "SOCK_SEQPACKET".into(),
        socket2::Type::RAW => "SOCK_RAW".into(),
        other => format!("socket type {}", i32::from(other)),
    }
}

/// A short description of a socket's domain, for error messages.
pub(crate) fn describe_domain(domain: socket2::Domain) -> String {
    match domain {
        socket2::Domain::IPV4 => "AF_INET".into(),
        socket2::Domain::IPV6 => "AF_INET6".into(),
        socket2::Domain::UNIX => "AF_UNIX".into(),
        other => format!("address family {}", i32::from(other)),
    }
}

/// Borrows any descriptor as a socket (socket2's calls fail with `ENOTSOCK` otherwise).
pub(crate) fn sock(fd: &impl AsFd) -> SockRef<'_> {
    SockRef::from(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_error(errno: Errno) -> io::Error {
        io::Error::from_raw_os_error(errno.raw_os_error())
    }

    #[test]
    fn accept_errors_are_classified() {
        for e in [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM] {
            assert!(is_accept_capacity_error(&os_error(e)));
            assert!(!is_ignorable_accept_error(&os_error(e)));
        }
        for e in [
            Errno::CONNABORTED,
            Errno::PROTO,
            Errno::CONNRESET,
            Errno::PERM,
        ] {
            assert!(is_ignorable_accept_error(&os_error(e)));
            assert!(!is_accept_capacity_error(&os_error(e)));
        }
        for e in [Errno::BADF, Errno::INVAL, Errno::NOTSOCK] {
            assert!(!is_ignorable_accept_error(&os_error(e)));
            assert!(!is_accept_capacity_error(&os_error(e)));
        }
    }

    #[test]
    fn unix_addresses_round_trip() {
        let path = unix_sockaddr(Path::new("/tmp/some.sock")).unwrap();
        assert_eq!(path.as_pathname(), Some(Path::new("/tmp/some.sock")));
        let std = std::os::unix::net::SocketAddr::from_pathname("/tmp/some.sock").unwrap();
        assert!(sockaddr_from_std(&std).unwrap().as_pathname().is_some());

        let name = unix_sockaddr(Path::new("@hidden")).unwrap();
        assert_eq!(name.as_abstract_namespace(), Some(&b"hidden"[..]));
        let std = {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(b"hidden").unwrap()
        };
        assert_eq!(
            sockaddr_from_std(&std).unwrap().as_abstract_namespace(),
            Some(&b"hidden"[..])
        );
        assert!(unix_sockaddr(Path::new("bad\0path")).is_err());
    }
}
