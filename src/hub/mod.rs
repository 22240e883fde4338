//! The message hub behind every technique: channels created on first use, each with a numbered,
//! bounded log for late and returning clients, subscribers with bounded queues, and long-poll
//! waiters. A message is stored once (`Arc`) and shared by every subscriber.
//!
//! The seam for other engines (Redis, issue 7) is [`Hub::publish`]: it is async and fallible, so a
//! hub that numbers messages elsewhere can stand behind the same calls.

use std::sync::Arc;

use serde::Serialize;

/// One message, as the contract shapes it: `{"id": u64, "event": "message", "data": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Per-channel id, rising by one from 1.
    pub id: u64,
    /// Event name (`message` unless the publisher named one).
    pub event: String,
    /// The payload.
    pub data: String,
}

/// Hub limits.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// Messages kept per channel for resuming clients.
    pub log_capacity: usize,
    /// Messages a subscriber may have queued before it is cut off.
    pub subscriber_queue: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            log_capacity: 1000,
            subscriber_queue: 1024,
        }
    }
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The hub is shutting down.
    #[error("the hub is shutting down")]
    ShuttingDown,
}

/// What the log holds after some id.
#[derive(Debug, Clone, Default)]
pub struct Backlog {
    /// Messages with id > since, oldest first.
    pub messages: Vec<Arc<Message>>,
    /// The channel's last id (0 when nothing was ever published).
    pub last: u64,
    /// Set when messages after `since` were already dropped from the log.
    pub missed: Option<Missed>,
}

/// Messages a resuming client asked for that the bounded log no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missed {
    /// First id lost.
    pub from: u64,
    /// Last id lost.
    pub to: u64,
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The subscriber fell more than its queue bound behind (WebSocket close 1008/1013).
    Lagged,
    /// The server is shutting down (WebSocket close 1001).
    Shutdown,
}

/// The shared hub; cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub {
    _private: (),
}

impl Hub {
    /// A hub with these limits.
    pub fn new(config: HubConfig) -> Hub {
        let _ = config;
        todo!()
    }

    /// Appends a message to `channel` and hands it to every subscriber.
    pub async fn publish(
        &self,
        channel: &str,
        event: &str,
        data: String,
    ) -> Result<Arc<Message>, HubError> {
        let _ = (channel, event, data);
        todo!()
    }

    /// What the log holds after `since`, at once (short polling).
    pub fn since(&self, channel: &str, since: u64) -> Backlog {
        let _ = (channel, since);
        todo!()
    }

    /// Waits until the channel has a message after `since` (long polling). Dropping the future
    /// releases the waiter.
    pub async fn wait_since(&self, channel: &str, since: u64) -> Backlog {
        let _ = (channel, since);
        todo!()
    }

    /// Subscribes to `channel`: the backlog after `since` (none when `None`), then live messages,
    /// with no gap and no duplicate at the seam.
    pub fn subscribe(&self, channel: &str, since: Option<u64>) -> Subscription {
        let _ = (channel, since);
        todo!()
    }

    /// Ends every subscription with [`EndReason::Shutdown`] and refuses further publishes.
    pub fn shutdown(&self) {
        todo!()
    }
}

/// A live subscription: first its backlog, then each message as it is published.
#[derive(Debug)]
pub struct Subscription {
    /// Messages from the log, to send before live ones.
    pub backlog: Vec<Arc<Message>>,
    /// Set when the log no longer held all that was asked for.
    pub missed: Option<Missed>,
}

/// What [`Subscription::next`] yields.
#[derive(Debug, Clone)]
pub enum Next {
    /// A live message.
    Message(Arc<Message>),
    /// The subscription is over.
    Ended(EndReason),
}

impl Subscription {
    /// The next live message, or why the subscription ended. Backlog messages are not repeated.
    pub async fn next(&mut self) -> Next {
        todo!()
    }

    /// The next queued item without waiting, if there is one.
    pub fn try_next(&mut self) -> Option<Next> {
        todo!()
    }
}
