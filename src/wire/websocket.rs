//! RFC 6455 frames, their opcodes and close codes, and the handshake's accept value: pure encode
//! and decode shared by the server's protocol and the runner, raw enough to write (and read)
//! malformed frames.

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2: base64(SHA-1(key + GUID))).
pub fn accept_key(key: &str) -> String {
    use base64::Engine as _;
    use sha1::{Digest as _, Sha1};
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Opcodes (RFC 6455 §5.2).
pub mod opcode {
    /// Continuation frame.
    pub const CONTINUATION: u8 = 0x0;
    /// Text frame.
    pub const TEXT: u8 = 0x1;
    /// Binary frame.
    pub const BINARY: u8 = 0x2;
    /// Connection close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;

    /// RFC 6455 §5.5: control frames have opcodes whose most significant bit is 1 (0x8–0xF).
    pub fn is_control(opcode: u8) -> bool {
        opcode & 0x8 != 0
    }

    /// RFC 6455 §5.2: 0x3–0x7 and 0xB–0xF are reserved (a receiver fails the connection).
    pub fn is_reserved(opcode: u8) -> bool {
        !matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG)
    }
}

/// Close codes (RFC 6455 §7.4.1, and the IANA "WebSocket Close Code Number Registry" of §11.7),
/// the first two bytes of a close frame's payload, big-endian.
pub mod close_code {
    /// 1000: normal closure, the purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: an endpoint is "going away" (a server going down, a browser leaving the page).
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003: a kind of data this endpoint cannot accept (text only, say, and binary came).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// 1004: reserved, no meaning yet; never sent.
    pub const RESERVED: u16 = 1004;
    /// 1005: "no status code was actually present"; for reporting only, never sent.
    pub const NO_STATUS: u16 = 1005;
    /// 1006: closed without a close frame; for reporting only, never sent.
    pub const ABNORMAL: u16 = 1006;
    /// 1007: data inconsistent with the message's type (text that is not UTF-8).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY: u16 = 1008;
    /// 1009: a message too big to process.
    pub const TOO_BIG: u16 = 1009;
    /// 1010: the client expected the server to negotiate an extension it did not.
    pub const MANDATORY_EXTENSION: u16 = 1010;
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: u16 = 1012;
    /// 1013: try again later, the server cannot serve the request for now (IANA registry).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// 1014: a gateway or proxy got an invalid answer from upstream (IANA registry).
    pub const BAD_GATEWAY: u16 = 1014;
    /// 1015: the TLS handshake failed; for reporting only, never sent.
    pub const TLS_HANDSHAKE: u16 = 1015;

    /// RFC 6455 §7.4: whether an endpoint may send `code` in a close frame, so whether a received
    /// one is valid (1000–1003, 1007–1014, 3000–4999; never 0–999, 1004–1006, 1015, 1016–2999).
    ///
    /// §7.4.1 defines 1000–1003 and 1007–1011, and reserves 1004 and 1005/1006/1015 (never on the
    /// wire); the IANA registry adds 1012–1014; §7.4.2: 0–999 unused, 1000–2999 reserved for the
    /// protocol, 3000–3999 registered, 4000–4999 private use.
    pub fn is_allowed(code: u16) -> bool {
        matches!(code, NORMAL..=UNSUPPORTED_DATA | INVALID_PAYLOAD..=BAD_GATEWAY | 3000..=4999)
    }
}

/// One frame as it is on the wire; nothing is validated beyond what framing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as the low three bits.
    pub rsv: u8,
    /// 4-bit opcode.
    pub opcode: u8,
    /// Masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A final, unmasked frame with no RSV bits.
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload: payload.into(),
        }
    }

    /// A final text frame.
    pub fn text(text: &str) -> Self {
        Self::new(opcode::TEXT, text.as_bytes())
    }

    /// A final binary frame.
    pub fn binary(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::BINARY, payload)
    }

    /// A ping with `payload` (at most 125 bytes to be valid).
    pub fn ping(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::PING, payload)
    }

    /// A pong; RFC 6455 §5.5.3: it echoes the ping's "Application data".
    pub fn pong(payload: impl Into<Vec<u8>>) -> Self {
        Self::new(opcode::PONG, payload)
    }

    /// A close frame with `code` and `reason`; the reason is cut at a character boundary so the
    /// payload stays within the 125 bytes of a control frame (RFC 6455 §5.5).
    pub fn close(code: u16, reason: &str) -> Self {
        let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Self::new(opcode::CLOSE, close_payload(code, &reason[..end]))
    }

    /// A close frame with no payload (RFC 6455 §5.5.1: "no status code was actually present").
    pub fn close_empty() -> Self {
        Self::new(opcode::CLOSE, Vec::new())
    }

    /// The same frame, masked with `key` when encoded (RFC 6455 §5.3: every client frame is).
    pub fn masked(mut self, key: [u8; 4]) -> Self {
        self.mask = Some(key);
        self
    }
}

