//! The message hub behind every technique: channels created on first use, each with a numbered,
//! bounded log for late and returning clients, subscribers with bounded queues, and long-poll
//! waiters. A message is stored once (`Arc`) and shared by every subscriber.
//!
//! Two engines number the messages. The in-process one (the default, [`Hub::new`]) numbers them
//! here. The Redis one ([`Hub::with_redis`], see [`redis`]'s docs) lets
//! several nodes share channels: [`Hub::publish`] goes to Redis, which numbers, stores and
//! announces the message, and each node's hub stays its local fan-out and a mirror of the log,
//! fed in id order by [`Hub::deliver`]. `since`, `subscribe` and `wait_since` read local state
//! with either engine.
//!
//! Locks, always taken in this order and never held across an `.await`: the channel map (only to
//! find, create or retire a channel), then one channel (numbering, log, fan-out), then one
//! subscriber's queue, then the channel's list of paced publishers ([`pace`]). Wakers are woken
//! after every lock is released, except a paced publisher's, woken by the queue that caught up.
//!
//! Bounds:
//! - each channel keeps its last [`HubConfig::log_capacity`] messages;
//! - each subscriber queues at most [`HubConfig::subscriber_queue`] messages, past which it is cut
//!   off with [`EndReason::Lagged`] (its queued messages are dropped at once, see [`Subscription`]);
//! - at most [`HubConfig::max_channels`] channels hold messages; a publish that would create one
//!   more gets [`HubError::TooManyChannels`] ([`DEFAULT_CHANNEL`] is always allowed, so the ticker
//!   never is refused). A channel that only has listeners and no message is retired when its last
//!   listener leaves, so subscribing to random names leaks nothing.
//! - a publish waits for the subscribers that keep up at most [`Pacing::grace`] ([`pace`]).

mod channel;
mod pace;
pub mod redis;
mod subscription;
mod ticker;
mod wait;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::Serialize;

pub use self::redis::{RedisConfig, RedisError};
use channel::Channel;
pub use pace::{Pacing, DEFAULT_WINDOW as DEFAULT_PUBLISH_WINDOW};
pub use subscription::{Publisher, Subscription};
pub use ticker::Ticker;

/// The channel a route and a spec's `publish` use when none is named, and the one the ticker
/// publishes to.
pub const DEFAULT_CHANNEL: &str = "default";

/// One message, as the contract shapes it: `{"id": u64, "event": "message", "data": "..."}`.
///
/// A published message is shared (`Arc`) and never changed, so the encodings every subscriber
/// sends alike ([`Message::json`], [`Message::websocket_frame`], [`Message::sse_event`]) are
/// computed once, on first use, and kept with it: fan-out to N subscribers encodes once, not N
/// times ([`Message::sse_chunk`] too: the SSE event framed as the HTTP/1.1 chunk a stream writes). Build one with [`Message::new`]; equality, `Debug` and the JSON shape ignore the cache.
#[derive(Clone, Serialize)]
pub struct Message {
    /// Per-channel id, rising by one from 1.
    pub id: u64,
    /// Event name (`message` unless the publisher named one).
    pub event: String,
    /// The payload.
    pub data: String,
    #[serde(skip)]
    encoded: Encodings,
}

/// The cached encodings of one message (see [`Message`]).
#[derive(Clone, Default)]
struct Encodings {
    json: OnceLock<Arc<str>>,
    websocket: OnceLock<Arc<[u8]>>,
    sse: OnceLock<Arc<[u8]>>,
    sse_chunk: OnceLock<Option<Arc<[u8]>>>,
}

impl Message {
    /// A message with nothing encoded yet.
    pub fn new(id: u64, event: impl Into<String>, data: impl Into<String>) -> Self {
        // Held once, sized to fit: a body read into a growing buffer may have spare capacity.
        let mut data = data.into();
        data.shrink_to_fit();
        let mut event = event.into();
        event.shrink_to_fit();
        Message {
            id,
            event,
            data,
            encoded: Encodings::default(),
        }
    }

