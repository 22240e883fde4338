//! WebSocket routes (`/echo`, `/testSocket`, `/ws`): the RFC 6455 opening handshake checked before
//! the upgrade ([`handshake`]), and the protocol run over the upgraded connection, in parts on the
//! pure frame codec of [`crate::wire::websocket`] (opcodes and close codes included):
//!
//! - [`assembler`], pure: client bytes in; messages, pings, closes or the
//!   [`assembler::Violation`] that fails the connection out (§5.2–§5.6);
//! - [`outgoing`]: the bounded queue of bytes to write, and the [`outgoing::Feed`] of ready frames
//!   pulled in batches;
//! - [`closing`]: the closing handshake (§5.5.1, §7): the [`closing::Outbox`] that starts it, the
//!   answer to a client's close;
//! - [`connection`]: the I/O. A [`connection::Session`] reads the socket into its assembler,
//!   writes its queue, runs the closing timers, and wires the three together.
//!
//! # Why not tide-websockets
//!
//! tide-websockets 0.4 sits on tungstenite 0.13, which answers every client close with 1000 instead
//! of echoing the client's code, and on a protocol error drops the TCP connection without sending a
//! close frame (`WebSocketContext::do_close` in `tungstenite/src/protocol/mod.rs`), with no hook for
//! either; it also answers 101 to handshakes RFC 6455 §4.2.1 says to refuse. So the handshake is
//! checked here and answered with tide's own upgrade: a `101` response whose
//! `recv_upgrade()` receiver yields the raw connection once the exchange has written the head
//! ([`crate::server::http::exchange`]); a spawned task waits for it and then runs a
//! [`connection::Session`] on it.
//!
//! # One task per connection
//! The task the upgrade spawns runs the whole connection: its [`connection::Session`] reads, writes
//! and answers pings and closes, the route's loop handles each message, and the shutdown watcher
//! waits beside them. On `/ws` the session pulls the subscription itself ([`outgoing::Feed`]) and
//! writes each message's frame as the hub cached it ([`crate::hub::Message::websocket_frame`]):
//! one encoding per message for all subscribers, and one wake-up per delivery. No channel and no
//! second task: an idle `/ws` connection is that one task, its socket and its subscription.
//!
//! # Behaviour per route
//! - `/echo`: every text and binary message comes back as it came (Autobahn's target).
//! - `/testSocket`: the seed's echo: text `T` is answered with `服务端已收到信息,您的信息是T`.
//!   Binary messages get no answer: the seed's server (nodejs-websocket) listens to `text` only.
//! - `/ws?channel=C&since=N`: the backlog after N (none when `since` is absent), then live
//!   messages, each as one JSON text frame `{"id":N,"event":"message","data":"..."}`. If the log
//!   no longer holds all that was asked for, a first frame `{"event":"missed","from":A,"to":B}`
//!   says which ids are lost. Each text frame from the client is published to C (event
//!   `message`); a binary frame is refused with close 1003 (RFC 6455 §7.4.1). A subscriber that
//!   falls behind its queue bound is closed with 1008 (policy violation); shutdown closes with 1001;
//!   a text that cannot be published closes with 1013 (try again later) while the hub's Redis is
//!   away, 1008 past the channel bound.
//! - All three close with 1001 when the server shuts down.
//!
//! Frame bytes a client sends right behind its upgrade request, before it has read the `101`,
//! are kept: the accept loop reads request heads itself and hands the protocol what it read past
//! the head (`super::stream`; spec `hostile/websocket_frame_behind_upgrade_request_kept`).

pub mod assembler;
pub mod closing;
pub mod connection;
pub mod handshake;
pub mod outgoing;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_std::task;
use futures_lite::{FutureExt, Stream};

use self::assembler::Incoming;
use self::closing::Outbox;
use self::connection::Session;
use self::outgoing::{Feed, Push};
use super::params::{parse_id, Query};
use super::state::State;
use crate::hub::{EndReason, Next, Publisher, Subscription};
use crate::wire::websocket::{close_code, encode_frame, Frame};

