//! The record of a replay: one line per wire line, `> ` for bytes sent, `< ` for bytes received,
//! `* ` for notes (step boundaries, decoded chunks, SSE events, WebSocket frames, publishes, ticks,
//! expectations). Bytes are split after each LF and escaped with [`crate::wire::escape::escape`],
//! so CR, LF, tabs, trailing spaces and non-UTF-8 survive insta's normalisation and the exact
//! bytes can be read back.

use std::fmt;
use std::time::Duration;

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

/// What crossed the wire during one replay, line by line. `Display` gives the snapshot text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    lines: Vec<Line>,
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

    /// Records bytes the client sent, one line per wire line.
    pub fn sent(&mut self, bytes: &[u8]) {
        for line in wire_lines(bytes) {
            self.lines.push(Line::Sent(escape(line)));
        }
    }

    /// Records bytes the client received, one line per wire line.
    pub fn received(&mut self, bytes: &[u8]) {
        for line in wire_lines(bytes) {
            self.lines.push(Line::Received(escape(line)));
        }
    }

    /// Records a note.
    pub fn note(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Note(text.into()));
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

/// `"text"` with the bytes escaped, for notes.
pub fn quoted(bytes: &[u8]) -> String {
    format!("\"{}\"", escape(bytes))
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
