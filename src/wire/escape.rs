//! Transcript escaping: bytes to one readable line and back, so that CR, LF, tabs, trailing spaces
//! and non-UTF-8 bytes survive insta's normalisation (it trims trailing whitespace and turns CRLF
//! into LF) and the exact bytes can be read back from a snapshot.
//!
//! The escaped form, which [`unescape`] reads back:
//!
//! | bytes | escaped |
//! |---|---|
//! | `\` | `\\` |
//! | CR, LF, HTAB, NUL | `\r`, `\n`, `\t`, `\0` |
//! | other C0 controls, DEL, bytes that are not UTF-8 | `\xNN` (two lowercase hex digits) |
//! | a space that ends the text | `\x20` |
//! | C1 controls, line/paragraph separators, BOM, bidi and zero-width format characters, any other Unicode whitespace that ends the text | `\u{XXXX}` |
//! | every other character | itself |

use std::fmt::Write as _;

/// Escapes `bytes` (which must not be split inside a UTF-8 sequence by the caller) into text with no
/// raw control characters: `\r`, `\n`, `\t`, `\\`, `\0`, `\xNN` for other controls and invalid
/// UTF-8, and a trailing space as `\x20`; valid UTF-8 (e.g. Chinese) stays readable.
///
/// Characters that editors or diff tools may treat as line breaks or hide (U+0085, U+2028, U+2029,
/// U+FEFF, bidi overrides, zero-width characters, C1 controls) become `\u{XXXX}`, and so does any
/// Unicode whitespace that ends the text, since insta trims it. A sequence split by the caller still
/// round-trips: its bytes come out as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            escape_char(c, &mut out);
        }
        for b in chunk.invalid() {
            push_byte(*b, &mut out);
        }
    }
    // insta trims trailing whitespace (`str::trim_end`, Unicode whitespace): make the last
    // character visible. Every whitespace character escape_char lets through raw is a space or a
    // Unicode space (U+00A0, U+3000, ...), and it can only be the final character.
    if let Some(last) = out.chars().next_back() {
        if last.is_whitespace() {
            out.pop();
            if last == ' ' {
                out.push_str("\\x20");
            } else {
                push_unicode(last, &mut out);
            }
        }
    }
    out
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\0' => out.push_str("\\0"),
        // C0 controls and DEL are single bytes: show them as the byte.
        '\u{1}'..='\u{1f}' | '\u{7f}' => push_byte(c as u8, out),
        c if hidden_char(c) => push_unicode(c, out),
        c => out.push(c),
    }
}

/// Characters that are valid UTF-8 but break lines or hide in editors and diffs.
fn hidden_char(c: char) -> bool {
    matches!(
        c,
        // C1 controls, U+0085 NEL among them (a line break for Unicode-aware tools).
        '\u{80}'..='\u{9f}'
        // Soft hyphen, Arabic letter mark, Mongolian vowel separator.
        | '\u{ad}' | '\u{61c}' | '\u{180e}'
        // Zero-width space/joiners, LRM/RLM, LINE SEPARATOR, PARAGRAPH SEPARATOR, bidi embeddings
        // and overrides (CVE-2021-42574 "Trojan Source").
        | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        // Word joiner, invisible operators, bidi isolates, deprecated format characters.
        | '\u{2060}'..='\u{206f}'
        // BOM / zero-width no-break space.
        | '\u{feff}'
        // Interlinear annotation controls; noncharacters U+FFFE/U+FFFF.
        | '\u{fff9}'..='\u{fffb}' | '\u{fffe}' | '\u{ffff}'
    )
}

fn push_byte(b: u8, out: &mut String) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\\x{b:02x}");
}

fn push_unicode(c: char, out: &mut String) {
    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
}

/// The inverse of [`escape`]: `unescape(&escape(b)) == b` for every `b`.
///
/// Accepts every form [`escape`] writes (`\\`, `\r`, `\n`, `\t`, `\0`, `\xNN`, `\u{X..}`); hex
/// digits may be upper or lower case. Any other character stands for its own UTF-8 bytes, so text
/// written by hand (a spec's `send` step) reads the same way.
pub fn unescape(text: &str) -> Result<Vec<u8>, EscapeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let error = |reason| EscapeError { offset: i, reason };
        let Some(&kind) = bytes.get(i + 1) else {
            return Err(error("a lone backslash ends the text"));
        };
        match kind {
            b'\\' => out.push(b'\\'),
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'x' => {
                let hi = bytes.get(i + 2).and_then(|d| hex_digit(*d));
                let lo = bytes.get(i + 3).and_then(|d| hex_digit(*d));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(error("\\x needs two hex digits")),
                }
                i += 4;
                continue;
            }
            b'u' => {
                if bytes.get(i + 2) != Some(&b'{') {
                    return Err(error("\\u needs braces: \\u{XXXX}"));
                }
                let digits_start = i + 3;
                let mut end = digits_start;
                let mut value: u32 = 0;
                while let Some(d) = bytes.get(end).and_then(|d| hex_digit(*d)) {
                    if end - digits_start == 6 {
                        return Err(error("\\u{...} takes at most six hex digits"));
                    }
                    value = value << 4 | u32::from(d);
                    end += 1;
                }
                if end == digits_start || bytes.get(end) != Some(&b'}') {
                    return Err(error("\\u{...} needs hex digits and a closing brace"));
                }
                let Some(c) = char::from_u32(value) else {
                    return Err(error("\\u{...} is not a Unicode scalar value"));
                };
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i = end + 1;
                continue;
            }
            _ => {
                return Err(error(
                    "unknown escape (expected \\\\ \\r \\n \\t \\0 \\xNN \\u{X})",
                ))
            }
        }
        i += 2;
    }
    Ok(out)
}

