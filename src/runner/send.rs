//! `send: { to, raw | http + body }`: writes the spec's bytes (its variables replaced, and with
//! `http:` + `body:` its `Content-Length`), nothing else added.

use super::connection::{Connection, Framing};
use super::error::StepFailure;
use super::read::Deadline;
use super::transcript::Transcript;

/// Runs one `send` step: writes `bytes`, all of them within `timeout` (a peer that never reads
/// cannot hold the step).
pub async fn send(
    connection: &mut Connection,
    bytes: &[u8],
    timeout: std::time::Duration,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    connection
        .write_until(bytes, Deadline::after(timeout))
        .await?;
    transcript.sent(bytes);
    // Bytes sent outside a WebSocket are a request that waits for a response head; a `tick`
    // first lets such a request park on the server.
    if connection.framing != Framing::WebSocket {
        connection.awaiting_head = true;
    }
    Ok(())
}
