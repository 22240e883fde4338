//! The typed form of a spec, as the runner executes it: every duration, byte string, opcode, mask
//! and regex is already decoded and checked, so the runner does no string parsing.

use std::fmt;
use std::time::Duration;

use regex::Regex;

/// The name of the one embedded server a spec gets when it does not list `servers:`.
pub const DEFAULT_SERVER: &str = "main";

/// The WebSocket key a `handshake` sends unless the spec says otherwise: the sample nonce of
/// RFC 6455 §1.3, whose accept value (`s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`) every reader can check.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The masking key a client `frame` uses unless the spec says otherwise (the key of the masked
/// example in RFC 6455 §5.7), fixed so that transcripts are the same on every run.
pub const DEFAULT_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// How long a `read` waits unless it names a `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes of generated payloads (`repeat`/`times`, `file`) one spec may hold.
pub const MAX_GENERATED: usize = 64 * 1024 * 1024;

/// The most bytes of text one spec may have.
pub const MAX_SPEC_BYTES: usize = 4 * 1024 * 1024;

/// The most YAML aliases (`*name`) one spec may use: with [`MAX_SPEC_BYTES`], what aliases can
/// expand to stays within a few dozen MiB.
pub const MAX_ALIASES: usize = 8;

/// The connection a `request` uses unless it names one.
pub const DEFAULT_REQUEST: &str = "request";

/// One scenario: a client scripted byte by byte against one or more push servers.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The path the spec was read from, as given to [`crate::spec::load`] or
    /// [`crate::spec::parse`]; used in messages.
    pub path: String,
    /// `description:` — what the scenario shows, in one sentence.
    pub description: String,
    /// `server:` — options for every embedded server (ignored with `--target`).
    pub server: ServerOptions,
    /// `servers: [a, b]` — names of the embedded servers, all on one hub. Never empty: a spec that
    /// lists none gets one server named [`DEFAULT_SERVER`].
    pub servers: Vec<String>,
    /// `redact:` — extra patterns replaced by a named placeholder in the transcript (the `date:`
    /// header is redacted by the runner without being listed).
    pub redact: Vec<Redaction>,
    /// `redact:` items with `target: true` — values only a running server varies (ids above its
    /// id floor, its clock's dates, the lengths that carry them): the embedded transcript keeps
    /// them, and a `--target` run is compared with the snapshot with these redacted on both sides.
    pub target_redact: Vec<Redaction>,
    /// `embedded_only: REASON` — what ties the spec to the embedded server besides `tick` and
    /// `server:` (ids counted from 1, say): against `--target` it is listed as skipped with this.
    pub embedded_only: Option<String>,
    /// `steps:` — what the client does, in order.
    pub steps: Vec<Step>,
}

/// `server:` — options of the embedded server(s); each `None` means the server's own default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// `interval: 1s` — how often the ticker publishes the time (advanced by `tick` steps).
    pub interval: Option<Duration>,
    /// `max_message_bytes: 65536` — the largest `/publish` body and WebSocket message.
    pub max_message_bytes: Option<usize>,
    /// `allow_origin: [http://a.example]` — origins allowed from other pages.
    pub allow_origin: Vec<String>,
    /// `heartbeat: 15s` — how often idle streams get a keep-alive write.
    pub heartbeat: Option<Duration>,
    /// `send_timeout: 30s` — how long a write may wait for a client that reads nothing.
    pub send_timeout: Option<Duration>,
    /// `log_capacity: 100` — messages kept per channel for resuming.
    pub log_capacity: Option<usize>,
    /// `subscriber_queue: 64` — messages queued per subscriber before it is cut off.
    pub subscriber_queue: Option<usize>,
    /// `max_connections: 10000` — connections past this are refused.
    pub max_connections: Option<usize>,
    /// `publisher_jwt_key: KEY` — HS256 key publishers' tokens must be signed with.
    pub publisher_jwt_key: Option<String>,
    /// `subscriber_jwt_key: KEY` — HS256 key subscribers' tokens must be signed with.
    pub subscriber_jwt_key: Option<String>,
    /// `private: [secret.*]` — channels that need a subscriber token.
    pub private: Vec<String>,
    /// `host: [push.example.com]` — `Host` names served besides the loopback ones.
    pub host: Vec<String>,
    /// `jsonp: false` — turns `/jsonp` off.
    pub jsonp: Option<bool>,
}

/// `redact: [{ pattern: REGEX, name: NAME }]` — every match of `pattern` in the transcript becomes
/// `<NAME>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Redaction {
    /// What varies from run to run.
    pub pattern: Pattern,
    /// The placeholder's name, written `<name>` in the transcript.
    pub name: String,
}

/// A compiled regular expression that compares equal to another with the same source text.
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl Pattern {
    /// The compiled expression.
    pub fn regex(&self) -> &Regex {
        &self.0
    }
}