/// Subprotocols the server speaks (`Sec-WebSocket-Protocol`), preferred first: none so far.
const PROTOCOLS: &[&str] = &[];

/// The seed's reply prefix on `/testSocket`.
const TEST_SOCKET_PREFIX: &str = "服务端已收到信息,您的信息是";

/// The upgraded connection every route runs on.
type Upgraded = http_types::upgrade::Connection;

/// `GET /echo`: plain echo of text and binary messages (for Autobahn).
pub async fn echo(req: tide::Request<State>) -> tide::Result {
    let shutdown = req.state().shutdown.clone();
    upgrade(req, move |upgrade, max_message_bytes| async move {
        let Some(connection) = upgrade.connection().await else {
            return;
        };
        let (mut session, outbox) = connection::open(connection, max_message_bytes);
        until_shutdown(&shutdown, &outbox, echo_messages(&mut session)).await;
    })
    .await
}

/// `GET /testSocket`: the seed's echo, text `T` answered with `服务端已收到信息,您的信息是T`.
pub async fn test_socket(req: tide::Request<State>) -> tide::Result {
    let shutdown = req.state().shutdown.clone();
    upgrade(req, move |upgrade, max_message_bytes| async move {
        let Some(connection) = upgrade.connection().await else {
            return;
        };
        let (mut session, outbox) = connection::open(connection, max_message_bytes);
        until_shutdown(&shutdown, &outbox, answer_like_the_seed(&mut session)).await;
    })
    .await
}

/// `GET /ws?channel=C&since=N`: hub messages pushed as JSON text frames; client text is published.
pub async fn hub_socket(req: tide::Request<State>) -> tide::Result {
    let (channel, since) = match ws_query(req.url()) {
        Ok(query) => query,
        Err(message) => return Ok(bad_request(message)),
    };
    let state = req.state().clone();
    let may_publish = super::access::may_publish(&req, &channel);
    // Subscribed before the 101 goes out, so a client that has read the 101 gets every message
    // published after it (the upgraded task starts later; subscribing there lost the first
    // messages under load). A rejected handshake drops the subscription with the closure.
    let subscription = state.hub.subscribe(&channel, since);
    // This connection's task drains the subscription: its own publishes must not wait for it.
    let publisher = subscription.publisher();
    let feed: Feed = Box::pin(subscription_frames(subscription));
    upgrade(req, move |upgrade, max_message_bytes| async move {
        let Some(connection) = upgrade.connection().await else {
            return;
        };
        let (mut session, outbox) =
            connection::open_with_feed(connection, max_message_bytes, Some(feed));
        let messages = hub_messages(
            &mut session,
            &outbox,
            &state,
            (&channel, may_publish.then_some(&publisher)),
        );
        until_shutdown(&state.shutdown, &outbox, messages).await;
    })
    .await
}

/// The upgraded connection, once async-h1 has written the `101` and handed it over.
struct Upgrade(http_types::upgrade::Receiver);

impl Upgrade {
    /// The connection; `None` when async-h1 did not hand it over (the client went away first).
    async fn connection(self) -> Option<Upgraded> {
        self.0.await
    }
}

