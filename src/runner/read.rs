//! `read: { from, until, timeout }`: reads until a condition holds and stops at exactly the byte
//! that completes it; bytes past it stay buffered for the next step. Every read has a deadline
//! (real time, only as a guard against a silent peer).

use std::time::{Duration, Instant};

use super::connection::{Connection, FillError, Framing, MAX_BUFFERED};
use super::error::StepFailure;
use super::frame::describe_frame;
use super::transcript::{format_duration, quoted, Transcript, MAX_TRANSCRIPT};
use crate::spec::Until;
use crate::wire::escape::escape;
use crate::wire::http::{parse_chunk, parse_response_head, ResponseHead};
use crate::wire::sse::Block;
use crate::wire::websocket::{decode_frame, opcode, Frame};

/// How many escaped characters of "bytes so far" an error shows.
const SO_FAR_CHARS: usize = 300;

/// When a read gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
            timeout,
        }
    }

    /// The instant it passes.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// The timeout it was set with, as the spec wrote it.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Runs one `read` step.
pub async fn read(
    connection: &mut Connection,
    until: &Until,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let result = match until {
        Until::Head => read_head(connection, deadline, transcript).await,
        Until::Body => read_body(connection, deadline, transcript).await,
        Until::Close => read_to_close(connection, deadline, transcript).await,
        Until::Bytes(count) => read_bytes(connection, *count, deadline, transcript).await,
        Until::String(needle) => read_to_string(connection, needle, deadline, transcript).await,
        Until::Chunks(count) => {
            for done in 0..*count {
                let progress = format!("with {done} of {count} chunks");
                read_chunk(connection, &progress, deadline, transcript).await?;
            }
            Ok(())
        }
        Until::SseEvents(count) => read_sse_events(connection, *count, deadline, transcript).await,
        Until::Frames(count) => read_frames(connection, *count, deadline, transcript).await,
        Until::Silence(window) => silence(connection, *window, *window, transcript).await,
    };
    result.and_then(|()| guard(connection, transcript))
}

/// Fails once the decoded body or the transcript is over its bound: a peer that sends without
/// end stops the step with a clear error instead of filling the memory.
pub fn guard(connection: &Connection, transcript: &Transcript) -> Result<(), StepFailure> {
    if connection.body_full() {
        return Err(StepFailure::BodyTooLarge(MAX_BUFFERED));
    }
    if transcript.is_full() {
        return Err(StepFailure::TranscriptFull(MAX_TRANSCRIPT));
    }
    Ok(())
}

/// `until: { silence: window }`: passes when no byte arrives and the peer does not close within
/// `wait` of real time (the whole window against a running server; a poll of what is already
/// there once the embedded server's clock has moved). Bytes left unread by earlier steps count:
/// a silent connection has nothing to read. What arrived goes in the transcript.
pub async fn silence(
    connection: &mut Connection,
    window: Duration,
    wait: Duration,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let deadline = Instant::now() + wait;
    let window_text = format_duration(window);
    let closed = loop {
        if !connection.pending().is_empty() {
            break false;
        }
        match connection.fill(deadline).await {
            Err(FillError::TimedOut) => {
                transcript.note(format!("silent for {window_text}"));
                return Ok(());
            }
            Err(FillError::Flood) | Ok(true) => {}
            Ok(false) => break true,
        }
    };
    let bytes = connection.take(connection.pending().len());
    transcript.received(&bytes);
    let arrived = if bytes.is_empty() && closed {
        "the peer closed the connection".to_string()
    } else {
        format!("{} bytes arrived: {}", bytes.len(), quoted(&bytes))
    };
    Err(StepFailure::NotSilent {
        window: window_text,
        arrived,
    })
}

