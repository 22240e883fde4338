//! `longconn serve`: every technique of the seed on one tide app, fed by one [`Hub`].
//!
//! Route table (see `../shared/CONTRACT.md`): [`app`] says which route answers each URL, and
//! [`FAST_RESPONDERS`] which of them the accept loop may answer itself. Every route takes
//! `?channel=NAME`:
//!
//! | route | technique | answered by |
//! |---|---|---|
//! | `POST /publish?event=E` | publish a message | [`publish::publish`]; a plain HTTP/1.1 `POST` with a `Content-Length` body: the fast responder [`direct::publish`] |
//! | `GET /poll?since=N` | short polling | [`polling::poll`]; a plain HTTP/1.1 `GET`: the fast responder [`direct::poll`] |
//! | `GET /longpoll?since=N&timeout=S` | long polling | [`polling::longpoll`] |
//! | `GET /iframe?since=N` | iframe polling | [`polling::iframe`] |
//! | `GET /jsonp?callback=CB&since=N` | JSONP polling | [`polling::jsonp`] |
//! | `GET /iframeLongConnection?since=N` | forever iframe | [`forever::forever_iframe`] |
//! | `GET /testSocket` | WebSocket: the seed's echo | [`websocket::test_socket`] |
//! | `GET /echo` | WebSocket: plain echo | [`websocket::echo`] |
//! | `GET /ws?since=N` | WebSocket: hub push + publish | [`websocket::hub_socket`] |
//! | `GET /sseStream` | Server-Sent Events | [`sse::sse_stream`]; a plain HTTP/1.1 `GET`: the fast responder [`direct::sse_stream`] |
//! | `GET /`, `GET /compare`, `GET /demo/*` | built-in demo pages (`/compare`: all seven side by side) | [`demo`] |
//!
//! Every route also answers `OPTIONS` (CORS preflight) and a wrong method with 405 and `Allow`
//! ([`guard`](mod@guard)); an unknown path is 404. Origins: [`origin`]; tokens, private channels and
//! the `Host` allow-list: [`access`]. Connections, heads, bodies and the response encoder:
//! [`http`].

pub mod access;
#[cfg(test)]
pub mod counting_polls;
pub mod demo;
pub mod direct;
pub mod error;
pub mod forever;
pub mod guard;
pub mod http;
pub mod origin;
pub mod params;
pub mod peer;
pub mod pieces;
pub mod polling;
pub mod publish;
pub mod sse;
pub mod state;
pub mod subscription_pieces;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_std::channel::Receiver;
use async_std::net::TcpListener;
use async_std::sync::Mutex;
use async_std::task::JoinHandle;
use tide::http::Method;

use crate::clock::Clock;
use crate::hub::{Hub, HubConfig, Ticker};
use guard::guard;
use http::accept::{self, Service};
use http::connections::Connections;
use http::fast::FastResponder;
use state::{Shutdown, State};

const GET: &[Method] = &[Method::Get, Method::Head];
const GET_ONLY: &[Method] = &[Method::Get];
const POST: &[Method] = &[Method::Post];

/// The route table: every URL the server answers, and the function that answers it.
pub fn app(state: State) -> tide::Server<State> {
    let mut app = tide::with_state(state);
    app.at("/publish").all(guard(POST, publish::publish));
    // A plain GET: answered by the accept loop itself ([`FAST_RESPONDERS`]), with the same bytes.
    app.at("/poll").all(guard(GET, polling::poll));
    app.at("/longpoll").all(guard(GET, polling::longpoll));
    app.at("/iframe").all(guard(GET, polling::iframe));
    app.at("/jsonp").all(guard(GET, polling::jsonp));
    app.at("/iframeLongConnection")
        .all(guard(GET, forever::forever_iframe));
    // A plain GET: answered by the accept loop itself ([`FAST_RESPONDERS`]), with the same bytes.
    app.at("/sseStream").all(guard(GET, sse::sse_stream));
    // WebSocket upgrades are GET only (RFC 6455 §4.1).
    app.at("/testSocket")
        .all(guard(GET_ONLY, websocket::test_socket));
    app.at("/echo").all(guard(GET_ONLY, websocket::echo));
    app.at("/ws").all(guard(GET_ONLY, websocket::hub_socket));
    app.at("/").all(guard(GET, demo::index));
    app.at("/compare").all(guard(GET, demo::compare));
    app.at("/demo/*page").all(guard(GET, demo::demo));
    app
}