/// Checks the handshake and, when it passes, answers 101 and spawns `run` with the upgrade (and
/// the message size limit) as the connection's task; otherwise answers the rejection's status.
async fn upgrade<F, Fut>(req: tide::Request<State>, run: F) -> tide::Result
where
    F: FnOnce(Upgrade, usize) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let state = req.state().clone();
    let allowed = |origin: &str, host: &str| origin_allowed(&state, origin, host);
    let accepted = match handshake::check(req.as_ref(), allowed, PROTOCOLS) {
        Ok(accepted) => accepted,
        Err(rejection) => {
            let mut res = tide::Response::new(rejection.status());
            for (name, value) in rejection.headers() {
                res.insert_header(name, value);
            }
            res.set_body(format!("{rejection}\n"));
            return Ok(res);
        }
    };
    let mut res = tide::Response::new(tide::StatusCode::SwitchingProtocols);
    for (name, value) in accepted.headers() {
        res.insert_header(name, value);
    }
    let http_res: &mut http_types::Response = res.as_mut();
    let upgraded = http_res.recv_upgrade().await;
    let max_message_bytes = state.config.max_message_bytes;
    // The route's own future is the task (not one wrapping it, which would hold the route's
    // captures twice): it waits for the connection itself.
    let session = run(Upgrade(upgraded), max_message_bytes);
    // Under a manual clock the task is marked as this client's, like the connection's own task
    // (`crate::clock::serving`): a write stalled on its send timeout counts as the client parked.
    let peer = state
        .clock
        .as_manual()
        .and(req.ext::<super::peer::Peer>())
        .and_then(|super::peer::Peer(stream)| stream.peer_addr().ok());
    match peer {
        Some(peer) => task::spawn(async move {
            crate::clock::serving(peer);
            session.await
        }),
        None => task::spawn(session),
    };
    Ok(res)
}

/// The origin rule for WebSocket upgrades: the server's shared policy (contract: same-origin or
/// listed; a request without `Origin` is served, which [`handshake::check`] decides).
fn origin_allowed(state: &State, origin: &str, host: &str) -> bool {
    super::origin::allows(&state.config.allow_origins, origin, Some(host))
}

/// Runs `session` until it ends; if the server shuts down first, closes with 1001 and lets the
/// session finish its closing handshake (in the same task: no watcher task per connection).
///
/// A plain function returning the combined future, so `session` is stored once in the task, not
/// once as an argument and again inside the combination; the rest is borrowed.
fn until_shutdown<'a, Fut>(
    shutdown: &'a super::state::Shutdown,
    outbox: &'a Outbox,
    session: Fut,
) -> impl Future<Output = ()> + 'a
where
    Fut: Future<Output = ()> + 'a,
{
    let watcher = async move {
        fired(shutdown).await;
        outbox.close(close_code::GOING_AWAY, "server shutting down");
        // The session goes on until its closing handshake is over.
        futures_lite::future::pending().await
    };
    session.or(watcher)
}

/// Resolves once `shutdown` has fired.
///
/// Polled on every wake-up of the connection's task (every delivery on `/ws`), so it reads the
/// signal's flag and registers with the signal only once per task: the signal's listener list is
/// shared by every connection, and polling a registered listener locks it. The listener keeps the
/// task's waker, so the task is woken when the signal fires.
async fn fired(shutdown: &super::state::Shutdown) {
    let wait = shutdown.wait();
    futures_lite::pin!(wait);
    let mut registered: Option<std::task::Waker> = None;
    futures_lite::future::poll_fn(|cx| {
        if shutdown.is_triggered() {
            return Poll::Ready(());
        }
        if registered
            .as_ref()
            .is_some_and(|task| task.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        registered = Some(cx.waker().clone());
        wait.as_mut().poll(cx)
    })
    .await
}

/// `/echo`: each message back as it came.
async fn echo_messages<S>(session: &mut Session<S>)
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    while let Some(message) = session.next().await {
        let _ = match message {
            Incoming::Text(text) => session.text(text).await,
            Incoming::Binary(data) => session.binary(data).await,
        };
    }
}

/// `/testSocket`: text answered with the seed's prefix; binary ignored as the seed ignores it.
async fn answer_like_the_seed<S>(session: &mut Session<S>)
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    while let Some(message) = session.next().await {
        if let Incoming::Text(text) = message {
            let _ = session.text(format!("{TEST_SOCKET_PREFIX}{text}")).await;
        }
    }
}

