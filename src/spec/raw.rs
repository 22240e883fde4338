//! The spec as serde reads it from YAML, before names, escapes and regexes are checked: close to
//! the text, so that serde_yaml's errors point at the key or value that is wrong.
//!
//! serde_yaml 0.9 reads externally tagged enums only from `!tag` syntax, so the forms a spec
//! writes as a single-key map (`- send: {...}`, `until: { bytes: 5 }`) or as "a string or a map"
//! (`open: sse`, `tick: 1s`) have hand-written visitors; their errors are already in the friendly
//! form (`unknown step 'sned' (did you mean 'send'?)`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::error::suggestion;
use super::model::{Mask, Opcode, DEFAULT_MASK, SAMPLE_KEY, STEP_KINDS};
use super::parse_duration;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpec {
    pub description: String,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    #[serde(default)]
    pub redact: Vec<RawRedaction>,
    pub embedded_only: Option<String>,
    pub steps: Vec<RawStep>,
}

/// `server:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub interval: Option<Dur>,
    pub max_message_bytes: Option<usize>,
    #[serde(default)]
    pub allow_origin: Vec<String>,
    pub heartbeat: Option<Dur>,
    pub send_timeout: Option<Dur>,
    pub log_capacity: Option<usize>,
    pub subscriber_queue: Option<usize>,
    pub max_connections: Option<usize>,
    pub publisher_jwt_key: Option<String>,
    pub subscriber_jwt_key: Option<String>,
    #[serde(default)]
    pub private: Vec<String>,
    #[serde(default)]
    pub host: Vec<String>,
    pub jsonp: Option<bool>,
}

/// `redact:` item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedaction {
    pub pattern: String,
    pub name: String,
    #[serde(default)]
    pub target: bool,
}

/// One `steps:` item: a map with exactly one key, the step kind.
#[derive(Debug)]
pub(super) enum RawStep {
    Open(RawOpen),
    Close(String),
    Send(RawSend),
    Read(RawRead),
    Handshake(RawHandshake),
    Frame(RawFrame),
    Publish(RawPublish),
    Tick(RawTick),
    Expect(RawExpect),
    Request(RawRequest),
    Capture(RawCapture),
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = RawStep;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step: a map with one key such as `send:`")
            }
            fn visit_str<E: de::Error>(self, kind: &str) -> Result<RawStep, E> {
                Err(E::custom(if STEP_KINDS.contains(&kind) {
                    format!("step '{kind}' needs a value (`{kind}: ...`)")
                } else {
                    unknown_step(kind)
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawStep, A::Error> {
                let Some(kind) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty step: write one key such as `send:`",
                    ));
                };
                let step = match kind.as_str() {
                    "open" => RawStep::Open(map.next_value()?),
                    "close" => RawStep::Close(map.next_value()?),
                    "send" => RawStep::Send(map.next_value()?),
                    "read" => RawStep::Read(map.next_value()?),
                    "handshake" => RawStep::Handshake(map.next_value()?),
                    "frame" => RawStep::Frame(map.next_value()?),
                    "publish" => RawStep::Publish(map.next_value()?),
                    "tick" => RawStep::Tick(map.next_value()?),
                    "expect" => RawStep::Expect(map.next_value()?),
                    "request" => RawStep::Request(map.next_value()?),
                    "capture" => RawStep::Capture(map.next_value()?),
                    other => return Err(de::Error::custom(unknown_step(other))),
                };
                if let Some(second) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "a step has exactly one key, but '{kind}' is followed by '{second}' \
                         (start a new step with `- {second}:`)"
                    )));
                }
                Ok(step)
            }
        }
        deserializer.deserialize_any(StepVisitor)
    }
}

fn unknown_step(kind: &str) -> String {
    format!("unknown step '{kind}'{}", suggestion(kind, &STEP_KINDS))
}

/// `open: NAME` or `open: { name, server }`.
#[derive(Debug)]
pub(super) struct RawOpen {
    pub name: String,
    pub server: Option<String>,
}

