//! What the blocking datagram sockets share: the non-blocking descriptor, the `poll(2)` wait
//! with a deadline, timeouts, and the [`Incoming`] iterator.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::event::{PollFd, PollFlags, Timespec};

use crate::datagram::{check_sent, FULL_QUEUE_RETRY_MAX, FULL_QUEUE_RETRY_MIN};
use crate::net::DatagramReceiveError;
use crate::os::RecvError;

thread_local! {
    /// The receive buffer, one per thread: a receive copies the datagram out of it, so a
    /// small datagram does not keep a 64 KiB allocation alive.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Waits until `fd` is ready for `flags`, or `deadline` passes. `EINTR` just returns: the
/// caller tries its call again anyway.
fn wait(fd: BorrowedFd<'_>, flags: PollFlags, deadline: Option<Instant>) -> io::Result<()> {
    let timeout = match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            // Further than a `Timespec` can count: no deadline.
            Timespec::try_from(left).ok()
        }
        None => None,
    };
    let mut fds = [PollFd::new(&fd, flags)];
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// A receive call on the socket, given the receive buffer: the datagram's length and
/// whatever else it reports (the sender's address).
pub(crate) type RecvFn<A> = fn(BorrowedFd<'_>, &mut [u8]) -> Result<(usize, A), RecvError>;

/// The descriptor of a blocking datagram socket (non-blocking underneath) and its settings.
pub(crate) struct BlockingDatagram {
    fd: OwnedFd,
    max_datagram_size: usize,
    receive_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
}

impl fmt::Debug for BlockingDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingDatagram")
            .field("fd", &self.fd)
            .field("max_datagram_size", &self.max_datagram_size)
            .field("receive_timeout", &self.receive_timeout)
            .field("send_timeout", &self.send_timeout)
            .finish()
    }
}

impl BlockingDatagram {
    /// Wraps a non-blocking descriptor.
    pub(crate) fn new(
        fd: OwnedFd,
        max_datagram_size: usize,
        receive_timeout: Option<Duration>,
        send_timeout: Option<Duration>,
    ) -> Self {
        Self {
            fd,
            max_datagram_size,
            receive_timeout,
            send_timeout,
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The descriptor, for a client that takes the socket over.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    pub(crate) fn max_datagram_size(&self) -> usize {
        self.max_datagram_size
    }

    pub(crate) fn set_max_datagram_size(&mut self, size: usize) {
        self.max_datagram_size = crate::datagram::check_max_datagram_size(size);
    }

    pub(crate) fn receive_timeout(&self) -> Option<Duration> {
        self.receive_timeout
    }

    pub(crate) fn set_receive_timeout(&mut self, timeout: Option<Duration>) {
        self.receive_timeout = timeout;
    }

    pub(crate) fn send_timeout(&self) -> Option<Duration> {
        self.send_timeout
    }

    pub(crate) fn set_send_timeout(&mut self, timeout: Option<Duration>) {
        self.send_timeout = timeout;
    }

    /// Runs `op` until it stops failing with `WouldBlock`, waiting for readability in between,
    /// at most until the receive timeout; returns a copy of the datagram and what `op` adds.
    pub(crate) fn receive_with<A>(
        &self,
        mut op: impl FnMut(BorrowedFd<'_>, &mut [u8]) -> Result<(usize, A), RecvError>,
    ) -> Result<(Bytes, A), DatagramReceiveError> {
        let deadline = deadline(self.receive_timeout);
        let max = self.max_datagram_size;
        SCRATCH.with(|scratch| {
            let mut buffer = scratch.borrow_mut();
            if buffer.len() < max {
                buffer.resize(max, 0);
            }
            let buffer = &mut buffer[..max];
            loop {
                match op(self.fd(), buffer) {
                    Ok((len, extra)) => return Ok((Bytes::copy_from_slice(&buffer[..len]), extra)),
                    Err(e) if e.is_would_block() => {
                        if passed(deadline) {
                            return Err(DatagramReceiveError::TimedOut);
                        }
                        wait(self.fd(), PollFlags::IN, deadline)?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        })
    }

    /// Sends one datagram of `len` bytes with `op`, waiting for writability while the socket
    /// buffer (or a Unix peer's queue) is full, at most until the send timeout
    /// ([`io::ErrorKind::TimedOut`]).
    pub(crate) fn send_with(
        &self,
        len: usize,
        op: impl FnMut(BorrowedFd<'_>) -> io::Result<usize>,
    ) -> io::Result<()> {
        self.send_loop(len, op, true)
    }

    /// As [`send_with`](Self::send_with), but retrying after a growing delay instead of
    /// waiting for writability: for sends to a Unix address, whose full queue Linux does not
    /// report as a readiness event (see `net::UnixDatagram::send_to`).
    pub(crate) fn send_with_retry(
        &self,
        len: usize,
        op: impl FnMut(BorrowedFd<'_>) -> io::Result<usize>,
    ) -> io::Result<()> {
        self.send_loop(len, op, false)
    }

    fn send_loop(
        &self,
        len: usize,
        mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<usize>,
        poll_for_room: bool,
    ) -> io::Result<()> {
        let deadline = deadline(self.send_timeout);
        let mut delay = FULL_QUEUE_RETRY_MIN;
        loop {
            match op(self.fd()) {
                Ok(sent) => return check_sent(sent, len),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if passed(deadline) {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "send timed out"));
                    }
                    if poll_for_room {
                        wait(self.fd(), PollFlags::OUT, deadline)?;
                    } else {
                        let left = deadline.map_or(delay, |d| {
                            d.saturating_duration_since(Instant::now()).min(delay)
                        });
                        std::thread::sleep(left);
                        delay = (delay * 2).min(FULL_QUEUE_RETRY_MAX);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The datagrams a blocking socket receives, with their senders, as an [`Iterator`]: made by
/// `incoming()` on [`UdpSocket`](crate::blocking::UdpSocket) and
/// [`UnixDatagram`](crate::blocking::UnixDatagram).
///
/// Each item is what `receive_from` would return; an error is an item too (with a receive
/// timeout, [`DatagramReceiveError::TimedOut`] each time it elapses) and the iteration goes
/// on: it never ends by itself.
///
/// ```
/// use packetwire::blocking::UdpSocket;
///
/// let server = UdpSocket::bind("127.0.0.1", 0)?;
/// let client = UdpSocket::connect("127.0.0.1", server.local_addr()?.port())?;
/// client.send(b"one")?;
/// client.send(b"two")?;
/// let received: Vec<_> = server
///     .incoming()
///     .take(2)
///     .map(|item| item.map(|(datagram, _from)| datagram))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(received, ["one", "two"]);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub struct Incoming<'a, A> {
    core: &'a BlockingDatagram,
    recv_from: RecvFn<A>,
}

impl<A> fmt::Debug for Incoming<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("socket", &self.core)
            .finish()
    }
}

impl<'a, A> Incoming<'a, A> {
    pub(crate) fn new(core: &'a BlockingDatagram, recv_from: RecvFn<A>) -> Self {
        Self { core, recv_from }
    }
}

impl<A> Iterator for Incoming<'_, A> {
    type Item = Result<(Bytes, A), DatagramReceiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.core.receive_with(self.recv_from))
    }
}
