//! The Redis engine: several nodes share one hub. Redis numbers, stores and announces
//! every message; each node's in-process hub stays its local fan-out and a mirror of the log.
//!
//! How a message travels:
//! - **Publish** runs one Lua script ([`PUBLISH_SCRIPT`]) that takes the channel's next id,
//!   appends the message to a capped stream (the bounded log, as long as the local one), adds the
//!   channel to the set of channels and `PUBLISH`es an announcement. Redis runs a script alone, so
//!   ids per channel rise by one with no gap and no duplicate, whichever node publishes.
//! - **Fan-out**: each node runs one subscriber task on the announcement channel
//!   (`PREFIX:messages`) and hands every message, in id order, to its local hub
//!   ([`Hub::deliver`]). The publishing node also delivers its own message at once, so a client
//!   that got `{"id":N}` finds N on that node straight away. Delivery is idempotent (ids at or below
//!   the channel's last are ignored); a message past the next id means announcements were missed,
//!   and the gap is filled from the Redis log ([`READ_SCRIPT`]).
//! - **Resume**: every node mirrors every channel (on start and after every reconnect it reads
//!   each channel's Redis log after its own last id), so `since` and `Last-Event-ID` on any node
//!   answer from the same log, whichever node the client used before.
//! - **Connection loss**: the subscriber task reconnects with backoff ([`BACKOFF_FIRST`] doubling
//!   to [`BACKOFF_MAX`]) and fills every channel from the log once it is back. Meanwhile publish
//!   fails with [`HubError::Unavailable`](super::HubError::Unavailable) (the server answers 503)
//!   and open subscriptions simply wait: nothing Redis acknowledged is lost, provided Redis itself
//!   keeps it across a restart (`appendonly yes`, `appendfsync always` for every message).
//! - **Ids never go back**: the script numbers from the largest of the stored counter, the log's
//!   last entry and the publishing node's own last id, so a Redis that restarts empty does not
//!   hand out ids that clients already hold; a channel that neither Redis nor the node knows (a
//!   Redis that lost everything) starts above [`HubConfig::id_floor`](super::HubConfig::id_floor),
//!   as an in-process hub does.
//! - **The ticker** publishes from one node only: before each tick a node claims the lease key
//!   `PREFIX:ticker` with [`CLAIM_SCRIPT`] (`SET NX PX` for a free key, or renew it when it holds
//!   it already). The holder renews it every tick; if it dies, another node takes over when the
//!   lease (three intervals, at least a second) expires.
//!
//! Keys, all under the prefix (`longconn` by default): `PREFIX:last:CHANNEL` (counter),
//! `PREFIX:base:CHANNEL` (the id before the channel's first message),
//! `PREFIX:log:CHANNEL` (stream, entry id `N-0` with fields `event` and `data`),
//! `PREFIX:channels` (set), `PREFIX:ticker` (lease). One Redis server, not Redis Cluster: the
//! script touches keys of one channel that Cluster could place on different slots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{MultiplexedConnection, PubSubStream};
use ::redis::{AsyncConnectionConfig, Client, Script};
use async_std::channel::{Receiver, Sender};
use futures_lite::StreamExt;

use super::{Hub, HubConfig, HubInner, Message, DEFAULT_CHANNEL};

/// First wait before reconnecting the subscriber task.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(50);
/// Longest wait between reconnection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Numbers, stores and announces one message; returns its id, or 0 when the channel would be one
/// too many.
///
/// KEYS: counter, log, channel set, base. ARGV: channel, event, data, log capacity, max channels,
/// default channel, announcement channel, the publishing node's last id for the channel, the id
/// floor (a channel that neither Redis nor the node knows starts above it, and the floor is kept
/// as its base: the id before its first message).
pub const PUBLISH_SCRIPT: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if top[1] then
  local t = tonumber(string.match(top[1][1], '^(%d+)'))
  if t > last then last = t end
end
local seen = tonumber(ARGV[8])
if seen > last then last = seen end
if last == 0 then
  last = tonumber(ARGV[9])
  redis.call('SET', KEYS[4], ARGV[9])