impl<'de> Deserialize<'de> for RawOpen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            name: String,
            server: Option<String>,
        }
        struct OpenVisitor;
        impl<'de> Visitor<'de> for OpenVisitor {
            type Value = RawOpen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a connection name, or `{ name: NAME, server: SERVER }`")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawOpen, E> {
                Ok(RawOpen {
                    name: name.to_string(),
                    server: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawOpen, A::Error> {
                let Fields { name, server } =
                    Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawOpen { name, server })
            }
        }
        deserializer.deserialize_any(OpenVisitor)
    }
}

/// `send:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSend {
    pub to: String,
    pub raw: Option<RawPayload>,
    pub http: Option<String>,
    pub body: Option<RawPayload>,
    pub timeout: Option<Dur>,
}

/// `read:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRead {
    pub from: String,
    pub until: RawUntil,
    pub timeout: Option<Dur>,
}

/// `until:`; the byte string is decoded later, where its position can be found.
#[derive(Debug)]
pub(super) enum RawUntil {
    Head,
    Body,
    Close,
    Bytes(usize),
    String(String),
    Chunks(usize),
    SseEvents(usize),
    Frames(usize),
    Silence(Duration),
}

const UNTIL_WORDS: [&str; 3] = ["head", "body", "close"];
const UNTIL_COUNTS: [&str; 6] = [
    "bytes",
    "string",
    "chunks",
    "sse_events",
    "frames",
    "silence",
];

impl<'de> Deserialize<'de> for RawUntil {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UntilVisitor;
        impl<'de> Visitor<'de> for UntilVisitor {
            type Value = RawUntil;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`head`, `body`, `close`, or one of `{ bytes: N }`, `{ string: \"...\" }`, \
                     `{ chunks: N }`, `{ sse_events: N }`, `{ frames: N }`, `{ silence: 2s }`",
                )
            }
            fn visit_str<E: de::Error>(self, word: &str) -> Result<RawUntil, E> {
                match word {
                    "head" => Ok(RawUntil::Head),
                    "body" => Ok(RawUntil::Body),
                    "close" => Ok(RawUntil::Close),
                    other if UNTIL_COUNTS.contains(&other) => Err(E::custom(format!(
                        "until '{other}' needs a value: `until: {{ {other}: ... }}`"
                    ))),
                    other => {
                        let all = [UNTIL_WORDS.as_slice(), UNTIL_COUNTS.as_slice()].concat();
                        Err(E::custom(format!(
                            "unknown until '{other}'{} (head, body, close, bytes, string, chunks, \
                             sse_events, frames, silence)",
                            suggestion(other, &all)
                        )))
                    }
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawUntil, A::Error> {
                let Some(kind) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty until: write one of bytes, string, chunks, sse_events, frames, silence",
                    ));
                };
                let until = match kind.as_str() {
                    "bytes" => RawUntil::Bytes(map.next_value()?),
                    "string" => RawUntil::String(map.next_value::<Scalar>()?.0),
                    "chunks" => RawUntil::Chunks(map.next_value()?),
                    "sse_events" => RawUntil::SseEvents(map.next_value()?),
                    "frames" => RawUntil::Frames(map.next_value()?),
                    "silence" => RawUntil::Silence(map.next_value::<Dur>()?.0),
                    other if UNTIL_WORDS.contains(&other) => {
                        return Err(de::Error::custom(format!(
                            "until '{other}' takes no value: write `until: {other}`"
                        )))
                    }
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown until '{other}'{} (bytes, string, chunks, sse_events, \
                             frames, silence)",
                            suggestion(other, &UNTIL_COUNTS)
                        )))
                    }
                };
                if let Some(second) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "until takes one condition, but '{kind}' is followed by '{second}'"
                    )));
                }
                Ok(until)
            }
        }
        deserializer.deserialize_any(UntilVisitor)
    }
}

fn default_key() -> Option<String> {
    Some(SAMPLE_KEY.to_string())
}

fn default_version() -> Option<Scalar> {
    Some(Scalar("13".to_string()))
}

/// `handshake:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHandshake {
    pub on: String,
    pub path: String,
    #[serde(default = "default_key")]
    pub key: Option<String>,
    #[serde(default)]
    pub protocols: Vec<String>,
    pub origin: Option<String>,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default = "default_version")]
    pub version: Option<Scalar>,
    pub extensions: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_mask() -> Mask {
    Mask::Key(DEFAULT_MASK)
}

