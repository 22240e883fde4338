//! The raw clients a workload drives, one TCP stream each: an HTTP/1.1 keep-alive requester, a
//! WebSocket subscriber and an SSE subscriber. Every byte is decoded with [`crate::wire`]; nothing
//! here trusts the peer: bad bytes are errors, buffers are bounded.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;

use super::decode::Framing;
use super::receiver::Handoff;
use super::target::Target;
use crate::wire::http::{self, HttpError, ResponseHead};
use crate::wire::sse::{self, Block, Dispatched};
use crate::wire::websocket::{self, opcode, Frame, FrameError};

/// Bytes read per `read` call.
const READ_SIZE: usize = 4096;
/// Largest response head, body or WebSocket message a client buffers.
const MAX_BUFFERED: usize = 4 << 20;

/// Why a client stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The response was not HTTP/1.1 as expected.
    #[error("{0}")]
    Http(#[from] HttpError),
    /// A WebSocket frame could not be decoded.
    #[error("websocket: {0}")]
    Frame(#[from] FrameError),
    /// The server answered with an unexpected status.
    #[error("unexpected status {0}")]
    Status(u16),
    /// The WebSocket handshake's `Sec-WebSocket-Accept` was wrong or missing.
    #[error("websocket handshake: bad Sec-WebSocket-Accept")]
    Handshake,
    /// The peer closed the connection in the middle of a response.
    #[error("connection closed mid-response")]
    Truncated,
    /// The peer sent more than `MAX_BUFFERED` bytes in one piece.
    #[error("peer sent more than {MAX_BUFFERED} bytes in one piece")]
    TooLarge,
}

/// One TCP stream and the bytes read from it but not yet decoded.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Conn {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::new(),
            start: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> Result<usize, ClientError> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.len() >= MAX_BUFFERED {
            return Err(ClientError::TooLarge);
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_SIZE, 0);
        let read = self.stream.read(&mut self.buf[len..]).await;
        let n = *read.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        read?;
        Ok(n)
    }

    /// The plain socket, non-blocking, and the bytes read from it but not yet decoded.
    fn into_parts(self) -> io::Result<(std::net::TcpStream, Vec<u8>)> {
        let pending = self.pending().to_vec();
        let stream = std::net::TcpStream::try_from(self.stream)?;
        stream.set_nonblocking(true)?;
        Ok((stream, pending))
    }

    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Reads one response head.
    async fn read_head(&mut self) -> Result<ResponseHead, ClientError> {
        loop {
            if let Some(head) = http::parse_response_head(self.pending())? {
                self.consume(head.length);
                return Ok(head);
            }
            if self.fill().await? == 0 {
                return Err(ClientError::Truncated);
            }
        }
    }

    /// Reads one whole response (head and body, chunked or sized); the body is bounded.
    pub async fn read_response(&mut self) -> Result<(ResponseHead, Vec<u8>), ClientError> {
        let head = self.read_head().await?;
        let mut body = Vec::new();
        if is_chunked(&head) {
            loop {
                match http::parse_chunk(self.pending())? {
                    Some(chunk) => {
                        self.consume(chunk.length);
                        if chunk.data.is_empty() {
                            break;
                        }
                        if body.len() + chunk.data.len() > MAX_BUFFERED {
                            return Err(ClientError::TooLarge);
                        }
                        body.extend_from_slice(&chunk.data);
                    }
                    None => {
                        if self.fill().await? == 0 {
                            return Err(ClientError::Truncated);
                        }
                    }
                }
            }
        } else if let Some(length) = content_length(&head) {
            if length > MAX_BUFFERED {
                return Err(ClientError::TooLarge);
            }
            while self.pending().len() < length {
                if self.fill().await? == 0 {
                    return Err(ClientError::Truncated);
                }
            }
            body.extend_from_slice(self.pending().get(..length).unwrap_or_default());
            self.consume(length);
        } else if !(head.status == 204 || head.status == 304 || head.status / 100 == 1) {
            // RFC 9112 §6.3: no length and not chunked: the body runs to the end of the stream.
            while self.fill().await? != 0 {}
            body.extend_from_slice(self.pending());
            let all = self.pending().len();
            self.consume(all);
        }
        Ok((head, body))
    }
}

