//! Replays one [`Spec`] against a [`Target`]: starts the embedded server(s) when asked, runs the
//! steps in order, and records the [`Transcript`]. The library entry point for users' own tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::connection::Connection;
use super::error::{RunError, StepFailure};
use super::read::Deadline;
use super::transcript::{format_duration, quoted, Transcript};
use super::{expect, frame, handshake, publish, read, send};
use crate::clock::{self, Clock, ManualClock};
use crate::hub::{Hub, RedisConfig};
use crate::server::{Config, Server};
use crate::spec::{Spec, Step, StepKind, Until, DEFAULT_TIMEOUT};

/// How long a `tick` waits at most (real time, a guard only) for requests still on their way to
/// park on the server before it moves the clock.
const SETTLE_GUARD: Duration = Duration::from_secs(1);

/// How long shutting an embedded server down may take before the runner moves on.
const SHUTDOWN_GUARD: Duration = Duration::from_secs(5);

/// Where a replay sends its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every replay starts its own embedded server(s) on `127.0.0.1:0` with a manual clock and
    /// the spec's `server:` options.
    Embedded,
    /// As [`Embedded`](Target::Embedded), but every server the spec names is a node of its own
    /// on the Redis at this URL (`redis://HOST:PORT[/DB]`), as `longconn serve --hub` runs them:
    /// their messages cross Redis instead of an in-process hub. Each replay keeps its keys under
    /// a prefix of its own (`longconn-run-PID-…`) and deletes them when done, so specs running at
    /// once, or one after another, never see each other's channels, ids or ticker lease.
    EmbeddedOnRedis(String),
    /// A running server at `host:port` (`--target http://host:port`); every server name of the
    /// spec means this one, and `tick` is refused.
    Remote(String),
}

/// `--target` that is not `http://host:port`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--target {0}: expected http://HOST:PORT")]
pub struct TargetError(pub String);

impl Target {
    /// Whether the runner starts the servers itself (with a manual clock).
    pub fn is_embedded(&self) -> bool {
        !matches!(self, Target::Remote(_))
    }

    /// Reads `http://host:port` (a trailing `/` is fine; `host:port` alone too).
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let authority = rest.trim_end_matches('/');
        let valid = !authority.is_empty()
            && !authority.contains('/')
            && authority
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if url.contains("://") && !url.starts_with("http://") || !valid {
            return Err(TargetError(url.to_string()));
        }
        Ok(Target::Remote(authority.to_string()))
    }
}

/// Replays `spec` against `target` and returns the transcript, redacted, or the first failure.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use longconn::runner::{replay, Target};
/// let spec = longconn::spec::load("specs/sse_first_bytes.yaml".as_ref())?;
/// let transcript = replay(&spec, &Target::Embedded).await?;
/// println!("{transcript}");
/// # Ok(()) }
/// ```
pub async fn replay(spec: &Spec, target: &Target) -> Result<Transcript, RunError> {
    let recording = record(spec, target).await;
    recording.result.map(|()| recording.transcript)
}

/// A replay's transcript (complete, or up to the failure) and how it ended.
#[derive(Debug)]
pub struct Recording {
    /// What crossed the wire, redacted.
    pub transcript: Transcript,
    /// `Ok` when every step ran.
    pub result: Result<(), RunError>,
}

/// Replays `spec` against `target`, keeping the transcript even when a step fails.
pub async fn record(spec: &Spec, target: &Target) -> Recording {
    let mut transcript = Transcript::new();
    let result = match Session::start(spec, target).await {
        Ok(mut session) => {
            let result = session.run(&mut transcript).await;
            session.stop().await;
            result
        }
        Err(error) => Err(error),
    };
    transcript.redact(&spec.redact);
    Recording { transcript, result }
}

/// One server a spec names: where it listens and, when embedded, its manual clock.
struct Endpoint {
    name: String,
    authority: String,
    embedded: Option<Embedded>,
    http: Option<surf::Client>,
}

struct Embedded {
    server: Server,
    clock: Arc<ManualClock>,
}

struct Open {
    server: String,
    connection: Connection,
}

struct Session<'a> {
    spec: &'a Spec,
    endpoints: Vec<Endpoint>,
    connections: BTreeMap<String, Open>,
    /// On Redis: its URL and this replay's key prefix, whose keys go when the replay ends.
    redis: Option<(String, String)>,
}

