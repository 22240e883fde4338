//! Cuts the bytes an upstream sent on one connection into the units a `read` step can wait for
//! (head, body, chunks, SSE events, frames, close), stopping exactly where the runner's reads
//! stop, so that a recorded `read` consumes on replay exactly the bytes it covered when recorded.
//! Pure: bytes in, `until` conditions out; decoded with the runner's own formats in `wire/`.

use std::collections::VecDeque;

use crate::wire::http::{parse_chunk, parse_response_head, ResponseHead};
use crate::wire::sse::{self, Block};
use crate::wire::websocket::decode_frame;

/// What one recorded `read` waits for (the spec's `until:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// `until: head`.
    Head,
    /// `until: body` (a `Content-Length` body).
    Body,
    /// `until: { chunks: N }`.
    Chunks(usize),
    /// `until: { sse_events: N }`.
    SseEvents(usize),
    /// `until: { frames: N }`.
    Frames(usize),
    /// `until: { bytes: N }` (a body that runs until the close, read so far).
    Bytes(usize),
    /// `until: close`.
    Close,
}

/// One cut: the unit, whether the response it belongs to is recorded (an excluded request's
/// answer is consumed here and never written), and what a later capture may need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// What the read waits for.
    pub unit: Unit,
    /// False for the answer to a request the path filters left out.
    pub recorded: bool,
    /// The last SSE event id dispatched when the read ends (what `capture: { sse: id }` sees).
    pub sse_id: Option<String>,
    /// The whole body, when this read completed a `Content-Length` body.
    pub body: Option<Vec<u8>>,
    /// The status of the head this read took.
    pub status: Option<u16>,
    /// The validators of the head this read took (RFC 9110 §8.8: `Last-Modified`, `ETag`), as
    /// (lowercase name, value): a client sends them back as `If-Modified-Since`/`If-None-Match`.
    pub validators: Vec<(String, String)>,
}

/// How the current body is framed, as the runner's connection sees it (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Waiting for a response head.
    Head,
    /// `Content-Length`: this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`, not yet at its last chunk.
    Chunked,
    /// No length: the body runs until the close.
    UntilClose,
    /// After `101 Switching Protocols`.
    WebSocket,
    /// The connection's bytes ended (nothing more to cut).
    Closed,
}

/// The upstream's side of one connection, fed as bytes arrive and cut when the client acts.
#[derive(Debug)]
pub struct Segmenter {
    pending: Vec<u8>,
    eof: bool,
    framing: Framing,
    /// The current body is `text/event-stream`.
    sse: bool,
    /// Decoded chunk data the SSE parser has not taken yet (the runner's `sse_pending`).
    sse_pending: Vec<u8>,
    parser: sse::Parser,
    last_sse_id: Option<String>,
    /// Whether each request sent and not yet answered is recorded, oldest first.
    requests: VecDeque<bool>,
    recorded: bool,
    /// The current response asked for the close (`Connection: close`, or HTTP/1.0).
    closes: bool,
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter {
            pending: Vec::new(),
            eof: false,
            framing: Framing::Head,
            sse: false,
            sse_pending: Vec::new(),
            parser: sse::Parser::default(),
            last_sse_id: None,
            requests: VecDeque::new(),
            recorded: true,
            closes: false,
        }
    }
}

impl Segmenter {
    /// A request went up on this connection; `recorded` is false when the filters leave it out.
    pub fn request(&mut self, recorded: bool) {
        self.requests.push_back(recorded);
    }

