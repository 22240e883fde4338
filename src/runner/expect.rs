//! `expect: { on, status, header, body_contains, body_matches, sse, close_code }`: plain
//! assertions on what a connection received so far, checked beside the snapshot.

use super::connection::Connection;
use super::error::StepFailure;
use super::transcript::Transcript;
use crate::spec::Expect;

/// Runs one `expect` step: every assertion given must hold; the transcript notes what held.
pub fn expect(
    connection: &Connection,
    step: &Expect,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let mut held = Vec::new();
    if let Some(status) = step.status {
        let actual = connection.head.as_ref().map(|head| head.status);
        if actual != Some(status) {
            return Err(mismatch(
                format!("status {status}"),
                actual.map_or("no response head".to_string(), |s| format!("status {s}")),
            ));
        }
        held.push(format!("status={status}"));
    }
    for (name, value) in &step.headers {
        let actual = connection.head.as_ref().and_then(|head| head.header(name));
        if actual != Some(value.as_str()) {
            return Err(mismatch(
                format!("header {name}: {value}"),
                actual.map_or(format!("no {name} header"), |a| format!("{name}: {a}")),
            ));
        }
        held.push(format!("{}={value}", name.to_ascii_lowercase()));
    }
    let body = String::from_utf8_lossy(&connection.body);
    if let Some(needle) = &step.body_contains {
        if !body.contains(needle.as_str()) {
            return Err(mismatch(
                format!("a body containing {needle:?}"),
                format!("{} body bytes: {:?}", connection.body.len(), shorten(&body)),
            ));
        }
        held.push(format!("body contains {needle:?}"));
    }
    if let Some(pattern) = &step.body_matches {
        if !pattern.is_match(&body) {
            return Err(mismatch(
                format!("a body matching /{pattern}/"),
                format!("{} body bytes: {:?}", connection.body.len(), shorten(&body)),
            ));
        }
        held.push(format!("body matches /{pattern}/"));
    }
    if let Some(wanted) = step.sse.as_ref().and_then(|sse| sse.retry) {
        let actual = connection.sse.retry();
        if actual != Some(wanted) {
            return Err(mismatch(
                format!("sse retry {wanted}"),
                actual.map_or("no retry: field read yet".to_string(), |a| {
                    format!("retry {a}")
                }),
            ));
        }
        held.push(format!("sse retry={wanted}"));
    }
    if let Some(sse) = step
        .sse
        .as_ref()
        .filter(|sse| sse.event.is_some() || sse.id.is_some() || sse.data.is_some())
    {
        let Some(event) = &connection.last_event else {
            return Err(mismatch("an SSE event".into(), "none read yet".into()));
        };
        let checks = [
            ("event", sse.event.as_deref(), Some(event.event.as_str())),
            ("id", sse.id.as_deref(), event.id.as_deref()),
            ("data", sse.data.as_deref(), Some(event.data.as_str())),
        ];
        for (field, wanted, actual) in checks {
            if let Some(wanted) = wanted {
                if Some(wanted) != actual {
                    return Err(mismatch(
                        format!("sse {field} {wanted:?}"),
                        actual.map_or(format!("no {field}"), |a| format!("{field} {a:?}")),
                    ));
                }
                held.push(format!("sse {field}={wanted:?}"));
            }
        }
    }
    if let Some(code) = step.close_code {
        match connection.last_close {
            Some(Some(actual)) if actual == code => held.push(format!("close_code={code}")),
            Some(Some(actual)) => {
                return Err(mismatch(
                    format!("close code {code}"),
                    format!("close code {actual}"),
                ))
            }
            Some(None) => {
                return Err(mismatch(
                    format!("close code {code}"),
                    "a close frame without a code".into(),
                ))
            }
            None => {
                return Err(mismatch(
                    format!("close code {code}"),
                    "no close frame".into(),
                ))
            }
        }
    }
    if let Some(frame) = &step.frame {
        let Some((opcode, payload)) = &connection.last_frame else {
            return Err(mismatch("a WebSocket frame".into(), "none read yet".into()));
        };
        if let Some(wanted) = frame.opcode {
            if wanted.code() != *opcode {
                return Err(mismatch(
                    format!("frame opcode {:#x}", wanted.code()),
                    format!("opcode {opcode:#x}"),
                ));
            }
            held.push(format!("frame opcode={:#x}", wanted.code()));
        }
        let text = String::from_utf8_lossy(payload);
        if let Some(wanted) = &frame.text {
            if payload.as_slice() != wanted.as_bytes() {
                return Err(mismatch(
                    format!("frame text {}", shown(wanted)),
                    format!("{} payload bytes: {:?}", payload.len(), shorten(&text)),
                ));
            }
            held.push(format!("frame text={}", shown(wanted)));
        }
        if let Some(wanted) = &frame.json {
            let actual: Result<serde_json::Value, _> = serde_json::from_slice(payload);
            match actual {
                Ok(actual) if &actual == wanted => held.push(format!("frame json={wanted}")),
                Ok(actual) => {
                    return Err(mismatch(
                        format!("frame json {wanted}"),
                        format!("json {actual}"),
                    ))
                }
                Err(error) => {
                    return Err(mismatch(
                        format!("frame json {wanted}"),
                        format!("a payload that is not JSON ({error}): {:?}", shorten(&text)),
                    ))
                }
            }
        }
        if let Some(wanted) = &frame.binary {
            if payload != wanted {
                return Err(mismatch(
                    format!("frame payload {}", super::transcript::quoted(wanted)),
                    format!("\"{}\"", shorten(&crate::wire::escape::escape(payload))),
                ));
            }
            held.push(format!("frame binary ({} bytes)", wanted.len()));
        }
    }
    transcript.note(format!("expect ok: {}", held.join(", ")));
    Ok(())
}

fn mismatch(expected: String, actual: String) -> StepFailure {
    StepFailure::Expectation { expected, actual }
}

/// `"text"` as Rust's Debug writes it, or elided with its length and SHA-256 when long.
fn shown(text: &str) -> String {
    if text.len() > super::transcript::ELIDE_OVER {
        super::transcript::quoted(text.as_bytes())
    } else {
        format!("{text:?}")
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}
