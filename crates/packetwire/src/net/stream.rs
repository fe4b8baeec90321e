//! What every byte stream shares: the registered descriptor, the receive side over a sans-IO
//! [`ReceiveBuffer`], the send side, and the method vocabulary generated for each public type.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use packetwire_proto::ReceiveBuffer;

use super::error::{ReceiveError, SendError};
use crate::runtime::{AsyncFdIo, Runtime};
use crate::socket::stream::{read_buffered, Gather, Request, Step};
use crate::socket::sys::{self, FdKind};

/// The registered descriptor, shared by the two halves of a stream.
pub(crate) struct Shared {
    pub(crate) io: Box<dyn AsyncFdIo>,
    pub(crate) kind: FdKind,
    pub(crate) runtime: Arc<dyn Runtime>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("fd", &self.io.fd())
            .field("kind", &self.kind)
            .field("runtime", &self.runtime)
            .finish()
    }
}

impl Shared {
    pub(crate) fn new(
        io: Box<dyn AsyncFdIo>,
        kind: FdKind,
        runtime: Arc<dyn Runtime>,
    ) -> Arc<Self> {
        Arc::new(Self { io, kind, runtime })
    }
}

/// The receive side: the descriptor and the bytes received but not handed out yet.
#[derive(Debug)]
pub(crate) struct ReadCore {
    shared: Arc<Shared>,
    buffer: ReceiveBuffer,
}

impl ReadCore {
    pub(crate) fn new(shared: Arc<Shared>, limit: usize) -> Self {
        Self {
            shared,
            buffer: ReceiveBuffer::with_limit(limit),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Takes the receive side apart: the registered descriptor, the bytes buffered and not
    /// handed out, and whether the peer ended its side (for the packet clients that take a
    /// stream over).
    pub(crate) fn into_parts(mut self) -> (Arc<Shared>, Bytes, bool) {
        let eof = self.buffer.is_eof();
        let bytes = self.buffer.take_all();
        (self.shared, bytes, eof)
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

    /// Reads once from the descriptor into the buffer (zero bytes: end of stream).
    fn poll_fill(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let Self { shared, buffer } = self;
        shared.io.poll_read_with(cx, &mut |fd| {
            buffer.fill_with(max, |room| sys::read(fd, room))
        })
    }

    /// Answers `request` from the buffer, reading as [`Request::step`] says (the loop the
    /// blocking shell runs too).
    async fn receive_request(&mut self, request: Request<'_>) -> Result<Bytes, ReceiveError> {
        loop {
            match request.step(&mut self.buffer)? {
                Step::Ready(bytes) => return Ok(bytes),
                Step::Fill(max) => {
                    poll_fn(|cx| self.poll_fill(cx, max)).await?;
                }
            }
        }
    }

    pub(crate) async fn receive(&mut self, max: usize) -> Result<Bytes, ReceiveError> {
        self.receive_request(Request::UpTo(max)).await
    }

    pub(crate) async fn receive_exactly(&mut self, n: usize) -> Result<Bytes, ReceiveError> {
        self.receive_request(Request::Exactly(n)).await
    }

    pub(crate) async fn receive_until(&mut self, separator: &[u8]) -> Result<Bytes, ReceiveError> {
        self.receive_request(Request::Until(separator)).await
    }

    /// One `recvmsg` with ancillary data, unless bytes are buffered already: those are
    /// returned first, without a system call and without ancillary data (a plain read took
    /// them, and the kernel discarded whatever descriptors came with them).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) async fn receive_with_ancillary(
        &mut self,
        max: usize,
        ancillary: &mut crate::unix::SocketAncillary<'_>,
    ) -> Result<Bytes, ReceiveError> {
        if let Some(bytes) = self.buffer.take_up_to(max)? {
            return Ok(bytes);
        }
        let max = max.clamp(1, crate::socket::stream::MAX_READ_SIZE);
        let Self { shared, buffer } = self;
        poll_fn(|cx| {
            shared.io.poll_read_with(cx, &mut |fd| {
                buffer.fill_with(max, |room| {
                    crate::os::recv_with_ancillary(fd, room, ancillary)
                        .map(|meta| meta.len)
                        .map_err(io::Error::from)
                })
            })
        })
        .await
        .map_err(ReceiveError::from_recvmsg)?;
        // Empty after a read of zero bytes: the end of the stream.
        Ok(self.buffer.take_up_to(max)?.unwrap_or_default())
    }

    /// One read for a server connection: the buffer first, then the descriptor straight into
    /// `out`, through [`AsyncFdIo::poll_read_drain`](crate::runtime::AsyncFdIo::poll_read_drain)
    /// so that a read that drained the socket lets the next one wait for the reactor first.
    /// `unix`: the descriptor is a Unix stream socket (see [`sys::read_stream`]).
    pub(crate) fn poll_read_stream(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
        unix: bool,
    ) -> Poll<io::Result<usize>> {
        if let Some(n) = read_buffered(&mut self.buffer, out) {
            return Poll::Ready(Ok(n));
        }
        self.shared
            .io
            .poll_read_drain(cx, &mut |fd| sys::read_stream(fd, out, unix))
    }

    /// `AsyncRead`: the buffer first, then the descriptor straight into `out`.
    #[cfg_attr(not(any(feature = "tokio", feature = "smol")), allow(dead_code))]
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(n) = read_buffered(&mut self.buffer, out) {
            return Poll::Ready(Ok(n));
        }
        self.shared
            .io
            .poll_read_with(cx, &mut |fd| sys::read(fd, out))
    }
}

/// The send side.
#[derive(Debug)]
pub(crate) struct WriteCore {
    shared: Arc<Shared>,
    eof_sent: bool,
}

impl WriteCore {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            eof_sent: false,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.eof_sent {
            Err(SendError::WriteClosed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.eof_sent {
            return Poll::Ready(Err(SendError::WriteClosed.into()));
        }
        let kind = self.shared.kind;
        self.shared
            .io
            .poll_write_with(cx, &mut |fd| sys::write(fd, kind, data))
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.eof_sent {
            return Poll::Ready(Err(SendError::WriteClosed.into()));
        }
        let kind = self.shared.kind;
        let bufs = &bufs[..bufs.len().min(sys::IOV_MAX)];
        self.shared
            .io
            .poll_write_with(cx, &mut |fd| sys::write_vectored(fd, kind, bufs))
    }

