//! Shared harness of the blocking-shell tests: every test body runs on its own thread and is
//! bounded by `TEST_TIMEOUT`; helper threads are joined by the bodies themselves.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

use packetwire::blocking::{TcpListener, TcpStream};

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The most any one test may take.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `test` on a thread of its own and fails if it errs, panics or outlives
/// [`TEST_TIMEOUT`].
pub(crate) fn bounded(test: impl FnOnce() -> TestResult + Send + 'static) {
    let (sender, receiver) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let result = test();
        let _ = sender.send(());
        result
    });
    match receiver.recv_timeout(TEST_TIMEOUT) {
        // Finished, or panicked (the sender is gone): join to get the outcome.
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("test failed: {e}"),
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {TEST_TIMEOUT:?}"),
    }
}

/// Declares `#[test]` functions whose bodies run under [`bounded`].
macro_rules! bounded_tests {
    ($( $(#[$meta:meta])* fn $name:ident() $body:block )*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                crate::blocking_support::bounded(move || -> crate::blocking_support::TestResult { $body })
            }
        )*
    };
}
pub(crate) use bounded_tests;

/// Joins a helper thread, turning its panic into this thread's.
pub(crate) fn join<T>(handle: std::thread::JoinHandle<T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A connected TCP pair over loopback: (client, server).
pub(crate) fn tcp_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1", 0)?;
    let port = listener.local_addrs()[0].port();
    let client = TcpStream::connect("127.0.0.1", port)?;
    let (server, _) = listener.accept()?;
    Ok((client, server))
}

/// A payload that is not periodic over small spans.
pub(crate) fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// Whether the host has an IPv6 loopback.
pub(crate) fn has_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A name no other test (or test run) uses, in the abstract namespace.
pub(crate) fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "@packetwire-blocking-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
