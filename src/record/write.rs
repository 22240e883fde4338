//! Writes a [`Script`] as spec YAML: one step per line where it fits (`- read: { from: sse,
//! until: head }`), `send` with its head as an `http: |` block, strings quoted so that YAML reads
//! back exactly the recorded bytes. Pure: script in, text out.

use std::fmt::Write as _;
use std::time::Duration;

use super::captures::Source;
use super::script::{literal, Script, Step};
use super::segment::Unit;
use crate::wire::websocket::opcode;

/// What goes at the top of a written spec besides its steps.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// `description:`.
    pub description: String,
    /// Comment lines written above everything (without `# `).
    pub comments: Vec<String>,
    /// `redact:` entries: (pattern, name).
    pub redact: Vec<(String, String)>,
    /// `redact:` entries with `target: true`: (pattern, name).
    pub target_redact: Vec<(String, String)>,
}

/// The spec text of `script`.
pub fn spec_text(header: &Header, script: &Script) -> String {
    let mut out = String::new();
    for comment in &header.comments {
        for line in comment.lines() {
            let _ = writeln!(out, "# {line}");
        }
    }
    let _ = writeln!(out, "description: {}", double(&header.description));
    if !header.redact.is_empty() || !header.target_redact.is_empty() {
        out.push_str("redact:\n");
        for (pattern, name) in &header.redact {
            let _ = writeln!(out, "  - {{ pattern: {}, name: {name} }}", single(pattern));
        }
        if !header.target_redact.is_empty() {
            out.push_str(
                "  # what a running server varies (--target only): ids, its clock, lengths\n",
            );
        }
        for (pattern, name) in &header.target_redact {
            let _ = writeln!(
                out,
                "  - {{ pattern: {}, name: {name}, target: true }}",
                single(pattern)
            );
        }
    }
    out.push_str("steps:\n");
    if script.steps.is_empty() {
        // A spec needs steps; an empty recording still replays.
        out.push_str("  - tick: 0ms\n");
    }
    for step in &script.steps {
        out.push_str(&step_text(step));
    }
    out
}

fn step_text(step: &Step) -> String {
    match step {
        Step::Open(name) => format!("  - open: {name}\n"),
        Step::Close(name) => format!("  - close: {name}\n"),
        Step::Tick(by) => format!("  - tick: {}\n", duration(*by)),
        Step::Read { from, until } => {
            format!(
                "  - read: {{ from: {from}, until: {} }}\n",
                until_text(until)
            )
        }
        Step::SendHttp { to, head, body } => {
            let mut text = format!("  - send:\n      to: {to}\n      http: |\n");
            for line in head.lines() {
                let _ = writeln!(text, "        {line}");
            }
            if let Some(body) = body {
                let _ = writeln!(text, "      body: {}", double(body));
            }
            text
        }
        Step::SendRaw { to, bytes } => {
            format!("  - send: {{ to: {to}, raw: {} }}\n", single(&raw(bytes)))
        }
        Step::Frame {
            to,
            fin,
            rsv,
            opcode: code,
            payload,
        } => {
            let mut fields = vec![
                format!("to: {to}"),
                format!("opcode: {}", opcode_name(*code)),
            ];
            if !fin {
                fields.push("fin: false".into());
            }
            if *rsv != 0 {
                fields.push(format!("rsv: {rsv}"));
            }
            match (*code, std::str::from_utf8(payload)) {
                (opcode::CLOSE, _) if payload.len() >= 2 => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    match std::str::from_utf8(&payload[2..]) {
                        Ok(reason) => {
                            fields.push(format!("code: {code}"));
                            if !reason.is_empty() {
                                fields.push(format!("reason: {}", double(&literal(reason))));
                            }
                        }
                        Err(_) => fields.push(format!("raw: {}", single(&raw(payload)))),
                    }
                }
                (_, _) if payload.is_empty() => {}
                (opcode::TEXT | opcode::CONTINUATION, Ok(text)) => {
                    fields.push(format!("text: {}", double(&literal(text))))
                }
                _ => fields.push(format!("raw: {}", single(&raw(payload)))),
            }
            format!("  - frame: {{ {} }}\n", fields.join(", "))
        }
        Step::Capture(capture) => {
            let source = match &capture.source {
                Source::SseId => "sse: id".to_string(),
                Source::Json(pointer) => format!("json: {}", double(pointer)),
                Source::Header(name) => format!("header: {name}"),
            };
            let redact = if capture.redact {
                ""
            } else {
                ", redact: false"
            };
            format!(
                "  - capture: {{ name: {}, on: {}, {source}{redact} }}\n",
                capture.name, capture.on
            )
        }
    }
}