/// The fast responders: a plain HTTP/1.1 `GET` (no body) or `POST` (a `Content-Length` body) of
/// one of these paths (no upgrade, no `Expect`, nothing a route would refuse before the body: see
/// [`direct`]) is answered by the accept loop
/// itself, without tide, byte for byte as the route of the same path in [`app`] answers it.
/// [`Config::fast_responders`] off sends every request to tide; `tests/fast_responders.rs`
/// replays every spec both ways and requires identical transcripts.
pub const FAST_RESPONDERS: &[(&str, direct::Route)] = &[
    // Keep-alive short polling: no tide request and response per poll.
    ("/poll", direct::Route::Get(direct::poll)),
    // An idle SSE connection then holds its pieces and a small task, not a tide exchange.
    ("/sseStream", direct::Route::Get(direct::sse_stream)),
    // Acknowledged publishes: no tide request, response and body reader per publish.
    ("/publish", direct::Route::Post(direct::publish)),
];

/// Everything `serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// How often the ticker publishes the time to channel `default`.
    pub interval: Duration,
    /// Origins allowed to use the server from other pages.
    pub allow_origins: Vec<String>,
    /// Connections past this are refused with 503.
    pub max_connections: usize,
    /// Largest `/publish` body and WebSocket message.
    pub max_message_bytes: usize,
    /// Messages kept per channel.
    pub log_capacity: usize,
    /// Messages a subscriber may fall behind before it is cut off.
    pub subscriber_queue: usize,
    /// Messages a subscriber that keeps up may have queued before a publish waits for it
    /// ([`crate::hub::Pacing`]); `None`: publishes never wait.
    pub publish_window: Option<usize>,
    /// Comment heartbeat on silent SSE and forever-iframe streams.
    pub heartbeat: Duration,
    /// How long any one write to a client may wait for its socket to take bytes before the
    /// connection is cut (a client that stopped reading).
    pub send_timeout: Duration,
    /// HS256 key publishers' tokens are signed with; `None` lets anyone publish.
    pub publisher_jwt_key: Option<access::jwt::JwtKey>,
    /// HS256 key subscribers' tokens are signed with.
    pub subscriber_jwt_key: Option<access::jwt::JwtKey>,
    /// Channel patterns (`room.*`) that need a subscriber token to read.
    pub private: Vec<String>,
    /// `Host` names served besides the loopback names and the bound IP (else 421).
    pub hosts: Vec<String>,
    /// Whether `/jsonp` is served.
    pub jsonp: bool,
    /// Whether the accept loop answers plain requests of [`FAST_RESPONDERS`] itself; `false`:
    /// tide answers every request (the same bytes, more work and memory per request).
    pub fast_responders: bool,
}

impl Config {
    /// The hub limits this configuration asks for.
    pub fn hub_config(&self) -> HubConfig {
        HubConfig {
            log_capacity: self.log_capacity,
            subscriber_queue: self.subscriber_queue,
            pacing: self.publish_window.map(|window| crate::hub::Pacing {
                window,
                ..crate::hub::Pacing::default()
            }),
            ..HubConfig::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            interval: Duration::from_secs(1),
            allow_origins: Vec::new(),
            max_connections: 10_000,
            max_message_bytes: 65_536,
            log_capacity: 1000,
            subscriber_queue: 1024,
            publish_window: Some(crate::hub::Pacing::default().window),
            heartbeat: Duration::from_secs(25),
            send_timeout: Duration::from_secs(30),
            publisher_jwt_key: None,
            subscriber_jwt_key: None,
            private: Vec::new(),
            hosts: Vec::new(),
            jsonp: true,
            fast_responders: true,
        }
    }
}

/// How the ticker runs.
enum Ticking {
    /// On the system clock, in its own task.
    System(JoinHandle<()>),
    /// On a manual clock, fired by [`Server::advance`]. The ticker reads its own shadow clock,
    /// kept in step with the server's, so ticks can be published before the server's clock
    /// moves (and wakes heartbeats and long-poll timeouts).
    Manual {
        ticker: Mutex<Ticker>,
        shadow: Clock,
    },
}

impl std::fmt::Debug for Ticking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ticking::System(_) => "Ticking::System",
            Ticking::Manual { .. } => "Ticking::Manual",
        })
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: State,
    accept: JoinHandle<()>,
    ticking: Ticking,
    connections: Connections,
    /// Ends when every connection (and the accept loop) is gone.
    all_closed: Receiver<()>,
}

