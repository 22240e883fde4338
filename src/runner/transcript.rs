//! The record of a replay: one line per wire line, `> ` for bytes sent, `< ` for bytes received,
//! `* ` for notes (step boundaries, decoded chunks, SSE events, WebSocket frames, publishes, ticks,
//! expectations). Bytes are split after each LF and escaped with [`crate::wire::escape::escape`],
//! so CR, LF, tabs, trailing spaces and non-UTF-8 survive insta's normalisation and the exact
//! bytes can be read back. Bytes of one send or receive (and a quoted value in a note) longer than
//! [`ELIDE_OVER`] keep their first and last [`KEEP`] bytes around their length and SHA-256; a
//! transcript holds at most [`MAX_TRANSCRIPT`] bytes of text.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::spec::Redaction;
use crate::wire::escape::escape;

/// One line of a transcript; the text is already escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `> ` bytes the client sent.
    Sent(String),
    /// `< ` bytes the client received.
    Received(String),
    /// `* ` what the runner did or decoded.
    Note(String),
}

impl Line {
    fn text_mut(&mut self) -> &mut String {
        match self {
            Line::Sent(text) | Line::Received(text) | Line::Note(text) => text,
        }
    }

    /// The line's text without its `> `, `< ` or `* ` marker.
    pub fn text(&self) -> &str {
        match self {
            Line::Sent(text) | Line::Received(text) | Line::Note(text) => text,
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Sent(text) => write!(f, "> {text}"),
            Line::Received(text) => write!(f, "< {text}"),
            Line::Note(text) => write!(f, "* {text}"),
        }
    }
}

/// Bytes of one send or receive, or one quoted value, shown in full up to this length.
pub const ELIDE_OVER: usize = 4096;

/// How many bytes of an elided run stay visible at its start and at its end.
pub const KEEP: usize = 256;

/// The most bytes of text a transcript holds; past it the replay fails (a peer that sends
/// without end cannot fill the memory).
pub const MAX_TRANSCRIPT: usize = 16 * 1024 * 1024;

/// What crossed the wire during one replay, line by line. `Display` gives the snapshot text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    lines: Vec<Line>,
    /// Bytes of text so far.
    size: usize,
    /// A line was refused: the transcript reached [`MAX_TRANSCRIPT`].
    full: bool,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// The lines so far.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Records bytes the client sent, one line per wire line (elided past [`ELIDE_OVER`]).
    pub fn sent(&mut self, bytes: &[u8]) {
        self.wire(bytes, Line::Sent);
    }

    /// Records bytes the client received, one line per wire line (elided past [`ELIDE_OVER`]).
    pub fn received(&mut self, bytes: &[u8]) {
        self.wire(bytes, Line::Received);
    }

    /// Records a note.
    pub fn note(&mut self, text: impl Into<String>) {
        self.push(Line::Note(text.into()));
    }

    /// Whether a line was refused because the transcript reached [`MAX_TRANSCRIPT`].
    pub fn is_full(&self) -> bool {
        self.full
    }

    fn push(&mut self, line: Line) {
        if self.full {
            return;
        }
        let size = self.size + line.text().len() + 3;
        if size > MAX_TRANSCRIPT {
            self.full = true;
            return;
        }
        self.size = size;
        self.lines.push(line);
    }

    fn wire(&mut self, bytes: &[u8], line: fn(String) -> Line) {
        if bytes.len() <= ELIDE_OVER {
            for piece in wire_lines(bytes) {
                self.push(line(escape(piece)));
            }
            return;
        }
        for piece in wire_lines(&bytes[..KEEP]) {
            self.push(line(escape(piece)));
        }
        self.push(Line::Note(elision(bytes)));
        for piece in wire_lines(&bytes[bytes.len() - KEEP..]) {
            self.push(line(escape(piece)));
        }
    }

    /// Replaces what varies from run to run: the value of every received `date:` header line
    /// becomes `<date>`, then every match of each spec pattern becomes `<NAME>` (only the first
    /// capture group's text when the pattern has groups).
    pub fn redact(&mut self, redactions: &[Redaction]) {
        for line in &mut self.lines {
            if let Line::Received(text) = line {
                if let Some(redacted) = redact_date_header(text) {
                    *text = redacted;
                }
            }
            for redaction in redactions {
                let text = line.text_mut();
                *text = redact_pattern(text, redaction);
            }
        }
    }
}

impl Transcript {
    /// Replaces variables' values by `<NAME>`, as [`Transcript::redact`] does, except in the
    /// notes that start a step: they quote the spec, never a value.
    pub fn redact_values(&mut self, redactions: &[Redaction]) {
        for line in &mut self.lines {
            if matches!(line, Line::Note(text) if text.starts_with("step ")) {
                continue;
            }
            for redaction in redactions {
                let text = line.text_mut();
                *text = redact_pattern(text, redaction);
            }
        }
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Splits `bytes` after each LF; a last piece without LF is a line too. A LF never sits inside a
/// UTF-8 sequence, so no character is cut.
fn wire_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|&b| b == b'\n')
}

/// `date: Tue, 01 Jan 2024 00:00:00 GMT\r\n` (escaped) → `date: <date>\r\n`, any name case.
fn redact_date_header(text: &str) -> Option<String> {
    let name = text.get(..5)?;
    if !name.eq_ignore_ascii_case("date:") {
        return None;
    }
    let end = ["\\r\\n", "\\n", "\\r"]
        .into_iter()
        .find(|end| text.ends_with(end))
        .unwrap_or("");
    Some(format!("{name} <date>{end}"))
}

