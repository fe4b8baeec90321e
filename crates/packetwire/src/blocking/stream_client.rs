//! What the blocking stream clients ([`TcpClient`](super::TcpClient) and
//! [`UnixStreamClient`](super::UnixStreamClient)) share: the descriptor, a receive lock over
//! the sans-IO [`PacketReader`], a send lock over the encode buffer, the closed flag, and the
//! iterator of received packets.
//!
//! Waiting is `poll(2)` on the non-blocking socket (see [`super::wait`]); a lock is a
//! [`TimedLock`], so a timeout also counts the wait for the lock, and `close` wakes the
//! threads waiting for a lock as well as those waiting in `poll(2)` (it shuts the socket
//! down, which makes it readable and writable at once). The descriptor itself stays open
//! until the client is dropped: no other thread can ever use a reused descriptor number.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use packetwire_proto::{RecvConverter, SendConverter, StreamProtocol, StreamSerializer};

use super::stream::WriteCore;
use super::wait::{self, Interest};
use crate::client::stream_reader::{PacketReader, Received, Sent, DEFAULT_MAX_RECV_SIZE};
use crate::client::{ClientConnectError, RecvPacketError, SendPacketError};
use crate::net::ReceiveError;
use crate::socket::adopt::check_connected;
use crate::socket::sys;

/// A mutex whose lock can time out and gives up when the client is closed.
///
/// The value is taken out of the mutex while locked (the guard holds it), so waiting uses a
/// plain [`Condvar`] with a timeout.
pub(crate) struct TimedLock<T> {
    slot: Mutex<Option<T>>,
    available: Condvar,
}

/// Why [`TimedLock::lock`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockError {
    Closed,
    TimedOut,
}

impl<T> TimedLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            slot: Mutex::new(Some(value)),
            available: Condvar::new(),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<T>> {
        // The slot is only ever taken or refilled: a panic elsewhere cannot break it.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the value until `deadline` (`None`: no deadline), unless `closed` is set.
    /// An immediately free lock is taken even with a deadline already past.
    pub(crate) fn lock(
        &self,
        deadline: Option<Instant>,
        closed: &AtomicBool,
    ) -> Result<TimedGuard<'_, T>, LockError> {
        let mut slot = self.slot();
        loop {
            if closed.load(Ordering::Acquire) {
                return Err(LockError::Closed);
            }
            if let Some(value) = slot.take() {
                return Ok(TimedGuard {
                    lock: self,
                    value: Some(value),
                });
            }
            slot = match deadline {
                None => self
                    .available
                    .wait(slot)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(LockError::TimedOut);
                    }
                    self.available
                        .wait_timeout(slot, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Wakes every waiter (after `closed` was set).
    pub(crate) fn wake_all(&self) {
        let _slot = self.slot();
        self.available.notify_all();
    }
}

/// The value of a [`TimedLock`], put back when dropped.
pub(crate) struct TimedGuard<'a, T> {
    lock: &'a TimedLock<T>,
    value: Option<T>,
}

impl<T> std::ops::Deref for TimedGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.as_ref().expect("a guard holds its value")
    }
}

impl<T> std::ops::DerefMut for TimedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("a guard holds its value")
    }
}

impl<T> Drop for TimedGuard<'_, T> {
    fn drop(&mut self) {
        let mut slot = self.lock.slot();
        *slot = self.value.take();
        drop(slot);
        // Every waiter: one that was woken may have timed out meanwhile.
        self.lock.available.notify_all();
    }
}

/// The send side: the socket's send core (or nothing over TLS), the encode buffer and
/// whether `send_eof` was called.
struct SendState {
    write: WriteCore,
    buf: BytesMut,
    eof_sent: bool,
}

/// Encode buffers larger than this are not kept between sends.
const KEEP_BUFFER: usize = 64 * 1024;

/// The shared body of the blocking stream clients.
pub(crate) struct ClientCore<S: StreamSerializer, C> {
    protocol: StreamProtocol<S, C>,
    fd: Arc<OwnedFd>,
    closed: AtomicBool,
    max_recv_size: usize,
    recv: TimedLock<PacketReader<S, C>>,
    send: TimedLock<SendState>,
    #[cfg(feature = "tls")]
    tls: Option<Mutex<crate::tls::BlockingTlsStream>>,
}

