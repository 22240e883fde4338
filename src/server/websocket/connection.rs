//! The I/O of a WebSocket connection over any `AsyncRead + AsyncWrite`: a [`Session`] reads the
//! socket into its [`Assembler`], writes its [`Outgoing`] queue, pulls its [`Feed`], answers pings
//! and closes, runs the closing handshake's timers, and drops the connection when it is over.
//!
//! One task per connection: a [`Session`] owns the whole connection and both reads and writes.
//! [`Session::next`] waits for the next whole message, and while it waits it writes what is due
//! (pongs, frames the route sent with [`Session::text`] or [`Session::binary`], the frames of a
//! [`Feed`]) and answers pings and closes by itself. An [`Outbox`] is the one handle kept elsewhere
//! in the task: it starts the closing handshake.
//!
//! Closing the TCP connection means dropping it: async-io's `poll_close` on a TCP stream only
//! flushes, and the upgraded connection shares its socket with the accept loop, so the socket
//! closes when the last handle goes. After the server sent a close it reads until the client's
//! close reply (or EOF, or a short timeout), so unread bytes do not turn the FIN into a RST.
//!
//! Bounded: unwritten bytes are kept up to [`OUTBOX_BYTES`] (plus the frame that crossed it); past
//! that a send waits and the peer is not read from (its pings would only pile up more pongs), so a
//! peer that stops reading holds back its connection instead of growing memory.
//!
//! Memory per idle connection is kept small: no second task, no channel, and no buffer at all
//! while nothing is pending. A read that is not known to bring a large frame goes to the stack
//! ([`READ_MIN`] bytes); bytes are kept on the heap only while a frame is incomplete, and read
//! straight into the assembler's buffer only while a larger frame is arriving or reads keep
//! filling it.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use futures_lite::{future, ready};

use super::assembler::{Assembler, Incoming, Received};
use super::closing::{reply_to_close, CloseReply, Closed, Ending, Outbox};
use super::outgoing::{server_frame, Feed, Outgoing, Pulled, OUTBOX_BYTES};
use crate::server::http::readiness::Watch;
use crate::wire::websocket::opcode;

/// Bytes asked of the socket per read while nothing larger is known to be coming (on the stack: an
/// idle connection holds no read buffer).
pub const READ_MIN: usize = 512;

/// How many turns (a frame parsed, a batch written, the feed pulled) one poll of a session takes
/// at most before it yields.
const TURNS_PER_POLL: u32 = 128;
/// The most bytes asked of the socket per read (a large frame arrives in reads of this size).
const READ_MAX: usize = 64 * 1024;
/// How long, after a close was sent, the peer's bytes are drained (so the kernel ends the TCP
/// connection with a FIN, not a RST) and the session may take to flush the close frame.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts a [`Session`] on `stream` and returns it with its [`Outbox`].
pub fn open<S>(stream: S, max_message_bytes: usize) -> (Session<S>, Outbox)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    open_with_feed(stream, max_message_bytes, None)
}

/// [`open`], with a session that also pulls the frames of `feed`.
pub fn open_with_feed<S>(
    stream: S,
    max_message_bytes: usize,
    feed: Option<Feed>,
) -> (Session<S>, Outbox)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let outbox = Outbox::new();
    let session = Session {
        stream: Some(stream),
        incoming: Assembler::new(max_message_bytes),
        streak: 0,
        out: Outgoing::default(),
        feed,
        outbox: outbox.clone(),
        feed_waits: false,
        close_watch: None,
        echoed: false,
        done: false,
        readable: Watch::default(),
    };
    (session, outbox)
}

/// What the session's wait ended with.
enum Event {
    /// A whole message for the route.
    Message(Incoming),
    /// The connection is over; what is left to do depends on how.
    Over(Ending),
}

/// One connection: reads, writes, and the closing handshake, in the connection's one task.
pub struct Session<S> {
    /// Dropped when the session ends, which closes the connection.
    stream: Option<S>,
    /// What the client sent, assembled into messages; see [`Session::read_size`] for how much is
    /// asked per read.
    incoming: Assembler,
    /// What the last read asked for when it got all of it (more is likely waiting), else 0.
    streak: usize,
    out: Outgoing,
    /// Pulled whenever nothing else is waiting to be written; dropped when the session ends.
    feed: Option<Feed>,
    /// The feed had nothing more ready in this poll, and wakes the task when it has: it is not
    /// pulled again (nor its queue locked) until the next poll.
    feed_waits: bool,
    outbox: Outbox,
    /// The task the outbox wakes when a close starts elsewhere, as last registered: registered
    /// again only for another task, not on every wake-up.
    close_watch: Option<Waker>,
    /// The close handshake was started by the client and answered.
    echoed: bool,
    done: bool,
    /// Whether a read may find something: a poll woken by the feed does not read the socket (nor
    /// lock anything while the socket is not signalled).
    readable: Watch,
}