    /// The memory this message may hold, for the hub's ceiling: its body and event name, its
    /// three encodings as if all were cached (each is the body plus at most
    /// [`ENCODING_OVERHEAD`] bytes; a JSON escape can make one longer, which only the count of
    /// its characters bounds, so control characters count six bytes each), and the SSE chunk
    /// when the body may fit one.
    pub fn held_bytes(&self) -> usize {
        let body = self.data.len() + self.event.len();
        let escapes = self
            .data
            .bytes()
            .filter(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
            .count();
        let encoding = body + 5 * escapes + ENCODING_OVERHEAD;
        // The SSE chunk exists only for an event that fits one chunk, which a longer body
        // cannot.
        let chunk = if body <= crate::server::http::encode::MAX_CHUNK {
            encoding + CHUNK_FRAMING
        } else {
            0
        };
        std::mem::size_of::<Message>() + body + 3 * encoding + chunk
    }

    /// The contract's JSON text `{"id":N,"event":"E","data":"D"}` (`/ws` frames, iframe scripts).
    pub fn json(&self) -> Arc<str> {
        self.encoded
            .json
            .get_or_init(|| {
                // Serializing a struct of an integer and two strings cannot fail.
                serde_json::to_string(self).unwrap_or_default().into()
            })
            .clone()
    }

    /// [`Message::json`] as one final, unmasked WebSocket text frame, header included: RFC 6455
    /// §5.1 forbids a server to mask, so the bytes are the same for every subscriber.
    pub fn websocket_frame(&self) -> Arc<[u8]> {
        self.encoded
            .websocket
            .get_or_init(|| {
                let frame = crate::wire::websocket::Frame::text(&self.json());
                crate::wire::websocket::encode_frame(&frame).into()
            })
            .clone()
    }

    /// The Server-Sent Events block `id: N`, `event: E`, one `data:` line per line, blank line.
    pub fn sse_event(&self) -> Arc<[u8]> {
        self.encoded
            .sse
            .get_or_init(|| {
                let id = self.id.to_string();
                crate::wire::sse::encode_event(&crate::wire::sse::Event {
                    id: Some(&id),
                    event: Some(&self.event),
                    data: &self.data,
                })
                .into()
            })
            .clone()
    }

    /// [`Message::sse_event`] framed as one HTTP/1.1 chunk (RFC 9112 §7.1: `SIZE CRLF DATA
    /// CRLF`), by the one chunk encoder, so a stream writes the shared bytes as they are; `None`
    /// when the event is longer than one chunk ([`MAX_CHUNK`](crate::server::http::encode::MAX_CHUNK)).
    pub fn sse_chunk(&self) -> Option<Arc<[u8]>> {
        self.encoded
            .sse_chunk
            .get_or_init(|| {
                let event = self.sse_event();
                (event.len() <= crate::server::http::encode::MAX_CHUNK).then(|| {
                    let mut chunk = Vec::with_capacity(event.len() + 8);
                    crate::server::http::encode::chunk(&event, &mut chunk);
                    chunk.into()
                })
            })
            .clone()
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        (self.id, &self.event, &self.data) == (other.id, &other.event, &other.data)
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("event", &self.event)
            .field("data", &self.data)
            .finish()
    }
}

/// Hub limits.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// Messages kept per channel for resuming clients.
    pub log_capacity: usize,
    /// Messages a subscriber may have queued before it is cut off.
    pub subscriber_queue: usize,
    /// Channels that may hold messages at once; a publish creating one more is refused.
    pub max_channels: usize,
    /// Bytes all logs may hold in memory ([`Message::held_bytes`]); past it the oldest messages
    /// of the largest channels leave memory.
    pub max_store_bytes: usize,
    /// Messages older than this leave the log; a channel left empty that nobody listens to is
    /// retired. `None`: messages leave only past the log capacity or the memory ceiling.
    pub retain: Option<Duration>,
    /// A new channel's first id is `id_floor + 1`. 0 for a hub with no predecessor (an embedded
    /// or spec server: ids 1, 2, 3...); `longconn serve` sets it from the clock
    /// ([`id_floor_now`]), so no id an earlier process issued is ever issued again.
    pub id_floor: u64,
    /// How a publish waits for the subscribers that keep up ([`pace`]); `None`: it never waits.
    pub pacing: Option<Pacing>,
}

/// An id floor above any id an earlier process could have issued: microseconds since the Unix
/// epoch, so a process would have to publish more than one message per microsecond of its life on
/// one channel to reach a later process's floor. Stays below 2^53 (a JSON-safe integer) until the
/// year 2255.
pub fn id_floor_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            log_capacity: 1000,
            subscriber_queue: 1024,
            max_channels: 10_000,
            max_store_bytes: 256 * 1024 * 1024,
            retain: None,
            id_floor: 0,
            pacing: Some(Pacing::default()),
        }
    }
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The hub is shutting down.
    #[error("the hub is shutting down")]
    ShuttingDown,
    /// Publishing would create a channel past [`HubConfig::max_channels`].
    #[error("too many channels (at most {max})")]
    TooManyChannels {
        /// The configured bound.
        max: usize,
    },
    /// The message store did not commit the message; it was not published (the server answers
    /// 503).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The Redis engine cannot reach Redis; nothing was published (the server answers 503).
    #[error("the message hub's Redis is unreachable, nothing was published; try again shortly ({reason})")]
    Unavailable {
        /// What went wrong, for the operator.
        reason: String,
    },
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

