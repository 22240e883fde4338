//! One channel: its numbered, bounded log, its subscribers' queues and its long-poll waiters,
//! all under one lock so numbering, logging and fan-out happen in one order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use super::pace::Pace;
use super::subscription::Queue;
use super::{Backlog, ChannelStats, EndReason, Message, Missed};

/// A channel of the hub.
#[derive(Debug)]
pub(super) struct Channel {
    name: String,
    /// Its pacing (also in the state, for new subscribers), read by publishers without the lock.
    pace: Arc<Pace>,
    state: Mutex<ChannelState>,
}

/// What a channel's lock guards.
#[derive(Debug, Default)]
pub(super) struct ChannelState {
    /// The last messages, oldest first; ids are consecutive and end at `last`.
    log: VecDeque<Arc<Message>>,
    /// When each logged message was published (the hub's clock), for the age limit.
    times: VecDeque<Duration>,
    /// Bytes the log holds ([`Message::held_bytes`]), against the hub's memory ceiling.
    pub(super) bytes: usize,
    /// The last id in the log (`base` before the first message).
    pub(super) last: u64,
    /// The id before the channel's first message: 0 for a hub with no predecessor, above any id
    /// an earlier process could have issued otherwise (see [`super::HubConfig::id_floor`]).
    pub(super) base: u64,
    /// The last id numbered, committed or not (a store commits after numbering); `>= last`.
    issued: u64,
    /// Whether the channel ever held a message (then it counts against the channel bound).
    pub(super) counted: bool,
    subscribers: HashMap<u64, Arc<Queue>>,
    waiters: HashMap<u64, Waker>,
    next_key: u64,
    /// Set when the hub removed this channel from its map; a caller that still holds it retries.
    pub(super) retired: bool,
    /// How far its subscribers are behind, for paced publishes.
    pub(super) pace: Arc<Pace>,
}

