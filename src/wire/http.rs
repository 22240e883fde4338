//! HTTP/1.1 wire pieces the runner decodes (RFC 9112): response heads and chunked bodies, and
//! request heads, parsed once, for the server's accept loop. Every decoder
//! returns `Ok(None)` when it needs more bytes and an error for bytes it cannot accept; none panics
//! on any input.
//!
//! Line ends: start lines and field lines (trailers too) end in CRLF or a bare LF (RFC 9112 §2.2:
//! "a recipient MAY recognize a single LF as a line terminator and ignore any preceding CR"); chunk
//! framing (size line, CRLF after the data) must be CRLF, so a body cut one byte short is never
//! taken for a chunk. A CR anywhere else is an error (§2.2: "a recipient of such a bare CR MUST
//! consider that element to be invalid").

/// The default limit on a head, start line to blank line (RFC 9112 §2.3 leaves it to the
/// recipient).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The longest chunk-size line (size and extensions) [`parse_chunk`] reads.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;

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
        first_header(&self.headers, name)
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        header_values(&self.headers, name)
    }
}

/// A parsed request head (RFC 9112 §3), for checks before a request is handed on.
///
/// One allocation holds the head's text and one the places of its fields in it: a request
/// parsed per keep-alive request costs two allocations whatever its number of fields. Bytes that
/// are not UTF-8 read as U+FFFD (as `String::from_utf8_lossy` reads them), field by field.
#[derive(Clone)]
pub struct RequestHead {
    /// The head's bytes from the start (as received when they are UTF-8).
    text: String,
    method: Span,
    target: Span,
    version: Span,
    /// Each field's name and value, in order.
    fields: Vec<(Span, Span)>,
    /// Bytes the head took, any empty lines before the request line and the blank line included.
    pub length: usize,
}

/// Where a piece of a head is in its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(text: &str, span: Span) -> &str {
        text.get(span.start..span.end).unwrap_or_default()
    }
}

impl RequestHead {
    /// `GET`, `POST`, ... as sent.
    pub fn method(&self) -> &str {
        Span::of(&self.text, self.method)
    }

    /// The request-target as sent (`/sseStream?channel=a`).
    pub fn target(&self) -> &str {
        Span::of(&self.text, self.target)
    }

    /// `HTTP/1.1` or `HTTP/1.0`.
    pub fn version(&self) -> &str {
        Span::of(&self.text, self.version)
    }

    /// Header fields in order, names as sent.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(|&(name, value)| (Span::of(&self.text, name), Span::of(&self.text, value)))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of header `name` (case-insensitive), in order: a request with several
    /// `Sec-WebSocket-Key` or `Content-Length` fields can be refused.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Keeps only the fields for which `keep(name, value)` holds.
    pub fn retain_headers(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let text = &self.text;
        self.fields
            .retain(|&(name, value)| keep(Span::of(text, name), Span::of(text, value)));
    }
}

impl std::fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("version", &self.version())
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("length", &self.length)
            .finish()
    }
}

/// Two heads are equal when they read the same, wherever their pieces sit in their texts.
impl PartialEq for RequestHead {
    fn eq(&self, other: &Self) -> bool {
        self.method() == other.method()
            && self.target() == other.target()
            && self.version() == other.version()
            && self.length == other.length
            && self.headers().eq(other.headers())
    }
}

impl Eq for RequestHead {}

fn first_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why bytes are not HTTP.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    /// The start line (status line or request line) or a header line is malformed.
    #[error("malformed HTTP head: {0}")]
    Head(String),
    /// The head is larger than the limit.
    #[error("HTTP head over {0} bytes")]
    HeadTooLarge(usize),
    /// A chunk-size line or chunk trailer is malformed.
    #[error("malformed chunk: {0}")]
    Chunk(String),
}

/// Parses a response head from the start of `bytes`.
///
/// RFC 9112 §4: `HTTP-version SP status-code SP [ reason-phrase ]` (a status line that ends right
/// after the code is accepted too), then field lines, then a blank line; at most
/// [`MAX_HEAD_BYTES`]. A bad status line is reported as soon as its bytes show it, not only once
/// the head is complete.
pub fn parse_response_head(bytes: &[u8]) -> Result<Option<ResponseHead>, HttpError> {
    parse_response_head_within(bytes, MAX_HEAD_BYTES)
}

