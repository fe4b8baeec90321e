//! Socket options: raw `getsockopt`/`setsockopt` (libc, the only `unsafe` here) and the typed
//! [`SocketOptions`] proxy (rustix).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use rustix::net::sockopt;

use crate::sockopt::{SocketFamily, SocketKind};
use crate::unix::Credentials;

/// `getsockopt(2)` with any level and option name: writes the option's value into `buf` and
/// returns its length (at most `buf.len()`; the kernel cuts longer values).
///
/// For options rustix and [`SocketOptions`] do not cover. Values are in the kernel's native
/// layout (an `int` option is 4 native-endian bytes).
///
/// ```
/// use std::net::TcpStream;
/// use std::os::fd::AsFd;
/// use packetwire::os;
///
/// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let stream = TcpStream::connect(listener.local_addr()?)?;
/// os::setsockopt_raw(stream.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, &1i32.to_ne_bytes())?;
/// let mut value = [0u8; 4];
/// let len = os::getsockopt_raw(stream.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, &mut value)?;
/// assert_eq!(len, 4);
/// assert_ne!(i32::from_ne_bytes(value), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn getsockopt_raw(
    fd: BorrowedFd<'_>,
    level: i32,
    name: i32,
    buf: &mut [u8],
) -> io::Result<usize> {
    let capacity = libc::socklen_t::try_from(buf.len()).unwrap_or(libc::socklen_t::MAX);
    let mut len = capacity;
    // SAFETY: `fd` is a live descriptor (borrowed). The kernel writes at most `len` bytes to
    // `buf`, which has at least that many, and stores the value's length in `len`.
    let status = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((len as usize).min(buf.len()))
}

/// `setsockopt(2)` with any level and option name, the value given as raw bytes (see
/// [`getsockopt_raw`]).
pub fn setsockopt_raw(fd: BorrowedFd<'_>, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option value too long"))?;
    // SAFETY: `fd` is a live descriptor (borrowed). The kernel reads `len` bytes from `value`,
    // which has exactly that many.
    let status =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), len) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The credentials of the process at the other end of a connected Unix socket, as they were
/// when it connected (or created the socketpair): `SO_PEERCRED`.
///
/// Fails with [`NotConnected`](io::ErrorKind::NotConnected) when the kernel has none (the
/// socket is not connected). `pid` is 0 if the peer is not visible in this PID namespace.
///
/// ```
/// use std::os::fd::AsFd;
/// use packetwire::os;
/// use packetwire::unix::Credentials;
///
/// let (a, _b) = os::socketpair_stream()?;
/// assert_eq!(os::peer_credentials(a.as_fd())?, Credentials::current());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn peer_credentials(fd: BorrowedFd<'_>) -> io::Result<Credentials> {
    // Read as bytes, not through rustix's `UCred`, whose pid type cannot hold 0.
    let mut raw = [0u8; 12];
    let len = getsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_PEERCRED, &mut raw)?;
    if len < raw.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short SO_PEERCRED value",
        ));
    }
    let field = |at: usize| [raw[at], raw[at + 1], raw[at + 2], raw[at + 3]];
    let creds = Credentials {
        pid: i32::from_ne_bytes(field(0)),
        uid: u32::from_ne_bytes(field(4)),
        gid: u32::from_ne_bytes(field(8)),
    };
    if creds.pid == 0 && creds.uid == u32::MAX && creds.gid == u32::MAX {
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "no peer credentials: not connected",
        ));
    }
    Ok(creds)
}

/// Enables or disables `SO_PASSCRED`: with it, each received message carries the sender's
/// [`Credentials`] as an `SCM_CREDENTIALS` control message (Linux), whether or not the sender
/// added them.
pub fn set_passcred(fd: BorrowedFd<'_>, enable: bool) -> io::Result<()> {
    Ok(sockopt::set_socket_passcred(fd, enable)?)
}

/// Whether `SO_PASSCRED` is enabled.
pub fn passcred(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(sockopt::socket_passcred(fd)?)
}

/// This process's pid, real uid and real gid.
pub(crate) fn current_credentials() -> Credentials {
    Credentials {
        pid: rustix::process::getpid().as_raw_nonzero().get(),
        uid: rustix::process::getuid().as_raw(),
        gid: rustix::process::getgid().as_raw(),
    }
}

/// Typed socket options of a borrowed socket, in the spirit of EasyNetwork's `SocketProxy`.
///
/// It does not own the socket: it borrows it for `'fd`, and only reads and writes options.
/// Every getter and setter is one system call; errors are the OS errors (for example
/// `ENOPROTOOPT`/[`Unsupported`](io::ErrorKind::Unsupported)-like errors when an option does not
/// apply to this kind of socket, such as `nodelay` on a Unix socket).
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use packetwire::sockopt::SocketOptions;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let stream = TcpStream::connect(listener.local_addr()?)?;
/// let options = SocketOptions::new(&stream);
/// options.set_nodelay(true)?;
/// assert!(options.nodelay()?);
/// options.set_keepalive(true)?;
/// assert!(options.keepalive()?);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SocketOptions<'fd> {
    fd: BorrowedFd<'fd>,
}

impl<'fd> SocketOptions<'fd> {
    /// A proxy for `socket`'s options.
    pub fn new<S: AsFd + ?Sized>(socket: &'fd S) -> Self {
        Self { fd: socket.as_fd() }
    }

