//! Publish pacing: a publish is answered once every subscriber in step with the channel has at
//! most [`Pacing::window`] messages queued, so a publisher goes as fast as the healthy writers
//! take messages instead of queueing ahead of them.
//!
//! A subscriber is *in step*, *behind* (more than `window` queued: publishes wait for it) or
//! *slow* (it stayed behind for [`Pacing::grace`] while a publish waited: publishes stop waiting
//! for it). A slow subscriber is in step again once its queue is back to `window`; one that never
//! reads is still cut off by its queue bound or the server's send timeout. So no publish waits
//! longer than the grace, and a reader that stalls holds publishes once, for the grace.
//!
//! A subscriber whose own task is publishing (a `/ws` client's text frame) is not waited for while
//! it publishes: that task is the one that would drain its queue.
//!
//! Subscribers without a queue (long polls, short polls) are never waited for, and a channel
//! without subscribers answers at once.
//!
//! The channel counts its behind subscribers in one atomic; a queue crossing `window` one way or
//! the other moves the count, and the count reaching zero wakes the waiting publishers. No lock
//! of the channel is taken on the subscriber's side.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How publishes are paced ([`super::HubConfig::pacing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Messages a subscriber may have queued before a publish waits for it.
    pub window: usize,
    /// How long one publish waits, at most, for subscribers that are behind before it marks them
    /// slow (read on the hub's clock).
    pub grace: Duration,
}

/// The default [`Pacing::window`] (`serve --publish-window`); BENCHMARKS.md has the windows
/// measured beside Nchan.
pub const DEFAULT_WINDOW: usize = 16;

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            window: DEFAULT_WINDOW,
            grace: Duration::from_millis(100),
        }
    }
}

/// Where one subscriber stands (kept in its queue's state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Standing {
    /// At most `window` queued, or its own task is publishing.
    #[default]
    InStep,
    /// More than `window` queued: counted in [`Pace::behind`].
    Behind,
    /// Stayed behind past the grace: not waited for until back in step.
    Slow,
}

/// One channel's pacing state, shared by its subscribers' queues and its publishers.
#[derive(Debug)]
pub(super) struct Pace {
    /// `usize::MAX` when the hub is not paced: no queue is ever behind.
    window: usize,
    behind: AtomicUsize,
    publishers: Mutex<Vec<Waker>>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::new(None)
    }
}

impl Pace {
    /// Pacing with `window`; `None`: publishes never wait.
    pub(super) fn new(window: Option<usize>) -> Pace {
        Pace {
            window: window.unwrap_or(usize::MAX),
            behind: AtomicUsize::new(0),
            publishers: Mutex::new(Vec::new()),
        }
    }

    /// A queue now holds `len` messages after a push: moves `standing` and the count. A queue whose
    /// task is `publishing` is not counted.
    pub(super) fn pushed(&self, standing: &mut Standing, len: usize, publishing: bool) {
        if *standing == Standing::InStep && len > self.window && !publishing {
            *standing = Standing::Behind;
            self.behind.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A queue now holds `len` messages after a take: back in step at `window` or fewer.
    pub(super) fn taken(&self, standing: &mut Standing, len: usize) {
        if len <= self.window {
            self.leave(standing);
        }
    }

    /// The queue leaves pacing (in step again, cut off, gone, or its task publishing): uncounts
    /// it if it was behind.
    pub(super) fn leave(&self, standing: &mut Standing) {
        if std::mem::take(standing) == Standing::Behind
            && self.behind.fetch_sub(1, Ordering::SeqCst) == 1
        {
            self.wake_publishers();
        }
    }

    /// A publisher gave up on this queue: not waited for until it is back in step.
    pub(super) fn give_up(&self, standing: &mut Standing) {
        if *standing == Standing::Behind {
            self.leave(standing);
            *standing = Standing::Slow;
        }
    }

    /// Subscribers behind now.
    pub(super) fn behind(&self) -> usize {
        self.behind.load(Ordering::SeqCst)
    }

    /// Ready once no subscriber is behind.
    pub(super) fn caught_up(&self) -> CaughtUp<'_> {
        CaughtUp { pace: self }
    }

    fn wake_publishers(&self) {
        let wakers = std::mem::take(&mut *self.lock());
        wakers.into_iter().for_each(Waker::wake);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        // A poisoned lock only means a panic elsewhere; a list of wakers stays whole.
        self.publishers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The future of [`Pace::caught_up`].
pub(super) struct CaughtUp<'a> {
    pace: &'a Pace,
}

impl Future for CaughtUp<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.pace.behind() == 0 {
            return Poll::Ready(());
        }
        {
            let mut publishers = self.pace.lock();
            // One entry per waiting task: a publisher polled again does not add another.
            if !publishers.iter().any(|w| w.will_wake(cx.waker())) {
                publishers.push(cx.waker().clone());
            }
        }
        // Checked again after registering: the last subscriber may have caught up in between,
        // and its wake found the list empty.
        if self.pace.behind() == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn a_queue_past_the_window_is_waited_for_until_it_is_back_within_it() {
        let pace = Pace::new(Some(2));
        let mut step = Standing::InStep;
        pace.pushed(&mut step, 2, false);
        assert_eq!((step, pace.behind()), (Standing::InStep, 0));
        pace.pushed(&mut step, 3, false);
        assert_eq!((step, pace.behind()), (Standing::Behind, 1));
        let mut waiting = Box::pin(pace.caught_up());
        assert_eq!(block_on(poll_once(waiting.as_mut())), None);
        pace.taken(&mut step, 3);
        assert_eq!(block_on(poll_once(waiting.as_mut())), None);
        pace.taken(&mut step, 2);
        assert_eq!((step, pace.behind()), (Standing::InStep, 0));
        assert_eq!(block_on(poll_once(waiting.as_mut())), Some(()));
    }

    #[test]
    fn a_slow_queue_is_not_counted_until_back_in_step() {
        let pace = Pace::new(Some(1));
        let mut step = Standing::InStep;
        pace.pushed(&mut step, 2, false);
        pace.give_up(&mut step);
        assert_eq!((step, pace.behind()), (Standing::Slow, 0));
        pace.pushed(&mut step, 3, false);
        assert_eq!((step, pace.behind()), (Standing::Slow, 0));
        pace.taken(&mut step, 1);
        assert_eq!(step, Standing::InStep);
        pace.pushed(&mut step, 2, false);
        assert_eq!((step, pace.behind()), (Standing::Behind, 1));
        pace.leave(&mut step);
        assert_eq!((step, pace.behind()), (Standing::InStep, 0));
    }

    #[test]
    fn a_queue_whose_task_publishes_is_not_counted() {
        let pace = Pace::new(Some(1));
        let mut step = Standing::InStep;
        pace.pushed(&mut step, 5, true);
        assert_eq!((step, pace.behind()), (Standing::InStep, 0));
        pace.pushed(&mut step, 6, false);
        assert_eq!((step, pace.behind()), (Standing::Behind, 1));
    }

    #[test]
    fn an_unpaced_queue_is_never_behind() {
        let pace = Pace::new(None);
        let mut step = Standing::InStep;
        pace.pushed(&mut step, usize::MAX - 1, false);
        assert_eq!((step, pace.behind()), (Standing::InStep, 0));
    }
}