/// [`parse_response_head`] with a head limit of `max` bytes.
pub fn parse_response_head_within(
    bytes: &[u8],
    max: usize,
) -> Result<Option<ResponseHead>, HttpError> {
    let mut headers = Vec::new();
    let field = |name: Span, value: Span| {
        headers.push((lossy(bytes, name), lossy(bytes, value)));
    };
    let Some(head) = read_head(bytes, max, false, b"HTTP/", field)? else {
        return Ok(None);
    };
    let (version, status, reason) = parse_status_line(head.start)?;
    Ok(Some(ResponseHead {
        version,
        status,
        reason,
        headers,
        length: head.length,
    }))
}

/// `bytes[span]` as a string, bytes that are not UTF-8 as U+FFFD.
fn lossy(bytes: &[u8], span: Span) -> String {
    String::from_utf8_lossy(&bytes[span.start..span.end]).into_owned()
}

/// Parses a request head from the start of `bytes` (RFC 9112 §3: `method SP request-target SP
/// HTTP-version`, field lines, blank line; empty lines before the request line are skipped, §2.2),
/// at most [`MAX_HEAD_BYTES`].
pub fn parse_request_head(bytes: &[u8]) -> Result<Option<RequestHead>, HttpError> {
    parse_request_head_within(bytes, MAX_HEAD_BYTES)
}

/// [`parse_request_head`] with a head limit of `max` bytes.
pub fn parse_request_head_within(
    bytes: &[u8],
    max: usize,
) -> Result<Option<RequestHead>, HttpError> {
    let mut fields = Vec::new();
    let field = |name: Span, value: Span| {
        if fields.capacity() == 0 {
            // Room for a browser's usual fields in one allocation.
            fields.reserve(12);
        }
        fields.push((name, value));
    };
    let Some(head) = read_head(bytes, max, true, b"", field)? else {
        return Ok(None);
    };
    let [method, target, version] = parse_request_line(head.start)?.map(|span| Span {
        start: head.start_at + span.start,
        end: head.start_at + span.end,
    });
    let bytes = &bytes[..head.length];
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(Some(RequestHead {
            text: text.to_owned(),
            method,
            target,
            version,
            fields,
            length: head.length,
        }));
    }
    // Not UTF-8: each piece read as `String::from_utf8_lossy` reads it, into a text of its own.
    let mut text = String::with_capacity(bytes.len() + 16);
    let mut put = |span: Span| {
        let start = text.len();
        text.push_str(&String::from_utf8_lossy(&bytes[span.start..span.end]));
        Span {
            start,
            end: text.len(),
        }
    };
    let (method, target, version) = (put(method), put(target), put(version));
    let fields = fields
        .iter()
        .map(|&(name, value)| (put(name), put(value)))
        .collect();
    Ok(Some(RequestHead {
        text,
        method,
        target,
        version,
        fields,
        length: head.length,
    }))
}

/// A head's start line and length; its field lines went to `read_head`'s callback.
struct RawHead<'a> {
    start: &'a [u8],
    /// Where the start line begins.
    start_at: usize,
    length: usize,
}

/// The line starting at `pos` without its line end, and where the next one starts; `None` when
/// no LF has arrived yet. A CR other than the one before the LF is an error.
fn read_line(bytes: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, String> {
    let rest = bytes.get(pos..).unwrap_or_default();
    // One pass to the first CR or LF: a CR ends the line only right before an LF.
    let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
        return Ok(None);
    };
    if rest[end] == b'\n' {
        return Ok(Some((&rest[..end], pos + end + 1)));
    }
    match rest.get(end + 1) {
        // A bare CR is an error as soon as the byte after it is there.
        None => Ok(None),
        Some(b'\n') => Ok(Some((&rest[..end], pos + end + 2))),
        Some(_) => Err("bare CR inside a line".to_owned()),
    }
}

