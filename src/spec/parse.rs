//! From text to [`Spec`]: serde_yaml reads the shape (its errors rewritten into the friendly
//! form), then each step is checked against what came before it (connection names, servers) and
//! its strings are decoded (escapes, regexes), every error pointing at the line it is about.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;

use regex::Regex;

use super::error::{suggestion, Diagnostic, SpecError};
use super::escape;
use super::locate::{Layout, Position};
use super::model::*;
use super::raw::*;

/// Parses spec text; see [`crate::spec::parse`].
pub(super) fn parse(path: &str, source: &str) -> Result<Spec, SpecError> {
    check_size(path, source)?;
    let raw: RawSpec = serde_yaml::from_str(source).map_err(|e| from_serde(path, source, &e))?;
    let layout = Layout::new(source);
    Resolver {
        path,
        source,
        layout: &layout,
        servers: Vec::new(),
        open: HashMap::new(),
        opened: HashMap::new(),
        last_used: None,
        generated: Cell::new(0),
    }
    .resolve(raw)
}

/// Refuses a spec over [`MAX_SPEC_BYTES`] or with more than [`MAX_ALIASES`] aliases, before
/// YAML reads it: aliases repeat a node wherever they stand, so a small text could expand to
/// gigabytes (serde_yaml's own guard allows a hundred alias jumps per event). Counted from the
/// text, each `*` that starts a word: every alias does, and so may a `*` in prose, which only
/// makes the count larger.
fn check_size(path: &str, source: &str) -> Result<(), SpecError> {
    if source.len() > MAX_SPEC_BYTES {
        return Err(SpecError::Syntax(Diagnostic::new(
            path,
            source,
            1,
            1,
            format!(
                "the spec is {} bytes, over the {MAX_SPEC_BYTES} a spec may have (write large \
                 data as a generated payload: {{ repeat: TEXT, times: N }} or {{ file: PATH }})",
                source.len()
            ),
        )));
    }
    let mut aliases = 0;
    for (number, line) in source.lines().enumerate() {
        let mut previous = ' ';
        let mut chars = line.chars().enumerate().peekable();
        while let Some((column, c)) = chars.next() {
            // YAML 1.2 §6.9.2 / §7.1: an alias is `*` then an anchor name (no space, no flow
            // indicator) where a node starts.
            let starts_word = previous.is_whitespace() || matches!(previous, '[' | '{' | ',' | ':');
            let names = chars
                .peek()
                .is_some_and(|(_, next)| !next.is_whitespace() && !"[]{},".contains(*next));
            if c == '*' && starts_word && names {
                aliases += 1;
                if aliases > MAX_ALIASES {
                    return Err(SpecError::Syntax(Diagnostic::new(
                        path,
                        source,
                        number + 1,
                        column + 1,
                        format!(
                            "more than {MAX_ALIASES} YAML aliases: a spec may repeat a node \
                             (`*name`) at most {MAX_ALIASES} times, so that it cannot expand \
                             without bound (a `*` starting a word counts, in text too); write \
                             large data as a generated payload: {{ repeat: TEXT, times: N }}"
                        ),
                    )));
                }
            }
            previous = c;
        }
    }
    Ok(())
}