fn until_text(until: &Unit) -> String {
    match until {
        Unit::Head => "head".into(),
        Unit::Body => "body".into(),
        Unit::Close => "close".into(),
        Unit::Chunks(n) => format!("{{ chunks: {n} }}"),
        Unit::SseEvents(n) => format!("{{ sse_events: {n} }}"),
        Unit::Frames(n) => format!("{{ frames: {n} }}"),
        Unit::Bytes(n) => format!("{{ bytes: {n} }}"),
    }
}

fn opcode_name(code: u8) -> String {
    match code {
        opcode::CONTINUATION => "continuation".into(),
        opcode::TEXT => "text".into(),
        opcode::BINARY => "binary".into(),
        opcode::CLOSE => "close".into(),
        opcode::PING => "ping".into(),
        opcode::PONG => "pong".into(),
        other => other.to_string(),
    }
}

/// `250ms`, `3s`: whole seconds when the duration is one.
pub fn duration(by: Duration) -> String {
    let millis = by.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// A YAML double-quoted scalar (YAML 1.2 §7.3.1): `\` and `"` escaped, control characters as
/// escapes, everything else as it is.
pub fn double(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{85}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A YAML single-quoted scalar (YAML 1.2 §7.3.2): nothing is an escape but `''`.
pub fn single(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Bytes in the `raw:` escapes (`\r \n \t \0 \\ \xNN`): printable UTF-8 stays as it is.
pub fn raw(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\0' => out.push_str("\\0"),
                c if c.is_control()
                    || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{85}') =>
                {
                    let mut buffer = [0u8; 4];
                    for b in c.encode_utf8(&mut buffer).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_the_bytes() {
        assert_eq!(double("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(single("it's"), "'it''s'");
        assert_eq!(raw(b"GET /\r\n\xff\x01\\"), r"GET /\r\n\xff\x01\\");
        assert_eq!(duration(Duration::from_millis(2500)), "2500ms");
        assert_eq!(duration(Duration::from_secs(3)), "3s");
    }

    #[test]
    fn a_script_is_written_one_step_a_line() {
        let script = Script {
            steps: vec![
                Step::Open("sse".into()),
                Step::SendHttp {
                    to: "sse".into(),
                    head: "GET /sseStream HTTP/1.1\nHost: ${host}".into(),
                    body: None,
                },
                Step::Read {
                    from: "sse".into(),
                    until: Unit::SseEvents(2),
                },
                Step::Frame {
                    to: "ws".into(),
                    fin: true,
                    rsv: 0,
                    opcode: opcode::CLOSE,
                    payload: vec![0x03, 0xe8],
                },
                Step::Tick(Duration::from_secs(2)),
            ],
            ..Script::default()
        };
        let header = Header {
            description: "x".into(),
            ..Header::default()
        };
        assert_eq!(
            spec_text(&header, &script),
            "description: \"x\"\nsteps:\n  - open: sse\n  - send:\n      to: sse\n      http: |\n        GET /sseStream HTTP/1.1\n        Host: ${host}\n  - read: { from: sse, until: { sse_events: 2 } }\n  - frame: { to: ws, opcode: close, code: 1000 }\n  - tick: 2s\n"
        );
    }
}
