//! One client connection, read one request at a time.
//!
//! The connection reads each request head itself ([`ClientConnection::next_head`], checked by
//! [`super::head::admit`]); the route then reads the request's body through the gate, which
//! hands out its content (a chunked body decoded, [`super::body`]) and not one byte more, then
//! end of stream. Bytes read past the request wait in the gate for the next head. After an
//! upgrade request's head the gate opens: the upgraded protocol reads everything, leftovers
//! first, then straight from the socket (the gate then holds no buffer).
//!
//! The gate can also cut the body short ([`ClientConnection::cut`]): at the body deadline (reads fail
//! with `TimedOut`, the route answers 408) or when the response closes the connection anyway
//! (reads end at once, so the rest of a huge upload is never read).
//!
//! Every write to the client goes through [`ClientConnection`]'s `AsyncWrite` (responses, streams,
//! the upgraded WebSocket), which bounds how long the socket may refuse bytes: a write that
//! waits longer than the send timeout on the server's clock fails with `TimedOut`
//! ([`SendTimedOut`]), so a client that stops reading is cut instead of holding its connection.
//! The timer starts only when the socket is full, and restarts whenever it takes bytes again.

use std::future::Future;
use std::io;
use std::net::Shutdown as Both;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_std::net::TcpStream;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{future, ready};

use super::body::BodyLeft;
use super::connections::ConnectionGuard;
use super::head::{admit, Admitted, HeadRefusal};
use crate::clock::{Clock, Sleep};

/// How much one read from the socket takes at most.
const READ_CHUNK: usize = 8 * 1024;

/// How much one read takes while waiting for a head (a head is a few hundred bytes).
const HEAD_CHUNK: usize = 2 * 1024;

/// Why the body was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The response closes the connection: the rest of the body is not worth reading.
    Unread,
    /// The body did not arrive by its deadline.
    TimedOut,
}

/// What the next-head wait ended with.
#[derive(Debug)]
pub enum NextHead {
    /// A head that was admitted: the caller installs it and serves it, or answers it itself.
    Request(Admitted),
    /// The client closed the connection (between requests, or mid-head).
    Closed,
    /// A head the accept loop answers itself.
    Refused(HeadRefusal),
}

/// A write to the client waited longer than the send timeout for the socket to take bytes.
#[derive(Debug, thiserror::Error)]
#[error("the client took no bytes for {0:?} (send timeout)")]
pub struct SendTimedOut(pub Duration);

/// The connection a request's body is read from (and, after an upgrade, the WebSocket protocol's).
pub struct ClientConnection {
    shared: Arc<Shared>,
    /// While a write through this handle waits for room in the socket: the send timeout,
    /// counted from when the socket last refused bytes after taking some.
    stalled: Mutex<Option<Sleep>>,
}