/// What [`Subscription::next`] yields.
#[derive(Debug, Clone)]
pub enum Next {
    /// A live message.
    Message(Arc<Message>),
    /// The subscription is over.
    Ended(EndReason),
}

/// A snapshot of one channel, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// The channel's last id.
    pub last: u64,
    /// Messages the log holds now.
    pub logged: usize,
    /// Live subscriptions.
    pub subscribers: usize,
    /// Long-poll waiters parked on the channel.
    pub waiters: usize,
}

/// Bytes an encoding adds to a message's body and event name: the JSON keys and id, a WebSocket
/// frame header, the SSE field names, counted generously.
const ENCODING_OVERHEAD: usize = 96;

/// Bytes the HTTP/1.1 chunk framing adds to one chunk: at most four hex digits and two CRLFs.
const CHUNK_FRAMING: usize = 8;

/// The shared hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    config: HubConfig,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    /// Channels that hold messages (they are never retired), against `max_channels`.
    logged_channels: AtomicUsize,
    shutting_down: AtomicBool,
    /// The Redis engine, when messages are numbered there.
    redis: Option<Arc<self::redis::Engine>>,
    /// The message store, when messages are committed to disk before they are published.
    store: OnceLock<crate::store::Writer>,
    /// Bytes every log holds, against [`HubConfig::max_store_bytes`].
    held: AtomicUsize,
    /// The highest last id of a retired channel: a channel created again starts above it, so a
    /// name never numbers the same id twice.
    retired_last: AtomicU64,
    /// What publish times, the age limit and the pacing grace are read on.
    clock: crate::clock::Clock,
}

/// What a publish did under its channel's lock.
enum Published {
    /// Logged and fanned out; these wakers are to be woken.
    Done(Arc<Message>, Vec<std::task::Waker>),
    /// Numbered and queued for the store, which publishes it once committed.
    Pending(Arc<Message>, crate::store::writer::Ack),
}

/// What [`Hub::deliver`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Every message is in the log now (new ones appended and fanned out, known ones skipped).
    Done,
    /// A message was past the next id: the ones before it are missing. Nothing from that message
    /// on was taken; `last` is the channel's last id.
    Gap {
        /// The channel's last id.
        last: u64,
    },
}