/// Turns a serde_yaml error into `path:line:col: message` with the message rewritten.
fn from_serde(path: &str, source: &str, error: &serde_yaml::Error) -> SpecError {
    let (mut line, mut column) = error
        .location()
        .map_or((1, 1), |at| (at.line(), at.column()));
    let text = error.to_string();
    // The YAML scanner writes `PROBLEM at line L column C, while CONTEXT at line L2 column C2`.
    let scanner =
        Regex::new(r"^(.*) at line \d+ column \d+, (while .*) at line (\d+) column (\d+)$")
            .ok()
            .and_then(|re| {
                let caps = re.captures(&text)?;
                let at = |i: usize| caps.get(i)?.as_str().parse::<usize>().ok();
                Some((caps[1].to_string(), caps[2].to_string(), at(3)?, at(4)?))
            });
    if let Some((problem, context, context_line, context_column)) = scanner {
        let message = if problem.contains("end of stream") {
            // Pointing at the end of the file says nothing: point where the unclosed thing began.
            line = context_line;
            column = context_column;
            format!("{problem}, {context} that starts here")
        } else {
            format!("{problem}, {context} that starts at line {context_line}")
        };
        return SpecError::Syntax(Diagnostic::new(path, source, line, column, message));
    }
    // serde_yaml writes `steps[2].send: MESSAGE at line L column C`.
    let text = match text.rfind(" at line ") {
        Some(at) if text[at..].contains(" column ") => &text[..at],
        _ => text.as_str(),
    };
    let (field_path, message) = split_path(text);
    let (mut message, structural) = rewrite(field_path, message);
    let at_tab = source
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.chars().nth(column.saturating_sub(1)))
        == Some('\t');
    if at_tab {
        message.push_str(" (a tab: YAML indents with spaces only)");
    }
    if message.starts_with("missing field") {
        if let Some(hint) = names(field_path)
            .last()
            .and_then(|key| beside_not_under(source, line, key))
        {
            message.push_str(&hint);
        }
    }
    let diagnostic = Diagnostic::new(path, source, line, column, message);
    if structural {
        SpecError::Structure(diagnostic)
    } else {
        SpecError::Syntax(diagnostic)
    }
}

/// The hint for fields written beside their key instead of under it:
///
/// ```yaml
///   - send:
///     to: sse          # as deep as `send`: YAML reads `send:` with no value, `to:` beside it
/// ```
///
/// ` ('to:' on line 5 is beside 'send:', not under it: indent it past column 5)` when `key:` on
/// `line` has nothing after it and the next line is a field no deeper than `key`.
fn beside_not_under(source: &str, line: usize, key: &str) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?;
    let key_at = here.find(&format!("{key}:"))?;
    let after = here[key_at + key.len() + 1..].trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let (offset, next) = lines.get(line..)?.iter().enumerate().find(|(_, text)| {
        let text = text.trim();
        !text.is_empty() && !text.starts_with('#')
    })?;
    let field = next.trim_start();
    let indent = next.len() - field.len();
    let name = field.split(':').next().filter(|name| {
        field.contains(':') && !name.starts_with('-') && !name.contains(char::is_whitespace)
    })?;
    (indent <= key_at).then(|| {
        format!(
            " ('{name}:' on line {} is beside '{key}:', not under it: indent it past column {})",
            line + offset + 1,
            key_at + 1
        )
    })
}

/// `steps[2].send: unknown field ...` → (`steps[2].send`, `unknown field ...`).
fn split_path(text: &str) -> (&str, &str) {
    let path_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']');
    match text.find(": ") {
        Some(at) if at > 0 && text[..at].chars().all(path_chars) => (&text[..at], &text[at + 2..]),
        _ => ("", text),
    }
}

/// The names of a serde path: `steps[2].send.to` → `[steps, send, to]`.
fn names(field_path: &str) -> Vec<&str> {
    field_path
        .split('.')
        .map(|part| part.split('[').next().unwrap_or(part))
        .filter(|part| !part.is_empty())
        .collect()
}

/// ` in send`, ` in server`: where a field stands, for messages; nothing at the top level.
fn within(name: Option<&str>) -> String {
    match name {
        Some("steps") | None => String::new(),
        Some(name) => format!(" in {name}"),
    }
}

/// serde's wording → ours; the flag says whether the YAML itself was fine.
fn rewrite(field_path: &str, message: &str) -> (String, bool) {
    let names = names(field_path);
    let last = names.last().copied();
    let parent = names.iter().rev().nth(1).copied();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // unknown field `rw`, expected one of `to`, `raw`, `http`, `body` (path: the map's)
        let name = rest.split('`').next().unwrap_or("");
        let expected = backticked(rest.get(name.len() + 1..).unwrap_or(""));
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        let hint = match suggestion(name, &expected) {
            s if s.is_empty() => format!(" (expected one of: {})", expected.join(", ")),
            s => s,
        };
        return (
            format!("unknown field '{name}'{}{hint}", within(last)),
            true,
        );
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or("");
        return (format!("missing field '{name}'{}", within(last)), true);
    }
    for (prefix, what) in [
        ("invalid type: ", "wrong type"),
        ("invalid value: ", "bad value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // invalid type: string "abc", expected u16 (path: the field's)
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
            let field = last.map(|f| format!(" for '{f}'")).unwrap_or_default();
            return (
                format!(
                    "{what}{field}{}: expected {}, found {found}",
                    within(parent),
                    plain(expected)
                ),
                true,
            );
        }
    }
    if message.starts_with("invalid length") || message.starts_with("duplicate ") {
        let field = last.map(|f| format!(" (in '{f}')")).unwrap_or_default();
        return (format!("{message}{field}"), true);
    }
    // Our visitors' messages are already in the friendly form; anything else with no path comes
    // from the YAML scanner (`mapping values are not allowed in this context`).
    (
        message.to_string(),
        !field_path.is_empty() || is_ours(message),
    )
}