/// Reads a response head (status line and headers up to the blank line) and sets how the body
/// that follows is framed.
pub async fn read_head(
    connection: &mut Connection,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    loop {
        match parse_response_head(connection.pending()) {
            Ok(Some(head)) => {
                let bytes = connection.take(head.length);
                transcript.received(&bytes);
                let framing = framing_of(&head);
                connection.start_response(head, framing);
                return Ok(());
            }
            Ok(None) => more(connection, deadline, "before the head was complete").await?,
            Err(error) => {
                return Err(StepFailure::Malformed {
                    expected: "an HTTP response head",
                    reason: error.to_string(),
                    so_far: so_far(connection),
                })
            }
        }
    }
}

/// Reads the rest of the current response body by its framing (RFC 9112 §6.3): the bytes
/// `Content-Length` still owes, every chunk up to the last, or everything up to the close.
pub async fn read_body(
    connection: &mut Connection,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    match connection.framing {
        Framing::Raw => {
            if connection.head.is_none() {
                return Err(StepFailure::Malformed {
                    expected: "a response body",
                    reason: "no response head was read on this connection (read until: head first)"
                        .into(),
                    so_far: so_far(connection),
                });
            }
            // The body is complete (or the status has none, RFC 9112 §6.3 items 1-2).
            Ok(())
        }
        Framing::Length(remaining) => {
            let remaining = usize::try_from(remaining).unwrap_or(usize::MAX);
            if remaining > MAX_BUFFERED {
                return Err(StepFailure::Flood(MAX_BUFFERED));
            }
            read_bytes(connection, remaining, deadline, transcript).await
        }
        Framing::Chunked { .. } => {
            let mut chunks = 0usize;
            while connection.framing != (Framing::Chunked { done: true }) {
                let progress = format!("with {chunks} chunks of the body");
                read_chunk(connection, &progress, deadline, transcript).await?;
                chunks += 1;
            }
            Ok(())
        }
        Framing::UntilClose => read_to_close(connection, deadline, transcript).await,
        Framing::WebSocket => Err(StepFailure::Malformed {
            expected: "an HTTP body",
            reason: "the connection switched to WebSocket (read until: { frames: N })".into(),
            so_far: so_far(connection),
        }),
    }
}

/// RFC 9112 §6.3: how the body after `head` ends.
fn framing_of(head: &ResponseHead) -> Framing {
    if head.status == 101 {
        return Framing::WebSocket;
    }
    if (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
        return Framing::Raw;
    }
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return Framing::Chunked { done: false };
    }
    match head
        .header("content-length")
        .and_then(|value| value.trim().parse::<u64>().ok())
    {
        Some(0) => Framing::Raw,
        Some(length) => Framing::Length(length),
        None => Framing::UntilClose,
    }
}

async fn read_to_close(
    connection: &mut Connection,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    loop {
        match connection.fill(deadline.at).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                return Err(fill_failure(
                    connection,
                    error,
                    deadline,
                    "before the peer closed",
                ))
            }
        }
    }
    let bytes = connection.take(usize::MAX);
    transcript.received(&bytes);
    connection.account_body(&bytes);
    transcript.note("peer closed");
    Ok(())
}

async fn read_bytes(
    connection: &mut Connection,
    count: usize,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    while connection.pending().len() < count {
        let progress = format!("with {} of {count} bytes", connection.pending().len());
        more(connection, deadline, &progress).await?;
    }
    let bytes = connection.take(count);
    transcript.received(&bytes);
    connection.account_body(&bytes);
    Ok(())
}

async fn read_to_string(
    connection: &mut Connection,
    needle: &[u8],
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let end = loop {
        if let Some(at) = find(connection.pending(), needle) {
            break at + needle.len();
        }
        let progress = format!("before {} arrived", quoted(needle));
        more(connection, deadline, &progress).await?;
    };
    let bytes = connection.take(end);
    transcript.received(&bytes);
    connection.account_body(&bytes);
    Ok(())
}