impl<S: StreamSerializer, C> fmt::Debug for ClientCore<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        d.field("fd", &self.fd)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .field("max_recv_size", &self.max_recv_size);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.finish_non_exhaustive()
    }
}

/// Whether an I/O error means "try again later".
#[cfg(feature = "tls")]
fn would_block(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock
}

impl<S, C> ClientCore<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// A client over a connected, non-blocking stream socket, with the bytes its previous
    /// owner had buffered and its end-of-stream and `send_eof` states.
    pub(crate) fn new(
        fd: Arc<OwnedFd>,
        buffered: &[u8],
        eof: bool,
        eof_sent: bool,
        protocol: StreamProtocol<S, C>,
        max_recv_size: usize,
    ) -> Self {
        let mut reader = PacketReader::new(&protocol, max_recv_size);
        reader.extend_from_slice(buffered);
        if eof {
            reader.feed_eof();
        }
        Self {
            max_recv_size: reader.max_recv_size(),
            recv: TimedLock::new(reader),
            send: TimedLock::new(SendState {
                write: WriteCore::new(Arc::clone(&fd)),
                buf: BytesMut::new(),
                eof_sent,
            }),
            protocol,
            fd,
            closed: AtomicBool::new(false),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A client over a standard stream socket handed over by the caller (the clients'
    /// `from_std`), whose type was checked: it must be connected
    /// ([`AdoptError::NotConnected`](crate::net::AdoptError::NotConnected) otherwise), and is
    /// switched to non-blocking mode.
    pub(crate) fn adopt_std(
        fd: OwnedFd,
        protocol: StreamProtocol<S, C>,
    ) -> Result<Self, ClientConnectError> {
        check_connected(fd.as_fd())?;
        sys::set_nonblocking(fd.as_fd())?;
        let fd = Arc::new(fd);
        Ok(Self::new(
            fd,
            &[],
            false,
            false,
            protocol,
            DEFAULT_MAX_RECV_SIZE,
        ))
    }

    /// A client over the halves of a blocking stream, with the bytes it had buffered.
    pub(crate) fn from_halves(
        read: super::ReadHalf,
        write: super::WriteHalf,
        protocol: StreamProtocol<S, C>,
        max_recv_size: usize,
    ) -> Self {
        let eof_sent = write.core.eof_sent();
        drop(write);
        let (fd, bytes, eof) = read.core.into_parts();
        Self::new(fd, &bytes, eof, eof_sent, protocol, max_recv_size)
    }

    /// A client over a TLS stream. The socket is switched to non-blocking mode (the TLS
    /// session is driven like the plain socket: try, then `poll(2)`).
    #[cfg(feature = "tls")]
    pub(crate) fn new_tls(
        stream: crate::tls::BlockingTlsStream,
        protocol: StreamProtocol<S, C>,
        max_recv_size: usize,
    ) -> io::Result<Self> {
        // A second descriptor of the same socket, for poll(2), shutdown(2), options and
        // `AsFd`, usable without the TLS lock.
        let fd: OwnedFd = stream.get_ref().try_clone()?.into();
        sys::set_nonblocking(fd.as_fd())?;
        let mut core = Self::new(Arc::new(fd), &[], false, false, protocol, max_recv_size);
        core.tls = Some(Mutex::new(stream));
        Ok(core)
    }

    pub(crate) fn protocol(&self) -> &StreamProtocol<S, C> {
        &self.protocol
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn max_recv_size(&self) -> usize {
        self.max_recv_size
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The TLS session, if any.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls<R>(
        &self,
        f: impl FnOnce(&crate::tls::BlockingTlsStream) -> R,
    ) -> Option<R> {
        self.tls
            .as_ref()
            .map(|tls| f(&tls.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// Closes the client: every later call fails with `Closed`, and threads blocked in a
    /// receive, a send or waiting for a lock wake up with `Closed`. The socket is shut down
    /// in both directions; its descriptor is closed when the client is dropped.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        // Readable and writable from now on: every poll(2) on it returns.
        let _ = sys::sock(&self.fd.as_fd()).shutdown(std::net::Shutdown::Both);
        self.recv.wake_all();
        self.send.wake_all();
    }

    fn lock_send(
        &self,
        deadline: Option<Instant>,
    ) -> Result<TimedGuard<'_, SendState>, SendPacketError> {
        self.send.lock(deadline, &self.closed).map_err(|e| match e {
            LockError::Closed => SendPacketError::Closed,
            LockError::TimedOut => SendPacketError::TimedOut,
        })
    }

    fn lock_recv(
        &self,
        deadline: Option<Instant>,
    ) -> Result<TimedGuard<'_, PacketReader<S, C>>, RecvPacketError> {
        self.recv.lock(deadline, &self.closed).map_err(|e| match e {
            LockError::Closed => RecvPacketError::Closed,
            LockError::TimedOut => RecvPacketError::TimedOut,
        })
    }

    /// A send error, unless the client was closed meanwhile (which explains it).
    fn send_error(&self, error: impl Into<SendPacketError>) -> SendPacketError {
        if self.is_closed() {
            SendPacketError::Closed
        } else {
            error.into()
        }
    }

    /// Takes the send lock (until `deadline`) and encodes `packet` into its buffer.
    fn lock_and_encode(
        &self,
        packet: &Sent<S, C>,
        deadline: Option<Instant>,
    ) -> Result<TimedGuard<'_, SendState>, SendPacketError> {
        let mut state = self.lock_send(deadline)?;
        if state.eof_sent {
            return Err(SendPacketError::EofSent);
        }
        state.buf.clear();
        self.protocol.encode(packet, &mut state.buf)?;
        Ok(state)
    }

    /// Encodes `packet` and sends it whole, within `timeout` (lock wait included).
    pub(crate) fn send_within(
        &self,
        packet: &Sent<S, C>,
        timeout: Option<Duration>,
    ) -> Result<(), SendPacketError> {
        let deadline = wait::deadline(timeout);
        let mut state = self.lock_and_encode(packet, deadline)?;
        let SendState { write, buf, .. } = &mut *state;
        let result = self.write_all(write, buf, deadline);
        if buf.capacity() > KEEP_BUFFER {
            *buf = BytesMut::new();
        }
        result
    }

    fn write_all(
        &self,
        write: &mut WriteCore,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), SendPacketError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return self.write_all_tls(tls, data, deadline);
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        write
            .send_all(data, timeout)
            .map_err(|e| self.send_error(e))
    }

    /// Writes and flushes over TLS: the session is locked for each non-blocking step only,
    /// so a receive goes on meanwhile.
    #[cfg(feature = "tls")]
    fn write_all_tls(
        &self,
        tls: &Mutex<crate::tls::BlockingTlsStream>,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), SendPacketError> {
        use std::io::Write;
        let mut sent = 0;
        loop {
            if self.is_closed() {
                return Err(SendPacketError::Closed);
            }
            let step = {
                let mut tls = tls.lock().unwrap_or_else(PoisonError::into_inner);
                if sent < data.len() {
                    tls.write(&data[sent..]).map(Some)
                } else {
                    Write::flush(&mut *tls).map(|()| None)
                }
            };
            match step {
                Ok(Some(0)) => {
                    return Err(self.send_error(io::Error::from(io::ErrorKind::WriteZero)))
                }
                Ok(Some(n)) => sent += n,
                Ok(None) => return Ok(()),
                Err(e) if would_block(&e) => {
                    if !wait::wait(self.fd(), Interest::Write, deadline)
                        .map_err(|e| self.send_error(e))?
                    {
                        return Err(SendPacketError::TimedOut);
                    }
                }
                Err(e) => return Err(self.send_error(e)),
            }
        }
    }

    /// Encodes `packet` and sends it whole, `ancillary` with its first byte.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn send_with_ancillary_within(
        &self,
        packet: &Sent<S, C>,
        ancillary: &crate::unix::SocketAncillary<'_>,
        timeout: Option<Duration>,
    ) -> Result<(), SendPacketError> {
        let deadline = wait::deadline(timeout);
        let mut state = self.lock_and_encode(packet, deadline)?;
        let SendState { write, buf, .. } = &mut *state;
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        write
            .send_all_with_ancillary(buf, ancillary, timeout)
            .map_err(|e| self.send_error(e))
    }

    /// Ends the sending side (TLS: `close_notify` first). Idempotent.
    pub(crate) fn send_eof(&self) -> Result<(), SendPacketError> {
        let mut state = self.lock_send(None)?;
        if state.eof_sent {
            return Ok(());
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            // `close_notify`, flushed as the socket takes it, then the TCP write side. Calling
            // the stream's `send_eof` again only flushes, then shuts down.
            loop {
                if self.is_closed() {
                    return Err(SendPacketError::Closed);
                }
                let result = tls
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .send_eof();
                match result {
                    Err(crate::net::SendError::Io(e)) if would_block(&e) => {
                        wait::wait(self.fd(), Interest::Write, None)
                            .map_err(|e| self.send_error(e))?;
                    }
                    other => break other.map_err(|e| self.send_error(e))?,
                }
            }
            state.eof_sent = true;
            return Ok(());
        }
        state.write.send_eof().map_err(|e| self.send_error(e))?;
        state.eof_sent = true;
        Ok(())
    }

    /// A receive error, unless the client was closed meanwhile (which explains it).
    fn recv_error(&self, error: impl Into<RecvPacketError>) -> RecvPacketError {
        if self.is_closed() {
            RecvPacketError::Closed
        } else {
            error.into()
        }
    }

    /// Receives the next packet within `timeout` (lock wait included; zero: what is buffered
    /// or readable at once).
    pub(crate) fn recv_within(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.recv_reading_with(timeout, sys::read)
    }

    /// Receives the next packet, every read while it arrives made with `recvmsg(2)` asking
    /// for ancillary data (appended to `ancillary`).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn recv_with_ancillary_within(
        &self,
        ancillary: &mut crate::unix::SocketAncillary<'_>,
        timeout: Option<Duration>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        self.recv_reading_with(timeout, |fd, room| {
            crate::os::recv_with_ancillary(fd, room, ancillary)
                .map(|meta| meta.len)
                .map_err(io::Error::from)
        })
    }

    /// Receives the next packet within `timeout`, each read from the socket made with `read`
    /// (a TLS connection reads through its session instead).
    fn recv_reading_with(
        &self,
        timeout: Option<Duration>,
        mut read: impl FnMut(BorrowedFd<'_>, &mut [u8]) -> io::Result<usize>,
    ) -> Result<Received<S, C>, RecvPacketError> {
        let deadline = wait::deadline(timeout);
        let mut reader = self.lock_recv(deadline)?;
        loop {
            if self.is_closed() {
                return Err(RecvPacketError::Closed);
            }
            if let Some(packet) = reader.next_packet()? {
                return Ok(packet);
            }
            #[cfg(feature = "tls")]
            if let Some(tls) = &self.tls {
                self.fill_tls(&mut reader, tls, deadline)?;
                continue;
            }
            self.fill(&mut reader, deadline, &mut read)?;
        }
    }

    /// One read into the reader, waiting until `deadline` for the socket.
    fn fill(
        &self,
        reader: &mut PacketReader<S, C>,
        deadline: Option<Instant>,
        mut read: impl FnMut(BorrowedFd<'_>, &mut [u8]) -> io::Result<usize>,
    ) -> Result<(), RecvPacketError> {
        let fd = self.fd();
        match wait::retry(fd, Interest::Read, deadline, || {
            reader.fill_with(|room| read(fd, room))
        }) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(RecvPacketError::TimedOut),
            Err(e) => Err(self.recv_error(ReceiveError::from_recvmsg(e))),
        }
    }

    /// One TLS read into the reader: the session is locked for each non-blocking attempt
    /// only, and `poll(2)` runs without the lock, so a send goes on meanwhile.
    #[cfg(feature = "tls")]
    fn fill_tls(
        &self,
        reader: &mut PacketReader<S, C>,
        tls: &Mutex<crate::tls::BlockingTlsStream>,
        deadline: Option<Instant>,
    ) -> Result<(), RecvPacketError> {
        loop {
            if self.is_closed() {
                return Err(RecvPacketError::Closed);
            }
            let result = {
                let mut tls = tls.lock().unwrap_or_else(PoisonError::into_inner);
                reader.fill_with(|room| tls.read_step(room))
            };
            match result {
                Ok(_) => return Ok(()),
                Err(e) if would_block(&e) => {
                    if !wait::wait(self.fd(), Interest::Read, deadline)
                        .map_err(|e| self.recv_error(e))?
                    {
                        return Err(RecvPacketError::TimedOut);
                    }
                }
                Err(e) => return Err(self.recv_error(e)),
            }
        }
    }
}

/// The packets received by a blocking stream client, from `iter_received_packets` or
/// `&client` in a `for` loop.
///
/// The timeout given to `iter_received_packets` is a budget for the whole iteration. The
/// iteration ends at the first error: the timeout (budget spent), the end of the stream, the
/// client closed, or any other receive error; [`error`](Self::error) tells which.
pub struct StreamPacketIter<'a, S: StreamSerializer, C = packetwire_proto::NoConverter> {
    core: &'a ClientCore<S, C>,
    deadline: Option<Instant>,
    error: Option<RecvPacketError>,
}

