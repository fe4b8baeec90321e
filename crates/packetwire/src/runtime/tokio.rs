//! [`Runtime`] for tokio.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::{AsyncFdIo, BoxFuture, FdDrainOp, FdOp, Runtime, TaskHandle};

/// The tokio runtime: descriptors through `AsyncFd`, tasks through `Handle::spawn`, timers
/// through `tokio::time` (honouring a paused clock).
///
/// The runtime must have its I/O and time drivers enabled (`enable_all()`, or `#[tokio::main]`).
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The runtime behind `handle`.
    pub fn new(handle: Handle) -> Self {
        Self { handle }
    }

    /// The runtime this is called from, if it is a tokio runtime.
    pub fn try_current() -> Option<Self> {
        Handle::try_current().ok().map(Self::new)
    }

    /// The tokio handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Runtime for TokioRuntime {
    fn now(&self) -> Instant {
        let _guard = self.handle.enter();
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        let _guard = self.handle.enter();
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn spawn(&self, task: BoxFuture<()>) -> Box<dyn TaskHandle> {
        Box::new(TokioTask {
            handle: self.handle.spawn(task),
            ended: false,
        })
    }

    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) {
        drop(self.handle.spawn_blocking(work));
    }

    fn register(&self, fd: OwnedFd) -> io::Result<Box<dyn AsyncFdIo>> {
        let _guard = self.handle.enter();
        // tokio 1.54 deprecates the safe constructor because an arbitrary `AsRawFd` type could
        // close or swap its descriptor behind the reactor's back. `OwnedFd` cannot: it owns
        // one descriptor, for its whole life, and the `AsyncFd` owns it. So the contract of
        // the unsafe `AsyncFd::register` holds, and this crate stays free of `unsafe`.
        //
        // Priority interest too: tokio wakes readers on `EPOLLIN` or `EPOLLPRI`, never on
        // `EPOLLERR` alone, so a socket error reported only as `EPOLLERR` (an ICMP "port
        // unreachable" on a connected UDP socket) would leave a pending receive asleep. The
        // datagram sockets set `SO_SELECT_ERR_QUEUE`, which adds `EPOLLPRI` to such errors.
        #[allow(deprecated)]
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let inner = AsyncFd::with_interest(
            fd,
            tokio::io::Interest::READABLE
                | tokio::io::Interest::WRITABLE
                | tokio::io::Interest::PRIORITY,
        )?;
        #[allow(deprecated)]
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let inner = AsyncFd::new(fd)?;
        Ok(Box::new(TokioFd { inner }))
    }
}

#[derive(Debug)]
struct TokioTask {
    handle: JoinHandle<()>,
    ended: bool,
}

impl TaskHandle for TokioTask {
    fn abort(&mut self) {
        self.handle.abort();
    }

    fn is_finished(&self) -> bool {
        self.ended || self.handle.is_finished()
    }

    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended {
            return Poll::Ready(());
        }
        // Completed, aborted or panicked: all the same here.
        let _ = ready!(Pin::new(&mut self.handle).poll(cx));
        self.ended = true;
        Poll::Ready(())
    }
}

#[derive(Debug)]
struct TokioFd {
    inner: AsyncFd<OwnedFd>,
}

impl AsyncFdIo for TokioFd {
    fn fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }

    fn poll_read_with(&self, cx: &mut Context<'_>, op: &mut FdOp<'_>) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            // On `WouldBlock`, `try_io` clears the readiness and we wait again.
            if let Ok(result) = guard.try_io(|inner| op(inner.get_ref().as_fd())) {
                return Poll::Ready(result);
            }
        }
    }

    fn poll_read_drain(
        &self,
        cx: &mut Context<'_>,
        op: &mut FdDrainOp<'_>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            match guard.try_io(|inner| op(inner.get_ref().as_fd())) {
                Ok(Ok((n, drained))) => {
                    if drained {
                        // What tokio's own streams do after a short read. Only the readiness
                        // of the event seen is cleared: bytes that arrive later raise a new
                        // edge, and the reactor wakes the next wait.
                        guard.clear_ready();
                    }
                    return Poll::Ready(Ok(n));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }

    fn poll_write_with(&self, cx: &mut Context<'_>, op: &mut FdOp<'_>) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            if let Ok(result) = guard.try_io(|inner| op(inner.get_ref().as_fd())) {
                return Poll::Ready(result);
            }
        }
    }
}
