//! The runtime seam: the few things packetwire's async shell needs from an async runtime.
//!
//! packetwire does not depend on one runtime. Like quinn, it reaches tokio and smol through a
//! small object-safe trait, [`Runtime`]: the clock, timers, spawning, running blocking work
//! (name resolution), and turning a non-blocking file descriptor into an [`AsyncFdIo`], which
//! runs a non-blocking system call again each time the descriptor becomes ready. Every socket
//! operation of [`crate::net`] goes through [`AsyncFdIo::poll_read_with`] and
//! [`AsyncFdIo::poll_write_with`]: reads, writes, `sendmsg`/`recvmsg` with ancillary data,
//! `accept`, and the end of a non-blocking `connect`.
//!
//! | runtime | type | feature |
//! |---|---|---|
//! | tokio | [`TokioRuntime`] (`AsyncFd`, `tokio::spawn`, `tokio::time`) | `tokio` (default) |
//! | smol | [`SmolRuntime`] (`async_io::Async`, `async_io::Timer`, smol's executor) | `smol` |
//!
//! [`current()`] picks the runtime it is called from; every constructor of [`crate::net`] uses
//! it unless a runtime is given explicitly. Another runtime can be plugged in by implementing
//! [`Runtime`], [`AsyncFdIo`] and [`TaskHandle`].
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # {
//! use std::time::Duration;
//! use packetwire::runtime::{self, Elapsed};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let rt = runtime::current().unwrap();
//! let answer = runtime::timeout(&*rt, Duration::from_secs(1), async { 42 }).await;
//! assert_eq!(answer, Ok(42));
//! let never = runtime::timeout(&*rt, Duration::from_millis(1), std::future::pending::<()>()).await;
//! assert_eq!(never, Err(Elapsed));
//! # });
//! # }
//! ```

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

#[cfg(feature = "smol")]
mod smol;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "smol")]
pub use self::smol::SmolRuntime;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioRuntime;

/// A boxed, sendable future: what the seam passes around.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A non-blocking operation over a borrowed file descriptor, run by
/// [`AsyncFdIo::poll_read_with`] and [`AsyncFdIo::poll_write_with`]. It returns a count (bytes
/// read or written, or anything the caller likes) or an error; an
/// [`io::ErrorKind::WouldBlock`] error means "not ready, wait and call me again".
pub type FdOp<'a> = dyn FnMut(BorrowedFd<'_>) -> io::Result<usize> + 'a;

/// A non-blocking read over a borrowed file descriptor that also says whether it drained the
/// descriptor (the kernel had no more bytes to give), run by [`AsyncFdIo::poll_read_drain`].
pub type FdDrainOp<'a> = dyn FnMut(BorrowedFd<'_>) -> io::Result<(usize, bool)> + 'a;

/// An async runtime, as packetwire sees it. Object-safe: the shell holds an
/// `Arc<dyn Runtime>`.
pub trait Runtime: Send + Sync + fmt::Debug + 'static {
    /// The runtime's clock (tokio's clock can be paused in tests).
    fn now(&self) -> Instant;

    /// A future that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()>;

    /// Runs `task` concurrently, and returns a handle to abort it or wait for it. Dropping the
    /// handle lets the task run on, detached.
    fn spawn(&self, task: BoxFuture<()>) -> Box<dyn TaskHandle>;

    /// Runs a blocking function (such as `getaddrinfo`) where it can block without stalling the
    /// runtime. The function reports its own result, for instance through a channel.
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>);

    /// Registers a descriptor with the runtime's reactor. The descriptor must already be in
    /// non-blocking mode; the returned object owns it and closes it when dropped.
    fn register(&self, fd: OwnedFd) -> io::Result<Box<dyn AsyncFdIo>>;
}

/// A registered non-blocking file descriptor: runs operations on it again each time it becomes
/// ready, until they stop saying [`io::ErrorKind::WouldBlock`].
///
/// Reads and writes may run at the same time from two tasks (one of each); two concurrent
/// readers, or two concurrent writers, each keep only the last waker.
pub trait AsyncFdIo: Send + Sync + fmt::Debug {
    /// The descriptor.
    fn fd(&self) -> BorrowedFd<'_>;

    /// Runs `op` until it does not return `WouldBlock`, waiting for read readiness in between.
    /// `op` may run on the first poll, before any wait (always with smol; with tokio when the
    /// reactor already saw the descriptor ready), so it must be a non-blocking call that is
    /// harmless to repeat.
    fn poll_read_with(&self, cx: &mut Context<'_>, op: &mut FdOp<'_>) -> Poll<io::Result<usize>>;

