//! What every blocking byte stream shares: the descriptor, the receive side over the sans-IO
//! [`ReceiveBuffer`] with its timeout, the send side with its timeout, the method vocabulary
//! generated for each public type, and the `std::io` traits.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use packetwire_proto::{ReceiveBuffer, DEFAULT_READ_SIZE};

use super::wait::{self, Interest};
use crate::net::{ReceiveError, SendError};
use crate::socket::stream::{read_buffered, Gather, Request, Step};
use crate::socket::sys::{self, FdKind};

/// The receive side: the descriptor, the bytes received but not handed out yet, and the
/// receive timeout.
#[derive(Debug)]
pub(crate) struct ReadCore {
    fd: Arc<OwnedFd>,
    buffer: ReceiveBuffer,
    timeout: Option<Duration>,
}

impl ReadCore {
    pub(crate) fn new(fd: Arc<OwnedFd>, limit: usize) -> Self {
        Self {
            fd,
            buffer: ReceiveBuffer::with_limit(limit),
            timeout: None,
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Takes the receive side apart: the descriptor, the bytes buffered and not handed out,
    /// and whether the peer ended its side (for the packet clients that take a stream over).
    pub(crate) fn into_parts(mut self) -> (Arc<OwnedFd>, Bytes, bool) {
        let eof = self.buffer.is_eof();
        let bytes = self.buffer.take_all();
        (self.fd, bytes, eof)
    }

    pub(crate) fn limit(&self) -> usize {
        self.buffer.limit()
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.buffer.set_limit(limit);
    }

    pub(crate) fn buffered(&self) -> &[u8] {
        self.buffer.buffered()
    }

    pub(crate) fn at_eof(&self) -> bool {
        self.buffer.at_eof()
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Reads once from the descriptor into the buffer, waiting until `deadline` at most.
    fn fill(&mut self, max: usize, deadline: Option<Instant>) -> Result<(), ReceiveError> {
        let Self { fd, buffer, .. } = self;
        let fd = fd.as_fd();
        match wait::retry(fd, Interest::Read, deadline, || {
            buffer.fill_with(max, |room| sys::read(fd, room))
        })? {
            Some(_) => Ok(()),
            None => Err(ReceiveError::TimedOut),
        }
    }

    /// Answers `request` from the buffer, reading as [`Request::step`] says (the loop the
    /// async shell runs too), within `timeout` in all.
    pub(crate) fn receive(
        &mut self,
        request: Request<'_>,
        timeout: Option<Duration>,
    ) -> Result<Bytes, ReceiveError> {
        let deadline = wait::deadline(timeout);
        loop {
            match request.step(&mut self.buffer)? {
                Step::Ready(bytes) => return Ok(bytes),
                Step::Fill(max) => self.fill(max, deadline)?,
            }
        }
    }

    /// `Read::read`: the buffer first, then the descriptor straight into `out`.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(n) = read_buffered(&mut self.buffer, out) {
            return Ok(n);
        }
        let fd = self.fd.as_fd();
        match wait::retry(fd, Interest::Read, wait::deadline(self.timeout), || {
            sys::read(fd, out)
        })? {
            Some(0) => {
                self.buffer.feed_eof();
                Ok(0)
            }
            Some(n) => Ok(n),
            None => Err(ReceiveError::TimedOut.into()),
        }
    }

    /// `BufRead::fill_buf`: the buffered bytes, after one read if there are none.
    pub(crate) fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buffer.is_empty() && !self.buffer.is_eof() {
            self.fill(DEFAULT_READ_SIZE, wait::deadline(self.timeout))?;
        }
        Ok(self.buffer.buffered())
    }

    /// `BufRead::consume`.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.buffer.len());
        let _ = self.buffer.take_up_to(n);
    }

    /// Runs a custom non-blocking read-side call until it stops failing with `WouldBlock`,
    /// within the receive timeout.
    pub(crate) fn read_with<R>(
        &self,
        op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        with_fd(self.fd(), Interest::Read, self.timeout, op)
    }

    /// One `recvmsg` with ancillary data into the buffer, unless bytes are buffered already:
    /// those come first, alone.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn receive_with_ancillary(
        &mut self,
        max: usize,
        ancillary: &mut crate::unix::SocketAncillary<'_>,
        timeout: Option<Duration>,
    ) -> Result<Bytes, ReceiveError> {
        if let Some(bytes) = self.buffer.take_up_to(max)? {
            return Ok(bytes);
        }
        let deadline = wait::deadline(timeout);
        let max = max.clamp(1, crate::socket::stream::MAX_READ_SIZE);
        let Self { fd, buffer, .. } = self;
        let fd = fd.as_fd();
        let filled = wait::retry(fd, Interest::Read, deadline, || {
            buffer.fill_with(max, |room| {
                crate::os::recv_with_ancillary(fd, room, ancillary)
                    .map(|meta| meta.len)
                    .map_err(io::Error::from)
            })
        })?;
        if filled.is_none() {
            return Err(ReceiveError::TimedOut);
        }
        match self.buffer.take_up_to(max)? {
            Some(bytes) => Ok(bytes),
            // Unreachable: a fill either added bytes or recorded the end of the stream.
            None => Err(ReceiveError::EndOfStream),
        }
    }
}