/// A frame header (RFC 6455 §5.2), decoded before its payload is read, so a receiver can refuse a
/// length over its limit without buffering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as the low three bits.
    pub rsv: u8,
    /// 4-bit opcode.
    pub opcode: u8,
    /// Masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub payload_len: u64,
    /// Bytes of the header itself (2 to 14).
    pub header_len: usize,
}

/// Framing errors (the only ones framing alone can find).
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    #[error("64-bit payload length has its most significant bit set")]
    LengthMsbSet,
    /// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
    #[error("payload length not minimally encoded")]
    NonMinimalLength,
}

/// Decodes a frame header from the start of `bytes`.
///
/// RFC 6455 §5.2: byte 0 is FIN, RSV1–3 and the opcode; byte 1 is MASK and a 7-bit length, where
/// 126 means a 16-bit length follows and 127 a 64-bit one; then the 4-byte masking key if MASK is
/// set. Returns `Ok(None)` until all of the header's bytes are there; a bad length is reported as
/// soon as its bytes are.
pub fn decode_header(bytes: &[u8]) -> Result<Option<Header>, FrameError> {
    let [b0, b1, ..] = *bytes else {
        return Ok(None);
    };
    let (payload_len, len_bytes) = match b1 & 0x7f {
        126 => {
            let Some(&[hi, lo]) = bytes.get(2..4) else {
                return Ok(None);
            };
            let len = u16::from_be_bytes([hi, lo]);
            // §5.2: "the minimal number of bytes MUST be used to encode the length".
            if len < 126 {
                return Err(FrameError::NonMinimalLength);
            }
            (u64::from(len), 2)
        }
        127 => {
            let Some(raw) = bytes.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0; 8];
            be.copy_from_slice(raw);
            let len = u64::from_be_bytes(be);
            // §5.2: "the most significant bit MUST be 0".
            if len >> 63 != 0 {
                return Err(FrameError::LengthMsbSet);
            }
            if len <= u64::from(u16::MAX) {
                return Err(FrameError::NonMinimalLength);
            }
            (len, 8)
        }
        len => (u64::from(len), 0),
    };
    let mut header_len = 2 + len_bytes;
    let mask = if b1 & 0x80 != 0 {
        let Some(&[k0, k1, k2, k3]) = bytes.get(header_len..header_len + 4) else {
            return Ok(None);
        };
        header_len += 4;
        Some([k0, k1, k2, k3])
    } else {
        None
    };
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0f,
        mask,
        payload_len,
        header_len,
    }))
}

/// Decodes one whole frame (header and payload, unmasked) from the start of `bytes`; returns it
/// with the bytes it took.
///
/// Waits (`Ok(None)`) until the whole payload is there; a receiver that must not buffer a huge
/// payload checks [`decode_header`]'s `payload_len` first.
pub fn decode_frame(bytes: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(header) = decode_header(bytes)? else {
        return Ok(None);
    };
    let available = (bytes.len() - header.header_len) as u64;
    if available < header.payload_len {
        return Ok(None);
    }
    // payload_len <= bytes.len() here, so it fits in usize.
    let end = header.header_len + header.payload_len as usize;
    let mut payload = bytes[header.header_len..end].to_vec();
    if let Some(mask) = header.mask {
        apply_mask(&mut payload, mask, 0);
    }
    let frame = Frame {
        fin: header.fin,
        rsv: header.rsv,
        opcode: header.opcode,
        mask: header.mask,
        payload,
    };
    Ok(Some((frame, end)))
}

/// Encodes a frame; the payload is masked with `frame.mask` when set. The length uses the minimal
/// encoding.
///
/// Only the low three bits of `rsv` and the low four bits of `opcode` are written, so any raw
/// (even malformed) frame a test wants can be written, but never a header of another shape.
pub fn encode_frame(frame: &Frame) -> Vec<u8> {
    let len = frame.payload.len();
    let mut out = Vec::with_capacity(len + 14);
    out.push(u8::from(frame.fin) << 7 | (frame.rsv & 0x7) << 4 | (frame.opcode & 0x0f));
    let mask_bit = if frame.mask.is_some() { 0x80 } else { 0 };
    // §5.2: 0–125 in the 7 bits, up to 65535 as 126 + 16 bits, else 127 + 64 bits.
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(mask) = frame.mask {
        out.extend_from_slice(&mask);
    }
    let payload_start = out.len();
    out.extend_from_slice(&frame.payload);
    if let Some(mask) = frame.mask {
        apply_mask(&mut out[payload_start..], mask, 0);
    }
    out
}

