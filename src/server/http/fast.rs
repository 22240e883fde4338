//! Fast answers: a response the accept loop writes itself, without tide, for the requests the
//! route table hands to a [`FastResponder`] (`FAST_RESPONDERS` in `server/mod.rs`), and the
//! writer that frames its body with the one chunk encoder ([`super::encode::chunk`]).
//!
//! A responder answers at once ([`FastReply::Now`]: no allocation beyond the answer), or, for a
//! request with a body, once it has read the body and done its work ([`FastReply::AfterBody`]:
//! the accept loop installs the body in the connection's gate and awaits the answer under the
//! same body deadline as a tide route's read).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_lite::{future, AsyncWriteExt, StreamExt};

use super::client::ClientConnection;
use super::encode;
use super::head::Admitted;
use super::readiness::Readiness;
use crate::server::pieces::{Piece, Pieces};
use crate::server::state::State;

/// Answers a request the accept loop may answer itself, byte for byte as tide's route would;
/// `None` sends it to tide. The connection is the one the request's body is read from.
pub type FastResponder = fn(&State, &Admitted, &ClientConnection) -> Option<FastReply>;

/// How a fast responder answers.
pub enum FastReply {
    /// Now: the request has no body.
    Now(FastAnswer),
    /// Once the request's body is read through the connection's gate and the answer computed.
    /// Once the loop awaits it, the request can no longer go to tide: it answers every outcome.
    AfterBody(Pin<Box<dyn Future<Output = FastAnswer> + Send>>),
}

impl std::fmt::Debug for FastReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FastReply::Now(answer) => f.debug_tuple("Now").field(answer).finish(),
            FastReply::AfterBody(_) => f.write_str("AfterBody(..)"),
        }
    }
}

/// A response the accept loop writes itself.
pub struct FastAnswer {
    /// The whole response, or its head when it has a streamed body.
    pub bytes: Vec<u8>,
    /// The streamed body's pieces, one HTTP chunk each.
    pub body: Option<Pieces>,
    /// The request asked to close the connection after it (`Connection: close`).
    pub close: bool,
}

impl std::fmt::Debug for FastAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastAnswer")
            .field("bytes", &self.bytes.len())
            .field("body", &self.body.is_some())
            .field("close", &self.close)
            .finish()
    }
}

/// How many bytes of ready pieces one write of a streamed body carries at most.
const WRITE_BATCH: usize = 64 * 1024;

/// How many batches a streamed body writes in a row, pieces always ready, before it yields.
const YIELD_AFTER: u32 = 16;

/// Writes `bytes`, then, for a streamed body, each piece as one chunk and the last chunk once
/// the stream ends.
///
/// The head goes out with the first piece, and pieces that are ready together (a backlog, a
/// burst) go out in one write of at most [`WRITE_BATCH`] bytes, still one chunk each (chunk
/// boundaries are what transcripts see). Between writes the connection keeps no buffer: an idle
/// stream holds its pieces' state and nothing else.
pub async fn write(
    client: &mut ClientConnection,
    bytes: Vec<u8>,
    body: Option<Pieces>,
) -> io::Result<()> {
    // Written through the client, whose writes wait at most the send timeout.
    let Some(mut pieces) = body else {
        return client.write_all(&bytes).await;
    };
    let mut out = bytes;
    // Batches written in a row without ever waiting for a piece: a stream that always has the
    // next one ready (a fast publisher on the other thread) still lets this thread's other tasks
    // run now and then (async-std has no budget of its own).
    let mut busy = 0;
    // A client that closes (FIN) or resets while the stream waits ends it, and frees its
    // connection, at once. The watch is polled only when the reactor signalled the socket: a
    // wake-up for a piece does not peek the socket (and re-arm it) again.
    let watched = client.socket().clone();
    let mut client_gone = Box::pin(async move { crate::server::peer::closed(&watched).await });
    let readiness = Arc::new(Readiness::default());
    loop {
        // One poll per piece: whether it had to wait is seen on the way.
        let mut waited = false;
        let mut gone = false;
        let first = future::poll_fn(|cx| {
            let next = pieces.as_mut().poll_next(cx);
            waited |= next.is_pending();
            if next.is_pending() && readiness.poll_future(cx, client_gone.as_mut()).is_ready() {
                gone = true;
                return Poll::Ready(None);
            }
            next
        })
        .await;
        if gone {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        busy = if waited { 0 } else { busy + 1 };
        if busy >= YIELD_AFTER {
            busy = 0;
            future::yield_now().await;
        }
        let mut ended = !frame_piece(first, &mut out);
        while !ended && out.len() < WRITE_BATCH {
            match future::poll_once(pieces.next()).await {
                Some(piece) => ended = !frame_piece(piece, &mut out),
                None => break,
            }
        }
        if !out.is_empty() {
            client.write_all(&out).await?;
        }
        out = Vec::new();
        if ended {
            return Ok(());
        }
    }
}

/// Appends `piece` to `out` as one HTTP chunk, or the last chunk when the stream has ended
/// (`None`); returns whether the stream goes on. Empty pieces add nothing: the tide route reads
/// a body through `PieceReader`, which skips them, so it sends no chunk for them either.
fn frame_piece(piece: Option<Piece>, out: &mut Vec<u8>) -> bool {
    match piece {
        Some(piece) => {
            if !piece.as_bytes().is_empty() {
                encode::chunk(piece.as_bytes(), out);
            }
            true
        }
        None => {
            encode::chunk(&[], out);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_is_one_chunk_an_empty_one_none_and_the_end_the_last_chunk() {
        let mut out = Vec::new();
        assert!(frame_piece(
            Some(Piece::Owned(b"data: a\n\n".to_vec())),
            &mut out
        ));
        assert!(frame_piece(Some(Piece::Owned(Vec::new())), &mut out));
        assert!(!frame_piece(None, &mut out));
        assert_eq!(out, b"9\r\ndata: a\n\n\r\n0\r\n\r\n");
    }
}