    /// Like [`poll_read_with`](Self::poll_read_with), for reads that tell whether they
    /// drained the descriptor (`op` returns the count and `true` then: a stream read that
    /// returned fewer bytes than it asked for, with nothing such as control data making it stop
    /// early). After a draining read the runtime may forget the descriptor's readiness, so
    /// that the next call waits for the reactor instead of first trying a read that can only
    /// fail with `WouldBlock`: on a request/response connection, one system call less per
    /// request. The default runs `op` through `poll_read_with`.
    fn poll_read_drain(
        &self,
        cx: &mut Context<'_>,
        op: &mut FdDrainOp<'_>,
    ) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, &mut |fd| op(fd).map(|(n, _)| n))
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for write readiness in between.
    fn poll_write_with(&self, cx: &mut Context<'_>, op: &mut FdOp<'_>) -> Poll<io::Result<usize>>;
}

/// A spawned task: abort it, or wait for it to end.
pub trait TaskHandle: Send + Sync + fmt::Debug {
    /// Asks the task to stop: it is dropped at its next suspension point. Waiting with
    /// [`poll_join`](Self::poll_join) afterwards completes once it is gone.
    fn abort(&mut self);

    /// Whether the task has ended (completed, panicked or aborted).
    fn is_finished(&self) -> bool;

    /// Ready once the task has ended, whatever the way.
    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

impl dyn TaskHandle {
    /// Waits until the task has ended.
    pub async fn join(&mut self) {
        poll_fn(|cx| self.poll_join(cx)).await
    }
}

/// No async runtime could be found: [`current()`] was called outside a tokio runtime and the
/// `smol` feature is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRuntime;

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no async runtime: call from within a tokio runtime, enable the `smol` feature, or \
             pass a runtime explicitly",
        )
    }
}

impl std::error::Error for NoRuntime {}

impl From<NoRuntime> for io::Error {
    fn from(error: NoRuntime) -> Self {
        io::Error::new(io::ErrorKind::Unsupported, error)
    }
}

/// The runtime this is called from: tokio when inside a tokio runtime (feature `tokio`),
/// otherwise smol (feature `smol`), whose reactor and executor are global.
pub fn current() -> Result<Arc<dyn Runtime>, NoRuntime> {
    #[cfg(feature = "tokio")]
    if let Some(rt) = TokioRuntime::try_current() {
        return Ok(Arc::new(rt));
    }
    #[cfg(feature = "smol")]
    {
        Ok(Arc::new(SmolRuntime::new()))
    }
    #[cfg(not(feature = "smol"))]
    {
        Err(NoRuntime)
    }
}

/// The given runtime, or the current one.
pub(crate) fn or_current(
    runtime: Option<&Arc<dyn Runtime>>,
) -> Result<Arc<dyn Runtime>, NoRuntime> {
    match runtime {
        Some(rt) => Ok(Arc::clone(rt)),
        None => current(),
    }
}

/// A deadline passed before the operation completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(error: Elapsed) -> Self {
        io::Error::new(io::ErrorKind::TimedOut, error)
    }
}

/// Runs `future` for at most `duration` on `runtime`'s clock. When time runs out, the future
/// is dropped (cancelled) and [`Elapsed`] is returned. The future is polled before the timer,
/// so one that is ready at once wins even with a zero duration.
pub async fn timeout<F: Future>(
    runtime: &dyn Runtime,
    duration: Duration,
    future: F,
) -> Result<F::Output, Elapsed> {
    match runtime.now().checked_add(duration) {
        Some(deadline) => timeout_at(runtime, deadline, future).await,
        // Further than the clock can count: no deadline.
        None => Ok(future.await),
    }
}

/// Runs `future` until `deadline` at most; see [`timeout`].
pub async fn timeout_at<F: Future>(
    runtime: &dyn Runtime,
    deadline: Instant,
    future: F,
) -> Result<F::Output, Elapsed> {
    let mut future = std::pin::pin!(future);
    let mut sleep: Option<BoxFuture<()>> = None;
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let sleep = sleep.get_or_insert_with(|| runtime.sleep_until(deadline));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Runs `future` with an optional deadline.
pub(crate) async fn maybe_timeout_at<F: Future>(
    runtime: &dyn Runtime,
    deadline: Option<Instant>,
    future: F,
) -> Result<F::Output, Elapsed> {
    match deadline {
        Some(deadline) => timeout_at(runtime, deadline, future).await,
        None => Ok(future.await),
    }
}

/// Sleeps for `duration` on `runtime`'s clock.
pub async fn sleep(runtime: &dyn Runtime, duration: Duration) {
    let deadline = runtime.now().checked_add(duration);
    match deadline {
        Some(deadline) => runtime.sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Runs a blocking function on `runtime`'s blocking pool and waits for its result.
pub(crate) async fn unblock<T: Send + 'static>(
    runtime: &dyn Runtime,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (sender, receiver) = crate::sync::oneshot();
    runtime.spawn_blocking(Box::new(move || sender.send(work())));
    match receiver.await {
        Some(value) => value,
        // The blocking pool drops work only when it shuts down, taking us with it.
        None => std::future::pending().await,
    }
}
