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
use super::transport::{self, ConnectError, Tls, TlsTarget};
use super::vars::Vars;
use super::{capture, expect, frame, handshake, publish, read, request, send};
use crate::clock::{self, Clock, ManualClock};
use crate::hub::{Hub, RedisConfig};
use crate::server::{Config, Server};
use crate::spec::{
    Expect, Frame, FrameExpect, Handshake, HttpRequest, Payload, Publish, Spec, SseExpect, Step,
    StepKind, Until, DEFAULT_TIMEOUT,
};

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
    /// Running servers (`--target URL`, `--target NAME=URL`); `tick` is refused.
    Remote(Remote),
}

/// The servers of `--target`: one URL for every server name of a spec, and URLs for some names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    /// `--target URL`: for every server name without a URL of its own.
    pub default: Option<TargetUrl>,
    /// `--target NAME=URL`, in the order given.
    pub named: Vec<(String, TargetUrl)>,
}

impl Remote {
    /// The URL the spec's server `name` goes to.
    pub fn url(&self, name: &str) -> Option<&TargetUrl> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, url)| url)
            .or(self.default.as_ref())
    }

    /// Every URL, the default first.
    pub fn urls(&self) -> impl Iterator<Item = &TargetUrl> {
        self.default
            .iter()
            .chain(self.named.iter().map(|(_, url)| url))
    }
}

/// One `--target` URL: `http://`, `https://`, `ws://` or `wss://`, a host (a name, IPv4, or IPv6
/// in brackets), a port or the scheme's default, and an optional path prefix that every request
/// path goes below (`http://host/app` sends `GET /app/sse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    /// `https` or `wss`.
    pub tls: bool,
    /// The host as written, without brackets.
    pub host: String,
    /// The port (80 or 443 when not written).
    pub port: u16,
    /// The path prefix without its trailing `/` (empty for none).
    pub prefix: String,
}

impl TargetUrl {
    /// Reads a URL (see [`TargetUrl`]); `host:port` alone means `http://host:port`.
    pub fn parse(url: &str) -> Result<TargetUrl, TargetError> {
        let bad = |reason: &str| TargetError {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (tls, rest) = match url.split_once("://") {
            None => (false, url),
            Some(("http", rest)) | Some(("ws", rest)) => (false, rest),
            Some(("https", rest)) | Some(("wss", rest)) => (true, rest),
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "unknown scheme '{scheme}' (http, https, ws or wss)"
                )))
            }
        };
        if rest.contains(['?', '#']) {
            return Err(bad("a target has no query or fragment, only a path prefix"));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user information (user@host) is not supported"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            // RFC 3986 §3.2.2: an IPv6 literal goes in brackets.
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address needs its closing ']'"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad(&format!("'{host}' is not an IPv6 address")));
            }
            match after {
                "" => (host, None),
                port => (
                    host,
                    Some(
                        port.strip_prefix(':')
                            .ok_or_else(|| bad("expected ':PORT' after the IPv6 address"))?,
                    ),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.contains(':') && !authority.starts_with('[') {
            return Err(bad("write an IPv6 address in brackets: http://[::1]:3000"));
        }
        let port = match port {
            None => default_port,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| bad(&format!("bad port '{port}' (1-65535)")))?,
        };
        Ok(TargetUrl {
            tls,
            host: host.to_string(),
            port,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    /// `host:port` to connect to (`[::1]:3000` for IPv6).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `Host` header value (RFC 9110 §7.2): the port only when it is not the scheme's.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            }
        } else {
            self.authority()
        }
    }
}

/// A `--target` that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--target {url}: {reason}")]
pub struct TargetError {
    /// The value as given.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Target {
    /// Whether the runner starts the servers itself (with a manual clock).
    pub fn is_embedded(&self) -> bool {
        !matches!(self, Target::Remote(_))
    }

    /// Reads one `--target URL` (see [`TargetUrl`]).
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        Target::parse_all(&[url.to_string()])
    }

    /// Reads every `--target`: `URL` (at most one, for every server name) and `NAME=URL`.
    pub fn parse_all(values: &[String]) -> Result<Target, TargetError> {
        let mut remote = Remote::default();
        for value in values {
            let named = value
                .split_once('=')
                .filter(|(name, _)| !name.is_empty() && !name.contains([':', '/']));
            match named {
                Some((name, url)) => {
                    if remote.named.iter().any(|(n, _)| n == name) {
                        return Err(TargetError {
                            url: value.clone(),
                            reason: format!("server '{name}' is given twice"),
                        });
                    }
                    remote
                        .named
                        .push((name.to_string(), TargetUrl::parse(url)?));
                }
                None if remote.default.is_some() => {
                    return Err(TargetError {
                        url: value.clone(),
                        reason: "a second URL for every server: name it, --target NAME=URL".into(),
                    })
                }
                None => remote.default = Some(TargetUrl::parse(value)?),
            }
        }
        Ok(Target::Remote(remote))
    }
}

