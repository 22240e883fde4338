//! The WebSocket permessage-deflate extension (RFC 7692): reading the parameters a server
//! answers in `Sec-WebSocket-Extensions`, compressing one message, and inflating the messages of
//! one connection with the sliding window kept between them. Pure Rust (miniz_oxide), so what it
//! inflates never depends on the zlib a machine has.

use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// RFC 7692 §7.2.1: the empty stored block a sync flush ends with; a sender removes it, a
/// receiver appends it before inflating (§7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The extension's name in `Sec-WebSocket-Extensions` (RFC 7692 §7).
pub const NAME: &str = "permessage-deflate";

/// The parameters a server accepted (RFC 7692 §7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `server_no_context_takeover`: every server message starts a new window.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`: the client must start a new window for every message.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits=N`.
    pub client_max_window_bits: Option<u8>,
}

impl Params {
    /// `server_no_context_takeover client_max_window_bits=10`, or `no parameters`.
    pub fn describe(&self) -> String {
        let mut words = Vec::new();
        if self.server_no_context_takeover {
            words.push("server_no_context_takeover".to_string());
        }
        if self.client_no_context_takeover {
            words.push("client_no_context_takeover".to_string());
        }
        if let Some(bits) = self.server_max_window_bits {
            words.push(format!("server_max_window_bits={bits}"));
        }
        if let Some(bits) = self.client_max_window_bits {
            words.push(format!("client_max_window_bits={bits}"));
        }
        if words.is_empty() {
            "no parameters".to_string()
        } else {
            words.join(" ")
        }
    }
}

/// Why a message or an answer cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeflateError {
    /// The server's `permessage-deflate` answer breaks RFC 7692 §7.1.
    #[error("bad permessage-deflate answer: {0}")]
    BadAnswer(String),
    /// The compressed bytes are not DEFLATE data.
    #[error("the compressed message is not valid DEFLATE data")]
    Corrupt,
    /// Inflating would give more bytes than allowed (a decompression bomb guard).
    #[error("the message inflates to more than {0} bytes")]
    TooLarge(usize),
}

/// The `permessage-deflate` element of a `Sec-WebSocket-Extensions` answer, if the server
/// accepted it: `Ok(None)` when it names other extensions only.
///
/// RFC 7692 §7.1: each parameter at most once; `*_no_context_takeover` take no value;
/// `server_max_window_bits` needs a value and `client_max_window_bits` may have one, 8 to 15
/// (quoted values allowed, RFC 6455 §9.1).
pub fn parse_answer(header: &str) -> Result<Option<Params>, DeflateError> {
    let mut found = None;
    for element in header.split(',') {
        let mut parts = element.split(';').map(str::trim);
        if !parts
            .next()
            .is_some_and(|name| name.eq_ignore_ascii_case(NAME))
        {
            continue;
        }
        if found.is_some() {
            return Err(DeflateError::BadAnswer(
                "permessage-deflate is answered twice".into(),
            ));
        }
        let mut params = Params::default();
        let mut seen: Vec<String> = Vec::new();
        for part in parts.filter(|part| !part.is_empty()) {
            let (name, value) = match part.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (part, None),
            };
            let name = name.to_ascii_lowercase();
            if seen.contains(&name) {
                return Err(DeflateError::BadAnswer(format!("{name} is given twice")));
            }
            seen.push(name.clone());
            let bits = |value: Option<&str>| -> Result<Option<u8>, DeflateError> {
                match value {
                    None => Ok(None),
                    Some(text) => match text.parse::<u8>() {
                        Ok(bits @ 8..=15) if !text.starts_with('0') => Ok(Some(bits)),
                        _ => Err(DeflateError::BadAnswer(format!(
                            "{name}={text} is not a window size 8-15"
                        ))),
                    },
                }
            };
            match (name.as_str(), value) {
                ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
                ("server_max_window_bits", Some(_)) => params.server_max_window_bits = bits(value)?,
                ("client_max_window_bits", _) => params.client_max_window_bits = bits(value)?,
                _ => {
                    return Err(DeflateError::BadAnswer(format!(
                        "unknown or malformed parameter '{part}'"
                    )))
                }
            }
        }
        found = Some(params);
    }
    Ok(found)
}

