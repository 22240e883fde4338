//! Transcript escaping: bytes to one readable line and back, so that CR, LF, tabs, trailing spaces
//! and non-UTF-8 bytes survive insta's normalisation (it trims trailing whitespace and turns CRLF
//! into LF) and the exact bytes can be read back from a snapshot.

/// Escapes `bytes` (which must not be split inside a UTF-8 sequence by the caller) into text with no
/// raw control characters: `\r`, `\n`, `\t`, `\\`, `\0`, `\xNN` for other controls and invalid
/// UTF-8, and a trailing space as `\x20`; valid UTF-8 (e.g. Chinese) stays readable.
pub fn escape(bytes: &[u8]) -> String {
    let _ = bytes;
    todo!("wire::escape::escape")
}

/// The inverse of [`escape`]: `unescape(&escape(b)) == b` for every `b`.
pub fn unescape(text: &str) -> Result<Vec<u8>, EscapeError> {
    let _ = text;
    todo!("wire::escape::unescape")
}

/// An escape sequence that [`unescape`] cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad escape at byte {offset}: {reason}")]
pub struct EscapeError {
    /// Byte offset in the escaped text.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}
