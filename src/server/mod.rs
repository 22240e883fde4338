//! `longconn serve`: every technique of the seed on one tide app, fed by one [`Hub`].
//!
//! Route table (see `../shared/CONTRACT.md`); every route takes `?channel=NAME`:
//!
//! | route | technique |
//! |---|---|
//! | `POST /publish?event=E` | publish a message |
//! | `GET /poll?since=N` | short polling |
//! | `GET /longpoll?since=N&timeout=S` | long polling |
//! | `GET /iframe?since=N` | iframe polling |
//! | `GET /jsonp?callback=CB&since=N` | JSONP polling |
//! | `GET /iframeLongConnection?since=N` | forever iframe |
//! | `GET /testSocket` | WebSocket: the seed's echo |
//! | `GET /echo` | WebSocket: plain echo |
//! | `GET /ws?since=N` | WebSocket: hub push + publish |
//! | `GET /sseStream` | Server-Sent Events |
//! | `GET /`, `GET /demo/*` | built-in demo pages |

pub mod state;
pub mod websocket;

use std::net::SocketAddr;
use std::time::Duration;

use crate::clock::Clock;
use crate::hub::Hub;

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
    /// Comment heartbeat on silent SSE and forever-iframe streams.
    pub heartbeat: Duration,
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
            heartbeat: Duration::from_secs(25),
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    _private: (),
}

impl Server {
    /// Binds `config.addr`, starts the accept loop and the ticker on `clock`.
    pub async fn start(config: Config, clock: Clock) -> std::io::Result<Server> {
        let _ = (config, clock);
        todo!()
    }

    /// The bound address (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        todo!()
    }

    /// The hub every route reads from.
    pub fn hub(&self) -> &Hub {
        todo!()
    }

    /// Manual clock only: publishes every tick due within `by`, then moves the clock (waking
    /// long-poll timeouts and heartbeats), so a spec's `tick` is deterministic.
    pub async fn advance(&self, by: Duration) {
        let _ = by;
        todo!()
    }

    /// Stops accepting, ends open streams (WebSocket close 1001), and returns when done.
    pub async fn shutdown(self) {
        todo!()
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() -> std::io::Result<()> {
    todo!("server::wait_for_signal")
}