fn is_ours(message: &str) -> bool {
    [
        "unknown ",
        "duration ",
        "mask ",
        "opcode ",
        "step ",
        "a step ",
        "empty ",
        "until ",
        "payload",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix))
}

/// The backticked names of serde's `expected one of `a`, `b``.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// serde's names of types, in a spec writer's words.
fn plain(expected: &str) -> String {
    match expected {
        "u8" => "a whole number 0-255".into(),
        "u16" => "a whole number 0-65535".into(),
        "u32" | "u64" | "usize" => "a whole number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list".into(),
        other => other.to_string(),
    }
}

/// Checks the raw steps in order, knowing which connections are open at each step.
struct Resolver<'a> {
    path: &'a str,
    source: &'a str,
    layout: &'a Layout<'a>,
    servers: Vec<String>,
    /// Open connections → the step index that opened them.
    open: HashMap<String, usize>,
    /// Every connection ever opened → the step index that last closed it, if any.
    opened: HashMap<String, Option<usize>>,
    /// The connection the latest `read` or `handshake` used, for `expect` without `on:`.
    last_used: Option<String>,
    /// Bytes of generated payloads (`repeat`, `file`) so far.
    generated: Cell<u64>,
}

impl Resolver<'_> {
    fn error(&self, at: Position, message: impl Into<String>) -> SpecError {
        SpecError::Invalid(Diagnostic::new(
            self.path,
            self.source,
            at.line,
            at.column,
            message,
        ))
    }

    fn resolve(mut self, raw: RawSpec) -> Result<Spec, SpecError> {
        self.servers = self.check_servers(raw.servers)?;
        let mut redact = Vec::new();
        let mut target_redact = Vec::new();
        for (i, raw) in raw.redact.into_iter().enumerate() {
            let target = raw.target;
            let redaction = self.redaction(i, raw)?;
            if target {
                target_redact.push(redaction);
            } else {
                redact.push(redaction);
            }
        }
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (index, step) in raw.steps.into_iter().enumerate() {
            let at = self.layout.step(index);
            let kind = self.step(index, step)?;
            steps.push(Step {
                line: at.line,
                column: at.column,
                kind,
            });
        }
        let server = raw.server;
        Ok(Spec {
            path: self.path.to_string(),
            description: raw.description,
            server: ServerOptions {
                interval: server.interval.map(|d| d.0),
                max_message_bytes: server.max_message_bytes,
                allow_origin: server.allow_origin,
                heartbeat: server.heartbeat.map(|d| d.0),
                send_timeout: server.send_timeout.map(|d| d.0),
                log_capacity: server.log_capacity,
                subscriber_queue: server.subscriber_queue,
                max_connections: server.max_connections,
                publisher_jwt_key: server.publisher_jwt_key,
                subscriber_jwt_key: server.subscriber_jwt_key,
                private: server.private,
                host: server.host,
                jsonp: server.jsonp,
            },
            servers: self.servers,
            redact,
            target_redact,
            embedded_only: raw.embedded_only,
            steps,
        })
    }

    fn check_servers(&self, servers: Option<Vec<String>>) -> Result<Vec<String>, SpecError> {
        let Some(servers) = servers else {
            return Ok(vec![DEFAULT_SERVER.to_string()]);
        };
        let at = self
            .find_top_level("servers")
            .unwrap_or(Position { line: 1, column: 1 });
        if servers.is_empty() {
            return Err(self.error(at, "servers: list at least one name, or leave it out"));
        }
        for (i, name) in servers.iter().enumerate() {
            if !is_name(name) {
                return Err(self.error(
                    at,
                    format!("bad server name '{name}' (letters, digits, _ and -)"),
                ));
            }
            if servers[..i].contains(name) {
                return Err(self.error(at, format!("server '{name}' is listed twice")));
            }
        }
        Ok(servers)
    }

    fn find_top_level(&self, key: &str) -> Option<Position> {
        self.source
            .lines()
            .position(|line| {
                line.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
            .map(|at| Position {
                line: at + 1,
                column: 1,
            })
    }

    fn redaction(&self, i: usize, raw: RawRedaction) -> Result<Redaction, SpecError> {
        let at = |field| {
            self.layout
                .nth_field_after("redact", i, field)
                .or_else(|| self.find_top_level("redact"))
                .unwrap_or(Position { line: 1, column: 1 })
        };
        let pattern = compile(&raw.pattern).map_err(|e| self.error(at("pattern"), e))?;
        if !is_name(&raw.name) {
            return Err(self.error(
                at("name"),
                format!(
                    "bad placeholder name '{}' (letters, digits, _ and -; written <{}>)",
                    raw.name, raw.name
                ),
            ));
        }
        Ok(Redaction {
            pattern,
            name: raw.name,
        })
    }

    /// `server:` of a step: one of `servers:`, the first when absent.
    fn server(&self, index: usize, server: Option<String>) -> Result<String, SpecError> {
        match server {
            None => Ok(self.servers[0].clone()),
            Some(name) if self.servers.contains(&name) => Ok(name),
            Some(name) => {
                let known: Vec<&str> = self.servers.iter().map(String::as_str).collect();
                Err(self.error(
                    self.layout.field(index, "server"),
                    format!(
                        "unknown server '{name}'{} (servers: {})",
                        suggestion(&name, &known),
                        known.join(", ")
                    ),
                ))
            }
        }
    }

    /// A connection a step writes to or reads from: it must be open at this step.
    fn connection(&self, index: usize, field: &str, name: String) -> Result<String, SpecError> {
        if self.open.contains_key(&name) {
            return Ok(name);
        }
        let at = self.layout.field(index, field);
        if let Some(Some(closed)) = self.opened.get(&name) {
            let line = self.layout.step(*closed).line;
            return Err(self.error(at, format!("connection '{name}' was closed at line {line}")));
        }
        let mut known: Vec<&str> = self.open.keys().map(String::as_str).collect();
        known.sort_unstable();
        let hint = if known.is_empty() {
            " (no connection is open here: add `- open: NAME` before this step)".to_string()
        } else {
            match suggestion(&name, &known) {
                s if s.is_empty() => format!(" (open here: {})", known.join(", ")),
                s => s,
            }
        };
        Err(self.error(at, format!("unknown connection '{name}'{hint}")))
    }

    fn decode(&self, index: usize, field: &str, text: &str) -> Result<Vec<u8>, SpecError> {
        escape::decode(text).map_err(|bad| {
            self.error(
                self.layout.text_in_field(index, field, &bad.sequence),
                bad.message(),
            )
        })
    }

    /// A payload's bytes: text as written (escapes decoded when `escapes`), `repeat` × `times`,
    /// or a file's bytes, its path relative to the spec's folder. A file is sent as it is: each
    /// `${` in it is written `$${` here, which variable replacement turns back into `${`.
    fn payload(
        &self,
        index: usize,
        field: &str,
        raw: RawPayload,
        escapes: bool,
    ) -> Result<Vec<u8>, SpecError> {
        let at = self.layout.field(index, field);
        let text = |text: &str| {
            if escapes {
                self.decode(index, field, text)
            } else {
                Ok(text.as_bytes().to_vec())
            }
        };
        match raw {
            RawPayload::Text(written) => text(&written),
            RawPayload::Repeat { unit, times } => {
                let unit = text(&unit)?;
                if unit.is_empty() {
                    return Err(self.error(at, "repeat: needs at least one byte to repeat"));
                }
                self.generate(at, (unit.len() as u64).saturating_mul(times))?;
                Ok(unit.repeat(usize::try_from(times).unwrap_or(usize::MAX)))
            }
            RawPayload::File(path) => {
                let folder = Path::new(self.path).parent().unwrap_or(Path::new(""));
                let full = folder.join(&path);
                let unreadable = |error: std::io::Error| {
                    self.error(
                        at,
                        format!(
                            "payload file '{path}' cannot be read ({}): {error}",
                            full.display()
                        ),
                    )
                };
                let length = std::fs::metadata(&full).map_err(unreadable)?.len();
                self.generate(at, length)?;
                let bytes = std::fs::read(&full).map_err(unreadable)?;
                Ok(protect_variables(&bytes))
            }
        }
    }

    /// Counts `bytes` more of generated payload, failing past [`MAX_GENERATED`].
    fn generate(&self, at: Position, bytes: u64) -> Result<(), SpecError> {
        let total = self.generated.get().saturating_add(bytes);
        if total > MAX_GENERATED as u64 {
            return Err(self.error(
                at,
                format!(
                    "generated payloads come to {total} bytes here, over the {MAX_GENERATED} \
                     bytes one spec may generate"
                ),
            ));
        }
        self.generated.set(total);
        Ok(())
    }

    fn step(&mut self, index: usize, step: RawStep) -> Result<StepKind, SpecError> {
        Ok(match step {
            RawStep::Open(RawOpen { name, server }) => {
                let server = self.server(index, server)?;
                if !is_name(&name) {
                    return Err(self.error(
                        self.layout.field(index, "open"),
                        format!("bad connection name '{name}' (letters, digits, _ and -)"),
                    ));
                }
                if let Some(&opened) = self.open.get(&name) {
                    let line = self.layout.step(opened).line;
                    return Err(self.error(
                        self.layout.step(index),
                        format!("connection '{name}' is already open (opened at line {line})"),
                    ));
                }
                self.open.insert(name.clone(), index);
                self.opened.insert(name.clone(), None);
                StepKind::Open(Open { name, server })
            }
            RawStep::Close(name) => {
                let name = self.connection(index, "close", name)?;
                self.open.remove(&name);
                self.opened.insert(name.clone(), Some(index));
                StepKind::Close(Close { name })
            }
            RawStep::Send(send) => {
                let to = self.connection(index, "to", send.to)?;
                let payload = match (send.raw, send.http, send.body) {
                    (Some(raw), None, None) => Payload::Raw(self.payload(index, "raw", raw, true)?),
                    (None, Some(http), body) => {
                        let head = http_head(&http);
                        // RFC 9112 §6.2: a request body needs its length; one the spec wrote,
                        // or a transfer coding, wins.
                        let add_length = body.is_some() && !names_length(&head);
                        let body = match body {
                            Some(body) => self.payload(index, "body", body, false)?,
                            None => Vec::new(),
                        };
                        Payload::Http(HttpRequest {
                            head,
                            body,
                            add_length,
                        })
                    }
                    (Some(_), Some(_), _) => {
                        return Err(self.error(
                            self.layout.field(index, "http"),
                            "send takes either raw: or http:, not both",
                        ))
                    }
                    (Some(_), None, Some(_)) => {
                        return Err(self.error(
                            self.layout.field(index, "body"),
                            "body: goes with http:; with raw:, write the body into raw:",
                        ))
                    }
                    (None, None, _) => {
                        return Err(self.error(
                            self.layout.step(index),
                            "send needs raw: \"bytes\" or http: | request",
                        ))
                    }
                };
                StepKind::Send(Send {
                    to,
                    payload,
                    timeout: send.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
                })
            }
            RawStep::Read(read) => {
                let from = self.connection(index, "from", read.from)?;
                let until = match read.until {
                    RawUntil::Head => Until::Head,
                    RawUntil::Body => Until::Body,
                    RawUntil::Close => Until::Close,
                    RawUntil::Bytes(n) => Until::Bytes(n),
                    RawUntil::String(text) => {
                        let bytes = self.decode(index, "string", &text)?;
                        if bytes.is_empty() {
                            return Err(self.error(
                                self.layout.field(index, "string"),
                                "until: { string: } needs at least one byte",
                            ));
                        }
                        Until::String(bytes)
                    }
                    RawUntil::Chunks(n) => Until::Chunks(n),
                    RawUntil::SseEvents(n) => Until::SseEvents(n),
                    RawUntil::Frames(n) => Until::Frames(n),
                    RawUntil::Silence(window) => Until::Silence(window),
                };
                self.last_used = Some(from.clone());
                StepKind::Read(Read {
                    from,
                    until,
                    timeout: read.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
                })
            }
            RawStep::Handshake(h) => {
                let on = self.connection(index, "on", h.on)?;
                if !h.path.starts_with('/') && h.path != "*" && !h.path.contains("://") {
                    return Err(self.error(
                        self.layout.field(index, "path"),
                        format!("path '{}' should start with '/'", h.path),
                    ));
                }
                self.last_used = Some(on.clone());
                StepKind::Handshake(Handshake {
                    on,
                    path: h.path,
                    key: h.key,
                    protocols: h.protocols,
                    origin: h.origin,
                    headers: h.headers.0,
                    version: h.version.map(|v| v.0),
                    extensions: h.extensions,
                })
            }
            RawStep::Frame(f) => self.frame(index, f)?,
            RawStep::Publish(p) => {
                let data = self.payload(index, "data", p.data, false)?;
                let data = String::from_utf8(data).map_err(|_| {
                    self.error(
                        self.layout.field(index, "data"),
                        "publish data must be UTF-8 (a message is text)",
                    )
                })?;
                StepKind::Publish(Publish {
                    server: self.server(index, p.server)?,
                    channel: p
                        .channel
                        .unwrap_or_else(|| crate::hub::DEFAULT_CHANNEL.to_string()),
                    event: p.event.map(|e| e.0),
                    data,
                    status: p.status,
                })
            }
            RawStep::Tick(t) => StepKind::Tick(Tick {
                server: self.server(index, t.server)?,
                by: t.by,
            }),
            RawStep::Expect(e) => self.expect(index, e)?,
            RawStep::Request(r) => self.request(index, r)?,
            RawStep::Capture(c) => self.capture(index, c)?,
        })
    }

    fn request(&mut self, index: usize, r: RawRequest) -> Result<StepKind, SpecError> {
        let server = self.server(index, r.server)?;
        let on = r.on.unwrap_or_else(|| DEFAULT_REQUEST.to_string());
        if !is_name(&on) {
            return Err(self.error(
                self.layout.field(index, "on"),
                format!("bad connection name '{on}' (letters, digits, _ and -)"),
            ));
        }
        // RFC 9110 §9.1: a method is a token.
        if r.method.is_empty() || !r.method.bytes().all(is_tchar) {
            return Err(self.error(
                self.layout.field(index, "method"),
                format!(
                    "method '{}' is not an HTTP token such as GET or POST",
                    r.method
                ),
            ));
        }
        if !r.path.starts_with('/') && r.path != "*" && !r.path.starts_with("${") {
            return Err(self.error(
                self.layout.field(index, "path"),
                format!("path '{}' should start with '/'", r.path),
            ));
        }
        // The connection opens on first use and stays open for the next request on it.
        if !self.open.contains_key(&on) {
            self.open.insert(on.clone(), index);
            self.opened.insert(on.clone(), None);
        }
        self.last_used = Some(on.clone());
        Ok(StepKind::Request(Request {
            on,
            server,
            method: r.method,
            path: r.path,
            headers: r.headers.0,
            body: r
                .body
                .map(|body| self.payload(index, "body", body, false))
                .transpose()?,
            status: r.status,
            timeout: r.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
        }))
    }

    fn capture(&self, index: usize, c: RawCapture) -> Result<StepKind, SpecError> {
        let on = self.expect_on(index, c.on, "capture")?;
        if !is_name(&c.name) {
            return Err(self.error(
                self.layout.field(index, "name"),
                format!("bad variable name '{}' (letters, digits, _ and -)", c.name),
            ));
        }
        let mut sources = Vec::new();
        if let Some(header) = c.header {
            sources.push(("header", CaptureSource::Header(header)));
        }
        if let Some(pointer) = c.json {
            // RFC 6901 §3: a JSON pointer is empty or starts with '/'.
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(self.error(
                    self.layout.field(index, "json"),
                    format!("json pointer '{pointer}' should start with '/' (RFC 6901)"),
                ));
            }
            sources.push(("json", CaptureSource::Json(pointer)));
        }
        if let Some(text) = c.regex {
            let pattern =
                compile(&text).map_err(|m| self.error(self.layout.field(index, "regex"), m))?;
            sources.push(("regex", CaptureSource::Regex(pattern)));
        }
        if let Some(field) = c.sse {
            let field = match field.as_str() {
                "id" => SseField::Id,
                "event" => SseField::Event,
                "data" => SseField::Data,
                other => {
                    return Err(self.error(
                        self.layout.field(index, "sse"),
                        format!("unknown sse field '{other}' (id, event, data)"),
                    ))
                }
            };
            sources.push(("sse", CaptureSource::Sse(field)));
        }
        if let Some(what) = c.frame {
            if what != "text" {
                return Err(self.error(
                    self.layout.field(index, "frame"),
                    format!(
                        "capture frame: '{what}' — write frame: text (the last frame's payload)"
                    ),
                ));
            }
            sources.push(("frame", CaptureSource::Frame));
        }
        let mut sources = sources.into_iter();
        let Some((_, source)) = sources.next() else {
            return Err(self.error(
                self.layout.step(index),
                "capture needs one source: header, json, regex, sse or frame",
            ));
        };
        if let Some((second, _)) = sources.next() {
            return Err(self.error(
                self.layout.field(index, second),
                "capture takes one source: header, json, regex, sse or frame",
            ));
        }
        Ok(StepKind::Capture(Capture {
            on,
            name: c.name,
            source,
            redact: c.redact,
        }))
    }

    /// `on:` of a step that looks at what a connection received: any connection opened before,
    /// the latest one read when absent.
    fn expect_on(&self, index: usize, on: Option<String>, step: &str) -> Result<String, SpecError> {
        match on {
            Some(name) if self.opened.contains_key(&name) => Ok(name),
            Some(name) => Err(self.connection(index, "on", name).err().unwrap_or_else(|| {
                self.error(self.layout.field(index, "on"), "unknown connection")
            })),
            None => self.last_used.clone().ok_or_else(|| {
                self.error(
                    self.layout.step(index),
                    format!(
                        "{step} needs on: NAME (no read, handshake or request comes before it)"
                    ),
                )
            }),
        }
    }

    fn frame(&self, index: usize, f: RawFrame) -> Result<StepKind, SpecError> {
        let to = self.connection(index, "to", f.to)?;
        // RFC 6455 §5.2: RSV1, RSV2, RSV3 are three bits.
        if f.rsv > 7 {
            return Err(self.error(
                self.layout.field(index, "rsv"),
                format!(
                    "rsv {} is out of range 0-7 (RSV1 = 4, RSV2 = 2, RSV3 = 1)",
                    f.rsv
                ),
            ));
        }
        let given = [f.text.is_some(), f.raw.is_some(), f.code.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            let second = ["text", "raw", "code"]
                .into_iter()
                .zip(given)
                .filter(|(_, g)| *g)
                .nth(1)
                .map_or("raw", |(name, _)| name);
            return Err(self.error(
                self.layout.field(index, second),
                "a frame's payload is one of text:, raw:, or code: (+ reason:)",
            ));
        }
        if f.reason.is_some() && f.code.is_none() {
            return Err(self.error(
                self.layout.field(index, "reason"),
                "reason: goes with code: (a close frame's payload is the code, then the reason)",
            ));
        }
        let payload = if let Some(text) = f.text {
            self.payload(index, "text", text, false)?
        } else if let Some(raw) = f.raw {
            self.payload(index, "raw", raw, true)?
        } else if let Some(code) = f.code {
            // RFC 6455 §5.5.1: a close payload is a 2-byte code, then a UTF-8 reason.
            let mut bytes = code.to_be_bytes().to_vec();
            bytes.extend_from_slice(f.reason.unwrap_or_default().as_bytes());
            bytes
        } else {
            Vec::new()
        };
        Ok(StepKind::Frame(Frame {
            to,
            opcode: f.opcode,
            fin: f.fin,
            rsv: f.rsv,
            mask: f.mask,
            payload,
            compress: f.compress,
            timeout: f.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
        }))
    }

    fn expect(&self, index: usize, e: RawExpect) -> Result<StepKind, SpecError> {
        let on = self.expect_on(index, e.on, "expect")?;
        let body_matches = match e.body_matches {
            Some(text) => Some(
                compile(&text)
                    .map_err(|m| self.error(self.layout.field(index, "body_matches"), m))?,
            ),
            None => None,
        };
        let frame = match e.frame {
            None => None,
            Some(f) => {
                let json = match f.json {
                    None => None,
                    Some(text) => Some(serde_json::from_str(&text).map_err(|error| {
                        self.error(
                            self.layout.field(index, "json"),
                            format!("frame json is not JSON: {error}"),
                        )
                    })?),
                };
                let binary = match f.binary {
                    None => None,
                    Some(raw) => Some(self.payload(index, "binary", raw, true)?),
                };
                let text = match f.text {
                    None => None,
                    Some(raw) => {
                        let bytes = self.payload(index, "text", raw, false)?;
                        Some(String::from_utf8(bytes).map_err(|_| {
                            self.error(
                                self.layout.field(index, "text"),
                                "expect frame text must be UTF-8 (use binary: for bytes)",
                            )
                        })?)
                    }
                };
                let frame = FrameExpect {
                    opcode: f.opcode,
                    text,
                    json,
                    binary,
                };
                if frame == FrameExpect::default() {
                    return Err(self.error(
                        self.layout.field(index, "frame"),
                        "expect frame checks nothing: give opcode, text, json or binary",
                    ));
                }
                Some(frame)
            }
        };
        let expect = Expect {
            frame,
            on,
            status: e.status,
            headers: e.header.map(|h| h.0).unwrap_or_default(),
            body_contains: e.body_contains.map(|b| b.0),
            body_matches,
            sse: e.sse.map(|s| SseExpect {
                event: s.event.map(|v| v.0),
                id: s.id.map(|v| v.0),
                data: s.data.map(|v| v.0),
                retry: s.retry,
            }),
            close_code: e.close_code,
        };
        let checks_nothing = expect.status.is_none()
            && expect.headers.is_empty()
            && expect.body_contains.is_none()
            && expect.body_matches.is_none()
            && expect.sse.is_none()
            && expect.close_code.is_none()
            && expect.frame.is_none();
        if checks_nothing {
            return Err(self.error(
                self.layout.step(index),
                "expect checks nothing: give status, header, body_contains, body_matches, sse, \
                 close_code or frame",
            ));
        }
        Ok(StepKind::Expect(expect))
    }
}

