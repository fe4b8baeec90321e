//! [`Runtime`] for smol.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer};
use smol::{Executor, Task};

use super::{AsyncFdIo, BoxFuture, FdDrainOp, FdOp, Runtime, TaskHandle};

/// The smol runtime: descriptors through `async_io::Async`, timers through `async_io::Timer`,
/// blocking work through `blocking::unblock`, and tasks on smol's global executor
/// (`smol::spawn`) or on an executor you give.
///
/// smol's reactor is global, so this runtime works from any thread; the global executor runs
/// on its own thread(s) (`SMOL_THREADS`).
#[derive(Debug, Clone, Default)]
pub struct SmolRuntime {
    executor: Option<Arc<Executor<'static>>>,
}

impl SmolRuntime {
    /// Spawns on smol's global executor.
    pub fn new() -> Self {
        Self { executor: None }
    }

    /// Spawns on `executor`, which you run yourself (`executor.run(...)`).
    pub fn with_executor(executor: Arc<Executor<'static>>) -> Self {
        Self {
            executor: Some(executor),
        }
    }
}

impl Runtime for SmolRuntime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(async move {
            Timer::at(deadline).await;
        })
    }

    fn spawn(&self, task: BoxFuture<()>) -> Box<dyn TaskHandle> {
        // A panic ends the task quietly (after the panic hook ran), as with tokio; without
        // this, polling the smol task afterwards would panic in turn.
        let task = crate::sync::CatchUnwind::new(task);
        let task = match &self.executor {
            Some(executor) => executor.spawn(task),
            None => smol::spawn(task),
        };
        Box::new(SmolTask {
            state: TaskState::Running(task),
        })
    }

    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send + 'static>) {
        smol::unblock(work).detach();
    }

    fn register(&self, fd: OwnedFd) -> io::Result<Box<dyn AsyncFdIo>> {
        Ok(Box::new(SmolFd {
            inner: Async::new_nonblocking(fd)?,
            drained: AtomicBool::new(false),
        }))
    }
}

enum TaskState {
    Running(Task<()>),
    Cancelling(Pin<Box<dyn Future<Output = Option<()>> + Send + Sync>>),
    Ended,
}

struct SmolTask {
    state: TaskState,
}

impl std::fmt::Debug for SmolTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            TaskState::Running(_) => "running",
            TaskState::Cancelling(_) => "cancelling",
            TaskState::Ended => "ended",
        };
        f.debug_struct("SmolTask").field("state", &state).finish()
    }
}

impl TaskHandle for SmolTask {
    fn abort(&mut self) {
        if let TaskState::Running(_) = self.state {
            if let TaskState::Running(task) = std::mem::replace(&mut self.state, TaskState::Ended) {
                self.state = TaskState::Cancelling(Box::pin(task.cancel()));
            }
        }
    }

    fn is_finished(&self) -> bool {
        match &self.state {
            TaskState::Running(task) => task.is_finished(),
            TaskState::Cancelling(_) => false,
            TaskState::Ended => true,
        }
    }

    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.state {
            TaskState::Running(task) => ready!(Pin::new(task).poll(cx)),
            TaskState::Cancelling(cancel) => {
                let _ = ready!(cancel.as_mut().poll(cx));
            }
            TaskState::Ended => {}
        }
        self.state = TaskState::Ended;
        Poll::Ready(())
    }
}

impl Drop for SmolTask {
    fn drop(&mut self) {
        // Dropping a smol task cancels it; dropping our handle must detach it, as with tokio.
        if let TaskState::Running(task) = std::mem::replace(&mut self.state, TaskState::Ended) {
            task.detach();
        }
    }
}

#[derive(Debug)]
struct SmolFd {
    inner: Async<OwnedFd>,
    // The last `poll_read_drain` read drained the descriptor: wait for readability before
    // the next read instead of trying one that would fail with `WouldBlock`.
    drained: AtomicBool,
}

impl AsyncFdIo for SmolFd {
    fn fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }

    fn poll_read_with(&self, cx: &mut Context<'_>, op: &mut FdOp<'_>) -> Poll<io::Result<usize>> {
        loop {
            match op(self.fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
            ready!(self.inner.poll_readable(cx))?;
        }
    }

    fn poll_read_drain(
        &self,
        cx: &mut Context<'_>,
        op: &mut FdDrainOp<'_>,
    ) -> Poll<io::Result<usize>> {
        if self.drained.load(Ordering::Relaxed) {
            // async-io re-arms its one-shot interest here; the kernel reports at once bytes
            // that are already waiting.
            ready!(self.inner.poll_readable(cx))?;
            self.drained.store(false, Ordering::Relaxed);
        }
        loop {
            match op(self.fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
                Ok((n, drained)) => {
                    if drained {
                        self.drained.store(true, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(n));
                }
            }
            ready!(self.inner.poll_readable(cx))?;
        }
    }

    fn poll_write_with(&self, cx: &mut Context<'_>, op: &mut FdOp<'_>) -> Poll<io::Result<usize>> {
        loop {
            match op(self.fd()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
            ready!(self.inner.poll_writable(cx))?;
        }
    }
}