/// A transcript's text (or a snapshot's contents) with every line's text, after its `> `, `< `
/// or `* ` marker, redacted by `redactions`: how a `--target` run and the embedded run's
/// snapshot are compared modulo what only a running server varies.
pub fn redact_text(text: &str, redactions: &[Redaction]) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        match body.get(..2) {
            Some("> " | "< " | "* ") => {
                let mut rest = body[2..].to_string();
                for redaction in redactions {
                    rest = redact_pattern(&rest, redaction);
                }
                out.push_str(&body[..2]);
                out.push_str(&rest);
            }
            _ => out.push_str(body),
        }
        out.push_str(end);
    }
    out
}

fn redact_pattern(text: &str, redaction: &Redaction) -> String {
    let regex = redaction.pattern.regex();
    let placeholder = format!("<{}>", redaction.name);
    if regex.captures_len() <= 1 {
        return regex.replace_all(text, placeholder.as_str()).into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for captures in regex.captures_iter(text) {
        if let Some(group) = captures.get(1) {
            out.push_str(&text[at..group.start()]);
            out.push_str(&placeholder);
            at = group.end();
        }
    }
    out.push_str(&text[at..]);
    out
}

/// `5s`, `250ms`, `1.5s`: durations as specs write them.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 && !duration.is_zero() {
        return format!("{}us", duration.as_micros());
    }
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else if millis < 1000 {
        format!("{millis}ms")
    } else {
        let seconds = format!("{:.3}", duration.as_secs_f64());
        format!("{}s", seconds.trim_end_matches('0'))
    }
}

/// `"text"` with the bytes escaped, for notes; past [`ELIDE_OVER`] bytes, the first and last
/// [`KEEP`] around their length and SHA-256: `"abab"… 1048064 bytes elided (...) …"abab"`.
pub fn quoted(bytes: &[u8]) -> String {
    if bytes.len() <= ELIDE_OVER {
        return format!("\"{}\"", escape(bytes));
    }
    format!(
        "\"{}\"{}\"{}\"",
        escape(&bytes[..KEEP]),
        elision(bytes),
        escape(&bytes[bytes.len() - KEEP..])
    )
}

/// `… 1048064 bytes elided (1048576 in all, sha256 HEX) …`: what stands for the middle of a run
/// of bytes longer than [`ELIDE_OVER`] (SHA-256 of the whole run, FIPS 180-4).
fn elision(bytes: &[u8]) -> String {
    let digest: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "… {} bytes elided ({} in all, sha256 {digest}) …",
        bytes.len() - 2 * KEEP,
        bytes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Pattern;

    #[test]
    fn date_header_value_is_redacted_keeping_line_end() {
        assert_eq!(
            redact_date_header("Date: Tue, 01 Jan 2024 00:00:00 GMT\\r\\n").as_deref(),
            Some("Date: <date>\\r\\n")
        );
        assert_eq!(redact_date_header("data: x\\n"), None);
    }

    #[test]
    fn pattern_with_a_group_redacts_only_the_group() {
        let redaction = Redaction {
            pattern: Pattern(regex::Regex::new(r"data: ([^\\]+)").expect("regex")),
            name: "now".into(),
        };
        assert_eq!(
            redact_pattern("data: Fri Nov 28 2025\\n", &redaction),
            "data: <now>\\n"
        );
    }

    #[test]
    fn long_runs_keep_their_ends_length_and_sha256() {
        let mut transcript = Transcript::new();
        transcript.received(&[b'a'; ELIDE_OVER]);
        assert_eq!(transcript.lines().len(), 1);
        let mut transcript = Transcript::new();
        let mut bytes = vec![b'a'; 5000];
        bytes[..4].copy_from_slice(b"HEAD");
        bytes[4996..].copy_from_slice(b"TAIL");
        transcript.sent(&bytes);
        let text = transcript.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("> HEADaaa") && lines[0].len() == 2 + KEEP);
        // sha256 of these 5000 bytes, as `sha256sum` prints it.
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            lines[1],
            format!("* … 4488 bytes elided (5000 in all, sha256 {digest}) …")
        );
        assert!(lines[2].ends_with("aaaTAIL") && lines[2].len() == 2 + KEEP);
        assert_eq!(
            elision(&[0u8; 600]),
            "… 88 bytes elided (600 in all, sha256 \
             bd50e12c55dda3ee443c1cb6d71c7bcf6351c4ec96f7bc8d6adec015d1192eea) …"
        );
        assert_eq!(quoted(b"ab"), "\"ab\"");
        assert!(quoted(&bytes).starts_with("\"HEADaa"));
    }

    #[test]
    fn a_full_transcript_refuses_more_lines() {
        let mut transcript = Transcript::new();
        let line = vec![b'x'; 4000];
        while !transcript.is_full() {
            transcript.received(&line);
        }
        assert!(transcript.to_string().len() <= MAX_TRANSCRIPT);
    }

    #[test]
    fn redact_text_redacts_after_the_marker_only() {
        let redaction = Redaction {
            pattern: Pattern(regex::Regex::new(r"^(\d+)").expect("regex")),
            name: "n".into(),
        };
        assert_eq!(
            redact_text("< 12\\r\n* 7 ok\n12 no marker\n", &[redaction]),
            "< <n>\\r\n* <n> ok\n12 no marker\n"
        );
    }

    #[test]
    fn durations_print_as_specs_write_them() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
