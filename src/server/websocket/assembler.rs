//! The incoming side of RFC 6455 as a pure function of bytes: an [`Assembler`] takes the bytes a
//! client sent and gives back whole messages, the control frames to answer, or the [`Violation`]
//! that fails the connection (§5.2–§5.6: header checks before any payload, unmasking,
//! fragmentation with control frames between fragments, UTF-8 checked as it arrives and across
//! fragments, a message size limit). No I/O and no async: the connection reads into it.
//!
//! Memory: bytes are kept only while a frame is incomplete; a data frame's payload is moved into
//! its message as it arrives, so a large frame is never held twice.

use crate::wire::websocket::{apply_mask, close_code, decode_header, opcode, FrameError, Header};

/// A whole message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (valid UTF-8, RFC 6455 §5.6).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// What one turn of the assembler produced (RFC 6455 §6.2, "Receiving Data").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A whole message.
    Message(Incoming),
    /// A ping, unmasked: to be answered with a pong carrying this payload (§5.5.2).
    Ping(Vec<u8>),
    /// A close frame's payload, unmasked and not yet judged (the closing handshake reads it).
    Close(Vec<u8>),
    /// Nothing for the caller yet (a pong, a fragment, part of a frame): call again.
    Nothing,
    /// Every buffered byte is used: more bytes are needed.
    NeedMore,
}

/// Why the client's bytes fail the connection (RFC 6455 §7.1.7), with the close code to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// §5.2: a length that is not minimally encoded, or a 64-bit one with its top bit set.
    #[error("malformed frame length: {0}")]
    Length(#[from] FrameError),
    /// §5.2: RSV1–3 must be 0 unless an extension defines them; none is negotiated.
    #[error("RSV bits {0:#05b} set with no extension negotiated")]
    ReservedBits(u8),
    /// §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
    #[error("a client frame is not masked")]
    Unmasked,
    /// §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST NOT be
    /// fragmented."
    #[error("control frame fragmented or longer than 125 bytes")]
    ControlFrame,
    /// §5.4: a continuation frame needs a fragmented message to continue.
    #[error("continuation frame with no message to continue")]
    NothingToContinue,
    /// §5.4: the fragments of one message are not interleaved with another message's.
    #[error("a new message inside a fragmented one")]
    Interleaved,
    /// §8.1: a text message that is not UTF-8.
    #[error("text that is not UTF-8")]
    InvalidUtf8,
    /// §7.4.1 code 1009: a message (all its fragments) over the limit.
    #[error("message over {limit} bytes")]
    TooBig {
        /// The limit (`--max-message-bytes`).
        limit: usize,
    },
}

impl Violation {
    /// The close code that fails the connection (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            Violation::InvalidUtf8 => close_code::INVALID_PAYLOAD,
            Violation::TooBig { .. } => close_code::TOO_BIG,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Client bytes in, [`Received`] out; see the module docs.
#[derive(Debug)]
pub struct Assembler {
    /// Bytes received and not assembled yet: empty, with nothing allocated once
    /// [`Assembler::release_if_empty`] ran, while no frame is incomplete.
    buf: Vec<u8>,
    /// The data frame whose payload is arriving.
    frame: Option<InFrame>,
    /// The message its fragments go into.
    message: Option<Partial>,
    /// Payload bytes of a refused frame still to skip while looking for the close reply.
    skip: u64,
    /// False once the bytes cannot be parsed into frames any more (a malformed length).
    parseable: bool,
    max_message_bytes: usize,
}

/// The data frame being received: its header and the payload bytes still to come.
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

impl Assembler {
    /// An assembler that refuses messages over `max_message_bytes` with [`Violation::TooBig`].
    pub fn new(max_message_bytes: usize) -> Self {
        Assembler {
            buf: Vec::new(),
            frame: None,
            message: None,
            skip: 0,
            parseable: true,
            max_message_bytes,
        }
    }