impl std::ops::Deref for Pattern {
    type Target = Regex;
    fn deref(&self) -> &Regex {
        &self.0
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// One item of `steps:`, with where it stands in the spec file so that failures can name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based line of the step's key (`send` in `  - send: ...`).
    pub line: usize,
    /// 1-based column of the step's key.
    pub column: usize,
    /// What the step does.
    pub kind: StepKind,
}

/// What a step does; one variant per step key.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// `open: NAME` or `open: { name, server }` — a raw TCP connection.
    Open(Open),
    /// `close: NAME` — close the client's side of a connection.
    Close(Close),
    /// `send: { to, raw }` or `send: { to, http, body }` — write bytes.
    Send(Send),
    /// `read: { from, until, timeout }` — read until a condition holds.
    Read(Read),
    /// `handshake: { on, path, ... }` — send a WebSocket upgrade request and read the response head.
    Handshake(Handshake),
    /// `frame: { to, opcode, ... }` — write one WebSocket frame, as raw as needed.
    Frame(Frame),
    /// `publish: { channel, event, data, server }` — `POST /publish` through an HTTP client.
    Publish(Publish),
    /// `tick: 1s` or `tick: { by, server }` — advance an embedded server's manual clock.
    Tick(Tick),
    /// `expect: { on, status, ... }` — plain assertions on what a connection received so far.
    Expect(Expect),
    /// `request: { method, path, headers, body, status }` — one whole HTTP exchange.
    Request(Request),
    /// `capture: { name, header | json | regex | sse }` — keep a received value as `${name}`.
    Capture(Capture),
}

impl StepKind {
    /// The step's key as written in YAML (`open`, `send`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Open(_) => "open",
            StepKind::Close(_) => "close",
            StepKind::Send(_) => "send",
            StepKind::Read(_) => "read",
            StepKind::Handshake(_) => "handshake",
            StepKind::Frame(_) => "frame",
            StepKind::Publish(_) => "publish",
            StepKind::Tick(_) => "tick",
            StepKind::Expect(_) => "expect",
            StepKind::Request(_) => "request",
            StepKind::Capture(_) => "capture",
        }
    }
}

/// Every step key, in the order the docs list them.
pub const STEP_KINDS: [&str; 11] = [
    "open",
    "close",
    "send",
    "read",
    "handshake",
    "frame",
    "publish",
    "tick",
    "expect",
    "request",
    "capture",
];

/// `open` — connect a named raw TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The connection's name, used by later steps (`to:`, `from:`, `on:`).
    pub name: String,
    /// The server to connect to: one of [`Spec::servers`] (the first when not written).
    pub server: String,
}

/// `close: NAME` — close the client's side of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The connection to close.
    pub name: String,
}

/// `send` — write bytes on a connection, exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// The connection to write on.
    pub to: String,
    /// The bytes, already decoded.
    pub payload: Payload,
    /// How long the peer may take to accept every byte ([`DEFAULT_TIMEOUT`] when absent).
    pub timeout: Duration,
}

impl Send {
    /// Every byte the step writes, in order.
    pub fn bytes(&self) -> Vec<u8> {
        self.payload.bytes()
    }
}

/// What a `send` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `raw: "GET / HTTP/1.1\r\n"` — escapes `\r \n \t \0 \\ \xNN` decoded; nothing added.
    Raw(Vec<u8>),
    /// `http: |` + optional `body:` — a request written naturally.
    Http(HttpRequest),
}

impl Payload {
    /// Every byte of the payload, in order.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Raw(bytes) => bytes.clone(),
            Payload::Http(request) => {
                HttpRequest::wire(&request.head, &request.body, request.add_length)
            }
        }
    }
}

/// `send: { http: ..., body: ... }` as bytes. From the `http:` text, each line end (`\n` or `\r\n`)
/// becomes `\r\n`, and if the text does not already end with an empty line, `\r\n` is appended
/// (twice when the last line has no line end) so the head ends with the blank line. With `body:`,
/// a `Content-Length` of the body is added unless the head already has `Content-Length` or
/// `Transfer-Encoding` (RFC 9112 §6.2); nothing else is added (no `Host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Request line and headers, ending with `\r\n\r\n`.
    pub head: Vec<u8>,
    /// `body:` as UTF-8, sent as written right after the head (empty when absent).
    pub body: Vec<u8>,
    /// `body:` was given and the head names no length or coding: `Content-Length` goes in.
    pub add_length: bool,
}

impl HttpRequest {
    /// `head` and `body` as written on the wire, with `Content-Length` when `add_length`.
    pub fn wire(head: &[u8], body: &[u8], add_length: bool) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(head.len() + body.len() + 24);
        match head.strip_suffix(b"\r\n\r\n") {
            Some(lines) if add_length => {
                bytes.extend_from_slice(lines);
                bytes.extend_from_slice(
                    format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
            }
            _ => bytes.extend_from_slice(head),
        }
        bytes.extend_from_slice(body);
        bytes
    }
}