/// What a replay knows besides the spec and the target.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--var NAME=VALUE`, for `${NAME}` in the spec's strings.
    pub vars: Vec<(String, String)>,
    /// TLS settings for `https`/`wss` targets (`--cacert`, `--insecure`); `None`: the machine's
    /// roots alone.
    pub tls: Option<Tls>,
    /// Embedded servers only: tide answers every request, also those the accept loop's fast
    /// responders answer otherwise ([`Config::fast_responders`] off).
    pub without_fast_responders: bool,
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
    record_with(spec, target, &Options::default()).await
}

/// As [`record`], with `--var` values.
pub async fn record_with(spec: &Spec, target: &Target, options: &Options) -> Recording {
    let mut transcript = Transcript::new();
    let mut hidden = Vec::new();
    let result = match Session::start(spec, target, options).await {
        Ok(mut session) => {
            let result = session.run(&mut transcript).await;
            hidden = session.vars.redactions();
            session.stop().await;
            result
        }
        Err(error) => Err(error),
    };
    transcript.redact_values(&hidden);
    transcript.redact(&spec.redact);
    Recording { transcript, result }
}

/// One server a spec names: where it listens and, when embedded, its manual clock.
struct Endpoint {
    name: String,
    authority: String,
    /// `Host` for requests the runner writes itself.
    host: String,
    /// The `--target` path prefix (empty for none).
    prefix: String,
    embedded: Option<Embedded>,
    http: Option<surf::Client>,
    /// For an `https`/`wss` target: its TLS settings and host.
    tls: Option<TlsTarget>,
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
    vars: Vars,
}

