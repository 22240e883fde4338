//! `frame: { to, opcode, fin, rsv, mask, text | raw | code + reason }`: writes one WebSocket frame
//! exactly as asked, malformed if the spec says so, and names frames in the transcript
//! (`ws fin=1 opcode=text mask=none len=5 "Hello"`).

use super::connection::Connection;
use super::error::StepFailure;
use super::read::Deadline;
use super::transcript::{quoted, Transcript};
use crate::spec::{self, Mask};
use crate::wire::deflate;
use crate::wire::websocket::{encode_frame, opcode, Frame};

/// Runs one `frame` step.
pub async fn frame(
    connection: &mut Connection,
    step: &spec::Frame,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    // RFC 7692 §6.1: a compressed message has RSV1 set on its first frame.
    let (rsv, payload) = if step.compress {
        (step.rsv | 4, deflate::compress(&step.payload))
    } else {
        (step.rsv, step.payload.clone())
    };
    let frame = Frame {
        fin: step.fin,
        rsv,
        opcode: step.opcode.code(),
        mask: match step.mask {
            Mask::None => None,
            Mask::Key(key) => Some(key),
        },
        payload,
    };
    let bytes = encode_frame(&frame);
    // A peer that never reads cannot hold the step.
    connection
        .write_until(&bytes, Deadline::after(step.timeout))
        .await?;
    transcript.sent(&bytes);
    transcript.note(describe_frame(&frame));
    if step.compress {
        transcript.note(format!(
            "ws compressed (permessage-deflate) from len={} {}",
            step.payload.len(),
            quoted(&step.payload)
        ));
    }
    Ok(())
}

/// `ws fin=1 opcode=text mask=none len=5 "Hello"`; a close frame shows its code and reason.
pub fn describe_frame(frame: &Frame) -> String {
    let name = match frame.opcode {
        opcode::CONTINUATION => "continuation".to_string(),
        opcode::TEXT => "text".to_string(),
        opcode::BINARY => "binary".to_string(),
        opcode::CLOSE => "close".to_string(),
        opcode::PING => "ping".to_string(),
        opcode::PONG => "pong".to_string(),
        other => format!("0x{other:x}"),
    };
    let mask = match frame.mask {
        None => "none".to_string(),
        Some(key) => key.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let mut text = format!("ws fin={}", u8::from(frame.fin));
    if frame.rsv != 0 {
        text.push_str(&format!(" rsv={}", frame.rsv));
    }
    text.push_str(&format!(
        " opcode={name} mask={mask} len={}",
        frame.payload.len()
    ));
    match (frame.opcode, frame.payload.as_slice()) {
        (opcode::CLOSE, [high, low, reason @ ..]) => {
            let code = u16::from_be_bytes([*high, *low]);
            text.push_str(&format!(" code={code} reason={}", quoted(reason)));
        }
        (_, []) => {}
        (_, payload) => {
            text.push(' ');
            text.push_str(&quoted(payload));
        }
    }
    text
}
