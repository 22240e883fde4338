//! The server side of the RFC 6455 protocol over any `AsyncRead + AsyncWrite` (§5–§7): frames are
//! read into a bounded buffer and checked header first, messages are reassembled and validated,
//! control frames are answered, and every error ends with a close frame carrying its code followed
//! by the TCP close.
//!
//! Closing the TCP connection means dropping it: async-io's `poll_close` on a TCP stream only
//! flushes, and the upgraded connection shares its socket with the accept loop, so the socket
//! closes when the last handle goes. After the client's close is echoed the server drops at once
//! (RFC 6455 §7.1.1: the server closes first); after the server sent a close it reads until the
//! client's close reply (or EOF, or a short timeout), so unread bytes do not turn the FIN into a
//! RST, then drops.
//!
//! [`open`] splits a connection into a [`Session`] (the reading side: [`Session::next`] yields whole
//! messages and answers pings and closes by itself) and an [`Outbox`] (a cloneable handle that queues
//! frames for one writer task through a bounded queue, so a reader that stops reading holds back its
//! senders instead of growing memory). Each frame is encoded into one buffer and written with one
//! write call. A pushing route ([`open_with_feed`]) hands the writer a [`Feed`] of ready frames
//! that it pulls by itself: a published message goes from the hub's wake-up to the socket with no
//! task in between, and frames that are already waiting go out in one write.
//!
//! Memory per idle connection is kept small: the read buffer starts at [`READ_MIN`] bytes, grows
//! only while a larger frame is arriving or reads keep filling it, and shrinks back afterwards.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

use async_std::channel::{bounded, Receiver, Sender};
use async_std::task::{self, JoinHandle};
use futures_lite::io::{
    split, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf,
};
use futures_lite::{future, FutureExt, Stream, StreamExt};

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
}

/// Frames the outbox holds before senders wait.
const OUTBOX_FRAMES: usize = 16;
/// Bytes asked of the socket per read while nothing larger is known to be coming: what an idle
/// connection holds for reading (a typical client frame fits).
pub const READ_MIN: usize = 512;
/// The most bytes asked of the socket per read (a large frame arrives in reads of this size).
const READ_MAX: usize = 64 * 1024;
/// Bytes of ready feed frames gathered into one write.
const BATCH_BYTES: usize = 64 * 1024;
/// How long, after a close was sent, the peer's bytes are drained (so the kernel ends the TCP
/// connection with a FIN, not a RST) and the writer may take to flush the close frame.
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

/// Frames the writer pulls by itself, after the frames queued in the [`Outbox`] and never once a
/// close is under way; ending without [`Push::Close`] just stops pulling.
pub type Feed = Pin<Box<dyn Stream<Item = Push> + Send>>;

/// Queues frames for the connection's writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    frames: Sender<Vec<u8>>,
    closing: Arc<Closing>,
}

/// The closing handshake, shared by the outbox, the writer and the session: a flag, the close
/// frame waiting for the writer, and the two tasks to wake when a close starts. (Two channels did
/// this before, at some 700 bytes each per connection.)
#[derive(Debug, Default)]
struct Closing {
    /// A close was queued or the connection abandoned: no more data frames.
    started: AtomicBool,
    state: Mutex<CloseState>,
}

#[derive(Debug, Default)]
struct CloseState {
    /// The close frame, until the writer takes it.
    frame: Option<Vec<u8>>,
    writer: Option<Waker>,
    reader: Option<Waker>,
}

impl Closing {
    fn lock(&self) -> MutexGuard<'_, CloseState> {
        // A poisoned lock only means a panic elsewhere; the state stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the close started (with `frame` to send, if any) and wakes the writer and reader;
    /// false when it had already started.
    fn start(&self, frame: Option<Vec<u8>>) -> bool {
        if self.started.swap(true, Ordering::SeqCst) {
            return false;
        }
        let (writer, reader) = {
            let mut state = self.lock();
            state.frame = frame;
            (state.writer.take(), state.reader.take())
        };
        writer.into_iter().chain(reader).for_each(Waker::wake);
        true
    }