    pub(crate) async fn send_all(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        let mut sent = 0;
        while sent < data.len() {
            let n = poll_fn(|cx| self.poll_write(cx, &data[sent..])).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            sent += n;
        }
        Ok(())
    }

    /// Sends all of `data`, `ancillary` with its first byte (one `sendmsg`), the rest
    /// without.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) async fn send_all_with_ancillary(
        &mut self,
        data: &[u8],
        ancillary: &crate::unix::SocketAncillary<'_>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let bufs = [IoSlice::new(data)];
        let first = poll_fn(|cx| {
            self.shared.io.poll_write_with(cx, &mut |fd| {
                crate::os::send_with_ancillary(fd, &bufs, ancillary, None)
            })
        })
        .await?;
        if first == 0 && !data.is_empty() {
            return Err(io::Error::from(io::ErrorKind::WriteZero).into());
        }
        self.send_all(&data[first..]).await
    }

    pub(crate) async fn send_all_vectored(
        &mut self,
        bufs: &[IoSlice<'_>],
    ) -> Result<(), SendError> {
        self.check_open()?;
        let mut gather = Gather::new(bufs);
        while !gather.is_done() {
            let slices = gather.slices();
            let n = poll_fn(|cx| self.poll_write_vectored(cx, &slices)).await?;
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
        match sys::shutdown_write(self.shared.io.fd()) {
            // The connection is already gone: there is nothing left to shut down.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            result => result?,
        }
        self.eof_sent = true;
        Ok(())
    }

    pub(crate) fn eof_sent(&self) -> bool {
        self.eof_sent
    }
}

/// Generates the receive methods of a stream type, delegating to a `ReadCore` field.
macro_rules! receive_methods {
    ($($core:ident).+) => {
        /// Receives up to `max` bytes: what the buffer holds, otherwise what one read returns
        /// (AnyIO's `receive`). Waits until at least one byte is there.
        ///
        /// Returns [`ReceiveError::EndOfStream`](crate::net::ReceiveError::EndOfStream) once the
        /// peer has closed its side and every byte was received. Empty bytes are returned only
        /// for `max == 0`. Cancel-safe: no byte is lost if the future is dropped.
        pub async fn receive(&mut self, max: usize) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.$($core).+.receive(max).await
        }

        /// Receives exactly `n` bytes (asyncio's `readexactly`).
        ///
        /// If the peer closes its side first, returns
        /// [`ReceiveError::IncompleteRead`](crate::net::ReceiveError::IncompleteRead) with the
        /// bytes received so far (possibly none). The buffer limit does not apply. Cancel-safe:
        /// bytes received before cancellation stay buffered.
        pub async fn receive_exactly(&mut self, n: usize) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.$($core).+.receive_exactly(n).await
        }

        /// Receives up to and including `separator` (asyncio's `readuntil`); the returned bytes
        /// end with the separator.
        ///
        /// If the separator is not within the buffer limit, returns
        /// [`ReceiveError::LimitOverrun`](crate::net::ReceiveError::LimitOverrun) and leaves the
        /// data in the buffer, where `receive` can still read it. If the peer closes its side
        /// first, returns [`ReceiveError::IncompleteRead`](crate::net::ReceiveError::IncompleteRead)
        /// with everything that was buffered. Cancel-safe.
        ///
        /// # Panics
        ///
        /// If `separator` is empty.
        pub async fn receive_until(&mut self, separator: &[u8]) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.$($core).+.receive_until(separator).await
        }

