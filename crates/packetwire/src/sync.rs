//! Small runtime-independent synchronisation pieces: a one-shot channel, an event, a gate, and a
//! future that turns a panic into completion.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent across a panic: no invariant spans a
    // critical section.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct OneshotState<T> {
    value: Option<T>,
    sender_gone: bool,
    waker: Option<Waker>,
}

/// Sends one value to a [`Receiver`].
pub(crate) struct Sender<T> {
    state: Arc<Mutex<OneshotState<T>>>,
}

/// Receives the value of a [`Sender`], or `None` if it was dropped without sending.
pub(crate) struct Receiver<T> {
    state: Arc<Mutex<OneshotState<T>>>,
}

pub(crate) fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let state = Arc::new(Mutex::new(OneshotState {
        value: None,
        sender_gone: false,
        waker: None,
    }));
    (
        Sender {
            state: Arc::clone(&state),
        },
        Receiver { state },
    )
}

impl<T> Sender<T> {
    pub(crate) fn send(self, value: T) {
        lock(&self.state).value = Some(value);
        // Drop wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.state);
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = lock(&self.state);
        if let Some(value) = state.value.take() {
            return Poll::Ready(Some(value));
        }
        if state.sender_gone {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A flag that tasks can wait for; once set, it stays set.
#[derive(Debug, Default)]
pub(crate) struct Event {
    state: Mutex<(bool, Vec<Waker>)>,
}

impl Event {
    pub(crate) fn set(&self) {
        let wakers = {
            let mut state = lock(&self.state);
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        for waker in wakers {
            waker.wake();
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        lock(&self.state).0
    }

    pub(crate) async fn wait(&self) {
        poll_fn(|cx| {
            let mut state = lock(&self.state);
            if state.0 {
                return Poll::Ready(());
            }
            if !state.1.iter().any(|w| w.will_wake(cx.waker())) {
                state.1.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// Completes when the inner future completes or panics (the panic hook has reported it).
pub(crate) struct CatchUnwind<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future<Output = ()>> CatchUnwind<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future<Output = ()>> Future for CatchUnwind<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.inner.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(_panic) => Poll::Ready(()),
        }
    }
}

/// An async lock that guards no data: one holder at a time, for the tasks of one direction of
/// a datagram socket. The runtime seam keeps one waker per direction ([`AsyncFdIo`]), so two
/// tasks waiting on the same descriptor at once could leave one of them asleep; with the gate
/// only its holder waits on the descriptor, and the others wait here.
///
/// Releasing wakes every waiter (they are few) and lets them race for the gate again, so a
/// waiter that was cancelled costs nothing but a spurious wake.
///
/// [`AsyncFdIo`]: crate::runtime::AsyncFdIo
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    held: bool,
    waiters: Vec<Waker>,
}

/// Holding a [`Gate`]; dropping it releases the gate.
#[derive(Debug)]
pub(crate) struct GatePermit<'a> {
    gate: &'a Gate,
}

impl Gate {
    /// Takes the gate if it is free, otherwise registers the task to be woken when it is.
    pub(crate) fn poll_acquire(&self, cx: &mut Context<'_>) -> Poll<GatePermit<'_>> {
        let mut state = lock(&self.state);
        if !state.held {
            state.held = true;
            return Poll::Ready(GatePermit { gate: self });
        }
        if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Waits for the gate. Cancel-safe.
    pub(crate) async fn acquire(&self) -> GatePermit<'_> {
        poll_fn(|cx| self.poll_acquire(cx)).await
    }
}

impl Drop for GatePermit<'_> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = lock(&self.gate.state);
            state.held = false;
            std::mem::take(&mut state.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn noop() -> Waker {
        Waker::from(Arc::new(Noop))
    }

    fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(&noop()))
    }

    #[test]
    fn oneshot_delivers_or_reports_a_dropped_sender() {
        let (sender, mut receiver) = oneshot();
        assert!(poll_once(&mut receiver).is_pending());
        sender.send(5);
        assert_eq!(poll_once(&mut receiver), Poll::Ready(Some(5)));
        let (sender, mut receiver) = oneshot::<u8>();
        drop(sender);
        assert_eq!(poll_once(&mut receiver), Poll::Ready(None));
    }

    #[test]
    fn event_stays_set() {
        let event = Event::default();
        let mut wait = Box::pin(event.wait());
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&noop()))
            .is_pending());
        event.set();
        assert!(event.is_set());
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&noop()))
            .is_ready());
    }

    #[test]
    fn gate_admits_one_holder_and_wakes_waiters_on_release() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let gate = Gate::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(permit) = gate.poll_acquire(&mut cx) else {
            panic!("a free gate must be taken at once");
        };
        assert!(gate.poll_acquire(&mut cx).is_pending());
        assert!(gate.poll_acquire(&mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        drop(permit);
        // One registration despite two polls with the same waker.
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(gate.poll_acquire(&mut cx).is_ready());
    }

    #[test]
    fn catch_unwind_completes_on_panic() {
        let mut future = CatchUnwind::new(async { panic!("boom (expected by this test)") });
        assert_eq!(poll_once(&mut future), Poll::Ready(()));
    }
}
