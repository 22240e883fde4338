//! A subscriber's byte stream after its handshake, decoded without I/O and without allocating per
//! message: WebSocket frames (RFC 6455 §5) or an SSE body (WHATWG HTML §9.2.6), chunked or not
//! (RFC 9112 §7.1), read from one buffer the caller fills and this decoder empties.
//!
//! [`Decoder::decode`] hands out every whole message in the buffer as a slice of it, then moves
//! the unfinished tail to the front; a tail larger than the bound is an error, so a peer cannot
//! make a subscriber buffer without end.

use crate::wire::http;
use crate::wire::websocket::{self, opcode, FrameError};

/// How the stream is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// WebSocket frames from a server (unmasked).
    WebSocket,
    /// An `text/event-stream` body, with or without `Transfer-Encoding: chunked`.
    Sse {
        /// Whether the body is chunked.
        chunked: bool,
    },
}

/// What the stream said.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A whole WebSocket text or binary message, or an SSE event's data.
    Message(&'a [u8]),
    /// A WebSocket ping: its payload is to be echoed in a pong (RFC 6455 §5.5.2).
    Ping(&'a [u8]),
}

/// Whether the stream goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// More may come.
    Open,
    /// The server ended the stream: a WebSocket close frame (its code, if any), or the last
    /// chunk of a chunked body. Nothing after it is read.
    Closed(Option<u16>),
}

/// Why a stream cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A WebSocket frame header is malformed.
    #[error("websocket: {0}")]
    Frame(#[from] FrameError),
    /// RFC 6455 §5.1: "A client MUST close a connection if it detects a masked frame".
    #[error("websocket: the server sent a masked frame")]
    Masked,
    /// RFC 6455 §5.2: RSV bits set without a negotiated extension.
    #[error("websocket: reserved bits {0:#x} set without an extension")]
    Reserved(u8),
    /// RFC 6455 §5.2: opcodes 3–7 and 0xB–0xF are reserved.
    #[error("websocket: reserved opcode {0:#x}")]
    Opcode(u8),
    /// RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes.
    #[error("websocket: control frame {opcode:#x} fragmented or over 125 bytes ({len})")]
    Control {
        /// The frame's opcode.
        opcode: u8,
        /// Its payload length.
        len: u64,
    },
    /// RFC 6455 §5.4: a continuation frame with no message begun, or a new message before the
    /// last one ended.
    #[error("websocket: {0}")]
    Fragments(&'static str),
    /// RFC 9112 §7.1: the chunk framing is malformed.
    #[error("malformed chunk: {0}")]
    Chunk(&'static str),
    /// More than the bound is buffered without making a whole message.
    #[error("more than {0} bytes without a whole message")]
    TooLarge(usize),
}

/// Where a chunked body's decoder is (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Before a `chunk-size [ chunk-ext ] CRLF` line.
    Size,
    /// In a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
}

/// The longest chunk-size line (with extensions) or trailer line accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// The decoder of one subscriber's stream.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    /// Largest unfinished tail (or WebSocket message being assembled) kept.
    bound: usize,
    /// Chunked SSE: bytes at the front of the buffer that are body (de-chunked), the rest raw.
    body: usize,
    chunk: Chunk,
    /// SSE: whether the stream's start (and its optional byte order mark) was passed.
    started: bool,
    /// SSE: where the last, unfinished line of the current event starts (the lines before it
    /// were scanned and do not end it).
    scanned: usize,
    /// SSE: the last event ended in a CR at the end of the bytes; a LF right after it is part of
    /// that line end.
    skip_lf: bool,
    /// A WebSocket message in fragments, or an SSE event's data of several lines.
    joined: Vec<u8>,
    /// WebSocket: whether a fragmented message is under way.
    fragmented: bool,
}

impl Decoder {
    /// A decoder for `framing` that keeps at most `bound` unfinished bytes.
    pub fn new(framing: Framing, bound: usize) -> Decoder {
        Decoder {
            framing,
            bound,
            body: 0,
            chunk: Chunk::Size,
            started: false,
            scanned: 0,
            skip_lf: false,
            joined: Vec::new(),
            fragmented: false,
        }
    }