impl<S: StreamSerializer, C> fmt::Debug for StreamPacketIter<'_, S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPacketIter")
            .field("deadline", &self.deadline)
            .field("error", &self.error)
            .finish()
    }
}

impl<'a, S, C> StreamPacketIter<'a, S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    pub(crate) fn new(core: &'a ClientCore<S, C>, timeout: Option<Duration>) -> Self {
        Self {
            core,
            // A timeout too long to count waits forever, as no timeout.
            deadline: wait::deadline(timeout),
            error: None,
        }
    }

    /// The error that ended the iteration ([`RecvPacketError::TimedOut`] when the budget was
    /// spent, [`RecvPacketError::EndOfStream`], ...); `None` while it goes on.
    pub fn error(&self) -> Option<&RecvPacketError> {
        self.error.as_ref()
    }
}

impl<S, C> Iterator for StreamPacketIter<'_, S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    type Item = Received<S, C>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.error.is_some() {
            return None;
        }
        let timeout = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        match self.core.recv_within(timeout) {
            Ok(packet) => Some(packet),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Generates the methods the blocking stream clients share, delegating to a `core` field.
macro_rules! stream_client_methods {
    () => {
        /// Sends one packet, whole: converted, serialized and written before this returns.
        /// Waits as long as it takes for the send lock and for room in the socket.
        ///
        /// Errors: [`SendPacketError::Serialize`](crate::client::SendPacketError::Serialize)
        /// (nothing was sent, the client goes on),
        /// [`SendPacketError::EofSent`](crate::client::SendPacketError::EofSent) after
        /// [`send_eof`](Self::send_eof),
        /// [`SendPacketError::Closed`](crate::client::SendPacketError::Closed),
        /// [`SendPacketError::ConnectionReset`](crate::client::SendPacketError::ConnectionReset), ...
        pub fn send_packet(
            &self,
            packet: &$crate::client::stream_reader::Sent<S, C>,
        ) -> Result<(), $crate::client::SendPacketError> {
            self.core.send_within(packet, None)
        }

        /// [`send_packet`](Self::send_packet) within `timeout`, counting the wait for the
        /// send lock: [`SendPacketError::TimedOut`](crate::client::SendPacketError::TimedOut)
        /// after it (part of the packet may have been sent; close the client).
        pub fn send_packet_within(
            &self,
            packet: &$crate::client::stream_reader::Sent<S, C>,
            timeout: std::time::Duration,
        ) -> Result<(), $crate::client::SendPacketError> {
            self.core.send_within(packet, Some(timeout))
        }

        /// Receives the next packet, waiting as long as it takes.
        ///
        /// Errors: [`RecvPacketError::EndOfStream`](crate::client::RecvPacketError::EndOfStream)
        /// once the peer ended its side (the client can still send),
        /// [`RecvPacketError::Parse`](crate::client::RecvPacketError::Parse) for bytes that do not
        /// make a packet (dropped; the next call returns the next packet),
        /// [`RecvPacketError::Closed`](crate::client::RecvPacketError::Closed), also when
        /// another thread closes the client while this one waits.
        pub fn recv_packet(
            &self,
        ) -> Result<$crate::client::stream_reader::Received<S, C>, $crate::client::RecvPacketError>
        {
            self.core.recv_within(None)
        }

        /// [`recv_packet`](Self::recv_packet) within `timeout`, counting the wait for the
        /// receive lock. [`Duration::ZERO`](std::time::Duration::ZERO) returns a packet only if
        /// the bytes are already buffered or readable at once. After
        /// [`RecvPacketError::TimedOut`](crate::client::RecvPacketError::TimedOut) no byte is
        /// lost: a packet that was arriving is completed by the next call.
        pub fn recv_packet_within(
            &self,
            timeout: std::time::Duration,
        ) -> Result<$crate::client::stream_reader::Received<S, C>, $crate::client::RecvPacketError>
        {
            self.core.recv_within(Some(timeout))
        }

        /// The received packets, as an iterator. `timeout` is a budget for the whole
        /// iteration: `Some(Duration::ZERO)` yields what is buffered or readable at once,
        /// `None` waits as long as packets come. The iteration ends (without an error item)
        /// at the timeout, the end of the stream or any receive error;
        /// [`StreamPacketIter::error`](crate::blocking::StreamPacketIter::error) tells which.
        pub fn iter_received_packets(
            &self,
            timeout: Option<std::time::Duration>,
        ) -> $crate::blocking::StreamPacketIter<'_, S, C> {
            $crate::blocking::StreamPacketIter::new(&self.core, timeout)
        }

        /// Ends the sending side (`shutdown(SHUT_WR)`; over TLS, `close_notify` first): the
        /// peer sees the end of the stream, and this client can still receive. Idempotent; a
        /// later [`send_packet`](Self::send_packet) fails with
        /// [`SendPacketError::EofSent`](crate::client::SendPacketError::EofSent).
        pub fn send_eof(&self) -> Result<(), $crate::client::SendPacketError> {
            self.core.send_eof()
        }

        /// Closes the client. Idempotent. Every later call fails with `Closed`; a thread
        /// blocked in [`recv_packet`](Self::recv_packet) (or a send, or waiting for a lock)
        /// wakes up with `Closed` at once. The connection is shut down now; the descriptor is
        /// released when the client is dropped, so another thread can never touch a reused
        /// descriptor number. Over TLS no `close_notify` is sent: call
        /// [`send_eof`](Self::send_eof) first for an orderly TLS shutdown.
        pub fn close(&self) {
            self.core.close()
        }

        /// Whether [`close`](Self::close) was called.
        pub fn is_closed(&self) -> bool {
            self.core.is_closed()
        }

        /// The protocol object.
        pub fn protocol(&self) -> &packetwire_proto::StreamProtocol<S, C> {
            self.core.protocol()
        }

        /// How many bytes one read asks for at most.
        pub fn max_recv_size(&self) -> usize {
            self.core.max_recv_size()
        }

        /// The socket's options (buffer sizes, keep-alive, ...), EasyNetwork's socket proxy.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        pub fn socket_options(&self) -> crate::sockopt::SocketOptions<'_> {
            crate::sockopt::SocketOptions::new(self)
        }
    };
}

