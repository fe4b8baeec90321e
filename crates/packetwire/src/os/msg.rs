//! `sendmsg`/`recvmsg` with ancillary data, written once over a borrowed descriptor.
//!
//! These two calls use `libc` directly rather than rustix's `sendmsg`/`recvmsg`: rustix parses
//! `SCM_CREDENTIALS` into a `UCred` whose `pid` is a non-zero type, but the kernel reports pid 0
//! for a sender outside our PID namespace, and building that value would be undefined
//! behaviour. Control data is encoded and decoded by the safe, bounds-checked code in
//! [`cmsg`](super::cmsg); only the two system calls and the adoption of received descriptors
//! are `unsafe` here, with `getsockname`/`getpeername` for Unix addresses (see [`unix_name`]).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::cmsg::{self, Encoder, RawMessage};
use super::error::RecvError;
use super::sockaddr;
use crate::sockopt::SocketKind;
use crate::unix::ancillary::Outgoing;
use crate::unix::{AncillaryMessage, RecvMeta, Rights, SocketAncillary, UnixSocketAddress};

/// Offset of the first [`cmsg::ALIGN`]-aligned byte of `buf`.
fn align_offset(buf: &[u8]) -> usize {
    let addr = buf.as_ptr() as usize;
    addr.wrapping_neg() & (cmsg::ALIGN - 1)
}

/// Encodes the outgoing messages of `ancillary` into `storage`, returning the aligned control
/// slice to hand to `sendmsg`.
fn encode_outgoing<'s>(
    ancillary: &SocketAncillary<'_>,
    storage: &'s mut Vec<u8>,
) -> io::Result<&'s mut [u8]> {
    let mut space = 0usize;
    for message in ancillary.outgoing() {
        let one = match message {
            Outgoing::Rights(fds) => SocketAncillary::space_for_fds(fds.len()),
            Outgoing::Credentials(_) => SocketAncillary::space_for_credentials(),
        };
        space = space.saturating_add(one);
    }
    if space == 0 {
        return Ok(&mut storage[..0]);
    }
    let too_much = || io::Error::new(io::ErrorKind::InvalidInput, "too much ancillary data");
    if space > u32::MAX as usize {
        return Err(too_much());
    }
    storage.clear();
    storage.resize(space + cmsg::ALIGN - 1, 0);
    let start = align_offset(storage);
    let control = &mut storage[start..start + space];
    let mut encoder = Encoder::new(control);
    let mut own_pid = None;
    for message in ancillary.outgoing() {
        let fits = match message {
            Outgoing::Rights(fds) => {
                let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
                encoder.push_rights(&raw)
            }
            Outgoing::Credentials(creds) => {
                let mut creds = *creds;
                if creds.pid == 0 {
                    creds.pid = *own_pid.get_or_insert_with(|| super::current_credentials().pid);
                }
                encoder.push_credentials(creds)
            }
        };
        if !fits {
            // The space was computed from the same messages: not reached.
            return Err(too_much());
        }
    }
    let len = encoder.len();
    Ok(&mut storage[start..start + len])
}

