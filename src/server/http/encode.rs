//! The bytes of a response head and of a chunked body: pure functions, one of each, used by every
//! response the server writes.
//!
//! A head is the status line, then every field sorted by its lower-case name, one `name: value`
//! line each, then a blank line: one order whatever order the route inserted them in, so
//! transcripts are stable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a response body is delimited on the wire (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body and no framing field: 1xx, 204 (RFC 9110 §8.6: "A server MUST NOT send a
    /// Content-Length header field in any response with a status code of 1xx (Informational) or
    /// 204 (No Content)").
    Bodiless,
    /// `content-length: N`.
    Length(u64),
    /// `transfer-encoding: chunked` (HTTP/1.1 only).
    Chunked,
    /// Ends with the connection (HTTP/1.0 with an unknown length, RFC 9112 §6.3 item 8).
    Close,
}

/// The head of a response with status `code`: `fields` (names in any case), the framing field,
/// and `date`, sorted by lower-case name.
pub fn encode_head(code: u16, fields: &[(&str, &str)], framing: Framing, date: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(192);
    encode_head_into(code, fields, framing, date, &mut head);
    head
}

/// How many fields a head sorts on the stack; more are sorted in a vector.
const FIELDS_ON_STACK: usize = 16;

/// [`encode_head`], appended to `out` (a response's buffer, the body's room reserved by the
/// caller).
pub fn encode_head_into(
    code: u16,
    fields: &[(&str, &str)],
    framing: Framing,
    date: &str,
    out: &mut Vec<u8>,
) {
    let (mut length, mut status) = ([0u8; 20], [0u8; 20]);
    let framing_field: Option<(&str, &[u8])> = match framing {
        Framing::Length(n) => Some(("content-length", decimal(n, &mut length))),
        Framing::Chunked => Some(("transfer-encoding", b"chunked")),
        Framing::Bodiless | Framing::Close => None,
    };
    let all = fields
        .iter()
        .map(|(name, value)| (*name, value.as_bytes()))
        .chain(framing_field)
        .chain([("date", date.as_bytes())]);
    let mut on_stack = [("", &b""[..]); FIELDS_ON_STACK];
    let mut on_heap = Vec::new();
    let sorted: &mut [(&str, &[u8])] = if fields.len() + 2 <= FIELDS_ON_STACK {
        let mut n = 0;
        for (slot, field) in on_stack.iter_mut().zip(all) {
            *slot = field;
            n += 1;
        }
        &mut on_stack[..n]
    } else {
        on_heap.extend(all);
        &mut on_heap
    };
    // Stable: fields of one name keep the order the route gave them.
    sorted.sort_by(|(a, _), (b, _)| lower(a).cmp(lower(b)));
    let reason = http_types::StatusCode::try_from(code)
        .map(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(decimal(u64::from(code), &mut status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in sorted.iter() {
        out.extend(lower(name));
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn lower(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.bytes().map(|b| b.to_ascii_lowercase())
}

/// `n` in decimal, written at the end of `digits`.
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[start..];
        }
    }
}

/// The most one chunk of a streamed body carries (an 8 KiB write with room for the framing).
pub const MAX_CHUNK: usize = 8184;

/// `piece` framed as chunks (RFC 9112 §7.1: `SIZE-IN-HEX CRLF DATA CRLF`), one per [`MAX_CHUNK`]
/// bytes, appended to `out`; an empty `piece` is the last chunk, `0\r\n\r\n`. `out` grows once,
/// by what the chunks need.
pub fn chunk(piece: &[u8], out: &mut Vec<u8>) {
    // At most four hex digits (MAX_CHUNK is 0x1FF8) and two CRLFs per chunk; the last chunk is 5.
    out.reserve(piece.len() + (piece.len() / MAX_CHUNK + 1) * 8 + 5);
    let mut parts = piece.chunks(MAX_CHUNK).peekable();
    if parts.peek().is_none() {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    for part in parts {
        hex(part.len(), out);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// `n` in upper-case hex without leading zeros (RFC 9112 §7.1: `chunk-size = 1*HEXDIG`).
fn hex(n: usize, out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let digits = (usize::BITS - n.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(DIGITS[(n >> (4 * shift)) & 0xF]);
    }
}

/// The `date` field of a response sent now, formatted once per second per thread.
pub fn http_date() -> HttpDate {
    thread_local! {
        static CACHED: std::cell::Cell<(u64, HttpDate)> =
            const { std::cell::Cell::new((u64::MAX, HttpDate::EMPTY)) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|cached| match cached.get() {
        (secs, date) if secs == now => date,
        _ => {
            let date = HttpDate::new(&date_at(now));
            cached.set((now, date));
            date
        }
    })
}

/// A `date` field value, kept without an allocation: an IMF-fixdate is 29 bytes.
#[derive(Clone, Copy)]
pub struct HttpDate {
    bytes: [u8; 29],
}

impl HttpDate {
    const EMPTY: HttpDate = HttpDate { bytes: [b' '; 29] };

    /// `date` (an IMF-fixdate: ASCII, 29 bytes; anything else reads as the Unix epoch).
    fn new(date: &str) -> HttpDate {
        match <[u8; 29]>::try_from(date.as_bytes()) {
            Ok(bytes) if date.is_ascii() => HttpDate { bytes },
            _ => HttpDate {
                bytes: *b"Thu, 01 Jan 1970 00:00:00 GMT",
            },
        }
    }
}

impl std::ops::Deref for HttpDate {
    type Target = str;

    fn deref(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

impl std::fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// The `date` field for `secs` seconds after the Unix epoch (RFC 9110 §5.6.7 IMF-fixdate).
pub fn date_at(secs: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(secs);
    http_types::other::Date::new(at).value().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Sat, 28 Nov 2026 00:19:59 GMT";

    #[test]
    fn fields_are_sorted_by_lower_case_name() {
        let fields = [
            ("Vary", "Origin"),
            ("content-type", "application/json"),
            ("Access-Control-Allow-Origin", "http://a.example"),
        ];
        let mut bytes = encode_head(200, &fields, Framing::Length(2), DATE);
        bytes.extend_from_slice(b"{}");
        assert_eq!(
            std::str::from_utf8(&bytes).expect("ASCII"),
            "HTTP/1.1 200 OK\r\n\
             access-control-allow-origin: http://a.example\r\n\
             content-length: 2\r\n\
             content-type: application/json\r\n\
             date: Sat, 28 Nov 2026 00:19:59 GMT\r\n\
             vary: Origin\r\n\
             \r\n{}"
        );
    }

    #[test]
    fn no_length_on_101_and_204_and_none_when_the_close_ends_the_body() {
        assert_eq!(
            encode_head(204, &[], Framing::Bodiless, DATE),
            b"HTTP/1.1 204 No Content\r\ndate: Sat, 28 Nov 2026 00:19:59 GMT\r\n\r\n"
        );
        assert_eq!(
            encode_head(101, &[("upgrade", "websocket")], Framing::Bodiless, DATE),
            b"HTTP/1.1 101 Switching Protocols\r\ndate: Sat, 28 Nov 2026 00:19:59 GMT\r\n\
upgrade: websocket\r\n\r\n"
        );
        assert_eq!(
            encode_head(200, &[("connection", "close")], Framing::Close, DATE),
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ndate: Sat, 28 Nov 2026 00:19:59 GMT\r\n\r\n"
        );
        let chunked = encode_head(200, &[], Framing::Chunked, DATE);
        assert!(chunked.ends_with(b"GMT\r\ntransfer-encoding: chunked\r\n\r\n"));
    }

    #[test]
    fn pieces_are_framed_one_chunk_per_8184_bytes() {
        let mut out = Vec::new();
        chunk(b"retry: 10000\n\n", &mut out);
        chunk(b"", &mut out);
        assert_eq!(out, b"E\r\nretry: 10000\n\n\r\n0\r\n\r\n".to_vec());
        let mut big = Vec::new();
        chunk(&vec![b'x'; MAX_CHUNK + 1], &mut big);
        assert!(big.starts_with(b"1FF8\r\nxx"));
        assert!(big.ends_with(b"x\r\n1\r\nx\r\n"));
    }

    #[test]
    fn a_head_with_more_fields_than_the_stack_holds_is_sorted_alike() {
        let names: Vec<String> = (0..FIELDS_ON_STACK + 3)
            .rev()
            .map(|i| format!("X-{i:02}"))
            .collect();
        let fields: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        let head = encode_head(204, &fields, Framing::Bodiless, DATE);
        let text = std::str::from_utf8(&head).expect("ASCII");
        let lines: Vec<&str> = text.lines().skip(2).filter(|l| !l.is_empty()).collect();
        let expected: Vec<String> = (0..FIELDS_ON_STACK + 3)
            .map(|i| format!("x-{i:02}: v"))
            .collect();
        assert_eq!(lines, expected);
        assert!(text.starts_with(
            "HTTP/1.1 204 No Content\r\ndate: Sat, 28 Nov 2026 00:19:59 GMT\r\nx-00: v\r\n"
        ));
        let mut appended = b"before".to_vec();
        encode_head_into(204, &fields, Framing::Bodiless, DATE, &mut appended);
        assert_eq!(&appended[6..], &head[..]);
    }

    #[test]
    fn decimal_numbers_have_no_leading_zeros() {
        for n in [0, 7, 10, 204, 65_536, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }

    #[test]
    fn chunk_sizes_are_upper_case_hex_without_leading_zeros() {
        for (n, text) in [
            (0, "0"),
            (9, "9"),
            (10, "A"),
            (255, "FF"),
            (4096, "1000"),
            (MAX_CHUNK, "1FF8"),
        ] {
            let mut out = Vec::new();
            hex(n, &mut out);
            assert_eq!(out, text.as_bytes(), "{n}");
        }
    }

    #[test]
    fn the_date_is_an_imf_fixdate_and_the_cached_one_is_current() {
        assert_eq!(date_at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date_at(1_795_825_199), DATE);
        let secs = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        let before = secs();
        let date = http_date();
        let after = secs();
        assert!(
            *date == date_at(before) || *date == date_at(after),
            "{date:?}"
        );
        assert_eq!(&*HttpDate::new("Sat, 28 Nov 2026 00:19:59 GMT"), DATE);
    }
}