/// Generates the trait implementations the blocking stream clients share.
macro_rules! stream_client_impls {
    ($client:ident) => {
        impl<S, C> std::os::fd::AsFd for $client<S, C>
        where
            S: packetwire_proto::StreamSerializer,
            C: packetwire_proto::SendConverter<S::Sent>
                + packetwire_proto::RecvConverter<S::Received>,
        {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.core.fd()
            }
        }

        impl<'a, S, C> IntoIterator for &'a $client<S, C>
        where
            S: packetwire_proto::StreamSerializer,
            C: packetwire_proto::SendConverter<S::Sent>
                + packetwire_proto::RecvConverter<S::Received>,
        {
            type Item = $crate::client::stream_reader::Received<S, C>;
            type IntoIter = $crate::blocking::StreamPacketIter<'a, S, C>;

            /// [`iter_received_packets(None)`]($client::iter_received_packets).
            fn into_iter(self) -> Self::IntoIter {
                self.iter_received_packets(None)
            }
        }

        impl<S: packetwire_proto::StreamSerializer, C> std::fmt::Debug for $client<S, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($client))
                    .field("core", &self.core)
                    .finish()
            }
        }
    };
}

pub(crate) use {stream_client_impls, stream_client_methods};

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::super::{StreamPacketIter, TcpClient, TcpClientOptions};

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn stream_clients_are_send_and_sync() {
        type Json = packetwire_proto::JsonSerializer<serde_json::Value>;
        send_sync::<TcpClient<Json>>();
        send_sync::<TcpClientOptions>();
        send_sync::<StreamPacketIter<'_, Json>>();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            send_sync::<super::super::UnixStreamClient<Json>>();
            send_sync::<super::super::UnixStreamClientOptions>();
        }
    }
}
