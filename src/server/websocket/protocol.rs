//! The server side of the RFC 6455 protocol over any `AsyncRead + AsyncWrite` (§5–§7): frames are
//! read and checked header first, messages are reassembled and validated, control frames are
//! answered, and every error ends with a close frame carrying its code followed by the TCP close.
//!
//! Closing the TCP connection means dropping it: async-io's `poll_close` on a TCP stream only
//! flushes, and the upgraded connection shares its socket with the accept loop, so the socket
//! closes when the last handle goes. After the client's close is echoed the server drops at once
//! (RFC 6455 §7.1.1: the server closes first); after the server sent a close it reads until the
//! client's close reply (or EOF, or a short timeout), so unread bytes do not turn the FIN into a
//! RST, then drops.
//!
//! One task per connection: a [`Session`] owns the whole connection and both reads and writes.
//! [`Session::next`] waits for the next whole message, and while it waits it writes what is due
//! (pongs, frames the route sent with [`Session::text`] or [`Session::binary`], the frames of a
//! [`Feed`]) and answers pings and closes by itself. An [`Outbox`] is the one handle kept elsewhere
//! in the task: it starts the closing handshake (the shutdown watcher, a route refusing a message).
//! A pushing route ([`open_with_feed`]) gives the session a [`Feed`] of ready frames that it pulls
//! whenever everything before them is written: a published message goes from the hub's wake-up to
//! the socket in the connection's own task, and frames that are already waiting go out in one
//! write.
//!
//! Bounded: unwritten bytes are kept up to [`OUTBOX_BYTES`] (plus the frame that crossed it); past
//! that a send waits and the peer is not read from (its pings would only pile up more pongs), so a
//! peer that stops reading holds back its connection instead of growing memory.
//!
//! Memory per idle connection is kept small: no second task, no channel, and no buffer at all
//! while nothing is pending. A read that is not known to bring a large frame goes to the stack
//! ([`READ_MIN`] bytes); bytes are kept on the heap only while a frame is incomplete, and read
//! straight into a heap buffer only while a larger frame is arriving or reads keep filling it.
//! Bytes to write are kept only while the socket does not take them, and a frame from the feed is
//! written from the hub's shared bytes.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_lite::{future, ready, Stream};

use crate::wire::websocket::{
    apply_mask, close_payload, decode_close_payload, decode_header, encode_frame, opcode, Frame,
    Header,
};