/// Reads a head's start line and field lines, handing each field's name and value (their places
/// in `bytes`) to `field`.
fn read_head<'a>(
    bytes: &'a [u8],
    max: usize,
    skip_empty_lines: bool,
    start_prefix: &[u8],
    mut field: impl FnMut(Span, Span),
) -> Result<Option<RawHead<'a>>, HttpError> {
    // Only the first `max` bytes can hold the head; past them it is too large.
    let window = &bytes[..bytes.len().min(max)];
    let more = || {
        if bytes.len() >= max {
            Err(HttpError::HeadTooLarge(max))
        } else {
            Ok(None)
        }
    };
    let mut pos = 0;
    let (start, start_at) = loop {
        // An incomplete start line that cannot become `start_prefix` is already an error.
        let partial = &window[pos..];
        let n = partial.len().min(start_prefix.len());
        if partial[..n] != start_prefix[..n] && !(skip_empty_lines && partial.starts_with(b"\r")) {
            return Err(HttpError::Head(format!(
                "start line does not begin with {:?}",
                String::from_utf8_lossy(start_prefix)
            )));
        }
        let at = pos;
        match read_line(window, pos).map_err(HttpError::Head)? {
            None => return more(),
            Some((line, next)) => {
                pos = next;
                if line.is_empty() && skip_empty_lines {
                    continue;
                }
                if line.is_empty() {
                    return Err(HttpError::Head("empty start line".to_owned()));
                }
                break (line, at);
            }
        }
    };
    loop {
        let at = pos;
        let Some((line, next)) = read_line(window, pos).map_err(HttpError::Head)? else {
            return more();
        };
        pos = next;
        if line.is_empty() {
            return Ok(Some(RawHead {
                start,
                start_at,
                length: pos,
            }));
        }
        let (name, value) = parse_field_line(line).map_err(HttpError::Head)?;
        field(name.after(at), value.after(at));
    }
}

impl Span {
    /// This span of a line, as a span of the bytes the line starts at `at` in.
    fn after(self, at: usize) -> Span {
        Span {
            start: at + self.start,
            end: at + self.end,
        }
    }
}

/// RFC 9110 §5.6.2: `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
/// "_" / "`" / "|" / "~" / DIGIT / ALPHA`, as a table: every byte of every field name is checked.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// RFC 9110 §5.6.2: `tchar`.
pub fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// RFC 9112 §5: `field-name ":" OWS field-value OWS`; the name's and the value's places in `line`.
fn parse_field_line(line: &[u8]) -> Result<(Span, Span), String> {
    // §5.2: obs-fold (a line starting with SP or HTAB) is obsolete; we refuse it.
    if line.starts_with(b" ") || line.starts_with(b"\t") {
        return Err(format!(
            "obs-fold (line folding) in {:?}",
            String::from_utf8_lossy(line)
        ));
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(format!(
            "field line without a colon: {:?}",
            String::from_utf8_lossy(line)
        ));
    };
    let name = &line[..colon];
    // §5.1: "No whitespace is allowed between the field name and colon."
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(format!(
            "bad field name {:?}",
            String::from_utf8_lossy(name)
        ));
    }
    let value = trim_ows(line, colon + 1);
    // RFC 9110 §5.5: "Field values containing CR, LF, or NUL characters are invalid and
    // dangerous"; CR and LF cannot be here any more.
    if line[value.start..value.end].contains(&0) {
        return Err(format!(
            "NUL in the value of {:?}",
            String::from_utf8_lossy(name)
        ));
    }
    Ok((
        Span {
            start: 0,
            end: colon,
        },
        value,
    ))
}

/// `line[from..]` without the OWS (SP, HTAB) at either end.
fn trim_ows(line: &[u8], from: usize) -> Span {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let rest = &line[from..];
    let start = from + rest.iter().take_while(|b| ows(b)).count();
    let end = line.len() - line[start..].iter().rev().take_while(|b| ows(b)).count();
    Span { start, end }
}

/// RFC 9112 §2.3: `HTTP-version = "HTTP" "/" DIGIT "." DIGIT`; only HTTP/1.x is this framing.
fn check_version(version: &[u8]) -> Result<(), String> {
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => Ok(()),
        _ => Err(format!(
            "bad HTTP version {:?}",
            String::from_utf8_lossy(version)
        )),
    }
}