/// The send side: the descriptor, whether `send_eof` was called, and the send timeout.
#[derive(Debug)]
pub(crate) struct WriteCore {
    fd: Arc<OwnedFd>,
    eof_sent: bool,
    timeout: Option<Duration>,
}

impl WriteCore {
    pub(crate) fn new(fd: Arc<OwnedFd>) -> Self {
        Self {
            fd,
            eof_sent: false,
            timeout: None,
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    pub(crate) fn eof_sent(&self) -> bool {
        self.eof_sent
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.eof_sent {
            Err(SendError::WriteClosed)
        } else {
            Ok(())
        }
    }

    /// One send, waiting until `deadline` at most for room.
    fn write_once(&self, data: &[u8], deadline: Option<Instant>) -> Result<usize, SendError> {
        let fd = self.fd();
        match wait::retry(fd, Interest::Write, deadline, || {
            sys::write(fd, FdKind::Socket, data)
        })? {
            Some(0) if !data.is_empty() => Err(io::Error::from(io::ErrorKind::WriteZero).into()),
            Some(n) => Ok(n),
            None => Err(SendError::TimedOut),
        }
    }

    /// One gathered send (at most `IOV_MAX` buffers), waiting until `deadline` at most.
    fn write_vectored_once(
        &self,
        bufs: &[IoSlice<'_>],
        deadline: Option<Instant>,
    ) -> Result<usize, SendError> {
        let fd = self.fd();
        let bufs = &bufs[..bufs.len().min(sys::IOV_MAX)];
        match wait::retry(fd, Interest::Write, deadline, || {
            sys::write_vectored(fd, FdKind::Socket, bufs)
        })? {
            Some(n) => Ok(n),
            None => Err(SendError::TimedOut),
        }
    }

    pub(crate) fn send_all(
        &mut self,
        data: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        self.send_rest(data, wait::deadline(timeout))
    }

    fn send_rest(&self, data: &[u8], deadline: Option<Instant>) -> Result<(), SendError> {
        let mut sent = 0;
        while sent < data.len() {
            sent += self.write_once(&data[sent..], deadline)?;
        }
        Ok(())
    }

    pub(crate) fn send_all_vectored(
        &mut self,
        bufs: &[IoSlice<'_>],
        timeout: Option<Duration>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let deadline = wait::deadline(timeout);
        let mut gather = Gather::new(bufs);
        while !gather.is_done() {
            let n = self.write_vectored_once(&gather.slices(), deadline)?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            gather.advance(n);
        }
        Ok(())
    }

    pub(crate) fn send_eof(&mut self) -> Result<(), SendError> {
        if self.eof_sent {
            return Ok(());
        }
        match sys::shutdown_write(self.fd()) {
            // The connection is already gone: there is nothing left to shut down.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            result => result?,
        }
        self.eof_sent = true;
        Ok(())
    }

    /// `Write::write`: one send, within the send timeout.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        self.check_open()?;
        Ok(self.write_once(data, wait::deadline(self.timeout))?)
    }

    /// `Write::write_vectored`: one gathered send, within the send timeout.
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.check_open()?;
        Ok(self.write_vectored_once(bufs, wait::deadline(self.timeout))?)
    }

    /// Runs a custom non-blocking write-side call until it stops failing with `WouldBlock`,
    /// within the send timeout.
    pub(crate) fn write_with<R>(
        &self,
        op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
    ) -> io::Result<R> {
        with_fd(self.fd(), Interest::Write, self.timeout, op)
    }

    /// Sends all of `data`, the ancillary data with its first byte (one `sendmsg`), the rest
    /// with plain sends.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn send_all_with_ancillary(
        &mut self,
        data: &[u8],
        ancillary: &crate::unix::SocketAncillary<'_>,
        timeout: Option<Duration>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let deadline = wait::deadline(timeout);
        let fd = self.fd();
        let sent = wait::retry(fd, Interest::Write, deadline, || {
            crate::os::send_with_ancillary(fd, &[IoSlice::new(data)], ancillary, None)
        })?
        .ok_or(SendError::TimedOut)?;
        if sent == 0 && !data.is_empty() {
            return Err(io::Error::from(io::ErrorKind::WriteZero).into());
        }
        self.send_rest(&data[sent..], deadline)
    }
}

fn with_fd<R>(
    fd: BorrowedFd<'_>,
    interest: Interest,
    timeout: Option<Duration>,
    mut op: impl FnMut(BorrowedFd<'_>) -> io::Result<R>,
) -> io::Result<R> {
    wait::retry(fd, interest, wait::deadline(timeout), || op(fd))?
        .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "timed out"))
}

