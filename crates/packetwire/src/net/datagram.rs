//! What the async datagram sockets share: the registered descriptor, one gate per direction,
//! the receive buffer, and the [`Incoming`] stream of received datagrams.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::BorrowedFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::error::DatagramReceiveError;
use crate::datagram::{check_sent, FULL_QUEUE_RETRY_MAX, FULL_QUEUE_RETRY_MIN};
use crate::os::RecvError;
use crate::runtime::{AsyncFdIo, Runtime};
use crate::sync::{Gate, GatePermit};

/// A receive call on the socket, given the receive buffer.
pub(crate) type RecvOp<'a, R> =
    dyn FnMut(BorrowedFd<'_>, &mut [u8]) -> Result<R, RecvError> + Send + 'a;

/// The registered descriptor of a datagram socket, and what its methods share.
///
/// Every method takes `&self`, so a socket can be shared by several tasks (in an `Arc`). The
/// runtime seam keeps one waker per direction, so each direction has a [`Gate`]: one task at
/// a time waits on the descriptor for a receive, one for a send, and the others wait for the
/// gate.
pub(crate) struct DatagramCore {
    io: Box<dyn AsyncFdIo>,
    runtime: Arc<dyn Runtime>,
    receiving: Gate,
    sending: Gate,
    /// Allocated at the first receive, then reused; only touched by the gate's holder.
    buffer: Mutex<Vec<u8>>,
    max_datagram_size: usize,
}

impl fmt::Debug for DatagramCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramCore")
            .field("fd", &self.io.fd())
            .field("runtime", &self.runtime)
            .field("max_datagram_size", &self.max_datagram_size)
            .finish_non_exhaustive()
    }
}

impl DatagramCore {
    pub(crate) fn new(
        io: Box<dyn AsyncFdIo>,
        runtime: Arc<dyn Runtime>,
        max_datagram_size: usize,
    ) -> Self {
        Self {
            io,
            runtime,
            receiving: Gate::default(),
            sending: Gate::default(),
            buffer: Mutex::new(Vec::new()),
            max_datagram_size,
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.io.fd()
    }

    pub(crate) fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    pub(crate) fn max_datagram_size(&self) -> usize {
        self.max_datagram_size
    }

    pub(crate) fn set_max_datagram_size(&mut self, size: usize) {
        self.max_datagram_size = crate::datagram::check_max_datagram_size(size);
    }

    /// Runs `op` once the socket is readable, with the receive buffer, until it stops failing
    /// with `WouldBlock`. The caller holds the receive gate.
    fn poll_receive_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: &mut RecvOp<'_, R>,
    ) -> Poll<Result<R, DatagramReceiveError>> {
        let max = self.max_datagram_size;
        let mut output = None;
        let poll = self.io.poll_read_with(cx, &mut |fd| {
            let mut buffer = self
                .buffer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if buffer.len() < max {
                buffer.resize(max, 0);
            }
            // A truncation error crosses the seam as an `io::Error` and is unwrapped below.
            output = Some(op(fd, &mut buffer[..max]).map_err(io::Error::from)?);
            Ok(0)
        });
        match ready!(poll) {
            Ok(_) => Poll::Ready(
                output.ok_or_else(|| io::Error::other("the receive produced no result").into()),
            ),
            Err(e) => Poll::Ready(Err(RecvError::from(e).into())),
        }
    }

    /// Receives with `op` (see [`poll_receive_with`](Self::poll_receive_with)). Cancel-safe:
    /// a datagram is only taken from the socket in the poll that returns it.
    pub(crate) async fn receive_with<R>(
        &self,
        op: &mut RecvOp<'_, R>,
    ) -> Result<R, DatagramReceiveError> {
        let _permit = self.receiving.acquire().await;
        poll_fn(|cx| self.poll_receive_with(cx, op)).await
    }