    /// Bytes the upstream sent.
    pub fn received(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The upstream closed its side.
    pub fn closed(&mut self) {
        self.eof = true;
    }

    /// Bytes received and not yet covered by a cut.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Every complete unit received so far, in order. An incomplete one stays for a later call.
    pub fn cut(&mut self) -> Vec<Cut> {
        let mut cuts = Vec::new();
        loop {
            let before = cuts.len();
            match self.framing {
                Framing::Closed => break,
                Framing::Head => self.cut_head(&mut cuts),
                Framing::Length(length) => {
                    if self.pending.len() >= length {
                        let body: Vec<u8> = self.pending.drain(..length).collect();
                        self.framing = Framing::Head;
                        cuts.push(self.make(Unit::Body, Some(body), None));
                    }
                }
                Framing::Chunked if self.sse => self.cut_sse_chunks(&mut cuts),
                Framing::Chunked => self.cut_chunks(&mut cuts),
                Framing::UntilClose => self.cut_until_close(&mut cuts),
                Framing::WebSocket => self.cut_frames(&mut cuts),
            }
            if cuts.len() == before {
                break;
            }
        }
        cuts
    }

    fn make(&self, unit: Unit, body: Option<Vec<u8>>, status: Option<u16>) -> Cut {
        Cut {
            unit,
            recorded: self.recorded,
            sse_id: self.last_sse_id.clone(),
            body,
            status,
            validators: Vec::new(),
        }
    }

    fn cut_head(&mut self, cuts: &mut Vec<Cut>) {
        match parse_response_head(&self.pending) {
            Ok(Some(head)) => {
                self.pending.drain(..head.length);
                let interim = (100..200).contains(&head.status) && head.status != 101;
                self.recorded = if interim {
                    self.requests.front().copied().unwrap_or(true)
                } else {
                    self.requests.pop_front().unwrap_or(true)
                };
                self.start(&head);
                let mut cut = self.make(Unit::Head, None, Some(head.status));
                cut.validators = ["last-modified", "etag"]
                    .iter()
                    .filter_map(|name| head.header(name).map(|v| (name.to_string(), v.to_string())))
                    .collect();
                cuts.push(cut);
            }
            Ok(None) if self.pending.is_empty() && self.eof && self.closes => {
                self.framing = Framing::Closed;
                cuts.push(self.make(Unit::Close, None, None));
            }
            Ok(None) => {}
            // Not HTTP: what the runner would read is everything up to the close.
            Err(_) if self.eof => {
                self.pending.clear();
                self.framing = Framing::Closed;
                cuts.push(self.make(Unit::Close, None, None));
            }
            Err(_) => {}
        }
    }

    /// RFC 9112 §6.3, as the runner frames a body after a head.
    fn start(&mut self, head: &ResponseHead) {
        self.sse = head
            .header("content-type")
            .is_some_and(|value| value.trim_start().starts_with("text/event-stream"));
        self.sse_pending.clear();
        self.parser = sse::Parser::default();
        self.last_sse_id = None;
        self.closes = head.version == "HTTP/1.0"
            || head
                .header_values("connection")
                .any(|value| value.to_ascii_lowercase().contains("close"));
        self.framing = if head.status == 101 {
            Framing::WebSocket
        } else if (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
            Framing::Head
        } else if head
            .header("transfer-encoding")
            .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked
        } else {
            match head
                .header("content-length")
                .and_then(|value| value.trim().parse::<usize>().ok())
            {
                Some(0) => Framing::Head,
                Some(length) => Framing::Length(length),
                None => Framing::UntilClose,
            }
        };
    }

    /// Whole chunks; the last one ends the body.
    fn cut_chunks(&mut self, cuts: &mut Vec<Cut>) {
        let mut count = 0;
        while let Ok(Some(chunk)) = parse_chunk(&self.pending) {
            self.pending.drain(..chunk.length);
            count += 1;
            if chunk.data.is_empty() {
                self.framing = Framing::Head;
                break;
            }
            self.sse_pending.extend_from_slice(&chunk.data);
        }
        if count > 0 {
            cuts.push(self.make(Unit::Chunks(count), None, None));
        }
    }

    /// As the runner reads `sse_events` from a chunked body: blocks from decoded chunk data,
    /// a whole chunk pulled in whenever no block is complete; the read ends with the block that
    /// completes its last event. Whole chunks after that event are read as `chunks`.
    fn cut_sse_chunks(&mut self, cuts: &mut Vec<Cut>) {
        let mut events = 0;
        let mut sse_pending = self.sse_pending.clone();
        let mut pending_used = 0;
        // The state after the last event: (chunk bytes used, sse_pending, parser).
        let mut checkpoint: Option<(usize, Vec<u8>, sse::Parser, Option<String>)> = None;
        let mut parser = std::mem::take(&mut self.parser);
        loop {
            match parser.next_block(&sse_pending) {
                Some((block, used)) => {
                    sse_pending.drain(..used);
                    if let Block::Event(event) = block {
                        events += 1;
                        checkpoint =
                            Some((pending_used, sse_pending.clone(), parser.clone(), event.id));
                    }
                }
                None => match parse_chunk(&self.pending[pending_used..]) {
                    Ok(Some(chunk)) if !chunk.data.is_empty() => {
                        pending_used += chunk.length;
                        sse_pending.extend_from_slice(&chunk.data);
                    }
                    // The last chunk or an incomplete one: no more events now.
                    _ => break,
                },
            }
        }
        match checkpoint {
            Some((used, rest, parser, id)) => {
                self.pending.drain(..used);
                self.sse_pending = rest;
                self.parser = parser;
                self.last_sse_id = id;
                cuts.push(self.make(Unit::SseEvents(events), None, None));
            }
            None => self.parser = parser,
        }
        // What is left are whole chunks without an event (a heartbeat, a retry) or the last one.
        self.cut_chunks(cuts);
    }

