//! A request body on the wire (RFC 9112 §6.3, §7.1): where it ends, so bytes after it stay for the
//! next request (pipelining), and what it carries once a chunked body's framing is taken off.
//!
//! [`BodyLeft::take`] is a pure function of the bytes offered: how many of them belong to the
//! body. [`BodyLeft::decode`] also copies the content out of them: the bytes of a fixed-length
//! body as they are, the chunk data of a chunked one (size lines, chunk extensions, CRLFs and
//! trailer fields dropped).

use super::head::BodyLength;

/// A chunked framing error: the route reading the body gets an error instead of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body: {0}")]
pub struct FramingError(&'static str);

/// What remains of the current request's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyLeft {
    /// `Content-Length`: this many bytes.
    Fixed(u64),
    /// `Transfer-Encoding: chunked`: until the framing ends.
    Chunked(Chunked),
    /// Nothing (no body, or all of it handed on).
    Done,
}

impl BodyLeft {
    /// The whole body of a request with this length.
    pub fn of(length: BodyLength) -> BodyLeft {
        match length {
            BodyLength::None | BodyLength::Fixed(0) => BodyLeft::Done,
            BodyLength::Fixed(n) => BodyLeft::Fixed(n),
            BodyLength::Chunked => BodyLeft::Chunked(Chunked::SizeLine {
                size: 0,
                digits: 0,
                ext: false,
            }),
        }
    }

    /// True once the body's last byte has been taken.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyLeft::Done)
    }

    /// Takes body bytes from the start of `input` and copies their content into `out`: returns
    /// how many bytes of `input` were taken and how many of `out` were filled. Stops when `out` is
    /// full, `input` is used up or the body ends.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), FramingError> {
        let mut used = 0;
        let mut filled = 0;
        while used < input.len() && filled < out.len() && !self.is_done() {
            let data_left = match self {
                BodyLeft::Fixed(n) | BodyLeft::Chunked(Chunked::Data(n)) => Some(*n),
                _ => None,
            };
            let k = match data_left {
                Some(n) => {
                    let room = (input.len() - used).min(out.len() - filled);
                    let k = usize::try_from(n).unwrap_or(usize::MAX).min(room);
                    let took = self.take(&input[used..used + k])?;
                    out[filled..filled + took].copy_from_slice(&input[used..used + took]);
                    filled += took;
                    took
                }
                // Framing: one byte at a time, none of it content.
                None => self.take(&input[used..used + 1])?,
            };
            used += k;
        }
        Ok((used, filled))
    }

    /// How many bytes at the start of `bytes` belong to the body; advances past them.
    pub fn take(&mut self, bytes: &[u8]) -> Result<usize, FramingError> {
        match self {
            BodyLeft::Done => Ok(0),
            BodyLeft::Fixed(n) => {
                let k = usize::try_from(*n).unwrap_or(usize::MAX).min(bytes.len());
                *n -= k as u64;
                if *n == 0 {
                    *self = BodyLeft::Done;
                }
                Ok(k)
            }
            BodyLeft::Chunked(state) => {
                let mut used = 0;
                while used < bytes.len() {
                    match state.take(&bytes[used..])? {
                        Taken::Part(k) => used += k,
                        Taken::Last(k) => {
                            *self = BodyLeft::Done;
                            return Ok(used + k);
                        }
                    }
                }
                Ok(used)
            }
        }
    }
}

/// Where in the chunked framing the next byte falls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunked {
    /// `chunk-size [ chunk-ext ] CRLF` (§7.1).
    SizeLine {
        /// The size read so far.
        size: u64,
        /// Hex digits read so far.
        digits: u8,
        /// Inside the chunk extensions (ignored up to the line end).
        ext: bool,
    },
    /// `chunk-data`: this many bytes left.
    Data(u64),
    /// The CRLF after chunk data; true once the CR came.
    DataEnd(bool),
    /// `trailer-section CRLF` (§7.1.2): the length of the current line so far.
    Trailer(usize),
}

/// How many bytes one call of [`Chunked::take`] took.
enum Taken {
    /// Took this many bytes, the body goes on.
    Part(usize),
    /// Took this many bytes, the last of the body.
    Last(usize),
}

/// The longest trailer field line taken (the longest request head).
const MAX_TRAILER_LINE: usize = super::head::MAX_HEAD_BYTES;

/// RFC 9112 §7.1: `chunk-size = 1*HEXDIG`; 16 digits fill a u64.
const MAX_SIZE_DIGITS: u8 = 16;