impl Channel {
    /// A channel whose first message will be `base + 1`; publishes wait for subscribers with
    /// more than `window` messages queued (see [`super::pace`]).
    pub(super) fn new(name: &str, base: u64, window: Option<usize>) -> Channel {
        let pace = Arc::new(Pace::new(window));
        Channel {
            name: name.to_owned(),
            state: Mutex::new(ChannelState::new(base, pace.clone())),
            pace,
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn pace(&self) -> &Pace {
        &self.pace
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ChannelState> {
        // A poisoned lock only means a panic elsewhere; every update below leaves the state whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ChannelState {
    /// An empty channel whose first message will be `base + 1`, paced by `pace`.
    pub(super) fn new(base: u64, pace: Arc<Pace>) -> ChannelState {
        ChannelState {
            last: base,
            base,
            issued: base,
            pace,
            ..ChannelState::default()
        }
    }

    /// Messages after `since`, the last id, and what the log no longer holds. A `since` past the
    /// last id is taken as the last id.
    pub(super) fn backlog(&self, since: u64) -> Backlog {
        let since = since.min(self.last);
        // Ids are consecutive, so the oldest logged id follows from the last one and the length.
        let oldest = self.last + 1 - self.log.len() as u64;
        let skip = since.saturating_sub(oldest - 1) as usize;
        Backlog {
            messages: self.log.iter().skip(skip).cloned().collect(),
            last: self.last,
            missed: self.missed(since),
        }
    }

    /// What a client holding ids up to `since` (at most `last`) lost: ids between it and the
    /// oldest logged one. `since` 0 is a client that holds nothing: it lost only what this
    /// channel numbered and no longer logs. A `since` below `base` is an id this process cannot
    /// account for (an earlier process issued it): everything up to the log is reported lost.
    fn missed(&self, since: u64) -> Option<Missed> {
        let oldest = self.last + 1 - self.log.len() as u64;
        let from = if since == 0 { self.base + 1 } else { since + 1 };
        (from < oldest).then(|| Missed {
            from,
            to: oldest - 1,
        })
    }

    /// Whether a client holding ids up to `since` has something to be told: a message after it,
    /// or a gap.
    pub(super) fn has_news(&self, since: u64) -> bool {
        (since < self.last && !self.log.is_empty()) || self.missed(since.min(self.last)).is_some()
    }

    /// Numbers the next message without logging it (it is logged once committed, through
    /// [`push_numbered`](ChannelState::push_numbered)).
    pub(super) fn issue(&mut self) -> u64 {
        self.issued = self.issued.max(self.last) + 1;
        self.issued
    }

    /// Numbers a message and keeps it in the log, dropping the oldest past `capacity`.
    pub(super) fn append(
        &mut self,
        event: &str,
        data: String,
        capacity: usize,
        now: Duration,
        held: &AtomicUsize,
    ) -> Arc<Message> {
        let message = Arc::new(Message::new(self.last + 1, event, data));
        self.push_numbered(message.clone(), capacity, now, held);
        message
    }

    /// Takes a stored channel's numbering and log (ids consecutive, ending at `last`), as if
    /// published `now`.
    pub(super) fn load(
        &mut self,
        last: u64,
        messages: Vec<Arc<Message>>,
        capacity: usize,
        now: Duration,
        held: &AtomicUsize,
    ) {
        self.counted = true;
        let start = messages.len().saturating_sub(capacity);
        let mut messages = messages.into_iter().skip(start).peekable();
        self.last = match messages.peek() {
            Some(first) => first.id - 1,
            None => last.max(self.base),
        };
        self.issued = self.last;
        for message in messages {
            self.push_numbered(message, capacity, now, held);
        }
    }

    /// Takes `base` as the id before the first message, when the log is empty and nothing past
    /// `base` was numbered here.
    pub(super) fn start_at(&mut self, base: u64) {
        if self.log.is_empty() && self.issued <= base {
            self.base = base;
            self.last = base;
            self.issued = base;
        }
    }

    /// Keeps a message numbered elsewhere (the store, Redis): its id must be `last + 1`.
    pub(super) fn push_numbered(
        &mut self,
        message: Arc<Message>,
        capacity: usize,
        now: Duration,
        held: &AtomicUsize,
    ) {
        debug_assert_eq!(message.id, self.last + 1);
        self.last = message.id;
        self.issued = self.issued.max(self.last);
        self.counted = true;
        let size = message.held_bytes();
        self.bytes += size;
        held.fetch_add(size, Ordering::SeqCst);
        self.log.push_back(message);
        self.times.push_back(now);
        while self.log.len() > capacity {
            self.evict_oldest(held);
        }
    }

    /// Drops the oldest logged message (a client that needed it is told it missed it); returns
    /// whether there was one.
    pub(super) fn evict_oldest(&mut self, held: &AtomicUsize) -> bool {
        let Some(message) = self.log.pop_front() else {
            return false;
        };
        self.times.pop_front();
        let size = message.held_bytes();
        self.bytes -= size;
        held.fetch_sub(size, Ordering::SeqCst);
        true
    }

    /// Drops the messages published at or before `cutoff`; returns the last id dropped, if any.
    pub(super) fn expire(&mut self, cutoff: Duration, held: &AtomicUsize) -> Option<u64> {
        let mut dropped = None;
        while self.times.front().is_some_and(|&at| at <= cutoff) {
            dropped = self.log.front().map(|message| message.id);
            self.evict_oldest(held);
        }
        dropped
    }

    /// Nobody listens, nothing waits for the store, and the log is empty (aged out or evicted):
    /// the channel can be retired even though it held messages.
    pub(super) fn is_spent(&self) -> bool {
        self.log.is_empty()
            && self.issued == self.last
            && self.subscribers.is_empty()
            && self.waiters.is_empty()
    }

    /// Empties the log and restarts it after `last`, cutting every subscriber off with
    /// [`EndReason::Lagged`] (they missed what lies between); returns the wakers to wake.
    pub(super) fn restart_at(&mut self, last: u64, held: &AtomicUsize) -> Vec<Waker> {
        while self.evict_oldest(held) {}
        self.last = last;
        self.issued = self.issued.max(last);
        let mut wakers = Vec::new();
        for (_, queue) in self.subscribers.drain() {
            wakers.extend(queue.end(EndReason::Lagged));
        }
        wakers
    }

    /// Queues `message` for every subscriber and releases every waiter; returns the wakers to
    /// wake once the lock is released. A subscriber whose queue already holds `bound` messages is
    /// cut off and removed.
    pub(super) fn fan_out(&mut self, message: &Arc<Message>, bound: usize) -> Vec<Waker> {
        let mut wakers: Vec<Waker> = self.waiters.drain().map(|(_, w)| w).collect();
        self.subscribers.retain(|_, queue| {
            let (waker, keep) = queue.push(message, bound);
            wakers.extend(waker);
            keep
        });
        wakers
    }

    /// Ends every subscription and releases every waiter.
    pub(super) fn end_all(&mut self, reason: EndReason) -> Vec<Waker> {
        let mut wakers: Vec<Waker> = self.waiters.drain().map(|(_, w)| w).collect();
        for (_, queue) in self.subscribers.drain() {
            wakers.extend(queue.end(reason));
        }
        wakers
    }

    pub(super) fn add_subscriber(&mut self) -> (u64, Arc<Queue>) {
        let key = self.take_key();
        let queue = Arc::new(Queue::new(self.pace.clone()));
        self.subscribers.insert(key, queue.clone());
        (key, queue)
    }

    /// Stops waiting for every subscriber that is behind now (a publish waited past the grace).
    pub(super) fn give_up_on_behind(&self) {
        for queue in self.subscribers.values() {
            queue.give_up();
        }
    }

    pub(super) fn remove_subscriber(&mut self, key: u64) {
        self.subscribers.remove(&key);
    }

    /// Parks a long-poll waiter (a new key when `key` is `None`), returning its key.
    pub(super) fn park_waiter(&mut self, key: Option<u64>, waker: &Waker) -> u64 {
        let key = key.unwrap_or_else(|| self.take_key());
        match self.waiters.get_mut(&key) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => w.clone_from(waker),
            None => {
                self.waiters.insert(key, waker.clone());
            }
        }
        key
    }

    pub(super) fn remove_waiter(&mut self, key: u64) {
        self.waiters.remove(&key);
    }

    /// Nobody listens and nothing was ever published: the channel can go.
    pub(super) fn is_idle(&self) -> bool {
        !self.counted
            && self.issued == self.last
            && self.subscribers.is_empty()
            && self.waiters.is_empty()
    }

    pub(super) fn stats(&self) -> ChannelStats {
        ChannelStats {
            last: self.last,
            logged: self.log.len(),
            subscribers: self.subscribers.len(),
            waiters: self.waiters.len(),
        }
    }

    fn take_key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }
}