    /// Sends one datagram of `len` bytes with `op`, once the socket is writable.
    pub(crate) async fn send_with(
        &self,
        len: usize,
        op: &mut (dyn FnMut(BorrowedFd<'_>) -> io::Result<usize> + Send),
    ) -> io::Result<()> {
        let _permit = self.sending.acquire().await;
        let sent = poll_fn(|cx| self.io.poll_write_with(cx, op)).await?;
        check_sent(sent, len)
    }

    /// Sends one datagram of `len` bytes with `op`, retrying after a growing delay while it
    /// fails with `WouldBlock`, without waiting for writability: for a send to a Unix address,
    /// whose full receive queue Linux does not report as a readiness event (it only does for
    /// a connected socket's peer), so waiting for writability could wait forever or spin.
    pub(crate) async fn send_with_retry(
        &self,
        len: usize,
        op: &mut (dyn FnMut(BorrowedFd<'_>) -> io::Result<usize> + Send),
    ) -> io::Result<()> {
        let _permit = self.sending.acquire().await;
        let mut wait = FULL_QUEUE_RETRY_MIN;
        loop {
            match op(self.io.fd()) {
                Ok(sent) => return check_sent(sent, len),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::runtime::sleep(&*self.runtime, wait).await;
                    wait = (wait * 2).min(FULL_QUEUE_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A receive call that also gives the sender's address.
pub(crate) type RecvFromFn<A> = fn(BorrowedFd<'_>, &mut [u8]) -> Result<(usize, A), RecvError>;

/// The datagrams a socket receives, with their senders, as a [`Stream`]: AnyIO's
/// `async for packet, addr in udp`. Made by `incoming()` on
/// [`UdpSocket`](crate::net::UdpSocket) and [`UnixDatagram`](crate::net::UnixDatagram).
///
/// Each item is what `receive_from` would return. An error is an item too and the stream goes
/// on (a datagram larger than the buffer, an ICMP error reported on a connected socket); a
/// datagram socket has no end, so the stream never ends. It borrows the socket shared, so the
/// loop can send replies on the same socket:
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use futures_core::Stream;
/// use packetwire::net::UdpSocket;
///
/// // Any `StreamExt` works; this one is spelled out to keep the example self-contained.
/// async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
///     std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
/// }
///
/// let server = UdpSocket::bind("127.0.0.1", 0).await?;
/// let client = UdpSocket::connect("127.0.0.1", server.local_addr()?.port()).await?;
/// client.send(b"world").await?;
///
/// let mut incoming = server.incoming();
/// if let Some(item) = next(&mut incoming).await {
///     let (packet, from) = item?;
///     server.send_to(&[&b"Hello, "[..], &packet].concat(), from).await?;
/// }
/// assert_eq!(client.receive().await?, "Hello, world");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// While a poll is pending, the stream holds the socket's receive side: other receives on the
/// same socket wait until the stream yields its item or is dropped. Dropping it between items
/// loses nothing.
pub struct Incoming<'a, A> {
    core: &'a DatagramCore,
    recv_from: RecvFromFn<A>,
    permit: Option<GatePermit<'a>>,
}

impl<A> fmt::Debug for Incoming<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("socket", &self.core)
            .field("waiting", &self.permit.is_some())
            .finish()
    }
}

impl<'a, A> Incoming<'a, A> {
    pub(crate) fn new(core: &'a DatagramCore, recv_from: RecvFromFn<A>) -> Self {
        Self {
            core,
            recv_from,
            permit: None,
        }
    }
}

impl<A> Stream for Incoming<'_, A> {
    type Item = Result<(Bytes, A), DatagramReceiveError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.permit.is_none() {
            this.permit = Some(ready!(this.core.receiving.poll_acquire(cx)));
        }
        let recv_from = this.recv_from;
        let result = ready!(this.core.poll_receive_with(cx, &mut |fd, buf| {
            let (len, from) = recv_from(fd, buf)?;
            Ok((Bytes::copy_from_slice(&buf[..len]), from))
        }));
        this.permit = None;
        Poll::Ready(Some(result))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}