/// Generates the receive methods of a stream type, delegating to a `ReadCore` field.
macro_rules! receive_methods {
    ($($core:ident).+) => {
        /// Receives up to `max` bytes: what the buffer holds, otherwise what one read returns
        /// (AnyIO's `receive`). Waits until at least one byte is there, or the receive timeout
        /// ([`set_receive_timeout`](Self::set_receive_timeout)) elapses.
        ///
        /// Returns [`ReceiveError::EndOfStream`](crate::net::ReceiveError::EndOfStream) once the
        /// peer has closed its side and every byte was received, and
        /// [`ReceiveError::TimedOut`](crate::net::ReceiveError::TimedOut) when the timeout
        /// elapses. Empty bytes are returned only for `max == 0`.
        pub fn receive(&mut self, max: usize) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            let timeout = self.$($core).+.timeout();
            self.$($core).+.receive(crate::socket::stream::Request::UpTo(max), timeout)
        }

        /// Receives exactly `n` bytes (asyncio's `readexactly`).
        ///
        /// If the peer closes its side first, returns
        /// [`ReceiveError::IncompleteRead`](crate::net::ReceiveError::IncompleteRead) with the
        /// bytes received so far (possibly none). The buffer limit does not apply. On
        /// [`ReceiveError::TimedOut`](crate::net::ReceiveError::TimedOut) the bytes received
        /// so far stay buffered.
        pub fn receive_exactly(&mut self, n: usize) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            let timeout = self.$($core).+.timeout();
            self.$($core).+.receive(crate::socket::stream::Request::Exactly(n), timeout)
        }

        /// Receives up to and including `separator` (asyncio's `readuntil`); the returned bytes
        /// end with the separator.
        ///
        /// If the separator is not within the buffer limit, returns
        /// [`ReceiveError::LimitOverrun`](crate::net::ReceiveError::LimitOverrun) and leaves the
        /// data in the buffer, where `receive` can still read it. If the peer closes its side
        /// first, returns [`ReceiveError::IncompleteRead`](crate::net::ReceiveError::IncompleteRead)
        /// with everything that was buffered. On
        /// [`ReceiveError::TimedOut`](crate::net::ReceiveError::TimedOut) the bytes received
        /// so far stay buffered.
        ///
        /// # Panics
        ///
        /// If `separator` is empty.
        pub fn receive_until(&mut self, separator: &[u8]) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            let timeout = self.$($core).+.timeout();
            self.$($core).+.receive(crate::socket::stream::Request::Until(separator), timeout)
        }

        /// Receives one line, ending with `\n` (which is kept): `receive_until(b"\n")`.
        pub fn receive_line(&mut self) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.receive_until(b"\n")
        }

        /// [`receive`](Self::receive) within `timeout` instead of the receive timeout
        /// (`None`: no limit).
        pub fn receive_within(
            &mut self,
            max: usize,
            timeout: Option<std::time::Duration>,
        ) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.$($core).+.receive(crate::socket::stream::Request::UpTo(max), timeout)
        }

        /// [`receive_exactly`](Self::receive_exactly) within `timeout` instead of the receive
        /// timeout (`None`: no limit).
        pub fn receive_exactly_within(
            &mut self,
            n: usize,
            timeout: Option<std::time::Duration>,
        ) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.$($core).+.receive(crate::socket::stream::Request::Exactly(n), timeout)
        }

        /// [`receive_until`](Self::receive_until) within `timeout` instead of the receive
        /// timeout (`None`: no limit).
        ///
        /// # Panics
        ///
        /// If `separator` is empty.
        pub fn receive_until_within(
            &mut self,
            separator: &[u8],
            timeout: Option<std::time::Duration>,
        ) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.$($core).+.receive(crate::socket::stream::Request::Until(separator), timeout)
        }

        /// [`receive_line`](Self::receive_line) within `timeout` instead of the receive
        /// timeout (`None`: no limit).
        pub fn receive_line_within(
            &mut self,
            timeout: Option<std::time::Duration>,
        ) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.receive_until_within(b"\n", timeout)
        }

        /// The receive timeout (`None`, the default: wait as long as it takes).
        pub fn receive_timeout(&self) -> Option<std::time::Duration> {
            self.$($core).+.timeout()
        }

        /// Sets how long each `receive*` call (and `std::io::Read`/`BufRead` call) may wait in
        /// all, over however many reads it takes. `Some(Duration::ZERO)` does not wait: only
        /// what can be read at once. `None` waits as long as it takes.
        pub fn set_receive_timeout(&mut self, timeout: Option<std::time::Duration>) {
            self.$($core).+.set_timeout(timeout)
        }

        /// The buffer limit for separator searches (64 KiB unless set otherwise).
        pub fn limit(&self) -> usize {
            self.$($core).+.limit()
        }

        /// Changes the buffer limit for separator searches.
        ///
        /// # Panics
        ///
        /// If `limit` is zero.
        pub fn set_limit(&mut self, limit: usize) {
            self.$($core).+.set_limit(limit)
        }

        /// The bytes received but not handed out yet.
        pub fn buffered(&self) -> &[u8] {
            self.$($core).+.buffered()
        }

        /// Whether the peer closed its side and every byte was handed out (asyncio's `at_eof`).
        pub fn at_eof(&self) -> bool {
            self.$($core).+.at_eof()
        }

        /// Runs a custom non-blocking read-side call on the socket (`recvmsg` with ancillary
        /// data, `MSG_PEEK`, ...), again each time the socket becomes readable, until it stops
        /// failing with [`WouldBlock`](std::io::ErrorKind::WouldBlock) or the receive timeout
        /// elapses ([`TimedOut`](std::io::ErrorKind::TimedOut)).
        ///
        /// This bypasses the receive buffer: bytes already in [`buffered`](Self::buffered)
        /// come before anything `op` reads.
        pub fn read_with<R>(
            &self,
            op: impl FnMut(std::os::fd::BorrowedFd<'_>) -> std::io::Result<R>,
        ) -> std::io::Result<R> {
            self.$($core).+.read_with(op)
        }
    };
}

