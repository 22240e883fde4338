//! RFC 6455 frames and the handshake's accept value: pure encode and decode shared by the server's
//! protocol and the runner, raw enough to write (and read) malformed frames.

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2: base64(SHA-1(key + GUID))).
pub fn accept_key(key: &str) -> String {
    let _ = key;
    todo!()
}

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
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    #[error("64-bit payload length has its most significant bit set")]
    LengthMsbSet,
    /// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
    #[error("payload length not minimally encoded")]
    NonMinimalLength,
}

/// Decodes a frame header from the start of `bytes`.
pub fn decode_header(bytes: &[u8]) -> Result<Option<Header>, FrameError> {
    let _ = bytes;
    todo!()
}

/// Decodes one whole frame (header and payload, unmasked) from the start of `bytes`; returns it
/// with the bytes it took.
pub fn decode_frame(bytes: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let _ = bytes;
    todo!()
}

/// Encodes a frame; the payload is masked with `frame.mask` when set. The length uses the minimal
/// encoding.
pub fn encode_frame(frame: &Frame) -> Vec<u8> {
    let _ = frame;
    todo!()
}

/// XORs `payload` with `mask` (RFC 6455 §5.3), starting at mask byte `offset % 4`.
pub fn apply_mask(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    let _ = (payload, mask, offset);
    todo!()
}

/// A close frame's payload: 2-byte code then UTF-8 reason (RFC 6455 §5.5.1).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let _ = (code, reason);
    todo!()
}

/// RFC 6455 §7.4: whether an endpoint may send `code` in a close frame (1000–1003, 1007–1014,
/// 3000–4999; never 0–999, 1004–1006, 1015, 1016–2999).
pub fn close_code_allowed(code: u16) -> bool {
    let _ = code;
    todo!()
}
