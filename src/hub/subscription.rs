//! A subscriber's side of the hub: its bounded queue, filled by publish and drained by
//! [`Subscription::next`], and the cut-off signal when it falls behind.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::channel::Channel;
use super::{Backlog, EndReason, Hub, Message, Missed, Next};

/// One subscriber's queue, shared by the channel (which fills it) and the [`Subscription`].
#[derive(Debug, Default)]
pub(super) struct Queue {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Arc<Message>>,
    end: Option<EndReason>,
    waker: Option<Waker>,
}

impl Queue {
    /// A queue that is over before it starts (subscribing after shutdown).
    pub(super) fn ended(reason: EndReason) -> Arc<Queue> {
        let queue = Queue::default();
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
            return (state.waker.take(), false);
        }
        state.items.push_back(message.clone());
        (state.waker.take(), true)
    }

    /// Ends the subscription; returns the waker to wake.
    pub(super) fn end(&self, reason: EndReason) -> Option<Waker> {
        let mut state = self.lock();
        state.items.clear();
        state.end.get_or_insert(reason);
        state.waker.take()
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

impl Subscription {
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
        pop_after(&mut state.items, skip_through).map(Next::Message)
    }

    /// Polls for the next item, registering the task to be woken when there is one.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        let skip_through = self.skip_through;
        let mut state = self.queue.lock();
        if let Some(reason) = state.end {
            return Poll::Ready(Next::Ended(reason));
        }
        if let Some(message) = pop_after(&mut state.items, skip_through) {
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
        if idle {
            self.hub.retire_if_idle(&self.channel);
        }
    }
}
