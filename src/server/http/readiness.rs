//! Whether the reactor has signalled a socket since a connection's task last looked: the waker a
//! connection's reads register instead of its task's own, so that a task woken for something else
//! (a delivery, a timer, shutdown) does not read the socket.
//!
//! Why: a connection's one task is woken by every delivery. A read tried on each of those
//! wake-ups finds nothing, and async-io then re-arms the socket with the reactor (one `recv` and
//! one `epoll_ctl` per delivered message, for nothing). With a [`Readiness`], a read is tried only
//! when the reactor has woken the read since the last one (or the last one returned bytes); until
//! then the registration made by the last read that found nothing still stands.
//!
//! A [`Watch`] is the same for one future a task waits on beside others (a peek for the client's
//! close, a heartbeat timer): it keeps the waker it last handed on, so a wake-up for something
//! else costs an atomic load, no lock and no poll of the future.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// A socket's read readiness, as the reactor last signalled it, and the task to wake with it.
#[derive(Debug)]
pub struct Readiness {
    /// Set by the reactor's wake-up (and by [`Readiness::set`]); taken by a read.
    ready: AtomicBool,
    /// The connection's task, woken with it.
    task: Mutex<Option<Waker>>,
}

impl Default for Readiness {
    /// Ready: the first read is always tried.
    fn default() -> Self {
        Readiness {
            ready: AtomicBool::new(true),
            task: Mutex::new(None),
        }
    }
}

impl Readiness {
    /// Polls `read` with this readiness's waker when the reactor signalled the socket since the
    /// last poll (or [`set`](Readiness::set) was called); otherwise keeps `cx`'s task to wake and
    /// returns `Pending` without touching the socket.
    pub fn poll_read<T>(
        self: &Arc<Self>,
        cx: &mut Context<'_>,
        read: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.remember(cx.waker());
        if !self.ready.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(self.clone());
        read(&mut Context::from_waker(&waker))
    }

    /// Polls `future` (a wait on the socket, such as a peek) only when the reactor has woken it
    /// since its last poll: see [`Readiness::poll_read`].
    pub fn poll_future<F: Future + ?Sized>(
        self: &Arc<Self>,
        cx: &mut Context<'_>,
        future: Pin<&mut F>,
    ) -> Poll<F::Output> {
        self.poll_read(cx, |cx| future.poll(cx))
    }

    /// Whether the next [`poll_read`](Readiness::poll_read) would try the read: the reactor
    /// signalled the socket (or [`set`](Readiness::set) was called) since the last one. A caller
    /// whose task is the one last handed to `poll_read` may skip it while this is false: the
    /// signal, when it comes, wakes that task.
    pub fn is_signalled(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The next read goes ahead (the last one returned bytes: more may be waiting).
    pub fn set(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Keeps `waker` as the task to wake (unless it is the one kept already).
    fn remember(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }
}

/// A future polled only when its own wake-up came: a [`Readiness`] and the task it wakes, kept by
/// the task that polls (see the module's docs).
#[derive(Debug, Default)]
pub struct Watch {
    readiness: Arc<Readiness>,
    /// The waker last handed to `readiness` (so that one need not be locked to compare).
    task: Option<Waker>,
}

impl Watch {
    /// Polls `future` if it was never polled, if it woke since its last poll, or if `cx` is
    /// another task's; otherwise `Pending` at once: the future's wake-up, when it comes, wakes
    /// the task kept.
    pub fn poll<F: Future + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        future: Pin<&mut F>,
    ) -> Poll<F::Output> {
        self.poll_read(cx, |cx| future.poll(cx))
    }

    /// Polls `read` as [`Readiness::poll_read`] does, but returns `Pending` without locking
    /// anything when `cx` is the task kept already and nothing signalled: the readiness keeps
    /// the task it was last handed until handed another, so a signal after this check wakes it.
    pub fn poll_read<T>(
        &mut self,
        cx: &mut Context<'_>,
        read: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let known = self
            .task
            .as_ref()
            .is_some_and(|task| task.will_wake(cx.waker()));
        if known && !self.readiness.is_signalled() {
            return Poll::Pending;
        }
        if !known {
            self.task = Some(cx.waker().clone());
        }
        self.readiness.poll_read(cx, read)
    }

    /// The next poll goes ahead (a new future took the old one's place, or the last read
    /// returned bytes and more may be waiting).
    pub fn reset(&self) {
        self.readiness.set();
    }
}

impl Wake for Readiness {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures_lite::future;