/// RFC 9112 §4: `status-line = HTTP-version SP status-code SP [ reason-phrase ]`.
fn parse_status_line(line: &[u8]) -> Result<(String, u16, String), HttpError> {
    let bad = |why: &str| {
        HttpError::Head(format!(
            "{why} in status line {:?}",
            String::from_utf8_lossy(line)
        ))
    };
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return Err(bad("no status code"));
    };
    check_version(&line[..sp]).map_err(HttpError::Head)?;
    let version = String::from_utf8_lossy(&line[..sp]).into_owned();
    let rest = &line[sp + 1..];
    // §4: "status-code = 3DIGIT".
    let (code, reason) = match rest {
        [a, b, c] => ([*a, *b, *c], &[][..]),
        [a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
        _ => return Err(bad("bad status code")),
    };
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(bad("bad status code"));
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    // §4: "reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )".
    if reason
        .iter()
        .any(|&b| b != b'\t' && (b < 0x20 || b == 0x7f))
    {
        return Err(bad("control character"));
    }
    Ok((
        version,
        status,
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

/// RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`; the places of the
/// three in `line`.
fn parse_request_line(line: &[u8]) -> Result<[Span; 3], HttpError> {
    let bad = |why: &str| {
        HttpError::Head(format!(
            "{why} in request line {:?}",
            String::from_utf8_lossy(line)
        ))
    };
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not three parts separated by single spaces"));
    };
    // §3.1: "method = token".
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad("bad method"));
    }
    // §3.2: the request-target has no whitespace or control characters.
    if target.is_empty() || target.iter().any(|&b| b <= 0x20 || b == 0x7f) {
        return Err(bad("bad request-target"));
    }
    check_version(version).map_err(HttpError::Head)?;
    // Single spaces apart: each part starts one byte after the previous one ends.
    let method_end = method.len();
    let target_end = method_end + 1 + target.len();
    Ok([
        Span {
            start: 0,
            end: method_end,
        },
        Span {
            start: method_end + 1,
            end: target_end,
        },
        Span {
            start: target_end + 1,
            end: line.len(),
        },
    ])
}

/// One decoded chunk of a chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The chunk's data (empty for the last chunk).
    pub data: Vec<u8>,
    /// Bytes the chunk took on the wire, size line and CRLFs included.
    pub length: usize,
}

/// The value of a chunk size's hex digits (RFC 9112 §7.1 `chunk-size = 1*HEXDIG`; every byte of
/// `digits` must be one); `None` past 64 bits (§7.1: "prevent parsing errors due to integer
/// conversion overflows").
pub fn chunk_size(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |size, &d| {
        let value = char::from(d).to_digit(16)?;
        size.checked_mul(16)?.checked_add(u64::from(value))
    })
}

