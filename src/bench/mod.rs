//! `longconn bench`: a load generator aimed at any push server (ours or the Node peer): idle
//! connections held, fan-out latency, and keep-alive polling throughput.
//!
//! Each workload prints progress on stderr and ends with one JSON line of figures on stdout:
//!
//! | command | figures |
//! |---|---|
//! | `bench idle --target URL --transport ws\|sse --clients N [--hold 10s]` | `held`, `failed`, `connect_s` |
//! | `bench fanout --target URL [--target URL]... --transport ws\|sse --clients N --messages M --rate R [--channel NAME]` | `expected`, `delivered`, `lost`, `p50_ms`, `p99_ms`, `max_ms`, `deliveries_per_s` |
//! | `bench poll --target URL --connections C --duration 10s` | `requests_per_s`, `p50_ms`, `p99_ms` |
//!
//! `bench floor [--addr 127.0.0.1:0]` is no workload but a yardstick server ([`floor`]): the
//! least work a fan-out takes, for `bench fanout` to be aimed at.
//!
//! Clients are raw async-std TCP streams decoded with [`crate::wire`] (`fanout`'s subscribers,
//! once subscribed, are read by [`receiver`] threads with [`decode`]); they only ever connect to
//! loopback addresses, never open more sockets than the process may hold, and every phase has a
//! deadline, so a command always ends by itself. Exit codes: 0 figures printed, 2 refused
//! (bad arguments, too many clients), 3 target unreachable.

pub mod client;
pub mod decode;
pub mod fanout;
pub mod floor;
pub mod histogram;
pub mod idle;
pub mod load;
pub mod poll;
pub mod publish;
pub mod receiver;
pub mod target;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_std::channel::{Receiver, Sender};
use async_std::net::TcpStream;

pub use fanout::{fanout, FanoutArgs, FanoutReport};
pub use idle::{idle, IdleArgs, IdleReport};
pub use load::{LoadArgs, LoadReport};
pub use poll::{poll, PollArgs, PollReport};
pub use publish::{publish, PublishArgs, PublishReport, PublishShape};

use client::{ClientError, EventStream, Subscriber, WebSocket};
use target::Target;

/// Arguments of `longconn bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The workload.
    #[command(subcommand)]
    pub workload: Workload,
}

/// The workloads.
#[derive(Debug, clap::Subcommand)]
pub enum Workload {
    /// Hold N idle connections (WebSocket or SSE) open for a while.
    Idle(IdleArgs),
    /// Fan M timestamped messages out to N subscribers; report loss and latency.
    Fanout(FanoutArgs),
    /// Keep-alive /poll throughput over C connections.
    Poll(PollArgs),
    /// Acknowledged POST /publish throughput over C keep-alive connections.
    Publish(PublishArgs),
    /// Serve the fan-out floor: every published message written to every subscriber with one
    /// blocking write per socket, nothing else (a yardstick for `fanout`; runs until killed).
    Floor(floor::FloorArgs),
}

/// How subscribers connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// WebSocket on `/ws`.
    Ws,
    /// Server-Sent Events on `/sseStream`.
    Sse,
}

impl Transport {
    /// The route subscribers of this transport connect to.
    pub fn path(self) -> &'static str {
        match self {
            Transport::Ws => "/ws",
            Transport::Sse => "/sseStream",
        }
    }

    /// `ws` or `sse`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Sse => "sse",
        }
    }
}

/// Why a workload could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The target URL is not an `http://` loopback address.
    #[error("bad --target {0}")]
    Target(String),
    /// An argument is out of range.
    #[error("{0}")]
    Args(String),
    /// More sockets than this process may open.
    #[error(
        "{asked} connections asked, but this process may open {limit} files (the limit cannot be \
         raised here) and keeps {reserved} for itself: at most {room} connections per process; \
         run several bench processes for more",
        reserved = target::RESERVED_FILES
    )]
    TooManyConnections {
        /// Sockets the workload needs.
        asked: u64,
        /// The open-files limit.
        limit: u64,
        /// What is left for sockets.
        room: u64,
    },
    /// Not one connection could be made.
    #[error("target unreachable: {0}")]
    Unreachable(String),
    /// Subscribers connected, but no published message reached any of them: nothing to measure.
    #[error("{0}")]
    NoDelivery(String),
    /// A receiving thread (or its epoll instance) could not be made.
    #[error("cannot start a receiving thread: {0}")]
    Receiver(std::io::Error),
}

