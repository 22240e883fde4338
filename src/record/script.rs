//! Turns a recording's [`Timeline`](super::timeline) into the steps of a spec. Each client
//! action (a request, frames, a close) and each tick first closes the upstream bytes received so
//! far, on every connection, into `read` steps cut by [`Segmenter`]; then the action becomes its
//! step (`open` + `send`, `frame`, `close`, `tick`). Credentials become `${NAME}` variables
//! ([`super::secrets`]) and values that flow back become captures ([`super::captures`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::captures::{Capture, Flows};
use super::secrets::{is_secret_header, is_secret_parameter, variable_name};
use super::segment::{Segmenter, Unit};
use super::timeline::{Event, Request};
use crate::wire::websocket::decode_frame;

/// One step as the writer writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `open: NAME`.
    Open(String),
    /// `close: NAME`.
    Close(String),
    /// `send: { to, http: |, body: }`: head lines (variables written as `${name}`) and body.
    SendHttp {
        /// The connection.
        to: String,
        /// Request line and header lines, LF-separated, no blank line.
        head: String,
        /// The body, when there is one.
        body: Option<String>,
    },
    /// `send: { to, raw: }`: bytes that do not read as text (already with variables).
    SendRaw {
        /// The connection.
        to: String,
        /// The bytes, `${name}` variables included.
        bytes: Vec<u8>,
    },
    /// `frame: { to, ... }`: one client WebSocket frame (written with the default mask).
    Frame {
        /// The connection.
        to: String,
        /// FIN bit.
        fin: bool,
        /// RSV bits.
        rsv: u8,
        /// The opcode.
        opcode: u8,
        /// The unmasked payload.
        payload: Vec<u8>,
    },
    /// `read: { from, until }`.
    Read {
        /// The connection.
        from: String,
        /// The condition.
        until: Unit,
    },
    /// `tick: DURATION`.
    Tick(Duration),
    /// `capture: { name, on, sse | json, redact }`.
    Capture(Capture),
}

/// What a recording becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Credentials written as `${NAME}`: the name and the recorded value (never written; the
    /// recorder's own replays use it).
    pub secrets: Vec<(String, String)>,
    /// Connection names, in the order they were opened.
    pub connections: Vec<String>,
    /// Set-Cookie headers were received (their values vary: the spec redacts them).
    pub set_cookie: bool,
}

/// How a script is built.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--keep-header NAME`: credential headers written as they were.
    pub keep_headers: Vec<String>,
    /// The upstream's path prefix (`/app`), taken off request targets: `--target URL/app` puts
    /// it back on replay.
    pub prefix: String,
    /// Write `channel=` values as `${channel}` (the first channel seen) and `${channel}-N`: a
    /// running upstream keeps every channel's ids, so each replay needs fresh channels.
    pub fresh_channels: bool,
    /// A channel written as it is even so: the embedded upstream's ticker publishes there, and
    /// a `tick` step must reach the same channel on replay.
    pub ticker_channel: Option<String>,
}

#[derive(Default)]
struct Builder {
    options: Options,
    script: Script,
    names: BTreeMap<usize, String>,
    open: BTreeSet<usize>,
    segments: BTreeMap<usize, Segmenter>,
    /// Client bytes after an upgrade, not yet a whole frame.
    frames: BTreeMap<usize, Vec<u8>>,
    upgraded: BTreeSet<usize>,
    /// The `Host` each connection's client sent (the proxy's authority, written as `${host}`).
    hosts: BTreeMap<usize, String>,
    flows: Flows,
    /// Channel names seen, in order, for [`Options::fresh_channels`].
    channels: Vec<String>,
}

/// Builds the script of a recording.
pub fn build(events: &[Event], options: &Options) -> Script {
    let mut builder = Builder {
        options: options.clone(),
        ..Builder::default()
    };
    for event in events {
        builder.event(event);
    }
    builder.flush();
    let ids: Vec<usize> = builder.open.iter().copied().collect();
    for id in ids {
        builder.close(id);
    }
    builder.finish()
}