fn hex_digit(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fuzz::XorShift;

    #[test]
    fn escape_shows_line_ends_tabs_and_backslashes() {
        assert_eq!(
            escape(b"GET / HTTP/1.1\r\nA:\tb\\c\n"),
            "GET / HTTP/1.1\\r\\nA:\\tb\\\\c\\n"
        );
    }

    #[test]
    fn escape_shows_nul_controls_and_del_as_bytes() {
        assert_eq!(escape(b"a\0b\x01\x1b[0m\x7f"), "a\\0b\\x01\\x1b[0m\\x7f");
        assert_eq!(escape(b"\x0b\x0c"), "\\x0b\\x0c");
    }

    #[test]
    fn escape_keeps_chinese_readable() {
        let reply = "服务端已收到信息,您的信息是T";
        assert_eq!(escape(reply.as_bytes()), reply);
    }

    #[test]
    fn escape_shows_invalid_utf8_as_bytes() {
        assert_eq!(escape(b"\xff\xfeok\xc3"), "\\xff\\xfeok\\xc3");
        // A Chinese character split by the caller still round-trips.
        let bytes = "服".as_bytes();
        assert_eq!(escape(&bytes[..2]), "\\xe6\\x9c");
    }

    #[test]
    fn escape_makes_trailing_space_visible() {
        assert_eq!(escape(b"data: "), "data:\\x20");
        assert_eq!(escape(b"a  "), "a \\x20");
        assert_eq!(escape(b" "), "\\x20");
        assert_eq!(escape(b"a b"), "a b");
        assert_eq!(escape(b"tab\t"), "tab\\t");
        assert_eq!(escape("x\u{3000}".as_bytes()), "x\\u{3000}");
        assert_eq!(escape("x\u{a0}".as_bytes()), "x\\u{a0}");
        assert_eq!(escape("\u{a0}x".as_bytes()), "\u{a0}x");
    }

    #[test]
    fn escape_shows_unicode_line_separators_and_bom() {
        assert_eq!(
            escape("a\u{2028}b\u{2029}c\u{85}d\u{feff}e\u{202e}".as_bytes()),
            "a\\u{2028}b\\u{2029}c\\u{85}d\\u{feff}e\\u{202e}"
        );
    }

    #[test]
    fn escape_of_empty_is_empty() {
        assert_eq!(escape(b""), "");
        assert_eq!(unescape(""), Ok(vec![]));
    }

    #[test]
    fn unescape_reads_every_escape() {
        assert_eq!(
            unescape("\\r\\n\\t\\\\\\0\\x7F\\xff\\u{2028}\\u{1F600}x\\x20"),
            Ok([
                b"\r\n\t\\\0\x7f\xff".as_slice(),
                "\u{2028}\u{1f600}x ".as_bytes()
            ]
            .concat())
        );
    }

    #[test]
    fn unescape_passes_raw_text_through() {
        assert_eq!(unescape("服务 a\tb"), Ok("服务 a\tb".as_bytes().to_vec()));
    }

    #[test]
    fn unescape_rejects_bad_escapes_with_offsets() {
        let bad = |t: &str| unescape(t).map_err(|e| e.offset);
        assert_eq!(bad("ab\\"), Err(2));
        assert_eq!(bad("\\q"), Err(0));
        assert_eq!(bad("x\\x1"), Err(1));
        assert_eq!(bad("x\\xg0"), Err(1));
        assert_eq!(bad("\\u2028"), Err(0));
        assert_eq!(bad("\\u{}"), Err(0));
        assert_eq!(bad("\\u{d800}"), Err(0));
        assert_eq!(bad("\\u{110000}"), Err(0));
        assert_eq!(bad("\\u{0000041}"), Err(0));
        assert_eq!(bad("\\u{41"), Err(0));
    }

    #[test]
    fn escape_output_has_no_raw_controls_or_trailing_whitespace() {
        let mut rng = XorShift::new(0x5eed);
        for _ in 0..3000 {
            let bytes = rng.bytes(40, b" \t\r\n\\\0");
            let text = escape(&bytes);
            assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
            assert_eq!(text.trim_end(), text);
            assert!(!text.contains('\u{2028}') && !text.contains('\u{2029}'));
        }
    }

    #[test]
    fn unescape_inverts_escape_for_random_bytes() {
        let mut rng = XorShift::new(42);
        let alphabet: Vec<u8> = [
            b" \t\r\n\\\0x{}u".as_slice(),
            "服\u{2028}\u{a0}\u{85}\u{feff}".as_bytes(),
        ]
        .concat();
        for _ in 0..5000 {
            let bytes = rng.bytes(64, &alphabet);
            let text = escape(&bytes);
            assert_eq!(unescape(&text), Ok(bytes.clone()), "{text:?}");
        }
        // Every single byte and every pair ending in a space.
        for b in 0..=255u8 {
            for tail in [&b""[..], b" ", b"\t"] {
                let bytes = [&[b][..], tail].concat();
                assert_eq!(unescape(&escape(&bytes)), Ok(bytes));
            }
        }
    }

    #[test]
    fn unescape_never_panics() {
        let mut rng = XorShift::new(7);
        let seeds = ["\\x4", "\\u{10ffff}", "\\\\", "a\\u{2028"];
        for n in 0..5000 {
            let bytes = if n % 2 == 0 {
                rng.bytes(32, b"\\xu{}0123456789abcdefABCDEFrnt")
            } else {
                let seed = seeds[rng.below(seeds.len())].as_bytes();
                rng.mutate(seed)
            };
            let text = String::from_utf8_lossy(&bytes);
            if let Err(e) = unescape(&text) {
                assert!(e.offset < text.len());
            }
        }
    }
}
