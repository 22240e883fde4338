//! Server-Sent Events (WHATWG HTML §9.2 "Server-sent events"): an encoder that can never let data
//! forge a field or an event, and an incremental parser that dispatches events as a browser does.

/// One event to send. `event` and `id` must be valid single-line values (see [`valid_field_value`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event<'a> {
    /// `id:` line, if any.
    pub id: Option<&'a str>,
    /// `event:` line, if any.
    pub event: Option<&'a str>,
    /// The data: one `data:` line per line (split on CRLF, CR or LF).
    pub data: &'a str,
}

/// Encodes one event block: `id:`, `event:`, `data:` lines, then a blank line.
pub fn encode_event(event: &Event<'_>) -> Vec<u8> {
    let _ = event;
    todo!()
}

/// `retry: MS\n\n` (milliseconds, as the spec says).
pub fn encode_retry(milliseconds: u64) -> Vec<u8> {
    let _ = milliseconds;
    todo!()
}

/// A comment line (`: text\n\n`), used as a heartbeat; line breaks in `text` are dropped.
pub fn encode_comment(text: &str) -> Vec<u8> {
    let _ = text;
    todo!()
}

/// True when `value` can stand on one `event:` or `id:` line: no CR, LF or NUL.
pub fn valid_field_value(value: &str) -> bool {
    let _ = value;
    todo!()
}

/// An event as a browser's EventSource dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// `event.type` (`message` when no `event:` field).
    pub event: String,
    /// `data`, lines joined by LF.
    pub data: String,
    /// The last event id buffer at dispatch time.
    pub id: Option<String>,
    /// The `retry:` value last seen, if any.
    pub retry: Option<u64>,
}

/// Incremental parser: call [`Parser::next_block`] on the bytes not yet consumed; it keeps what
/// persists across blocks (last event id, retry) as a browser does.
#[derive(Debug, Default)]
pub struct Parser {
    _private: (),
}

/// What one complete block of the stream was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// An event the browser dispatches.
    Event(Dispatched),
    /// A block that ended with an empty data buffer, so a browser drops it (WHATWG: "If the data
    /// buffer is an empty string, set the data buffer and the event type buffer to the empty string
    /// and return"). Carries the field lines seen, for the transcript.
    Dropped {
        /// The `event:` value seen, if any.
        event: Option<String>,
        /// The `id:` value seen, if any.
        id: Option<String>,
    },
    /// Only comments and/or `retry:` lines.
    Comment(String),
}

impl Parser {
    /// Takes one block from the start of `bytes` if a blank line completes it, with the bytes it
    /// used; `None` when more bytes are needed (a trailing CR waits for a possible LF).
    pub fn next_block(&mut self, bytes: &[u8]) -> Option<(Block, usize)> {
        let _ = bytes;
        todo!()
    }
}
