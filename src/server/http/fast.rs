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
use std::task::{Context, Poll};

use futures_lite::io::AsyncWrite;
use futures_lite::{future, AsyncWriteExt};

use super::client::ClientConnection;
use super::encode;
use super::head::Admitted;
use super::readiness::Watch;
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
/// boundaries are what transcripts see); a piece that goes out alone and is framed already
/// ([`Piece::as_chunk`]) is written from its shared bytes. Between writes the connection keeps
/// no buffer: an idle stream holds its pieces' state and nothing else.
///
/// Per wake-up, the stream is polled until it has nothing ready, and not again before the next
/// wake-up; the client's close is watched only when the reactor signals the socket.
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
    let mut watch = Watch::default();
    // The last batch ended with the stream waiting, and no wake-up was taken since: the stream
    // and the watch hold this task's waker, so nothing is ready before the next wake-up.
    let mut asleep = false;
    loop {
        let first = future::poll_fn(|cx| {
            if std::mem::take(&mut asleep) {
                return Poll::Pending;
            }
            match pull(&mut pieces, &mut watch, client_gone.as_mut(), cx) {
                Pulled::Waits => Poll::Pending,
                Pulled::Gone => Poll::Ready(None),
                Pulled::Piece(piece) => Poll::Ready(Some(piece)),
            }
        })
        .await;
        let Some(first) = first else {
            return Err(io::ErrorKind::ConnectionAborted.into());
        };
        // The rest of the batch: pieces ready now.
        let mut next = future::poll_fn(|cx| {
            Poll::Ready(pull(&mut pieces, &mut watch, client_gone.as_mut(), cx))
        });
        let (mut ended, mut waits) = (first.is_none(), false);
        let lone = match first {
            // Alone and framed already: written from the shared bytes, with no copy.
            Some(piece) if out.is_empty() && piece.as_chunk().is_some() => {
                match (&mut next).await {
                    Pulled::Waits => {
                        waits = true;
                        Some(piece)
                    }
                    Pulled::Gone => return Err(io::ErrorKind::ConnectionAborted.into()),
                    Pulled::Piece(second) => {
                        frame_piece(Some(piece), &mut out);
                        ended = !frame_piece(second, &mut out);
                        None
                    }
                }
            }
            first => {
                ended = !frame_piece(first, &mut out);
                None
            }
        };
        while lone.is_none() && !ended && !waits && out.len() < WRITE_BATCH {
            match (&mut next).await {
                Pulled::Piece(piece) => ended = !frame_piece(piece, &mut out),
                Pulled::Waits => waits = true,
                Pulled::Gone => return Err(io::ErrorKind::ConnectionAborted.into()),
            }
        }
        // Whether the write had to wait for the socket: a wake-up taken then may have been the
        // stream's, so the stream is polled again after it.
        let mut suspended = false;
        let written = match lone.as_ref().and_then(Piece::as_chunk) {
            Some(chunk) => write_noting(client, chunk, &mut suspended).await,
            None if !out.is_empty() => write_noting(client, &out, &mut suspended).await,
            None => Ok(()),
        };
        written?;
        out = Vec::new();
        if ended {
            return Ok(());
        }
        asleep = waits && !suspended;
        busy = if waits { 0 } else { busy + 1 };
        if busy >= YIELD_AFTER {
            busy = 0;
            asleep = false;
            future::yield_now().await;
        }
    }
}

/// What one pull of a streamed body gave.
enum Pulled {
    /// A piece, or the end of the stream (`None`).
    Piece(Option<Piece>),
    /// Nothing ready: the stream (and the watch) will wake the task.
    Waits,
    /// The client closed the connection.
    Gone,
}

