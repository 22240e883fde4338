//! A subscriber's side of the hub: its bounded queue, filled by publish and drained by
//! [`Subscription::next`], and the cut-off signal when it falls behind.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::channel::Channel;
use super::pace::{Pace, Standing};
use super::{Backlog, EndReason, Hub, Message, Missed, Next};

/// One subscriber's queue, shared by the channel (which fills it) and the [`Subscription`].
#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<QueueState>,
    /// The channel's publish pacing, told when this queue falls behind or catches up.
    pace: Arc<Pace>,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Arc<Message>>,
    end: Option<EndReason>,
    waker: Option<Waker>,
    standing: Standing,
    /// Publishes under way from the task that drains this queue (see [`Publisher`]).
    publishing: usize,
}

impl Queue {
    /// An empty queue paced by `pace`.
    pub(super) fn new(pace: Arc<Pace>) -> Queue {
        Queue {
            state: Mutex::default(),
            pace,
        }
    }

    /// A queue that is over before it starts (subscribing after shutdown).
    pub(super) fn ended(reason: EndReason, pace: Arc<Pace>) -> Arc<Queue> {
        let queue = Queue::new(pace);
        queue.lock().end = Some(reason);
        Arc::new(queue)
    }

    /// Queues `message` unless `bound` messages already wait: then the subscriber is cut off.
    /// Returns the waker to wake and whether the subscriber stays registered.
    pub(super) fn push(&self, message: &Arc<Message>, bound: usize) -> (Option<Waker>, bool) {
        let mut state = self.lock();
        if state.end.is_some() {
            return (None, false);
        }
        if state.items.len() >= bound {
            // Cut off: the queued messages go at once, so a stuck client holds no memory and
            // learns it lagged without first draining a queue it could not keep up with.
            state.items.clear();
            state.end = Some(EndReason::Lagged);
            self.pace.leave(&mut state.standing);
            return (state.waker.take(), false);
        }
        state.items.push_back(message.clone());
        let len = state.items.len();
        let publishing = state.publishing > 0;
        self.pace.pushed(&mut state.standing, len, publishing);
        (state.waker.take(), true)
    }

    /// Ends the subscription; returns the waker to wake.
    pub(super) fn end(&self, reason: EndReason) -> Option<Waker> {
        let mut state = self.lock();
        state.items.clear();
        state.end.get_or_insert(reason);
        self.pace.leave(&mut state.standing);
        state.waker.take()
    }

    /// The subscriber is gone: a publish no longer waits for it.
    fn leave(&self) {
        let mut state = self.lock();
        self.pace.leave(&mut state.standing);
    }

    /// A publish waited for this queue past the grace: it stops counting until back in step.
    pub(super) fn give_up(&self) {
        let mut state = self.lock();
        self.pace.give_up(&mut state.standing);
    }

    /// The task that drains this queue starts a publish: it is not waited for meanwhile.
    fn start_publishing(&self) {
        let mut state = self.lock();
        state.publishing += 1;
        if state.standing == Standing::Behind {
            // Uncounted (a slow queue stays slow).
            self.pace.leave(&mut state.standing);
        }
    }

    /// The publish of [`start_publishing`](Queue::start_publishing) is over: waited for again if
    /// it is behind.
    fn stop_publishing(&self) {
        let mut state = self.lock();
        state.publishing = state.publishing.saturating_sub(1);
        if state.end.is_none() {
            let (len, publishing) = (state.items.len(), state.publishing > 0);
            self.pace.pushed(&mut state.standing, len, publishing);
        }
    }