    fn cut_until_close(&mut self, cuts: &mut Vec<Cut>) {
        if self.sse {
            let mut events = 0;
            while let Some((block, used)) = self.parser.next_block(&self.pending) {
                self.pending.drain(..used);
                if let Block::Event(event) = block {
                    events += 1;
                    self.last_sse_id = event.id;
                }
            }
            if events > 0 {
                cuts.push(self.make(Unit::SseEvents(events), None, None));
                return;
            }
        }
        if self.eof {
            self.pending.clear();
            self.framing = Framing::Closed;
            cuts.push(self.make(Unit::Close, None, None));
        } else if !self.pending.is_empty() && !self.sse {
            let count = self.pending.len();
            self.pending.clear();
            cuts.push(self.make(Unit::Bytes(count), None, None));
        }
    }

    fn cut_frames(&mut self, cuts: &mut Vec<Cut>) {
        let mut count = 0;
        while let Ok(Some((_, used))) = decode_frame(&self.pending) {
            self.pending.drain(..used);
            count += 1;
        }
        if count > 0 {
            cuts.push(self.make(Unit::Frames(count), None, None));
        } else if self.eof && self.pending.is_empty() {
            self.framing = Framing::Closed;
            cuts.push(self.make(Unit::Close, None, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(segmenter: &mut Segmenter) -> Vec<Unit> {
        segmenter.cut().into_iter().map(|cut| cut.unit).collect()
    }

    #[test]
    fn a_length_body_is_a_head_then_a_body() {
        let mut s = Segmenter::default();
        s.request(true);
        s.received(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel");
        assert_eq!(units(&mut s), vec![Unit::Head]);
        s.received(b"lo");
        let cuts = s.cut();
        assert_eq!(cuts[0].unit, Unit::Body);
        assert_eq!(cuts[0].body.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn sse_events_in_chunks_stop_at_the_last_event_and_leave_a_heartbeat_to_chunks() {
        let mut s = Segmenter::default();
        s.request(true);
        s.received(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
              E\r\nretry: 10000\n\n\r\n\
              F\r\nid: 1\ndata: a\n\n\r\n\
              3\r\n:\n\n\r\n",
        );
        let cuts = s.cut();
        let got: Vec<Unit> = cuts.iter().map(|c| c.unit.clone()).collect();
        assert_eq!(got, vec![Unit::Head, Unit::SseEvents(1), Unit::Chunks(1)]);
        assert_eq!(cuts[1].sse_id.as_deref(), Some("1"));
    }

    #[test]
    fn an_incomplete_chunk_waits() {
        let mut s = Segmenter::default();
        s.received(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab");
        assert_eq!(units(&mut s), vec![Unit::Head]);
        s.received(b"cde\r\n0\r\n\r\n");
        assert_eq!(units(&mut s), vec![Unit::Chunks(2)]);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn frames_after_101_then_the_close() {
        let mut s = Segmenter::default();
        s.received(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n\x81\x02hi\x81");
        assert_eq!(units(&mut s), vec![Unit::Head, Unit::Frames(1)]);
        s.received(b"\x01x\x88\x02\x03\xe8");
        s.closed();
        assert_eq!(units(&mut s), vec![Unit::Frames(2), Unit::Close]);
    }

    #[test]
    fn an_excluded_request_answer_is_cut_but_not_recorded() {
        let mut s = Segmenter::default();
        s.request(false);
        s.request(true);
        s.received(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let recorded: Vec<bool> = s.cut().iter().map(|c| c.recorded).collect();
        assert_eq!(recorded, vec![false, true]);
    }

    #[test]
    fn a_body_until_the_close_is_read_by_its_bytes_then_the_close() {
        let mut s = Segmenter::default();
        s.received(b"HTTP/1.0 200 OK\r\n\r\nabc");
        assert_eq!(units(&mut s), vec![Unit::Head, Unit::Bytes(3)]);
        s.closed();
        assert_eq!(units(&mut s), vec![Unit::Close]);
    }

    #[test]
    fn an_idle_keep_alive_close_is_not_a_read() {
        let mut s = Segmenter::default();
        s.received(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        s.closed();
        assert_eq!(units(&mut s), vec![Unit::Head]);
    }
}
