//! The runtime seam itself: clock, timers, timeouts, tasks, blocking work.
#![cfg(any(feature = "tokio", feature = "smol"))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{runtime_tests, sleep};
use packetwire::runtime::{self, Elapsed};

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

runtime_tests! {
    async fn sleep_and_timeout(rt) {
        let started = rt.now();
        sleep(&rt, 30).await;
        assert!(rt.now() - started >= Duration::from_millis(30));

        let ready = runtime::timeout(&*rt, Duration::ZERO, async { 7 }).await;
        assert_eq!(ready, Ok(7));
        let started = Instant::now();
        let late = runtime::timeout(&*rt, Duration::from_millis(50), std::future::pending::<()>()).await;
        assert_eq!(late, Err(Elapsed));
        assert!(started.elapsed() >= Duration::from_millis(45));
        assert_eq!(std::io::Error::from(Elapsed).kind(), std::io::ErrorKind::TimedOut);
        // A duration beyond the clock's range means no deadline.
        assert_eq!(runtime::timeout(&*rt, Duration::MAX, async { 1 }).await, Ok(1));
        Ok(())
    }

    async fn spawn_join_and_abort(rt) {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let mut task = rt.spawn(Box::pin(async move {
            flag.store(true, Ordering::SeqCst);
        }));
        task.join().await;
        assert!(task.is_finished());
        assert!(done.load(Ordering::SeqCst));

        // Aborting drops the future.
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(Arc::clone(&dropped));
        let mut task = rt.spawn(Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
        sleep(&rt, 10).await;
        assert!(!task.is_finished());
        task.abort();
        task.join().await;
        assert!(dropped.load(Ordering::SeqCst));

        // A panicking task just ends.
        let mut task = rt.spawn(Box::pin(async { panic!("task panic (expected by this test)") }));
        task.join().await;
        assert!(task.is_finished());

        // Dropping a handle detaches the task.
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let rt2 = Arc::clone(&rt);
        drop(rt.spawn(Box::pin(async move {
            runtime::sleep(&*rt2, Duration::from_millis(20)).await;
            flag.store(true, Ordering::SeqCst);
        })));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ran.load(Ordering::SeqCst) && Instant::now() < deadline {
            sleep(&rt, 5).await;
        }
        assert!(ran.load(Ordering::SeqCst));
        Ok(())
    }

    async fn spawn_blocking_runs_off_the_runtime(rt) {
        let (sender, receiver) = std::sync::mpsc::channel();
        rt.spawn_blocking(Box::new(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send(std::thread::current().id()).unwrap();
        }));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(id) = receiver.try_recv() {
                assert_ne!(id, std::thread::current().id());
                break;
            }
            assert!(Instant::now() < deadline);
            sleep(&rt, 5).await;
        }
        Ok(())
    }
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_runtime_honours_a_paused_clock() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    tokio.block_on(async {
        let rt = runtime::current().unwrap();
        let before = rt.now();
        // An hour passes at once on a paused clock.
        let result = runtime::timeout(
            &*rt,
            Duration::from_secs(3600),
            std::future::pending::<()>(),
        )
        .await;
        assert_eq!(result, Err(Elapsed));
        assert!(rt.now() - before >= Duration::from_secs(3600));
    });
}

#[cfg(feature = "smol")]
#[test]
fn current_is_smol_outside_tokio_and_explicit_runtimes_work() {
    let rt = runtime::current().unwrap();
    assert!(format!("{rt:?}").starts_with("SmolRuntime"));
    // An executor of our own.
    let executor = Arc::new(smol::Executor::new());
    let own: Arc<dyn runtime::Runtime> =
        Arc::new(runtime::SmolRuntime::with_executor(Arc::clone(&executor)));
    smol::block_on(executor.run(async {
        let (mut a, mut b) = packetwire::net::socketpair_with_runtime(Arc::clone(&own)).unwrap();
        let mut task = own.spawn(Box::pin(async move {
            a.send_all(b"on my executor").await.unwrap();
        }));
        assert_eq!(b.receive_exactly(14).await.unwrap(), "on my executor");
        task.join().await;
    }));
}

#[cfg(all(feature = "tokio", feature = "smol"))]
#[test]
fn an_explicit_tokio_runtime_from_outside() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let rt: Arc<dyn runtime::Runtime> =
        Arc::new(runtime::TokioRuntime::new(tokio.handle().clone()));
    // Driven from smol's block_on, registered with tokio's reactor.
    smol::block_on(async {
        let (mut a, mut b) = packetwire::net::socketpair_with_runtime(Arc::clone(&rt)).unwrap();
        a.send_all(b"cross").await.unwrap();
        assert_eq!(b.receive_exactly(5).await.unwrap(), "cross");
        let late = runtime::timeout(
            &*rt,
            Duration::from_millis(10),
            std::future::pending::<()>(),
        )
        .await;
        assert_eq!(late, Err(Elapsed));
    });
}