/// `bytes` with each `${` written `$${`, so that variable replacement leaves them as they are.
fn protect_variables(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'$' && bytes.get(at + 1) == Some(&b'{') {
            out.push(b'$');
        }
        out.push(*byte);
    }
    out
}

/// RFC 9110 §5.6.2: `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Whether a request head names a `Content-Length` or `Transfer-Encoding` field.
fn names_length(head: &[u8]) -> bool {
    head.split(|b| *b == b'\n').skip(1).any(|line| {
        let name = line.split(|b| *b == b':').next().unwrap_or_default();
        let name = name.trim_ascii();
        name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
    })
}

/// Connection, server and placeholder names: short words that read well in a transcript.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn compile(pattern: &str) -> Result<Pattern, String> {
    Regex::new(pattern).map(Pattern).map_err(|e| {
        // regex's own message spans several lines with its own caret; keep its last line.
        let text = e.to_string();
        let reason = text
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        format!("bad regex '{pattern}': {reason}")
    })
}

/// `http:` text → request head: each line end becomes CRLF, and the head ends with the empty line
/// (added only when the text does not end with one).
pub(super) fn http_head(text: &str) -> Vec<u8> {
    let mut head = String::with_capacity(text.len() + 4);
    for line in text.split_inclusive('\n') {
        let body = line
            .strip_suffix('\n')
            .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
        head.push_str(body);
        if line.ends_with('\n') {
            head.push_str("\r\n");
        }
    }
    if !head.ends_with("\r\n") {
        head.push_str("\r\n");
    }
    if !head.ends_with("\r\n\r\n") {
        head.push_str("\r\n");
    }
    head.into_bytes()
}
