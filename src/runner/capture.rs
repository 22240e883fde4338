//! `capture: { name, header | json | regex | sse }`: takes one value from what a connection has
//! received so far (the last response head, its body, the last SSE event) and keeps it as the
//! variable `${name}` for later steps.

use super::connection::Connection;
use super::error::StepFailure;
use super::transcript::{quoted, Transcript};
use super::vars::Vars;
use crate::spec::{Capture, CaptureSource, SseField};

/// The longest value a capture keeps: a guard against a hostile body copied into every later step.
pub const MAX_CAPTURE: usize = 64 * 1024;

/// Runs one `capture` step.
pub fn capture(
    connection: &Connection,
    step: &Capture,
    vars: &mut Vars,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let value = find(connection, &step.source).map_err(|reason| StepFailure::Capture {
        name: step.name.clone(),
        reason,
    })?;
    if value.len() > MAX_CAPTURE {
        return Err(StepFailure::Capture {
            name: step.name.clone(),
            reason: format!("the value has {} bytes, over {MAX_CAPTURE}", value.len()),
        });
    }
    // A redacted value shows as `<name>` once the transcript is redacted.
    transcript.note(format!(
        "capture {} = {}",
        step.name,
        quoted(value.as_bytes())
    ));
    vars.capture(&step.name, value, step.redact);
    Ok(())
}

fn find(connection: &Connection, source: &CaptureSource) -> Result<String, String> {
    let body = || String::from_utf8_lossy(&connection.body);
    match source {
        CaptureSource::Header(name) => connection
            .head
            .as_ref()
            .ok_or_else(|| "no response head was read on this connection".to_string())?
            .header(name)
            .map(str::to_string)
            .ok_or_else(|| format!("the last response head has no {name} header")),
        CaptureSource::Json(pointer) => {
            let json: serde_json::Value =
                serde_json::from_slice(&connection.body).map_err(|e| {
                    format!(
                        "the body ({} bytes) is not JSON: {e}",
                        connection.body.len()
                    )
                })?;
            match json.pointer(pointer) {
                Some(serde_json::Value::String(text)) => Ok(text.clone()),
                Some(other) => Ok(other.to_string()),
                None => Err(format!("the body's JSON has nothing at {pointer:?}")),
            }
        }
        CaptureSource::Regex(pattern) => {
            let body = body();
            let captures = pattern
                .captures(&body)
                .ok_or_else(|| format!("the body does not match /{pattern}/"))?;
            let found = captures.get(1).or_else(|| captures.get(0));
            found
                .map(|m| m.as_str().to_string())
                .ok_or_else(|| format!("group 1 of /{pattern}/ took part in no match"))
        }
        CaptureSource::Sse(field) => {
            let event = connection
                .last_event
                .as_ref()
                .ok_or_else(|| "no SSE event was read on this connection".to_string())?;
            match field {
                SseField::Id => event
                    .id
                    .clone()
                    .ok_or_else(|| "the last SSE event has no id".to_string()),
                SseField::Event => Ok(event.event.clone()),
                SseField::Data => Ok(event.data.clone()),
            }
        }
        CaptureSource::Frame => {
            let (_, payload) = connection
                .last_frame
                .as_ref()
                .ok_or_else(|| "no WebSocket frame was read on this connection".to_string())?;
            String::from_utf8(payload.clone())
                .map_err(|_| "the last frame's payload is not UTF-8".to_string())
        }
    }
}