impl Builder {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Request(id, request) => {
                self.flush();
                self.request(*id, request);
            }
            Event::ClientBytes(id, bytes) => {
                self.flush();
                self.client_bytes(*id, bytes);
            }
            Event::ClientClosed(id) => {
                self.flush();
                self.close(*id);
            }
            Event::ServerBytes(id, bytes) => {
                self.script.set_cookie |= contains_set_cookie(bytes);
                self.segments.entry(*id).or_default().received(bytes);
            }
            Event::ServerClosed(id) => self.segments.entry(*id).or_default().closed(),
            Event::Tick(by) => {
                self.flush();
                match self.script.steps.last_mut() {
                    Some(Step::Tick(total)) => *total += *by,
                    _ => self.script.steps.push(Step::Tick(*by)),
                }
            }
        }
    }

    /// Closes what every connection received so far into reads.
    fn flush(&mut self) {
        let ids: Vec<usize> = self.segments.keys().copied().collect();
        for id in ids {
            let cuts = match self.segments.get_mut(&id) {
                Some(segmenter) => segmenter.cut(),
                None => continue,
            };
            let Some(name) = self.names.get(&id).cloned() else {
                continue;
            };
            for cut in cuts {
                if !cut.recorded || !self.open.contains(&id) {
                    continue;
                }
                let index = self.script.steps.len();
                if let (Unit::SseEvents(_), Some(last)) = (&cut.unit, &cut.sse_id) {
                    self.flows.sse_id(index, &name, last);
                }
                if let Some(body) = &cut.body {
                    self.flows.body(index, &name, body);
                }
                self.flows.validators(index, &name, &cut.validators);
                self.script.steps.push(Step::Read {
                    from: name.clone(),
                    until: cut.unit,
                });
            }
        }
    }

    fn name_for(&mut self, id: usize, target: &str) -> String {
        if let Some(name) = self.names.get(&id) {
            return name.clone();
        }
        let path = target.split(['?', '#']).next().unwrap_or(target);
        let stem: String = path
            .rsplit('/')
            .find(|segment| !segment.is_empty())
            .unwrap_or("root")
            .split('.')
            .next()
            .unwrap_or("root")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        let stem = if stem.is_empty() {
            "c".to_string()
        } else {
            stem
        };
        let taken: BTreeSet<&String> = self.names.values().collect();
        let mut name = stem.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{stem}_{n}");
            n += 1;
        }
        self.names.insert(id, name.clone());
        self.script.connections.push(name.clone());
        name
    }

    fn request(&mut self, id: usize, request: &Request) {
        self.segments
            .entry(id)
            .or_default()
            .request(request.recorded);
        if !request.recorded {
            return;
        }
        let name = self.name_for(id, request.head.target());
        if self.open.insert(id) {
            self.script.steps.push(Step::Open(name.clone()));
        }
        if let Some(host) = request.head.header("host") {
            self.hosts.insert(id, host.to_string());
        }
        if request
            .head
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        {
            self.upgraded.insert(id);
        }
        let head = self.head_text(id, request);
        let textual = head.chars().all(|c| c == '\n' || !c.is_control())
            && head.lines().all(|line| line.trim_end() == line);
        let body = if request.body.is_empty() {
            Some(None)
        } else {
            std::str::from_utf8(&request.body)
                .ok()
                .map(|text| Some(literal(text)))
        };
        match (textual, body) {
            (true, Some(body)) => self.script.steps.push(Step::SendHttp {
                to: name,
                head,
                body,
            }),
            _ => {
                let mut bytes = head.replace('\n', "\r\n").into_bytes();
                bytes.extend_from_slice(b"\r\n\r\n");
                bytes.extend_from_slice(literal_bytes(&request.body).as_slice());
                self.script.steps.push(Step::SendRaw { to: name, bytes });
            }
        }
    }

    /// The request line and headers as written in the spec.
    fn head_text(&mut self, id: usize, request: &Request) -> String {
        let head = &request.head;
        let origin = self.hosts.get(&id).map(|host| format!("http://{host}"));
        let mut text = format!(
            "{} {} {}",
            head.method(),
            self.target(head.target()),
            head.version()
        );
        for (name, value) in head.headers() {
            let lower = name.to_ascii_lowercase();
            let written = if lower == "host" {
                "${host}".to_string()
            } else if lower == "referer" && value.contains('?') {
                // A page URL carries its query, credentials included: masked as a request's.
                let (page, query) = value.split_once('?').unwrap_or((value, ""));
                let page = match &origin {
                    Some(origin) => literal(page).replace(origin.as_str(), "http://${host}"),
                    None => literal(page),
                };
                format!("{page}?{}", self.query(query))
            } else if let Some(kind) = match lower.as_str() {
                "last-event-id" => Some("id"),
                "if-modified-since" => Some("last_modified"),
                "if-none-match" => Some("etag"),
                _ => None,
            } {
                match self.flows.variable_for(kind, value) {
                    Some(variable) => format!("${{{variable}}}"),
                    None => literal(value),
                }
            } else if self
                .options
                .keep_headers
                .iter()
                .any(|kept| kept.eq_ignore_ascii_case(name))
            {
                literal(value)
            } else {
                let with_tokens = self.tokens_in(value);
                if is_secret_header(name) && with_tokens == literal(value) {
                    format!("${{{}}}", self.secret(name, value))
                } else {
                    match &origin {
                        Some(origin) => with_tokens.replace(origin.as_str(), "http://${host}"),
                        None => with_tokens,
                    }
                }
            };
            text.push('\n');
            text.push_str(name);
            text.push_str(": ");
            text.push_str(&written);
        }
        text
    }

    /// The request target with credentials masked and flowing values captured.
    fn target(&mut self, target: &str) -> String {
        let prefix = self.options.prefix.clone();
        let target = match target.strip_prefix(prefix.as_str()) {
            Some(rest) if !prefix.is_empty() && rest.starts_with('/') => rest,
            _ => target,
        };
        let Some((path, query)) = target.split_once('?') else {
            return self.tokens_in(target);
        };
        let mut out = self.tokens_in(path);
        out.push('?');
        out.push_str(&self.query(query));
        out
    }

    /// A query string with credentials masked and flowing values captured.
    fn query(&mut self, query: &str) -> String {
        let mut out = String::new();
        for (index, pair) in query.split('&').enumerate() {
            if index > 0 {
                out.push('&');
            }
            let Some((name, value)) = pair.split_once('=') else {
                out.push_str(&literal(pair));
                continue;
            };
            let variable = match name {
                "since" => self.flows.variable_for("since", value),
                "lastEventId" => self.flows.variable_for("id", value),
                _ => None,
            };
            let written = match variable {
                Some(variable) => format!("${{{variable}}}"),
                None if name == "channel"
                    && self.options.fresh_channels
                    && self.options.ticker_channel.as_deref() != Some(value) =>
                {
                    self.channel(value)
                }
                None => {
                    let with_tokens = self.tokens_in(value);
                    if is_secret_parameter(name)
                        && with_tokens == literal(value)
                        && !value.is_empty()
                    {
                        format!("${{{}}}", self.secret(name, value))
                    } else {
                        with_tokens
                    }
                }
            };
            out.push_str(&literal(name));
            out.push('=');
            out.push_str(&written);
        }
        out
    }

    /// `${channel}` for the first channel name seen, `${channel}-N` for the Nth.
    fn channel(&mut self, value: &str) -> String {
        let index = match self.channels.iter().position(|c| c == value) {
            Some(index) => index,
            None => {
                self.channels.push(value.to_string());
                self.channels.len() - 1
            }
        };
        if index == 0 {
            "${channel}".to_string()
        } else {
            format!("${{channel}}-{}", index + 1)
        }
    }

    /// `text` as a literal, with every token an earlier answer handed out as `${token}`.
    fn tokens_in(&mut self, text: &str) -> String {
        let mut out = literal(text);
        for token in self.flows.tokens() {
            if out.contains(token.as_str()) {
                if let Some(variable) = self.flows.variable_for("token", &token) {
                    out = out.replace(token.as_str(), &format!("${{{variable}}}"));
                }
            }
        }
        out
    }

    /// The variable a credential is written as (one per distinct value).
    fn secret(&mut self, name: &str, value: &str) -> String {
        if let Some((variable, _)) = self.script.secrets.iter().find(|(_, v)| v == value) {
            return variable.clone();
        }
        let stem = variable_name(name);
        let mut variable = stem.clone();
        let mut n = 2;
        while self.script.secrets.iter().any(|(v, _)| *v == variable) {
            variable = format!("{stem}_{n}");
            n += 1;
        }
        self.script
            .secrets
            .push((variable.clone(), value.to_string()));
        variable
    }

    fn client_bytes(&mut self, id: usize, bytes: &[u8]) {
        if !self.open.contains(&id) {
            return;
        }
        let Some(name) = self.names.get(&id).cloned() else {
            return;
        };
        if !self.upgraded.contains(&id) {
            self.script.steps.push(Step::SendRaw {
                to: name,
                bytes: literal_bytes(bytes),
            });
            return;
        }
        let buffer = self.frames.entry(id).or_default();
        buffer.extend_from_slice(bytes);
        let mut steps = Vec::new();
        while let Ok(Some((frame, used))) = decode_frame(buffer) {
            buffer.drain(..used);
            steps.push(Step::Frame {
                to: name.clone(),
                fin: frame.fin,
                rsv: frame.rsv,
                opcode: frame.opcode,
                payload: frame.payload,
            });
        }
        self.script.steps.extend(steps);
    }

    fn close(&mut self, id: usize) {
        if self.open.remove(&id) {
            if let Some(name) = self.names.get(&id) {
                self.script.steps.push(Step::Close(name.clone()));
            }
        }
    }

    /// Puts each capture right after the read it takes its value from.
    fn finish(self) -> Script {
        let mut script = self.script;
        let mut captures: Vec<Capture> = self.flows.captures().to_vec();
        captures.sort_by_key(|capture| std::cmp::Reverse(capture.after));
        for capture in captures {
            let at = (capture.after + 1).min(script.steps.len());
            script.steps.insert(at, Step::Capture(capture));
        }
        script
    }
}