impl<'a> Session<'a> {
    async fn start(spec: &'a Spec, target: &Target) -> Result<Session<'a>, RunError> {
        let mut endpoints = Vec::new();
        // `servers: [a, b]` share one hub, as nodes on one Redis do: a publish through one
        // reaches the clients of every other. On Redis, each server is a node with a hub of its
        // own, all under this replay's key prefix.
        let shared = Hub::new(config(spec).hub_config());
        let prefix = replay_prefix();
        for name in &spec.servers {
            let endpoint = match target {
                Target::Remote(authority) => Endpoint {
                    name: name.clone(),
                    authority: authority.clone(),
                    embedded: None,
                    http: None,
                },
                Target::Embedded | Target::EmbeddedOnRedis(_) => {
                    let hub = match target {
                        Target::EmbeddedOnRedis(url) => {
                            match node_on_redis(spec, url, &prefix).await {
                                Ok(hub) => hub,
                                Err(error) => {
                                    stop_all(endpoints).await;
                                    return Err(error);
                                }
                            }
                        }
                        _ => shared.clone(),
                    };
                    let clock = Clock::manual();
                    let manual = match clock.as_manual() {
                        Some(manual) => manual.clone(),
                        None => unreachable_manual(),
                    };
                    let server = match Server::start_with_hub(config(spec), clock, hub).await {
                        Ok(server) => server,
                        Err(error) => {
                            stop_all(endpoints).await;
                            return Err(RunError::Server(error));
                        }
                    };
                    Endpoint {
                        name: name.clone(),
                        authority: server.addr().to_string(),
                        embedded: Some(Embedded {
                            server,
                            clock: manual,
                        }),
                        http: None,
                    }
                }
            };
            endpoints.push(endpoint);
        }
        let redis = match target {
            Target::EmbeddedOnRedis(url) => Some((url.clone(), prefix)),
            _ => None,
        };
        Ok(Session {
            spec,
            endpoints,
            connections: BTreeMap::new(),
            redis,
        })
    }

    async fn run(&mut self, transcript: &mut Transcript) -> Result<(), RunError> {
        if matches!(self.endpoints.first(), Some(e) if e.embedded.is_none()) {
            if let Some(step) = self.spec.first_tick() {
                return Err(RunError::TickWithTarget {
                    path: self.spec.path.clone(),
                    line: step.line,
                });
            }
        }
        for (index, step) in self.spec.steps.iter().enumerate() {
            let description = describe(self.spec, step);
            transcript.note(format!(
                "step {} (line {}): {description}",
                index + 1,
                step.line
            ));
            match self.step(step, transcript).await {
                Ok(()) => {}
                Err(Stop::Run(error)) => return Err(*error),
                Err(Stop::Step(failure)) => {
                    return Err(RunError::Step {
                        path: self.spec.path.clone(),
                        line: step.line,
                        step: description,
                        failure,
                    })
                }
            }
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step, transcript: &mut Transcript) -> Result<(), Stop> {
        match &step.kind {
            StepKind::Open(open) => {
                if self.connections.contains_key(&open.name) {
                    return Err(StepFailure::AlreadyOpen(open.name.clone()).into());
                }
                let authority = self.endpoint(&open.server)?.authority.clone();
                let connection = Connection::open(&authority).await.map_err(|source| {
                    Stop::Run(Box::new(RunError::Unreachable {
                        target: authority.clone(),
                        source,
                    }))
                })?;
                self.connections.insert(
                    open.name.clone(),
                    Open {
                        server: open.server.clone(),
                        connection,
                    },
                );
            }
            StepKind::Close(close) => {
                let mut open = self
                    .connections
                    .remove(&close.name)
                    .ok_or_else(|| StepFailure::NoConnection(close.name.clone()))?;
                open.connection.close();
            }
            StepKind::Send(step) => {
                send::send(self.connection(&step.to)?, step, transcript).await?;
            }
            StepKind::Read(step) => {
                let deadline = Deadline::after(step.timeout);
                let connection = self.connection(&step.from)?;
                read::read(connection, &step.until, deadline, transcript).await?;
            }
            StepKind::Handshake(step) => {
                let deadline = Deadline::after(DEFAULT_TIMEOUT);
                let connection = self.connection(&step.on)?;
                handshake::handshake(connection, step, deadline, transcript).await?;
            }
            StepKind::Frame(step) => {
                frame::frame(self.connection(&step.to)?, step, transcript).await?;
            }
            StepKind::Publish(step) => {
                let endpoint = self.endpoint_mut(&step.server)?;
                if endpoint.http.is_none() {
                    endpoint.http = Some(publish::client(&endpoint.authority, DEFAULT_TIMEOUT)?);
                }
                if let Some(client) = &endpoint.http {
                    publish::publish(client, step, transcript).await?;
                }
            }
            StepKind::Tick(tick) => {
                self.settle(&tick.server).await;
                let endpoint = self.endpoint(&tick.server)?;
                let Some(embedded) = &endpoint.embedded else {
                    return Err(Stop::Run(Box::new(RunError::TickWithTarget {
                        path: self.spec.path.clone(),
                        line: step.line,
                    })));
                };
                embedded.server.advance(tick.by).await;
                transcript.note(format!(
                    "tick {} (clock {})",
                    format_duration(tick.by),
                    clock::rfc3339(embedded.clock.now())
                ));
            }
            StepKind::Expect(step) => {
                let open = self
                    .connections
                    .get(&step.on)
                    .ok_or_else(|| StepFailure::NoConnection(step.on.clone()))?;
                expect::expect(&open.connection, step, transcript)?;
            }
        }
        Ok(())
    }

    /// Before a `tick`: waits until the server task of every request sent to `server` and not
    /// yet answered sleeps on the manual clock (a long poll on its timeout, a stream on its
    /// heartbeat, a body on its deadline), so that the tick never races the request it should
    /// time out. Each request is matched by its own connection (the clock knows which client
    /// each sleeper serves), so another connection's timers cannot stand in for it. A request
    /// that is answered without sleeping never parks: the wait then ends at [`SETTLE_GUARD`]
    /// (real time, the one place a replay waits on it).
    async fn settle(&mut self, server: &str) {
        let peers: Vec<SocketAddr> = self
            .connections
            .values()
            .filter(|open| open.server == server && open.connection.awaiting_head)
            .filter_map(|open| open.connection.local_addr())
            .collect();
        let Ok(endpoint) = self.endpoint(server) else {
            return;
        };
        let Some(embedded) = &endpoint.embedded else {
            return;
        };
        if peers.is_empty() {
            return;
        }
        let _ = async_std::future::timeout(SETTLE_GUARD, embedded.clock.parked(peers)).await;
    }

    fn endpoint(&self, name: &str) -> Result<&Endpoint, Stop> {
        self.endpoints
            .iter()
            .find(|endpoint| endpoint.name == name)
            .ok_or_else(|| StepFailure::NoServer(name.to_string()).into())
    }

    fn endpoint_mut(&mut self, name: &str) -> Result<&mut Endpoint, Stop> {
        self.endpoints
            .iter_mut()
            .find(|endpoint| endpoint.name == name)
            .ok_or_else(|| StepFailure::NoServer(name.to_string()).into())
    }

    fn connection(&mut self, name: &str) -> Result<&mut Connection, Stop> {
        let open = self
            .connections
            .get_mut(name)
            .ok_or_else(|| StepFailure::NoConnection(name.to_string()))?;
        open.connection.begin_step();
        Ok(&mut open.connection)
    }

    async fn stop(mut self) {
        for open in self.connections.values_mut() {
            open.connection.close();
        }
        self.connections.clear();
        stop_all(self.endpoints).await;
        if let Some((url, prefix)) = self.redis {
            // Best effort: keys left behind are only the spec's few messages, under a prefix
            // nothing else uses.
            let _ = async_std::future::timeout(SHUTDOWN_GUARD, forget_keys(&url, &prefix)).await;
        }
    }
}

/// A key prefix no other replay uses, on this machine or another one on the same Redis.
fn replay_prefix() -> String {
    static REPLAYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or(0);
    let n = REPLAYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("longconn-run-{}-{nanos}-{n}", std::process::id())
}

/// One server of a spec as a node on Redis, with the spec's hub options, under `prefix`.
///
/// Its ticker stays the manual one [`Server::advance`] fires: a `tick` on a server publishes
/// that server's due ticks once, through Redis, exactly as on the in-process hub (the ticker
/// lease only arbitrates tickers that run on their own, on the system clock).
async fn node_on_redis(spec: &Spec, url: &str, prefix: &str) -> Result<Hub, RunError> {
    let redis = RedisConfig {
        prefix: prefix.to_owned(),
        ..RedisConfig::new(url)
    };
    Hub::with_redis(config(spec).hub_config(), redis)
        .await
        .map_err(|error| RunError::Unreachable {
            target: url.to_owned(),
            source: std::io::Error::other(error.to_string()),
        })
}

/// Deletes every key under `prefix` (`SCAN MATCH`, never `KEYS` or `FLUSHDB`: the Redis may be
/// shared).
async fn forget_keys(url: &str, prefix: &str) -> Result<(), ::redis::RedisError> {
    let client = ::redis::Client::open(url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            ::redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut connection)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

async fn stop_all(mut endpoints: Vec<Endpoint>) {
    // The HTTP clients go first: their idle keep-alive connections would hold a graceful
    // shutdown open.
    for endpoint in &mut endpoints {
        endpoint.http = None;
    }
    for endpoint in endpoints {
        if let Some(embedded) = endpoint.embedded {
            // A server that does not stop in time is left to the process exit; the replay is done.
            let _ = async_std::future::timeout(SHUTDOWN_GUARD, embedded.server.shutdown()).await;
        }
    }
}

/// `Clock::manual()` is always manual; this keeps the code free of a panic path.
fn unreachable_manual() -> Arc<ManualClock> {
    Arc::new(ManualClock::default())
}

/// A `server:` key option as the server takes it.
fn key(option: &Option<String>) -> Option<crate::server::access::jwt::JwtKey> {
    option
        .as_ref()
        .map(|k| crate::server::access::jwt::JwtKey(k.as_bytes().to_vec()))
}

/// The embedded server's configuration from the spec's `server:` options.
fn config(spec: &Spec) -> Config {
    let options = &spec.server;
    let defaults = Config::default();
    Config {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        interval: options.interval.unwrap_or(defaults.interval),
        allow_origins: options.allow_origin.clone(),
        max_connections: options.max_connections.unwrap_or(defaults.max_connections),
        max_message_bytes: options
            .max_message_bytes
            .unwrap_or(defaults.max_message_bytes),
        log_capacity: options.log_capacity.unwrap_or(defaults.log_capacity),
        subscriber_queue: options
            .subscriber_queue
            .unwrap_or(defaults.subscriber_queue),
        heartbeat: options.heartbeat.unwrap_or(defaults.heartbeat),
        publisher_jwt_key: key(&options.publisher_jwt_key),
        subscriber_jwt_key: key(&options.subscriber_jwt_key),
        private: options.private.clone(),
        hosts: options.host.clone(),
        jsonp: options.jsonp.unwrap_or(defaults.jsonp),
    }
}

/// Why a step stopped the replay.
enum Stop {
    /// A failure inside the step: reported with the step's line.
    Step(StepFailure),
    /// A failure of the whole run (unreachable target).
    Run(Box<RunError>),
}

impl From<StepFailure> for Stop {
    fn from(failure: StepFailure) -> Stop {
        Stop::Step(failure)
    }
}

/// The step as transcripts and errors name it: `read from sse until 2 sse_events`.
pub fn describe(spec: &Spec, step: &Step) -> String {
    let on = |server: &str| {
        if spec.servers.len() > 1 {
            format!(" on {server}")
        } else {
            String::new()
        }
    };
    match &step.kind {
        StepKind::Open(open) => format!("open {}{}", open.name, on(&open.server)),
        StepKind::Close(close) => format!("close {}", close.name),
        StepKind::Send(send) => format!("send to {}", send.to),
        StepKind::Read(read) => {
            let mut text = format!(
                "read from {} until {}",
                read.from,
                describe_until(&read.until)
            );
            if read.timeout != DEFAULT_TIMEOUT {
                text.push_str(&format!(" (timeout {})", format_duration(read.timeout)));
            }
            text
        }
        StepKind::Handshake(handshake) => {
            format!("handshake on {} GET {}", handshake.on, handshake.path)
        }
        StepKind::Frame(frame) => format!("frame to {}", frame.to),
        StepKind::Publish(publish) => {
            format!("publish to {}{}", publish.channel, on(&publish.server))
        }
        StepKind::Tick(tick) => format!("tick {}{}", format_duration(tick.by), on(&tick.server)),
        StepKind::Expect(expect) => format!("expect on {}", expect.on),
    }
}

fn describe_until(until: &Until) -> String {
    match until {
        Until::Head => "head".to_string(),
        Until::Close => "close".to_string(),
        Until::Bytes(count) => format!("{count} bytes"),
        Until::String(needle) => quoted(needle),
        Until::Chunks(count) => format!("{count} chunks"),
        Until::SseEvents(count) => format!("{count} sse_events"),
        Until::Frames(count) => format!("{count} frames"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_reads_http_host_port() {
        assert_eq!(
            Target::parse("http://127.0.0.1:3002/"),
            Ok(Target::Remote("127.0.0.1:3002".into()))
        );
        assert_eq!(
            Target::parse("localhost:3001"),
            Ok(Target::Remote("localhost:3001".into()))
        );
        assert!(Target::parse("https://example.com:443").is_err());
        assert!(Target::parse("http://example.com").is_err());
        assert!(Target::parse("http://h:1/path").is_err());
    }
}
