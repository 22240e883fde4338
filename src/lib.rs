//! longconn: the long-connection techniques of the seed (short and long polling, iframe and JSONP
//! polling, the forever iframe, WebSocket, Server-Sent Events) served from one message hub, and a
//! recorded-test kit that replays YAML specs against any server and keeps byte-exact transcripts.
//!
//! Rooms, each knowing only what it must:
//! - [`wire`]: pure byte formats shared by the server that writes them and the runner that reads them.
//! - [`clock`]: the system clock for `serve`, a manual clock for specs and tests.
//! - [`hub`]: channels, the bounded resume log, subscribers with bounded queues.
//! - [`server`]: the tide app, its route table and the accept loop.
//! - [`spec`]: the YAML spec format, with positioned errors; knows nothing of sockets.
//! - [`bench`](mod@bench): the load generator behind `longconn bench`.
//! - [`record`]: a recording proxy that turns real traffic into a spec.
//! - [`runner`]: replays a [`spec::Spec`] over raw sockets and records a [`runner::Transcript`].
#![forbid(unsafe_code)]

pub mod bench;
pub mod clock;
pub mod hub;
pub mod record;
pub mod runner;
pub mod server;
pub mod spec;
pub mod store;
pub mod wire;
