//! How the blocking shell waits: `poll(2)` on non-blocking descriptors, against a deadline.
//!
//! Every socket of the blocking shell stays in non-blocking mode (as EasyNetwork's sync
//! clients do). A call first tries the system call; on `WouldBlock` it waits in `poll(2)` for
//! readiness, up to the deadline, and tries again. So one thread can block in a receive while
//! another sends on the same socket, a timeout covers a whole call (several reads), and a
//! listener waits on all its sockets at once. The clock is [`Instant`]; the rest of the logic
//! is the shared, clock-free code of [`crate::socket`].

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

/// The deadline `timeout` from now; `None` (no timeout, or one too far to count) waits
/// forever.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Readable (data, end of stream, a connection to accept, an error).
    Read,
    /// Writable (room in the send buffer, a finished `connect`, an error).
    Write,
}

/// Waits until one of `fds` is ready for `interest`, or `deadline` passes. Returns the
/// indexes of the ready descriptors; empty when the deadline passed first. Errors and hang-ups
/// count as ready: the next system call reports them.
pub(crate) fn wait_any(
    fds: &[BorrowedFd<'_>],
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<Vec<usize>> {
    let flags = match interest {
        Interest::Read => PollFlags::IN,
        Interest::Write => PollFlags::OUT,
    };
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, flags))
        .collect();
    loop {
        let timeout = match deadline {
            None => None,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Further than a timespec can count: wait forever.
                Timespec::try_from(left).ok()
            }
        };
        match rustix::event::poll(&mut polled, timeout.as_ref()) {
            Ok(0) => return Ok(Vec::new()),
            Ok(_) => {
                return Ok(polled
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !p.revents().is_empty())
                    .map(|(i, _)| i)
                    .collect())
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until `fd` is ready for `interest`; `false` when `deadline` passed first.
pub(crate) fn wait(
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    Ok(!wait_any(&[fd], interest, deadline)?.is_empty())
}

/// Runs the non-blocking call `op` until it does not fail with `WouldBlock`, waiting for
/// `interest` on `fd` in between. `Ok(None)` when `deadline` passed first. `op` runs at least
/// once, even with a deadline already past: a call that can proceed at once always does.
pub(crate) fn retry<R>(
    fd: BorrowedFd<'_>,
    interest: Interest,
    deadline: Option<Instant>,
    mut op: impl FnMut() -> io::Result<R>,
) -> io::Result<Option<R>> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !wait(fd, interest, deadline)? {
                    return Ok(None);
                }
            }
            result => return result.map(Some),
        }
    }
}

/// Sleeps for `duration`, or until `deadline` if that comes first; `false` when the deadline
/// was reached.
pub(crate) fn sleep(duration: Duration, deadline: Option<Instant>) -> bool {
    let now = Instant::now();
    match deadline {
        Some(deadline) if deadline <= now.checked_add(duration).unwrap_or(deadline) => {
            std::thread::sleep(deadline.saturating_duration_since(now));
            false
        }
        _ => {
            std::thread::sleep(duration);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn waits_for_readiness_or_the_deadline() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        // Writable at once, not readable.
        assert!(wait(a.as_fd(), Interest::Write, deadline(Some(Duration::ZERO))).unwrap());
        let started = Instant::now();
        let soon = deadline(Some(Duration::from_millis(30)));
        assert!(!wait(a.as_fd(), Interest::Read, soon).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(25));
        use std::io::Write;
        (&b).write_all(b"x").unwrap();
        assert_eq!(
            wait_any(&[b.as_fd(), a.as_fd()], Interest::Read, None).unwrap(),
            [1]
        );
    }

    #[test]
    fn retry_runs_once_even_past_the_deadline() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let past = Some(Instant::now());
        assert_eq!(
            retry(a.as_fd(), Interest::Read, past, || Ok(7)).unwrap(),
            Some(7)
        );
        let mut calls = 0;
        let result = retry(a.as_fd(), Interest::Read, past, || {
            calls += 1;
            Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
        });
        assert_eq!(result.unwrap(), None);
        assert_eq!(calls, 1);
    }

    #[test]
    fn sleep_stops_at_the_deadline() {
        assert!(sleep(Duration::from_millis(1), None));
        let started = Instant::now();
        assert!(!sleep(
            Duration::from_secs(10),
            deadline(Some(Duration::from_millis(20)))
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
