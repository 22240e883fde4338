//! Byte strings written in specs (`raw:`, `until: { string: }`): text whose escapes `\r \n \t \0
//! \\ \xNN` stand for single bytes, so a spec can send any byte, including invalid UTF-8.
//!
//! Write them in single quotes or plain style (`raw: 'GET / HTTP/1.1\r\n'`) so the backslashes
//! reach this decoder. In YAML double quotes, YAML decodes escapes first: `"\r\n"` still gives CR
//! LF, but `"\x80"` becomes the character U+0080 (two bytes in UTF-8), not the byte 0x80.

/// An escape this decoder cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadEscape {
    /// The offending text as written, e.g. `\q` or `\x4`.
    pub sequence: String,
    /// Offset of the backslash in characters from the start of the text.
    pub char_offset: usize,
}

impl BadEscape {
    /// `bad escape '\q' (use \r \n \t \0 \\ or \xNN)`.
    pub fn message(&self) -> String {
        format!(
            "bad escape '{}' (use \\r \\n \\t \\0 \\\\ or \\xNN with two hex digits)",
            self.sequence
        )
    }
}

/// Decodes the escapes of `text`; every other character stands for its UTF-8 bytes.
pub(super) fn decode(text: &str) -> Result<Vec<u8>, BadEscape> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut chars = text.chars().enumerate().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let bad = |sequence: String| BadEscape {
            sequence,
            char_offset: at,
        };
        match chars.next().map(|(_, c)| c) {
            Some('r') => bytes.push(b'\r'),
            Some('n') => bytes.push(b'\n'),
            Some('t') => bytes.push(b'\t'),
            Some('0') => bytes.push(0),
            Some('\\') => bytes.push(b'\\'),
            Some('x') => {
                let hex: String = (0..2)
                    .filter_map(|_| chars.next_if(|(_, c)| c.is_ascii_hexdigit()))
                    .map(|(_, c)| c)
                    .collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(byte) if hex.len() == 2 => bytes.push(byte),
                    _ => {
                        let next: String =
                            chars.peek().map(|(_, c)| c.to_string()).unwrap_or_default();
                        return Err(bad(format!("\\x{hex}{next}")));
                    }
                }
            }
            Some(other) => return Err(bad(format!("\\{other}"))),
            None => return Err(bad("\\".to_string())),
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_stand_for_single_bytes() {
        assert_eq!(
            decode(r"GET /\r\n\t\0\\\x80\xfF é").unwrap(),
            b"GET /\r\n\t\0\\\x80\xff \xc3\xa9".to_vec()
        );
    }

    #[test]
    fn bad_escapes_are_named_with_their_offset() {
        assert_eq!(
            decode(r"ab\q"),
            Err(BadEscape {
                sequence: r"\q".into(),
                char_offset: 2
            })
        );
        assert_eq!(decode(r"\x4g").unwrap_err().sequence, r"\x4g");
        assert_eq!(decode(r"é\x").unwrap_err().char_offset, 1);
        assert_eq!(decode("a\\").unwrap_err().sequence, "\\");
    }
}
