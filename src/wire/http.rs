//! HTTP/1.1 wire pieces the runner decodes (RFC 9112): response heads and chunked bodies. Every
//! decoder returns `Ok(None)` when it needs more bytes and an error for bytes it cannot accept;
//! none panics on any input.

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// `HTTP/1.1`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Bytes the head took, up to and including the blank line.
    pub length: usize,
}

impl ResponseHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why bytes are not HTTP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    /// The status line or a header line is malformed.
    #[error("malformed response head: {0}")]
    Head(String),
    /// The head is larger than the limit.
    #[error("response head over {0} bytes")]
    HeadTooLarge(usize),
    /// A chunk-size line or chunk trailer is malformed.
    #[error("malformed chunk: {0}")]
    Chunk(String),
}

/// Parses a response head from the start of `bytes`.
pub fn parse_response_head(bytes: &[u8]) -> Result<Option<ResponseHead>, HttpError> {
    let _ = bytes;
    todo!()
}

/// One decoded chunk of a chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The chunk's data (empty for the last chunk).
    pub data: Vec<u8>,
    /// Bytes the chunk took on the wire, size line and CRLFs included.
    pub length: usize,
}

/// Decodes one chunk from the start of `bytes` (RFC 9112 §7.1); the last chunk has empty data and
/// includes its (empty) trailer section.
pub fn parse_chunk(bytes: &[u8]) -> Result<Option<Chunk>, HttpError> {
    let _ = bytes;
    todo!()
}
