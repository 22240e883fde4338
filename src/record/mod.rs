//! `longconn record`: a reverse proxy that turns real traffic into a replayable spec. A browser
//! (or any client) talks to the proxy; every byte goes on to the upstream (by default a fresh
//! embedded server on a manual clock the recorder moves, so ids and ticker messages line up on
//! replay); on stop, the traffic becomes a spec whose reads follow the upstream's own framing,
//! which is kept only if it replays the same twice.
//!
//! Rooms: [`proxy`] (the sockets) and [`upstream`] (the one way out), [`timeline`] (what crossed,
//! in order), [`segment`] (upstream bytes cut into read units), [`filter`] (paths kept),
//! [`live`] (what a running serve varies), [`varying`] (clock-derived values an upstream sent),
//! [`secrets`] (what is never written), [`captures`] (values that flow back), [`script`]
//! (timeline to steps), [`write`] (steps to YAML), [`stable`] (replay twice), [`cli`].

pub mod captures;
pub mod cli;
pub mod filter;
pub mod live;
pub mod proxy;
pub mod script;
pub mod secrets;
pub mod segment;
pub mod stable;
pub mod timeline;
pub mod upstream;
pub mod varying;
pub mod write;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::Clock;
use crate::runner::transport::{ConnectError, HandshakeError, Tls, TlsSetupError};
use crate::runner::{snapshot, RunError, Target, TargetUrl};
use crate::server::{Config, Server};

pub use filter::Filters;
use upstream::Upstream;

/// What to record and where to write it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the proxy listens (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The upstream; `None` for a fresh embedded server.
    pub upstream: Option<TargetUrl>,
    /// The spec to write (`specs/NAME.yaml`).
    pub out: PathBuf,
    /// Which requests are kept.
    pub filters: Filters,
    /// Credential headers written as they are.
    pub keep_headers: Vec<String>,
    /// Write JWT-shaped values instead of refusing.
    pub allow_secrets: bool,
    /// TLS settings for an `https`/`wss` upstream, for the proxy and for the replays
    /// (`--cacert`, `--insecure`); `None`: the machine's roots alone.
    pub tls: Option<Tls>,
}