impl<'a> Session<'a> {
    async fn start(
        spec: &'a Spec,
        target: &Target,
        options: &Options,
    ) -> Result<Session<'a>, RunError> {
        let mut endpoints = Vec::new();
        // `servers: [a, b]` share one hub, as nodes on one Redis do: a publish through one
        // reaches the clients of every other. On Redis, each server is a node with a hub of its
        // own, all under this replay's key prefix.
        let shared = Hub::new(config(spec, true).hub_config());
        let prefix = replay_prefix();
        for name in &spec.servers {
            let endpoint = match target {
                Target::Remote(remote) => {
                    let Some(url) = remote.url(name) else {
                        return Err(RunError::NoTargetFor {
                            path: spec.path.clone(),
                            server: name.clone(),
                        });
                    };
                    let tls = match (url.tls, &options.tls) {
                        (false, _) => None,
                        (true, Some(tls)) => Some(tls.clone()),
                        (true, None) => Some(Tls::new(None, false).map_err(RunError::Tls)?),
                    };
                    Endpoint {
                        name: name.clone(),
                        authority: url.authority(),
                        host: url.host_header(),
                        prefix: url.prefix.clone(),
                        embedded: None,
                        http: None,
                        tls: tls.map(|tls| TlsTarget {
                            tls,
                            host: url.host.clone(),
                        }),
                    }
                }
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
                    let server = match Server::start_with_hub(
                        config(spec, !options.without_fast_responders),
                        clock,
                        hub,
                    )
                    .await
                    {
                        Ok(server) => server,
                        Err(error) => {
                            stop_all(endpoints).await;
                            return Err(RunError::Server(error));
                        }
                    };
                    Endpoint {
                        name: name.clone(),
                        authority: server.addr().to_string(),
                        host: server.addr().to_string(),
                        prefix: String::new(),
                        embedded: Some(Embedded {
                            server,
                            clock: manual,
                        }),
                        http: None,
                        tls: None,
                    }
                }
            };
            endpoints.push(endpoint);
        }
        let redis = match target {
            Target::EmbeddedOnRedis(url) => Some((url.clone(), prefix)),
            _ => None,
        };
        let run = replay_id();
        let host = endpoints
            .first()
            .map(|e| e.host.clone())
            .unwrap_or_default();
        let vars = Vars::new(
            &options.vars,
            &[
                ("host", host),
                ("channel", format!("ch-{run}")),
                ("run", run),
            ],
        );
        Ok(Session {
            spec,
            endpoints,
            connections: BTreeMap::new(),
            redis,
            vars,
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
            let outcome = match self.step(step, transcript).await {
                // Every step's bytes went to the transcript: a full one ends the replay.
                Ok(()) if transcript.is_full() => Err(Stop::Step(StepFailure::TranscriptFull(
                    super::transcript::MAX_TRANSCRIPT,
                ))),
                Ok(()) => self.check_head_status(index, step).map_err(Stop::Step),
                other => other,
            };
            match outcome {
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
                self.open(&open.name, &open.server, transcript).await?;
            }
            StepKind::Close(close) => {
                let mut open = self
                    .connections
                    .remove(&close.name)
                    .ok_or_else(|| StepFailure::NoConnection(close.name.clone()))?;
                open.connection.close().await;
            }
            StepKind::Send(step) => {
                let prefix = self.prefix_of(&step.to)?;
                let bytes = match &step.payload {
                    Payload::Raw(bytes) => self.vars.expand(bytes)?,
                    Payload::Http(request) => {
                        let head = self.vars.expand(&request.head)?;
                        let head = below_prefix(&head, &prefix);
                        let body = self.vars.expand(&request.body)?;
                        HttpRequest::wire(&head, &body, request.add_length)
                    }
                };
                send::send(self.connection(&step.to)?, &bytes, step.timeout, transcript).await?;
            }
            StepKind::Read(step) => {
                if let Until::Silence(window) = step.until {
                    return self.silence(&step.from, window, transcript).await;
                }
                let deadline = Deadline::after(step.timeout);
                let until = match &step.until {
                    Until::String(needle) => Until::String(self.vars.expand(needle)?),
                    other => other.clone(),
                };
                let connection = self.connection(&step.from)?;
                read::read(connection, &until, deadline, transcript).await?;
            }
            StepKind::Handshake(step) => {
                let deadline = Deadline::after(DEFAULT_TIMEOUT);
                let prefix = self.prefix_of(&step.on)?;
                let vars = &mut self.vars;
                let step = Handshake {
                    on: step.on.clone(),
                    path: with_prefix(&prefix, &vars.expand_str(&step.path)?),
                    key: step.key.clone(),
                    protocols: step.protocols.clone(),
                    origin: step
                        .origin
                        .as_deref()
                        .map(|o| vars.expand_str(o))
                        .transpose()?,
                    headers: expand_pairs(vars, &step.headers)?,
                    version: step.version.clone(),
                    extensions: step
                        .extensions
                        .as_deref()
                        .map(|e| vars.expand_str(e))
                        .transpose()?,
                };
                let connection = self.connection(&step.on)?;
                handshake::handshake(connection, &step, deadline, transcript).await?;
            }
            StepKind::Frame(step) => {
                let step = Frame {
                    payload: self.vars.expand(&step.payload)?,
                    ..step.clone()
                };
                frame::frame(self.connection(&step.to)?, &step, transcript).await?;
            }
            StepKind::Publish(step) => {
                let vars = &mut self.vars;
                let step = Publish {
                    channel: vars.expand_str(&step.channel)?,
                    event: step
                        .event
                        .as_deref()
                        .map(|e| vars.expand_str(e))
                        .transpose()?,
                    data: vars.expand_str(&step.data)?,
                    ..step.clone()
                };
                let endpoint = self.endpoint_mut(&step.server)?;
                if endpoint.http.is_none() {
                    endpoint.http = Some(publish::client(
                        &endpoint.authority,
                        endpoint.tls.as_ref(),
                        DEFAULT_TIMEOUT,
                    )?);
                }
                let prefix = endpoint.prefix.clone();
                if let Some(client) = &endpoint.http {
                    publish::publish(client, &step, &prefix, transcript).await?;
                }
            }
            StepKind::Request(step) => {
                let deadline = Deadline::after(step.timeout);
                if !self.connections.contains_key(&step.on) {
                    self.open(&step.on, &step.server, transcript).await?;
                }
                let endpoint = self.endpoint(&step.server)?;
                let (host, prefix) = (endpoint.host.clone(), endpoint.prefix.clone());
                let vars = &mut self.vars;
                // The `Host` written here is `${host}`'s value: it shows as `<host>`, as when a
                // spec writes it, so a snapshot does not hold the embedded server's port.
                vars.expand_str("${host}")?;
                let exchange = request::Exchange {
                    method: step.method.clone(),
                    target: with_prefix(&prefix, &vars.expand_str(&step.path)?),
                    host,
                    headers: expand_pairs(vars, &step.headers)?,
                    body: step.body.as_deref().map(|b| vars.expand(b)).transpose()?,
                    status: step.status,
                };
                let connection = self.connection(&step.on)?;
                request::request(connection, &exchange, deadline, transcript).await?;
            }
            StepKind::Capture(step) => {
                let open = self
                    .connections
                    .get(&step.on)
                    .ok_or_else(|| StepFailure::NoConnection(step.on.clone()))?;
                capture::capture(&open.connection, step, &mut self.vars, transcript)?;
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
                let vars = &mut self.vars;
                let step = Expect {
                    headers: expand_pairs(vars, &step.headers)?,
                    body_contains: step
                        .body_contains
                        .as_deref()
                        .map(|b| vars.expand_str(b))
                        .transpose()?,
                    sse: match &step.sse {
                        Some(sse) => Some(SseExpect {
                            event: sse
                                .event
                                .as_deref()
                                .map(|v| vars.expand_str(v))
                                .transpose()?,
                            id: sse.id.as_deref().map(|v| vars.expand_str(v)).transpose()?,
                            data: sse
                                .data
                                .as_deref()
                                .map(|v| vars.expand_str(v))
                                .transpose()?,
                            retry: sse.retry,
                        }),
                        None => None,
                    },
                    frame: match &step.frame {
                        Some(frame) => Some(FrameExpect {
                            text: frame
                                .text
                                .as_deref()
                                .map(|v| vars.expand_str(v))
                                .transpose()?,
                            ..frame.clone()
                        }),
                        None => None,
                    },
                    ..step.clone()
                };
                expect::expect(&open.connection, &step, transcript)?;
            }
        }
        Ok(())
    }

    /// After a `handshake` or a `read until: head`: the status must be the one the spec names
    /// (RFC 9110 §15: the class decides what the answer means), as `request` and `publish` check
    /// theirs. It is named by the next `expect` on the same connection that gives a `status:`,
    /// before any other step uses that connection; otherwise a handshake takes 101 (RFC 6455
    /// §4.1: any other status fails the WebSocket connection) and a read any 1xx or 2xx.
    fn check_head_status(&self, index: usize, step: &Step) -> Result<(), StepFailure> {
        let (name, handshake) = match &step.kind {
            StepKind::Handshake(handshake) => (&handshake.on, true),
            StepKind::Read(read) if read.until == Until::Head => (&read.from, false),
            _ => return Ok(()),
        };
        let Some(actual) = self
            .connections
            .get(name)
            .and_then(|open| open.connection.head.as_ref())
            .map(|head| head.status)
        else {
            return Ok(());
        };
        let named = self.spec.steps[index + 1..]
            .iter()
            .take_while(|later| !uses_connection(&later.kind, name))
            .find_map(|later| match &later.kind {
                StepKind::Expect(expect) if &expect.on == name => expect.status,
                _ => None,
            });
        let (fits, expected) = match named {
            Some(status) => (actual == status, status.to_string()),
            None if handshake => (actual == 101, "101".to_string()),
            None => ((100..300).contains(&actual), "a 1xx or 2xx".to_string()),
        };
        if fits {
            Ok(())
        } else {
            Err(StepFailure::HeadStatus { expected, actual })
        }
    }

    /// `until: { silence: window }`. Against a running server: `window` of real time. On the
    /// embedded server: the window is the manual clock's, moved as a `tick` moves it (ticks due
    /// in it are published); every timer of this connection's server task that the move wakes
    /// has done its work once the task sleeps on the clock again (or after [`SETTLE_GUARD`] when
    /// it ends instead, which it only does after writing); then what has arrived is what the
    /// window brought. The transcript is the same either way (`silent for 2s`), so one snapshot
    /// serves both.
    async fn silence(
        &mut self,
        name: &str,
        window: Duration,
        transcript: &mut Transcript,
    ) -> Result<(), Stop> {
        let server = self
            .connections
            .get(name)
            .map(|open| open.server.clone())
            .ok_or_else(|| StepFailure::NoConnection(name.to_string()))?;
        let wait = if self.endpoint(&server)?.embedded.is_some() {
            self.settle(&server).await;
            let peer = self
                .connections
                .get(name)
                .and_then(|open| open.connection.local_addr());
            if let Some(embedded) = &self.endpoint(&server)?.embedded {
                let asleep = peer.map(|peer| (peer, embedded.clock.sleeping(peer, window)));
                embedded.server.advance(window).await;
                if let Some((peer, (all, woken))) = asleep {
                    if woken > 0 {
                        let again = embedded.clock.asleep_again(peer, all);
                        let _ = async_std::future::timeout(SETTLE_GUARD, again).await;
                    }
                }
            }
            // What is there already: a poll, not a wait.
            Duration::from_millis(1)
        } else {
            window
        };
        let connection = self.connection(name)?;
        read::silence(connection, window, wait, transcript).await?;
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

    /// Connects `name` to `server`, through a TLS handshake for an `https`/`wss` target (noted
    /// in the transcript); a refused connection is the target being unreachable, a failed
    /// handshake a failed step.
    async fn open(
        &mut self,
        name: &str,
        server: &str,
        transcript: &mut Transcript,
    ) -> Result<(), Stop> {
        let endpoint = self.endpoint(server)?;
        let authority = endpoint.authority.clone();
        let connected =
            match transport::connect(&authority, endpoint.tls.as_ref(), DEFAULT_TIMEOUT).await {
                Ok(connected) => connected,
                Err(ConnectError::Unreachable(source)) => {
                    return Err(Stop::Run(Box::new(RunError::Unreachable {
                        target: authority,
                        source,
                    })))
                }
                Err(ConnectError::Handshake(error)) => return Err(StepFailure::Tls(error).into()),
            };
        if let Some(negotiated) = &connected.negotiated {
            transcript.note(negotiated.note());
        }
        let connection = Connection::over(connected.stream);
        self.connections.insert(
            name.to_string(),
            Open {
                server: server.to_string(),
                connection,
            },
        );
        Ok(())
    }

    /// The path prefix of the server a connection goes to.
    fn prefix_of(&self, connection: &str) -> Result<String, Stop> {
        let open = self
            .connections
            .get(connection)
            .ok_or_else(|| StepFailure::NoConnection(connection.to_string()))?;
        Ok(self.endpoint(&open.server)?.prefix.clone())
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
            open.connection.close().await;
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

/// Whether `kind` reads, writes or closes connection `name` (an `expect` or `capture` only looks).
fn uses_connection(kind: &StepKind, name: &str) -> bool {
    match kind {
        StepKind::Close(close) => close.name == name,
        StepKind::Send(send) => send.to == name,
        StepKind::Read(read) => read.from == name,
        StepKind::Handshake(handshake) => handshake.on == name,
        StepKind::Frame(frame) => frame.to == name,
        StepKind::Request(request) => request.on == name,
        StepKind::Open(_)
        | StepKind::Publish(_)
        | StepKind::Tick(_)
        | StepKind::Expect(_)
        | StepKind::Capture(_) => false,
    }
}

/// `path` below the target's path prefix: `/app` + `/sse` → `/app/sse`. An absolute-form or
/// `*` target is left as written.
fn with_prefix(prefix: &str, path: &str) -> String {
    if prefix.is_empty() || !path.starts_with('/') {
        path.to_string()
    } else {
        format!("{prefix}{path}")
    }
}

/// A request head written with `send: http:` with its request-target below the path prefix.
fn below_prefix(head: &[u8], prefix: &str) -> Vec<u8> {
    if prefix.is_empty() {
        return head.to_vec();
    }
    // RFC 9112 §3: request-line = method SP request-target SP HTTP-version.
    match head.iter().position(|b| *b == b' ') {
        Some(space) if head.get(space + 1) == Some(&b'/') => {
            let mut out = head[..=space].to_vec();
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(&head[space + 1..]);
            out
        }
        _ => head.to_vec(),
    }
}

fn expand_pairs(
    vars: &mut Vars,
    pairs: &[(String, String)],
) -> Result<Vec<(String, String)>, StepFailure> {
    pairs
        .iter()
        .map(|(name, value)| Ok((vars.expand_str(name)?, vars.expand_str(value)?)))
        .collect()
}

/// A short name no other replay uses, for `${run}` and `${channel}`.
fn replay_id() -> String {
    static REPLAYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_nanos() as u64)
        .unwrap_or(0);
    let n = REPLAYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}{:x}{n}", std::process::id(), nanos & 0xff_ffff_ffff)
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
    Hub::with_redis(config(spec, true).hub_config(), redis)
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

/// The embedded server's configuration from the spec's `server:` options, with or without fast
/// responders.
fn config(spec: &Spec, fast_responders: bool) -> Config {
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
        publish_window: defaults.publish_window,
        heartbeat: options.heartbeat.unwrap_or(defaults.heartbeat),
        send_timeout: options.send_timeout.unwrap_or(defaults.send_timeout),
        publisher_jwt_key: key(&options.publisher_jwt_key),
        subscriber_jwt_key: key(&options.subscriber_jwt_key),
        private: options.private.clone(),
        hosts: options.host.clone(),
        jsonp: options.jsonp.unwrap_or(defaults.jsonp),
        fast_responders,
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
        StepKind::Request(request) => format!(
            "request on {} {} {}{}",
            request.on,
            request.method,
            request.path,
            on(&request.server)
        ),
        StepKind::Capture(capture) => format!("capture {} on {}", capture.name, capture.on),
    }
}