end
if ARGV[1] ~= ARGV[6] and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then
  local count = redis.call('SCARD', KEYS[3]) - redis.call('SISMEMBER', KEYS[3], ARGV[6])
  if count >= tonumber(ARGV[5]) then return 0 end
end
local id = last + 1
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], string.format('%d-0', id),
  'event', ARGV[2], 'data', ARGV[3])
redis.call('SET', KEYS[1], string.format('%d', id))
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[7],
  string.format('%d %d %d ', id, #ARGV[1], #ARGV[2]) .. ARGV[1] .. ARGV[2] .. ARGV[3])
return id
";

/// Reads one channel's base and its log from an id on: `{base, id, event, data, id, event, data,
/// ...}`, all strings (base `0` when Redis does not know it).
///
/// KEYS: log, base. ARGV: the first id wanted.
pub const READ_SCRIPT: &str = r"
local out = {redis.call('GET', KEYS[2]) or '0'}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], ARGV[1], '+')) do
  local event, data = 'message', ''
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'event' then event = f[i + 1] elseif f[i] == 'data' then data = f[i + 1] end
  end
  out[#out + 1] = string.match(e[1], '^(%d+)')
  out[#out + 1] = event
  out[#out + 1] = data
end
return out
";

/// Takes the ticker lease when it is free, or renews it when this node holds it: 1 if this node
/// may tick, else 0.
///
/// KEYS: lease. ARGV: node id, lease in milliseconds.
pub const CLAIM_SCRIPT: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Where and how to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// Prefix of every key and of the announcement channel.
    pub prefix: String,
    /// Connection and response timeout of each Redis call.
    pub timeout: Duration,
}

impl RedisConfig {
    /// The default prefix (`longconn`) and timeout (two seconds) for `url`.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            prefix: "longconn".to_owned(),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Why the Redis engine could not do something.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// The URL is not a Redis URL.
    #[error("bad Redis URL '{url}': {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What the client said.
        reason: ::redis::RedisError,
    },
    /// Redis could not be reached, or a call failed. (Not marked as the error's source: its
    /// text is already in this one's, and a chain would print it twice.)
    #[error("Redis: {0}")]
    Call(::redis::RedisError),
    /// A call took longer than the configured timeout.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered something this engine did not write.
    #[error("unexpected reply from Redis: {0}")]
    Reply(String),
}

impl From<::redis::RedisError> for RedisError {
    fn from(error: ::redis::RedisError) -> RedisError {
        RedisError::Call(error)
    }
}

/// What a publish script answered.
#[derive(Debug)]
pub(super) enum Published {
    /// The message, numbered.
    Message(Message),
    /// The channel would be one too many.
    TooManyChannels,
}

/// The engine: one Redis client, a shared connection for calls, and the stop signal of the
/// node's subscriber task.
pub(super) struct Engine {
    client: Client,
    config: RedisConfig,
    /// This node's name in the ticker lease.
    node: String,
    /// The connection calls share, reopened after a failure.
    connection: Mutex<Option<MultiplexedConnection>>,
    publish: Script,
    read: Script,
    claim: Script,
    /// Closed by [`Engine::stop`]; dropped with the hub, which ends the task too.
    stop: Sender<()>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Checks the URL and reaches Redis once. Returns the stop signal's receiving end for
    /// [`run`].
    pub(super) async fn connect(config: RedisConfig) -> Result<(Engine, Receiver<()>), RedisError> {
        let client = Client::open(config.url.as_str()).map_err(|reason| RedisError::Url {
            url: config.url.clone(),
            reason,
        })?;
        let (stop, stopped) = async_std::channel::bounded(1);
        let engine = Engine {
            client,
            node: node_id(),
            connection: Mutex::new(None),
            publish: Script::new(PUBLISH_SCRIPT),
            read: Script::new(READ_SCRIPT),
            claim: Script::new(CLAIM_SCRIPT),
            stop,
            config,
        };
        engine.connection().await?;
        Ok((engine, stopped))
    }

    /// Ends the subscriber task.
    pub(super) fn stop(&self) {
        self.stop.close();
    }

    /// Numbers, stores and announces a message (see [`PUBLISH_SCRIPT`]).
    pub(super) async fn publish(
        &self,
        hub: &HubConfig,
        channel: &str,
        event: &str,
        data: &str,
        seen: u64,
    ) -> Result<Published, RedisError> {
        let mut invocation = self.publish.prepare_invoke();
        invocation
            .key(self.key("last", channel))
            .key(self.key("log", channel))
            .key(self.channels_key())
            .key(self.key("base", channel))
            .arg(channel)
            .arg(event)
            .arg(data)
            .arg(hub.log_capacity)
            .arg(hub.max_channels)
            .arg(DEFAULT_CHANNEL)
            .arg(self.announcements())
            .arg(seen)
            .arg(hub.id_floor);
        let id: u64 = self
            .call(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(match id {
            0 => Published::TooManyChannels,
            id => Published::Message(Message::new(id, event, data)),
        })
    }

    /// The channel's base and its Redis log after `since` (see [`READ_SCRIPT`]).
    pub(super) async fn read(
        &self,
        channel: &str,
        since: u64,
    ) -> Result<(u64, Vec<Message>), RedisError> {
        let mut invocation = self.read.prepare_invoke();
        invocation
            .key(self.key("log", channel))
            .key(self.key("base", channel))
            .arg(since.saturating_add(1));
        let reply: Vec<String> = self
            .call(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        parse_log(&reply)
    }

    /// Every channel that ever held a message.
    pub(super) async fn channels(&self) -> Result<Vec<String>, RedisError> {
        let key = self.channels_key();
        self.call(|mut conn| async move {
            ::redis::cmd("SMEMBERS")
                .arg(key)
                .query_async::<Vec<String>>(&mut conn)
                .await
        })
        .await
    }

    /// Whether this node holds the ticker lease now (taken or renewed for `lease`).
    pub(super) async fn claim_ticker(&self, lease: Duration) -> Result<bool, RedisError> {
        let mut invocation = self.claim.prepare_invoke();
        invocation
            .key(format!("{}:ticker", self.config.prefix))
            .arg(&self.node)
            .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1));
        let held: u64 = self
            .call(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(held == 1)
    }

    /// Forgets the shared connection, so the next call opens a fresh one.
    fn reset_connection(&self) {
        *self.lock_connection() = None;
    }

    /// Runs `f` on the shared connection (opened if needed) within the timeout; a failure drops
    /// the connection so the next call reconnects.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, RedisError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = ::redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        let outcome = async_std::future::timeout(self.config.timeout, f(conn)).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                self.reset_connection();
                Err(error.into())
            }
            Err(_) => {
                self.reset_connection();
                Err(RedisError::Timeout(self.config.timeout))
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(conn) = self.lock_connection().clone() {
            return Ok(conn);
        }
        let settings = AsyncConnectionConfig::new()
            .set_connection_timeout(self.config.timeout)
            .set_response_timeout(self.config.timeout);
        let conn = async_std::future::timeout(
            self.config.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&settings),
        )
        .await
        .map_err(|_| RedisError::Timeout(self.config.timeout))??;
        *self.lock_connection() = Some(conn.clone());
        Ok(conn)
    }

    /// Opens the subscriber connection and subscribes to the announcements.
    async fn subscribe(&self) -> Result<PubSubStream, RedisError> {
        let timeout = self.config.timeout;
        let subscribed = async_std::future::timeout(timeout, async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(self.announcements()).await?;
            Ok::<_, ::redis::RedisError>(pubsub.into_on_message())
        })
        .await
        .map_err(|_| RedisError::Timeout(timeout))??;
        Ok(subscribed)
    }

    fn lock_connection(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        // A poisoned lock only means a panic elsewhere; an `Option` is always whole.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(&self, kind: &str, channel: &str) -> String {
        format!("{}:{kind}:{channel}", self.config.prefix)
    }

    fn channels_key(&self) -> String {
        format!("{}:channels", self.config.prefix)
    }

    fn announcements(&self) -> String {
        format!("{}:messages", self.config.prefix)
    }
}