/// `read` — read from a connection until a condition holds, or fail after `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The connection to read from.
    pub from: String,
    /// When to stop.
    pub until: Until,
    /// How long to wait at most (`timeout: 5s`, [`DEFAULT_TIMEOUT`] when absent).
    pub timeout: Duration,
}

/// `until:` — when a `read` stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// `until: head` — an HTTP response's status line and headers, up to the empty line.
    Head,
    /// `until: body` — the rest of the current response body, by its framing (RFC 9112 §6.3):
    /// `Content-Length` bytes, chunks up to the last one, or everything up to the close.
    Body,
    /// `until: close` — the peer closes the connection.
    Close,
    /// `until: { bytes: N }` — N more bytes.
    Bytes(usize),
    /// `until: { string: "..." }` — the bytes read in this step contain this byte string (escapes
    /// decoded as in `raw:`).
    String(Vec<u8>),
    /// `until: { chunks: N }` — N more HTTP chunks of a chunked body.
    Chunks(usize),
    /// `until: { sse_events: N }` — N more Server-Sent Events.
    SseEvents(usize),
    /// `until: { frames: N }` — N more WebSocket frames.
    Frames(usize),
    /// `until: { silence: 2s }` — no byte arrives (and the peer does not close) for this long:
    /// on the embedded server the window is the manual clock's, moved as `tick` moves it; against
    /// `--target` it is real time.
    Silence(Duration),
}

/// `handshake` — send a WebSocket upgrade request (`GET path HTTP/1.1` with `Host`, `Upgrade`,
/// `Connection` and the fields below) and read the response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The connection to upgrade.
    pub on: String,
    /// The request target, e.g. `/echo`.
    pub path: String,
    /// `Sec-WebSocket-Key`: [`SAMPLE_KEY`] when absent; `key: null` (`~`) omits the header.
    pub key: Option<String>,
    /// `Sec-WebSocket-Protocol` values offered, in order (no header when empty).
    pub protocols: Vec<String>,
    /// `Origin`, when given.
    pub origin: Option<String>,
    /// Extra headers, in the order written, after the ones above.
    pub headers: Vec<(String, String)>,
    /// `Sec-WebSocket-Version`: `13` when absent; `version: null` omits the header.
    pub version: Option<String>,
    /// `Sec-WebSocket-Extensions` offered, e.g. `permessage-deflate; client_max_window_bits`
    /// (RFC 7692 §7); no header when absent.
    pub extensions: Option<String>,
}

/// `frame` — write one WebSocket frame (RFC 6455 §5.2), raw enough to be malformed on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The connection to write on.
    pub to: String,
    /// The opcode.
    pub opcode: Opcode,
    /// FIN bit (`fin: true` by default).
    pub fin: bool,
    /// RSV1..3 as the low three bits (0 by default, at most 7).
    pub rsv: u8,
    /// Masking key (`mask: "37fa213d"`, `mask: none`; [`DEFAULT_MASK`] when absent).
    pub mask: Mask,
    /// The unmasked payload: from `text:`, `raw:` (escapes decoded), or `code:` + `reason:`
    /// (two bytes big-endian, then the reason's UTF-8). Empty when none is given. `text:` and
    /// `raw:` may be generated: `{ repeat: TEXT, times: N }` or `{ file: PATH }`.
    pub payload: Vec<u8>,
    /// `compress: true`: the payload goes out compressed with permessage-deflate (RFC 7692
    /// §7.2.1) and RSV1 set; by default a frame is sent as given (uncompressed is always legal,
    /// §6.1).
    pub compress: bool,
    /// How long the peer may take to accept every byte ([`DEFAULT_TIMEOUT`] when absent).
    pub timeout: Duration,
}

/// `opcode:` — a frame's 4-bit opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// `continuation` (0x0).
    Continuation,
    /// `text` (0x1).
    Text,
    /// `binary` (0x2).
    Binary,
    /// `close` (0x8).
    Close,
    /// `ping` (0x9).
    Ping,
    /// `pong` (0xA).
    Pong,
    /// A number 0–15 written as such, e.g. a reserved opcode `3`.
    Raw(u8),
}

impl Opcode {
    /// The 4-bit value on the wire.
    pub fn code(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
            Opcode::Raw(code) => code & 0x0f,
        }
    }
}

/// `mask:` — whether and how a frame is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// `mask: none` — MASK bit clear (a protocol error from a client, RFC 6455 §5.1).
    None,
    /// `mask: "37fa213d"` — MASK bit set, with this key.
    Key([u8; 4]),
}