/// `frame:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFrame {
    pub to: String,
    pub opcode: Opcode,
    #[serde(default = "yes")]
    pub fin: bool,
    #[serde(default)]
    pub rsv: u8,
    #[serde(default = "default_mask")]
    pub mask: Mask,
    pub text: Option<RawPayload>,
    pub raw: Option<RawPayload>,
    pub code: Option<u16>,
    pub reason: Option<String>,
    #[serde(default)]
    pub compress: bool,
    pub timeout: Option<Dur>,
}

/// `publish:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    pub channel: Option<String>,
    pub event: Option<Scalar>,
    pub data: RawPayload,
    pub server: Option<String>,
    pub status: Option<u16>,
}

fn get() -> String {
    "GET".to_string()
}

/// `request:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequest {
    pub on: Option<String>,
    pub server: Option<String>,
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: Headers,
    pub body: Option<RawPayload>,
    pub status: Option<u16>,
    pub timeout: Option<Dur>,
}

/// `capture:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapture {
    pub on: Option<String>,
    pub name: String,
    pub header: Option<String>,
    pub json: Option<String>,
    pub regex: Option<String>,
    pub sse: Option<String>,
    pub frame: Option<String>,
    #[serde(default = "yes")]
    pub redact: bool,
}

/// `tick: 1s` or `tick: { by: 1s, server }`.
#[derive(Debug)]
pub(super) struct RawTick {
    pub by: Duration,
    pub server: Option<String>,
}

impl<'de> Deserialize<'de> for RawTick {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            by: Dur,
            server: Option<String>,
        }
        struct TickVisitor;
        impl<'de> Visitor<'de> for TickVisitor {
            type Value = RawTick;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `1s`, or `{ by: 1s, server: SERVER }`")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawTick, E> {
                Ok(RawTick {
                    by: parse_duration(text).map_err(E::custom)?,
                    server: None,
                })
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<RawTick, E> {
                Err(E::custom(format!("duration '{n}' needs a unit (ms, s, m)")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTick, A::Error> {
                let Fields { by, server } =
                    Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawTick { by: by.0, server })
            }
        }
        deserializer.deserialize_any(TickVisitor)
    }
}

/// `expect:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub on: Option<String>,
    pub status: Option<u16>,
    pub header: Option<Headers>,
    pub body_contains: Option<Scalar>,
    pub body_matches: Option<String>,
    pub sse: Option<RawSse>,
    pub close_code: Option<u16>,
    pub frame: Option<RawFrameExpect>,
}

/// `expect: { frame: ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFrameExpect {
    pub opcode: Option<Opcode>,
    pub text: Option<RawPayload>,
    pub json: Option<String>,
    pub binary: Option<RawPayload>,
}

/// `expect: { sse: ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSse {
    pub event: Option<Scalar>,
    pub id: Option<Scalar>,
    pub data: Option<Scalar>,
    pub retry: Option<u64>,
}

/// A duration written `250ms`, `1s`, `2m`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurVisitor;
        impl<'de> Visitor<'de> for DurVisitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as `250ms`, `1s` or `2m`")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Dur, E> {
                parse_duration(text).map(Dur).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Dur, E> {
                Err(E::custom(format!("duration '{n}' needs a unit (ms, s, m)")))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Dur, E> {
                Err(E::custom(format!("duration '{n}' needs a unit (ms, s, m)")))
            }
        }
        deserializer.deserialize_any(DurVisitor)
    }
}

