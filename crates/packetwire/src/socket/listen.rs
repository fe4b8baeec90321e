//! Listening sockets with their options: TCP (several addresses, one port, IPv6-only,
//! `SO_REUSEADDR`, `SO_REUSEPORT`) and Unix (stale socket files, file mode, and removing the
//! file on close only if it is still ours).

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::sys;

/// The default listen backlog (EasyNetwork and asyncio: 100).
pub const DEFAULT_BACKLOG: u32 = 100;

/// What a Unix listener does when its path is already taken by a socket file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StaleSocketPolicy {
    /// Fail with [`io::ErrorKind::AddrInUse`] (the default, like `bind(2)`).
    #[default]
    Fail,
    /// Connect to it: if nobody listens (`ECONNREFUSED`), the file is stale and is removed;
    /// if somebody does, fail with [`io::ErrorKind::AddrInUse`]. A path that is not a socket
    /// is never removed.
    RemoveIfStale,
}

fn backlog(backlog: u32) -> i32 {
    i32::try_from(backlog).unwrap_or(i32::MAX)
}

/// Listening TCP sockets, non-blocking, one per address, with their bound addresses. With
/// port 0 in several addresses, the port the system picks for the first is used for the
/// others. With `skip_unsupported_ipv6`, an IPv6 address the host cannot bind (no IPv6, or
/// IPv6 disabled) is left out: "every interface" then means IPv4 alone.
pub(crate) fn tcp_listeners(
    addrs: &[SocketAddr],
    backlog_len: u32,
    reuse_port: bool,
    skip_unsupported_ipv6: bool,
) -> io::Result<Vec<(Socket, SocketAddr)>> {
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no address to listen on",
        ));
    }
    let mut sockets = Vec::with_capacity(addrs.len());
    let mut chosen_port = None;
    for &addr in addrs {
        let mut addr = addr;
        if let (0, Some(port)) = (addr.port(), chosen_port) {
            addr.set_port(port);
        }
        let socket = match tcp_listener(addr, backlog_len, reuse_port) {
            Ok(socket) => socket,
            Err(e)
                if skip_unsupported_ipv6
                    && addr.is_ipv6()
                    && matches!(
                        sys::errno(&e),
                        Some(Errno::AFNOSUPPORT | Errno::ADDRNOTAVAIL)
                    ) =>
            {
                continue
            }
            Err(e) => return Err(annotate(e, &addr)),
        };
        let local = super::adopt::inet_addr(socket.local_addr()?)?;
        chosen_port.get_or_insert(local.port());
        sockets.push((socket, local));
    }
    Ok(sockets)
}

fn tcp_listener(addr: SocketAddr, backlog_len: u32, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog(backlog_len))?;
    Ok(socket)
}

/// The socket file a listener bound, identified by device and inode. Dropping it removes the
/// file, but only if the path still names that file: a file another process put in its place
/// stays.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    pub(crate) fn stat(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Self {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if meta.dev() == self.dev && meta.ino() == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// A listening Unix stream socket and what a listener keeps of it.
#[derive(Debug)]
pub(crate) struct UnixBound {
    /// The socket, non-blocking.
    pub(crate) socket: Socket,
    /// The address it listens on.
    pub(crate) addr: crate::unix::UnixSocketAddress,
    /// Its file (none for an abstract name): removed when dropped, if still ours.
    pub(crate) file: Option<SocketFile>,
}

/// Binds and listens on `path` (`@name`: Linux abstract name), applying the stale-file
/// policy, then the file mode (`chmod` right after `bind`). On failure nothing is left behind.
pub(crate) fn unix_listener(
    path: &Path,
    backlog_len: u32,
    mode: Option<u32>,
    stale: StaleSocketPolicy,
) -> io::Result<UnixBound> {
    let addr = sys::unix_sockaddr(path)?;
    let file_path = addr.as_pathname().map(Path::to_owned);
    let socket = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
    match socket.bind(&addr) {
        Ok(()) => {}
        Err(e)
            if e.kind() == io::ErrorKind::AddrInUse
                && stale == StaleSocketPolicy::RemoveIfStale
                && file_path.is_some() =>
        {
            remove_stale(path, &addr)?;
            socket
                .bind(&addr)
                .map_err(|e| annotate(e, &path.display()))?;
        }
        Err(e) => return Err(annotate(e, &path.display())),
    }
    // From here on, a failure drops `file`, which removes it.
    let file = match &file_path {
        Some(file_path) => Some(SocketFile::stat(file_path)?),
        None => None,
    };
    if let (Some(mode), Some(file_path)) = (mode, &file_path) {
        std::fs::set_permissions(file_path, std::fs::Permissions::from_mode(mode))?;
    }
    socket.listen(backlog(backlog_len))?;
    let addr = crate::os::unix_local_address(std::os::fd::AsFd::as_fd(&socket))?;
    Ok(UnixBound { socket, addr, file })
}

/// [`StaleSocketPolicy::RemoveIfStale`]: removes `path` if it is a socket nobody listens on.
fn remove_stale(path: &Path, addr: &SockAddr) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    let probe = Socket::new(Domain::UNIX, Type::STREAM.nonblocking(), None)?;
    match probe.connect(addr) {
        Err(e) if sys::errno(&e) == Some(Errno::CONNREFUSED) => match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        // Removed in the meantime: bind again.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // Connected, or a full backlog (EAGAIN): someone is listening.
        Ok(()) => Err(in_use(path)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(in_use(path)),
        Err(e) => Err(e),
    }
}

fn in_use(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("{} is in use by a listening socket", path.display()),
    )
}

fn annotate(error: io::Error, what: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(error.kind(), format!("cannot listen on {what}: {error}"))
}