impl Chunked {
    fn take(&mut self, bytes: &[u8]) -> Result<Taken, FramingError> {
        match self {
            Chunked::Data(n) => {
                let k = usize::try_from(*n).unwrap_or(usize::MAX).min(bytes.len());
                *n -= k as u64;
                if *n == 0 {
                    *self = Chunked::DataEnd(false);
                }
                return Ok(Taken::Part(k));
            }
            Chunked::SizeLine { size, digits, ext } => {
                let b = bytes[0];
                match b {
                    b'\n' => {
                        if *digits == 0 {
                            return Err(FramingError("chunk-size line without a size"));
                        }
                        *self = if *size == 0 {
                            Chunked::Trailer(0)
                        } else {
                            Chunked::Data(*size)
                        };
                    }
                    // Extensions (and their optional whitespace) run to the line end.
                    _ if *ext => {}
                    b';' | b' ' | b'\t' | b'\r' if *digits > 0 => *ext = true,
                    _ => {
                        let digit = (b as char)
                            .to_digit(16)
                            .ok_or(FramingError("chunk-size is not hexadecimal"))?;
                        if *digits == MAX_SIZE_DIGITS {
                            return Err(FramingError("chunk-size too large"));
                        }
                        *size = (*size << 4) | u64::from(digit);
                        *digits += 1;
                    }
                }
            }
            Chunked::DataEnd(cr) => match (bytes[0], *cr) {
                (b'\r', false) => *cr = true,
                (b'\n', true) => {
                    *self = Chunked::SizeLine {
                        size: 0,
                        digits: 0,
                        ext: false,
                    }
                }
                _ => return Err(FramingError("chunk data not followed by CRLF")),
            },
            Chunked::Trailer(line) => match bytes[0] {
                b'\n' if *line == 0 => return Ok(Taken::Last(1)),
                b'\n' => *line = 0,
                // A CR counts only as part of the line end.
                b'\r' => {}
                _ if *line >= MAX_TRAILER_LINE => {
                    return Err(FramingError("trailer field line too long"))
                }
                _ => *line += 1,
            },
        }
        Ok(Taken::Part(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked() -> BodyLeft {
        BodyLeft::of(BodyLength::Chunked)
    }

    #[test]
    fn fixed_takes_exactly_its_length_across_calls() {
        let mut body = BodyLeft::of(BodyLength::Fixed(5));
        assert_eq!(body.take(b"abc"), Ok(3));
        assert_eq!(body.take(b"deGET /"), Ok(2));
        assert!(body.is_done());
        assert_eq!(body.take(b"GET /"), Ok(0));
    }

    #[test]
    fn chunked_stops_right_after_the_blank_line() {
        let body = b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n";
        let mut left = chunked();
        let mut bytes = body.to_vec();
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(left.take(&bytes), Ok(body.len()));
        assert!(left.is_done());
    }

    #[test]
    fn chunked_split_byte_by_byte_gives_the_same_end() {
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut left = chunked();
        let mut total = 0;
        for b in body.iter().chain(b"NEXT") {
            total += left.take(std::slice::from_ref(b)).expect("valid framing");
        }
        assert_eq!(total, body.len());
        assert!(left.is_done());
    }

    #[test]
    fn chunked_decode_keeps_the_data_and_drops_size_lines_extensions_and_trailers() {
        // RFC 9112 §7.1.1: chunk extensions are legal and ignored.
        let wire = b"5;name=value\r\nhello\r\n1 ; x\r\n!\r\n0\r\nX-T: t\r\n\r\nNEXT";
        let mut left = chunked();
        let mut out = [0u8; 64];
        let (used, filled) = left.decode(wire, &mut out).expect("valid framing");
        assert_eq!(&out[..filled], b"hello!");
        assert_eq!(used, wire.len() - b"NEXT".len());
        assert!(left.is_done());
    }

    #[test]
    fn decode_stops_when_out_is_full_and_resumes() {
        let wire = b"5\r\nhello\r\n0\r\n\r\n";
        let mut left = chunked();
        let mut out = [0u8; 2];
        let (used, filled) = left.decode(wire, &mut out).expect("valid");
        assert_eq!((&out[..filled], used), (&b"he"[..], 5));
        let mut rest = Vec::new();
        let mut at = used;
        while !left.is_done() {
            let (u, f) = left.decode(&wire[at..], &mut out).expect("valid");
            rest.extend_from_slice(&out[..f]);
            at += u;
        }
        assert_eq!((rest.as_slice(), at), (&b"llo"[..], wire.len()));
        let mut fixed = BodyLeft::of(BodyLength::Fixed(3));
        assert_eq!(fixed.decode(b"abcdef", &mut out), Ok((2, 2)));
        assert_eq!(fixed.decode(b"cdef", &mut out), Ok((1, 1)));
        assert!(fixed.is_done());
    }

    #[test]
    fn a_trailer_line_longer_than_a_head_is_an_error() {
        let mut wire = b"0\r\nX: ".to_vec();
        wire.resize(MAX_TRAILER_LINE + 16, b'a');
        assert!(chunked().take(&wire).is_err());
    }

    #[test]
    fn bad_framing_is_an_error() {
        assert!(chunked().take(b"zz\r\n").is_err());
        assert!(chunked().take(b"\r\n").is_err());
        assert!(chunked().take(b"1\r\nab").is_err());
        assert!(chunked().take(b"11111111111111111\r\n").is_err());
    }
}