/// Text that YAML may have read as a number or a boolean (`id: 2`, `version: 13`), kept as the
/// text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Scalar, E> {
                Ok(Scalar(text.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar, E> {
                Ok(Scalar(n.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar(b.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A payload: text as written (a number or boolean kept as written), or generated:
/// `{ repeat: TEXT, times: N }` (TEXT N times over) or `{ file: PATH }` (a file's bytes, PATH
/// relative to the spec's folder). Checked and expanded later, where positions are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RawPayload {
    Text(String),
    Repeat { unit: String, times: u64 },
    File(String),
}

impl<'de> Deserialize<'de> for RawPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            repeat: Option<Scalar>,
            times: Option<u64>,
            file: Option<String>,
        }
        struct PayloadVisitor;
        impl<'de> Visitor<'de> for PayloadVisitor {
            type Value = RawPayload;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text, `{ repeat: TEXT, times: N }` or `{ file: PATH }`")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawPayload, E> {
                Ok(RawPayload::Text(text.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<RawPayload, E> {
                Ok(RawPayload::Text(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<RawPayload, E> {
                Ok(RawPayload::Text(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<RawPayload, E> {
                Ok(RawPayload::Text(n.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<RawPayload, E> {
                Ok(RawPayload::Text(b.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPayload, A::Error> {
                let fields = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                match fields {
                    Fields {
                        repeat: Some(unit),
                        times: Some(times),
                        file: None,
                    } => Ok(RawPayload::Repeat {
                        unit: unit.0,
                        times,
                    }),
                    Fields {
                        repeat: None,
                        times: None,
                        file: Some(path),
                    } => Ok(RawPayload::File(path)),
                    _ => Err(de::Error::custom(
                        "payload: write { repeat: TEXT, times: N } or { file: PATH }",
                    )),
                }
            }
        }
        deserializer.deserialize_any(PayloadVisitor)
    }
}

/// `headers: { Name: value }`, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Headers(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of header names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut headers = Vec::new();
                while let Some((name, value)) = map.next_entry::<Scalar, Scalar>()? {
                    headers.push((name.0, value.0));
                }
                Ok(Headers(headers))
            }
        }
        deserializer.deserialize_map(HeadersVisitor)
    }
}

const OPCODES: [&str; 6] = ["continuation", "text", "binary", "close", "ping", "pong"];

impl<'de> Deserialize<'de> for Opcode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OpcodeVisitor;
        impl<'de> Visitor<'de> for OpcodeVisitor {
            type Value = Opcode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an opcode: text, binary, continuation, close, ping, pong or 0-15")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Opcode, E> {
                match name {
                    "continuation" => Ok(Opcode::Continuation),
                    "text" => Ok(Opcode::Text),
                    "binary" => Ok(Opcode::Binary),
                    "close" => Ok(Opcode::Close),
                    "ping" => Ok(Opcode::Ping),
                    "pong" => Ok(Opcode::Pong),
                    other => Err(E::custom(format!(
                        "unknown opcode '{other}'{} (text, binary, continuation, close, ping, \
                         pong, or a number 0-15)",
                        suggestion(other, &OPCODES)
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, code: u64) -> Result<Opcode, E> {
                // RFC 6455 §5.2: the opcode is 4 bits; named ones read back as their names.
                match code {
                    0x0 => Ok(Opcode::Continuation),
                    0x1 => Ok(Opcode::Text),
                    0x2 => Ok(Opcode::Binary),
                    0x8 => Ok(Opcode::Close),
                    0x9 => Ok(Opcode::Ping),
                    0xA => Ok(Opcode::Pong),
                    0x3..=0x7 | 0xB..=0xF => Ok(Opcode::Raw(code as u8)),
                    _ => Err(E::custom(format!("opcode {code} is out of range 0-15"))),
                }
            }
            fn visit_i64<E: de::Error>(self, code: i64) -> Result<Opcode, E> {
                Err(E::custom(format!("opcode {code} is out of range 0-15")))
            }
        }
        deserializer.deserialize_any(OpcodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Mask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MaskVisitor;
        impl<'de> Visitor<'de> for MaskVisitor {
            type Value = Mask;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a masking key of 8 hex digits such as \"37fa213d\", or none")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Mask, E> {
                parse_mask(text).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Mask, E> {
                // `mask: 12345678` reads as a number; its digits are still the hex key.
                let digits = n.to_string();
                if digits.len() == 8 {
                    parse_mask(&digits).map_err(E::custom)
                } else {
                    Err(E::custom(format!(
                        "mask {n} is not 8 hex digits (quote it: mask: \"0000abcd\")"
                    )))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Mask, E> {
                Ok(Mask::None)
            }
        }
        deserializer.deserialize_any(MaskVisitor)
    }
}

/// `"37fa213d"` → the key; `none` → no mask.
pub(super) fn parse_mask(text: &str) -> Result<Mask, String> {
    if text == "none" {
        return Ok(Mask::None);
    }
    let bad = || format!("mask '{text}' is not 8 hex digits such as \"37fa213d\" (or none)");
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut key = [0u8; 4];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(Mask::Key(key))
}