fn describe_until(until: &Until) -> String {
    match until {
        Until::Head => "head".to_string(),
        Until::Body => "body".to_string(),
        Until::Close => "close".to_string(),
        Until::Bytes(count) => format!("{count} bytes"),
        Until::String(needle) => quoted(needle),
        Until::Chunks(count) => format!("{count} chunks"),
        Until::SseEvents(count) => format!("{count} sse_events"),
        Until::Frames(count) => format!("{count} frames"),
        Until::Silence(window) => format!("silence for {}", format_duration(*window)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(url: &str) -> TargetUrl {
        TargetUrl::parse(url).unwrap()
    }

    #[test]
    fn target_urls_take_every_scheme_default_ports_ipv6_and_a_prefix() {
        let plain = url("http://127.0.0.1:3002/");
        assert_eq!(
            (plain.authority(), plain.prefix.as_str()),
            ("127.0.0.1:3002".into(), "")
        );
        assert_eq!(url("localhost:3001").authority(), "localhost:3001");
        let https = url("https://example.com");
        assert_eq!(
            (https.tls, https.port, https.host_header()),
            (true, 443, "example.com".into())
        );
        assert_eq!(url("ws://example.com/app/").prefix, "/app");
        assert_eq!(url("wss://h:8443/a/b").authority(), "h:8443");
        let v6 = url("http://[::1]:9000/x");
        assert_eq!(
            (v6.authority(), v6.host_header(), v6.prefix.as_str()),
            ("[::1]:9000".into(), "[::1]:9000".into(), "/x")
        );
        assert_eq!(url("http://[::1]").host_header(), "[::1]");
        for bad in [
            "ftp://h:1",
            "http://h:0",
            "http://h:99999",
            "http://::1:80",
            "http://[::1",
            "http://u@h",
            "http://h/?q",
            "http://:80",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_name_servers() {
        let Ok(Target::Remote(remote)) = Target::parse_all(&[
            "a=http://h:1".into(),
            "http://d:2/p".into(),
            "b=ws://[::1]:3".into(),
        ]) else {
            panic!("should parse");
        };
        assert_eq!(
            remote.url("a").map(TargetUrl::authority),
            Some("h:1".into())
        );
        assert_eq!(
            remote.url("b").map(TargetUrl::authority),
            Some("[::1]:3".into())
        );
        assert_eq!(
            remote.url("other").map(TargetUrl::authority),
            Some("d:2".into())
        );
        assert!(Target::parse_all(&["http://a:1".into(), "http://b:2".into()]).is_err());
        assert!(Target::parse_all(&["a=http://a:1".into(), "a=http://b:2".into()]).is_err());
    }

    #[test]
    fn paths_go_below_the_prefix() {
        assert_eq!(with_prefix("/app", "/sse?x=1"), "/app/sse?x=1");
        assert_eq!(with_prefix("", "/sse"), "/sse");
        assert_eq!(with_prefix("/app", "*"), "*");
        assert_eq!(
            below_prefix(b"GET /a HTTP/1.1\r\n\r\n", "/p"),
            b"GET /p/a HTTP/1.1\r\n\r\n"
        );
        assert_eq!(
            below_prefix(b"OPTIONS * HTTP/1.1\r\n\r\n", "/p"),
            b"OPTIONS * HTTP/1.1\r\n\r\n"
        );
    }
}