impl Clone for ClientConnection {
    fn clone(&self) -> Self {
        ClientConnection {
            shared: self.shared.clone(),
            stalled: Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for ClientConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConnection")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// How long a write may wait for the socket to take bytes, on which clock.
#[derive(Debug, Clone)]
pub struct SendLimit {
    /// The server's clock (manual under specs and tests).
    pub clock: Clock,
    /// The longest a write may wait.
    pub timeout: Duration,
}

#[derive(Debug)]
struct Shared {
    socket: TcpStream,
    /// The server's, one for every connection.
    send: Arc<SendLimit>,
    gate: Mutex<Gate>,
    /// Counts the connection; dropped (uncounted) before the socket is shut, so a client that
    /// sees the server's FIN may already connect again.
    guard: Mutex<Option<ConnectionGuard>>,
}

#[derive(Debug, Default)]
struct Gate {
    /// Bytes read from the socket and not handed on yet.
    buffered: Vec<u8>,
    /// The current body.
    body: Option<BodyLeft>,
    /// Open after the head: an upgrade request.
    open_after_head: bool,
    cut: Option<Cut>,
    upgraded: bool,
    /// A read waiting on the socket (woken when the body is cut).
    reader: Option<Waker>,
    /// The body watchdog (woken when the body is complete).
    watcher: Option<Waker>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        drop(self.guard_slot().take());
        let _ = self.socket.shutdown(Both::Both);
    }
}

impl Shared {
    fn guard_slot(&self) -> MutexGuard<'_, Option<ConnectionGuard>> {
        self.guard.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClientConnection {
    /// Wraps an accepted socket, counted by `guard`, whose writes wait at most `send`.
    pub fn new(
        socket: TcpStream,
        guard: ConnectionGuard,
        send: Arc<SendLimit>,
    ) -> ClientConnection {
        ClientConnection {
            shared: Arc::new(Shared {
                socket,
                send,
                gate: Mutex::new(Gate::default()),
                guard: Mutex::new(Some(guard)),
            }),
            stalled: Mutex::new(None),
        }
    }

    /// The socket itself (for peeking and shutting down).
    pub fn socket(&self) -> &TcpStream {
        &self.shared.socket
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        // A poisoned lock only means a panic elsewhere; the gate's fields stay consistent.
        self.shared.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives the head buffer's room back when it holds nothing: a connection about to wait long
    /// (a stream) keeps no buffer. A keep-alive connection keeps its room between requests.
    pub fn release_buffer(&self) {
        let mut gate = self.gate();
        if gate.buffered.is_empty() {
            gate.buffered = Vec::new();
        }
    }

    /// Whether bytes of a next request have arrived (a partial head, say).
    pub fn has_buffered(&self) -> bool {
        !self.gate().buffered.is_empty()
    }

    /// Waits for the next request head, or says why there is none. The head stays in the buffer
    /// until the caller either [`install`](ClientConnection::install)s it to serve it or
    /// [`skip`](ClientConnection::skip)s it (a request the accept loop answers itself).
    pub async fn next_head(&self) -> io::Result<NextHead> {
        loop {
            match admit(&self.gate().buffered) {
                Ok(Some(admitted)) => return Ok(NextHead::Request(admitted)),
                Ok(None) => {}
                Err(refusal) => return Ok(NextHead::Refused(refusal)),
            }
            let n = future::poll_fn(|cx| {
                // On the stack of this one poll, not in the connection's future, and no heap
                // allocation per request: the bytes read are appended to the gate's buffer.
                let mut chunk = [0u8; HEAD_CHUNK];
                let n = ready!(Pin::new(&mut &self.shared.socket).poll_read(cx, &mut chunk))?;
                self.gate().buffered.extend_from_slice(&chunk[..n]);
                Poll::Ready(Ok::<_, io::Error>(n))
            })
            .await?;
            if n == 0 {
                return Ok(NextHead::Closed);
            }
        }
    }

    /// Starts serving an admitted head: the gate drops it from the buffer and hands out its body.
    pub fn install(&self, admitted: &Admitted) {
        self.gate().install(admitted);
    }

    /// Drops an admitted head without a body from the buffer: the accept loop answered it.
    pub fn skip(&self, admitted: &Admitted) {
        let mut gate = self.gate();
        let consumed = admitted.consumed.min(gate.buffered.len());
        gate.buffered.drain(..consumed);
    }

    /// True while the current body has bytes that have not arrived yet.
    pub fn body_incomplete(&self) -> bool {
        let gate = self.gate();
        match &gate.body {
            None => false,
            Some(body) => {
                let mut rest = body.clone();
                match rest.take(&gate.buffered) {
                    Ok(_) => !rest.is_done(),
                    Err(_) => false,
                }
            }
        }
    }

    /// Whether the route has read the current body's last byte (a body cut short is not read).
    pub fn body_read(&self) -> bool {
        self.gate().body.as_ref().is_none_or(BodyLeft::is_done)
    }

    /// Resolves once the route has read the current body's last byte (or it was cut).
    pub async fn body_done(&self) {
        futures_lite::future::poll_fn(|cx| {
            let mut gate = self.gate();
            if gate.body.as_ref().is_none_or(BodyLeft::is_done) || gate.cut.is_some() {
                Poll::Ready(())
            } else {
                gate.watcher = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Cuts the current body short; a read waiting for it wakes.
    pub fn cut(&self, cut: Cut) {
        let waker = {
            let mut gate = self.gate();
            if gate.body.as_ref().is_none_or(BodyLeft::is_done) {
                return;
            }
            gate.cut.get_or_insert(cut);
            gate.reader.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Notes that the connection was handed to an upgraded protocol.
    pub fn mark_upgraded(&self) {
        self.gate().upgraded = true;
    }

    /// Whether the connection now belongs to an upgraded protocol.
    pub fn upgraded(&self) -> bool {
        self.gate().upgraded
    }

    /// Uncounts the connection now (it is about to be closed).
    pub fn release(&self) {
        drop(self.shared.guard_slot().take());
    }
}

impl Gate {
    fn install(&mut self, admitted: &Admitted) {
        self.buffered
            .drain(..admitted.consumed.min(self.buffered.len()));
        let body = BodyLeft::of(admitted.body);
        self.open_after_head = admitted.upgrade && body.is_done();
        self.body = Some(body);
        self.cut = None;
        self.reader = None;
        self.watcher = None;
    }

    /// Copies what the reader may have from the buffer into `buf`; `None` when the buffer holds
    /// nothing for it.
    fn hand_out(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if self.open_after_head {
            if self.buffered.is_empty() {
                return None;
            }
            let n = self.buffered.len().min(buf.len());
            buf[..n].copy_from_slice(&self.buffered[..n]);
            self.buffered.drain(..n);
            return Some(Ok(n));
        }
        match self.cut {
            Some(Cut::Unread) => return Some(Ok(0)),
            Some(Cut::TimedOut) => {
                return Some(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request body timed out",
                )))
            }
            None => {}
        }
        let body = match &mut self.body {
            None => return Some(Ok(0)),
            Some(body) if body.is_done() => return Some(Ok(0)),
            Some(body) => body,
        };
        if self.buffered.is_empty() {
            return None;
        }
        let (used, filled) = match body.decode(&self.buffered, buf) {
            Ok(taken) => taken,
            Err(e) => return Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))),
        };
        self.buffered.drain(..used);
        if body.is_done() {
            if let Some(w) = self.watcher.take() {
                w.wake();
            }
        }
        // Only framing was buffered (a chunk-size line, say): the reader waits for more.
        if filled == 0 && !body.is_done() {
            return None;
        }
        Some(Ok(filled))
    }
}

impl AsyncRead for ClientConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        let mut gate = this.gate();
        loop {
            if let Some(result) = gate.hand_out(buf) {
                return Poll::Ready(result);
            }
            if gate.open_after_head {
                // Upgraded, and the leftovers are handed out: the protocol reads the socket
                // straight into its own buffer, and the gate gives its room back (an idle
                // WebSocket keeps no buffer here).
                gate.buffered = Vec::new();
                drop(gate);
                return Pin::new(&mut &this.shared.socket).poll_read(cx, buf);
            }
            // The buffer holds nothing for the reader, who may read more: fill it from the socket.
            let mut chunk = [0u8; READ_CHUNK];
            match Pin::new(&mut &this.shared.socket).poll_read(cx, &mut chunk) {
                Poll::Pending => {
                    gate.reader = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // RFC 9112 §8: a body cut short by the close is incomplete, not a shorter body.
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside the request body",
                    )))
                }
                Poll::Ready(Ok(n)) => gate.buffered.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

impl AsyncWrite for ClientConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let stalled = this.stalled.get_mut().unwrap_or_else(|e| e.into_inner());
        match Pin::new(&mut &this.shared.socket).poll_write(cx, buf) {
            Poll::Ready(written) => {
                // The socket took bytes (or failed): the next wait starts a new timeout.
                *stalled = None;
                Poll::Ready(written)
            }
            Poll::Pending => {
                let send = &this.shared.send;
                let sleep = stalled.get_or_insert_with(|| send.clock.sleep(send.timeout));
                if Pin::new(sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                *stalled = None;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    SendTimedOut(send.timeout),
                )))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &self.shared.socket).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &self.shared.socket).poll_close(cx)
    }
}