/// Sends data with the ancillary data added to `ancillary` (`sendmsg(2)` with `SCM_RIGHTS`
/// and `SCM_CREDENTIALS` control messages), to `addr` if given (unconnected datagram sockets),
/// else to the connected peer.
///
/// Returns the number of bytes sent. On a stream socket that may be fewer than offered
/// (a non-blocking socket, or a signal); the ancillary data went with the first byte, so send
/// the rest *without* it. Sending never raises `SIGPIPE` (`MSG_NOSIGNAL`): a closed peer is an
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe) error. On a non-blocking socket the call fails
/// with [`WouldBlock`](io::ErrorKind::WouldBlock) when it cannot send now; wait for
/// writability and call again. `EINTR` is retried.
///
/// Ancillary data needs at least one byte of data on a stream socket (the kernel drops it
/// otherwise): that case fails with [`InvalidInput`](io::ErrorKind::InvalidInput). `addr` must
/// be named ([`AddressError::Unnamed`](crate::unix::AddressError::Unnamed) otherwise).
///
/// ```
/// use std::io::IoSlice;
/// use std::os::fd::AsFd;
/// use packetwire::os;
/// use packetwire::unix::SocketAncillary;
///
/// let (a, b) = os::socketpair_dgram()?;
/// let (_r, w) = os::pipe()?;
/// let mut out = SocketAncillary::new();
/// out.add_fd(&w);
/// let sent = os::send_with_ancillary(a.as_fd(), &[IoSlice::new(b"ping")], &out, None)?;
/// assert_eq!(sent, 4);
///
/// let mut anc = SocketAncillary::new();
/// let mut buf = [0u8; 16];
/// let meta = os::recv_with_ancillary(b.as_fd(), &mut buf, &mut anc)?;
/// assert_eq!(&buf[..meta.len], b"ping");
/// assert_eq!(anc.fds().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send_with_ancillary(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    ancillary: &SocketAncillary<'_>,
    addr: Option<&UnixSocketAddress>,
) -> io::Result<usize> {
    let mut name = match addr {
        Some(addr) => Some(sockaddr::encode_unix(addr)?),
        None => None,
    };
    let mut storage = Vec::new();
    let control = encode_outgoing(ancillary, &mut storage)?;
    if !control.is_empty()
        && bufs.iter().all(|buf| buf.is_empty())
        && super::socket_type(fd)? == SocketKind::Stream
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ancillary data needs at least one byte of data on a stream socket",
        ));
    }
    if bufs.len() > i32::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many buffers",
        ));
    }

    // SAFETY: `msghdr` is plain data (pointers, lengths, flags, maybe padding); all zeroes is
    // a valid value of it (null pointers, zero lengths).
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    if let Some((storage, len)) = name.as_mut() {
        header.msg_name = (storage as *mut libc::sockaddr_un).cast();
        header.msg_namelen = *len;
    }
    // `IoSlice` is ABI-compatible with `struct iovec` on Unix (documented by std); `sendmsg`
    // only reads through this pointer although the field is `*mut`.
    header.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
    header.msg_iovlen = bufs.len() as _;
    if !control.is_empty() {
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = control.len() as _;
    }
    loop {
        // SAFETY: `fd` is a live descriptor for the duration of the call (borrowed). `header`
        // points to: `name` (a `sockaddr_un` and its length) or nothing; `bufs.len()` iovecs
        // that borrow live byte slices; `control.len()` bytes of encoded control messages,
        // whose descriptors are borrowed by `ancillary` and so open. All outlive the call, and
        // the kernel only reads them.
        let sent = unsafe { libc::sendmsg(fd.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Receives data and ancillary data into one buffer (`recvmsg(2)`), appending the control
/// messages to `ancillary`. See [`recv_vectored_with_ancillary`].
///
/// ```
/// use std::io::IoSlice;
/// use std::os::fd::AsFd;
/// use packetwire::os::{self, RecvError};
/// use packetwire::unix::SocketAncillary;
///
/// let (a, b) = os::socketpair_dgram()?;
/// os::send_with_ancillary(a.as_fd(), &[IoSlice::new(b"too long")], &SocketAncillary::new(), None)?;
/// let mut small = [0u8; 3];
/// let error = os::recv_with_ancillary(b.as_fd(), &mut small, &mut SocketAncillary::new());
/// assert!(matches!(error, Err(RecvError::DatagramTruncated { buffer_len: 3 })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recv_with_ancillary(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    ancillary: &mut SocketAncillary<'_>,
) -> Result<RecvMeta, RecvError> {
    recv_vectored_with_ancillary(fd, &mut [IoSliceMut::new(buf)], ancillary)
}

/// Receives data and ancillary data (`recvmsg(2)` with `MSG_CMSG_CLOEXEC`), scattering the
/// data over `bufs` and appending the control messages to `ancillary`.
///
/// Received descriptors are close-on-exec and owned by `ancillary` (closed when dropped unless
/// taken). Control messages other than `SCM_RIGHTS` and `SCM_CREDENTIALS` are skipped.
///
/// Fails with [`RecvError::ControlTruncated`] when the control data did not fit in
/// [`SocketAncillary::recv_capacity`] bytes, and with [`RecvError::DatagramTruncated`] when a
/// datagram was larger than `bufs`; in both cases the descriptors that did arrive are closed
/// and `ancillary` is left as it was. On a non-blocking socket, fails with
/// [`WouldBlock`](io::ErrorKind::WouldBlock) (see [`RecvError::is_would_block`]) when nothing
/// is ready. `EINTR` is retried.
///
/// On a stream socket, descriptors travel with the first byte of the data they were sent with:
/// the read that returns that byte must be this call, or they are discarded by the kernel.
/// Linux ends a read after the bytes of a message that carried descriptors, so one read never
/// returns the descriptors of two messages; it may start with earlier bytes sent without any.
/// With [`set_passcred`](super::set_passcred) on, a read also never mixes bytes from
/// different senders' credentials.
pub fn recv_vectored_with_ancillary(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    ancillary: &mut SocketAncillary<'_>,
) -> Result<RecvMeta, RecvError> {
    let buffer_len = bufs
        .iter()
        .fold(0usize, |sum, buf| sum.saturating_add(buf.len()));
    let capacity = ancillary.recv_capacity();
    let storage = ancillary.recv_buffer();
    let start = align_offset(storage);
    let control = &mut storage[start..start + capacity];
    let received = recvmsg_raw(fd, bufs, control).map_err(RecvError::Io)?;

    let control_len = received.control_len.min(control.len());
    let mut fds_received = 0usize;
    let messages: Vec<AncillaryMessage> = cmsg::decode(&control[..control_len])
        .into_iter()
        .map(|message| match message {
            RawMessage::Rights(raw_fds) => {
                fds_received += raw_fds.len();
                let fds = raw_fds
                    .into_iter()
                    // SAFETY: `recvmsg` just returned, and these numbers were decoded from the
                    // first `msg_controllen` bytes of the control buffer, which the kernel
                    // wrote: they are descriptors it installed in this process for us in an
                    // `SCM_RIGHTS` message. Nothing else knows them, so we are their only
                    // owner, and each is adopted exactly once.
                    .map(|raw| unsafe { OwnedFd::from_raw_fd(raw) })
                    .collect();
                AncillaryMessage::Rights(Rights::from_fds(fds))
            }
            RawMessage::Credentials(creds) => AncillaryMessage::Credentials(creds),
        })
        .collect();

    if received.flags & libc::MSG_CTRUNC != 0 {
        drop(messages);
        return Err(RecvError::ControlTruncated {
            capacity,
            fds_closed: fds_received,
        });
    }
    if received.flags & libc::MSG_TRUNC != 0 {
        drop(messages);
        return Err(RecvError::DatagramTruncated { buffer_len });
    }
    let address = received.address();
    for message in messages {
        ancillary.push_received(message);
    }
    Ok(RecvMeta {
        len: received.len,
        address,
    })
}

/// What one `recvmsg` returned.
struct Received {
    /// Bytes of data.
    len: usize,
    /// Bytes of control data written.
    control_len: usize,
    /// `msg_flags`.
    flags: i32,
    /// The sender's address and its length.
    name: libc::sockaddr_un,
    name_len: libc::socklen_t,
}

impl Received {
    /// The sender's address. Linux gives no name (length 0) for an unbound sender: that is
    /// the unnamed address.
    fn address(&self) -> UnixSocketAddress {
        sockaddr::decode_unix(&self.name, self.name_len).unwrap_or_default()
    }
}

/// One `recvmsg(2)` with `MSG_CMSG_CLOEXEC` into `bufs` and `control` (which should start at
/// a [`cmsg::ALIGN`] boundary), retried on `EINTR`. The caller must adopt or close any
/// descriptors in the control data.
fn recvmsg_raw(
    fd: BorrowedFd<'_>,
    bufs: &mut [IoSliceMut<'_>],
    control: &mut [u8],
) -> io::Result<Received> {
    if bufs.len() > i32::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many buffers",
        ));
    }
    let mut name = sockaddr::empty_unix();
    // SAFETY: `msghdr` is plain data; all zeroes is a valid value of it.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = (&mut name as *mut libc::sockaddr_un).cast();
    header.msg_namelen = size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // `IoSliceMut` is ABI-compatible with `struct iovec` on Unix (documented by std).
    header.msg_iov = bufs.as_mut_ptr().cast::<libc::iovec>();
    header.msg_iovlen = bufs.len() as _;
    if !control.is_empty() {
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = control.len() as _;
    }
    let len = loop {
        // SAFETY: `fd` is a live descriptor for the duration of the call (borrowed). `header`
        // points to: `name`, a `sockaddr_un` of the given length; `bufs.len()` iovecs over
        // live, exclusively borrowed byte buffers; `control.len()` writable bytes. The kernel
        // writes at most those lengths, and updates `header`'s lengths and flags.
        let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut header, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    Ok(Received {
        len,
        control_len: header.msg_controllen as usize,
        flags: header.msg_flags,
        name,
        name_len: header.msg_namelen,
    })
}

/// One datagram and its sender's Unix address, without control data: descriptors sent along
/// are discarded by the kernel (it sets `MSG_CTRUNC`, which is ignored here as nothing was
/// asked for). A datagram larger than `buf` is an error.
pub(crate) fn recv_from_unix_plain(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, UnixSocketAddress), RecvError> {
    let buffer_len = buf.len();
    let received = recvmsg_raw(fd, &mut [IoSliceMut::new(buf)], &mut []).map_err(RecvError::Io)?;
    if received.flags & libc::MSG_TRUNC != 0 {
        return Err(RecvError::DatagramTruncated { buffer_len });
    }
    Ok((received.len, received.address()))
}

/// The local (`getsockname`) or peer (`getpeername`) address of a Unix socket.
///
/// By hand rather than through rustix, whose conversion to `SocketAddrUnix` reads an unnamed
/// address as an empty abstract name and panics on a 108-byte path without a NUL terminator.
pub(crate) fn unix_name(fd: BorrowedFd<'_>, peer: bool) -> io::Result<UnixSocketAddress> {
    let mut name = sockaddr::empty_unix();
    let mut len = size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let ptr = (&mut name as *mut libc::sockaddr_un).cast::<libc::sockaddr>();
    // SAFETY: `fd` is a live descriptor (borrowed); `ptr` points to `name`, a `sockaddr_un` of
    // `len` bytes, which the kernel fills up to that length, storing the real length in `len`.
    let status = unsafe {
        if peer {
            libc::getpeername(fd.as_raw_fd(), ptr, &mut len)
        } else {
            libc::getsockname(fd.as_raw_fd(), ptr, &mut len)
        }
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    if name.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a Unix socket",
        ));
    }
    Ok(sockaddr::decode_unix(&name, len).unwrap_or_default())
}
