//! Shared test harness: one test body, run on every runtime the build has.
//!
//! `runtime_tests! { async fn name(rt) { ... } }` makes a module `name` with a `tokio` test
//! (feature `tokio`, a two-worker multi-thread runtime) and a `smol` test (feature `smol`,
//! `smol::block_on` with tasks on smol's global executor). The body gets the runtime as an
//! `Arc<dyn Runtime>`, returns a `TestResult`, and is bounded by `TEST_TIMEOUT`.
#![allow(dead_code, unused_macros)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use packetwire::net::{TcpListener, TcpStream, UnixStream};
use packetwire::runtime::{self, Runtime};

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The most any one test may take.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn bounded<F, Fut>(rt: Arc<dyn Runtime>, test: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = TestResult>,
{
    match runtime::timeout(&*rt, TEST_TIMEOUT, test(Arc::clone(&rt))).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("test failed: {e}"),
        Err(_) => panic!("test timed out after {TEST_TIMEOUT:?}"),
    }
}

#[cfg(feature = "tokio")]
pub(crate) fn run_tokio<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let rt = runtime::current().unwrap();
        assert!(format!("{rt:?}").starts_with("TokioRuntime"), "{rt:?}");
        bounded(rt, test).await
    });
}

#[cfg(feature = "smol")]
pub(crate) fn run_smol<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Runtime>) -> Fut,
    Fut: Future<Output = TestResult>,
{
    smol::block_on(async {
        let rt = runtime::current().unwrap();
        assert!(format!("{rt:?}").starts_with("SmolRuntime"), "{rt:?}");
        bounded(rt, test).await
    });
}

/// Instantiates each test body once per runtime.
macro_rules! runtime_tests {
    ($( $(#[$meta:meta])* async fn $name:ident($rt:ident) $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[cfg(feature = "tokio")]
                #[test]
                fn tokio() {
                    crate::common::run_tokio(|$rt| async move $body)
                }

                #[cfg(feature = "smol")]
                #[test]
                fn smol() {
                    crate::common::run_smol(|$rt| async move $body)
                }
            }
        )*
    };
}
pub(crate) use runtime_tests;

/// Runs two futures at once (runtime-independent).
pub(crate) async fn zip<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    smol::future::zip(a, b).await
}

/// Sleeps on the runtime's clock.
pub(crate) async fn sleep(rt: &Arc<dyn Runtime>, ms: u64) {
    runtime::sleep(&**rt, Duration::from_millis(ms)).await
}

/// A connected TCP pair over loopback: (client, server).
pub(crate) async fn tcp_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addrs()[0].port();
    let client = TcpStream::connect("127.0.0.1", port).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

/// A connected Unix pair.
pub(crate) fn unix_pair() -> std::io::Result<(UnixStream, UnixStream)> {
    packetwire::net::socketpair()
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