/// XORs `payload` with `mask` (RFC 6455 §5.3), starting at mask byte `offset % 4`.
///
/// §5.3: "Octet i of the transformed data is the XOR of octet i of the original data with octet
/// at index i modulo 4 of the masking key"; `offset` is how many payload bytes came before, for
/// payloads unmasked piece by piece.
pub fn apply_mask(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[(i + offset) % 4];
    }
}

/// A close frame's payload: 2-byte code then UTF-8 reason (RFC 6455 §5.5.1).
///
/// Raw: the reason is not cut; keep it within 123 bytes for a valid control frame (or use
/// [`Frame::close`], which cuts it).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
    out
}

/// Why a received close payload is not acceptable, with the close code to answer it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CloseError {
    /// RFC 6455 §5.5.1: a body, if any, starts with a 2-byte code; one byte is a protocol error.
    #[error("close payload of one byte")]
    OneByte,
    /// RFC 6455 §7.4: a code an endpoint may not send.
    #[error("close code {0} may not be sent")]
    CodeNotAllowed(u16),
    /// RFC 6455 §5.5.1: the reason "is not guaranteed to be human readable" but MUST be UTF-8.
    #[error("close reason is not UTF-8")]
    ReasonNotUtf8,
}

impl CloseError {
    /// The close code to answer with: 1007 for a reason that is not UTF-8 (§7.4.1), else 1002.
    pub fn close_code(&self) -> u16 {
        match self {
            CloseError::ReasonNotUtf8 => close_code::INVALID_PAYLOAD,
            CloseError::OneByte | CloseError::CodeNotAllowed(_) => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Reads a received close payload: `None` for an empty one (no code), else the code and reason,
/// checked as RFC 6455 §5.5.1 and §7.4 require.
pub fn decode_close_payload(payload: &[u8]) -> Result<Option<(u16, &str)>, CloseError> {
    match payload {
        [] => Ok(None),
        [_] => Err(CloseError::OneByte),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code::is_allowed(code) {
                return Err(CloseError::CodeNotAllowed(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| CloseError::ReasonNotUtf8)?;
            Ok(Some((code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fuzz::XorShift;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn accept_key_matches_the_rfc_sample() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    // RFC 6455 §5.7 examples.
    #[test]
    fn encode_frame_unmasked_hello() {
        assert_eq!(
            encode_frame(&Frame::text("Hello")),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn encode_frame_masked_hello() {
        assert_eq!(
            encode_frame(&Frame::text("Hello").masked(MASK)),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn encode_frame_fragmented_hello() {
        let first = Frame {
            fin: false,
            ..Frame::text("Hel")
        };
        let second = Frame::new(opcode::CONTINUATION, "lo");
        assert_eq!(encode_frame(&first), [0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!(encode_frame(&second), [0x80, 0x02, 0x6c, 0x6f]);
    }

    #[test]
    fn encode_frame_ping_and_masked_pong() {
        assert_eq!(
            encode_frame(&Frame::ping("Hello")),
            [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            encode_frame(&Frame::pong("Hello").masked(MASK)),
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn encode_frame_256_and_65536_byte_binary() {
        let bytes = encode_frame(&Frame::binary(vec![0; 256]));
        assert_eq!(bytes[..4], [0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(bytes.len(), 4 + 256);
        let bytes = encode_frame(&Frame::binary(vec![0; 65536]));
        assert_eq!(
            bytes[..10],
            [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
        assert_eq!(bytes.len(), 10 + 65536);
    }

    #[test]
    fn encode_frame_uses_minimal_lengths_at_the_edges() {
        assert_eq!(encode_frame(&Frame::binary(vec![0; 125]))[1], 125);
        assert_eq!(
            encode_frame(&Frame::binary(vec![0; 126]))[..4],
            [0x82, 126, 0, 126]
        );
        assert_eq!(
            encode_frame(&Frame::binary(vec![0; 65535]))[..4],
            [0x82, 126, 0xff, 0xff]
        );
    }

    #[test]
    fn encode_frame_writes_rsv_bits_and_raw_opcodes() {
        let frame = Frame {
            fin: false,
            rsv: 0b101,
            opcode: 0xB,
            mask: None,
            payload: vec![],
        };
        assert_eq!(encode_frame(&frame), [0x5b, 0x00]);
    }

    #[test]
    fn encode_frame_close_with_code_and_utf8_reason() {
        assert_eq!(
            encode_frame(&Frame::close(1000, "bye")),
            [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']
        );
        assert_eq!(encode_frame(&Frame::close_empty()), [0x88, 0x00]);
    }

    #[test]
    fn close_frame_cuts_a_long_reason_at_a_char_boundary() {
        let frame = Frame::close(1009, &"服".repeat(60));
        assert!(frame.payload.len() <= MAX_CONTROL_PAYLOAD);
        assert_eq!(frame.payload.len(), 2 + 123);
        assert!(std::str::from_utf8(&frame.payload[2..]).is_ok());
    }

    #[test]
    fn close_payload_is_code_then_reason() {
        assert_eq!(close_payload(1002, ""), [0x03, 0xea]);
        assert_eq!(close_payload(4999, "é"), [0x13, 0x87, 0xc3, 0xa9]);
    }

    #[test]
    fn decode_close_payload_checks_length_code_and_utf8() {
        assert_eq!(decode_close_payload(b""), Ok(None));
        assert_eq!(decode_close_payload(b"\x03"), Err(CloseError::OneByte));
        assert_eq!(decode_close_payload(b"\x03\xe8ok"), Ok(Some((1000, "ok"))));
        assert_eq!(
            decode_close_payload(b"\x03\xed"),
            Err(CloseError::CodeNotAllowed(1005))
        );
        let err = decode_close_payload(b"\x03\xe8\xff").expect_err("bad utf-8");
        assert_eq!((err.close_code(), err), (1007, CloseError::ReasonNotUtf8));
        assert_eq!(CloseError::OneByte.close_code(), 1002);
    }

    #[test]
    fn close_code_is_allowed_follows_rfc_6455_and_iana() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ] {
            assert!(close_code::is_allowed(code), "{code}");
        }
        for code in [
            0,
            999,
            1004,
            1005,
            1006,
            1015,
            1016,
            1100,
            2000,
            2999,
            5000,
            u16::MAX,
        ] {
            assert!(!close_code::is_allowed(code), "{code}");
        }
    }

    #[test]
    fn close_codes_are_their_rfc_numbers_on_the_wire() {
        // RFC 6455 §5.5.1: the code is the first two bytes of the body, in network byte order.
        let codes = [
            (close_code::NORMAL, *b"\x03\xe8"),
            (close_code::GOING_AWAY, *b"\x03\xe9"),
            (close_code::PROTOCOL_ERROR, *b"\x03\xea"),
            (close_code::UNSUPPORTED_DATA, *b"\x03\xeb"),
            (close_code::RESERVED, *b"\x03\xec"),
            (close_code::NO_STATUS, *b"\x03\xed"),
            (close_code::ABNORMAL, *b"\x03\xee"),
            (close_code::INVALID_PAYLOAD, *b"\x03\xef"),
            (close_code::POLICY, *b"\x03\xf0"),
            (close_code::TOO_BIG, *b"\x03\xf1"),
            (close_code::MANDATORY_EXTENSION, *b"\x03\xf2"),
            (close_code::INTERNAL_ERROR, *b"\x03\xf3"),
            (close_code::SERVICE_RESTART, *b"\x03\xf4"),
            (close_code::TRY_AGAIN_LATER, *b"\x03\xf5"),
            (close_code::BAD_GATEWAY, *b"\x03\xf6"),
            (close_code::TLS_HANDSHAKE, *b"\x03\xf7"),
        ];
        for (code, bytes) in codes {
            assert_eq!(close_payload(code, ""), bytes, "{code}");
        }
        assert_eq!(
            encode_frame(&Frame::close(close_code::TOO_BIG, "")),
            b"\x88\x02\x03\xf1"
        );
    }

    #[test]
    fn close_codes_for_reporting_only_are_refused_when_received() {
        for code in [
            close_code::RESERVED,
            close_code::NO_STATUS,
            close_code::ABNORMAL,
            close_code::TLS_HANDSHAKE,
        ] {
            let payload = close_payload(code, "");
            assert_eq!(
                decode_close_payload(&payload),
                Err(CloseError::CodeNotAllowed(code))
            );
        }
        assert_eq!(
            decode_close_payload(b"\x03\xf6"),
            Ok(Some((close_code::BAD_GATEWAY, "")))
        );
    }

    #[test]
    fn apply_mask_honours_the_offset() {
        let mut whole = b"Hello".to_vec();
        apply_mask(&mut whole, MASK, 0);
        assert_eq!(whole, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let mut tail = b"llo".to_vec();
        apply_mask(&mut tail, MASK, 2);
        assert_eq!(tail, whole[2..]);
        apply_mask(&mut whole, MASK, 0);
        assert_eq!(whole, b"Hello");
    }

    #[test]
    fn opcode_classes() {
        assert!(opcode::is_control(opcode::CLOSE) && opcode::is_control(0xF));
        assert!(!opcode::is_control(opcode::TEXT));
        for op in [0x3, 0x7, 0xB, 0xF] {
            assert!(opcode::is_reserved(op));
        }
        for op in [0x0, 0x1, 0x2, 0x8, 0x9, 0xA] {
            assert!(!opcode::is_reserved(op));
        }
    }

    #[test]
    fn decode_frame_reads_the_rfc_masked_hello() {
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58, 0xff,
        ];
        let (frame, used) = decode_frame(&bytes).expect("valid").expect("complete");
        assert_eq!(used, 11);
        assert_eq!(frame, Frame::text("Hello").masked(MASK));
    }

    #[test]
    fn decode_header_waits_for_every_header_byte() {
        let bytes = encode_frame(&Frame::binary(vec![7; 300]).masked(MASK));
        for n in 0..8 {
            assert_eq!(decode_header(&bytes[..n]), Ok(None), "{n}");
        }
        let header = decode_header(&bytes[..8])
            .expect("valid")
            .expect("complete");
        assert_eq!(
            header,
            Header {
                fin: true,
                rsv: 0,
                opcode: opcode::BINARY,
                mask: Some(MASK),
                payload_len: 300,
                header_len: 8
            }
        );
        assert_eq!(decode_frame(&bytes[..bytes.len() - 1]), Ok(None));
    }

    #[test]
    fn decode_header_rejects_non_minimal_lengths() {
        assert_eq!(
            decode_header(&[0x82, 126, 0, 125]),
            Err(FrameError::NonMinimalLength)
        );
        assert_eq!(
            decode_header(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
            Err(FrameError::NonMinimalLength)
        );
        assert!(matches!(
            decode_header(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            Ok(Some(Header {
                payload_len: 65536,
                header_len: 10,
                ..
            }))
        ));
    }

    #[test]
    fn decode_header_rejects_a_64_bit_length_with_its_top_bit_set() {
        assert_eq!(
            decode_header(&[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(FrameError::LengthMsbSet)
        );
        // A huge but legal length only waits for its payload.
        let huge = [0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode_frame(&huge), Ok(None));
    }

    #[test]
    fn frames_round_trip_through_encode_and_decode() {
        let mut rng = XorShift::new(6455);
        let sizes = [0, 1, 125, 126, 127, 65535, 65536];
        for n in 0..3000 {
            let len = if n % 50 == 0 {
                sizes[rng.below(sizes.len())]
            } else {
                rng.below(300)
            };
            let frame = Frame {
                fin: rng.next_u64() & 1 == 0,
                rsv: rng.byte() & 0x7,
                opcode: rng.byte() & 0x0f,
                mask: (rng.next_u64() & 1 == 0)
                    .then(|| [rng.byte(), rng.byte(), rng.byte(), rng.byte()]),
                payload: (0..len).map(|_| rng.byte()).collect(),
            };
            let mut bytes = encode_frame(&frame);
            let wire_len = bytes.len();
            bytes.extend_from_slice(b"next");
            assert_eq!(decode_frame(&bytes), Ok(Some((frame, wire_len))));
        }
    }

    #[test]
    fn decoders_never_panic_or_overread() {
        let mut rng = XorShift::new(0xdead_beef);
        let seeds: Vec<Vec<u8>> = vec![
            vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            encode_frame(&Frame::binary(vec![1; 200]).masked(MASK)),
            encode_frame(&Frame::binary(vec![2; 70000])),
            vec![
                0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4,
            ],
            encode_frame(&Frame::close(1000, "bye")),
        ];
        for n in 0..6000 {
            let bytes = if n % 2 == 0 {
                rng.bytes(40, &[0x7e, 0x7f, 0xfe, 0xff, 0x80, 0x00])
            } else {
                let seed = &seeds[rng.below(seeds.len())];
                rng.mutate(seed)
            };
            if let Ok(Some(header)) = decode_header(&bytes) {
                assert!((2..=14).contains(&header.header_len));
                assert!(header.header_len <= bytes.len());
            }
            if let Ok(Some((frame, used))) = decode_frame(&bytes) {
                assert!(used <= bytes.len());
                let _ = decode_close_payload(&frame.payload);
            }
        }
    }
}