/// Whether a `Sec-WebSocket-Extensions` offer names permessage-deflate.
pub fn offers(header: &str) -> bool {
    header.split(',').any(|element| {
        element
            .split(';')
            .next()
            .is_some_and(|name| name.trim().eq_ignore_ascii_case(NAME))
    })
}

/// One message's payload compressed as RFC 7692 §7.2.1 says: raw DEFLATE ended by a sync flush,
/// whose empty stored block (`00 00 ff ff`) is then removed. A new window for every message (no
/// context takeover on this side, which a sender may always choose).
pub fn compress(payload: &[u8]) -> Vec<u8> {
    // Level 6 with a 15-bit window, raw DEFLATE (negative window bits: no zlib header).
    let mut compressor = CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0));
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    let mut input = payload;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let result = miniz_oxide::deflate::stream::deflate(
            &mut compressor,
            input,
            &mut buffer,
            MZFlush::Sync,
        );
        input = &input[result.bytes_consumed..];
        out.extend_from_slice(&buffer[..result.bytes_written]);
        // Done once every byte is in and the flush fitted in the buffer.
        if input.is_empty() && result.bytes_written < buffer.len() {
            break;
        }
        if result.bytes_consumed == 0 && result.bytes_written == 0 {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    out
}

/// Inflates the messages of one connection in order. With context takeover (the default), the
/// window of earlier messages stays available to later ones (RFC 7692 §7.2.2); with
/// `server_no_context_takeover`, each message starts anew.
pub struct Inflater {
    state: Box<InflateState>,
    keep_window: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("keep_window", &self.keep_window)
            .finish()
    }
}

impl Inflater {
    /// An inflater for the messages a server sends with these parameters.
    pub fn new(params: &Params) -> Inflater {
        Inflater {
            state: InflateState::new_boxed(DataFormat::Raw),
            keep_window: !params.server_no_context_takeover,
        }
    }

