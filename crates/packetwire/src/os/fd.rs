//! Socketpairs, pipes and the non-blocking flag.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::pipe::PipeFlags;

use crate::sockopt::SocketKind;

/// A connected pair of Unix stream sockets (`socketpair(2)`), close-on-exec and blocking.
/// Wrap them with `std::os::unix::net::UnixStream::from`.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// let (a, b) = packetwire::os::socketpair_stream()?;
/// let (mut a, mut b) = (UnixStream::from(a), UnixStream::from(b));
/// a.write_all(b"hi")?;
/// let mut buf = [0u8; 2];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn socketpair_stream() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// A connected pair of Unix datagram sockets (`socketpair(2)`), close-on-exec and blocking.
/// Wrap them with `std::os::unix::net::UnixDatagram::from`.
pub fn socketpair_dgram() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// A pipe (`pipe2(2)` with `O_CLOEXEC`): `(read end, write end)`.
///
/// ```
/// use std::io::{Read, Write};
///
/// let (r, w) = packetwire::os::pipe()?;
/// std::fs::File::from(w).write_all(b"data")?;
/// let mut text = String::new();
/// std::fs::File::from(r).read_to_string(&mut text)?;
/// assert_eq!(text, "data");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?)
}

/// Puts a descriptor in non-blocking mode or back (`FIONBIO`), as the async shells need.
pub fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    Ok(rustix::io::ioctl_fionbio(fd, nonblocking)?)
}

/// A new, unbound Unix socket of the given type, close-on-exec and blocking.
///
/// ```
/// use std::os::fd::AsFd;
/// use packetwire::os;
/// use packetwire::sockopt::{SocketFamily, SocketKind};
///
/// let sock = os::unix_socket(SocketKind::SeqPacket)?;
/// os::ensure_socket(sock.as_fd(), &[SocketFamily::Unix], SocketKind::SeqPacket)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn unix_socket(kind: SocketKind) -> io::Result<OwnedFd> {
    let kind = match kind {
        SocketKind::Stream => SocketType::STREAM,
        SocketKind::Datagram => SocketType::DGRAM,
        SocketKind::SeqPacket => SocketType::SEQPACKET,
        SocketKind::Raw => SocketType::RAW,
        SocketKind::Other(n) => SocketType::from_raw(n as u32),
    };
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        kind,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Marks a bound stream socket as listening (`listen(2)`); a backlog above `i32::MAX` is
/// clamped (the kernel caps it at `net.core.somaxconn` anyway).
pub fn listen(fd: BorrowedFd<'_>, backlog: u32) -> io::Result<()> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    Ok(rustix::net::listen(fd, backlog)?)
}