impl<S> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("buffered", &self.incoming.buffered())
            .field("unwritten", &self.out.pending())
            .field("feed", &self.feed.is_some())
            .field("closing", &self.outbox.is_closing())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// The next whole message; `None` once the connection is over (closed by either side, broken
    /// by the peer, or refused with a close code). Meanwhile, what is due is written (the feed's
    /// frames included), pings are answered and a client's close is echoed; the caller sees none
    /// of it.
    pub async fn next(&mut self) -> Option<Incoming> {
        if self.done {
            return None;
        }
        match future::poll_fn(|cx| self.poll_event(cx)).await {
            Event::Message(message) => Some(message),
            Event::Over(ending) => {
                // Boxed: the closing steps (timers included) are allocated by a connection that
                // ends, not kept in every idle connection's task.
                Box::pin(self.finish(ending)).await;
                None
            }
        }
    }

    /// Sends a text message (one frame); waits while more than [`OUTBOX_BYTES`] are unwritten.
    pub async fn text(&mut self, text: String) -> Result<(), Closed> {
        self.send(opcode::TEXT, text.into_bytes()).await
    }

    /// Sends a binary message (one frame); waits while more than [`OUTBOX_BYTES`] are unwritten.
    pub async fn binary(&mut self, data: Vec<u8>) -> Result<(), Closed> {
        self.send(opcode::BINARY, data).await
    }

    async fn send(&mut self, op: u8, payload: Vec<u8>) -> Result<(), Closed> {
        // RFC 6455 §5.5.1: after sending a close frame, the endpoint sends no more data frames.
        if self.done || self.outbox.is_closing() {
            return Err(Closed);
        }
        self.out.push_frame(server_frame(op, payload));
        future::poll_fn(|cx| self.poll_room(cx)).await;
        Ok(())
    }

    /// Ready once at most [`OUTBOX_BYTES`] are unwritten, or a close has started (the close then
    /// flushes what is left, within its timeout).
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.out.pending() > OUTBOX_BYTES {
            let Some(stream) = self.stream.as_mut() else {
                return Poll::Ready(());
            };
            if self.out.poll_write(stream, cx).is_pending() {
                if self.close_started(cx) {
                    return Poll::Ready(());
                }
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }

    /// Drives the connection until a whole message has arrived or the connection is over: writes
    /// what is due, pulls the feed when nothing else is, reads and assembles.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        // A connection that always has work (a feed that never runs dry, a flood of small
        // frames) yields after this many turns in one poll, so its thread's other tasks run too
        // (async-std has no budget of its own): it wakes itself and returns.
        let mut turns = 0;
        // A new wake-up, maybe the feed's.
        self.feed_waits = false;
        loop {
            turns += 1;
            if turns > TURNS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // RFC 6455 §1.4: once a close is sent, what the peer still sends is not processed.
            if self.outbox.is_closing() {
                let ending = if self.echoed {
                    Ending::Echoed
                } else {
                    Ending::Sent
                };
                return Poll::Ready(Event::Over(ending));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Poll::Ready(Event::Over(Ending::PeerGone));
            };
            // A failed write leaves the peer's end to the reads (EOF or a reset), unless the
            // peer let it wait past the send timeout: then it is cut (RFC 6455 §7.1.1: the
            // server closes the TCP connection; no close frame can reach a peer that reads
            // nothing).
            let _ = self.out.poll_write(stream, cx);
            if self.out.is_stalled() {
                self.outbox.abandon();
                return Poll::Ready(Event::Over(Ending::PeerGone));
            }
            if self.out.is_empty() && !self.feed_waits && self.poll_feed(cx) {
                continue;
            }
            // A peer that does not read what it is sent is not read from either.
            if self.out.pending() > OUTBOX_BYTES {
                if self.close_started(cx) {
                    continue;
                }
                return Poll::Pending;
            }
            match self.incoming.assemble() {
                Ok(Received::Message(message)) => return Poll::Ready(Event::Message(message)),
                Ok(Received::Ping(payload)) => {
                    // RFC 6455 §5.5.2–5.5.3: a pong carries the ping's payload.
                    self.out.push_frame(server_frame(opcode::PONG, payload));
                }
                Ok(Received::Close(payload)) => match reply_to_close(&payload) {
                    CloseReply::Echo(payload) => self.echoed = self.outbox.close_with(payload),
                    CloseReply::Fail(code) => {
                        self.outbox.close(code, "");
                    }
                },
                Ok(Received::Nothing) => {}
                Ok(Received::NeedMore) => match self.poll_read(cx) {
                    Poll::Ready(true) => {}
                    Poll::Ready(false) => {
                        // EOF or a reset without a close frame (RFC 6455 §7.1.5: code 1006,
                        // never sent).
                        self.outbox.abandon();
                        return Poll::Ready(Event::Over(Ending::PeerGone));
                    }
                    Poll::Pending => {
                        if self.close_started(cx) {
                            continue;
                        }
                        return Poll::Pending;
                    }
                },
                // RFC 6455 §7.1.7: fail the connection with the violation's close code.
                Err(violation) => {
                    self.outbox.close(violation.close_code(), "");
                }
            }
        }
    }

    /// Pulls the feed once nothing else is waiting; true when it yielded something.
    fn poll_feed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(feed) = self.feed.as_mut() else {
            return false;
        };
        match self.out.pull(feed, cx) {
            Pulled::Nothing => {
                self.feed_waits = true;
                return false;
            }
            Pulled::Frames => {}
            Pulled::FramesThenNothing => self.feed_waits = true,
            Pulled::Close(code, reason) => {
                self.outbox.close(code, reason);
            }
            // Ended without a close: stop pulling.
            Pulled::End => self.feed = None,
        }
        true
    }

    /// Whether a close has started; when not, the outbox wakes this task once one does.
    fn close_started(&mut self, cx: &Context<'_>) -> bool {
        if self.outbox.is_closing() {
            return true;
        }
        // Registered already: the outbox keeps the waker until a close takes it, and a close
        // sets the flag (read above) before it takes the waker.
        if self
            .close_watch
            .as_ref()
            .is_some_and(|task| task.will_wake(cx.waker()))
        {
            return false;
        }
        if self.outbox.poll_started(cx) {
            return true;
        }
        self.close_watch = Some(cx.waker().clone());
        false
    }

    /// Reads once; `Ready(false)` when the peer is gone.
    ///
    /// A read of [`READ_MIN`] bytes (all an idle connection ever asks) goes to the stack and only
    /// what arrived is kept; a larger one goes straight into the assembler's buffer, sized for it.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let want = self.read_size();
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(false);
        };
        // Only when the reactor signalled the socket since the last read that found nothing: a
        // poll woken by a delivery or by shutdown does not read (nor re-arm) the socket.
        let incoming = &mut self.incoming;
        let n = ready!(self.readable.poll_read(cx, |cx| {
            let n = if want <= READ_MIN {
                // Nothing pending: nothing held while the connection waits.
                incoming.release_if_empty();
                let mut chunk = [0u8; READ_MIN];
                match ready!(Pin::new(stream).poll_read(cx, &mut chunk)) {
                    Ok(n) => {
                        incoming.push(&chunk[..n]);
                        n
                    }
                    Err(_) => 0,
                }
            } else {
                let read = incoming.fill(want, |room| Pin::new(&mut *stream).poll_read(cx, room));
                ready!(read).unwrap_or(0)
            };
            Poll::Ready(n)
        }));
        self.streak = if n == want { want } else { 0 };
        // Bytes came: the next read goes ahead (more may be waiting).
        self.readable.reset();
        Poll::Ready(n > 0)
    }

    /// Ends the session: writes what is left (the close frame last), waits for the client's close
    /// reply when the server closed first, then drops the connection.
    async fn finish(&mut self, ending: Ending) {
        self.done = true;
        self.incoming.discard_message();
        let close = self.outbox.take_frame();
        if let Some(stream) = self.stream.as_mut() {
            let out = &mut self.out;
            if let Some(frame) = close {
                out.push_frame(frame);
            }
            let flush = async {
                if future::poll_fn(|cx| out.poll_write(stream, cx))
                    .await
                    .is_ok()
                {
                    let _ = stream.close().await;
                }
            };
            // A peer that reads nothing holds the write: give up after a while.
            let _ = async_std::future::timeout(DRAIN_TIMEOUT, flush).await;
        }
        self.out = Outgoing::default();
        self.feed = None;
        if ending == Ending::Sent {
            let _ = async_std::future::timeout(DRAIN_TIMEOUT, self.await_close_reply()).await;
        }
        self.stream = None;
        self.incoming.release();
    }

    /// Bytes to ask of the next read: the rest of the frame being read (within [`READ_MIN`] and
    /// [`READ_MAX`]), twice the last read's when it got all it asked for, else [`READ_MIN`].
    fn read_size(&self) -> usize {
        let frame_rest = usize::try_from(self.incoming.frame_remaining()).unwrap_or(READ_MAX);
        frame_rest
            .max(self.streak.saturating_mul(2))
            .clamp(READ_MIN, READ_MAX)
    }

    /// Reads (and discards) until the client's close frame, EOF, or bytes that are no frames.
    async fn await_close_reply(&mut self) {
        while !self.incoming.skip_to_close() {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            let incoming = &mut self.incoming;
            let read = future::poll_fn(|cx| {
                incoming.fill(READ_MIN, |room| Pin::new(&mut *stream).poll_read(cx, room))
            });
            match read.await {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
