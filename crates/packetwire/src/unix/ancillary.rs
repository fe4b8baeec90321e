//! [`SocketAncillary`]: file descriptors and credentials that travel with Unix socket data.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::os::cmsg;
use crate::unix::UnixSocketAddress;

/// The identity of a process: what `SCM_CREDENTIALS` carries and what `SO_PEERCRED` reports
/// (`struct ucred`).
///
/// When sent (see [`SocketAncillary::add_creds`]), a `pid` of 0 stands for the sending process,
/// as in EasyNetwork; the kernel only accepts the sender's own ids unless it has the
/// `CAP_SYS_ADMIN` (pid) or `CAP_SETUID`/`CAP_SETGID` (uid, gid) capabilities.
///
/// When received, `pid` is 0 if the other process is not visible in this process's PID
/// namespace.
///
/// ```
/// use packetwire::unix::Credentials;
///
/// let me = Credentials::current();
/// assert_eq!(me.pid, std::process::id() as i32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Process id (`pid_t`).
    pub pid: i32,
    /// User id (`uid_t`).
    pub uid: u32,
    /// Group id (`gid_t`).
    pub gid: u32,
}

impl Credentials {
    /// Credentials from their three parts.
    pub const fn new(pid: i32, uid: u32, gid: u32) -> Self {
        Self { pid, uid, gid }
    }

    /// This process's pid, real user id and real group id: what the kernel accepts from an
    /// unprivileged sender.
    pub fn current() -> Self {
        crate::os::current_credentials()
    }
}

/// File descriptors received in one `SCM_RIGHTS` control message.
///
/// The descriptors are owned: dropping a `Rights` closes every descriptor not taken out of it
/// (with [`into_fds`](Self::into_fds) or by iterating by value). They were received with
/// `MSG_CMSG_CLOEXEC`, so they are close-on-exec.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use packetwire::unix::{AncillaryMessage, SocketAncillary, UnixStreamExt};
///
/// let (a, b) = UnixStream::pair()?;
/// let (mut reader, writer) = packetwire::os::pipe()?;
/// let mut out = SocketAncillary::new();
/// out.add_fd(&writer);
/// a.send_all_with_ancillary(b"x", &out)?;
///
/// let mut anc = SocketAncillary::new();
/// let mut buf = [0u8; 1];
/// b.recv_with_ancillary(&mut buf, &mut anc)?;
/// for message in anc {
///     if let AncillaryMessage::Rights(rights) = message {
///         for fd in rights {
///             std::fs::File::from(fd).write_all(b"through the fd")?;
///         }
///     }
/// }
/// drop(writer);
/// let mut text = String::new();
/// std::fs::File::from(reader).read_to_string(&mut text)?;
/// assert_eq!(text, "through the fd");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Rights {
    fds: Vec<OwnedFd>,
}

impl Rights {
    pub(crate) fn from_fds(fds: Vec<OwnedFd>) -> Self {
        Self { fds }
    }

    /// Number of descriptors.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Whether there is no descriptor.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// The descriptors, still owned by `self`.
    pub fn as_fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// Takes the descriptors out; the caller closes them (by dropping them).
    pub fn into_fds(self) -> Vec<OwnedFd> {
        self.fds
    }

    /// Iterates over borrowed descriptors.
    pub fn iter(&self) -> std::slice::Iter<'_, OwnedFd> {
        self.fds.iter()
    }
}

impl IntoIterator for Rights {
    type Item = OwnedFd;
    type IntoIter = std::vec::IntoIter<OwnedFd>;

    fn into_iter(self) -> Self::IntoIter {
        self.fds.into_iter()
    }
}

impl<'a> IntoIterator for &'a Rights {
    type Item = &'a OwnedFd;
    type IntoIter = std::slice::Iter<'a, OwnedFd>;

    fn into_iter(self) -> Self::IntoIter {
        self.fds.iter()
    }
}

/// One received control message. Control messages of other kinds are skipped on receive.
#[derive(Debug)]
#[non_exhaustive]
pub enum AncillaryMessage {
    /// File descriptors (`SCM_RIGHTS`).
    Rights(Rights),
    /// The sender's credentials (`SCM_CREDENTIALS`; delivered only to a socket with
    /// [`SO_PASSCRED`](crate::os::set_passcred) set).
    Credentials(Credentials),
}

/// A control message to send, borrowing its descriptors until the send.
#[derive(Debug)]
pub(crate) enum Outgoing<'fd> {
    Rights(Vec<BorrowedFd<'fd>>),
    Credentials(Credentials),
}

