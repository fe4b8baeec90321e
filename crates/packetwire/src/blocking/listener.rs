//! What blocking listeners share: accepting from one or several sockets, with EasyNetwork's
//! accept-loop resilience (decided in [`crate::socket::accept`]) and a timeout.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rustix::net::SocketAddrAny;

use super::wait::{self, Interest};
use crate::socket::accept::{AcceptFailure, ACCEPT_BACKOFF};
use crate::socket::sys;

/// One or several listening sockets, non-blocking.
#[derive(Debug)]
pub(crate) struct Listening {
    sockets: Vec<OwnedFd>,
    next: AtomicUsize,
}

impl Listening {
    pub(crate) fn new(sockets: Vec<OwnedFd>) -> Self {
        Self {
            sockets,
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.sockets.iter().map(AsFd::as_fd).collect()
    }

    /// Accepts the next connection (non-blocking, close-on-exec) from whichever socket has
    /// one, starting with a different socket each time so one busy socket cannot starve the
    /// others; `prepare` (socket options) runs on it first. Resource errors back off for
    /// [`ACCEPT_BACKOFF`] and retry; errors caused by one peer skip that connection; other
    /// errors are returned. `Ok(None)` when `deadline` passed first, or when `stop` became
    /// readable (a serving loop being told to end).
    pub(crate) fn accept(
        &self,
        deadline: Option<Instant>,
        stop: Option<BorrowedFd<'_>>,
        prepare: impl Fn(BorrowedFd<'_>) -> io::Result<()>,
    ) -> io::Result<Option<(OwnedFd, Option<SocketAddrAny>)>> {
        let count = self.sockets.len();
        'retry: loop {
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            for i in 0..count {
                let socket = self.sockets[(start + i) % count].as_fd();
                match sys::accept(socket) {
                    Ok((fd, addr)) => {
                        // A peer that reset the connection already can make setsockopt fail:
                        // skip it like any peer-caused error.
                        if prepare(fd.as_fd()).is_err() {
                            continue 'retry;
                        }
                        return Ok(Some((fd, addr)));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => match AcceptFailure::of(&e) {
                        AcceptFailure::BackOff => {
                            if !wait::sleep(ACCEPT_BACKOFF, deadline) {
                                return Ok(None);
                            }
                            continue 'retry;
                        }
                        AcceptFailure::Skip => continue 'retry,
                        AcceptFailure::Fatal => return Err(e),
                    },
                }
            }
            let mut fds = self.fds();
            fds.extend(stop);
            let ready = wait::wait_any(&fds, Interest::Read, deadline)?;
            if ready.is_empty() || (stop.is_some() && ready.contains(&count)) {
                return Ok(None);
            }
        }
    }
}

/// The error of an `accept` whose timeout elapsed.
pub(crate) fn accept_timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "accept timed out")
}
