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
///
/// `data` is split on CRLF, CR and LF (§9.2.6 "end-of-line") and each line gets its own `data:`
/// line, so no data can end a line early and start a field or a blank line of its own; a browser
/// joins the lines with LF. NUL stays inside its data line (a parser delivers it as data). An `id`
/// or `event` that fails [`valid_field_value`] has its CR, LF and NUL removed rather than written
/// (callers refuse such values first: `/publish` answers 400). An empty value is written as the
/// bare field name (`data:`), which parses the same as `data: ` without a trailing space.
pub fn encode_event(event: &Event<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.data.len() + 32);
    if let Some(id) = event.id {
        push_field(&mut out, "id", &single_line(id));
    }
    if let Some(name) = event.event {
        push_field(&mut out, "event", &single_line(name));
    }
    for line in lines(event.data) {
        push_field(&mut out, "data", line);
    }
    // §9.2.6: "If the line is empty (a blank line) — Dispatch the event".
    out.push(b'\n');
    out
}

/// `retry: MS\n\n` (milliseconds, as the spec says).
pub fn encode_retry(milliseconds: u64) -> Vec<u8> {
    format!("retry: {milliseconds}\n\n").into_bytes()
}

/// A comment line (`: text\n\n`), used as a heartbeat; line breaks in `text` are dropped.
///
/// An empty `text` gives `:\n\n`.
pub fn encode_comment(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let mut out = Vec::with_capacity(text.len() + 4);
    out.push(b':');
    if !text.is_empty() {
        out.push(b' ');
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"\n\n");
    out
}

/// True when `value` can stand on one `event:` or `id:` line: no CR, LF or NUL.
///
/// CR and LF would end the line (§9.2.6); a browser ignores an `id` field containing NUL.
pub fn valid_field_value(value: &str) -> bool {
    !value.contains(['\r', '\n', '\0'])
}