/// Reads one chunk of a chunked body; notes its size; its data joins the body.
async fn read_chunk(
    connection: &mut Connection,
    progress: &str,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    if !matches!(connection.framing, Framing::Chunked { .. }) {
        let framing = match connection.framing {
            Framing::Length(_) => "its length is given by Content-Length",
            Framing::UntilClose => "it has no Transfer-Encoding: chunked and runs until the close",
            Framing::WebSocket => "the connection switched to WebSocket",
            _ => "no response head with Transfer-Encoding: chunked was read",
        };
        return Err(StepFailure::Malformed {
            expected: "an HTTP chunk",
            reason: format!("the body is not chunked: {framing}"),
            so_far: so_far(connection),
        });
    }
    if connection.framing == (Framing::Chunked { done: true }) {
        return Err(StepFailure::PeerClosed {
            progress: format!("{progress}: the chunked body already ended with its last chunk"),
            so_far: so_far(connection),
        });
    }
    loop {
        match parse_chunk(connection.pending()) {
            Ok(Some(chunk)) => {
                let bytes = connection.take(chunk.length);
                transcript.received(&bytes);
                if chunk.data.is_empty() {
                    transcript.note("chunk 0 bytes (last)");
                    connection.framing = Framing::Chunked { done: true };
                } else {
                    transcript.note(format!("chunk {} bytes", chunk.data.len()));
                }
                connection.body.extend_from_slice(&chunk.data);
                connection.sse_pending.extend_from_slice(&chunk.data);
                return guard(connection, transcript);
            }
            Ok(None) => more(connection, deadline, progress).await?,
            Err(error) => {
                return Err(StepFailure::Malformed {
                    expected: "an HTTP chunk",
                    reason: error.to_string(),
                    so_far: so_far(connection),
                })
            }
        }
    }
}

async fn read_sse_events(
    connection: &mut Connection,
    count: usize,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let mut events = 0;
    while events < count {
        guard(connection, transcript)?;
        let chunked = matches!(connection.framing, Framing::Chunked { .. });
        let progress = format!(
            "with {events} of {count} event{}",
            if count == 1 { "" } else { "s" }
        );
        let retry_before = connection.sse.retry();
        match connection.next_sse_block(chunked) {
            Some((block, used)) => {
                if chunked {
                    connection.drop_sse_pending(used);
                } else {
                    let bytes = connection.take(used);
                    transcript.received(&bytes);
                    connection.account_body(&bytes);
                }
                transcript.note(describe_block(&block));
                // WHATWG HTML §9.2.6: `retry:` sets the reconnection time; shown when it changes.
                if let Some(ms) = connection
                    .sse
                    .retry()
                    .filter(|_| connection.sse.retry() != retry_before)
                {
                    transcript.note(format!("sse retry={ms} (reconnection time, ms)"));
                }
                if let Block::Event(event) = block {
                    connection.last_event = Some(event);
                    events += 1;
                }
            }
            None if chunked => read_chunk(connection, &progress, deadline, transcript).await?,
            None => more(connection, deadline, &progress).await?,
        }
    }
    Ok(())
}

/// `sse id=2 event=message data="second"`, `sse dropped (empty data) event=testEvent id=testId`.
fn describe_block(block: &Block) -> String {
    match block {
        Block::Event(event) => {
            let mut text = String::from("sse");
            if let Some(id) = &event.id {
                text.push_str(&format!(" id={}", escape(id.as_bytes())));
            }
            text.push_str(&format!(
                " event={} data={}",
                escape(event.event.as_bytes()),
                quoted(event.data.as_bytes())
            ));
            text
        }
        Block::Dropped { event, id } => {
            let mut text = String::from("sse dropped (empty data)");
            if let Some(event) = event {
                text.push_str(&format!(" event={}", escape(event.as_bytes())));
            }
            if let Some(id) = id {
                text.push_str(&format!(" id={}", escape(id.as_bytes())));
            }
            text
        }
        Block::Comment(comment) if comment.is_empty() => {
            "sse no event (retry or empty comment)".to_string()
        }
        Block::Comment(comment) => format!("sse comment {}", quoted(comment.as_bytes())),
    }
}