impl Delivered {
    /// Whether messages are missing.
    pub fn is_gap(self) -> bool {
        matches!(self, Delivered::Gap { .. })
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .field("channels", &self.channel_count())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl Hub {
    /// A hub with these limits.
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                config,
                channels: Mutex::new(HashMap::new()),
                logged_channels: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                redis: None,
                store: OnceLock::new(),
                held: AtomicUsize::new(0),
                retired_last: AtomicU64::new(0),
                clock: crate::clock::Clock::System,
            }),
        }
    }

    /// A hub that stamps messages and ages them on `clock` (a manual one in tests).
    pub fn on_clock(config: HubConfig, clock: crate::clock::Clock) -> Hub {
        let mut hub = Hub::new(config);
        if let Some(inner) = Arc::get_mut(&mut hub.inner) {
            inner.clock = clock;
        }
        hub
    }

    /// A hub whose messages are committed to `store` before they are acknowledged and published,
    /// starting from what the store holds (`opened`). A new channel starts at
    /// `config.id_floor + 1`; a stored one continues from its last id.
    pub fn with_store(
        config: HubConfig,
        store: crate::store::Store,
        opened: crate::store::Opened,
    ) -> std::io::Result<Hub> {
        Hub::with_store_on_clock(config, store, opened, crate::clock::Clock::System)
    }

    /// [`Hub::with_store`] on `clock` (a manual one in tests).
    pub fn with_store_on_clock(
        config: HubConfig,
        store: crate::store::Store,
        opened: crate::store::Opened,
        clock: crate::clock::Clock,
    ) -> std::io::Result<Hub> {
        let hub = Hub::on_clock(config, clock);
        hub.inner
            .retired_last
            .store(opened.retired_last, Ordering::SeqCst);
        {
            let mut map = hub.map();
            for stored in opened.channels {
                let chan = Arc::new(Channel::new(&stored.name, stored.base, hub.window()));
                chan.lock().load(
                    stored.last,
                    stored.messages,
                    config.log_capacity,
                    hub.inner.clock.now(),
                    &hub.inner.held,
                );
                if stored.name != DEFAULT_CHANNEL {
                    hub.inner.logged_channels.fetch_add(1, Ordering::SeqCst);
                }
                map.insert(stored.name, chan);
            }
        }
        // What was read back counts against the memory ceiling like anything published.
        hub.enforce_ceiling();
        let weak = Arc::downgrade(&hub.inner);
        let writer = crate::store::Writer::start(store, config.log_capacity, move |batch| {
            if let Some(inner) = weak.upgrade() {
                Hub { inner }.deliver_committed(batch);
            }
        })?;
        // Set once, here, before the hub is shared.
        let _ = hub.inner.store.set(writer);
        Ok(hub)
    }

    /// Hands a committed batch (ids rising per channel) to each channel's log and listeners.
    fn deliver_committed(&self, batch: &[(String, Arc<Message>)]) {
        let mut by_channel: Vec<(&str, Vec<Arc<Message>>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (channel, message) in batch {
            let slot = *index.entry(channel.as_str()).or_insert_with(|| {
                by_channel.push((channel.as_str(), Vec::new()));
                by_channel.len() - 1
            });
            by_channel[slot].1.push(message.clone());
        }
        for (channel, messages) in by_channel {
            // A gap only follows a failed commit (those ids were never acknowledged nor seen):
            // the log restarts past it and listeners resume.
            self.deliver(channel, &messages, true);
        }
    }

    /// A hub whose messages Redis numbers, stores and announces, shared with every other node
    /// on the same Redis (see [`redis`]). Returns once Redis answered and every
    /// channel's log was read; after that, losing Redis is retried in the background.
    pub async fn with_redis(config: HubConfig, redis: RedisConfig) -> Result<Hub, RedisError> {
        let (engine, stopped) = self::redis::Engine::connect(redis).await?;
        let engine = Arc::new(engine);
        let hub = Hub {
            inner: Arc::new(HubInner {
                config,
                channels: Mutex::new(HashMap::new()),
                logged_channels: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                redis: Some(engine.clone()),
                store: OnceLock::new(),
                held: AtomicUsize::new(0),
                retired_last: AtomicU64::new(0),
                clock: crate::clock::Clock::System,
            }),
        };
        let stream = self::redis::start(&hub, &engine).await?;
        async_std::task::spawn(self::redis::run(
            Arc::downgrade(&hub.inner),
            stopped,
            stream,
        ));
        Ok(hub)
    }

    /// `"redis"` or `"in-process"`: which engine numbers the messages.
    pub fn engine(&self) -> &'static str {
        if self.inner.redis.is_some() {
            "redis"
        } else {
            "in-process"
        }
    }

    /// The limits this hub was built with.
    pub fn config(&self) -> HubConfig {
        self.inner.config
    }

    /// Appends a message to `channel` and hands it to every subscriber, then, when the hub is
    /// paced ([`HubConfig::pacing`]), waits until no subscriber in step has more than
    /// [`Pacing::window`] messages queued (see [`pace`]): a publisher goes as fast as healthy
    /// subscribers take messages.
    ///
    /// Never waits for a subscriber past [`Pacing::grace`]: one still behind then is not waited
    /// for again until it catches up, and one whose queue is full is cut off.
    pub async fn publish(
        &self,
        channel: &str,
        event: &str,
        data: String,
    ) -> Result<Arc<Message>, HubError> {
        self.publish_paced(None, channel, event, data).await
    }

    /// [`publish`](Hub::publish) from the task that drains `publisher`'s queue (a `/ws` client's
    /// text): the publish does not wait for that queue, which cannot move until it returns.
    pub async fn publish_from(
        &self,
        publisher: &Publisher,
        channel: &str,
        event: &str,
        data: String,
    ) -> Result<Arc<Message>, HubError> {
        self.publish_paced(Some(publisher), channel, event, data)
            .await
    }

    async fn publish_paced(
        &self,
        own: Option<&Publisher>,
        channel: &str,
        event: &str,
        data: String,
    ) -> Result<Arc<Message>, HubError> {
        // From the start: the own queue cannot move while the store or Redis answers either.
        let _publishing = own.map(Publisher::publishing);
        let (message, chan) = self.publish_now(channel, event, data).await?;
        if let (Some(pacing), Some(chan)) = (self.inner.config.pacing, chan) {
            self.pace(&chan, pacing).await;
        }
        Ok(message)
    }

    /// Publishes without pacing; returns the message and its channel (absent only if Redis
    /// delivered it to a channel retired meanwhile).
    async fn publish_now(
        &self,
        channel: &str,
        event: &str,
        data: String,
    ) -> Result<(Arc<Message>, Option<Arc<Channel>>), HubError> {
        if self.is_shutting_down() {
            return Err(HubError::ShuttingDown);
        }
        if let Some(engine) = &self.inner.redis {
            let message = self.publish_redis(engine, channel, event, data).await?;
            return Ok((message, self.existing(channel)));
        }
        let config = self.inner.config;
        let now = self.inner.clock.now();
        if !self.room_for(channel) {
            // At the channel bound: retire what aged out before refusing.
            self.sweep();
        }
        let (chan, outcome) = self.with_channel(channel, |state| {
            // Checked again under the channel lock: `shutdown` ends subscribers under the same
            // lock, so no message can reach a subscriber after it saw `Ended(Shutdown)`.
            if self.is_shutting_down() {
                return Err(HubError::ShuttingDown);
            }
            if !state.counted && channel != DEFAULT_CHANNEL && !self.reserve_channel() {
                return Err(HubError::TooManyChannels {
                    max: config.max_channels,
                });
            }
            if let Some(retain) = config.retain {
                let dropped = state.expire(now.saturating_sub(retain), &self.inner.held);
                if let (Some(through), Some(store)) = (dropped, self.inner.store.get()) {
                    store.forget(channel, through);
                }
            }
            if let Some(store) = self.inner.store.get() {
                // Numbered and queued under the channel lock, so the store commits (and then
                // publishes) each channel's messages in id order.
                let counted = state.counted;
                state.counted = true;
                let message = Arc::new(Message::new(state.issue(), event, data));
                return match store.submit(channel, state.base, message.clone()) {
                    Ok(ack) => Ok(Published::Pending(message, ack)),
                    Err(error) => {
                        state.counted = counted;
                        Err(error.into())
                    }
                };
            }
            let message = state.append(event, data, config.log_capacity, now, &self.inner.held);
            let wakers = state.fan_out(&message, config.subscriber_queue);
            Ok(Published::Done(message, wakers))
        });
        match outcome {
            Ok(Published::Done(message, wakers)) => {
                wakers.into_iter().for_each(|w| w.wake());
                self.enforce_ceiling();
                Ok((message, Some(chan)))
            }
            // Acknowledged only once committed; the writer has published it by then.
            Ok(Published::Pending(message, ack)) => match ack.recv().await {
                Ok(Ok(())) => Ok((message, Some(chan))),
                Ok(Err(error)) => Err(error.into()),
                Err(_) => Err(crate::store::StoreError::Closed.into()),
            },
            Err(error) => {
                // A refused publish may have created the channel: do not leave it behind.
                self.retire_if_idle(&chan);
                Err(error)
            }
        }
    }

    /// Publishes through Redis, then delivers the message here at once (filling from the Redis
    /// log first if announcements are still on their way).
    async fn publish_redis(
        &self,
        engine: &self::redis::Engine,
        channel: &str,
        event: &str,
        data: String,
    ) -> Result<Arc<Message>, HubError> {
        let seen = self.stats(channel).last;
        let published = engine
            .publish(&self.inner.config, channel, event, &data, seen)
            .await
            .map_err(|error| HubError::Unavailable {
                reason: error.to_string(),
            })?;
        let message = match published {
            self::redis::Published::Message(message) => Arc::new(message),
            self::redis::Published::TooManyChannels => {
                return Err(HubError::TooManyChannels {
                    max: self.inner.config.max_channels,
                })
            }
        };
        if self
            .deliver(channel, std::slice::from_ref(&message), false)
            .is_gap()
        {
            // Acknowledged all the same: Redis holds it, and the subscriber task fills the gap
            // when this read fails.
            let _ = self::redis::fill(self, engine, channel).await;
        }
        Ok(message)
    }

    /// Waits until no subscriber of `chan` is behind, or [`Pacing::grace`] on the hub's clock;
    /// past the grace, the ones still behind are marked slow and not waited for again until they
    /// catch up.
    async fn pace(&self, chan: &Channel, pacing: Pacing) {
        let pace = chan.pace();
        if pace.behind() == 0 {
            return;
        }
        // The hub's clock: real time in `serve` (and under the embedded server, whose manual
        // clock drives its routes, not its hub), so no publish outlives the grace; a manual
        // clock in the hub's own tests.
        let grace = self.inner.clock.sleep(pacing.grace);
        let caught_up = async {
            pace.caught_up().await;
            true
        };
        let gave_up = async {
            grace.await;
            false
        };
        if !futures_lite::future::or(caught_up, gave_up).await {
            chan.lock().give_up_on_behind();
        }
    }

    /// Takes already-numbered messages (ids rising, as Redis gave them) into the log and hands
    /// them to subscribers and waiters: the Redis engine's way in. Ids at or below the channel's
    /// last are skipped (a message can arrive both as the publisher's own and as an
    /// announcement).
    ///
    /// A message past the next id stops the delivery with [`Delivered::Gap`], unless `jump`: then
    /// the messages in between are taken as gone for good (the Redis log no longer holds them),
    /// the local log restarts at that message, and every subscriber is cut off with
    /// [`EndReason::Lagged`] so its client resumes and learns what it missed.
    pub fn deliver(&self, channel: &str, messages: &[Arc<Message>], jump: bool) -> Delivered {
        let config = self.inner.config;
        let now = self.inner.clock.now();
        let (_, outcome) = self.with_channel(channel, |state| {
            let mut wakers = Vec::new();
            for message in messages {
                if self.is_shutting_down() {
                    break;
                }
                if message.id <= state.last {
                    continue;
                }
                if message.id != state.last + 1 && !jump {
                    return (Delivered::Gap { last: state.last }, wakers);
                }
                if !state.counted && channel != DEFAULT_CHANNEL {
                    // Redis bounds the channels; here they are only counted.
                    self.inner.logged_channels.fetch_add(1, Ordering::SeqCst);
                }
                if message.id != state.last + 1 {
                    wakers.extend(state.restart_at(message.id - 1, &self.inner.held));
                }
                state.push_numbered(message.clone(), config.log_capacity, now, &self.inner.held);
                wakers.extend(state.fan_out(message, config.subscriber_queue));
            }
            (Delivered::Done, wakers)
        });
        let (delivered, wakers) = outcome;
        wakers.into_iter().for_each(|w| w.wake());
        self.enforce_ceiling();
        delivered
    }

    /// Takes `base` as the id before `channel`'s first message when this hub knows nothing
    /// after it: the Redis engine's mirror learning a channel numbered elsewhere.
    pub(crate) fn start_at(&self, channel: &str, base: u64) {
        self.with_channel(channel, |state| state.start_at(base));
    }

    /// Whether this node may publish the next tick: always in-process; with Redis, when it holds
    /// (or could take) the ticker lease for `lease` (see [`redis`]).
    pub async fn claim_ticker(&self, lease: Duration) -> bool {
        match &self.inner.redis {
            None => true,
            Some(engine) => engine.claim_ticker(lease).await.unwrap_or(false),
        }
    }

    /// What the log holds after `since`, at once (short polling).
    ///
    /// A `since` past the channel's last id (a client from before a restart) is taken as the last
    /// id: no messages, and `last` tells the client where the channel stands.
    pub fn since(&self, channel: &str, since: u64) -> Backlog {
        match self.existing(channel) {
            Some(chan) => chan.lock().backlog(since),
            None => channel::ChannelState::new(self.base(), Arc::default()).backlog(since),
        }
    }

    /// Waits until the channel has a message after `since` (long polling). Dropping the future
    /// releases the waiter.
    ///
    /// Returns at once when the log already holds a message after `since`, or when the hub is
    /// shutting down (then possibly with no messages). A `since` past the last id is taken
    /// literally: a client that holds ids up to N from before a restart waits for N + 1 instead
    /// of being handed ids it already has.
    pub async fn wait_since(&self, channel: &str, since: u64) -> Backlog {
        wait::WaitSince::new(self.clone(), channel, since).await
    }

    /// Subscribes to `channel`: the backlog after `since` (none when `None`), then live messages,
    /// with no gap and no duplicate at the seam. A `since` past the channel's last id is taken
    /// literally, as [`wait_since`](Hub::wait_since) takes it: live messages up to it are skipped.
    ///
    /// After [`shutdown`](Hub::shutdown) the subscription ends at once with
    /// [`EndReason::Shutdown`].
    pub fn subscribe(&self, channel: &str, since: Option<u64>) -> Subscription {
        let (chan, (key, queue, backlog)) = self.with_channel(channel, |state| {
            // The backlog is read and the subscriber registered under one lock: a publish either
            // came before (it is in the backlog) or comes after (it is queued), never both or
            // neither.
            let backlog = match since {
                Some(n) => state.backlog(n),
                None => Backlog {
                    last: state.last,
                    ..Backlog::default()
                },
            };
            if self.is_shutting_down() {
                (
                    None,
                    subscription::Queue::ended(EndReason::Shutdown, state.pace.clone()),
                    backlog,
                )
            } else {
                let (key, queue) = state.add_subscriber();
                (Some(key), queue, backlog)
            }
        });
        Subscription::new(self.clone(), chan, key, queue, backlog, since)
    }

    /// Ends every subscription with [`EndReason::Shutdown`] and refuses further publishes.
    /// Long-poll waiters are released (they answer with what the log holds).
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        if let Some(engine) = &self.inner.redis {
            engine.stop();
        }
        // Anything that registers after this snapshot sees the flag under its channel lock.
        let channels: Vec<Arc<Channel>> = self.map().values().cloned().collect();
        for chan in channels {
            let wakers = chan.lock().end_all(EndReason::Shutdown);
            wakers.into_iter().for_each(|w| w.wake());
        }
    }

    /// Whether [`shutdown`](Hub::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// A snapshot of `channel` (all zero when it does not exist).
    pub fn stats(&self, channel: &str) -> ChannelStats {
        match self.existing(channel) {
            Some(chan) => chan.lock().stats(),
            None => ChannelStats::default(),
        }
    }

    /// Channels that exist now (with messages, or with someone listening).
    pub fn channel_count(&self) -> usize {
        self.map().len()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Channel>>> {
        // A poisoned lock only means a panic elsewhere; the map itself stays consistent.
        self.inner
            .channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn existing(&self, name: &str) -> Option<Arc<Channel>> {
        self.map().get(name).cloned()
    }

    /// Finds or creates `name` and runs `f` under its lock. Retries when the channel was retired
    /// between the lookup and the lock (its last listener left meanwhile), so nothing lands on a
    /// dead channel.
    fn with_channel<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut channel::ChannelState) -> R,
    ) -> (Arc<Channel>, R) {
        loop {
            let chan = {
                let mut map = self.map();
                match map.get(name) {
                    Some(chan) => chan.clone(),
                    None => {
                        let chan = Arc::new(Channel::new(name, self.base(), self.window()));
                        map.insert(name.to_owned(), chan.clone());
                        chan
                    }
                }
            };
            let mut state = chan.lock();
            if state.retired {
                continue;
            }
            let out = f(&mut state);
            drop(state);
            return (chan, out);
        }
    }

    /// Bytes every log holds now ([`Message::held_bytes`]).
    pub fn held_bytes(&self) -> usize {
        self.inner.held.load(Ordering::SeqCst)
    }

    /// Drops messages past the age limit from every channel and retires every channel left empty
    /// that nobody listens to. The ticker runs it each tick; a publish that finds the channel
    /// bound reached runs it before refusing.
    pub fn sweep(&self) {
        let cutoff = self
            .inner
            .config
            .retain
            .map(|retain| self.inner.clock.now().saturating_sub(retain));
        let store = self.inner.store.get();
        let mut map = self.map();
        map.retain(|name, chan| {
            let mut state = chan.lock();
            let dropped = cutoff.and_then(|cutoff| state.expire(cutoff, &self.inner.held));
            if !state.counted || !state.is_spent() || name == DEFAULT_CHANNEL {
                if let (Some(through), Some(store)) = (dropped, store) {
                    store.forget(name, through);
                }
                return true;
            }
            self.inner
                .retired_last
                .fetch_max(state.last, Ordering::SeqCst);
            state.retired = true;
            self.inner.logged_channels.fetch_sub(1, Ordering::SeqCst);
            // Queued under the map lock: a publish that creates the name again queues its
            // message after this.
            if let Some(store) = store {
                store.retire(name, state.last);
            }
            false
        });
    }

    /// Past the memory ceiling, drops the oldest messages of the largest channels until the logs
    /// hold at most seven eighths of it (the slack keeps this off every publish).
    fn enforce_ceiling(&self) {
        let max = self.inner.config.max_store_bytes;
        if self.held_bytes() <= max {
            return;
        }
        let target = max - max / 8;
        let map = self.map();
        let mut largest: Vec<(usize, &Arc<Channel>)> =
            map.values().map(|chan| (chan.lock().bytes, chan)).collect();
        largest.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
        let mut i = 0;
        while self.held_bytes() > target && !largest.is_empty() {
            let chan = largest[i % largest.len()].1;
            let mut state = chan.lock();
            // The largest first: evict from it down to the next one's size, then go round.
            let next = largest.get(i + 1).map_or(0, |n| n.0);
            while state.bytes > next && self.held_bytes() > target {
                if !state.evict_oldest(&self.inner.held) {
                    break;
                }
            }
            let empty = state.bytes == 0;
            drop(state);
            if empty {
                largest.remove(i % largest.len());
            } else {
                i += 1;
            }
            if i >= largest.len() {
                i = 0;
            }
        }
    }

    /// Whether publishing to `channel` needs no new room under the channel bound.
    fn room_for(&self, channel: &str) -> bool {
        channel == DEFAULT_CHANNEL
            || self.inner.logged_channels.load(Ordering::SeqCst) < self.inner.config.max_channels
            || self
                .existing(channel)
                .is_some_and(|chan| chan.lock().counted)
    }

    /// The base of a channel created here: the id floor, except with Redis, which numbers from
    /// the floor itself and whose ids the local mirror takes as they come.
    fn base(&self) -> u64 {
        match self.inner.redis {
            Some(_) => 0,
            None => self
                .inner
                .config
                .id_floor
                .max(self.inner.retired_last.load(Ordering::SeqCst)),
        }
    }

    /// The pacing window of a new channel (`None`: not paced).
    fn window(&self) -> Option<usize> {
        self.inner.config.pacing.map(|pacing| pacing.window)
    }

    /// Counts one more channel with messages, if the bound allows.
    fn reserve_channel(&self) -> bool {
        let max = self.inner.config.max_channels;
        self.inner
            .logged_channels
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Removes `chan` from the map if nobody listens and it holds nothing.
    fn retire_if_idle(&self, chan: &Arc<Channel>) {
        let mut map = self.map();
        let mut state = chan.lock();
        if state.retired || !state.is_idle() {
            return;
        }
        if map.get(chan.name()).is_some_and(|c| Arc::ptr_eq(c, chan)) {
            map.remove(chan.name());
        }
        state.retired = true;
    }
}

