//! One named raw connection of a replay (`open`/`close`), TCP or TLS over TCP
//! ([`Stream`]), with a receive buffer of the (decrypted) bytes read but not yet consumed by a
//! step. Reads take exactly the bytes a condition needs from that buffer, so transcripts never
//! depend on where TCP or TLS records split the stream.

use std::time::Instant;

use async_std::io::prelude::*;

use super::read::Deadline;
use super::transport::{self, Stream};
use crate::wire::deflate::Inflater;
use crate::wire::http::ResponseHead;
use crate::wire::sse;

/// The most bytes kept unconsumed for one connection before the step fails (a flood guard).
pub const MAX_BUFFERED: usize = 64 * 1024 * 1024;

/// How the body after the last response head is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No response head read yet, or the last body is complete: bytes are read raw.
    Raw,
    /// `Transfer-Encoding: chunked`; `done` once the last chunk was read.
    Chunked {
        /// The last (empty) chunk has been read.
        done: bool,
    },
    /// `Content-Length`: this many body bytes still to come.
    Length(u64),
    /// No length: the body runs until the peer closes.
    UntilClose,
    /// After a `101 Switching Protocols`: WebSocket frames.
    WebSocket,
}

/// Why [`Connection::fill`] got no bytes.
#[derive(Debug)]
pub enum FillError {
    /// The step's deadline passed.
    TimedOut,
    /// The buffer is over [`MAX_BUFFERED`].
    Flood,
}

/// A connection and what the runner knows about its stream so far.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    /// Received, not yet consumed by a step.
    pending: Vec<u8>,
    /// The peer closed (or reset) its side.
    eof: bool,
    /// Bytes the current step consumed, for error messages.
    step_bytes: Vec<u8>,
    /// How the current body is framed.
    pub framing: Framing,
    /// The last response head read.
    pub head: Option<ResponseHead>,
    /// The decoded body of the last response, as far as it has been read.
    pub body: Vec<u8>,
    /// Decoded chunk data not yet taken by the SSE parser.
    pub sse_pending: Vec<u8>,
    /// The SSE parser of the current response.
    pub sse: sse::Parser,
    /// The last SSE event dispatched.
    pub last_event: Option<sse::Dispatched>,
    /// The last WebSocket close frame received: `Some(None)` when it had no code.
    pub last_close: Option<Option<u16>>,
    /// The last WebSocket frame received: its opcode and unmasked payload.
    pub last_frame: Option<(u8, Vec<u8>)>,
    /// An HTTP request was sent and its response head not read yet.
    pub awaiting_head: bool,
    /// permessage-deflate, when the handshake's answer accepted it (RFC 7692).
    pub deflate: Option<Inflater>,
    /// A compressed message whose last fragment has not come yet: its opcode and the
    /// compressed bytes so far (RFC 7692 §6.1: RSV1 on the first frame only).
    pub compressed: Option<(u8, Vec<u8>)>,
}