/// Ancillary data of a Unix socket: what to send with the next message, and what came with
/// received messages.
///
/// **To send**, add descriptors ([`add_fds`](Self::add_fds), [`add_fd`](Self::add_fd)) and
/// credentials ([`add_creds`](Self::add_creds)), then pass the value to a send call
/// ([`UnixStreamExt::send_all_with_ancillary`](crate::unix::UnixStreamExt::send_all_with_ancillary),
/// [`os::send_with_ancillary`](crate::os::send_with_ancillary), …). The descriptors are borrowed
/// for `'fd`; sending does not consume them, so the same value can be sent again.
///
/// **To receive**, pass it to a receive call; the control messages that arrive are parsed into
/// [`AncillaryMessage`]s and *appended* to what it already holds. The control buffer has
/// [`recv_capacity`](Self::recv_capacity) bytes, by default
/// [`DEFAULT_RECV_CAPACITY`](Self::DEFAULT_RECV_CAPACITY) (EasyNetwork's `CMSG_SPACE(8192)`,
/// 8208 bytes, far more than the 253 descriptors Linux passes in one message). When the
/// control data does not fit, the receive
/// fails with [`RecvError::ControlTruncated`](crate::os::RecvError::ControlTruncated) and closes
/// every descriptor that did arrive.
///
/// Received descriptors are owned and close-on-exec: those not taken out
/// ([`take_fds`](Self::take_fds), [`take_messages`](Self::take_messages), iterating by value)
/// are closed when the value is dropped or [`clear`](Self::clear)ed.
///
/// ```
/// use std::os::unix::net::UnixDatagram;
/// use packetwire::unix::{Credentials, SocketAncillary, UnixDatagramExt};
///
/// let (a, b) = UnixDatagram::pair()?;
/// b.set_passcred(true)?;
/// let (_reader, writer) = packetwire::os::pipe()?;
///
/// let me = Credentials::current();
/// let mut out = SocketAncillary::new();
/// out.add_fd(&writer).add_creds(Credentials::new(0, me.uid, me.gid));
/// a.send_with_ancillary(&[std::io::IoSlice::new(b"hello")], &out)?;
///
/// let mut anc = SocketAncillary::new();
/// let mut buf = [0u8; 16];
/// let meta = b.recv_with_ancillary(&mut buf, &mut anc)?;
/// assert_eq!(&buf[..meta.len], b"hello");
/// assert_eq!(anc.credentials().next(), Some(me));
/// assert_eq!(anc.take_fds().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SocketAncillary<'fd> {
    outgoing: Vec<Outgoing<'fd>>,
    received: Vec<AncillaryMessage>,
    recv_capacity: usize,
    recv_buffer: Vec<u8>,
}

impl fmt::Debug for SocketAncillary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketAncillary")
            .field("outgoing", &self.outgoing)
            .field("received", &self.received)
            .field("recv_capacity", &self.recv_capacity)
            .finish_non_exhaustive()
    }
}

impl Default for SocketAncillary<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'fd> SocketAncillary<'fd> {
    /// Default size of the receive control buffer: `CMSG_SPACE(8192)`, 8208 bytes on 64-bit
    /// Linux, EasyNetwork's `DEFAULT_UNIX_SOCKETS_ANCILLARY_DATA_BUFSIZE`.
    pub const DEFAULT_RECV_CAPACITY: usize = cmsg::space(8192);

    /// Largest receive control buffer: 1 MiB. Linux never sends that much control data with
    /// one message (at most 253 descriptors, credentials and a security label).
    pub const MAX_RECV_CAPACITY: usize = 1 << 20;

    /// Empty, with the default receive capacity. Allocates nothing until the first receive.
    pub fn new() -> Self {
        Self::with_recv_capacity(Self::DEFAULT_RECV_CAPACITY)
    }

    /// Empty, with a receive control buffer of `capacity` bytes (at most
    /// [`MAX_RECV_CAPACITY`](Self::MAX_RECV_CAPACITY); more is cut to it). Size it with
    /// [`space_for_fds`](Self::space_for_fds) and
    /// [`space_for_credentials`](Self::space_for_credentials), added up.
    ///
    /// ```
    /// use packetwire::unix::SocketAncillary;
    ///
    /// let anc = SocketAncillary::with_recv_capacity(
    ///     SocketAncillary::space_for_fds(4) + SocketAncillary::space_for_credentials(),
    /// );
    /// assert_eq!(anc.recv_capacity(), 64);
    /// ```
    pub fn with_recv_capacity(capacity: usize) -> Self {
        Self {
            outgoing: Vec::new(),
            received: Vec::new(),
            recv_capacity: capacity.min(Self::MAX_RECV_CAPACITY),
            recv_buffer: Vec::new(),
        }
    }

    /// Size of the receive control buffer, in bytes.
    pub fn recv_capacity(&self) -> usize {
        self.recv_capacity
    }

    /// Changes the size of the receive control buffer (at most
    /// [`MAX_RECV_CAPACITY`](Self::MAX_RECV_CAPACITY)).
    pub fn set_recv_capacity(&mut self, capacity: usize) {
        self.recv_capacity = capacity.min(Self::MAX_RECV_CAPACITY);
    }

    /// Control-buffer room for one message of `n` descriptors: `CMSG_SPACE(n * 4)`.
    ///
    /// ```
    /// assert_eq!(packetwire::unix::SocketAncillary::space_for_fds(1), 24);
    /// ```
    pub const fn space_for_fds(n: usize) -> usize {
        cmsg::space(n.saturating_mul(cmsg::FD_LEN))
    }