/// Subscribes, then brings every channel up to date: the first step of [`Hub::with_redis`] and
/// of every reconnection. Subscribing first means nothing announced during the reading is missed
/// (it is queued on the subscription, and delivered twice is delivered once).
pub(super) async fn start(hub: &Hub, engine: &Engine) -> Result<PubSubStream, RedisError> {
    let stream = engine.subscribe().await?;
    for channel in engine.channels().await? {
        fill(hub, engine, &channel).await?;
    }
    Ok(stream)
}

/// Reads `channel`'s Redis log after the local last id and delivers it.
pub(super) async fn fill(hub: &Hub, engine: &Engine, channel: &str) -> Result<(), RedisError> {
    let since = hub.stats(channel).last;
    let (base, log) = engine.read(channel, since).await?;
    let messages: Vec<Arc<Message>> = log.into_iter().map(Arc::new).collect();
    if !messages.is_empty() {
        // A channel this node meets for the first time starts where Redis numbered it from, so
        // a client holding nothing is told of no gap, and nobody listening is cut off.
        hub.start_at(channel, base);
    }
    hub.deliver(channel, &messages, true);
    Ok(())
}

/// The node's subscriber task: delivers announcements until the hub stops or is dropped, and
/// reconnects with backoff after a connection loss.
pub(super) async fn run(hub: Weak<HubInner>, stopped: Receiver<()>, stream: PubSubStream) {
    let mut stream = Some(stream);
    let mut backoff = BACKOFF_FIRST;
    loop {
        if let Some(live) = stream.take() {
            backoff = BACKOFF_FIRST;
            if !listen(&hub, &stopped, live).await {
                return;
            }
        }
        // The connection is gone: wait, then subscribe again and fill what was missed.
        let wait = async {
            async_std::task::sleep(backoff).await;
            true
        };
        if !futures_lite::future::or(wait, async { stopped.recv().await.is_ok() }).await {
            return;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
        let Some(hub) = upgrade(&hub) else { return };
        let Some(engine) = hub.inner.redis.clone() else {
            return;
        };
        // The shared connection very likely died with this one.
        engine.reset_connection();
        match start(&hub, &engine).await {
            Ok(live) => stream = Some(live),
            Err(error) => eprintln!("longconn: Redis still unreachable, retrying: {error}"),
        }
    }
}

/// Delivers announcements until the connection drops (`true`) or the hub stops (`false`).
async fn listen(hub: &Weak<HubInner>, stopped: &Receiver<()>, mut stream: PubSubStream) -> bool {
    loop {
        let next = futures_lite::future::or(async { Some(stream.next().await) }, async {
            // `recv` only returns once the sender is closed or dropped: the hub stops.
            let _ = stopped.recv().await;
            None
        });
        let msg = match next.await {
            None => return false,
            Some(None) => {
                eprintln!("longconn: lost the Redis subscription, reconnecting");
                return true;
            }
            Some(Some(msg)) => msg,
        };
        let Some(hub) = upgrade(hub) else {
            return false;
        };
        let Some(engine) = hub.inner.redis.clone() else {
            return false;
        };
        let (channel, message) = match decode_announcement(msg.get_payload_bytes()) {
            Ok(decoded) => decoded,
            Err(error) => {
                eprintln!("longconn: ignoring an announcement: {error}");
                continue;
            }
        };
        if hub.deliver(&channel, &[Arc::new(message)], false).is_gap() {
            if let Err(error) = fill(&hub, &engine, &channel).await {
                // The next reconnection fills it; the connection is likely going down anyway.
                eprintln!("longconn: could not fill channel '{channel}' from Redis: {error}");
            }
        }
    }
}

fn upgrade(hub: &Weak<HubInner>) -> Option<Hub> {
    let inner = hub.upgrade()?;
    let hub = Hub { inner };
    (!hub.is_shutting_down()).then_some(hub)
}

/// A name for this node in the ticker lease, unique enough across processes and hubs.
fn node_id() -> String {
    static HUBS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        HUBS.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads an announcement written by [`PUBLISH_SCRIPT`]: `ID CHANNEL_LEN EVENT_LEN ` then the
/// channel, the event and the data, lengths in bytes.
pub fn decode_announcement(payload: &[u8]) -> Result<(String, Message), RedisError> {
    let bad = |why: &str| RedisError::Reply(format!("announcement {why}"));
    let mut rest = payload;
    let mut numbers = [0u64; 3];
    for n in &mut numbers {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("is cut short"))?;
        *n = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("has a bad number"))?;
        rest = &rest[space + 1..];
    }
    let [id, channel_len, event_len] = numbers;
    let channel_len = usize::try_from(channel_len).map_err(|_| bad("is too long"))?;
    let event_len = usize::try_from(event_len).map_err(|_| bad("is too long"))?;
    if rest.len() < channel_len.saturating_add(event_len) || id == 0 {
        return Err(bad("is cut short"));
    }
    let (channel, rest) = rest.split_at(channel_len);
    let (event, data) = rest.split_at(event_len);
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| bad("is not UTF-8"));
    Ok((text(channel)?, Message::new(id, text(event)?, text(data)?)))
}

