//! The body of every streaming response (SSE, forever iframe): a `Stream` of pieces read as
//! `AsyncRead`/`AsyncBufRead`, one piece per read and never two merged.
//!
//! Why: the response writer ([`super::http::exchange`]) frames one HTTP chunk per read of the
//! body, so handing out exactly one piece (the prelude, one message, one heartbeat) per read makes
//! chunk boundaries deterministic, which byte-exact transcripts need. The adapter is its own `AsyncBufRead`, so
//! `Body::from_reader` takes it without a `BufReader` that could merge pieces. A piece larger than
//! the reader's buffer is handed out over several reads (several chunks), still never merged.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_lite::io::{AsyncBufRead, AsyncRead};
use futures_lite::Stream;

/// A boxed stream of pieces.
pub type Pieces = Pin<Box<dyn Stream<Item = Piece> + Send + 'static>>;

/// One piece: bytes of this response only, or bytes shared by every subscriber of a message
/// (encoded once, see [`crate::hub::Message::sse_event`]).
#[derive(Debug, Clone)]
pub enum Piece {
    /// Bytes of this response only.
    Owned(Vec<u8>),
    /// Bytes shared with other responses.
    Shared(Arc<[u8]>),
    /// Bytes shared with other responses, framed as one HTTP/1.1 chunk (`SIZE CRLF DATA CRLF`,
    /// see [`crate::hub::Message::sse_chunk`]): a chunked writer sends them as they are.
    Chunk(Arc<[u8]>),
}

impl Piece {
    /// The piece's bytes (of a [`Piece::Chunk`], its data).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Piece::Owned(bytes) => bytes,
            Piece::Shared(bytes) => bytes,
            Piece::Chunk(chunk) => chunk_data(chunk),
        }
    }

    /// The piece as one HTTP/1.1 chunk, when it is already framed as one.
    pub fn as_chunk(&self) -> Option<&[u8]> {
        match self {
            Piece::Chunk(chunk) => Some(chunk),
            _ => None,
        }
    }
}

/// The data of one framed chunk: after the size line's CRLF, before the closing CRLF (RFC 9112
/// §7.1). Empty for bytes that are not a chunk.
fn chunk_data(chunk: &[u8]) -> &[u8] {
    let start = chunk
        .iter()
        .position(|b| *b == b'\n')
        .map_or(chunk.len(), |lf| lf + 1);
    chunk
        .get(start..chunk.len().saturating_sub(2))
        .unwrap_or_default()
}

impl From<Vec<u8>> for Piece {
    fn from(bytes: Vec<u8>) -> Self {
        Piece::Owned(bytes)
    }
}

/// Reads a [`Pieces`] stream one piece at a time.
pub struct PieceReader {
    /// Behind a `Mutex` only to be `Sync` (as `http_types::Body` requires); `get_mut` never locks.
    pieces: Mutex<Pieces>,
    piece: Piece,
    pos: usize,
    done: bool,
}

impl std::fmt::Debug for PieceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PieceReader")
            .field("pending", &(self.piece.as_bytes().len() - self.pos))
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl PieceReader {
    /// A reader over `pieces`.
    pub fn new(pieces: Pieces) -> PieceReader {
        PieceReader {
            pieces: Mutex::new(pieces),
            piece: Piece::Owned(Vec::new()),
            pos: 0,
            done: false,
        }
    }

    /// Makes sure the current piece has bytes left, fetching the next non-empty piece if not.
    /// Ready(false) at the end of the stream.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        while self.pos >= self.piece.as_bytes().len() {
            if self.done {
                return Poll::Ready(false);
            }
            let pieces = self.pieces.get_mut().unwrap_or_else(|e| e.into_inner());
            match pieces.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(piece)) => {
                    self.piece = piece;
                    self.pos = 0;
                }
            }
        }
        Poll::Ready(true)
    }
}

impl AsyncRead for PieceReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match this.poll_piece(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(false) => Poll::Ready(Ok(0)),
            Poll::Ready(true) => {
                let rest = &this.piece.as_bytes()[this.pos..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                this.pos += n;
                Poll::Ready(Ok(n))
            }
        }
    }
}

impl AsyncBufRead for PieceReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        match this.poll_piece(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(false) => Poll::Ready(Ok(&[])),
            Poll::Ready(true) => Poll::Ready(Ok(&this.piece.as_bytes()[this.pos..])),
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.piece.as_bytes().len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::{future, stream, AsyncReadExt};

    fn reader(pieces: &[&str]) -> PieceReader {
        let owned: Vec<Piece> = pieces
            .iter()
            .map(|p| p.as_bytes().to_vec().into())
            .collect();
        PieceReader::new(Box::pin(stream::iter(owned)))
    }

    #[test]
    fn a_chunk_piece_reads_as_its_data() {
        let piece = Piece::Chunk(Arc::from(&b"9\r\ndata: a\n\n\r\n"[..]));
        assert_eq!(piece.as_bytes(), b"data: a\n\n");
        assert_eq!(piece.as_chunk(), Some(&b"9\r\ndata: a\n\n\r\n"[..]));
        assert_eq!(Piece::Chunk(Arc::from(&b"0"[..])).as_bytes(), b"");
        assert_eq!(Piece::Owned(b"x".to_vec()).as_chunk(), None);
    }

    #[test]
    fn each_read_returns_exactly_one_piece() {
        let mut r = reader(&["retry: 10000\n\n", "", "id: 1\ndata: a\n\n"]);
        let mut buf = [0u8; 64];
        let reads: Vec<Vec<u8>> = future::block_on(async {
            let mut out = Vec::new();
            loop {
                let n = r.read(&mut buf).await.expect("in-memory read");
                if n == 0 {
                    break out;
                }
                out.push(buf[..n].to_vec());
            }
        });
        assert_eq!(
            reads,
            vec![b"retry: 10000\n\n".to_vec(), b"id: 1\ndata: a\n\n".to_vec()]
        );
    }

    #[test]
    fn a_piece_larger_than_the_buffer_spans_reads_without_merging_the_next() {
        let mut r = reader(&["abcdef", "gh"]);
        let mut buf = [0u8; 4];
        future::block_on(async {
            assert_eq!(r.read(&mut buf).await.ok(), Some(4));
            assert_eq!(&buf, b"abcd");
            assert_eq!(r.read(&mut buf).await.ok(), Some(2));
            assert_eq!(&buf[..2], b"ef");
            assert_eq!(r.read(&mut buf).await.ok(), Some(2));
            assert_eq!(&buf[..2], b"gh");
            assert_eq!(r.read(&mut buf).await.ok(), Some(0));
        });
    }

    #[test]
    fn fill_buf_shows_one_piece_at_a_time() {
        let mut r = reader(&["one", "two"]);
        future::block_on(async {
            use futures_lite::AsyncBufReadExt;
            assert_eq!(r.fill_buf().await.ok(), Some(&b"one"[..]));
            Pin::new(&mut r).consume(3);
            assert_eq!(r.fill_buf().await.ok(), Some(&b"two"[..]));
        });
    }
}