    /// Decodes every whole item at the front of `buf`, calling `each` for each one in order, and
    /// leaves only the unfinished tail in `buf`.
    pub fn decode(
        &mut self,
        buf: &mut Vec<u8>,
        mut each: impl FnMut(Item<'_>),
    ) -> Result<Flow, DecodeError> {
        let (flow, used) = match self.framing {
            Framing::WebSocket => self.websocket(buf, &mut each)?,
            Framing::Sse { chunked } => {
                let mut flow = Flow::Open;
                if chunked {
                    flow = self.dechunk(buf)?;
                } else {
                    self.body = buf.len();
                }
                let used = self.sse(buf, &mut each);
                self.body -= used;
                (flow, used)
            }
        };
        buf.drain(..used);
        // A WebSocket frame's payload and a message's fragments were held to the bound as their
        // lengths came in; an SSE event has no length but where it ends.
        if matches!(self.framing, Framing::Sse { .. }) && buf.len() > self.bound {
            return Err(DecodeError::TooLarge(self.bound));
        }
        Ok(flow)
    }

    /// WebSocket frames (RFC 6455 §5.2) at the front of `buf`: returns the bytes they took.
    fn websocket(
        &mut self,
        buf: &[u8],
        each: &mut impl FnMut(Item<'_>),
    ) -> Result<(Flow, usize), DecodeError> {
        let mut at = 0;
        loop {
            let rest = buf.get(at..).unwrap_or_default();
            let Some(header) = websocket::decode_header(rest)? else {
                return Ok((Flow::Open, at));
            };
            if header.mask.is_some() {
                return Err(DecodeError::Masked);
            }
            if header.rsv != 0 {
                return Err(DecodeError::Reserved(header.rsv));
            }
            let is_control = opcode::is_control(header.opcode);
            if opcode::is_reserved(header.opcode) {
                return Err(DecodeError::Opcode(header.opcode));
            }
            // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST
            // NOT be fragmented."
            if is_control
                && (!header.fin || header.payload_len > websocket::MAX_CONTROL_PAYLOAD as u64)
            {
                return Err(DecodeError::Control {
                    opcode: header.opcode,
                    len: header.payload_len,
                });
            }
            if header.payload_len > self.bound as u64 {
                return Err(DecodeError::TooLarge(self.bound));
            }
            let start = header.header_len;
            let end = start + header.payload_len as usize;
            let Some(payload) = rest.get(start..end) else {
                return Ok((Flow::Open, at));
            };
            at += end;
            match header.opcode {
                opcode::TEXT | opcode::BINARY if self.fragmented => {
                    return Err(DecodeError::Fragments(
                        "a new message began before the last one ended",
                    ));
                }
                opcode::TEXT | opcode::BINARY if header.fin => each(Item::Message(payload)),
                opcode::TEXT | opcode::BINARY => {
                    self.fragmented = true;
                    self.joined.clear();
                    self.append_fragment(payload)?;
                }
                opcode::CONTINUATION if !self.fragmented => {
                    return Err(DecodeError::Fragments(
                        "a continuation frame with no message begun",
                    ));
                }
                opcode::CONTINUATION => {
                    self.append_fragment(payload)?;
                    if header.fin {
                        self.fragmented = false;
                        each(Item::Message(&self.joined));
                        self.joined.clear();
                    }
                }
                opcode::PING => each(Item::Ping(payload)),
                opcode::CLOSE => {
                    // §5.5.1: the first two bytes of a close payload, if any, are its code.
                    let code = payload
                        .get(..2)
                        .map(|code| u16::from_be_bytes([code[0], code[1]]));
                    return Ok((Flow::Closed(code), at));
                }
                // Pongs answer nothing we asked: ignored (§5.5.3).
                _ => {}
            }
        }
    }

    fn append_fragment(&mut self, payload: &[u8]) -> Result<(), DecodeError> {
        if self.joined.len() + payload.len() > self.bound {
            return Err(DecodeError::TooLarge(self.bound));
        }
        self.joined.extend_from_slice(payload);
        Ok(())
    }

    /// Moves the data of the whole chunks in `buf[self.body..]` down to `self.body` (RFC 9112
    /// §7.1), so that `buf[..self.body]` is body and only an unfinished chunk line stays raw.
    fn dechunk(&mut self, buf: &mut Vec<u8>) -> Result<Flow, DecodeError> {
        let mut raw = self.body;
        let mut flow = Flow::Open;
        loop {
            let rest = buf.get(raw..).unwrap_or_default();
            match self.chunk {
                Chunk::Size => {
                    let Some(line) = chunk_line(rest)? else { break };
                    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                    if digits == 0 {
                        return Err(DecodeError::Chunk("a chunk-size line without a hex size"));
                    }
                    // §7.1.1: extensions are ignored; anything else after the size is not.
                    let after = line.get(digits..).unwrap_or_default();
                    let after = after.trim_ascii_start();
                    if !after.is_empty() && !after.starts_with(b";") {
                        return Err(DecodeError::Chunk("junk after the chunk size"));
                    }
                    let size = http::chunk_size(&line[..digits])
                        .ok_or(DecodeError::Chunk("a chunk size over 64 bits"))?;
                    raw += line.len() + 2;
                    self.chunk = if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(left) => {
                    if rest.is_empty() {
                        break;
                    }
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    buf.copy_within(raw..raw + take, self.body);
                    self.body += take;
                    raw += take;
                    let left = left - take as u64;
                    self.chunk = if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    };
                }
                Chunk::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        raw += 2;
                        self.chunk = Chunk::Size;
                    }
                    [] | [b'\r'] => break,
                    _ => return Err(DecodeError::Chunk("chunk data not followed by CRLF")),
                },
                Chunk::Trailer => {
                    let Some(line) = chunk_line(rest)? else { break };
                    raw += line.len() + 2;
                    if line.is_empty() {
                        flow = Flow::Closed(None);
                        raw = buf.len();
                        break;
                    }
                }
            }
        }
        // Close the gap between the body and the raw bytes still to decode.
        buf.copy_within(raw.., self.body);
        buf.truncate(self.body + (buf.len() - raw));
        Ok(flow)
    }