/// Reads a [`READ_SCRIPT`] reply: the base, then the messages.
fn parse_log(reply: &[String]) -> Result<(u64, Vec<Message>), RedisError> {
    let Some((base, reply)) = reply.split_first() else {
        return Err(RedisError::Reply("log reply without a base".to_owned()));
    };
    let base = base
        .parse()
        .map_err(|_| RedisError::Reply(format!("'{base}' is not a base")))?;
    if !reply.len().is_multiple_of(3) {
        return Err(RedisError::Reply("log reply cut short".to_owned()));
    }
    let messages = reply
        .chunks_exact(3)
        .map(|entry| {
            let id = entry[0]
                .parse()
                .map_err(|_| RedisError::Reply(format!("'{}' is not an id", entry[0])))?;
            Ok(Message::new(id, entry[1].clone(), entry[2].clone()))
        })
        .collect::<Result<Vec<Message>, RedisError>>()?;
    Ok((base, messages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_decodes_lengths_in_bytes() {
        let (channel, message) =
            decode_announcement("7 3 6 nécustoma b\nc".as_bytes()).expect("decodes");
        assert_eq!(channel, "né");
        assert_eq!(message, Message::new(7, "custom", "a b\nc"));
        let (channel, message) = decode_announcement(b"12 7 7 defaultmessage").expect("decodes");
        assert_eq!((channel.as_str(), message.id), ("default", 12));
        assert_eq!(
            (message.event.as_str(), message.data.as_str()),
            ("message", "")
        );
    }

    #[test]
    fn announcement_refuses_what_the_script_never_writes() {
        for payload in [
            &b""[..],
            b"1 2",
            b"x 1 1 ab",
            b"1 5 1 ab",
            b"0 1 1 ab",
            b"1 99999999999999999999 1 ab",
            b"1 1 1 \xff\xfe",
        ] {
            assert!(decode_announcement(payload).is_err(), "{payload:?}");
        }
    }

    #[test]
    fn log_reply_reads_the_base_then_id_event_data_triples() {
        let reply: Vec<String> = ["7", "8", "message", "a", "9", "custom", ""]
            .map(String::from)
            .to_vec();
        let (base, log) = parse_log(&reply).expect("parses");
        assert_eq!(base, 7);
        assert_eq!(log.iter().map(|m| m.id).collect::<Vec<_>>(), vec![8, 9]);
        assert_eq!(log[1].event, "custom");
        let (base, log) = parse_log(&["0".into()]).expect("empty log");
        assert_eq!((base, log.len()), (0, 0));
        assert!(parse_log(&[]).is_err());
        assert!(parse_log(&["0".into(), "1".into(), "1".into()]).is_err());
        assert!(parse_log(&["0".into(), "x".into(), "m".into(), "d".into()]).is_err());
        assert!(parse_log(&["b".into()]).is_err());
    }
}