/// `/ws`: publishes what the client sends (the subscription is the session's [`Feed`]).
async fn hub_messages<S>(
    session: &mut Session<S>,
    outbox: &Outbox,
    state: &State,
    (channel, publisher): (&str, Option<&Publisher>),
) where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    while let Some(message) = session.next().await {
        match (message, publisher) {
            (Incoming::Text(_), None) => {
                // RFC 6455 §7.4.1: 1008, a message that violates the server's policy.
                outbox.close(close_code::POLICY, "not allowed to publish to this channel");
            }
            (Incoming::Text(text), Some(publisher)) => {
                // Boxed: the publish future (Redis engine included) is kilobytes, and inline it
                // would sit in every idle connection's task.
                let published =
                    Box::pin(state.hub.publish_from(publisher, channel, "message", text)).await;
                if let Err(error) = published {
                    let code = match error {
                        crate::hub::HubError::ShuttingDown => close_code::GOING_AWAY,
                        crate::hub::HubError::Unavailable { .. }
                        | crate::hub::HubError::Store(_) => close_code::TRY_AGAIN_LATER,
                        crate::hub::HubError::TooManyChannels { .. } => close_code::POLICY,
                    };
                    outbox.close(code, &error.to_string());
                }
            }
            (Incoming::Binary(_), _) => {
                outbox.close(close_code::UNSUPPORTED_DATA, "text frames only");
            }
        }
    }
}

/// The frames of `/ws`: a `missed` notice when the log lost some of what was asked for, the
/// backlog, then each live message, as JSON text frames; a close when the subscription ends.
fn subscription_frames(mut subscription: Subscription) -> SubscriptionFrames {
    // Allocated only when there is something to send first (a live-only subscriber has nothing).
    let mut opening = VecDeque::new();
    opening.reserve_exact(subscription.backlog.len() + usize::from(subscription.missed.is_some()));
    if let Some(missed) = subscription.missed {
        let notice = serde_json::json!({"event": "missed", "from": missed.from, "to": missed.to});
        let frame = encode_frame(&Frame::text(&notice.to_string()));
        opening.push_back(Push::Frame(frame.into()));
    }
    for message in std::mem::take(&mut subscription.backlog) {
        opening.push_back(Push::Frame(message.websocket_frame()));
    }
    SubscriptionFrames {
        opening,
        subscription: Some(subscription),
    }
}

/// See [`subscription_frames`].
struct SubscriptionFrames {
    opening: VecDeque<Push>,
    /// Dropped (leaving the channel) as soon as it ends.
    subscription: Option<Subscription>,
}

impl Stream for SubscriptionFrames {
    type Item = Push;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Push>> {
        if let Some(frame) = self.opening.pop_front() {
            if self.opening.is_empty() {
                // Sent: the room goes too.
                self.opening = VecDeque::new();
            }
            return Poll::Ready(Some(frame));
        }
        let Some(subscription) = self.subscription.as_mut() else {
            return Poll::Ready(None);
        };
        let push = match subscription.poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Next::Message(message)) => {
                return Poll::Ready(Some(Push::Frame(message.websocket_frame())))
            }
            Poll::Ready(Next::Ended(EndReason::Lagged)) => {
                Push::Close(close_code::POLICY, "subscriber fell behind")
            }
            Poll::Ready(Next::Ended(EndReason::Shutdown)) => {
                Push::Close(close_code::GOING_AWAY, "server shutting down")
            }
        };
        self.subscription = None;
        Poll::Ready(Some(push))
    }
}

/// `channel` (default `default`) and `since` (absent: live messages only) of a `/ws` URL, read
/// with the same [`Query`] rules as every other route.
fn ws_query(url: &http_types::Url) -> Result<(String, Option<u64>), &'static str> {
    let query = Query::from_url(url);
    let channel = query
        .channel()
        .map_err(|_| "invalid \"channel\" parameter")?;
    let since = match query.get("since") {
        None => None,
        Some(value) => Some(parse_id(value).ok_or("invalid \"since\" parameter")?),
    };
    Ok((channel.to_owned(), since))
}

