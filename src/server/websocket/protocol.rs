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
//! write call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_std::channel::{bounded, Receiver, Sender};
use async_std::task::{self, JoinHandle};
use futures_lite::io::{
    split, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf,
};
use futures_lite::FutureExt;

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
const OUTBOX_FRAMES: usize = 64;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;
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

/// Queues frames for the connection's writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    frames: Sender<Vec<u8>>,
    close: Sender<Vec<u8>>,
    closing: Arc<AtomicBool>,
    notify: Sender<()>,
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
        self.closing.load(Ordering::SeqCst)
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
        if self.closing.swap(true, Ordering::SeqCst) {
            return false;
        }
        let queued = self
            .close
            .try_send(server_frame(opcode::CLOSE, payload))
            .is_ok();
        self.close.close();
        self.notify.close();
        queued
    }

    /// Stops the writer without a close frame (the peer is gone).
    fn abandon(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.close.close();
        self.notify.close();
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
    let (reader, writer) = split(stream);
    let (frames_tx, frames_rx) = bounded(OUTBOX_FRAMES);
    let (close_tx, close_rx) = bounded(1);
    let (notify_tx, notify_rx) = bounded(1);
    let outbox = Outbox {
        frames: frames_tx,
        close: close_tx,
        closing: Arc::new(AtomicBool::new(false)),
        notify: notify_tx,
    };
    let writer = task::spawn(write_frames(writer, frames_rx, close_rx));
    let session = Session {
        reader: Some(reader),
        skip: 0,
        parseable: true,
        echoed: false,
        buf: Vec::new(),
        scratch: vec![0; READ_CHUNK],
        frame: None,
        message: None,
        max_message_bytes,
        outbox: outbox.clone(),
        notify: notify_rx,
        writer: Some(writer),
        done: false,
    };
    (session, outbox)
}

/// What the writer task takes next.
enum Out {
    Frame(Vec<u8>),
    Close(Vec<u8>),
    Gone,
}

/// The writer task: queued frames first, then the close frame, then the TCP write side is shut
/// down (RFC 6455 §7.1.1: the server closes the TCP connection first).
async fn write_frames<S>(
    mut writer: WriteHalf<S>,
    frames: Receiver<Vec<u8>>,
    close: Receiver<Vec<u8>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let close_only = || async { close.recv().await.map_or(Out::Gone, Out::Close) };
        let next = async {
            match frames.recv().await {
                Ok(frame) => Out::Frame(frame),
                Err(_) => close_only().await,
            }
        }
        .or(close_only())
        .await;
        match next {
            Out::Frame(frame) => {
                if writer.write_all(&frame).await.is_err() {
                    return;
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
    buf: Vec<u8>,
    scratch: Vec<u8>,
    frame: Option<InFrame>,
    message: Option<Partial>,
    max_message_bytes: usize,
    outbox: Outbox,
    notify: Receiver<()>,
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
        let Some(reader) = self.reader.as_mut() else {
            return false;
        };
        let scratch = &mut self.scratch;
        let notify = &self.notify;
        let read = async { Some(reader.read(scratch).await) };
        let closing = async {
            // Nothing is sent on `notify`: `recv` returns when a close is queued.
            let _ = notify.recv().await;
            None
        };
        match read.or(closing).await {
            Some(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&self.scratch[..n]);
                true
            }
            Some(_) => {
                // EOF or a reset without a close frame (RFC 6455 §7.1.5: code 1006, never sent).
                self.outbox.abandon();
                self.finish(Ending::PeerGone).await;
                false
            }
            // A close was queued meanwhile: the loop drains.
            None => true,
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
        self.scratch = Vec::new();
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
            match reader.read(&mut self.scratch).await {
                Ok(n) if n > 0 => self.buf.extend_from_slice(&self.scratch[..n]),
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
        if partial.text {
            // RFC 6455 §8.1: invalid UTF-8 fails the connection; checked as bytes arrive, across
            // fragments, so the failure comes as early as the bytes show it.
            check_utf8(&partial.data, &mut partial.checked, last_of_message)?;
        }
        if remaining > 0 {
            self.frame = Some(InFrame {
                remaining,
                offset: frame.offset + take,
                ..frame
            });
            return Ok(Step::Continue);
        }
        self.frame = None;
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