    /// Takes the first message numbered after `skip_through` (dropping those before it), and
    /// tells the pacing how many are left.
    fn take_after(&self, state: &mut QueueState, skip_through: u64) -> Option<Arc<Message>> {
        let message = pop_after(&mut state.items, skip_through);
        let len = state.items.len();
        self.pace.taken(&mut state.standing, len);
        message
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A poisoned lock only means a panic elsewhere; the queue itself stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A live subscription: first its backlog, then each message as it is published.
///
/// Ending: once the subscription is cut off ([`EndReason::Lagged`]) or the hub shuts down
/// ([`EndReason::Shutdown`]), the very next [`next`](Subscription::next) yields
/// [`Next::Ended`]; messages still queued at that moment are dropped, not delivered (a lagging
/// client resumes from the log with its last id instead). Every later call yields the same end.
///
/// Dropping the subscription removes it from its channel.
pub struct Subscription {
    /// Messages from the log, to send before live ones.
    pub backlog: Vec<Arc<Message>>,
    /// Set when the log no longer held all that was asked for.
    pub missed: Option<Missed>,
    /// The channel's last id when the subscription started (the backlog's last id, if any).
    pub last: u64,
    hub: Hub,
    channel: Arc<Channel>,
    /// Live messages numbered up to this are not handed out: `since` is taken literally, also
    /// past the channel's last id (a client holding ids up to N from before a restart, the log
    /// published again, waits for N + 1 instead of being handed what it already has: as long
    /// polling does, [`super::wait`]).
    skip_through: u64,
    /// The registration in the channel, absent when the subscription started ended.
    key: Option<u64>,
    queue: Arc<Queue>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel.name())
            .field("backlog", &self.backlog.len())
            .field("missed", &self.missed)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

/// A subscriber that also publishes (a `/ws` client's text frames), for
/// [`Hub::publish_from`]: its own task is the one that drains its queue, so its publishes do not
/// wait for that queue.
#[derive(Debug, Clone)]
pub struct Publisher {
    queue: Arc<Queue>,
}

impl Publisher {
    /// Marks the queue as publishing until the guard is dropped (a cancelled publish included).
    pub(super) fn publishing(&self) -> Publishing<'_> {
        self.queue.start_publishing();
        Publishing(&self.queue)
    }
}

/// See [`Publisher::publishing`].
pub(super) struct Publishing<'a>(&'a Queue);

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        self.0.stop_publishing();
    }
}

impl Subscription {
    /// This subscriber as a publisher, for [`Hub::publish_from`] from the task that drains it.
    pub fn publisher(&self) -> Publisher {
        Publisher {
            queue: self.queue.clone(),
        }
    }

    pub(super) fn new(
        hub: Hub,
        channel: Arc<Channel>,
        key: Option<u64>,
        queue: Arc<Queue>,
        backlog: Backlog,
        since: Option<u64>,
    ) -> Subscription {
        Subscription {
            skip_through: since.unwrap_or(0),
            backlog: backlog.messages,
            missed: backlog.missed,
            last: backlog.last,
            hub,
            channel,
            key,
            queue,
        }
    }

    /// The next live message, or why the subscription ended. Backlog messages are not repeated.
    ///
    /// Cancel-safe: dropping the future (e.g. in a `select` with a socket read) loses nothing.
    pub async fn next(&mut self) -> Next {
        futures_lite::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next queued item without waiting, if there is one.
    pub fn try_next(&mut self) -> Option<Next> {
        let skip_through = self.skip_through;
        let mut state = self.queue.lock();
        if let Some(reason) = state.end {
            return Some(Next::Ended(reason));
        }
        self.queue
            .take_after(&mut state, skip_through)
            .map(Next::Message)
    }

    /// Polls for the next item, registering the task to be woken when there is one.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        let skip_through = self.skip_through;
        let mut state = self.queue.lock();
        if let Some(reason) = state.end {
            return Poll::Ready(Next::Ended(reason));
        }
        if let Some(message) = self.queue.take_after(&mut state, skip_through) {
            return Poll::Ready(Next::Message(message));
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        self.channel.name()
    }
}

/// The first queued message numbered after `skip_through`; the ones before it are dropped.
fn pop_after(items: &mut VecDeque<Arc<Message>>, skip_through: u64) -> Option<Arc<Message>> {
    while let Some(message) = items.pop_front() {
        if message.id > skip_through {
            return Some(message);
        }
    }
    None
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(key) = self.key else {
            self.hub.retire_if_idle(&self.channel);
            return;
        };
        let idle = {
            let mut state = self.channel.lock();
            state.remove_subscriber(key);
            state.is_idle()
        };
        // Out of the channel first, so no publish can count it behind again after this.
        self.queue.leave();
        if idle {
            self.hub.retire_if_idle(&self.channel);
        }
    }
}
