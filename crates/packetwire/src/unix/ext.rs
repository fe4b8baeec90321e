//! Blocking Unix extras on the standard library's socket types.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

use crate::os::{self, RecvError};
use crate::sockopt::SocketKind;
use crate::unix::{Credentials, RecvMeta, SocketAncillary, UnixSocketAddress};

mod sealed {
    /// Keeps the extension traits implemented only here.
    #[allow(unnameable_types)] // Sealed on purpose: users name the traits, never this one.
    pub trait Sealed {}
    impl Sealed for std::os::unix::net::UnixStream {}
    impl Sealed for std::os::unix::net::UnixDatagram {}
}

/// Ancillary data and credentials on [`UnixStream`] (blocking, or non-blocking with
/// `WouldBlock` errors).
///
/// Descriptors and credentials travel with the first byte of the data they are sent with. The
/// receiver must read that byte with [`recv_with_ancillary`](Self::recv_with_ancillary): a
/// plain `read` that returns it makes the kernel close the descriptors. Linux ends a read
/// after the bytes of a message that carried descriptors (so one read never returns the
/// descriptors of two messages), but the read may begin with earlier bytes sent without any.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use packetwire::unix::{SocketAncillary, UnixStreamExt};
///
/// let (a, b) = UnixStream::pair()?;
/// let (reader, writer) = packetwire::os::pipe()?;
/// let mut out = SocketAncillary::new();
/// out.add_fd(&writer);
/// a.send_all_with_ancillary(b"here is a pipe", &out)?;
/// drop(writer);
///
/// let mut anc = SocketAncillary::new();
/// let mut buf = [0u8; 64];
/// let len = b.recv_with_ancillary(&mut buf, &mut anc)?;
/// assert_eq!(&buf[..len], b"here is a pipe");
/// let [fd] = <[_; 1]>::try_from(anc.take_fds()).unwrap();
/// std::fs::File::from(fd).write_all(b"hello")?;
/// let mut text = String::new();
/// std::fs::File::from(reader).read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// assert_eq!(a.peer_credentials()?, packetwire::unix::Credentials::current());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait UnixStreamExt: sealed::Sealed {
    /// One `sendmsg` with ancillary data: see [`os::send_with_ancillary`]. Returns the bytes
    /// sent, which may be fewer than offered; send the rest without the ancillary data.
    fn send_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<usize>;

    /// Sends all of `buf`, the ancillary data with its first byte. `buf` must not be empty
    /// when there is ancillary data. On error, part of `buf` may have been sent.
    fn send_all_with_ancillary(
        &self,
        buf: &[u8],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<()>;

    /// One `recvmsg` with ancillary data: see [`os::recv_with_ancillary`]. Returns the bytes
    /// read (0 at end of stream); the control messages are appended to `ancillary`.
    fn recv_with_ancillary(
        &self,
        buf: &mut [u8],
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<usize, RecvError>;

    /// The peer's credentials from when it connected: see [`os::peer_credentials`].
    fn peer_credentials(&self) -> io::Result<Credentials>;

    /// Enables or disables receiving the sender's credentials with each message:
    /// see [`os::set_passcred`].
    fn set_passcred(&self, enable: bool) -> io::Result<()>;

    /// The bound address of this socket: see [`os::unix_local_address`].
    fn local_address(&self) -> io::Result<UnixSocketAddress>;

    /// The address of the peer: see [`os::unix_peer_address`].
    fn peer_address(&self) -> io::Result<UnixSocketAddress>;
}

impl UnixStreamExt for UnixStream {
    fn send_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<usize> {
        os::send_with_ancillary(self.as_fd(), bufs, ancillary, None)
    }

    fn send_all_with_ancillary(
        &self,
        buf: &[u8],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<()> {
        let mut sent =
            os::send_with_ancillary(self.as_fd(), &[IoSlice::new(buf)], ancillary, None)?;
        while let Some(rest) = buf.get(sent..).filter(|rest| !rest.is_empty()) {
            match os::send(self.as_fd(), rest)? {
                0 => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                n => sent += n,
            }
        }
        if sent == 0 && !buf.is_empty() {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        Ok(())
    }

    fn recv_with_ancillary(
        &self,
        buf: &mut [u8],
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<usize, RecvError> {
        os::recv_with_ancillary(self.as_fd(), buf, ancillary).map(|meta| meta.len)
    }

    fn peer_credentials(&self) -> io::Result<Credentials> {
        os::peer_credentials(self.as_fd())
    }

    fn set_passcred(&self, enable: bool) -> io::Result<()> {
        os::set_passcred(self.as_fd(), enable)
    }

    fn local_address(&self) -> io::Result<UnixSocketAddress> {
        os::unix_local_address(self.as_fd())
    }

    fn peer_address(&self) -> io::Result<UnixSocketAddress> {
        os::unix_peer_address(self.as_fd())
    }
}

/// Ancillary data, [`UnixSocketAddress`]es (abstract names included) and auto-bind on
/// [`UnixDatagram`].
///
/// ```
/// use std::os::unix::net::UnixDatagram;
/// use packetwire::unix::{UnixDatagramExt, UnixSocketAddress};
///
/// let server_name = format!("@packetwire-doc-dgram-{}", std::process::id());
/// let server_addr: UnixSocketAddress = server_name.parse()?;
/// let server = packetwire::unix::bind_datagram(&server_addr)?;
///
/// let client = UnixDatagram::unbound()?;
/// let client_addr = client.autobind()?; // the kernel picks an abstract name
/// client.send_to_address(b"ping", &server_addr)?;
///
/// let mut buf = [0u8; 16];
/// let (len, from) = server.recv_from_address(&mut buf)?;
/// assert_eq!((&buf[..len], &from), (&b"ping"[..], &client_addr));
/// server.send_to_address(b"pong", &from)?;
/// assert_eq!(client.recv_datagram(&mut buf)?, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait UnixDatagramExt: sealed::Sealed {
    /// Sends one datagram with ancillary data to the connected peer: see
    /// [`os::send_with_ancillary`].
    fn send_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<usize>;

    /// Sends one datagram with ancillary data to `addr`: see [`os::send_with_ancillary`].
    fn send_to_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &SocketAncillary<'_>,
        addr: &UnixSocketAddress,
    ) -> io::Result<usize>;

    /// Receives one datagram with its ancillary data and sender address: see
    /// [`os::recv_with_ancillary`]. A datagram larger than `buf` is an error, never cut.
    fn recv_with_ancillary(
        &self,
        buf: &mut [u8],
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<RecvMeta, RecvError>;

    /// Sends one datagram to `addr` (path or abstract name): see [`os::send_to_unix`].
    fn send_to_address(&self, buf: &[u8], addr: &UnixSocketAddress) -> io::Result<usize>;

    /// Receives one datagram and its sender's address: see [`os::recv_from_unix`].
    fn recv_from_address(&self, buf: &mut [u8]) -> Result<(usize, UnixSocketAddress), RecvError>;

    /// Receives one datagram on a connected socket: see [`os::recv_datagram`].
    fn recv_datagram(&self, buf: &mut [u8]) -> Result<usize, RecvError>;

    /// Binds to a kernel-chosen abstract name and returns it: see [`os::autobind`].
    fn autobind(&self) -> io::Result<UnixSocketAddress>;

    /// Enables or disables receiving the sender's credentials with each datagram:
    /// see [`os::set_passcred`].
    fn set_passcred(&self, enable: bool) -> io::Result<()>;

    /// The bound address of this socket: see [`os::unix_local_address`].
    fn local_address(&self) -> io::Result<UnixSocketAddress>;

    /// The address of the connected peer: see [`os::unix_peer_address`].
    fn peer_address(&self) -> io::Result<UnixSocketAddress>;
}

impl UnixDatagramExt for UnixDatagram {
    fn send_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &SocketAncillary<'_>,
    ) -> io::Result<usize> {
        os::send_with_ancillary(self.as_fd(), bufs, ancillary, None)
    }

    fn send_to_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &SocketAncillary<'_>,
        addr: &UnixSocketAddress,
    ) -> io::Result<usize> {
        os::send_with_ancillary(self.as_fd(), bufs, ancillary, Some(addr))
    }

    fn recv_with_ancillary(
        &self,
        buf: &mut [u8],
        ancillary: &mut SocketAncillary<'_>,
    ) -> Result<RecvMeta, RecvError> {
        os::recv_with_ancillary(self.as_fd(), buf, ancillary)
    }

    fn send_to_address(&self, buf: &[u8], addr: &UnixSocketAddress) -> io::Result<usize> {
        os::send_to_unix(self.as_fd(), buf, addr)
    }

    fn recv_from_address(&self, buf: &mut [u8]) -> Result<(usize, UnixSocketAddress), RecvError> {
        os::recv_from_unix(self.as_fd(), buf)
    }

    fn recv_datagram(&self, buf: &mut [u8]) -> Result<usize, RecvError> {
        os::recv_datagram(self.as_fd(), buf)
    }

    fn autobind(&self) -> io::Result<UnixSocketAddress> {
        os::autobind(self.as_fd())
    }

    fn set_passcred(&self, enable: bool) -> io::Result<()> {
        os::set_passcred(self.as_fd(), enable)
    }

    fn local_address(&self) -> io::Result<UnixSocketAddress> {
        os::unix_local_address(self.as_fd())
    }

    fn peer_address(&self) -> io::Result<UnixSocketAddress> {
        os::unix_peer_address(self.as_fd())
    }
}

/// A Unix datagram socket bound to `addr`; [`UnixSocketAddress::Unnamed`] auto-binds to an
/// abstract name the kernel picks (what EasyNetwork does for an empty path).
///
/// ```
/// use packetwire::unix::{bind_datagram, UnixDatagramExt, UnixSocketAddress};
///
/// let dir = tempfile::tempdir()?;
/// let addr = UnixSocketAddress::from_pathname(dir.path().join("d.sock"))?;
/// let sock = bind_datagram(&addr)?;
/// assert_eq!(sock.local_address()?, addr);
/// assert!(bind_datagram(&UnixSocketAddress::Unnamed)?.local_address()?.as_abstract_name().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_datagram(addr: &UnixSocketAddress) -> io::Result<UnixDatagram> {
    let fd = os::unix_socket(SocketKind::Datagram)?;
    os::bind_unix(fd.as_fd(), addr)?;
    Ok(UnixDatagram::from(fd))
}

/// A Unix stream listener bound to `addr` with the given backlog (EasyNetwork uses 100);
/// [`UnixSocketAddress::Unnamed`] auto-binds to an abstract name. The socket file of a
/// pathname is not removed first, nor when the listener is dropped.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use packetwire::unix::{bind_listener, UnixSocketAddress, UnixStreamExt};
///
/// let listener = bind_listener(&UnixSocketAddress::Unnamed, 100)?;
/// let addr = UnixSocketAddress::from(listener.local_addr()?);
/// let client = UnixStream::connect_addr(&addr.to_std()?)?;
/// let (server_side, _) = listener.accept()?;
/// assert_eq!(server_side.local_address()?, addr);
/// assert!(client.peer_address()? == addr);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bind_listener(addr: &UnixSocketAddress, backlog: u32) -> io::Result<UnixListener> {
    let fd: OwnedFd = os::unix_socket(SocketKind::Stream)?;
    os::bind_unix(fd.as_fd(), addr)?;
    os::listen(fd.as_fd(), backlog)?;
    Ok(UnixListener::from(fd))
}