/// Decodes one chunk from the start of `bytes` (RFC 9112 §7.1); the last chunk has empty data and
/// includes its (empty) trailer section.
///
/// RFC 9112 §7.1: `chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF`, `last-chunk =
/// 1*("0") [ chunk-ext ] CRLF`, then `trailer-section CRLF`. Chunk extensions are ignored
/// (§7.1.1: "A recipient MUST ignore unrecognized chunk extensions"); a size that does not fit in
/// 64 bits is an error (§7.1: "Recipients MUST anticipate potentially large hexadecimal numerals
/// and prevent parsing errors due to integer conversion overflows").
pub fn parse_chunk(bytes: &[u8]) -> Result<Option<Chunk>, HttpError> {
    let bad = |why: String| HttpError::Chunk(why);
    let line_window = &bytes[..bytes.len().min(MAX_CHUNK_LINE_BYTES)];
    let Some((line, mut pos)) = read_line(line_window, 0).map_err(bad)? else {
        if bytes.len() >= MAX_CHUNK_LINE_BYTES {
            return Err(bad(format!(
                "chunk-size line over {MAX_CHUNK_LINE_BYTES} bytes"
            )));
        }
        // Already wrong before its line end: no hex digit first.
        if let Some(first) = bytes.first() {
            if !first.is_ascii_hexdigit() {
                return Err(bad(format!(
                    "chunk size starts with {:?}",
                    char::from(*first)
                )));
            }
        }
        return Ok(None);
    };
    // §7.1: the chunk-size line ends in CRLF; chunk framing is not a field line, so no bare LF.
    if bytes.get(pos.wrapping_sub(2)) != Some(&b'\r') {
        return Err(bad("chunk-size line ends in a bare LF".to_owned()));
    }
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad(format!(
            "chunk-size line without a hex size: {:?}",
            String::from_utf8_lossy(line)
        )));
    }
    let size = chunk_size(&line[..digits])
        .ok_or_else(|| bad("chunk size overflows 64 bits".to_owned()))?;
    // §7.1.1: `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`.
    let ext = trim_ows(line, digits);
    let ext = &line[ext.start..ext.end];
    if !ext.is_empty() && !ext.starts_with(b";") {
        return Err(bad(format!(
            "junk after the chunk size: {:?}",
            String::from_utf8_lossy(line)
        )));
    }
    if size == 0 {
        // §7.1.2: `trailer-section = *( field-line CRLF )`, then the final CRLF.
        loop {
            if pos > MAX_HEAD_BYTES {
                return Err(bad(format!("trailer section over {MAX_HEAD_BYTES} bytes")));
            }
            let Some((line, next)) = read_line(bytes, pos).map_err(bad)? else {
                if bytes.len() > pos + MAX_HEAD_BYTES {
                    return Err(bad(format!("trailer section over {MAX_HEAD_BYTES} bytes")));
                }
                return Ok(None);
            };
            pos = next;
            if line.is_empty() {
                return Ok(Some(Chunk {
                    data: Vec::new(),
                    length: pos,
                }));
            }
            parse_field_line(line).map_err(|why| bad(format!("trailer: {why}")))?;
        }
    }
    let Some(end) = usize::try_from(size).ok().and_then(|s| pos.checked_add(s)) else {
        return Err(bad(format!("chunk size {size} too large for this machine")));
    };
    let Some(data) = bytes.get(pos..end) else {
        return Ok(None);
    };
    // §7.1: `chunk-data CRLF`, exactly.
    let length = match bytes.get(end..).unwrap_or_default() {
        [] | [b'\r'] => return Ok(None),
        [b'\r', b'\n', ..] => end + 2,
        _ => {
            return Err(bad(format!(
                "chunk data of {size} bytes not followed by CRLF"
            )))
        }
    };
    Ok(Some(Chunk {
        data: data.to_vec(),
        length,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fuzz::XorShift;

    #[test]
    fn chunk_size_reads_hex_and_refuses_past_64_bits() {
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"1aF"), Some(0x1af));
        assert_eq!(chunk_size(b"ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(chunk_size(b"10000000000000000"), None);
        assert_eq!(chunk_size(b"1g"), None);
    }

    fn head_error(bytes: &[u8]) -> bool {
        matches!(parse_response_head(bytes), Err(HttpError::Head(_)))
    }

    #[test]
    fn response_head_with_crlf_line_ends() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-A:  b c \r\n\r\nbody";
        let head = parse_response_head(bytes)
            .expect("valid")
            .expect("complete");
        assert_eq!(
            head,
            ResponseHead {
                version: "HTTP/1.1".into(),
                status: 200,
                reason: "OK".into(),
                headers: vec![
                    ("Content-Type".into(), "text/event-stream".into()),
                    ("X-A".into(), "b c".into()),
                ],
                length: bytes.len() - 4,
            }
        );
        assert_eq!(head.header("content-type"), Some("text/event-stream"));
        assert_eq!(head.header("missing"), None);
    }

    #[test]
    fn response_head_with_lf_line_ends_and_no_reason() {
        let head = parse_response_head(b"HTTP/1.0 204\nA: 1\nA: 2\n\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((head.status, head.reason.as_str()), (204, ""));
        assert_eq!(head.version, "HTTP/1.0");
        assert_eq!(head.header_values("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(head.length, 24);
        let head = parse_response_head(b"HTTP/1.1 404 \r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((head.status, head.reason.as_str()), (404, ""));
    }

    #[test]
    fn response_head_waits_for_the_blank_line() {
        let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        for n in 0..bytes.len() {
            assert_eq!(parse_response_head(&bytes[..n]), Ok(None), "{n}");
        }
        assert!(parse_response_head(bytes).expect("valid").is_some());
    }

    #[test]
    fn response_head_refuses_what_is_not_http() {
        assert!(head_error(b"hello"));
        assert!(head_error(b"HTTX"));
        assert!(head_error(b"HTTP/2 200 OK\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 20 OK\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 2000 OK\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 abc OK\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 200 O\x01K\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 200 OK\rX: y\r\n\r\n"));
        assert!(!head_error(b"HTTP/1.1 200 OK\r\n\r\n"));
    }

    #[test]
    fn a_line_ends_at_lf_or_crlf_and_a_cr_elsewhere_is_an_error() {
        assert_eq!(read_line(b"ab\ncd", 0), Ok(Some((&b"ab"[..], 3))));
        assert_eq!(read_line(b"ab\r\ncd", 0), Ok(Some((&b"ab"[..], 4))));
        assert_eq!(read_line(b"x\r\nab\r\n", 3), Ok(Some((&b"ab"[..], 7))));
        assert_eq!(read_line(b"ab", 0), Ok(None));
        assert_eq!(read_line(b"ab\r", 0), Ok(None));
        assert_eq!(read_line(b"", 0), Ok(None));
        for bad in [&b"a\rb\n"[..], b"a\rb", b"a\r\r\n"] {
            assert_eq!(
                read_line(bad, 0),
                Err("bare CR inside a line".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn response_head_refuses_obs_fold_and_bad_field_lines() {
        assert!(head_error(b"HTTP/1.1 200 OK\r\nA: b\r\n  c\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n"));
        assert!(head_error(b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n"));
        // An error shows before the head is complete.
        assert!(head_error(b"HTTP/1.1 200 OK\r\nA : b\r\n"));
    }

    #[test]
    fn response_head_keeps_non_utf8_values_readable() {
        let head = parse_response_head(b"HTTP/1.1 200 OK\r\nX: caf\xe9\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(head.header("x"), Some("caf\u{fffd}"));
    }

    #[test]
    fn response_head_over_the_limit_is_too_large() {
        let mut bytes = b"HTTP/1.1 200 OK\r\n".to_vec();
        while bytes.len() <= MAX_HEAD_BYTES {
            bytes.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            parse_response_head(&bytes),
            Err(HttpError::HeadTooLarge(MAX_HEAD_BYTES))
        );
        assert_eq!(
            parse_response_head_within(b"HTTP/1.1 200 OK\r\n\r\n", 10),
            Err(HttpError::HeadTooLarge(10))
        );
        assert!(parse_response_head_within(b"HTTP/1.1 200 OK\r\n\r\n", 19)
            .expect("fits exactly")
            .is_some());
    }

    #[test]
    fn request_head_reads_method_target_version_and_fields() {
        let bytes = b"\r\nGET /sseStream?channel=a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 3\r\n\r\n";
        let head = parse_request_head(bytes).expect("valid").expect("complete");
        assert_eq!(head.method(), "GET");
        assert_eq!(head.target(), "/sseStream?channel=a");
        assert_eq!(head.version(), "HTTP/1.1");
        assert_eq!(
            head.headers().collect::<Vec<_>>(),
            [("Host", "x"), ("Last-Event-ID", "3")]
        );
        assert_eq!(head.length, bytes.len());
        assert_eq!(head.header("last-event-id"), Some("3"));
        let head = parse_request_head(b"POST /publish HTTP/1.0\n\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(head.version(), "HTTP/1.0");
    }

    #[test]
    fn request_head_reads_bytes_that_are_not_utf8_as_replacement_characters() {
        let head =
            parse_request_head(b"GET /caf\xc3\xa9 HTTP/1.1\r\nX: \xe9t\xe9 \r\nY:\tb\r\n\r\n")
                .expect("valid")
                .expect("complete");
        assert_eq!(head.target(), "/caf\u{e9}");
        assert_eq!(
            head.headers().collect::<Vec<_>>(),
            [("X", "\u{fffd}t\u{fffd}"), ("Y", "b")]
        );
        assert_eq!(head.method(), "GET");
        assert_eq!(head.version(), "HTTP/1.1");
        let mut head = head;
        head.retain_headers(|name, _| name != "X");
        assert_eq!(head.headers().collect::<Vec<_>>(), [("Y", "b")]);
    }

    #[test]
    fn request_head_refuses_bad_request_lines() {
        for bytes in [
            &b"GET / HTTP/1.1 x\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET /a\x7fb HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        ] {
            assert!(
                matches!(parse_request_head(bytes), Err(HttpError::Head(_))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            parse_request_head(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Ok(None)
        );
        assert_eq!(
            parse_request_head_within(&[b'a'; 9000], 8192),
            Err(HttpError::HeadTooLarge(8192))
        );
    }

    #[test]
    fn chunk_with_data_and_crlf() {
        assert_eq!(
            parse_chunk(b"5\r\nhello\r\n0\r\n\r\n"),
            Ok(Some(Chunk {
                data: b"hello".to_vec(),
                length: 10
            }))
        );
        assert_eq!(
            parse_chunk(b"19\r\n<script>x</script>\r\n\0\r\n</\r\n"),
            Ok(Some(Chunk {
                data: b"<script>x</script>\r\n\0\r\n</".to_vec(),
                length: 31
            }))
        );
    }

    #[test]
    fn chunk_extensions_are_ignored() {
        assert_eq!(
            parse_chunk(b"3;name=value;x=\"q\"\r\nabc\r\n"),
            Ok(Some(Chunk {
                data: b"abc".to_vec(),
                length: 25
            }))
        );
        assert_eq!(
            parse_chunk(b"3 ; a\r\nabc\r\n").map(|c| c.map(|c| c.data)),
            Ok(Some(b"abc".to_vec()))
        );
    }

    #[test]
    fn last_chunk_includes_its_trailer_section() {
        assert_eq!(
            parse_chunk(b"0\r\n\r\nnext"),
            Ok(Some(Chunk {
                data: vec![],
                length: 5
            }))
        );
        assert_eq!(
            parse_chunk(b"000;e\r\nExpires: never\r\n\r\n"),
            Ok(Some(Chunk {
                data: vec![],
                length: 25
            }))
        );
        assert_eq!(parse_chunk(b"0\r\nExpires: never\r\n"), Ok(None));
        assert!(matches!(
            parse_chunk(b"0\r\nno colon\r\n\r\n"),
            Err(HttpError::Chunk(_))
        ));
    }

    #[test]
    fn chunk_waits_for_all_its_bytes() {
        let bytes = b"a\r\n0123456789\r\n";
        for n in 0..bytes.len() {
            assert_eq!(parse_chunk(&bytes[..n]), Ok(None), "{n}");
        }
        assert_eq!(
            parse_chunk(bytes).map(|c| c.map(|c| c.length)),
            Ok(Some(15))
        );
    }

    #[test]
    fn chunk_refuses_bad_sizes_and_missing_crlf() {
        for bytes in [
            &b"x\r\n"[..],
            b";\r\n",
            b"\r\n",
            b"5x\r\nhello\r\n",
            b"5\r\nhelloXX",
            b"-1\r\n",
            b"5\rhello\r\n",
            b"5\nhello\r\n",
            b"5\r\nhello\n",
            b"5\r\nhello\n\r\n",
            b"1ffffffffffffffff\r\n",
            b"ffffffffffffffffffff\r\n",
        ] {
            assert!(
                matches!(parse_chunk(bytes), Err(HttpError::Chunk(_))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // The largest 64-bit size is legal: it just waits for its data.
        assert_eq!(parse_chunk(b"7fffffffffffffff\r\n"), Ok(None));
        assert!(matches!(
            parse_chunk(&[b'0'; MAX_CHUNK_LINE_BYTES + 1]),
            Err(HttpError::Chunk(_))
        ));
    }

    #[test]
    fn chunks_of_a_body_follow_each_other() {
        let body = b"4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\n\r\n";
        let mut pos = 0;
        let mut data = Vec::new();
        loop {
            let chunk = parse_chunk(&body[pos..]).expect("valid").expect("complete");
            pos += chunk.length;
            if chunk.data.is_empty() {
                break;
            }
            data.extend_from_slice(&chunk.data);
        }
        assert_eq!(pos, body.len());
        assert_eq!(data, b"Wikipedia in \r\nchunks.");
    }

    #[test]
    fn decoders_never_panic_or_overread() {
        let mut rng = XorShift::new(9112);
        let seeds: [&[u8]; 5] = [
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"5;a=b\r\nhello\r\n",
            b"0\r\nX: y\r\n\r\n",
            b"ffffffffffffffff\r\n",
        ];
        for n in 0..8000 {
            let bytes = if n % 2 == 0 {
                rng.bytes(64, b"HTP/1. 20\r\n:;0aF")
            } else {
                let seed = seeds[rng.below(seeds.len())];
                rng.mutate(seed)
            };
            if let Ok(Some(head)) = parse_response_head(&bytes) {
                assert!(head.length <= bytes.len());
            }
            if let Ok(Some(head)) = parse_request_head(&bytes) {
                assert!(head.length <= bytes.len());
            }
            if let Ok(Some(chunk)) = parse_chunk(&bytes) {
                assert!(chunk.length <= bytes.len());
                assert!(chunk.data.len() < chunk.length);
            }
        }
    }
}