    use super::*;

    /// A wait that counts its polls and keeps the waker it was last polled with.
    #[derive(Default)]
    struct Wait {
        polls: AtomicUsize,
        waker: Mutex<Option<Waker>>,
    }

    impl Wait {
        fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            *self.waker.lock().expect("lock") = Some(cx.waker().clone());
            Poll::Pending
        }

        fn fire(&self) {
            if let Some(waker) = self.waker.lock().expect("lock").take() {
                waker.wake();
            }
        }
    }

    struct CountingTask(AtomicUsize);

    impl Wake for CountingTask {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_watched_wait_is_polled_once_per_wake_up_of_its_own() {
        let mut watch = Watch::default();
        let wait = Wait::default();
        let task = Arc::new(CountingTask(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let cx = &mut Context::from_waker(&waker);
        let poll = |watch: &mut Watch, cx: &mut Context<'_>| {
            let mut future = future::poll_fn(|cx| wait.poll(cx));
            watch.poll(cx, Pin::new(&mut future)).is_pending()
        };
        assert!(poll(&mut watch, cx));
        for _ in 0..10 {
            assert!(poll(&mut watch, cx));
        }
        assert_eq!(wait.polls.load(Ordering::Relaxed), 1);
        // Its own wake-up: the task is woken and the next poll reaches the wait, once.
        wait.fire();
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
        assert!(poll(&mut watch, cx));
        assert!(poll(&mut watch, cx));
        assert_eq!(wait.polls.load(Ordering::Relaxed), 2);
        // Another task polls: the wait is not polled again, but its wake-up reaches that task.
        let other_task = Arc::new(CountingTask(AtomicUsize::new(0)));
        let other = Waker::from(other_task.clone());
        assert!(poll(&mut watch, &mut Context::from_waker(&other)));
        assert_eq!(wait.polls.load(Ordering::Relaxed), 2);
        wait.fire();
        assert_eq!(other_task.0.load(Ordering::Relaxed), 1);
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
        assert!(poll(&mut watch, &mut Context::from_waker(&other)));
        assert_eq!(wait.polls.load(Ordering::Relaxed), 3);
        // A reset (a new wait took the old one's place): polled again.
        watch.reset();
        assert!(poll(&mut watch, &mut Context::from_waker(&other)));
        assert_eq!(wait.polls.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_wait_is_polled_first_then_only_after_the_reactor_woke_it() {
        let readiness = Arc::new(Readiness::default());
        let wait = Wait::default();
        let task = Arc::new(CountingTask(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let cx = &mut Context::from_waker(&waker);
        assert!(readiness.poll_read(cx, |cx| wait.poll(cx)).is_pending());
        // Woken for something else, ten times: the wait is not polled again.
        for _ in 0..10 {
            assert!(readiness.poll_read(cx, |cx| wait.poll(cx)).is_pending());
        }
        assert_eq!(wait.polls.load(Ordering::Relaxed), 1);
        // The reactor fires: the task is woken, and the next poll reaches the wait.
        assert!(!readiness.is_signalled());
        wait.fire();
        assert!(readiness.is_signalled());
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
        assert!(readiness.poll_read(cx, |cx| wait.poll(cx)).is_pending());
        assert_eq!(wait.polls.load(Ordering::Relaxed), 2);
        assert!(!readiness.is_signalled());
        // After a read that returned bytes, the next one goes ahead.
        readiness.set();
        assert!(readiness.is_signalled());
        assert!(readiness.poll_read(cx, |cx| wait.poll(cx)).is_pending());
        assert_eq!(wait.polls.load(Ordering::Relaxed), 3);
    }
}