/// How long [`Server::shutdown`] lets busy connections finish (a WebSocket's closing handshake, an
/// upload) before it shuts their sockets. Idle keep-alive connections end at once.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

impl Server {
    /// Binds `config.addr`, starts the accept loop and the ticker on `clock`, with an in-process
    /// hub.
    pub async fn start(config: Config, clock: Clock) -> std::io::Result<Server> {
        let hub = Hub::new(config.hub_config());
        Server::start_with_hub(config, clock, hub).await
    }

    /// As [`start`](Server::start), on a hub made by the caller: one shared with other servers,
    /// or one on Redis ([`Hub::with_redis`], built from [`Config::hub_config`]).
    pub async fn start_with_hub(config: Config, clock: Clock, hub: Hub) -> std::io::Result<Server> {
        let state = State {
            hub: hub.clone(),
            clock: clock.clone(),
            config: Arc::new(config),
            shutdown: Shutdown::default(),
        };
        let listener = TcpListener::bind(state.config.addr).await?;
        let addr = listener.local_addr()?;
        let ticking = match clock.as_manual() {
            None => Ticking::System(async_std::task::spawn(
                Ticker::new(hub, clock.clone(), state.config.interval).run(),
            )),
            Some(manual) => {
                let shadow = Clock::manual();
                if let Some(s) = shadow.as_manual() {
                    s.advance(manual.now().saturating_sub(s.now()));
                }
                let ticker = Ticker::new(hub, shadow.clone(), state.config.interval);
                Ticking::Manual {
                    ticker: Mutex::new(ticker),
                    shadow,
                }
            }
        };
        let (alive, all_closed) = async_std::channel::bounded(1);
        let connections = Connections::new(alive);
        let service = Service {
            app: app(state.clone()),
            fast: state
                .config
                .fast_responders
                .then_some(direct::answer as FastResponder),
        };
        let accept = async_std::task::spawn(accept::accept_loop(
            listener,
            service,
            connections.clone(),
            state.config.max_connections,
            state.shutdown.clone(),
            state.clock.clone(),
        ));
        Ok(Server {
            addr,
            state,
            accept,
            ticking,
            connections,
            all_closed,
        })
    }

    /// The bound address (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The hub every route reads from.
    pub fn hub(&self) -> &Hub {
        &self.state.hub
    }

    /// The shared state (hub, clock, configuration, shutdown signal).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> usize {
        self.connections.open()
    }

    /// Manual clock only: publishes every tick due within `by`, then moves the clock (waking
    /// long-poll timeouts and heartbeats), so a spec's `tick` is deterministic. A no-op on the
    /// system clock.
    pub async fn advance(&self, by: Duration) {
        let Some(manual) = self.state.clock.as_manual() else {
            return;
        };
        if let Ticking::Manual { ticker, shadow } = &self.ticking {
            let mut ticker = ticker.lock().await;
            if let Some(s) = shadow.as_manual() {
                s.advance(by);
            }
            // Ticks first: a route woken by both a tick and its timer sees the tick.
            ticker.fire_due().await;
            manual.advance(by);
        } else {
            manual.advance(by);
        }
    }

    /// Stops accepting and ends every connection: idle keep-alive ones at once, streams once
    /// they have sent their last bytes (SSE and forever-iframe bodies end with the hub, WebSocket
    /// sessions close with 1001). Connections still open after [`SHUTDOWN_GRACE`] have their
    /// sockets shut down. When this returns, no connection serves the old app any more.
    pub async fn shutdown(self) {
        let Server {
            state,
            accept,
            ticking,
            connections,
            all_closed,
            ..
        } = self;
        state.shutdown.trigger();
        state.hub.shutdown();
        accept.await;
        if let Ticking::System(task) = ticking {
            // The ticker stops on its own once the hub is shutting down; don't wait a tick for it.
            task.cancel().await;
        }
        let sockets = connections.sockets();
        drop(connections);
        let closed = async {
            let _ = all_closed.recv().await;
            Ok(())
        };
        if async_std::io::timeout(SHUTDOWN_GRACE, closed)
            .await
            .is_err()
        {
            sockets.shut_all();
            let _ = async_std::io::timeout(SHUTDOWN_GRACE, async {
                let _ = all_closed.recv().await;
                Ok(())
            })
            .await;
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() -> std::io::Result<()> {
    use futures_lite::StreamExt;
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook_async_std::Signals::new([SIGINT, SIGTERM])?;
    let _ = signals.next().await;
    signals.handle().close();
    Ok(())
}