    /// The whole SSE events in `buf[..self.body]`: hands out each one's data and returns the
    /// bytes they took.
    fn sse(&mut self, buf: &[u8], each: &mut impl FnMut(Item<'_>)) -> usize {
        let body = buf.get(..self.body).unwrap_or_default();
        let mut at = 0;
        // §9.2.6: "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are
        // present."
        if !self.started {
            if body.len() < 3 && b"\xEF\xBB\xBF".starts_with(body) {
                return 0;
            }
            self.started = true;
            if body.starts_with(b"\xEF\xBB\xBF") {
                at = 3;
            }
        }
        loop {
            if self.skip_lf && at < body.len() {
                self.skip_lf = false;
                if body[at] == b'\n' {
                    at += 1;
                }
            }
            let event = body.get(at..).unwrap_or_default();
            let (length, cr_last) = match event_length(event, self.scanned) {
                Ok(found) => found,
                Err(from) => {
                    self.scanned = from;
                    return at;
                }
            };
            self.scanned = 0;
            self.skip_lf = cr_last;
            if let Some(data) = self.event_data(&event[..length]) {
                each(Item::Message(data));
            }
            at += length;
        }
    }

    /// The data of one event block (its lines, ending with the empty line): `None` when it has
    /// no `data` field, so nothing is dispatched (§9.2.6: "If the data buffer is an empty string,
    /// set the data buffer and the event type buffer to the empty string and return").
    fn event_data<'a>(&'a mut self, block: &'a [u8]) -> Option<&'a [u8]> {
        let mut first: Option<&[u8]> = None;
        let mut lines = 0;
        self.joined.clear();
        for line in Lines(block) {
            // §9.2.6: a line that starts with a colon is a comment.
            if line.first() == Some(&b':') {
                continue;
            }
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &b""[..]),
            };
            // `event`, `id` and `retry` say nothing a fan-out counts.
            if field != b"data" {
                continue;
            }
            // "Append the field value to the data buffer, then append a single U+000A LINE
            // FEED (LF) character"; the last LF is removed at dispatch.
            lines += 1;
            match lines {
                1 => first = Some(value),
                2 => {
                    self.joined.extend_from_slice(first.unwrap_or_default());
                    self.joined.push(b'\n');
                    self.joined.extend_from_slice(value);
                }
                _ => {
                    self.joined.push(b'\n');
                    self.joined.extend_from_slice(value);
                }
            }
        }
        match lines {
            0 => None,
            1 => first,
            _ => Some(&self.joined),
        }
    }
}

