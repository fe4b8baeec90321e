//! What listeners share: accepting from one or several sockets, with EasyNetwork's accept-loop
//! resilience.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use rustix::net::SocketAddrAny;

use crate::runtime::{self, AsyncFdIo, Runtime};
use crate::socket::accept::{AcceptFailure, ACCEPT_BACKOFF};
use crate::socket::sys;

/// One or several listening sockets registered with a runtime.
pub(crate) struct Listening {
    sockets: Vec<Box<dyn AsyncFdIo>>,
    next: AtomicUsize,
    pub(crate) runtime: Arc<dyn Runtime>,
}

impl fmt::Debug for Listening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listening")
            .field("sockets", &self.fds())
            .field("runtime", &self.runtime)
            .finish()
    }
}

impl Listening {
    pub(crate) fn new(sockets: Vec<Box<dyn AsyncFdIo>>, runtime: Arc<dyn Runtime>) -> Self {
        Self {
            sockets,
            next: AtomicUsize::new(0),
            runtime,
        }
    }

    pub(crate) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.sockets.iter().map(|s| s.fd()).collect()
    }

    /// One `accept` on whichever socket is ready, starting with a different socket each time
    /// so one busy socket cannot starve the others.
    fn poll_accept_once(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(OwnedFd, Option<SocketAddrAny>)>> {
        let count = self.sockets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..count {
            let socket = &self.sockets[(start + i) % count];
            let mut accepted = None;
            let poll = socket.poll_read_with(cx, &mut |fd| {
                accepted = Some(sys::accept(fd)?);
                Ok(0)
            });
            match poll {
                Poll::Ready(Ok(_)) => {
                    if let Some(accepted) = accepted {
                        return Poll::Ready(Ok(accepted));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// Accepts the next connection and registers it, after `prepare` (socket options) ran on
    /// it. Resource errors back off for [`ACCEPT_BACKOFF`] and retry; errors caused by one
    /// peer skip that connection; other errors are returned. Cancel-safe.
    pub(crate) async fn accept(
        &self,
        prepare: impl Fn(BorrowedFd<'_>) -> io::Result<()>,
    ) -> io::Result<(Box<dyn AsyncFdIo>, Option<SocketAddrAny>)> {
        loop {
            match poll_fn(|cx| self.poll_accept_once(cx)).await {
                Ok((fd, addr)) => {
                    // A peer that reset the connection already can make setsockopt fail: skip
                    // it like any peer-caused error.
                    if prepare(fd.as_fd()).is_err() {
                        continue;
                    }
                    match self.runtime.register(fd) {
                        Ok(io) => return Ok((io, addr)),
                        // The reactor is out of room: treat it as a resource error.
                        Err(_) => runtime::sleep(&*self.runtime, ACCEPT_BACKOFF).await,
                    }
                }
                Err(e) => match AcceptFailure::of(&e) {
                    AcceptFailure::BackOff => runtime::sleep(&*self.runtime, ACCEPT_BACKOFF).await,
                    AcceptFailure::Skip => {}
                    AcceptFailure::Fatal => return Err(e),
                },
            }
        }
    }
}