/// `publish` — `POST /publish?channel=C&event=E` with `data` as the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The channel ([`crate::hub::DEFAULT_CHANNEL`] when absent).
    pub channel: String,
    /// The event name; `None` leaves it to the server (`message`).
    pub event: Option<String>,
    /// The message body.
    pub data: String,
    /// The server to publish through (the first of [`Spec::servers`] when absent).
    pub server: String,
    /// The status the answer must have; any 2xx when absent.
    pub status: Option<u16>,
}

/// `request` — one HTTP/1.1 request on a connection of its own (opened on first use, kept alive
/// for the next `request` with the same `on:`), its response head and whole body read by their
/// framing. `Host` (the target's authority) and `Content-Length` (when there is a body) are added
/// unless `headers:` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The connection (`request` when not written); later `expect`/`capture` steps name it.
    pub on: String,
    /// The server to send to (the first of [`Spec::servers`] when absent).
    pub server: String,
    /// `GET` when absent.
    pub method: String,
    /// The request target; a `--target` path prefix goes before it.
    pub path: String,
    /// Extra headers, in the order written.
    pub headers: Vec<(String, String)>,
    /// `body:` as UTF-8 (none when absent).
    pub body: Option<Vec<u8>>,
    /// The status the response must have; any 2xx when absent.
    pub status: Option<u16>,
    /// How long the whole exchange may take ([`DEFAULT_TIMEOUT`] when absent).
    pub timeout: Duration,
}

/// `capture` — keeps a value of what a connection received as the variable `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// The connection (the one the latest `read`, `handshake` or `request` used when absent).
    pub on: String,
    /// The variable's name, used later as `${name}`.
    pub name: String,
    /// Where the value comes from.
    pub source: CaptureSource,
    /// Whether the value is replaced by `<name>` in the transcript (`redact: true`, the default).
    pub redact: bool,
}

/// `capture:` — where a captured value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureSource {
    /// `header: NAME` — the last response head's header (first of that name).
    Header(String),
    /// `json: /pointer` — a value of the body read so far, as JSON (RFC 6901); a string is
    /// taken without its quotes, anything else as its JSON text.
    Json(String),
    /// `regex: "id=(\\d+)"` — the first match in the body read so far: group 1, or the whole
    /// match when the expression has no group.
    Regex(Pattern),
    /// `sse: id | event | data` — a field of the last SSE event.
    Sse(SseField),
    /// `frame: text` — the payload of the last WebSocket frame, as UTF-8.
    Frame,
}

/// A field of an SSE event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseField {
    /// `id`.
    Id,
    /// `event`.
    Event,
    /// `data`.
    Data,
}

/// `tick` — advance an embedded server's manual clock (an error with `--target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// How far.
    pub by: Duration,
    /// Whose clock (the first of [`Spec::servers`] when absent).
    pub server: String,
}

/// `expect` — assertions on what a connection has received so far, beside the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// The connection; when not written, the one the latest `read` or `handshake` used.
    pub on: String,
    /// The status code of the last response head read.
    pub status: Option<u16>,
    /// Headers of the last response head (names compared case-insensitively), in order written.
    pub headers: Vec<(String, String)>,
    /// Text the body read so far must contain.
    pub body_contains: Option<String>,
    /// A regex the body read so far must match.
    pub body_matches: Option<Pattern>,
    /// Fields of the last SSE event read on the connection.
    pub sse: Option<SseExpect>,
    /// The code of the last WebSocket close frame received.
    pub close_code: Option<u16>,
    /// The last WebSocket frame received.
    pub frame: Option<FrameExpect>,
}

/// `expect: { frame: { opcode, text | json | binary } }` — each field given must hold for the
/// last WebSocket frame received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameExpect {
    /// Its opcode.
    pub opcode: Option<Opcode>,
    /// Its payload as UTF-8 text, exactly.
    pub text: Option<String>,
    /// Its payload parsed as JSON equals this JSON value (key order and spacing do not matter).
    pub json: Option<serde_json::Value>,
    /// Its payload, exactly (escapes decoded as in `raw:`).
    pub binary: Option<Vec<u8>>,
}

/// `expect: { sse: { event, id, data } }` — each field given must equal the last SSE event's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseExpect {
    /// `event:` field (`message` when the event had none).
    pub event: Option<String>,
    /// `id:` field.
    pub id: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: Option<String>,
    /// The reconnection time (ms) the stream's last `retry:` set.
    pub retry: Option<u64>,
}

impl Spec {
    /// Whether any step advances a manual clock, which only the embedded server has: the runner
    /// refuses such a spec with `--target` at load time.
    pub fn uses_tick(&self) -> bool {
        self.steps
            .iter()
            .any(|step| matches!(step.kind, StepKind::Tick(_)))
    }

    /// The first `tick` step, to point at when refusing the spec with `--target`.
    pub fn first_tick(&self) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| matches!(step.kind, StepKind::Tick(_)))
    }
}