/// Text as a spec literal: `${` written `$${` so it is not read as a variable.
pub fn literal(text: &str) -> String {
    text.replace("${", "$${")
}

fn literal_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at..].starts_with(b"${") {
            out.extend_from_slice(b"$${");
            at += 2;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    out
}

fn contains_set_cookie(bytes: &[u8]) -> bool {
    bytes
        .windows(12)
        .any(|window| window.eq_ignore_ascii_case(b"\nset-cookie:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::parse_request_head;

    fn request(bytes: &[u8]) -> Request {
        Request {
            head: parse_request_head(bytes).expect("valid").expect("complete"),
            body: Vec::new(),
            recorded: true,
        }
    }

    #[test]
    fn a_reconnect_with_an_id_seen_becomes_a_capture_after_its_read() {
        let events = vec![
            Event::Request(1, request(b"GET /sseStream HTTP/1.1\r\nHost: p:1\r\n\r\n")),
            Event::ServerBytes(
                1,
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\nF\r\nid: 7\ndata: a\n\n\r\n"
                    .to_vec(),
            ),
            Event::ClientClosed(1),
            Event::Tick(Duration::from_secs(1)),
            Event::Tick(Duration::from_secs(1)),
            Event::Request(
                2,
                request(b"GET /sseStream HTTP/1.1\r\nHost: p:1\r\nLast-Event-ID: 7\r\nCookie: a=b\r\n\r\n"),
            ),
        ];
        let script = build(&events, &Options::default());
        let capture = |after| {
            Step::Capture(Capture {
                after,
                on: "sseStream".into(),
                name: "last_event_id".into(),
                source: super::super::captures::Source::SseId,
                redact: false,
            })
        };
        assert_eq!(
            script.steps,
            vec![
                Step::Open("sseStream".into()),
                Step::SendHttp {
                    to: "sseStream".into(),
                    head: "GET /sseStream HTTP/1.1\nHost: ${host}".into(),
                    body: None
                },
                Step::Read {
                    from: "sseStream".into(),
                    until: Unit::Head
                },
                Step::Read {
                    from: "sseStream".into(),
                    until: Unit::SseEvents(1)
                },
                capture(3),
                Step::Close("sseStream".into()),
                Step::Tick(Duration::from_secs(2)),
                Step::Open("sseStream_2".into()),
                Step::SendHttp {
                    to: "sseStream_2".into(),
                    head: "GET /sseStream HTTP/1.1\nHost: ${host}\nLast-Event-ID: ${last_event_id}\nCookie: ${COOKIE}".into(),
                    body: None
                },
                Step::Close("sseStream_2".into()),
            ]
        );
        assert_eq!(script.secrets, vec![("COOKIE".into(), "a=b".into())]);
    }

    #[test]
    fn client_frames_after_an_upgrade_become_frame_steps() {
        let events = vec![
            Event::Request(
                1,
                request(b"GET /echo HTTP/1.1\r\nHost: p\r\nUpgrade: websocket\r\n\r\n"),
            ),
            Event::ServerBytes(1, b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec()),
            // "hi" masked with 01 02 03 04, split across two reads.
            Event::ClientBytes(1, vec![0x81, 0x82, 1, 2]),
            Event::ClientBytes(1, vec![3, 4, b'h' ^ 1, b'i' ^ 2]),
            Event::ServerBytes(1, b"\x81\x02hi".to_vec()),
        ];
        let script = build(&events, &Options::default());
        assert_eq!(
            &script.steps[2..],
            &[
                Step::Read {
                    from: "echo".into(),
                    until: Unit::Head
                },
                Step::Frame {
                    to: "echo".into(),
                    fin: true,
                    rsv: 0,
                    opcode: 1,
                    payload: b"hi".to_vec()
                },
                Step::Read {
                    from: "echo".into(),
                    until: Unit::Frames(1)
                },
                Step::Close("echo".into()),
            ]
        );
    }
}