        /// Receives one line, ending with `\n` (which is kept): `receive_until(b"\n")`.
        pub async fn receive_line(&mut self) -> Result<bytes::Bytes, crate::net::ReceiveError> {
            self.$($core).+.receive_until(b"\n").await
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
    };
}

/// Generates the send methods of a stream type, delegating to a `WriteCore` field.
macro_rules! send_methods {
    ($($core:ident).+) => {
        /// Sends all of `data`, waiting while the socket buffer is full (asyncio's `write` +
        /// `drain`). Not cancel-safe: if the future is dropped, part of `data` may have been
        /// sent.
        pub async fn send_all(&mut self, data: &[u8]) -> Result<(), crate::net::SendError> {
            self.$($core).+.send_all(data).await
        }

        /// Sends every buffer in order, with gathered writes (asyncio's `writelines`). Not
        /// cancel-safe, like [`send_all`](Self::send_all).
        pub async fn send_all_vectored(
            &mut self,
            bufs: &[std::io::IoSlice<'_>],
        ) -> Result<(), crate::net::SendError> {
            self.$($core).+.send_all_vectored(bufs).await
        }

        /// Waits until sent data is handed to the operating system. `send_all` returns only
        /// then, and there is no user-space write buffer, so this returns at once; it is here
        /// so code written against asyncio's `drain` keeps its shape.
        pub async fn flush(&mut self) -> Result<(), crate::net::SendError> {
            Ok(())
        }
    };
}

/// Generates `send_eof` for socket stream types.
macro_rules! send_eof_method {
    ($($core:ident).+) => {
        /// Shuts down the write side (`shutdown(SHUT_WR)`): the peer receives the end of the
        /// stream, and can still send. Calling it again does nothing. Sending afterwards fails
        /// with [`SendError::WriteClosed`](crate::net::SendError::WriteClosed).
        pub fn send_eof(&mut self) -> Result<(), crate::net::SendError> {
            self.$($core).+.send_eof()
        }
    };
}

/// Generates `read_with`/`write_with`: custom non-blocking calls through the runtime seam.
macro_rules! fd_io_methods {
    ($($core:ident).+) => {
        /// Runs a custom non-blocking read-side call on the socket (`recvmsg` with ancillary
        /// data, `MSG_PEEK`, ...), again each time the socket becomes readable, until it stops
        /// failing with [`WouldBlock`](std::io::ErrorKind::WouldBlock).
        ///
        /// This bypasses the receive buffer: bytes already in [`buffered`](Self::buffered)
        /// come before anything `op` reads.
        pub async fn read_with<R>(
            &self,
            mut op: impl FnMut(std::os::fd::BorrowedFd<'_>) -> std::io::Result<R>,
        ) -> std::io::Result<R> {
            let io = &self.$($core).+.shared().io;
            let mut output = None;
            std::future::poll_fn(|cx| {
                io.poll_read_with(cx, &mut |fd| {
                    output = Some(op(fd)?);
                    Ok(0)
                })
            })
            .await?;
            output.ok_or_else(|| std::io::Error::other("the operation produced no result"))
        }

        /// Runs a custom non-blocking write-side call on the socket (`sendmsg` with ancillary
        /// data, ...), again each time the socket becomes writable, until it stops failing
        /// with [`WouldBlock`](std::io::ErrorKind::WouldBlock).
        pub async fn write_with<R>(
            &self,
            mut op: impl FnMut(std::os::fd::BorrowedFd<'_>) -> std::io::Result<R>,
        ) -> std::io::Result<R> {
            let io = &self.$($core).+.shared().io;
            let mut output = None;
            std::future::poll_fn(|cx| {
                io.poll_write_with(cx, &mut |fd| {
                    output = Some(op(fd)?);
                    Ok(0)
                })
            })
            .await?;
            output.ok_or_else(|| std::io::Error::other("the operation produced no result"))
        }
    };
}

/// Implements tokio's and futures-io's `AsyncRead` over a `ReadCore` field.
macro_rules! impl_async_read {
    ($ty:ty, $($core:ident).+) => {
        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let this = self.get_mut();
                let n = std::task::ready!(this.$($core).+.poll_read_into(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }

        #[cfg(feature = "smol")]
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().$($core).+.poll_read_into(cx, buf)
            }
        }
    };
}

/// Implements tokio's and futures-io's `AsyncWrite` over a `WriteCore` field. `$shutdown`
/// says whether shutting down the writer sends the end of the stream (sockets) or does
/// nothing (pipes: drop the writer to close them).
macro_rules! impl_async_write {
    ($ty:ty, $shutdown:literal, $($core:ident).+) => {
        #[cfg(feature = "tokio")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().$($core).+.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().$($core).+.poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                if $shutdown {
                    std::task::Poll::Ready(self.get_mut().$($core).+.send_eof().map_err(Into::into))
                } else {
                    std::task::Poll::Ready(Ok(()))
                }
            }
        }

        #[cfg(feature = "smol")]
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().$($core).+.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().$($core).+.poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                if $shutdown {
                    std::task::Poll::Ready(self.get_mut().$($core).+.send_eof().map_err(Into::into))
                } else {
                    std::task::Poll::Ready(Ok(()))
                }
            }
        }
    };
}