    /// Control-buffer room for one credentials message: `CMSG_SPACE(sizeof(struct ucred))`.
    ///
    /// ```
    /// assert_eq!(packetwire::unix::SocketAncillary::space_for_credentials(), 32);
    /// ```
    pub const fn space_for_credentials() -> usize {
        cmsg::space(cmsg::UCRED_LEN)
    }

    /// Adds one `SCM_RIGHTS` message with these descriptors to what will be sent. An empty
    /// slice adds nothing. The kernel takes at most 253 descriptors in one `sendmsg`.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use packetwire::unix::SocketAncillary;
    ///
    /// let (r, w) = packetwire::os::pipe()?;
    /// let mut anc = SocketAncillary::new();
    /// anc.add_fds(&[r.as_fd(), w.as_fd()]);
    /// assert!(anc.has_outgoing());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_fds(&mut self, fds: &[BorrowedFd<'fd>]) -> &mut Self {
        if !fds.is_empty() {
            self.outgoing.push(Outgoing::Rights(fds.to_vec()));
        }
        self
    }

    /// Adds one `SCM_RIGHTS` message with a single descriptor. Shorthand for
    /// `add_fds(&[fd.as_fd()])`.
    pub fn add_fd<F: AsFd + ?Sized>(&mut self, fd: &'fd F) -> &mut Self {
        self.add_fds(&[fd.as_fd()])
    }

    /// Adds an `SCM_CREDENTIALS` message (Linux) to what will be sent; a `pid` of 0 is
    /// replaced by this process's pid when sending. See [`Credentials`] for what the kernel
    /// accepts. The receiver only gets credentials if it enabled
    /// [`set_passcred`](crate::os::set_passcred).
    pub fn add_creds(&mut self, creds: Credentials) -> &mut Self {
        self.outgoing.push(Outgoing::Credentials(creds));
        self
    }

    /// Whether something was added to send.
    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Forgets what was added to send (the descriptors are only borrowed: nothing is closed).
    pub fn clear_outgoing(&mut self) {
        self.outgoing.clear();
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> std::slice::Iter<'_, AncillaryMessage> {
        self.received.iter()
    }

    /// Takes the received messages out, leaving none.
    pub fn take_messages(&mut self) -> Vec<AncillaryMessage> {
        std::mem::take(&mut self.received)
    }

    /// Takes every received descriptor out, in order, leaving the received credentials.
    pub fn take_fds(&mut self) -> Vec<OwnedFd> {
        let mut fds = Vec::new();
        let mut kept = Vec::with_capacity(self.received.len());
        for message in self.received.drain(..) {
            match message {
                AncillaryMessage::Rights(rights) => fds.extend(rights.into_fds()),
                other => kept.push(other),
            }
        }
        self.received = kept;
        fds
    }

    /// Borrows every received descriptor, in order.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> + '_ {
        self.received
            .iter()
            .flat_map(|message| match message {
                AncillaryMessage::Rights(rights) => rights.as_fds(),
                _ => &[],
            })
            .map(AsFd::as_fd)
    }

    /// The received credentials, in order.
    pub fn credentials(&self) -> impl Iterator<Item = Credentials> + '_ {
        self.received.iter().filter_map(|message| match message {
            AncillaryMessage::Credentials(creds) => Some(*creds),
            _ => None,
        })
    }

    /// Whether no message was received (or all were taken).
    pub fn is_received_empty(&self) -> bool {
        self.received.is_empty()
    }

    /// Drops the received messages, closing their descriptors.
    pub fn clear_received(&mut self) {
        self.received.clear();
    }

    /// Forgets what was added to send and drops what was received (closing its descriptors).
    pub fn clear(&mut self) {
        self.clear_outgoing();
        self.clear_received();
    }

    pub(crate) fn outgoing(&self) -> &[Outgoing<'fd>] {
        &self.outgoing
    }

    pub(crate) fn push_received(&mut self, message: AncillaryMessage) {
        self.received.push(message);
    }

    /// The receive buffer, allocated (once) with room to align its start.
    pub(crate) fn recv_buffer(&mut self) -> &mut Vec<u8> {
        let wanted = self.recv_capacity.saturating_add(cmsg::ALIGN - 1);
        if self.recv_buffer.len() != wanted {
            self.recv_buffer = vec![0u8; wanted];
        }
        &mut self.recv_buffer
    }
}

impl IntoIterator for SocketAncillary<'_> {
    type Item = AncillaryMessage;
    type IntoIter = std::vec::IntoIter<AncillaryMessage>;

    /// Iterates over the received messages by value.
    fn into_iter(self) -> Self::IntoIter {
        self.received.into_iter()
    }
}

/// What a receive call returns besides the data: its length and the sender's address.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvMeta {
    /// Bytes written to the buffer. 0 on a stream socket means end of stream.
    pub len: usize,
    /// The sender's address as the kernel reports it: on a datagram socket the sending
    /// socket's name, on a stream socket the peer's; [`Unnamed`](UnixSocketAddress::Unnamed)
    /// when that socket is not bound.
    pub address: UnixSocketAddress,
}