/// Close codes this server sends (RFC 6455 §7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A kind of data this endpoint does not accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Text that is not UTF-8 (or a close reason that is not).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation (a `/ws` subscriber that fell behind).
    pub const POLICY: u16 = 1008;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Try again later: the server cannot serve the request for now (IANA WebSocket Close Code
    /// Number Registry, RFC 6455 §11.7); a `/ws` publish while the hub's Redis is away.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Unwritten bytes a session keeps before a send waits and reading pauses.
pub const OUTBOX_BYTES: usize = 64 * 1024;
/// Bytes asked of the socket per read while nothing larger is known to be coming (on the stack: an
/// idle connection holds no read buffer).
pub const READ_MIN: usize = 512;

/// How many turns (a frame parsed, a batch written, the feed pulled) one poll of a session takes
/// at most before it yields.
const TURNS_PER_POLL: u32 = 128;
/// The most bytes asked of the socket per read (a large frame arrives in reads of this size).
const READ_MAX: usize = 64 * 1024;
/// Bytes of ready feed frames gathered into one write.
const BATCH_BYTES: usize = 64 * 1024;
/// How long, after a close was sent, the peer's bytes are drained (so the kernel ends the TCP
/// connection with a FIN, not a RST) and the session may take to flush the close frame.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// A whole message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (valid UTF-8, RFC 6455 §5.6).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// The connection is closing or closed: nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the WebSocket connection is closing")]
pub struct Closed;

/// What a [`Feed`] yields.
#[derive(Debug, Clone)]
pub enum Push {
    /// A whole encoded server frame (shared: the same bytes may go to many connections).
    Frame(Arc<[u8]>),
    /// Start the closing handshake with this code and reason (the feed is over).
    Close(u16, &'static str),
}

/// Frames the session pulls by itself once everything sent before is written, and never once a
/// close is under way; ending without [`Push::Close`] just stops pulling.
pub type Feed = Pin<Box<dyn Stream<Item = Push> + Send>>;

/// Starts the connection's closing handshake from outside its [`Session`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    closing: Arc<Closing>,
}

/// The closing handshake, shared by the session and its outboxes: a flag, the close frame waiting
/// to be written, and the session's task to wake when a close starts from elsewhere.
#[derive(Debug, Default)]
struct Closing {
    /// A close was queued or the connection abandoned: no more data frames.
    started: AtomicBool,
    state: Mutex<CloseState>,
}

#[derive(Debug, Default)]
struct CloseState {
    /// The close frame, until the session writes it.
    frame: Option<Vec<u8>>,
    session: Option<Waker>,
}

impl Closing {
    fn lock(&self) -> MutexGuard<'_, CloseState> {
        // A poisoned lock only means a panic elsewhere; the state stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Marks the close started (with `frame` to send, if any) and wakes the session; false when it
    /// had already started.
    fn start(&self, frame: Option<Vec<u8>>) -> bool {
        if self.started.swap(true, Ordering::SeqCst) {
            return false;
        }
        let waker = {
            let mut state = self.lock();
            state.frame = frame;
            state.session.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Whether a close has started; when not, the task of `cx` is woken once one does.
    fn poll_started(&self, cx: &Context<'_>) -> bool {
        let mut state = self.lock();
        // Checked under the lock: `start` sets the flag before it takes the waker.
        if self.is_started() {
            return true;
        }
        match &state.session {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.session = Some(cx.waker().clone()),
        }
        false
    }

    /// The close frame to write (`None` when the connection was abandoned, or once taken).
    fn take_frame(&self) -> Option<Vec<u8>> {
        self.lock().frame.take()
    }
}

impl Outbox {
    /// Starts the closing handshake with `code` (RFC 6455 §5.5.1): frames already sent go first,
    /// then the close frame, then the write side is shut down. Returns false when a close was
    /// already under way (only the first one is sent).
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.close_with(close_payload(code, reason))
    }

    /// Whether a close has been queued (or the connection abandoned).
    pub fn is_closing(&self) -> bool {
        self.closing.is_started()
    }

    fn close_with(&self, payload: Vec<u8>) -> bool {
        self.closing
            .start(Some(server_frame(opcode::CLOSE, payload)))
    }

    /// Ends the session without a close frame (the peer is gone).
    fn abandon(&self) {
        self.closing.start(None);
    }
}

/// One unfragmented, unmasked server frame, header and payload in one buffer (RFC 6455 §5.1: a
/// server must not mask).
fn server_frame(op: u8, payload: Vec<u8>) -> Vec<u8> {
    encode_frame(&Frame {
        fin: true,
        rsv: 0,
        opcode: op,
        mask: None,
        payload,
    })
}

/// The bytes waiting to be written, in order: a frame from the feed (written from the hub's shared
/// bytes), then frames encoded for this connection. Empty, with nothing allocated, once written.
#[derive(Debug, Default)]
struct Outgoing {
    shared: Option<Arc<[u8]>>,
    owned: Vec<u8>,
    /// Bytes of the first of the two already written.
    written: usize,
    /// A write failed (the peer is gone): nothing more is kept or written.
    broken: bool,
    /// The failed write waited past the send timeout: the peer reads nothing, and may send
    /// nothing either, so the session ends now rather than waiting for its reads to fail.
    stalled: bool,
}

impl Outgoing {
    /// Bytes not written yet.
    fn pending(&self) -> usize {
        match &self.shared {
            Some(frame) => frame.len() - self.written + self.owned.len(),
            None => self.owned.len() - self.written,
        }
    }

    fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// Queues a frame encoded for this connection.
    fn push_frame(&mut self, frame: Vec<u8>) {
        if self.is_empty() {
            // Taken as it is: no copy.
            *self = Outgoing {
                owned: frame,
                broken: self.broken,
                stalled: self.stalled,
                ..Outgoing::default()
            };
        } else {
            self.push_bytes(&frame);
        }
    }

    /// Queues a frame from the feed.
    fn push_shared(&mut self, frame: Arc<[u8]>) {
        if self.is_empty() {
            *self = Outgoing {
                shared: Some(frame),
                broken: self.broken,
                stalled: self.stalled,
                ..Outgoing::default()
            };
        } else {
            self.push_bytes(&frame);
        }
    }

    /// Appends `bytes` after what is waiting, so that all of it can go out in one write.
    fn push_bytes(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        if let Some(shared) = self.shared.take() {
            let rest = &shared[self.written..];
            let mut owned = Vec::with_capacity(rest.len() + self.owned.len() + bytes.len());
            owned.extend_from_slice(rest);
            owned.extend_from_slice(&self.owned);
            self.owned = owned;
            self.written = 0;
        } else if self.written > 0 && self.written >= self.owned.len() - self.written {
            // More written than waiting: drop the written part (amortised, bounded memory).
            self.owned.drain(..self.written);
            self.written = 0;
        }
        self.owned.extend_from_slice(bytes);
    }

    /// Writes until nothing is waiting (then frees what held it).
    fn poll_write<S>(&mut self, stream: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        loop {
            if self.broken {
                return Poll::Ready(Ok(()));
            }
            let piece = match &self.shared {
                Some(frame) => &frame[self.written..],
                None => &self.owned[self.written..],
            };
            if piece.is_empty() {
                if self.shared.take().is_some() {
                    self.written = 0;
                    continue;
                }
                self.owned = Vec::new();
                self.written = 0;
                return Poll::Ready(Ok(()));
            }
            let n = match ready!(Pin::new(&mut *stream).poll_write(cx, piece)) {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                result => result,
            };
            match n {
                Ok(n) => self.written += n,
                Err(error) => {
                    *self = Outgoing {
                        broken: true,
                        stalled: error.kind() == io::ErrorKind::TimedOut,
                        ..Outgoing::default()
                    };
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

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
    let outbox = Outbox {
        closing: Arc::default(),
    };
    let session = Session {
        stream: Some(stream),
        buf: Vec::new(),
        streak: 0,
        frame: None,
        message: None,
        skip: 0,
        parseable: true,
        max_message_bytes,
        out: Outgoing::default(),
        feed,
        outbox: outbox.clone(),
        echoed: false,
        done: false,
        readable: Arc::new(Readable::default()),
    };
    (session, outbox)
}

/// The data frame being read: its header and the payload bytes still to come.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: Header,
    remaining: u64,
    /// Payload bytes already unmasked (the mask position, RFC 6455 §5.3).
    offset: usize,
}

/// The message being reassembled from its fragments (RFC 6455 §5.4).
#[derive(Debug)]
struct Partial {
    text: bool,
    data: Vec<u8>,
    /// Bytes of `data` known to be valid UTF-8 (text only).
    checked: usize,
}

/// What one step of parsing produced.
enum Step {
    /// A whole message.
    Message(Incoming),
    /// A ping to answer with this payload.
    Ping(Vec<u8>),
    /// Nothing for the caller (a pong, a fragment, part of a frame).
    Continue,
    /// More bytes are needed.
    NeedMore,
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
    /// Bytes read and not parsed yet: empty, with nothing allocated, while no frame is incomplete;
    /// see [`Session::read_size`] for how much is asked per read.
    buf: Vec<u8>,
    /// What the last read asked for when it got all of it (more is likely waiting), else 0.
    streak: usize,
    frame: Option<InFrame>,
    message: Option<Partial>,
    /// Payload bytes of a refused frame still to skip while waiting for the close reply.
    skip: u64,
    /// False once the stream cannot be parsed into frames any more (a malformed length).
    parseable: bool,
    max_message_bytes: usize,
    out: Outgoing,
    /// Pulled whenever nothing else is waiting to be written; dropped when the session ends.
    feed: Option<Feed>,
    outbox: Outbox,
    /// The close handshake was started by the client and answered.
    echoed: bool,
    done: bool,
    /// Whether a read may find something: see [`Readable`].
    readable: Arc<Readable>,
}

/// The waker a session's reads register, so that a poll of the connection's one task knows
/// whether the socket woke it. Without it every wake-up (each delivery of the `/ws` feed) would
/// also read the socket, find nothing, and re-arm it with the reactor: two system calls per
/// delivered message for nothing. A read is tried when the last one returned bytes (more may be
/// waiting) or when the reactor has since signalled the socket; otherwise the registration from
/// the last read that found nothing still stands.
#[derive(Debug)]
struct Readable {
    /// Set by the reactor's wake-up (and after a read that returned bytes); taken by a read.
    ready: AtomicBool,
    /// The connection's task, woken with it.
    task: Mutex<Option<Waker>>,
}

impl Default for Readable {
    fn default() -> Self {
        Readable {
            ready: AtomicBool::new(true),
            task: Mutex::new(None),
        }
    }
}

impl Readable {
    /// Keeps `waker` as the task to wake (unless it is the one kept already).
    fn remember(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }
}

impl std::task::Wake for Readable {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<S> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("buffered", &self.buf.len())
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
                if self.outbox.closing.poll_started(cx) {
                    return Poll::Ready(());
                }
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }

    /// Drives the connection until a whole message has arrived or the connection is over: writes
    /// what is due, pulls the feed when nothing else is, reads and parses.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        // A connection that always has work (a feed that never runs dry, a flood of small
        // frames) yields after this many turns in one poll, so its thread's other tasks run too
        // (async-std has no budget of its own): it wakes itself and returns.
        let mut turns = 0;
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
            if self.out.stalled {
                self.outbox.abandon();
                return Poll::Ready(Event::Over(Ending::PeerGone));
            }
            if self.out.is_empty() && self.poll_feed(cx) {
                continue;
            }
            // A peer that does not read what it is sent is not read from either.
            if self.out.pending() > OUTBOX_BYTES {
                if self.outbox.closing.poll_started(cx) {
                    continue;
                }
                return Poll::Pending;
            }
            match self.step() {
                Ok(Step::Message(message)) => return Poll::Ready(Event::Message(message)),
                Ok(Step::Ping(payload)) => {
                    // RFC 6455 §5.5.2–5.5.3: a pong carries the ping's payload.
                    self.out.push_frame(server_frame(opcode::PONG, payload));
                }
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => match self.poll_read(cx) {
                    Poll::Ready(true) => {}
                    Poll::Ready(false) => {
                        // EOF or a reset without a close frame (RFC 6455 §7.1.5: code 1006,
                        // never sent).
                        self.outbox.abandon();
                        return Poll::Ready(Event::Over(Ending::PeerGone));
                    }
                    Poll::Pending => {
                        if self.outbox.closing.poll_started(cx) {
                            continue;
                        }
                        return Poll::Pending;
                    }
                },
                Err(Refusal::Close(code)) => {
                    self.outbox.close(code, "");
                }
                Err(Refusal::Echo(payload)) => {
                    self.echoed = self.outbox.close_with(payload);
                }
            }
        }
    }

    /// Pulls the feed once nothing else is waiting: a frame (with those already ready behind it,
    /// for one write), a close, or its end. True when it yielded something.
    fn poll_feed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(feed) = self.feed.as_mut() else {
            return false;
        };
        let mut ended = false;
        match feed.as_mut().poll_next(cx) {
            Poll::Pending => return false,
            Poll::Ready(None) => ended = true,
            Poll::Ready(Some(Push::Close(code, reason))) => {
                self.outbox.close(code, reason);
            }
            Poll::Ready(Some(Push::Frame(first))) => {
                self.out.push_shared(first);
                // Frames already waiting go out with this one, in one write.
                while self.out.pending() < BATCH_BYTES {
                    match feed.as_mut().poll_next(cx) {
                        Poll::Ready(Some(Push::Frame(frame))) => self.out.push_bytes(&frame),
                        Poll::Ready(Some(Push::Close(code, reason))) => {
                            self.outbox.close(code, reason);
                            break;
                        }
                        Poll::Ready(None) => {
                            ended = true;
                            break;
                        }
                        Poll::Pending => break,
                    }
                }
            }
        }
        if ended {
            // Ended without a close: stop pulling.
            self.feed = None;
        }
        true
    }

    /// Reads once; `Ready(false)` when the peer is gone.
    ///
    /// A read of [`READ_MIN`] bytes (all an idle connection ever asks) goes to the stack and only
    /// what arrived is kept; a larger one goes straight into the buffer, sized for it.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let want = self.read_size();
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(false);
        };
        // Woken for something else (a delivery, shutdown): the socket has nothing new.
        self.readable.remember(cx.waker());
        if !self.readable.ready.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(self.readable.clone());
        let cx = &mut Context::from_waker(&waker);
        let n = if want <= READ_MIN {
            if self.buf.is_empty() {
                // Nothing pending: nothing held while the connection waits.
                self.buf = Vec::new();
            }
            let mut chunk = [0u8; READ_MIN];
            match ready!(Pin::new(stream).poll_read(cx, &mut chunk)) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    n
                }
                Err(_) => 0,
            }
        } else {
            let start = self.buf.len();
            let needed = start + want;
            // A buffer left much larger than this read needs (after a large frame) is shrunk.
            if self.buf.capacity() > needed * 2 {
                self.buf.shrink_to(needed);
            }
            self.buf.resize(needed, 0);
            let read = Pin::new(stream).poll_read(cx, &mut self.buf[start..]);
            let n = match &read {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            };
            self.buf.truncate(start + n);
            ready!(read).unwrap_or(0)
        };
        self.streak = if n == want { want } else { 0 };
        // Bytes came: the next read goes ahead (more may be waiting).
        self.readable.ready.store(true, Ordering::Release);
        Poll::Ready(n > 0)
    }

    /// Ends the session: writes what is left (the close frame last), waits for the client's close
    /// reply when the server closed first, then drops the connection.
    async fn finish(&mut self, ending: Ending) {
        self.done = true;
        self.message = None;
        let close = self.outbox.closing.take_frame();
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
        self.buf = Vec::new();
    }

    /// Bytes to ask of the next read: the rest of the frame being read (within [`READ_MIN`] and
    /// [`READ_MAX`]), twice the last read's when it got all it asked for, else [`READ_MIN`].
    fn read_size(&self) -> usize {
        let frame_rest = self.frame.map_or(0, |frame| {
            usize::try_from(frame.remaining).unwrap_or(READ_MAX)
        });
        frame_rest
            .max(self.streak.saturating_mul(2))
            .clamp(READ_MIN, READ_MAX)
    }

    /// Reads (and discards) until the client's close frame, EOF, or bytes that are no frames.
    async fn await_close_reply(&mut self) {
        if let Some(frame) = self.frame.take() {
            self.skip = frame.remaining;
        }
        loop {
            loop {
                let skipped = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                self.buf.drain(..skipped);
                self.skip -= skipped as u64;
                if self.skip > 0 || !self.parseable {
                    self.buf.clear();
                    break;
                }
                match decode_header(&self.buf) {
                    // RFC 6455 §5.5.1: the close reply completes the closing handshake.
                    Ok(Some(header)) if header.opcode == opcode::CLOSE => return,
                    Ok(Some(header)) => {
                        self.buf.drain(..header.header_len);
                        self.skip = header.payload_len;
                    }
                    Ok(None) => break,
                    Err(_) => self.parseable = false,
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            match read_into(stream, &mut self.buf, READ_MIN).await {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Parses what the buffer holds into at most one step.
    fn step(&mut self) -> Result<Step, Refusal> {
        let Some(frame) = self.frame else {
            return self.start_frame();
        };
        // Inside a data frame: take what has arrived of its payload.
        let take = usize::try_from(frame.remaining)
            .unwrap_or(usize::MAX)
            .min(self.buf.len());
        if take == 0 && frame.remaining > 0 {
            return Ok(Step::NeedMore);
        }
        let mut chunk: Vec<u8> = self.buf.drain(..take).collect();
        if let Some(mask) = frame.header.mask {
            apply_mask(&mut chunk, mask, frame.offset);
        }
        let remaining = frame.remaining - take as u64;
        let last_of_message = frame.header.fin && remaining == 0;
        let Some(partial) = self.message.as_mut() else {
            return Err(Refusal::Close(close_code::PROTOCOL_ERROR));
        };
        partial.data.extend_from_slice(&chunk);
        // The frame's progress is recorded before the payload is judged: after a refusal,
        // `await_close_reply` skips only what is left of this frame, then finds the close reply.
        self.frame = (remaining > 0).then_some(InFrame {
            remaining,
            offset: frame.offset + take,
            ..frame
        });
        if partial.text {
            // RFC 6455 §8.1: invalid UTF-8 fails the connection; checked as bytes arrive, across
            // fragments, so the failure comes as early as the bytes show it.
            check_utf8(&partial.data, &mut partial.checked, last_of_message)?;
        }
        if remaining > 0 {
            return Ok(Step::Continue);
        }
        if !frame.header.fin {
            return Ok(Step::Continue);
        }
        let Some(partial) = self.message.take() else {
            return Err(Refusal::Close(close_code::PROTOCOL_ERROR));
        };
        if partial.text {
            match String::from_utf8(partial.data) {
                Ok(text) => Ok(Step::Message(Incoming::Text(text))),
                Err(_) => Err(Refusal::Close(close_code::INVALID_PAYLOAD)),
            }
        } else {
            Ok(Step::Message(Incoming::Binary(partial.data)))
        }
    }

    /// Decodes and checks the next frame header; control frames are handled whole.
    fn start_frame(&mut self) -> Result<Step, Refusal> {
        let header = match decode_header(&self.buf) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(Step::NeedMore),
            // RFC 6455 §5.2: a malformed length is a protocol error.
            Err(_) => {
                self.parseable = false;
                return Err(Refusal::Close(close_code::PROTOCOL_ERROR));
            }
        };
        let mask = match self.check_header(&header) {
            Ok(mask) => mask,
            Err(refusal) => {
                // The refused frame is skipped while waiting for the close reply.
                self.buf.drain(..header.header_len);
                self.skip = header.payload_len;
                return Err(refusal);
            }
        };
        if opcode::is_control(header.opcode) {
            // Control frames are at most 125 bytes (checked): wait for the whole frame.
            let end = header.header_len + header.payload_len as usize;
            if self.buf.len() < end {
                return Ok(Step::NeedMore);
            }
            let mut payload = self.buf[header.header_len..end].to_vec();
            self.buf.drain(..end);
            apply_mask(&mut payload, mask, 0);
            return control(header.opcode, payload);
        }
        self.buf.drain(..header.header_len);
        if header.opcode != opcode::CONTINUATION {
            self.message = Some(Partial {
                text: header.opcode == opcode::TEXT,
                data: Vec::new(),
                checked: 0,
            });
        }
        self.frame = Some(InFrame {
            header,
            remaining: header.payload_len,
            offset: 0,
        });
        // Zero-length frames complete here too.
        Ok(Step::Continue)
    }

    /// The header checks of RFC 6455 §5, before any payload is read; returns the masking key.
    fn check_header(&self, header: &Header) -> Result<[u8; 4], Refusal> {
        let protocol_error = Refusal::Close(close_code::PROTOCOL_ERROR);
        // §5.2: RSV1–3 must be 0 unless an extension defines them; none is negotiated.
        if header.rsv != 0 {
            return Err(protocol_error);
        }
        // §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
        let Some(mask) = header.mask else {
            return Err(protocol_error);
        };
        let so_far = match header.opcode {
            // §5.4: a continuation needs a fragmented message to continue.
            opcode::CONTINUATION => match &self.message {
                Some(partial) => partial.data.len(),
                None => return Err(protocol_error),
            },
            // §5.4: the fragments of one message are not interleaved with another's.
            opcode::TEXT | opcode::BINARY => {
                if self.message.is_some() {
                    return Err(protocol_error);
                }
                0
            }
            // §5.5: control frames carry at most 125 bytes and are never fragmented.
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !header.fin || header.payload_len > 125 {
                    return Err(protocol_error);
                }
                return Ok(mask);
            }
            // §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved.
            _ => return Err(protocol_error),
        };
        // §7.4.1 code 1009: a message (all its fragments) over the limit, refused before its
        // payload is buffered.
        let room = self.max_message_bytes.saturating_sub(so_far) as u64;
        if header.payload_len > room {
            return Err(Refusal::Close(close_code::TOO_BIG));
        }
        Ok(mask)
    }
}

/// Appends at most `want` bytes read from `reader` to `buf`; returns how many (0 at EOF).
///
/// `buf`'s spare room is sized for this read only: a buffer left much larger than what it holds
/// (after a large frame) is shrunk first, so a connection keeps no large buffer once idle.
async fn read_into<R>(reader: &mut R, buf: &mut Vec<u8>, want: usize) -> io::Result<usize>
where
    R: AsyncRead + Unpin,
{
    let start = buf.len();
    let needed = start + want;
    if buf.capacity() > needed.max(READ_MIN) * 2 {
        buf.shrink_to(needed);
    }
    buf.resize(needed, 0);
    let read = reader.read(&mut buf[start..]).await;
    buf.truncate(start + *read.as_ref().unwrap_or(&0));
    read
}

/// How a session ended, which decides what is left to do before the connection is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client closed and the close was echoed: drop at once.
    Echoed,
    /// The server sent a close: wait for the client's reply.
    Sent,
    /// The peer is gone.
    PeerGone,
}

/// How the connection must be closed.
#[derive(Debug)]
enum Refusal {
    /// Fail the connection with this code.
    Close(u16),
    /// Answer the client's close with this payload (RFC 6455 §5.5.1).
    Echo(Vec<u8>),
}

/// A whole control frame, unmasked.
fn control(op: u8, payload: Vec<u8>) -> Result<Step, Refusal> {
    match op {
        opcode::PING => Ok(Step::Ping(payload)),
        opcode::PONG => Ok(Step::Continue), // §5.5.3: an unsolicited pong needs no answer
        _ => Err(close_reply(&payload)),
    }
}

/// The answer to a client's close frame (RFC 6455 §5.5.1, §7.4): echo its code, or refuse it with
/// 1002 (one-byte body, a code that may not be sent) or 1007 (a reason that is not UTF-8).
fn close_reply(payload: &[u8]) -> Refusal {
    match decode_close_payload(payload) {
        // §5.5.1: no body: echo an empty close.
        Ok(None) => Refusal::Echo(Vec::new()),
        // §5.5.1: "typically echos the status code it received".
        Ok(Some((code, _reason))) => Refusal::Echo(close_payload(code, "")),
        Err(error) => Refusal::Close(error.close_code()),
    }
}

/// Checks `data[*checked..]` as UTF-8, allowing an incomplete sequence at the end unless the
/// message is complete; advances `checked` over what is known valid.
fn check_utf8(data: &[u8], checked: &mut usize, complete: bool) -> Result<(), Refusal> {
    let rest = data.get(*checked..).unwrap_or_default();
    match std::str::from_utf8(rest) {
        Ok(_) => {
            *checked = data.len();
            Ok(())
        }
        // An invalid sequence, or a truncated one at the end of the message.
        Err(e) if e.error_len().is_some() || complete => {
            Err(Refusal::Close(close_code::INVALID_PAYLOAD))
        }
        Err(e) => {
            *checked += e.valid_up_to();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