    /// One message's payload (every fragment joined) inflated: `00 00 ff ff` appended, then
    /// inflated (RFC 7692 §7.2.2), giving at most `limit` bytes.
    pub fn inflate(&mut self, compressed: &[u8], limit: usize) -> Result<Vec<u8>, DeflateError> {
        if !self.keep_window {
            self.state.reset(DataFormat::Raw);
        }
        let mut input = Vec::with_capacity(compressed.len() + TAIL.len());
        input.extend_from_slice(compressed);
        input.extend_from_slice(&TAIL);
        let mut rest = input.as_slice();
        let mut out = Vec::new();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            let result = miniz_oxide::inflate::stream::inflate(
                &mut self.state,
                rest,
                &mut buffer,
                MZFlush::Sync,
            );
            rest = &rest[result.bytes_consumed..];
            out.extend_from_slice(&buffer[..result.bytes_written]);
            if out.len() > limit {
                return Err(DeflateError::TooLarge(limit));
            }
            match result.status {
                // A final block (BFINAL) ends the stream: what follows is not inflated, and the
                // next message starts a new stream.
                Ok(MZStatus::StreamEnd) => {
                    self.state.reset(DataFormat::Raw);
                    return Ok(out);
                }
                Ok(_) if rest.is_empty() && result.bytes_written < buffer.len() => return Ok(out),
                Ok(_) => {}
                Err(MZError::Buf) if rest.is_empty() => return Ok(out),
                Err(_) => {
                    self.state.reset(DataFormat::Raw);
                    return Err(DeflateError::Corrupt);
                }
            }
            if result.bytes_consumed == 0 && result.bytes_written == 0 {
                return Err(DeflateError::Corrupt);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    #[test]
    fn inflates_the_rfc_7692_examples() {
        // §7.2.3.1: "Hello" compressed in one message.
        let mut inflater = Inflater::new(&Params::default());
        assert_eq!(
            inflater.inflate(b"\xf2\x48\xcd\xc9\xc9\x07\x00", LIMIT),
            Ok(b"Hello".to_vec())
        );
        // §7.2.3.2: a second "Hello" refers back to the first through the shared window.
        assert_eq!(
            inflater.inflate(b"\xf2\x00\x11\x00\x00", LIMIT),
            Ok(b"Hello".to_vec())
        );
        // §7.2.3.3: a stored (uncompressed) block.
        assert_eq!(
            Inflater::new(&Params::default())
                .inflate(b"\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00", LIMIT),
            Ok(b"Hello".to_vec())
        );
        // §7.2.3.5: two DEFLATE blocks in one message.
        assert_eq!(
            Inflater::new(&Params::default()).inflate(
                b"\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00",
                LIMIT
            ),
            Ok(b"Hello".to_vec())
        );
    }

    #[test]
    fn without_context_takeover_each_message_starts_anew() {
        let params = Params {
            server_no_context_takeover: true,
            ..Params::default()
        };
        let mut inflater = Inflater::new(&params);
        assert_eq!(
            inflater.inflate(b"\xf2\x48\xcd\xc9\xc9\x07\x00", LIMIT),
            Ok(b"Hello".to_vec())
        );
        // The back-reference of §7.2.3.2 finds no "Hello" to refer to.
        assert_ne!(
            inflater.inflate(b"\xf2\x00\x11\x00\x00", LIMIT),
            Ok(b"Hello".to_vec())
        );
    }

    #[test]
    fn compress_writes_raw_deflate_without_the_tail() {
        let compressed = compress(b"Hello");
        assert_eq!(compressed, b"\xf2\x48\xcd\xc9\xc9\x07\x00");
        assert_eq!(
            Inflater::new(&Params::default()).inflate(&compressed, LIMIT),
            Ok(b"Hello".to_vec())
        );
        let big: Vec<u8> = (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect();
        assert_eq!(
            Inflater::new(&Params::default()).inflate(&compress(&big), LIMIT),
            Ok(big)
        );
        assert_eq!(
            Inflater::new(&Params::default()).inflate(&compress(b""), LIMIT),
            Ok(Vec::new())
        );
    }

    #[test]
    fn inflate_stops_at_its_limit_and_refuses_garbage() {
        let zeros = compress(&vec![0u8; 100_000]);
        assert_eq!(
            Inflater::new(&Params::default()).inflate(&zeros, 1000),
            Err(DeflateError::TooLarge(1000))
        );
        assert_eq!(
            Inflater::new(&Params::default()).inflate(b"\xff\xff\xff\xff", LIMIT),
            Err(DeflateError::Corrupt)
        );
    }

    #[test]
    fn parse_answer_reads_rfc_7692_parameters() {
        assert_eq!(
            parse_answer("permessage-deflate"),
            Ok(Some(Params::default()))
        );
        assert_eq!(
            parse_answer(
                "x-other, permessage-deflate; server_no_context_takeover; client_max_window_bits=\"10\""
            ),
            Ok(Some(Params {
                server_no_context_takeover: true,
                client_max_window_bits: Some(10),
                ..Params::default()
            }))
        );
        assert_eq!(parse_answer("x-webkit-deflate-frame"), Ok(None));
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=08",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown",
            "permessage-deflate, permessage-deflate",
        ] {
            assert!(parse_answer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offers_finds_the_extension_among_others() {
        assert!(offers("permessage-deflate; client_max_window_bits"));
        assert!(offers("foo, Permessage-Deflate"));
        assert!(!offers("x-webkit-deflate-frame"));
    }
}