async fn read_frames(
    connection: &mut Connection,
    count: usize,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let mut frames = 0;
    while frames < count {
        guard(connection, transcript)?;
        match decode_frame(connection.pending()) {
            Ok(Some((frame, used))) => {
                let bytes = connection.take(used);
                if let Some(compressed) = compressed_part(connection, &frame) {
                    take_compressed(connection, frame, compressed, transcript)?;
                    frames += 1;
                    continue;
                }
                transcript.received(&bytes);
                transcript.note(describe_frame(&frame));
                if frame.opcode == opcode::CLOSE {
                    let code = (frame.payload.len() >= 2)
                        .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                    connection.last_close = Some(code);
                }
                connection.last_frame = Some((frame.opcode, frame.payload));
                frames += 1;
            }
            Ok(None) => {
                let progress = format!("with {frames} of {count} frames");
                more(connection, deadline, &progress).await?
            }
            Err(error) => {
                return Err(StepFailure::Malformed {
                    expected: "a WebSocket frame",
                    reason: error.to_string(),
                    so_far: so_far(connection),
                })
            }
        }
    }
    Ok(())
}

/// RSV1: the frame's payload is compressed (RFC 7692 §6).
const RSV1: u8 = 4;

/// Whether `frame` is part of a compressed message on a connection that negotiated
/// permessage-deflate: the first frame of a data message with RSV1 set (§6.1), or a continuation
/// of one. `Some(true)` for the first frame.
fn compressed_part(connection: &Connection, frame: &Frame) -> Option<bool> {
    connection.deflate.as_ref()?;
    let data = frame.opcode == opcode::TEXT || frame.opcode == opcode::BINARY;
    if data && frame.rsv & RSV1 != 0 {
        Some(true)
    } else if frame.opcode == opcode::CONTINUATION && connection.compressed.is_some() {
        Some(false)
    } else {
        None
    }
}

/// Takes one frame of a compressed message. Its bytes come from the peer's DEFLATE encoder, so
/// they vary with the peer's zlib: the transcript shows the frame's fields and, once the last
/// fragment is in, the inflated message; `expect: { frame: }` checks the inflated message.
fn take_compressed(
    connection: &mut Connection,
    frame: Frame,
    first: bool,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let mut text = format!("ws fin={}", u8::from(frame.fin));
    if frame.rsv != 0 {
        text.push_str(&format!(" rsv={}", frame.rsv));
    }
    let mask = if frame.mask.is_some() { "set" } else { "none" };
    text.push_str(&format!(
        " opcode={} mask={mask} compressed (permessage-deflate; the peer's zlib made its bytes: not \
         shown)",
        opcode_name(frame.opcode),
    ));
    transcript.note(text);
    let (message_opcode, mut bytes) = if first {
        (frame.opcode, Vec::new())
    } else {
        connection
            .compressed
            .take()
            .unwrap_or((frame.opcode, Vec::new()))
    };
    bytes.extend_from_slice(&frame.payload);
    if bytes.len() > MAX_BUFFERED {
        return Err(StepFailure::Flood(MAX_BUFFERED));
    }
    if !frame.fin {
        connection.compressed = Some((message_opcode, bytes));
        return Ok(());
    }
    let Some(inflater) = connection.deflate.as_mut() else {
        return Ok(());
    };
    let message = inflater.inflate(&bytes, MAX_BUFFERED)?;
    transcript.note(format!(
        "ws message inflated opcode={} len={} {}",
        opcode_name(message_opcode),
        message.len(),
        quoted(&message)
    ));
    connection.last_frame = Some((message_opcode, message));
    Ok(())
}

fn opcode_name(code: u8) -> String {
    match code {
        opcode::CONTINUATION => "continuation".into(),
        opcode::TEXT => "text".into(),
        opcode::BINARY => "binary".into(),
        other => format!("0x{other:x}"),
    }
}

/// Waits for more bytes, or fails naming how far the step got.
async fn more(
    connection: &mut Connection,
    deadline: Deadline,
    progress: &str,
) -> Result<(), StepFailure> {
    match connection.fill(deadline.at).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(StepFailure::PeerClosed {
            progress: progress.to_string(),
            so_far: so_far(connection),
        }),
        Err(error) => Err(fill_failure(connection, error, deadline, progress)),
    }
}