fn is_chunked(head: &ResponseHead) -> bool {
    head.header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

fn content_length(head: &ResponseHead) -> Option<usize> {
    head.header("content-length")
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the server will keep the connection open after this response.
pub fn keeps_alive(head: &ResponseHead) -> bool {
    !head
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

/// A `GET` request with no body.
pub fn get_request(target: &Target, path: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra_headers}\r\n",
        target.host
    )
    .into_bytes()
}

/// A `POST` request with a body.
pub fn post_request(target: &Target, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        target.host,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Cheap non-cryptographic randomness for WebSocket keys and masks (RFC 6455 §10.3 wants masks
/// unpredictable to hostile page scripts; a load generator has none).
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    // splitmix64 over a counter mixed with the time.
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A subscriber on `/ws`: text frames in, pings answered, masked frames out.
#[derive(Debug)]
pub struct WebSocket {
    conn: Conn,
    fragments: Vec<u8>,
}

impl WebSocket {
    /// Performs the opening handshake on `path` (RFC 6455 §4.1).
    pub async fn open(
        stream: TcpStream,
        target: &Target,
        path: &str,
    ) -> Result<WebSocket, ClientError> {
        use base64::Engine as _;
        let mut conn = Conn::new(stream);
        let mut key_bytes = [0u8; 16];
        key_bytes[..8].copy_from_slice(&next_random().to_le_bytes());
        key_bytes[8..].copy_from_slice(&next_random().to_le_bytes());
        let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
        let headers = format!(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        conn.send(&get_request(target, path, &headers)).await?;
        let head = conn.read_head().await?;
        if head.status != 101 {
            return Err(ClientError::Status(head.status));
        }
        if head.header("sec-websocket-accept") != Some(websocket::accept_key(&key).as_str()) {
            return Err(ClientError::Handshake);
        }
        Ok(WebSocket {
            conn,
            fragments: Vec::new(),
        })
    }

    async fn send_frame(&mut self, opcode: u8, payload: Vec<u8>) -> Result<(), ClientError> {
        let mask = (next_random() as u32).to_le_bytes();
        let frame = Frame {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some(mask),
            payload,
        };
        self.conn.send(&websocket::encode_frame(&frame)).await
    }

    /// The next whole text or binary message; `None` once the server closed.
    pub async fn next_message(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            if let Some(header) = websocket::decode_header(self.conn.pending())? {
                if header.payload_len > MAX_BUFFERED as u64 {
                    return Err(ClientError::TooLarge);
                }
            }
            let Some((frame, used)) = websocket::decode_frame(self.conn.pending())? else {
                if self.conn.fill().await? == 0 {
                    return Ok(None);
                }
                continue;
            };
            self.conn.consume(used);
            match frame.opcode {
                opcode::TEXT | opcode::BINARY | opcode::CONTINUATION => {
                    if self.fragments.is_empty() && frame.fin {
                        return Ok(Some(frame.payload));
                    }
                    if self.fragments.len() + frame.payload.len() > MAX_BUFFERED {
                        return Err(ClientError::TooLarge);
                    }
                    self.fragments.extend_from_slice(&frame.payload);
                    if frame.fin {
                        return Ok(Some(std::mem::take(&mut self.fragments)));
                    }
                }
                opcode::PING => self.send_frame(opcode::PONG, frame.payload).await?,
                opcode::CLOSE => {
                    // RFC 6455 §5.5.1: answer a close with a close, then stop reading.
                    let _ = self.send_frame(opcode::CLOSE, frame.payload).await;
                    return Ok(None);
                }
                _ => {}
            }
        }
    }

    /// Sends a close frame (1000) and stops; errors are ignored, the socket is dropped anyway.
    pub async fn close(mut self) {
        let _ = self
            .send_frame(opcode::CLOSE, 1000u16.to_be_bytes().to_vec())
            .await;
    }
}

/// A subscriber on `/sseStream`: the event stream, decoded as a browser's `EventSource` would.
#[derive(Debug)]
pub struct EventStream {
    conn: Conn,
    chunked: bool,
    body: Vec<u8>,
    parser: sse::Parser,
}

impl EventStream {
    /// Sends the `GET` and reads the response head (200 expected).
    pub async fn open(
        stream: TcpStream,
        target: &Target,
        path: &str,
    ) -> Result<EventStream, ClientError> {
        let mut conn = Conn::new(stream);
        conn.send(&get_request(
            target,
            path,
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n",
        ))
        .await?;
        let head = conn.read_head().await?;
        if head.status != 200 {
            return Err(ClientError::Status(head.status));
        }
        Ok(EventStream {
            chunked: is_chunked(&head),
            conn,
            body: Vec::new(),
            parser: sse::Parser::default(),
        })
    }

    /// The next dispatched event; `None` at the end of the stream.
    pub async fn next_event(&mut self) -> Result<Option<Dispatched>, ClientError> {
        loop {
            if let Some((block, used)) = self.parser.next_block(&self.body) {
                self.body.drain(..used.min(self.body.len()));
                if let Block::Event(event) = block {
                    return Ok(Some(event));
                }
                continue;
            }
            if self.body.len() > MAX_BUFFERED {
                return Err(ClientError::TooLarge);
            }
            if !self.more_body().await? {
                return Ok(None);
            }
        }
    }

    /// Moves more decoded body bytes into `body`; false at the end of the body.
    async fn more_body(&mut self) -> Result<bool, ClientError> {
        if !self.chunked {
            if self.conn.pending().is_empty() && self.conn.fill().await? == 0 {
                return Ok(false);
            }
            self.body.extend_from_slice(self.conn.pending());
            let all = self.conn.pending().len();
            self.conn.consume(all);
            return Ok(true);
        }
        loop {
            match http::parse_chunk(self.conn.pending())? {
                Some(chunk) => {
                    self.conn.consume(chunk.length);
                    if chunk.data.is_empty() {
                        return Ok(false);
                    }
                    self.body.extend_from_slice(&chunk.data);
                    return Ok(true);
                }
                None => {
                    if self.conn.fill().await? == 0 {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

/// A subscriber of either transport.
#[derive(Debug)]
pub enum Subscriber {
    /// `/ws`.
    Ws(WebSocket),
    /// `/sseStream`.
    Sse(EventStream),
}

impl Subscriber {
    /// The next message's data (WebSocket text, or SSE `data`); `None` at the end.
    pub async fn next_data(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        match self {
            Subscriber::Ws(ws) => ws.next_message().await,
            Subscriber::Sse(stream) => Ok(stream.next_event().await?.map(|e| e.data.into_bytes())),
        }
    }

    /// Right after the handshake: the plain non-blocking socket, the bytes already read past the
    /// handshake, and how the rest of the stream is framed, for a reader that drives many
    /// subscribers itself ([`super::receiver`]).
    pub fn into_parts(self) -> Result<Handoff, ClientError> {
        let ((stream, buffered), framing) = match self {
            Subscriber::Ws(ws) => (ws.conn.into_parts()?, Framing::WebSocket),
            Subscriber::Sse(sse) => {
                let chunked = sse.chunked;
                (sse.conn.into_parts()?, Framing::Sse { chunked })
            }
        };
        Ok(Handoff {
            stream,
            buffered,
            framing,
        })
    }

    /// Closes politely (WebSocket close frame) or just drops (SSE).
    pub async fn close(self) {
        if let Subscriber::Ws(ws) = self {
            ws.close().await;
        }
    }
}

/// The number right after `"key":` (or its JSON-escaped form `\"key\":`) in `bytes`, wherever it
/// is: reads `{"t":1,"seq":2}` in an SSE `data` and inside the `data` string of a WebSocket JSON
/// message alike, without parsing (or allocating for) the whole message.
pub fn number_after(bytes: &[u8], key: &[u8]) -> Option<u64> {
    let mut from = 0;
    while from < bytes.len() {
        let rest = bytes.get(from..)?;
        let at = find(rest, key)? + from;
        from = at + 1;
        // The key must be quoted: `"key"` or `\"key\"`.
        if at == 0 || bytes.get(at - 1) != Some(&b'"') {
            continue;
        }
        let mut i = at + key.len();
        if bytes.get(i) == Some(&b'\\') {
            i += 1;
        }
        if bytes.get(i) != Some(&b'"') || bytes.get(i + 1) != Some(&b':') {
            continue;
        }
        i += 2;
        let digits = bytes
            .get(i..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .take(20)
            .fold(None, |acc: Option<u64>, b| {
                Some(
                    acc.unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(u64::from(b - b'0')),
                )
            });
        if digits.is_some() {
            return digits;
        }
    }
    None
}

/// Where `needle` first occurs in `haystack`: a scan for its first byte, the rest compared only
/// there (no `memcmp` call per position: this runs twice for every message received).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    loop {
        let at = from + haystack.get(from..)?.iter().position(|&b| b == first)?;
        if haystack.get(at + 1..at + needle.len()) == Some(rest) {
            return Some(at);
        }
        from = at + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_after_reads_plain_and_escaped_json() {
        let sse = br#"{"t":1700000000123456,"seq":42}"#;
        assert_eq!(number_after(sse, b"t"), Some(1_700_000_000_123_456));
        assert_eq!(number_after(sse, b"seq"), Some(42));
        let ws = br#"{"id":7,"event":"message","data":"{\"t\":15,\"seq\":3}"}"#;
        assert_eq!(number_after(ws, b"t"), Some(15));
        assert_eq!(number_after(ws, b"seq"), Some(3));
    }

    #[test]
    fn find_gives_the_first_whole_occurrence() {
        assert_eq!(find(b"sequence seq", b"seq"), Some(0));
        assert_eq!(find(b"se sq seq", b"seq"), Some(6));
        assert_eq!(find(b"xxse", b"seq"), None);
        assert_eq!(find(b"abc", b"c"), Some(2));
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(b"", b"t"), None);
    }

    #[test]
    fn number_after_ignores_keys_that_only_end_the_same() {
        let bytes = br#"{"event":"x","at":5}"#;
        assert_eq!(number_after(bytes, b"t"), None);
        assert_eq!(number_after(b"", b"t"), None);
        assert_eq!(number_after(br#""t":"#, b"t"), None);
        assert_eq!(number_after(br#""t":abc"#, b"t"), None);
    }

    #[test]
    fn requests_carry_host_and_length() {
        let target = Target {
            addr: "127.0.0.1:9"
                .parse()
                .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 9))),
            host: "127.0.0.1:9".into(),
        };
        assert_eq!(
            post_request(&target, "/publish", "application/json", b"{}"),
            b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_vec()
        );
        assert_eq!(
            get_request(&target, "/poll?since=0", ""),
            b"GET /poll?since=0 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n".to_vec()
        );
    }
}