    /// Appends bytes the client sent.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Lets `read` fill room for `want` more bytes at the end of the buffer (the reader writes
    /// straight into it), then keeps what it reported filled (`Ready(Ok(n))`) and nothing else.
    ///
    /// A buffer left much larger than this read needs (after a large frame) is shrunk first, so
    /// the buffer never stays large once the frames are small again.
    pub fn fill<E>(
        &mut self,
        want: usize,
        read: impl FnOnce(&mut [u8]) -> std::task::Poll<Result<usize, E>>,
    ) -> std::task::Poll<Result<usize, E>> {
        let start = self.buf.len();
        let needed = start + want;
        if self.buf.capacity() > needed * 2 {
            self.buf.shrink_to(needed);
        }
        self.buf.resize(needed, 0);
        let result = read(&mut self.buf[start..]);
        let n = match &result {
            std::task::Poll::Ready(Ok(n)) => (*n).min(want),
            _ => 0,
        };
        self.buf.truncate(start + n);
        result
    }

    /// Frees the buffer when it holds nothing (an idle connection keeps no allocation).
    pub fn release_if_empty(&mut self) {
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
    }

    /// Bytes received and not assembled yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes the buffer has room for (its allocation).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Payload bytes of the current data frame still to come (0 between frames).
    pub fn frame_remaining(&self) -> u64 {
        self.frame.map_or(0, |frame| frame.remaining)
    }

    /// Drops the message being reassembled (the connection is closing).
    pub fn discard_message(&mut self) {
        self.message = None;
    }

    /// Drops everything buffered, allocation included (the connection is over).
    pub fn release(&mut self) {
        self.buf = Vec::new();
    }

    /// Assembles what the buffer holds into at most one [`Received`].
    pub fn assemble(&mut self) -> Result<Received, Violation> {
        let Some(frame) = self.frame else {
            return self.start_frame();
        };
        // Inside a data frame: take what has arrived of its payload.
        let take = usize::try_from(frame.remaining)
            .unwrap_or(usize::MAX)
            .min(self.buf.len());
        if take == 0 && frame.remaining > 0 {
            return Ok(Received::NeedMore);
        }
        let mut chunk: Vec<u8> = self.buf.drain(..take).collect();
        if let Some(mask) = frame.header.mask {
            apply_mask(&mut chunk, mask, frame.offset);
        }
        let remaining = frame.remaining - take as u64;
        let last_of_message = frame.header.fin && remaining == 0;
        let Some(partial) = self.message.as_mut() else {
            return Err(Violation::NothingToContinue);
        };
        partial.data.extend_from_slice(&chunk);
        // The frame's progress is recorded before the payload is judged: after a violation,
        // `skip_to_close` skips only what is left of this frame, then finds the close reply.
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
        if remaining > 0 || !frame.header.fin {
            return Ok(Received::Nothing);
        }
        let Some(partial) = self.message.take() else {
            return Err(Violation::NothingToContinue);
        };
        if partial.text {
            match String::from_utf8(partial.data) {
                Ok(text) => Ok(Received::Message(Incoming::Text(text))),
                Err(_) => Err(Violation::InvalidUtf8),
            }
        } else {
            Ok(Received::Message(Incoming::Binary(partial.data)))
        }
    }

    /// Decodes and checks the next frame header; control frames are taken whole.
    fn start_frame(&mut self) -> Result<Received, Violation> {
        let header = match decode_header(&self.buf) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(Received::NeedMore),
            // RFC 6455 §5.2: a malformed length is a protocol error, and the end of framing.
            Err(error) => {
                self.parseable = false;
                return Err(Violation::Length(error));
            }
        };
        let mask = match self.check_header(&header) {
            Ok(mask) => mask,
            Err(violation) => {
                // The refused frame is skipped while looking for the close reply.
                self.buf.drain(..header.header_len);
                self.skip = header.payload_len;
                return Err(violation);
            }
        };
        if opcode::is_control(header.opcode) {
            // Control frames are at most 125 bytes (checked): wait for the whole frame.
            let end = header.header_len + header.payload_len as usize;
            if self.buf.len() < end {
                return Ok(Received::NeedMore);
            }
            let mut payload = self.buf[header.header_len..end].to_vec();
            self.buf.drain(..end);
            apply_mask(&mut payload, mask, 0);
            return Ok(match header.opcode {
                opcode::PING => Received::Ping(payload),
                opcode::CLOSE => Received::Close(payload),
                // §5.5.3: an unsolicited pong needs no answer.
                _ => Received::Nothing,
            });
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
        // Zero-length frames complete on the next turn.
        Ok(Received::Nothing)
    }