fn single_line(value: &str) -> std::borrow::Cow<'_, str> {
    if valid_field_value(value) {
        value.into()
    } else {
        value.replace(['\r', '\n', '\0'], "").into()
    }
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    if !value.is_empty() {
        // §9.2.6: one space after the colon is stripped by the parser, so a value that itself
        // starts with a space keeps it.
        out.push(b' ');
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

/// The lines of `data`, split on CRLF, CR or LF; `"a\n"` is `["a", ""]`, `""` is `[""]`.
fn lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            Some(i) => {
                let skip = if text[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[i + skip..]);
                Some(&text[..i])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
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
#[derive(Debug, Clone, Default)]
pub struct Parser {
    /// True once a block has been taken: a BOM is only skipped at the start of the stream.
    started: bool,
    /// §9.2.6 "last event ID buffer": kept across blocks, empty means none.
    last_event_id: String,
    /// The reconnection time last set by `retry:`.
    retry: Option<u64>,
    /// The last block ended with a CR that was the last byte available: an LF first in the next
    /// bytes is the rest of that CRLF (§9.2.6), not a blank line of its own.
    after_cr: bool,
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
    /// Only comments and/or `retry:` lines (or a blank line alone): the comments' text, one per
    /// line, with the leading `:` and one optional space removed.
    Comment(String),
}

/// UTF-8 BOM, skipped once at the start of the stream (§9.2.5).
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Parser {
    /// Takes one block from the start of `bytes` if a blank line completes it, with the bytes it
    /// used; `None` when more bytes are needed.
    ///
    /// A CR that is the last byte available ends its line at once, so an event ended by a lone
    /// CR (`data: x\r\r`) is dispatched without waiting for another byte; an LF that starts the
    /// next call's bytes is then taken as the rest of that CRLF, not as a blank line.
    ///
    /// Follows §9.2.6 "Interpreting an event stream": lines end in CRLF, LF or CR; a line starting
    /// with `:` is a comment; `name: value` loses one space after the colon; a line without a colon
    /// is a field with an empty value; the stream is decoded as UTF-8 with replacement characters.
    /// Nothing changes in the parser until a block is complete, so calling again with more bytes
    /// re-reads the same block.
    pub fn next_block(&mut self, bytes: &[u8]) -> Option<(Block, usize)> {
        let mut pos = 0;
        if self.after_cr {
            // §9.2.6: CRLF is one line end, even when its LF comes in a later read.
            match bytes.first() {
                None => return None,
                Some(b'\n') => pos = 1,
                Some(_) => {}
            }
        }
        if !self.started {
            // §9.2.5: "One leading U+FEFF BYTE ORDER MARK character must be ignored if any are
            // present." Wait while the bytes so far could still be a BOM.
            if bytes.len() < BOM.len() && BOM.starts_with(bytes) {
                return None;
            }
            if bytes.starts_with(BOM) {
                pos = BOM.len();
            }
        }

        let mut last_event_id = self.last_event_id.clone();
        let mut retry = self.retry;
        let mut data = String::new();
        let mut event_type = String::new();
        let mut seen_event = None;
        let mut seen_id = None;
        let mut comments: Vec<String> = Vec::new();
        let mut only_comments = true;

        let ended_in_cr = loop {
            let (line, next) = next_line(bytes, pos)?;
            pos = next;
            if line.is_empty() {
                break bytes[..pos].ends_with(b"\r") && pos == bytes.len();
            }
            let line = String::from_utf8_lossy(line);
            // §9.2.6: "If the line starts with a U+003A COLON character (:) — Ignore the line."
            if let Some(comment) = line.strip_prefix(':') {
                comments.push(comment.strip_prefix(' ').unwrap_or(comment).to_owned());
                continue;
            }
            // "If the line contains a U+003A COLON character": field before it, value after it
            // without one leading space; "Otherwise": the whole line is the field, value empty.
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_ref(), ""),
            };
            match field {
                // "Set the event type buffer to the field value."
                "event" => {
                    event_type = value.to_owned();
                    seen_event = Some(value.to_owned());
                    only_comments = false;
                }
                // "Append the field value to the data buffer, then append a single U+000A LINE
                // FEED (LF) character to the data buffer."
                "data" => {
                    data.push_str(value);
                    data.push('\n');
                    only_comments = false;
                }
                // "If the field value does not contain U+0000 NULL, then set the last event ID
                // buffer to the field value. Otherwise, ignore the field."
                "id" => {
                    only_comments = false;
                    if !value.contains('\0') {
                        last_event_id = value.to_owned();
                        seen_id = Some(value.to_owned());
                    }
                }
                // "If the field value consists of only ASCII digits, then interpret the field
                // value as an integer in base ten, and set the event stream's reconnection time
                // to that integer. Otherwise, ignore the field."
                "retry" => {
                    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                        // A value past u64 cannot be a reconnection time: ignored.
                        if let Ok(ms) = value.parse() {
                            retry = Some(ms);
                        }
                    }
                }
                // "Otherwise — The field is ignored." The block is still not a comment.
                _ => only_comments = false,
            }
        };

        // The block is complete: commit what persists.
        self.started = true;
        self.after_cr = ended_in_cr;
        self.last_event_id = last_event_id;
        self.retry = retry;

        // §9.2.6 "dispatch the event", steps 2–3.
        let block = if data.is_empty() {
            if only_comments {
                Block::Comment(comments.join("\n"))
            } else {
                Block::Dropped {
                    event: seen_event,
                    id: seen_id,
                }
            }
        } else {
            data.pop(); // the LF the last data line appended
            Block::Event(Dispatched {
                event: if event_type.is_empty() {
                    "message".to_owned()
                } else {
                    event_type
                },
                data,
                id: self.last_id(),
                retry: self.retry,
            })
        };
        Some((block, pos))
    }

    /// The last event id (what a reconnecting browser sends as `Last-Event-ID`), if any.
    pub fn last_id(&self) -> Option<String> {
        (!self.last_event_id.is_empty()).then(|| self.last_event_id.clone())
    }

    /// The reconnection time in milliseconds last set by `retry:`.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }
}