#[cfg(test)]
mod encoding_tests {
    //! [`Message`]'s cached encodings, byte for byte.

    use super::Message;

    #[test]
    fn json_is_the_contract_shape() {
        let message = Message::new(3, "message", "hi \"you\"");
        assert_eq!(
            &*message.json(),
            r#"{"id":3,"event":"message","data":"hi \"you\""}"#
        );
        assert_eq!(
            serde_json::to_string(&message).ok().as_deref(),
            Some(&*message.json())
        );
    }

    #[test]
    fn websocket_frame_is_one_unmasked_text_frame_of_the_json() {
        let message = Message::new(1, "message", "a");
        let json = br#"{"id":1,"event":"message","data":"a"}"#;
        let mut frame = vec![0x81, json.len() as u8];
        frame.extend_from_slice(json);
        assert_eq!(&*message.websocket_frame(), &frame[..]);
    }

    #[test]
    fn sse_event_has_id_event_and_one_data_line_per_line() {
        let message = Message::new(7, "news", "a\nb");
        assert_eq!(
            &*message.sse_event(),
            b"id: 7\nevent: news\ndata: a\ndata: b\n\n"
        );
    }

    #[test]
    fn sse_chunk_is_the_event_as_one_http_chunk() {
        let message = Message::new(7, "news", "a\nb");
        assert_eq!(
            message.sse_chunk().as_deref(),
            Some(&b"23\r\nid: 7\nevent: news\ndata: a\ndata: b\n\n\r\n"[..])
        );
        // Past one chunk: none (the event goes out as several chunks, framed by the writer).
        let long = Message::new(
            1,
            "message",
            "x".repeat(crate::server::http::encode::MAX_CHUNK),
        );
        assert_eq!(long.sse_chunk(), None);
    }

    #[test]
    fn encodings_are_computed_once_and_shared() {
        let message = Message::new(2, "message", "x");
        assert!(std::sync::Arc::ptr_eq(
            &message.websocket_frame(),
            &message.websocket_frame()
        ));
        assert!(std::sync::Arc::ptr_eq(
            &message.sse_event(),
            &message.sse_event()
        ));
        let chunk = message.sse_chunk().expect("one chunk");
        assert!(std::sync::Arc::ptr_eq(
            &chunk,
            &message.sse_chunk().expect("one chunk")
        ));
    }

    #[test]
    fn equality_and_debug_ignore_the_cache() {
        let cached = Message::new(2, "message", "x");
        let _ = cached.json();
        assert_eq!(cached, Message::new(2, "message", "x"));
        assert_eq!(
            format!("{cached:?}"),
            r#"Message { id: 2, event: "message", data: "x" }"#
        );
    }
}
