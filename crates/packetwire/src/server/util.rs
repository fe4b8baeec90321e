//! Small pieces the servers share: an async lock that lends its value out, a counting limit,
//! and racing a future against stop signals.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use std::collections::HashMap;
use std::pin::Pin;
use std::task::Context;

use crate::sync::{Gate, GatePermit};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No invariant spans a critical section: the data stays usable after a panic.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An async lock over an optional value: the holder takes the value out for as long as it
/// holds the lock (across awaits), and the guard puts it back when dropped, even when the
/// holder's future is cancelled. FIFO fairness is not promised; every waiter is woken on
/// release ([`Gate`]).
#[derive(Debug)]
pub(crate) struct Slot<T> {
    gate: Gate,
    value: Mutex<Option<T>>,
}

pub(crate) struct SlotGuard<'a, T> {
    slot: &'a Slot<T>,
    value: Option<T>,
    _permit: GatePermit<'a>,
}

impl<T> Slot<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            gate: Gate::default(),
            value: Mutex::new(Some(value)),
        }
    }

    pub(crate) async fn lock(&self) -> SlotGuard<'_, T> {
        let permit = self.gate.acquire().await;
        let value = lock(&self.value).take();
        SlotGuard {
            slot: self,
            value,
            _permit: permit,
        }
    }
}

impl<T> SlotGuard<'_, T> {
    /// The value, unless it was taken for good.
    pub(crate) fn get_mut(&mut self) -> Option<&mut T> {
        self.value.as_mut()
    }

    /// Takes the value for good: later holders find the slot empty.
    pub(crate) fn take(&mut self) -> Option<T> {
        self.value.take()
    }
}

impl<T> Drop for SlotGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            *lock(&self.slot.value) = Some(value);
        }
        // The permit is released after this, with the value back in place.
    }
}

/// At most `max` holders at a time (the server's connection limit).
#[derive(Debug)]
pub(crate) struct Limit {
    state: Mutex<(usize, Vec<Waker>)>,
}

/// One place in a [`Limit`], given back on drop.
#[derive(Debug)]
pub(crate) struct LimitPermit {
    limit: Arc<Limit>,
}