/// The line starting at `pos` (without its end) and where the next line starts; `None` when the
/// line has no end yet. §9.2.6: "Lines must be separated by either a U+000D CARRIAGE RETURN
/// U+000A LINE FEED (CRLF) character pair, a single U+000A LINE FEED (LF) character, or a single
/// U+000D CARRIAGE RETURN (CR) character": a CR that is the last byte ends its line (the caller
/// skips an LF that follows it later).
fn next_line(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(pos..)?;
    let end = rest.iter().position(|b| matches!(b, b'\r' | b'\n'))?;
    let next = match (rest[end], rest.get(end + 1)) {
        (b'\r', Some(b'\n')) => end + 2,
        _ => end + 1,
    };
    Some((&rest[..end], pos + next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fuzz::XorShift;

    fn event(id: Option<&'static str>, name: Option<&'static str>, data: &'static str) -> Vec<u8> {
        encode_event(&Event {
            id,
            event: name,
            data,
        })
    }

    fn parse_all(bytes: &[u8]) -> Vec<Block> {
        let mut parser = Parser::default();
        let mut pos = 0;
        let mut blocks = Vec::new();
        while let Some((block, used)) = parser.next_block(&bytes[pos..]) {
            assert!(used > 0);
            pos += used;
            blocks.push(block);
        }
        blocks
    }

    fn dispatched(event: &str, data: &str, id: Option<&str>) -> Block {
        Block::Event(Dispatched {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
            retry: None,
        })
    }

    #[test]
    fn encode_event_writes_id_event_and_data_lines() {
        assert_eq!(
            event(Some("7"), Some("message"), "hello"),
            b"id: 7\nevent: message\ndata: hello\n\n"
        );
        assert_eq!(event(None, None, "x"), b"data: x\n\n");
    }

    #[test]
    fn encode_event_gives_each_line_of_data_its_own_data_line() {
        assert_eq!(
            event(None, None, "a\nb\r\nc\rd"),
            b"data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(event(None, None, "a\n"), b"data: a\ndata:\n\n");
        assert_eq!(event(None, None, "\r\n\r\n"), b"data:\ndata:\ndata:\n\n");
        assert_eq!(event(None, None, ""), b"data:\n\n");
    }

    #[test]
    fn encode_event_data_cannot_forge_a_field_or_an_event() {
        let bytes = event(Some("1"), None, "x\n\nevent: evil\r\nid: 99\rdata: y");
        assert_eq!(
            bytes,
            b"id: 1\ndata: x\ndata:\ndata: event: evil\ndata: id: 99\ndata: data: y\n\n"
        );
        assert_eq!(
            parse_all(&bytes),
            [dispatched(
                "message",
                "x\n\nevent: evil\nid: 99\ndata: y",
                Some("1")
            )]
        );
    }

    #[test]
    fn encode_event_keeps_nul_inside_its_data_line() {
        assert_eq!(event(None, None, "a\0b"), b"data: a\0b\n\n");
        assert_eq!(
            parse_all(b"data: a\0b\n\n"),
            [dispatched("message", "a\0b", None)]
        );
    }

    #[test]
    fn encode_event_keeps_a_leading_space_and_html() {
        assert_eq!(event(None, None, " x"), b"data:  x\n\n");
        assert_eq!(
            event(None, None, "</script>\u{2028}<!--"),
            "data: </script>\u{2028}<!--\n\n".as_bytes()
        );
        assert_eq!(
            parse_all(b"data:  x\n\n"),
            [dispatched("message", " x", None)]
        );
    }

    #[test]
    fn encode_event_strips_line_breaks_from_invalid_id_and_event() {
        assert_eq!(
            event(Some("1\n2\0"), Some("a\r\nb"), "d"),
            b"id: 12\nevent: ab\ndata: d\n\n"
        );
    }

    #[test]
    fn encode_retry_is_in_milliseconds() {
        assert_eq!(encode_retry(10000), b"retry: 10000\n\n");
    }

    #[test]
    fn encode_comment_drops_line_breaks() {
        assert_eq!(encode_comment("heartbeat"), b": heartbeat\n\n");
        assert_eq!(encode_comment("a\r\nb\nc"), b": abc\n\n");
        assert_eq!(encode_comment(""), b":\n\n");
    }

    #[test]
    fn valid_field_value_refuses_cr_lf_and_nul() {
        assert!(valid_field_value("testEvent"));
        assert!(valid_field_value(""));
        assert!(valid_field_value("服务"));
        for bad in ["a\rb", "a\nb", "a\0b", "\r\n"] {
            assert!(!valid_field_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn parser_dispatches_events_and_keeps_last_id_and_retry() {
        let mut parser = Parser::default();
        let stream = b"retry: 10000\n\nevent: testEvent\nid: 1\ndata: hi\n\ndata: x\n\n";
        let (block, used) = parser.next_block(stream).expect("retry block");
        assert_eq!((block, used), (Block::Comment(String::new()), 14));
        let (block, used2) = parser.next_block(&stream[14..]).expect("event");
        assert_eq!(
            block,
            Block::Event(Dispatched {
                event: "testEvent".into(),
                data: "hi".into(),
                id: Some("1".into()),
                retry: Some(10000),
            })
        );
        assert_eq!(used2, 33);
        let (block, used3) = parser.next_block(&stream[47..]).expect("event");
        assert_eq!(
            block,
            Block::Event(Dispatched {
                event: "message".into(),
                data: "x".into(),
                id: Some("1".into()),
                retry: Some(10000),
            })
        );
        assert_eq!(47 + used3, stream.len());
        assert_eq!(parser.last_id().as_deref(), Some("1"));
        assert_eq!(parser.retry(), Some(10000));
    }

    #[test]
    fn parser_drops_the_seeds_split_test_event() {
        // The seed's server puts a blank line between `event`/`id` and `data`: a browser never
        // dispatches `testEvent`; the data arrives as a plain `message`.
        assert_eq!(
            parse_all(b"event: testEvent\nid: 1\n\ndata: x\n\n"),
            [
                Block::Dropped {
                    event: Some("testEvent".into()),
                    id: Some("1".into())
                },
                dispatched("message", "x", Some("1")),
            ]
        );
    }

    #[test]
    fn parser_reads_crlf_lf_and_cr_line_ends() {
        for stream in [
            &b"data: a\r\ndata: b\r\n\r\n"[..],
            b"data: a\ndata: b\n\n",
            b"data: a\rdata: b\r\r",
            b"data: a\r\ndata: b\n\r",
        ] {
            let mut parser = Parser::default();
            assert_eq!(
                parser.next_block(stream),
                Some((dispatched("message", "a\nb", None), stream.len())),
                "{stream:?}"
            );
            let mut more = stream.to_vec();
            more.extend_from_slice(b"data: c\n\n");
            let (block, used) = Parser::default().next_block(&more).expect("complete");
            assert_eq!(block, dispatched("message", "a\nb", None));
            assert_eq!(used, stream.len(), "{stream:?}");
        }
    }

    #[test]
    fn parser_dispatches_an_event_ended_by_a_lone_cr_at_once() {
        // The last event before a close or a pause: nothing more arrives after the CR.
        let mut parser = Parser::default();
        assert_eq!(
            parser.next_block(b"data: x\r\r"),
            Some((dispatched("message", "x", None), 9))
        );
        assert_eq!(parser.next_block(b""), None);
    }

    #[test]
    fn parser_takes_an_lf_after_a_split_cr_as_the_same_line_end() {
        // `data: x\r` `\r` | `\n` `data: y\n\n`: the LF in the second read completes the CRLF
        // that the first read's last CR began; it is not a blank line dispatching nothing.
        let mut parser = Parser::default();
        assert_eq!(
            parser.next_block(b"data: x\r\r"),
            Some((dispatched("message", "x", None), 9))
        );
        assert_eq!(parser.next_block(b"\n"), None);
        assert_eq!(parser.next_block(b"\ndata: y"), None);
        assert_eq!(
            parser.next_block(b"\ndata: y\n\n"),
            Some((dispatched("message", "y", None), 10))
        );
        // Only the one LF right after the CR belongs to it: a second LF is a blank line.
        let mut parser = Parser::default();
        assert_eq!(
            parser.next_block(b"data: x\n\r"),
            Some((dispatched("message", "x", None), 9))
        );
        assert_eq!(
            parser.next_block(b"\n\n"),
            Some((Block::Comment(String::new()), 2))
        );
        // A CR followed by something else in the next read leaves it alone.
        let mut parser = Parser::default();
        assert_eq!(
            parser.next_block(b"data: x\r\r"),
            Some((dispatched("message", "x", None), 9))
        );
        assert_eq!(
            parser.next_block(b"data: z\r\n\r\n"),
            Some((dispatched("message", "z", None), 11))
        );
        // A CR inside the bytes is followed at once: no LF is skipped later.
        let mut parser = Parser::default();
        assert_eq!(
            parser.next_block(b"data: x\r\rdata: y\n\n"),
            Some((dispatched("message", "x", None), 9))
        );
        assert_eq!(
            parser.next_block(b"\n\n"),
            Some((Block::Comment(String::new()), 1))
        );
    }

    #[test]
    fn parser_waits_for_the_blank_line() {
        let mut parser = Parser::default();
        assert_eq!(parser.next_block(b""), None);
        assert_eq!(parser.next_block(b"data: a\n"), None);
        assert_eq!(parser.next_block(b"data: a\r"), None);
        assert_eq!(
            parser.next_block(b"data: a\r\n\n"),
            Some((dispatched("message", "a", None), 10))
        );
    }

    #[test]
    fn parser_skips_one_bom_at_stream_start_only() {
        let mut parser = Parser::default();
        assert_eq!(parser.next_block(b"\xEF\xBB"), None);
        assert_eq!(
            parser.next_block(b"\xEF\xBB\xBFdata: a\n\n"),
            Some((dispatched("message", "a", None), 12))
        );
        // A later BOM is part of the field name, so the line is an unknown field.
        assert_eq!(
            parser.next_block(b"\xEF\xBB\xBFdata: b\n\n"),
            Some((
                Block::Dropped {
                    event: None,
                    id: None
                },
                12
            ))
        );
    }

    #[test]
    fn parser_ignores_id_with_nul_and_retry_with_non_digits() {
        let mut parser = Parser::default();
        let stream = b"id: 5\nretry: 1x\nretry: -1\nretry:\ndata: a\n\nid: 6\0\ndata: b\n\n";
        let (block, used) = parser.next_block(stream).expect("first");
        assert_eq!(block, dispatched("message", "a", Some("5")));
        let (block, _) = parser.next_block(&stream[used..]).expect("second");
        assert_eq!(block, dispatched("message", "b", Some("5")));
        assert_eq!(parser.retry(), None);
    }

    #[test]
    fn parser_reads_fields_without_colon_or_space() {
        assert_eq!(
            parse_all(b"data\ndata:x\nevent:e\n\n"),
            [dispatched("e", "\nx", None)]
        );
    }

    #[test]
    fn parser_empty_id_resets_last_event_id() {
        assert_eq!(
            parse_all(b"id: 3\ndata: a\n\nid\ndata: b\n\n"),
            [
                dispatched("message", "a", Some("3")),
                dispatched("message", "b", None)
            ]
        );
    }

    #[test]
    fn parser_reports_comments_and_blank_lines() {
        assert_eq!(
            parse_all(b": heartbeat\n:x\n\n\n"),
            [
                Block::Comment("heartbeat\nx".into()),
                Block::Comment(String::new())
            ]
        );
    }

    #[test]
    fn parser_replaces_invalid_utf8() {
        assert_eq!(
            parse_all(b"data: a\xffb\n\n"),
            [dispatched("message", "a\u{fffd}b", None)]
        );
    }

    #[test]
    fn parser_does_not_change_state_on_incomplete_blocks() {
        let mut parser = Parser::default();
        assert_eq!(parser.next_block(b"id: 9\nretry: 5\ndata: x\n"), None);
        assert_eq!(parser.last_id(), None);
        assert_eq!(parser.retry(), None);
    }

    #[test]
    fn encoded_events_parse_back_to_their_data() {
        let mut rng = XorShift::new(99);
        for _ in 0..2000 {
            let bytes = rng.bytes(24, b"\r\n\0: aid");
            let data = String::from_utf8_lossy(&bytes).into_owned();
            let encoded = encode_event(&Event {
                id: Some("1"),
                event: Some("e"),
                data: &data,
            });
            let mut parser = Parser::default();
            let (block, used) = parser.next_block(&encoded).expect("one block");
            assert_eq!(used, encoded.len());
            let want = data.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(
                block,
                Block::Event(Dispatched {
                    event: "e".into(),
                    data: want,
                    id: Some("1".into()),
                    retry: None
                })
            );
        }
    }

    #[test]
    fn parser_never_panics_or_overreads() {
        let mut rng = XorShift::new(0xfeed);
        let seeds: [&[u8]; 4] = [
            b"\xEF\xBB\xBFretry: 10000\n\n",
            b"event: testEvent\r\nid: 1\r\ndata: x\r\n\r\n",
            b"data: a\rdata: b\r\r: c\n\n",
            b"id: 1\0\nretry: 99999999999999999999999\n\n",
        ];
        for n in 0..5000 {
            let bytes = if n % 2 == 0 {
                rng.bytes(48, b"\r\n:data idevntry \xEF\xBB\xBF0")
            } else {
                let seed = seeds[rng.below(seeds.len())];
                rng.mutate(seed)
            };
            let mut parser = Parser::default();
            let mut pos = 0;
            while let Some((_, used)) = parser.next_block(&bytes[pos..]) {
                assert!(used >= 1 && pos + used <= bytes.len(), "{bytes:?}");
                pos += used;
            }
        }
    }
}