fn bad_request(message: &str) -> tide::Response {
    let mut res = tide::Response::new(tide::StatusCode::BadRequest);
    res.set_body(format!("{message}\n"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(query: &str) -> http_types::Url {
        http_types::Url::parse(&format!("http://localhost/ws{query}")).expect("static url")
    }

    #[test]
    fn ws_query_defaults_to_channel_default_and_live_only() {
        assert_eq!(ws_query(&url("")), Ok(("default".to_string(), None)));
    }

    #[test]
    fn ws_query_reads_channel_and_since() {
        assert_eq!(
            ws_query(&url("?channel=news&since=7")),
            Ok(("news".to_string(), Some(7)))
        );
    }

    #[test]
    fn ws_query_rejects_bad_since_and_channel() {
        assert!(ws_query(&url("?since=-1")).is_err());
        assert!(ws_query(&url("?channel=a%20b")).is_err());
    }

    #[test]
    fn the_shutdown_watch_registers_once_and_wakes_when_the_signal_fires() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(count.clone());
        let cx = &mut Context::from_waker(&waker);
        let shutdown = super::super::state::Shutdown::default();
        let watch = fired(&shutdown);
        futures_lite::pin!(watch);
        // Woken for deliveries, many times: still waiting.
        for _ in 0..100 {
            assert!(watch.as_mut().poll(cx).is_pending());
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        shutdown.trigger();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the task is woken");
        assert!(watch.as_mut().poll(cx).is_ready());
    }

    #[test]
    fn message_frame_is_the_contract_json_in_one_text_frame() {
        let message = crate::hub::Message::new(3, "message", "hi \"you\"");
        let json = r#"{"id":3,"event":"message","data":"hi \"you\""}"#;
        let mut frame = vec![0x81, json.len() as u8];
        frame.extend_from_slice(json.as_bytes());
        assert_eq!(&*message.websocket_frame(), &frame[..]);
    }
}

#[cfg(test)]
mod route_tests {
    //! The routes' message loops over an in-memory socket pair, with exact frames.

    use std::sync::Arc;

    use async_std::os::unix::net::UnixStream;
    use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::hub::{Hub, HubConfig};
    use crate::server::state::Shutdown;
    use crate::server::Config;

    const MASK: [u8; 4] = [9, 8, 7, 6];

    fn client_frame(op: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | op, 0x80 | payload.len() as u8];
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        out
    }

    fn state() -> State {
        State {
            hub: Hub::new(HubConfig::default()),
            clock: crate::clock::Clock::manual(),
            config: Arc::new(Config::default()),
            shutdown: Shutdown::default(),
        }
    }

    /// Reads whole server frames until `count` have arrived.
    async fn read_frames(peer: &mut UnixStream, count: usize) -> Vec<(u8, Vec<u8>)> {
        let mut bytes = Vec::new();
        let mut frames = Vec::new();
        let mut chunk = [0u8; 1024];
        while frames.len() < count {
            while let Ok(Some((frame, used))) = crate::wire::websocket::decode_frame(&bytes) {
                frames.push((frame.opcode, frame.payload));
                bytes.drain(..used);
            }
            if frames.len() >= count {
                break;
            }
            let n = peer.read(&mut chunk).await.expect("read from the server");
            assert!(n > 0, "server closed after {frames:?}");
            bytes.extend_from_slice(&chunk[..n]);
        }
        frames
    }

    #[test]
    fn test_socket_answers_text_with_the_seed_prefix_and_ignores_binary() {
        task::block_on(async {
            let (server, mut peer) = UnixStream::pair().expect("socket pair");
            let (mut session, _outbox) = connection::open(server, 1024);
            let route = task::spawn(async move { answer_like_the_seed(&mut session).await });
            let mut input = client_frame(0x2, b"bin");
            input.extend(client_frame(0x1, "T".as_bytes()));
            input.extend(client_frame(0x8, &1000u16.to_be_bytes()));
            peer.write_all(&input).await.expect("write");
            let mut output = Vec::new();
            peer.read_to_end(&mut output).await.expect("read");
            route.await;
            let mut expected = vec![0x81, 41]; // 13 three-byte characters, `,` and `T`
            expected.extend_from_slice("服务端已收到信息,您的信息是T".as_bytes());
            expected.extend_from_slice(b"\x88\x02\x03\xe8");
            assert_eq!(output, expected);
        });
    }

    /// Reads the server's shutdown close (1001, RFC 6455 §7.4.1 "going away"), answers it with a
    /// close carrying `reply`, and returns what the server sent after that until it closed.
    async fn answer_shutdown_close(peer: &mut UnixStream, reply: &[u8]) -> Vec<u8> {
        let close = read_frames(peer, 1).await;
        assert_eq!(close, vec![(0x8, b"\x03\xe9server shutting down".to_vec())]);
        peer.write_all(&client_frame(0x8, reply))
            .await
            .expect("close reply");
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).await.expect("read");
        rest
    }

    #[test]
    fn shutdown_closes_echo_with_1001() {
        task::block_on(async {
            let (server, mut peer) = UnixStream::pair().expect("socket pair");
            let (mut session, outbox) = connection::open(server, 1024);
            let shutdown = Shutdown::default();
            let watched = shutdown.clone();
            let route = task::spawn(async move {
                until_shutdown(&watched, &outbox, echo_messages(&mut session)).await;
            });
            shutdown.trigger();
            let rest = answer_shutdown_close(&mut peer, &1001u16.to_be_bytes()).await;
            assert!(rest.is_empty());
            route.await;
        });
    }

    #[test]
    fn ws_pushes_backlog_then_live_and_publishes_client_text() {
        task::block_on(async {
            let state = state();
            state
                .hub
                .publish("news", "message", "old".into())
                .await
                .expect("publish");
            let (server, mut peer) = UnixStream::pair().expect("socket pair");
            let subscription = state.hub.subscribe("news", Some(0));
            let publisher = subscription.publisher();
            let feed = subscription_frames(subscription);
            let (mut session, outbox) =
                connection::open_with_feed(server, 1024, Some(Box::pin(feed)));
            let route_state = state.clone();
            let route = task::spawn(async move {
                let own = ("news", Some(&publisher));
                hub_messages(&mut session, &outbox, &route_state, own).await;
            });
            let backlog = read_frames(&mut peer, 1).await;
            assert_eq!(
                backlog,
                vec![(0x1, br#"{"id":1,"event":"message","data":"old"}"#.to_vec())]
            );
            peer.write_all(&client_frame(0x1, b"hi"))
                .await
                .expect("write");
            let live = read_frames(&mut peer, 1).await;
            assert_eq!(
                live,
                vec![(0x1, br#"{"id":2,"event":"message","data":"hi"}"#.to_vec())]
            );
            state.hub.shutdown();
            answer_shutdown_close(&mut peer, b"").await;
            route.await;
        });
    }

    #[test]
    fn ws_closes_with_1001_when_the_server_shuts_down_after_deliveries() {
        // Each delivery wakes the connection's task, and the shutdown watch with it: it must
        // still see the signal that comes after them.
        task::block_on(async {
            let state = state();
            let (server, mut peer) = UnixStream::pair().expect("socket pair");
            let subscription = state.hub.subscribe("news", None);
            let feed = subscription_frames(subscription);
            let (mut session, outbox) =
                connection::open_with_feed(server, 1024, Some(Box::pin(feed)));
            let route_state = state.clone();
            let route = task::spawn(async move {
                let messages = hub_messages(&mut session, &outbox, &route_state, ("news", None));
                until_shutdown(&route_state.shutdown, &outbox, messages).await;
            });
            for n in 1..=20u64 {
                let data = format!("m{n}");
                state
                    .hub
                    .publish("news", "message", data.clone())
                    .await
                    .expect("publish");
                let json = format!(r#"{{"id":{n},"event":"message","data":"{data}"}}"#);
                assert_eq!(
                    read_frames(&mut peer, 1).await,
                    vec![(0x1, json.into_bytes())]
                );
            }
            state.shutdown.trigger();
            let rest = answer_shutdown_close(&mut peer, &1001u16.to_be_bytes()).await;
            assert!(rest.is_empty());
            route.await;
        });
    }
}