fn fill_failure(
    connection: &Connection,
    error: FillError,
    deadline: Deadline,
    progress: &str,
) -> StepFailure {
    match error {
        FillError::TimedOut => StepFailure::Timeout {
            after: deadline.timeout,
            progress: progress.to_string(),
            so_far: so_far(connection),
        },
        FillError::Flood => StepFailure::Flood(MAX_BUFFERED),
    }
}

/// The bytes this step has seen, escaped and cut to [`SO_FAR_CHARS`] characters.
fn so_far(connection: &Connection) -> String {
    let seen = connection.seen_in_step();
    if seen.is_empty() {
        return "none".to_string();
    }
    let escaped = escape(&seen);
    match escaped.char_indices().nth(SO_FAR_CHARS) {
        Some((cut, _)) => format!("\"{}\"...", &escaped[..cut]),
        None => format!("\"{escaped}\""),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_locates_the_first_occurrence() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(find(b"abc", b"x"), None);
        assert_eq!(find(b"ab", b"abc"), None);
    }

    fn head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            version: "HTTP/1.1".into(),
            status,
            reason: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            length: 0,
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(framing_of(&head(101, &[])), Framing::WebSocket);
        assert_eq!(framing_of(&head(204, &[])), Framing::Raw);
        assert_eq!(
            framing_of(&head(200, &[("Transfer-Encoding", "chunked")])),
            Framing::Chunked { done: false }
        );
        assert_eq!(
            framing_of(&head(200, &[("content-length", "12")])),
            Framing::Length(12)
        );
        assert_eq!(framing_of(&head(200, &[])), Framing::UntilClose);
    }

    /// Bytes a peer might send: crafted edge cases, then pseudo-random garbage (xorshift, fixed
    /// seed so a failure reproduces).
    fn hostile_inputs() -> Vec<Vec<u8>> {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n"
                .to_vec(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\nab".to_vec(),
            b"HTTP/1.1 101 x\r\n\r\n\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
            b"HTTP/1.1 101 x\r\n\r\n\x88\x01\x03".to_vec(),
            b"HTTP/1.1 200 OK\r\n\r\ndata: \xff\xfe\r\r\n\n:\n\nid\0: x\n\n".to_vec(),
            b"\x00\x01\x02\r\n\r\n".to_vec(),
            vec![b'\n'; 10_000],
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for length in [1usize, 7, 64, 300, 4096] {
            let bytes = (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            inputs.push(bytes);
        }
        inputs
    }

    #[test]
    fn no_bytes_from_a_peer_make_a_read_panic() {
        use async_std::io::WriteExt;
        use async_std::net::TcpListener;
        let untils = [
            Until::Head,
            Until::Close,
            Until::Bytes(5),
            Until::String(b"\r\n\r\n".to_vec()),
            Until::Chunks(3),
            Until::SseEvents(2),
            Until::Frames(2),
        ];
        async_std::task::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr").to_string();
            for input in hostile_inputs() {
                for until in &untils {
                    let peer = {
                        let input = input.clone();
                        let accepted = listener.accept();
                        async move {
                            let (mut stream, _) = accepted.await.expect("accept");
                            let _ = stream.write_all(&input).await;
                        }
                    };
                    let reader = async {
                        let mut connection = Connection::open(&addr).await.expect("connect");
                        let mut transcript = Transcript::new();
                        // Read a head first when the condition reads a body, as a spec would.
                        if !matches!(until, Until::Head) {
                            let _ = read(
                                &mut connection,
                                &Until::Head,
                                Deadline::after(Duration::from_secs(2)),
                                &mut transcript,
                            )
                            .await;
                        }
                        let _ = read(
                            &mut connection,
                            until,
                            Deadline::after(Duration::from_secs(2)),
                            &mut transcript,
                        )
                        .await;
                        let _ = transcript.to_string();
                    };
                    futures_lite::future::zip(peer, reader).await;
                }
            }
        });
    }
}