/// Generates the send methods of a stream type, delegating to a `WriteCore` field.
macro_rules! send_methods {
    ($($core:ident).+) => {
        /// Sends all of `data`, waiting while the socket buffer is full (asyncio's `write` +
        /// `drain`), within the send timeout ([`set_send_timeout`](Self::set_send_timeout)).
        /// On [`SendError::TimedOut`](crate::net::SendError::TimedOut) or another error, part of
        /// `data` may have been sent.
        pub fn send_all(&mut self, data: &[u8]) -> Result<(), crate::net::SendError> {
            let timeout = self.$($core).+.timeout();
            self.$($core).+.send_all(data, timeout)
        }

        /// Sends every buffer in order, with gathered writes (asyncio's `writelines`), within
        /// the send timeout.
        pub fn send_all_vectored(
            &mut self,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Result<(), crate::net::SendError> {
            let timeout = self.$($core).+.timeout();
            self.$($core).+.send_all_vectored(bufs, timeout)
        }

        /// [`send_all`](Self::send_all) within `timeout` instead of the send timeout (`None`:
        /// no limit).
        pub fn send_all_within(
            &mut self,
            data: &[u8],
            timeout: Option<std::time::Duration>,
        ) -> Result<(), crate::net::SendError> {
            self.$($core).+.send_all(data, timeout)
        }

        /// [`send_all_vectored`](Self::send_all_vectored) within `timeout` instead of the send
        /// timeout (`None`: no limit).
        pub fn send_all_vectored_within(
            &mut self,
            bufs: &[std::io::IoSlice<'_>],
            timeout: Option<std::time::Duration>,
        ) -> Result<(), crate::net::SendError> {
            self.$($core).+.send_all_vectored(bufs, timeout)
        }

        /// Returns at once: `send_all` returns only once the data is handed to the operating
        /// system, and there is no user-space write buffer. It is here so code written against
        /// asyncio's `drain` keeps its shape.
        pub fn flush(&mut self) -> Result<(), crate::net::SendError> {
            Ok(())
        }

        /// The send timeout (`None`, the default: wait as long as it takes).
        pub fn send_timeout(&self) -> Option<std::time::Duration> {
            self.$($core).+.timeout()
        }

        /// Sets how long each `send*` call (and `std::io::Write` call) may wait for room in
        /// the socket buffer in all. `None` waits as long as it takes.
        pub fn set_send_timeout(&mut self, timeout: Option<std::time::Duration>) {
            self.$($core).+.set_timeout(timeout)
        }

        /// Shuts down the write side (`shutdown(SHUT_WR)`): the peer receives the end of the
        /// stream, and can still send. Calling it again does nothing. Sending afterwards fails
        /// with [`SendError::WriteClosed`](crate::net::SendError::WriteClosed).
        pub fn send_eof(&mut self) -> Result<(), crate::net::SendError> {
            self.$($core).+.send_eof()
        }

        /// Whether [`send_eof`](Self::send_eof) was called.
        pub fn eof_sent(&self) -> bool {
            self.$($core).+.eof_sent()
        }

        /// Runs a custom non-blocking write-side call on the socket (`sendmsg` with ancillary
        /// data, ...), again each time the socket becomes writable, until it stops failing
        /// with [`WouldBlock`](std::io::ErrorKind::WouldBlock) or the send timeout elapses
        /// ([`TimedOut`](std::io::ErrorKind::TimedOut)).
        pub fn write_with<R>(
            &self,
            op: impl FnMut(std::os::fd::BorrowedFd<'_>) -> std::io::Result<R>,
        ) -> std::io::Result<R> {
            self.$($core).+.write_with(op)
        }
    };
}

/// Implements `std::io::Read` and `BufRead` over a `ReadCore` field: the buffer first.
macro_rules! impl_std_read {
    ($ty:ty, $($core:ident).+) => {
        /// Reads the internal buffer first, then the socket; waits within the receive timeout
        /// ([`TimedOut`](std::io::ErrorKind::TimedOut) when it elapses). Returns 0 at the end
        /// of the stream.
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.$($core).+.read(buf)
            }
        }

        /// The internal buffer is the `BufRead` buffer: `fill_buf` returns the buffered bytes
        /// (after one read if there are none), so `BufRead` calls and `receive*` calls can be
        /// mixed freely. `BufRead::read_line` and `read_until` do not apply the buffer limit.
        impl std::io::BufRead for $ty {
            fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
                self.$($core).+.fill_buf()
            }

            fn consume(&mut self, amt: usize) {
                self.$($core).+.consume(amt)
            }
        }
    };
}