    /// The header checks of RFC 6455 §5, before any payload is read; returns the masking key.
    fn check_header(&self, header: &Header) -> Result<[u8; 4], Violation> {
        // §5.2: RSV1–3 must be 0 unless an extension defines them; none is negotiated.
        if header.rsv != 0 {
            return Err(Violation::ReservedBits(header.rsv));
        }
        // §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
        let Some(mask) = header.mask else {
            return Err(Violation::Unmasked);
        };
        let so_far = match header.opcode {
            // §5.4: a continuation needs a fragmented message to continue.
            opcode::CONTINUATION => match &self.message {
                Some(partial) => partial.data.len(),
                None => return Err(Violation::NothingToContinue),
            },
            // §5.4: the fragments of one message are not interleaved with another's.
            opcode::TEXT | opcode::BINARY => {
                if self.message.is_some() {
                    return Err(Violation::Interleaved);
                }
                0
            }
            // §5.5: control frames carry at most 125 bytes and are never fragmented.
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !header.fin || header.payload_len > 125 {
                    return Err(Violation::ControlFrame);
                }
                return Ok(mask);
            }
            // §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved.
            reserved => return Err(Violation::ReservedOpcode(reserved)),
        };
        // §7.4.1 code 1009: a message (all its fragments) over the limit, refused before its
        // payload is buffered.
        let room = self.max_message_bytes.saturating_sub(so_far) as u64;
        if header.payload_len > room {
            return Err(Violation::TooBig {
                limit: self.max_message_bytes,
            });
        }
        Ok(mask)
    }

    /// After the server sent its close (RFC 6455 §1.4: what the peer still sends is not
    /// processed), discards the client's bytes frame by frame; true once the header of the
    /// client's close frame is there (§5.5.1: its close reply ends the closing handshake).
    ///
    /// Only what is left of a frame cut by a [`Violation`] is skipped, so a close reply right
    /// behind it is found; once the bytes are no frames (a malformed length), nothing is found.
    pub fn skip_to_close(&mut self) -> bool {
        if let Some(frame) = self.frame.take() {
            self.skip = frame.remaining;
        }
        loop {
            let skipped = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.buf.drain(..skipped);
            self.skip -= skipped as u64;
            if self.skip > 0 || !self.parseable {
                self.buf.clear();
                return false;
            }
            match decode_header(&self.buf) {
                Ok(Some(header)) if header.opcode == opcode::CLOSE => return true,
                Ok(Some(header)) => {
                    self.buf.drain(..header.header_len);
                    self.skip = header.payload_len;
                }
                Ok(None) => return false,
                Err(_) => self.parseable = false,
            }
        }
    }
}

/// Checks `data[*checked..]` as UTF-8, allowing an incomplete sequence at the end unless the
/// message is complete; advances `checked` over what is known valid.
fn check_utf8(data: &[u8], checked: &mut usize, complete: bool) -> Result<(), Violation> {
    let rest = data.get(*checked..).unwrap_or_default();
    match std::str::from_utf8(rest) {
        Ok(_) => {
            *checked = data.len();
            Ok(())
        }
        // An invalid sequence, or a truncated one at the end of the message.
        Err(e) if e.error_len().is_some() || complete => Err(Violation::InvalidUtf8),
        Err(e) => {
            *checked += e.valid_up_to();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