impl BenchError {
    /// The exit code for this error: 3 when the target is unreachable, 1 when it took
    /// subscribers but delivered them nothing, 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            BenchError::Unreachable(_) => 3,
            BenchError::NoDelivery(_) => 1,
            _ => 2,
        }
    }
}

/// Runs `longconn bench`; returns the exit code.
pub async fn run(args: BenchArgs) -> u8 {
    let line = match &args.workload {
        Workload::Idle(a) => idle(a).await.map(|r| serde_json::to_string(&r)),
        Workload::Fanout(a) => fanout(a).await.map(|r| serde_json::to_string(&r)),
        Workload::Poll(a) => poll(a).await.map(|r| serde_json::to_string(&r)),
        Workload::Publish(a) => publish(a).await.map(|r| serde_json::to_string(&r)),
        Workload::Floor(a) => {
            return match floor::serve(a) {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("longconn bench floor: {error}");
                    2
                }
            };
        }
    };
    match line {
        Ok(Ok(json)) => {
            println!("{json}");
            0
        }
        Ok(Err(error)) => {
            eprintln!("longconn bench: cannot write the figures: {error}");
            1
        }
        Err(error) => {
            eprintln!("longconn bench: {error}");
            error.exit_code()
        }
    }
}

/// Microseconds since the UNIX epoch: the clock both the publisher's stamp and the receiver read.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A channel name of its own for one run, so one run never sees another's messages on a server
/// that keeps a log (servers without channels ignore the parameter).
pub(crate) fn run_channel(workload: &str) -> String {
    format!("bench-{workload}-{}-{}", std::process::id(), now_micros())
}

/// Connects and opens one subscriber of `transport` on `path`.
pub(crate) async fn subscribe(
    dialer: &target::Dialer,
    target: &Target,
    transport: Transport,
    path: &str,
) -> Result<Subscriber, ClientError> {
    let stream: TcpStream = dialer.connect().await?;
    Ok(match transport {
        Transport::Ws => Subscriber::Ws(WebSocket::open(stream, target, path).await?),
        Transport::Sse => Subscriber::Sse(EventStream::open(stream, target, path).await?),
    })
}

/// [`subscribe`] under a connect permit, unless `stop` fires first (`None`): how every workload
/// opens its subscribers.
pub(crate) async fn open_subscriber(
    stop: &Stop,
    permits: &Permits,
    dialer: &target::Dialer,
    target: &Target,
    transport: Transport,
    path: &str,
) -> Option<Result<Subscriber, ClientError>> {
    unless_stopped(stop, async {
        permits.acquire().await;
        let opened = subscribe(dialer, target, transport, path).await;
        permits.release();
        opened
    })
    .await
}

/// A one-shot signal many tasks wait on: dropping or closing the sender wakes every receiver.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    sender: Sender<()>,
    receiver: Receiver<()>,
}

impl Stop {
    pub(crate) fn new() -> Stop {
        let (sender, receiver) = async_std::channel::bounded(1);
        Stop { sender, receiver }
    }

    pub(crate) fn fire(&self) {
        self.sender.close();
    }

    pub(crate) async fn wait(&self) {
        // Nothing is ever sent: `recv` returns only once the channel is closed.
        let _ = self.receiver.recv().await;
    }
}

/// At most `n` connection attempts in flight, so the servers' accept backlogs are not flooded
/// (a dropped SYN costs a 1 s retransmission and would measure the backlog, not the server).
#[derive(Debug, Clone)]
pub(crate) struct Permits {
    sender: Sender<()>,
    receiver: Receiver<()>,
}

/// Connection attempts in flight at once.
pub(crate) const CONNECTS_IN_FLIGHT: usize = 64;

impl Permits {
    pub(crate) fn new(n: usize) -> Permits {
        let (sender, receiver) = async_std::channel::bounded(n.max(1));
        for _ in 0..n.max(1) {
            let _ = sender.try_send(());
        }
        Permits { sender, receiver }
    }

    pub(crate) async fn acquire(&self) {
        let _ = self.receiver.recv().await;
    }

    pub(crate) fn release(&self) {
        let _ = self.sender.try_send(());
    }
}

/// Races `work` against `stop`; `None` when stop fired first.
pub(crate) async fn unless_stopped<T>(
    stop: &Stop,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    futures_lite::future::or(async { Some(work.await) }, async {
        stop.wait().await;
        None
    })
    .await
}

/// Seconds with millisecond precision, for the JSON figures.
pub(crate) fn seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The longest the connect phase of a workload may take, whatever the server does.
pub(crate) fn connect_phase_limit(clients: u64) -> Duration {
    Duration::from_secs(30) + Duration::from_millis(clients.saturating_mul(5))
}