/// Implements `std::io::Write` over a `WriteCore` field.
macro_rules! impl_std_write {
    ($ty:ty, $($core:ident).+) => {
        /// One send per `write` call (gathered for `write_vectored`), waiting for room within
        /// the send timeout. `flush` does nothing: there is no user-space buffer.
        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.$($core).+.write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.$($core).+.write_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use {impl_std_read, impl_std_write, receive_methods, send_methods};

/// The receive half of a blocking stream, from `into_split` (or borrowed from `split`): the
/// receive vocabulary, with the stream's receive buffer and receive timeout. Move it to
/// another thread to receive there while this one sends.
#[derive(Debug)]
pub struct ReadHalf {
    pub(crate) core: ReadCore,
}

impl ReadHalf {
    receive_methods!(core);
}

impl AsFd for ReadHalf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.fd()
    }
}

impl_std_read!(ReadHalf, core);

/// The send half of a blocking stream, from `into_split` (or borrowed from `split`): the
/// send vocabulary, with the stream's send timeout.
#[derive(Debug)]
pub struct WriteHalf {
    pub(crate) core: WriteCore,
}

impl WriteHalf {
    send_methods!(core);
}

impl AsFd for WriteHalf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.fd()
    }
}

impl_std_write!(WriteHalf, core);

/// Both halves over one non-blocking descriptor.
pub(crate) fn halves(fd: OwnedFd, limit: usize) -> (ReadHalf, WriteHalf) {
    let fd = Arc::new(fd);
    (
        ReadHalf {
            core: ReadCore::new(Arc::clone(&fd), limit),
        },
        WriteHalf {
            core: WriteCore::new(fd),
        },
    )
}