impl Limit {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new((max, Vec::new())),
        })
    }

    pub(crate) async fn acquire(self: &Arc<Self>) -> LimitPermit {
        poll_fn(|cx| {
            let mut state = lock(&self.state);
            if state.0 > 0 {
                state.0 -= 1;
                return Poll::Ready(LimitPermit {
                    limit: Arc::clone(self),
                });
            }
            if !state.1.iter().any(|w| w.will_wake(cx.waker())) {
                state.1.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl Drop for LimitPermit {
    fn drop(&mut self) {
        let wakers = {
            let mut state = lock(&self.limit.state);
            state.0 += 1;
            std::mem::take(&mut state.1)
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Runs `future` until it completes (`Some`) or `stop` is set (`None`). The future is polled
/// first, so a ready result wins over a stop signal.
pub(crate) async fn until<F: Future>(stop: &Signal, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut stopped = pin!(stop.wait());
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Runs `future`, turning a panic into `Err` (the panic hook has reported it): a panicking
/// handler is a handler error, not the end of its client's task.
pub(crate) async fn catch_panic<F: Future>(future: F) -> Result<F::Output, super::HandlerError> {
    let mut future = pin!(future);
    poll_fn(|cx| {
        let poll =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx)));
        match poll {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                Poll::Ready(Err(format!("the handler panicked: {message}").into()))
            }
        }
    })
    .await
}

/// A flag that tasks can wait for; once set, it stays set. Unlike a waker list that only
/// grows, a waiter that goes away (its future dropped) takes its waker with it, so a
/// long-lived server signal does not keep every finished client task's waker.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    // `is_set` without the lock: it is asked on every receive of every connection.
    flag: AtomicBool,
    state: Mutex<SignalState>,
}

#[derive(Debug, Default)]
struct SignalState {
    set: bool,
    next_id: u64,
    waiters: HashMap<u64, Waker>,
}

/// Waiting for a [`Signal`]; dropping it deregisters the waiter.
#[derive(Debug)]
pub(crate) struct SignalWait<'a> {
    signal: &'a Signal,
    id: Option<u64>,
}

impl Signal {
    pub(crate) fn set(&self) {
        let waiters = {
            let mut state = lock(&self.state);
            state.set = true;
            self.flag.store(true, Ordering::Release);
            std::mem::take(&mut state.waiters)
        };
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    pub(crate) fn wait(&self) -> SignalWait<'_> {
        SignalWait {
            signal: self,
            id: None,
        }
    }

    #[cfg(test)]
    fn waiters(&self) -> usize {
        lock(&self.state).waiters.len()
    }
}

/// A lasting registration with a [`Signal`], for a task that waits for it again and again
/// (a connection racing every read against the stop signals): it registers once, and later
/// polls from the same task take no lock. Dropping it deregisters.
#[derive(Debug)]
pub(crate) struct SignalWaiter {
    signal: Arc<Signal>,
    id: Option<u64>,
    waker: Option<Waker>,
}

impl SignalWaiter {
    pub(crate) fn new(signal: Arc<Signal>) -> Self {
        Self {
            signal,
            id: None,
            waker: None,
        }
    }

    #[cfg(test)]
    fn signal(&self) -> &Arc<Signal> {
        &self.signal
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_set() {
            return Poll::Ready(());
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            // Registered with this task's waker: `set` wakes it (and sets the flag first).
            return Poll::Pending;
        }
        let mut state = lock(&self.signal.state);
        if state.set {
            return Poll::Ready(());
        }
        let id = *self.id.get_or_insert_with(|| {
            let id = state.next_id;
            state.next_id += 1;
            id
        });
        state.waiters.insert(id, cx.waker().clone());
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for SignalWaiter {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.signal.state).waiters.remove(&id);
        }
    }
}

/// Runs `future` until it completes (`Some`) or either signal is set (`None`), like
/// [`until`] with two signals and lasting registrations.
pub(crate) async fn until_either<F: Future>(
    a: &mut SignalWaiter,
    b: &mut SignalWaiter,
    future: F,
) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if a.poll_wait(cx).is_ready() || b.poll_wait(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.signal.is_set() {
            return Poll::Ready(());
        }
        let mut state = lock(&this.signal.state);
        if state.set {
            return Poll::Ready(());
        }
        let id = match this.id {
            Some(id) => id,
            None => {
                let id = state.next_id;
                state.next_id += 1;
                this.id = Some(id);
                id
            }
        };
        match state.waiters.get_mut(&id) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                state.waiters.insert(id, cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for SignalWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.signal.state).waiters.remove(&id);
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

    #[test]
    fn a_dropped_waiter_leaves_no_waker_behind() {
        let signal = Signal::default();
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        for _ in 0..100 {
            let mut wait = signal.wait();
            assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
            assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
            assert_eq!(signal.waiters(), 1);
        }
        assert_eq!(signal.waiters(), 0);
        let mut wait = signal.wait();
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        signal.set();
        assert!(signal.is_set());
        assert!(Pin::new(&mut wait).poll(&mut cx).is_ready());
        assert!(Pin::new(&mut signal.wait()).poll(&mut cx).is_ready());
    }

    #[test]
    fn a_lasting_waiter_registers_once_and_is_woken() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let signal = Arc::new(Signal::default());
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        {
            let mut waiter = SignalWaiter::new(Arc::clone(&signal));
            for _ in 0..10 {
                assert!(waiter.poll_wait(&mut cx).is_pending());
                assert_eq!(signal.waiters(), 1);
            }
        }
        assert_eq!(signal.waiters(), 0, "a dropped waiter deregisters");
        let mut waiter = SignalWaiter::new(Arc::clone(&signal));
        assert!(waiter.poll_wait(&mut cx).is_pending());
        // Another task's waker replaces the first.
        let other = Waker::from(Arc::new(Noop));
        assert!(waiter
            .poll_wait(&mut Context::from_waker(&other))
            .is_pending());
        assert!(waiter.poll_wait(&mut cx).is_pending());
        assert_eq!(signal.waiters(), 1);
        signal.set();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(waiter.poll_wait(&mut cx).is_ready());
        assert_eq!(waiter.signal().waiters(), 0);
    }
}