impl Connection {
    /// This end's address (the server sees it as its client's).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.stream.tcp().local_addr().ok()
    }

    /// Connects to `authority` (`host:port`) over plain TCP.
    pub async fn open(authority: &str) -> std::io::Result<Connection> {
        match transport::connect(authority, None, crate::spec::DEFAULT_TIMEOUT).await {
            Ok(connected) => Ok(Connection::over(connected.stream)),
            Err(transport::ConnectError::Unreachable(error)) => Err(error),
            Err(error) => Err(std::io::Error::other(error.to_string())),
        }
    }

    /// A connection on a stream already connected (and, for TLS, through its handshake).
    pub fn over(stream: Stream) -> Connection {
        Connection {
            stream,
            pending: Vec::new(),
            eof: false,
            step_bytes: Vec::new(),
            framing: Framing::Raw,
            head: None,
            body: Vec::new(),
            sse_pending: Vec::new(),
            sse: sse::Parser::default(),
            last_event: None,
            last_close: None,
            last_frame: None,
            awaiting_head: false,
            deflate: None,
            compressed: None,
        }
    }

    /// Writes every byte, within [`crate::spec::DEFAULT_TIMEOUT`]: a peer that never reads
    /// cannot hold the step.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_until(bytes, Deadline::after(crate::spec::DEFAULT_TIMEOUT))
            .await
    }

    /// Writes every byte before `deadline`, or fails with [`std::io::ErrorKind::TimedOut`].
    pub async fn write_until(&mut self, bytes: &[u8], deadline: Deadline) -> std::io::Result<()> {
        let left = deadline.at().saturating_duration_since(Instant::now());
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match async_std::future::timeout(left, write).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the peer did not take {} bytes within {} (it does not read)",
                    bytes.len(),
                    // As the spec wrote it: what is left when the write starts can be less.
                    super::transcript::format_duration(deadline.timeout())
                ),
            )),
        }
    }

    /// Closes both directions (a later read sees nothing more); over TLS, after a close_notify.
    pub async fn close(&mut self) {
        self.stream.close().await;
    }

    /// Bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// Whether the peer has closed its side.
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Starts a step: forgets what the previous step consumed.
    pub fn begin_step(&mut self) {
        self.step_bytes.clear();
    }

    /// Bytes this step consumed plus those still pending, for error messages.
    pub fn seen_in_step(&self) -> Vec<u8> {
        let mut seen = self.step_bytes.clone();
        seen.extend_from_slice(&self.pending);
        seen
    }

    /// Reads once more from the socket into the buffer. `Ok(false)` at end of stream (a reset
    /// counts as the end too: either way nothing more will come).
    pub async fn fill(&mut self, deadline: Instant) -> Result<bool, FillError> {
        if self.eof {
            return Ok(false);
        }
        if self.pending.len() > MAX_BUFFERED {
            return Err(FillError::Flood);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(FillError::TimedOut);
        }
        let mut buffer = [0u8; 16 * 1024];
        match async_std::future::timeout(deadline - now, self.stream.read(&mut buffer)).await {
            Err(_) => Err(FillError::TimedOut),
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                Ok(false)
            }
            Ok(Ok(read)) => {
                self.pending.extend_from_slice(&buffer[..read]);
                Ok(true)
            }
        }
    }

    /// Consumes the first `count` pending bytes (fewer if fewer are pending).
    pub fn take(&mut self, count: usize) -> Vec<u8> {
        let count = count.min(self.pending.len());
        let taken: Vec<u8> = self.pending.drain(..count).collect();
        self.step_bytes.extend_from_slice(&taken);
        taken
    }

    /// Whether the decoded body, or the chunk data the SSE parser has not taken, is over
    /// [`MAX_BUFFERED`].
    pub fn body_full(&self) -> bool {
        self.body.len() > MAX_BUFFERED || self.sse_pending.len() > MAX_BUFFERED
    }

    /// Counts raw bytes consumed outside chunk decoding toward the current body.
    pub fn account_body(&mut self, bytes: &[u8]) {
        match self.framing {
            Framing::Length(remaining) => {
                let used = (bytes.len() as u64).min(remaining);
                self.body.extend_from_slice(&bytes[..used as usize]);
                self.framing = if used == remaining {
                    Framing::Raw
                } else {
                    Framing::Length(remaining - used)
                };
            }
            Framing::UntilClose => self.body.extend_from_slice(bytes),
            Framing::Raw | Framing::Chunked { .. } | Framing::WebSocket => {}
        }
    }

    /// A response head was read: the body that follows starts empty with this framing.
    pub fn start_response(&mut self, head: ResponseHead, framing: Framing) {
        self.head = Some(head);
        self.framing = framing;
        self.body.clear();
        self.sse_pending.clear();
        self.sse = sse::Parser::default();
        self.awaiting_head = false;
    }
}

impl Connection {
    /// The next SSE block: from decoded chunk data when the body is chunked (`chunked`), else from
    /// the raw pending bytes. Returns the block and the bytes it used from that source; the caller
    /// consumes them ([`Connection::take`] or [`Connection::drop_sse_pending`]).
    pub fn next_sse_block(&mut self, chunked: bool) -> Option<(sse::Block, usize)> {
        let source = if chunked {
            &self.sse_pending
        } else {
            &self.pending
        };
        self.sse.next_block(source)
    }

    /// Drops the first `count` bytes of decoded chunk data (the SSE parser used them).
    pub fn drop_sse_pending(&mut self, count: usize) {
        let count = count.min(self.sse_pending.len());
        self.sse_pending.drain(..count);
    }
}
