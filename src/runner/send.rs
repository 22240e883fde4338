//! `send: { to, raw | http + body }`: writes the spec's bytes, nothing added.

use super::connection::{Connection, Framing};
use super::error::StepFailure;
use super::transcript::Transcript;
use crate::spec::Send;

/// Runs one `send` step.
pub async fn send(
    connection: &mut Connection,
    step: &Send,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let bytes = step.bytes();
    connection.write(&bytes).await?;
    transcript.sent(&bytes);
    // Bytes sent outside a WebSocket are a request that waits for a response head; a `tick`
    // first lets such a request park on the server.
    if connection.framing != Framing::WebSocket {
        connection.awaiting_head = true;
    }
    Ok(())
}