/// A chunk-size or trailer line at the front of `bytes`, without its CRLF; `None` until it is
/// whole. §7.1: chunk framing ends its lines in CRLF, never a bare LF.
fn chunk_line(bytes: &[u8]) -> Result<Option<&[u8]>, DecodeError> {
    let window = &bytes[..bytes.len().min(MAX_CHUNK_LINE)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) if lf > 0 && window[lf - 1] == b'\r' => Ok(Some(&window[..lf - 1])),
        Some(_) => Err(DecodeError::Chunk("a chunk line ends in a bare LF")),
        None if bytes.len() >= MAX_CHUNK_LINE => Err(DecodeError::Chunk("a chunk line too long")),
        None => Ok(None),
    }
}

/// The event block at the front of `bytes`, up to and including the empty line that ends it.
///
/// `Ok((length, cr))`: its length, and whether it ended in a CR that was the last byte (a LF may
/// follow it and belongs to it). `Err(from)`: the block is unfinished, and `from` is the start of
/// its last, unfinished line (where the next scan starts). `from` is a line start. §9.2.6: lines
/// end in CRLF, LF or CR.
fn event_length(bytes: &[u8], from: usize) -> Result<(usize, bool), usize> {
    let mut at = from;
    while let Some(rest) = bytes.get(at..).filter(|rest| !rest.is_empty()) {
        let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
            return Err(at);
        };
        let (width, cr_last) = match (rest[end], rest.get(end + 1)) {
            (b'\r', Some(b'\n')) => (2, false),
            (b'\r', None) => (1, true),
            _ => (1, false),
        };
        if end == 0 {
            return Ok((at + width, cr_last));
        }
        if cr_last {
            // A field line ending in a CR at the very end: whole, but the block is not.
            return Err(at);
        }
        at += end + width;
    }
    Err(at)
}