    /// The writer's wait: the close frame to send, or `None` when the connection was abandoned.
    async fn for_writer(&self) -> Option<Vec<u8>> {
        futures_lite::future::poll_fn(|cx| {
            let mut state = self.lock();
            if self.started.load(Ordering::SeqCst) {
                return Poll::Ready(state.frame.take());
            }
            state.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// The reader's wait: returns once a close has started.
    async fn started(&self) {
        futures_lite::future::poll_fn(|cx| {
            let mut state = self.lock();
            if self.started.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            state.reader = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Outbox {
    /// Queues a text message (one frame); waits while the queue is full.
    pub async fn text(&self, text: String) -> Result<(), Closed> {
        self.send(opcode::TEXT, text.into_bytes()).await
    }

    /// Queues a binary message (one frame); waits while the queue is full.
    pub async fn binary(&self, data: Vec<u8>) -> Result<(), Closed> {
        self.send(opcode::BINARY, data).await
    }

    /// Starts the closing handshake with `code` (RFC 6455 §5.5.1): frames already queued go first,
    /// then the close frame, then the write side is shut down. Returns false when a close was
    /// already under way (only the first one is sent).
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.close_with(close_payload(code, reason))
    }

    /// Whether a close has been queued (or the connection abandoned).
    pub fn is_closing(&self) -> bool {
        self.closing.started.load(Ordering::SeqCst)
    }

    async fn send(&self, op: u8, payload: Vec<u8>) -> Result<(), Closed> {
        // RFC 6455 §5.5.1: after sending a close frame, the endpoint sends no more data frames.
        if self.is_closing() {
            return Err(Closed);
        }
        self.frames
            .send(server_frame(op, payload))
            .await
            .map_err(|_| Closed)
    }

    fn close_with(&self, payload: Vec<u8>) -> bool {
        self.closing
            .start(Some(server_frame(opcode::CLOSE, payload)))
    }

    /// Stops the writer without a close frame (the peer is gone).
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

/// Splits `stream` and starts its writer task: the reading [`Session`] and its [`Outbox`].
pub fn open<S>(stream: S, max_message_bytes: usize) -> (Session<S>, Outbox)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    open_with_feed(stream, max_message_bytes, None)
}

/// [`open`], with a writer that also pulls the frames of `feed`.
pub fn open_with_feed<S>(
    stream: S,
    max_message_bytes: usize,
    feed: Option<Feed>,
) -> (Session<S>, Outbox)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (reader, writer) = split(stream);
    let (frames_tx, frames_rx) = bounded(OUTBOX_FRAMES);
    let outbox = Outbox {
        frames: frames_tx,
        closing: Arc::default(),
    };
    let feed = feed.map(|feed| (feed, outbox.clone()));
    let closing = outbox.closing.clone();
    let writer = task::spawn(write_frames(writer, frames_rx, closing, feed));
    let session = Session {
        reader: Some(reader),
        skip: 0,
        parseable: true,
        echoed: false,
        buf: Vec::new(),
        last_read_filled: false,
        frame: None,
        message: None,
        max_message_bytes,
        outbox: outbox.clone(),
        writer: Some(writer),
        done: false,
    };
    (session, outbox)
}

/// What the writer task takes next.
enum Out {
    Frame(Vec<u8>),
    Pushed(Arc<[u8]>),
    /// The feed closed the connection or ended: nothing to write yet.
    FeedOver,
    Close(Vec<u8>),
    Gone,
}

/// The writer task: queued frames first, then the feed's, then the close frame, then the TCP
/// write side is shut down (RFC 6455 §7.1.1: the server closes the TCP connection first).
async fn write_frames<S>(
    mut writer: WriteHalf<S>,
    frames: Receiver<Vec<u8>>,
    closing: Arc<Closing>,
    mut feed: Option<(Feed, Outbox)>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let close_only = || async { closing.for_writer().await.map_or(Out::Gone, Out::Close) };
        let queued = async {
            match frames.recv().await {
                Ok(frame) => Out::Frame(frame),
                Err(_) => close_only().await,
            }
        };
        let pushed = async {
            match feed.as_mut() {
                // RFC 6455 §5.5.1: no data frames after a close.
                Some((frames, outbox)) if !outbox.is_closing() => {
                    pulled(frames.next().await, outbox)
                }
                _ => future::pending().await,
            }
        };
        let next = queued.or(close_only()).or(pushed).await;
        match next {
            Out::Frame(frame) => {
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
            }
            Out::Pushed(first) => {
                // Frames already waiting go out with this one, in one write.
                let mut batch: Option<Vec<u8>> = None;
                while let Some((frames, outbox)) = feed.as_mut() {
                    if outbox.is_closing()
                        || batch.as_ref().map_or(first.len(), Vec::len) >= BATCH_BYTES
                    {
                        break;
                    }
                    let Some(more) = future::poll_once(frames.next()).await else {
                        break;
                    };
                    match pulled(more, outbox) {
                        Out::Pushed(frame) => batch
                            .get_or_insert_with(|| first.to_vec())
                            .extend_from_slice(&frame),
                        _ => break,
                    }
                }
                let bytes = batch.as_deref().unwrap_or(&first);
                if writer.write_all(bytes).await.is_err() {
                    return;
                }
            }
            Out::FeedOver => {
                if feed
                    .as_ref()
                    .is_some_and(|(_, outbox)| !outbox.is_closing())
                {
                    // Ended without a close: stop pulling.
                    feed = None;
                }
            }
            Out::Close(frame) => {
                let _ = async_std::future::timeout(DRAIN_TIMEOUT, async {
                    let _ = writer.write_all(&frame).await;
                    let _ = writer.close().await;
                })
                .await;
                return;
            }
            Out::Gone => {
                let _ = writer.close().await;
                return;
            }
        }
    }
}

/// What the writer does with one item of its feed: a frame to write, or (on [`Push::Close`]) the
/// close queued through the outbox, or nothing when the feed ended.
fn pulled(item: Option<Push>, outbox: &Outbox) -> Out {
    match item {
        Some(Push::Frame(frame)) => Out::Pushed(frame),
        Some(Push::Close(code, reason)) => {
            outbox.close(code, reason);
            Out::FeedOver
        }
        None => Out::FeedOver,
    }
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

/// The reading side of a connection.
#[derive(Debug)]
pub struct Session<S> {
    /// Dropped when the session ends, which (with the writer gone) closes the connection.
    reader: Option<ReadHalf<S>>,
    /// Payload bytes of a refused frame still to skip while waiting for the close reply.
    skip: u64,
    /// False once the stream cannot be parsed into frames any more (a malformed length).
    parseable: bool,
    /// The close handshake was started by the client and answered.
    echoed: bool,
    /// Bytes read and not parsed yet; see [`Session::read_size`] for how much is asked per read.
    buf: Vec<u8>,
    /// The last read filled all it asked for (more is likely waiting).
    last_read_filled: bool,
    frame: Option<InFrame>,
    message: Option<Partial>,
    max_message_bytes: usize,
    outbox: Outbox,
    writer: Option<JoinHandle<()>>,
    done: bool,
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The next whole message; `None` once the connection is over (closed by either side, broken
    /// by the peer, or refused with a close code). Pings are answered and a client's close is
    /// echoed along the way; the caller sees neither.
    pub async fn next(&mut self) -> Option<Incoming> {
        if self.done {
            return None;
        }
        loop {
            // RFC 6455 §1.4: once a close is sent, what the peer still sends is not processed.
            if self.outbox.is_closing() {
                let ending = if self.echoed {
                    Ending::Echoed
                } else {
                    Ending::Sent
                };
                self.finish(ending).await;
                return None;
            }
            match self.step() {
                Ok(Step::Message(message)) => return Some(message),
                Ok(Step::Ping(payload)) => {
                    // RFC 6455 §5.5.2–5.5.3: a pong carries the ping's payload.
                    let _ = self.outbox.send(opcode::PONG, payload).await;
                }
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => {
                    if !self.read_more().await {
                        return None;
                    }
                }
                Err(Refusal::Close(code)) => {
                    self.outbox.close(code, "");
                }
                Err(Refusal::Echo(payload)) => {
                    self.echoed = self.outbox.close_with(payload);
                }
            }
        }
    }

    /// Reads once into the buffer; false when the peer is gone (the session is then over).
    async fn read_more(&mut self) -> bool {
        let want = self.read_size();
        let start = self.buf.len();
        let Some(reader) = self.reader.as_mut() else {
            return false;
        };
        let buf = &mut self.buf;
        let closing = &self.outbox.closing;
        let read = async { Some(read_into(reader, buf, want).await) };
        let closing = async {
            closing.started().await;
            None
        };
        match read.or(closing).await {
            Some(Ok(n)) if n > 0 => {
                self.last_read_filled = n == want;
                true
            }
            Some(_) => {
                // EOF or a reset without a close frame (RFC 6455 §7.1.5: code 1006, never sent).
                self.outbox.abandon();
                self.finish(Ending::PeerGone).await;
                false
            }
            // A close was queued meanwhile (the read's room is given back): the loop drains.
            None => {
                self.buf.truncate(start);
                true
            }
        }
    }

    /// Ends the session: lets the writer flush (the close frame last), waits for the client's close
    /// reply when the server closed first, then drops the connection.
    async fn finish(&mut self, ending: Ending) {
        self.done = true;
        self.message = None;
        if let Some(writer) = self.writer.take() {
            let mut writer = writer;
            if async_std::future::timeout(DRAIN_TIMEOUT, &mut writer)
                .await
                .is_err()
            {
                // A peer that reads nothing holds the writer in a write: drop it.
                writer.cancel().await;
            }
        }
        if ending == Ending::Sent {
            let _ = async_std::future::timeout(DRAIN_TIMEOUT, self.await_close_reply()).await;
        }
        self.reader = None;
        self.buf = Vec::new();
    }

    /// Bytes to ask of the next read: the rest of the frame being read (within [`READ_MIN`] and
    /// [`READ_MAX`]), twice the last read's when it filled its buffer, else [`READ_MIN`].
    fn read_size(&self) -> usize {
        let frame_rest = self.frame.map_or(0, |frame| {
            usize::try_from(frame.remaining).unwrap_or(READ_MAX)
        });
        let streak = if self.last_read_filled {
            (self.buf.capacity() * 2).min(READ_MAX)
        } else {
            0
        };
        frame_rest.max(streak).clamp(READ_MIN, READ_MAX)
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
            let Some(reader) = self.reader.as_mut() else {
                return;
            };
            match read_into(reader, &mut self.buf, READ_MIN).await {
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

impl<S> Drop for Session<S> {
    fn drop(&mut self) {
        // A session dropped before it finished (its task cancelled): stop the writer, which
        // otherwise waits on the outbox its feed keeps open.
        if !self.done {
            self.outbox.abandon();
        }
    }
}

/// Appends at most `want` bytes read from `reader` to `buf`; returns how many (0 at EOF).
///
/// `buf`'s spare room is sized for this read only: a buffer left much larger than what it holds
/// (after a large frame) is shrunk first, so a connection keeps no large buffer once idle.
async fn read_into<R>(reader: &mut R, buf: &mut Vec<u8>, want: usize) -> std::io::Result<usize>
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