pub(crate) use {
    fd_io_methods, impl_async_read, impl_async_write, receive_methods, send_eof_method,
    send_methods,
};

/// The receive half of a socket stream, from `into_split` (or borrowed from `split`). Same
/// receive vocabulary as the whole stream; it keeps the stream's receive buffer.
#[derive(Debug)]
pub struct ReadHalf {
    pub(crate) core: ReadCore,
}

impl ReadHalf {
    receive_methods!(core);

    /// The runtime the stream is registered with.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.core.shared().runtime
    }
}

impl AsFd for ReadHalf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.shared().io.fd()
    }
}

/// The send half of a socket stream, from `into_split` (or borrowed from `split`). Same send
/// vocabulary as the whole stream.
#[derive(Debug)]
pub struct WriteHalf {
    pub(crate) core: WriteCore,
}

impl WriteHalf {
    send_methods!(core);
    send_eof_method!(core);

    /// Whether [`send_eof`](Self::send_eof) was called.
    pub fn eof_sent(&self) -> bool {
        self.core.eof_sent()
    }
}

impl AsFd for WriteHalf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.shared.io.fd()
    }
}

impl_async_read!(ReadHalf, core);
impl_async_write!(WriteHalf, true, core);

/// Builds both halves over one registered descriptor.
pub(crate) fn halves(shared: Arc<Shared>, limit: usize) -> (ReadHalf, WriteHalf) {
    (
        ReadHalf {
            core: ReadCore::new(Arc::clone(&shared), limit),
        },
        WriteHalf {
            core: WriteCore::new(shared),
        },
    )
}