/// The lines of an event block, line ends (CRLF, LF or CR) removed; the empty last line is not
/// one of them.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let bytes = self.0;
        let end = bytes.iter().position(|&b| b == b'\n' || b == b'\r')?;
        let width = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        self.0 = &bytes[end + width..];
        if end == 0 && self.0.is_empty() {
            return None;
        }
        Some(&bytes[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: usize = 1024;

    /// Feeds `reads` one after another; returns every item (pings as `ping:` + payload) and the
    /// last flow.
    fn feed(framing: Framing, reads: &[&[u8]]) -> Result<(Vec<String>, Flow), DecodeError> {
        let mut decoder = Decoder::new(framing, BOUND);
        let mut buf = Vec::new();
        let mut items = Vec::new();
        let mut flow = Flow::Open;
        for read in reads {
            buf.extend_from_slice(read);
            flow = decoder.decode(&mut buf, |item| {
                items.push(match item {
                    Item::Message(data) => String::from_utf8_lossy(data).into_owned(),
                    Item::Ping(payload) => format!("ping:{}", String::from_utf8_lossy(payload)),
                })
            })?;
            if flow != Flow::Open {
                break;
            }
        }
        Ok((items, flow))
    }

    fn all(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Every split of `bytes` in two reads gives the same items as one read.
    fn same_in_two_reads(framing: Framing, bytes: &[u8]) {
        let whole = feed(framing, &[bytes]);
        for cut in 0..=bytes.len() {
            assert_eq!(
                feed(framing, &[&bytes[..cut], &bytes[cut..]]),
                whole,
                "cut {cut}"
            );
        }
        // And byte by byte.
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(feed(framing, &single), whole);
    }

    const WS: Framing = Framing::WebSocket;
    const SSE: Framing = Framing::Sse { chunked: false };
    const CHUNKED: Framing = Framing::Sse { chunked: true };

    #[test]
    fn websocket_messages_several_per_read_and_split_across_reads() {
        let bytes = b"\x81\x03one\x82\x03two\x81\x05three";
        assert_eq!(
            feed(WS, &[bytes]),
            Ok((all(&["one", "two", "three"]), Flow::Open))
        );
        same_in_two_reads(WS, bytes);
    }

    #[test]
    fn websocket_lengths_of_16_bits_are_read() {
        let mut bytes = vec![0x81, 126, 0x01, 0x00];
        bytes.extend(std::iter::repeat_n(b'x', 256));
        let (items, _) = feed(WS, &[&bytes]).expect("decodes");
        assert_eq!(items, vec!["x".repeat(256)]);
    }

    #[test]
    fn websocket_pings_are_handed_out_between_messages() {
        let bytes = b"\x81\x01a\x89\x02hi\x8a\x00\x81\x01b";
        assert_eq!(
            feed(WS, &[bytes]),
            Ok((all(&["a", "ping:hi", "b"]), Flow::Open))
        );
        same_in_two_reads(WS, bytes);
    }

    #[test]
    fn websocket_fragments_are_joined_around_a_ping() {
        let bytes = b"\x01\x02ab\x89\x00\x00\x01c\x80\x01d";
        assert_eq!(
            feed(WS, &[bytes]),
            Ok((all(&["ping:", "abcd"]), Flow::Open))
        );
        same_in_two_reads(WS, bytes);
    }

    #[test]
    fn websocket_close_ends_the_stream_with_its_code() {
        assert_eq!(
            feed(WS, &[b"\x81\x01a\x88\x02\x03\xe9\x81\x01b"]),
            Ok((all(&["a"]), Flow::Closed(Some(1001))))
        );
        assert_eq!(feed(WS, &[b"\x88\x00"]), Ok((vec![], Flow::Closed(None))));
    }

    #[test]
    fn websocket_protocol_errors_are_named() {
        assert_eq!(feed(WS, &[b"\x81\x81abcdx"]), Err(DecodeError::Masked));
        assert_eq!(feed(WS, &[b"\xc1\x00"]), Err(DecodeError::Reserved(4)));
        assert_eq!(feed(WS, &[b"\x83\x00"]), Err(DecodeError::Opcode(3)));
        assert_eq!(
            feed(WS, &[b"\x09\x00"]),
            Err(DecodeError::Control { opcode: 9, len: 0 })
        );
        assert_eq!(
            feed(WS, &[b"\x80\x00"]),
            Err(DecodeError::Fragments(
                "a continuation frame with no message begun"
            ))
        );
        assert_eq!(
            feed(WS, &[b"\x01\x00\x81\x00"]),
            Err(DecodeError::Fragments(
                "a new message began before the last one ended"
            ))
        );
        assert_eq!(
            feed(WS, &[b"\x81\x7e\x00\x05"]),
            Err(DecodeError::Frame(FrameError::NonMinimalLength))
        );
    }

    #[test]
    fn websocket_payload_of_exactly_the_bound_is_read() {
        let mut bytes = vec![0x82, 126, 0x04, 0x00];
        bytes.extend(std::iter::repeat_n(b'x', BOUND));
        // All but the last byte first: header and payload are briefly more than the bound.
        let last = bytes.len() - 1;
        let (items, _) = feed(WS, &[&bytes[..last], &bytes[last..]]).expect("decodes");
        assert_eq!(items, vec!["x".repeat(BOUND)]);
    }

    #[test]
    fn websocket_payloads_over_the_bound_are_refused_before_they_arrive() {
        // A 2,000-byte frame header alone: refused without waiting for the payload.
        assert_eq!(
            feed(WS, &[b"\x81\x7e\x07\xd0"]),
            Err(DecodeError::TooLarge(BOUND))
        );
        let mut fragments = Vec::new();
        for _ in 0..3 {
            fragments.extend_from_slice(&[0x00, 126, 0x01, 0x90]);
            fragments.extend(std::iter::repeat_n(b'x', 400));
        }
        fragments[0] = 0x01;
        assert_eq!(feed(WS, &[&fragments]), Err(DecodeError::TooLarge(BOUND)));
    }

    #[test]
    fn sse_events_several_per_read_and_split_across_reads() {
        let bytes = b"data: {\"seq\":1}\n\nid: 2\ndata:{\"seq\":2}\r\n\r\ndata: three\r\r";
        assert_eq!(
            feed(SSE, &[bytes]),
            Ok((all(&["{\"seq\":1}", "{\"seq\":2}", "three"]), Flow::Open))
        );
        same_in_two_reads(SSE, bytes);
    }

    #[test]
    fn sse_comments_retry_and_events_without_data_dispatch_nothing() {
        let bytes = b": keep-alive\n\nretry: 2000\n\nevent: ping\nid: 4\n\n:x\ndata: a\n\n";
        assert_eq!(feed(SSE, &[bytes]), Ok((all(&["a"]), Flow::Open)));
        same_in_two_reads(SSE, bytes);
    }

    #[test]
    fn sse_data_lines_are_joined_with_line_feeds() {
        let bytes = b"data: a\ndata\ndata: c\n\n";
        assert_eq!(feed(SSE, &[bytes]), Ok((all(&["a\n\nc"]), Flow::Open)));
        same_in_two_reads(SSE, bytes);
    }

    #[test]
    fn sse_byte_order_mark_is_skipped_once() {
        let bytes = b"\xEF\xBB\xBFdata: a\n\n";
        assert_eq!(feed(SSE, &[bytes]), Ok((all(&["a"]), Flow::Open)));
        same_in_two_reads(SSE, bytes);
    }

    #[test]
    fn sse_unfinished_event_over_the_bound_is_an_error() {
        let long = vec![b'x'; BOUND + 1];
        assert_eq!(
            feed(SSE, &[b"data: ", &long]),
            Err(DecodeError::TooLarge(BOUND))
        );
    }

    #[test]
    fn chunked_sse_is_dechunked_across_any_split() {
        // Two events, the first cut across two chunks, the second with a chunk extension.
        let bytes = b"7\r\ndata: a\r\n5\r\n\n\ndat\r\n7;x=1\r\na: bc\n\n\r\n";
        assert_eq!(feed(CHUNKED, &[bytes]), Ok((all(&["a", "bc"]), Flow::Open)));
        same_in_two_reads(CHUNKED, bytes);
    }

    #[test]
    fn chunked_sse_ends_at_the_last_chunk() {
        let bytes = b"9\r\ndata: a\n\n\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(
            feed(CHUNKED, &[bytes]),
            Ok((all(&["a"]), Flow::Closed(None)))
        );
        same_in_two_reads(CHUNKED, bytes);
    }

    #[test]
    fn chunked_framing_errors_are_named() {
        assert_eq!(
            feed(CHUNKED, &[b"zz\r\n"]),
            Err(DecodeError::Chunk("a chunk-size line without a hex size"))
        );
        assert_eq!(
            feed(CHUNKED, &[b"3 junk\r\n"]),
            Err(DecodeError::Chunk("junk after the chunk size"))
        );
        assert_eq!(
            feed(CHUNKED, &[b"3\n"]),
            Err(DecodeError::Chunk("a chunk line ends in a bare LF"))
        );
        assert_eq!(
            feed(CHUNKED, &[b"1\r\naXY"]),
            Err(DecodeError::Chunk("chunk data not followed by CRLF"))
        );
        assert_eq!(
            feed(CHUNKED, &[b"11111111111111111\r\n"]),
            Err(DecodeError::Chunk("a chunk size over 64 bits"))
        );
    }
}