/// Why a recording wrote no spec.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The proxy could not listen, or the embedded upstream could not start.
    #[error("cannot start: {0}")]
    Start(#[source] std::io::Error),
    /// The upstream refused a first connection.
    #[error("upstream {target} could not be reached: {source}")]
    Unreachable {
        /// `host:port`.
        target: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The TLS settings could not be made (`--cacert` unreadable, no roots).
    #[error("{0}")]
    Tls(#[from] TlsSetupError),
    /// The upstream's TLS handshake failed (its certificate is not trusted, ...).
    #[error("upstream: {0}")]
    Handshake(#[from] HandshakeError),
    /// Something shaped like a JWT would have been written.
    #[error("{path}:{line}: a value shaped like a JWT ({token}) would be written; nothing was written (mask it, or give --allow-secrets)")]
    Secret {
        /// The file that would have held it.
        path: String,
        /// Its line there.
        line: usize,
        /// The token, cut short.
        token: String,
    },
    /// The recording passed its bound.
    #[error("the recording passed {0} bytes; nothing was written (record a shorter session, or --exclude large responses)")]
    TooLarge(usize),
    /// The written spec does not read back (a recorder bug, reported as such).
    #[error("the recorded spec does not read back: {0}")]
    Unreadable(String),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// What a stopped recording wrote.
#[derive(Debug)]
pub enum Outcome {
    /// The spec replayed the same twice: it is written, with its snapshot as `.snap.new`.
    Written {
        /// The spec.
        spec: PathBuf,
        /// The pending snapshot.
        snapshot: PathBuf,
    },
    /// It did not: a draft says why.
    Draft {
        /// The `.draft.yaml` file.
        path: PathBuf,
        /// One line on why.
        reason: String,
        /// The replay could not reach the upstream.
        unreachable: bool,
    },
}

/// A running recording.
pub struct Recorder {
    settings: Settings,
    proxy: proxy::Proxy,
    embedded: Option<Server>,
    interval: Duration,
    timeline: timeline::Timeline,
}

impl Recorder {
    /// Starts the upstream (when embedded) and the proxy.
    pub async fn start(settings: Settings) -> Result<Recorder, RecordError> {
        let (upstream, embedded, interval) = match &settings.upstream {
            Some(url) => {
                let upstream = Upstream::new(url.clone(), settings.tls.clone())?;
                match upstream.connect().await {
                    Ok(mut first) => first.stream.close().await,
                    Err(ConnectError::Unreachable(source)) => {
                        return Err(RecordError::Unreachable {
                            target: url.authority(),
                            source,
                        })
                    }
                    Err(ConnectError::Handshake(error)) => return Err(error.into()),
                }
                (upstream, None, Duration::ZERO)
            }
            None => {
                let config = Config {
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    ..Config::default()
                };
                let interval = config.interval;
                let server = Server::start(config, Clock::manual())
                    .await
                    .map_err(RecordError::Start)?;
                let url = TargetUrl::parse(&server.addr().to_string())
                    .map_err(|e| RecordError::Start(std::io::Error::other(e.to_string())))?;
                (Upstream::new(url, None)?, Some(server), interval)
            }
        };
        let timeline = timeline::Timeline::default();
        let proxy = proxy::Proxy::start(
            settings.listen,
            upstream,
            settings.filters.clone(),
            timeline.clone(),
        )
        .await
        .map_err(RecordError::Start)?;
        Ok(Recorder {
            settings,
            proxy,
            embedded,
            interval,
            timeline,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr()
    }

    /// The embedded upstream's ticker interval (`None` with `--upstream`).
    pub fn interval(&self) -> Option<Duration> {
        self.embedded.as_ref().map(|_| self.interval)
    }

    /// Cuts every proxied connection whose latest request went to `path`, as a dropped network
    /// would (a browser's EventSource then reconnects with `Last-Event-ID`); how many.
    pub fn cut(&self, path: &str) -> usize {
        self.proxy.cut(path)
    }

    /// Moves the embedded upstream's clock by one interval (the ticker publishes) and records
    /// it as a `tick`. Nothing with `--upstream`.
    pub async fn tick(&self) {
        if let Some(server) = &self.embedded {
            self.timeline.push(timeline::Event::Tick(self.interval));
            server.advance(self.interval).await;
        }
    }

    /// Stops the proxy, writes the spec (or its draft) and says which.
    pub async fn stop(self) -> Result<Outcome, RecordError> {
        let (events, overflow) = self.timeline.snapshot();
        self.proxy.stop().await;
        if let Some(server) = self.embedded {
            server.shutdown().await;
        }
        if overflow {
            return Err(RecordError::TooLarge(timeline::MAX_RECORDED_BYTES));
        }
        let settings = self.settings;
        let script = script::build(
            &events,
            &script::Options {
                keep_headers: settings.keep_headers.clone(),
                prefix: settings
                    .upstream
                    .as_ref()
                    .map(|url| url.prefix.clone())
                    .unwrap_or_default(),
                // Fresh channels on every upstream: the spec then also replays against a
                // running `longconn serve` (with the target redactions of [`live`]).
                fresh_channels: true,
                ticker_channel: settings
                    .upstream
                    .is_none()
                    .then(|| crate::hub::DEFAULT_CHANNEL.to_string()),
            },
        );
        let mut header = header(&settings, &script);
        if settings.upstream.is_some() {
            let sent = upstream_bytes(&events);
            header
                .redact
                .extend(varying::redactions(sent.iter().map(Vec::as_slice)));
        }
        let label = settings.out.display().to_string();
        let target = match &settings.upstream {
            None => Target::Embedded,
            Some(url) => Target::Remote(crate::runner::Remote {
                default: Some(url.clone()),
                named: Vec::new(),
            }),
        };
        let mut verdict = check(&settings, &label, &header, &script, &target).await?;
        // What still varied between the two replays is redacted as suggested, and the spec is
        // checked again (two more replays): kept only if those agree too.
        if let stable::Verdict::Differs { lines, suggested } = &verdict {
            if !suggested.is_empty() {
                let mut redacted = header.clone();
                redacted.redact.extend(suggested.iter().cloned());
                let names: Vec<&str> = suggested.iter().map(|(_, name)| name.as_str()).collect();
                redacted.comments.push(format!(
                    "redact: {} added by the recorder: two replays differed there ({} transcript \
                     lines), and two more agreed with them redacted.",
                    names.join(", "),
                    lines.len()
                ));
                if let again @ stable::Verdict::Stable(_) =
                    check(&settings, &label, &redacted, &script, &target).await?
                {
                    header = redacted;
                    verdict = again;
                }
            }
        }
        let text = write::spec_text(&header, &script);
        match verdict {
            stable::Verdict::Stable(transcript) => {
                let contents = transcript.to_string();
                let location = snapshot::locate(&settings.out);
                let pending = location.pending();
                refuse_jwt(&settings, &pending.display().to_string(), &contents)?;
                write_file(&settings.out, &text)?;
                snapshot::write(&pending, &location, &contents).map_err(|source| {
                    RecordError::Io {
                        path: pending.display().to_string(),
                        source,
                    }
                })?;
                Ok(Outcome::Written {
                    spec: settings.out,
                    snapshot: pending,
                })
            }
            stable::Verdict::Differs { lines, suggested } => {
                let mut comments = vec![
                    "longconn record: two replays of this recording did not agree, so it is a draft."
                        .to_string(),
                    "Lines that differed (first replay, then second):".to_string(),
                ];
                for (line, first, second) in &lines {
                    comments.push(format!("  transcript line {line}:"));
                    comments.push(format!("    - {first}"));
                    comments.push(format!("    + {second}"));
                }
                comments.push(
                    "The redact: entries below are suggested for what varied; check them, then \
                     rename this file to .yaml."
                        .to_string(),
                );
                let mut header = header;
                comments.append(&mut header.comments);
                header.comments = comments;
                header.redact.extend(suggested);
                let reason = format!(
                    "{} transcript lines differed between two replays",
                    lines.len()
                );
                write_draft(&settings, &header, &script, reason, false)
            }
            stable::Verdict::Failed(error) => {
                let unreachable = error.is_unreachable();
                let mut header = header;
                let mut comments = vec![
                    "longconn record: replaying this recording failed, so it is a draft:"
                        .to_string(),
                    format!("  {}", error_line(&error)),
                ];
                comments.append(&mut header.comments);
                header.comments = comments;
                write_draft(&settings, &header, &script, error_line(&error), unreachable)
            }
        }
    }
}

/// Writes the spec of `header` and `script` (refusing a JWT-shaped value), reads it back and
/// replays it twice against `target`.
async fn check(
    settings: &Settings,
    label: &str,
    header: &write::Header,
    script: &script::Script,
    target: &Target,
) -> Result<stable::Verdict, RecordError> {
    let text = write::spec_text(header, script);
    refuse_jwt(settings, label, &text)?;
    let spec = crate::spec::parse(label, &text)
        .map_err(|error| RecordError::Unreadable(error.to_string()))?;
    Ok(stable::check(&spec, target, &script.secrets, settings.tls.clone()).await)
}

/// What the upstream sent, one buffer per connection that carried a recorded request.
fn upstream_bytes(events: &[timeline::Event]) -> Vec<Vec<u8>> {
    let mut sent: std::collections::BTreeMap<usize, Vec<u8>> = Default::default();
    let mut recorded = std::collections::BTreeSet::new();
    for event in events {
        match event {
            timeline::Event::Request(id, request) if request.recorded => {
                recorded.insert(*id);
            }
            timeline::Event::ServerBytes(id, bytes) => {
                sent.entry(*id).or_default().extend_from_slice(bytes)
            }
            _ => {}
        }
    }
    sent.into_iter()
        .filter(|(id, _)| recorded.contains(id))
        .map(|(_, bytes)| bytes)
        .collect()
}

fn error_line(error: &RunError) -> String {
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The top of the spec: what was recorded, which credentials are variables, what is redacted.
fn header(settings: &Settings, script: &script::Script) -> write::Header {
    let upstream = match &settings.upstream {
        None => "the embedded server".to_string(),
        Some(url) => format!(
            "{}://{}{}",
            if url.tls { "https" } else { "http" },
            url.authority(),
            url.prefix
        ),
    };
    let connections = if script.connections.is_empty() {
        "no connection".to_string()
    } else {
        script.connections.join(", ")
    };
    let mut comments = Vec::new();
    if settings.upstream.is_some() {
        comments.push(format!(
            "Replay against the recorded server: longconn run {} --target {upstream}{}",
            settings.out.display(),
            match &settings.tls {
                Some(tls) if tls.insecure() => " --insecure",
                Some(_) => " (--cacert FILE, as given to record, when its CA is not the machine's)",
                None => "",
            }
        ));
    }
    for (variable, _) in &script.secrets {
        comments.push(format!(
            "${{{variable}}} stands for a credential that was not written: give --var {variable}=VALUE or set {variable} in the environment"
        ));
    }
    let mut redact = Vec::new();
    if script.set_cookie {
        redact.push((
            r"(?i)set-cookie: ([^;\\]*)".to_string(),
            "cookie".to_string(),
        ));
    }
    let target_redact = match settings.upstream {
        None => live::target_redactions(),
        Some(_) => Vec::new(),
    };
    write::Header {
        description: format!("recorded by longconn record from {upstream}: {connections}"),
        comments,
        redact,
        target_redact,
    }
}

fn refuse_jwt(settings: &Settings, path: &str, text: &str) -> Result<(), RecordError> {
    if settings.allow_secrets {
        return Ok(());
    }
    match secrets::find_jwt(text) {
        Some((line, token)) => Err(RecordError::Secret {
            path: path.to_string(),
            line,
            token,
        }),
        None => Ok(()),
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

/// `specs/NAME.yaml` → `specs/NAME.draft.yaml`.
pub fn draft_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recorded".into());
    out.with_file_name(format!("{stem}.draft.yaml"))
}

fn write_draft(
    settings: &Settings,
    header: &write::Header,
    script: &script::Script,
    reason: String,
    unreachable: bool,
) -> Result<Outcome, RecordError> {
    let path = draft_path(&settings.out);
    let text = write::spec_text(header, script);
    refuse_jwt(settings, &path.display().to_string(), &text)?;
    write_file(&path, &text)?;
    Ok(Outcome::Draft {
        path,
        reason,
        unreachable,
    })
}