    /// A proxy for the options of the socket behind a borrowed descriptor.
    pub fn from_fd(fd: BorrowedFd<'fd>) -> Self {
        Self { fd }
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'fd> {
        self.fd
    }

    /// `SO_TYPE`. See [`socket_type`](crate::os::socket_type).
    pub fn kind(&self) -> io::Result<SocketKind> {
        super::socket_type(self.fd)
    }

    /// `SO_DOMAIN`. See [`socket_family`](crate::os::socket_family).
    pub fn family(&self) -> io::Result<SocketFamily> {
        super::socket_family(self.fd)
    }

    /// `SO_ERROR`: takes the pending error of the socket, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(sockopt::socket_error(self.fd)?.err().map(io::Error::from))
    }

    /// `TCP_NODELAY`: whether Nagle's algorithm is off (TCP).
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(sockopt::tcp_nodelay(self.fd)?)
    }

    /// Sets `TCP_NODELAY` (TCP). EasyNetwork turns it on for its TCP clients and servers.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        Ok(sockopt::set_tcp_nodelay(self.fd, nodelay)?)
    }

    /// `SO_KEEPALIVE`.
    pub fn keepalive(&self) -> io::Result<bool> {
        Ok(sockopt::socket_keepalive(self.fd)?)
    }

    /// Sets `SO_KEEPALIVE`.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_keepalive(self.fd, keepalive)?)
    }

    /// `SO_LINGER`: `None` when off, else how long `close` waits to send unsent data (whole
    /// seconds).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(sockopt::socket_linger(self.fd)?)
    }

    /// Sets `SO_LINGER`; `Some(Duration::ZERO)` makes `close` reset the connection. The
    /// duration is rounded up to whole seconds by the system call.
    ///
    /// ```
    /// use std::net::TcpListener;
    /// use std::time::Duration;
    /// use packetwire::sockopt::SocketOptions;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let options = SocketOptions::new(&listener);
    /// options.set_linger(Some(Duration::ZERO))?;
    /// assert_eq!(options.linger()?, Some(Duration::ZERO));
    /// options.set_linger(None)?;
    /// assert_eq!(options.linger()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        Ok(sockopt::set_socket_linger(self.fd, linger)?)
    }

    /// `SO_RCVBUF`, in bytes. Linux reports twice the value set (it counts its bookkeeping).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(sockopt::socket_recv_buffer_size(self.fd)?)
    }

    /// Sets `SO_RCVBUF` (capped by `net.core.rmem_max`).
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        Ok(sockopt::set_socket_recv_buffer_size(self.fd, size)?)
    }

    /// `SO_SNDBUF`, in bytes. Linux reports twice the value set.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        Ok(sockopt::socket_send_buffer_size(self.fd)?)
    }

    /// Sets `SO_SNDBUF` (capped by `net.core.wmem_max`).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        Ok(sockopt::set_socket_send_buffer_size(self.fd, size)?)
    }

    /// `SO_REUSEADDR`.
    pub fn reuse_address(&self) -> io::Result<bool> {
        Ok(sockopt::socket_reuseaddr(self.fd)?)
    }

    /// Sets `SO_REUSEADDR` (EasyNetwork's TCP listeners set it).
    pub fn set_reuse_address(&self, reuse: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_reuseaddr(self.fd, reuse)?)
    }

    /// `SO_REUSEPORT`.
    pub fn reuse_port(&self) -> io::Result<bool> {
        Ok(sockopt::socket_reuseport(self.fd)?)
    }

    /// Sets `SO_REUSEPORT` (EasyNetwork's `reuse_port` listener argument).
    pub fn set_reuse_port(&self, reuse: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_reuseport(self.fd, reuse)?)
    }

    /// `SO_BROADCAST` (UDP).
    pub fn broadcast(&self) -> io::Result<bool> {
        Ok(sockopt::socket_broadcast(self.fd)?)
    }

    /// Sets `SO_BROADCAST` (UDP).
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_broadcast(self.fd, broadcast)?)
    }

    /// `IP_TTL` (IPv4 sockets).
    pub fn ttl(&self) -> io::Result<u32> {
        Ok(sockopt::ip_ttl(self.fd)?)
    }

    /// Sets `IP_TTL` (IPv4 sockets).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        Ok(sockopt::set_ip_ttl(self.fd, ttl)?)
    }

    /// `IPV6_V6ONLY` (IPv6 sockets).
    pub fn only_v6(&self) -> io::Result<bool> {
        Ok(sockopt::ipv6_v6only(self.fd)?)
    }

    /// Sets `IPV6_V6ONLY` (IPv6 sockets, before `bind`).
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        Ok(sockopt::set_ipv6_v6only(self.fd, only_v6)?)
    }

    /// Any option, raw: see [`getsockopt_raw`](crate::os::getsockopt_raw).
    pub fn get_raw(&self, level: i32, name: i32, buf: &mut [u8]) -> io::Result<usize> {
        getsockopt_raw(self.fd, level, name, buf)
    }

    /// Any option, raw: see [`setsockopt_raw`](crate::os::setsockopt_raw).
    ///
    /// ```
    /// use std::net::UdpSocket;
    /// use packetwire::sockopt::SocketOptions;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// let options = SocketOptions::new(&socket);
    /// options.set_raw(libc::IPPROTO_IP, libc::IP_TTL, &17i32.to_ne_bytes())?;
    /// assert_eq!(options.ttl()?, 17);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_raw(&self, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
        setsockopt_raw(self.fd, level, name, value)
    }
}