/// Polls `pieces` once; when it waits, the client's close too (through `watch`).
fn pull<F: std::future::Future<Output = ()> + ?Sized>(
    pieces: &mut Pieces,
    watch: &mut Watch,
    client_gone: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Pulled {
    match pieces.as_mut().poll_next(cx) {
        Poll::Ready(piece) => Pulled::Piece(piece),
        Poll::Pending if watch.poll(cx, client_gone).is_ready() => Pulled::Gone,
        Poll::Pending => Pulled::Waits,
    }
}

/// Writes all of `bytes`, noting in `suspended` whether the socket made it wait.
async fn write_noting(
    writer: &mut ClientConnection,
    mut bytes: &[u8],
    suspended: &mut bool,
) -> io::Result<()> {
    future::poll_fn(|cx| {
        while !bytes.is_empty() {
            match Pin::new(&mut *writer).poll_write(cx, bytes) {
                Poll::Pending => {
                    *suspended = true;
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => bytes = &bytes[n..],
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    })
    .await
}

/// Appends `piece` to `out` as one HTTP chunk (as it is when it is framed already), or the last
/// chunk when the stream has ended (`None`); returns whether the stream goes on. Empty pieces add nothing: the tide route reads
/// a body through `PieceReader`, which skips them, so it sends no chunk for them either.
fn frame_piece(piece: Option<Piece>, out: &mut Vec<u8>) -> bool {
    match piece {
        Some(piece) => {
            if let Some(chunk) = piece.as_chunk() {
                out.extend_from_slice(chunk);
            } else if !piece.as_bytes().is_empty() {
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
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    use async_std::net::{TcpListener, TcpStream};
    use futures_lite::AsyncReadExt;

    use super::*;
    use crate::clock::Clock;
    use crate::server::counting_polls::CountingPolls;
    use crate::server::http::client::SendLimit;
    use crate::server::http::connections::Connections;

    #[test]
    fn each_piece_polls_the_stream_twice_at_most_and_goes_out_as_it_is() {
        // Once for the piece, once to find nothing more ready (which leaves the task registered):
        // not a third time after the write, when nothing can have changed without waking it.
        async_std::task::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("address");
            let mut peer = TcpStream::connect(addr).await.expect("connect");
            let (socket, _) = listener.accept().await.expect("accept");
            let (alive, _ended) = async_std::channel::bounded(1);
            let guard = Connections::new(alive).try_enter(1).expect("room");
            let send = Arc::new(SendLimit {
                clock: Clock::System,
                timeout: Duration::from_secs(10),
            });
            let mut client = ClientConnection::new(socket, guard, send);
            let (push, pieces) = async_std::channel::bounded::<Piece>(1);
            let (pieces, polls) = CountingPolls::over(pieces);
            let writing = async_std::task::spawn(async move {
                write(
                    &mut client,
                    b"HEAD\r\n\r\n".to_vec(),
                    Some(Box::pin(pieces)),
                )
                .await
            });
            let mut head = [0u8; 8];
            let mut chunk = [0u8; 8];
            for n in 0..50u8 {
                let bytes: Arc<[u8]> =
                    Arc::from(&[b'3', b'\r', b'\n', b'x', b'y', n, b'\r', b'\n'][..]);
                push.send(Piece::Chunk(bytes.clone()))
                    .await
                    .expect("pieces");
                if n == 0 {
                    peer.read_exact(&mut head).await.expect("the head");
                    assert_eq!(&head, b"HEAD\r\n\r\n");
                }
                peer.read_exact(&mut chunk).await.expect("the piece");
                assert_eq!(&chunk[..], &bytes[..]);
            }
            let polls = polls.load(Ordering::SeqCst);
            // One more for the first poll, which found nothing yet.
            assert!(polls <= 2 * 50 + 1, "{polls} polls for 50 pieces");
            drop(push);
            let mut rest = [0u8; 5];
            peer.read_exact(&mut rest).await.expect("the last chunk");
            assert_eq!(&rest, b"0\r\n\r\n");
            assert!(writing.await.is_ok());
        });
    }

    #[test]
    fn a_piece_is_one_chunk_an_empty_one_none_and_the_end_the_last_chunk() {
        let mut out = Vec::new();
        assert!(frame_piece(
            Some(Piece::Owned(b"data: a\n\n".to_vec())),
            &mut out
        ));
        assert!(frame_piece(Some(Piece::Owned(Vec::new())), &mut out));
        assert!(frame_piece(
            Some(Piece::Chunk(std::sync::Arc::from(
                &b"9\r\ndata: b\n\n\r\n"[..]
            ))),
            &mut out
        ));
        assert!(!frame_piece(None, &mut out));
        assert_eq!(out, b"9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n0\r\n\r\n");
    }
}
