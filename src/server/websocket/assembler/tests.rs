//! The assembler fed byte literals: the RFC 6455 §5.7 examples, then each rule of §5.2–§5.6 and
//! the violation (with its close code) that breaking it gives.

use std::task::Poll;

use super::*;

/// Feeds `bytes` and assembles until more bytes are needed; what came out, `Nothing` left out.
fn feed(assembler: &mut Assembler, bytes: &[u8]) -> Result<Vec<Received>, Violation> {
    assembler.push(bytes);
    let mut out = Vec::new();
    loop {
        match assembler.assemble()? {
            Received::NeedMore => return Ok(out),
            Received::Nothing => {}
            received => out.push(received),
        }
    }
}

fn text(text: &str) -> Received {
    Received::Message(Incoming::Text(text.into()))
}

#[test]
fn rfc_masked_hello_is_one_text_message() {
    // RFC 6455 §5.7: "A single-frame masked text message".
    let mut assembler = Assembler::new(1024);
    let out = feed(
        &mut assembler,
        b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    );
    assert_eq!(out, Ok(vec![text("Hello")]));
    assert_eq!(assembler.buffered(), 0);
}

#[test]
fn rfc_masked_hello_arriving_byte_by_byte_is_one_text_message() {
    let bytes = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let mut assembler = Assembler::new(1024);
    let mut out = Vec::new();
    for byte in bytes {
        out.extend(feed(&mut assembler, &[*byte]).expect("valid"));
    }
    assert_eq!(out, vec![text("Hello")]);
}

#[test]
fn rfc_unmasked_hello_from_a_client_is_a_protocol_error() {
    // RFC 6455 §5.7 "A single-frame unmasked text message": what a server sends, never a client.
    let error = feed(&mut Assembler::new(1024), b"\x81\x05\x48\x65\x6c\x6c\x6f");
    assert_eq!(error, Err(Violation::Unmasked));
    assert_eq!(Violation::Unmasked.close_code(), 1002);
}

#[test]
fn rfc_masked_ping_is_handed_out_unmasked() {
    // RFC 6455 §5.7: "Unmasked Ping request and masked Ping response" (with the text's mask).
    let out = feed(
        &mut Assembler::new(1024),
        b"\x89\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
    );
    assert_eq!(out, Ok(vec![Received::Ping(b"Hello".to_vec())]));
}

#[test]
fn rfc_fragmented_hello_is_reassembled_around_a_ping() {
    // RFC 6455 §5.7 "A fragmented unmasked text message", masked as a client must, with an empty
    // ping between the fragments (§5.4: control frames may be injected in the middle).
    let bytes = [
        &b"\x01\x83\x37\xfa\x21\x3d\x7f\x9f\x4d"[..], // "Hel", FIN clear
        b"\x89\x80\x37\xfa\x21\x3d",                  // an empty ping
        b"\x80\x82\x37\xfa\x21\x3d\x5b\x95",          // "lo", the last fragment
    ]
    .concat();
    let out = feed(&mut Assembler::new(1024), &bytes);
    assert_eq!(out, Ok(vec![Received::Ping(Vec::new()), text("Hello")]));
}

#[test]
fn close_frame_payload_is_handed_out_unmasked() {
    let out = feed(
        &mut Assembler::new(1024),
        b"\x88\x82\x37\xfa\x21\x3d\x34\x12",
    );
    assert_eq!(out, Ok(vec![Received::Close(b"\x03\xe8".to_vec())]));
}

#[test]
fn pong_is_taken_silently() {
    let out = feed(&mut Assembler::new(1024), b"\x8a\x81\x00\x00\x00\x00x");
    assert_eq!(out, Ok(vec![]));
}

#[test]
fn binary_message_of_zero_bytes_is_a_message() {
    let out = feed(&mut Assembler::new(1024), b"\x82\x80\x00\x00\x00\x00");
    assert_eq!(
        out,
        Ok(vec![Received::Message(Incoming::Binary(Vec::new()))])
    );
}

#[test]
fn utf8_character_split_across_fragments_is_reassembled() {
    // κ is 0xce 0xba: one byte per fragment (a zero mask leaves the payload as it is).
    let out = feed(
        &mut Assembler::new(1024),
        b"\x01\x81\x00\x00\x00\x00\xce\x80\x81\x00\x00\x00\x00\xba",
    );
    assert_eq!(out, Ok(vec![text("κ")]));
}

#[test]
fn invalid_utf8_fails_at_the_fragment_that_shows_it() {
    let mut assembler = Assembler::new(1024);
    assert_eq!(
        feed(&mut assembler, b"\x01\x82\x00\x00\x00\x00ab"),
        Ok(vec![])
    );
    // Not the last fragment, yet 0xff can start no UTF-8 sequence.
    let error = feed(&mut assembler, b"\x00\x81\x00\x00\x00\x00\xff");
    assert_eq!(error, Err(Violation::InvalidUtf8));
    assert_eq!(Violation::InvalidUtf8.close_code(), 1007);
}

#[test]
fn utf8_cut_at_the_end_of_the_message_fails() {
    let error = feed(&mut Assembler::new(1024), b"\x81\x81\x00\x00\x00\x00\xce");
    assert_eq!(error, Err(Violation::InvalidUtf8));
}

#[test]
fn utf8_check_allows_a_split_sequence_until_the_end() {
    let mut checked = 0;
    assert!(check_utf8(b"ab\xe2\x82", &mut checked, false).is_ok());
    assert_eq!(checked, 2);
    assert!(check_utf8(b"ab\xe2\x82\xac", &mut checked, true).is_ok());
    assert_eq!(checked, 5);
    let mut checked = 0;
    assert!(check_utf8(b"ab\xe2\x82", &mut checked, true).is_err());
}

#[test]
fn message_over_the_limit_fails_from_its_header_alone() {
    let error = feed(&mut Assembler::new(4), b"\x82\x85\x00\x00\x00\x00");
    assert_eq!(error, Err(Violation::TooBig { limit: 4 }));
    assert_eq!(Violation::TooBig { limit: 4 }.close_code(), 1009);
}

#[test]
fn fragments_summing_over_the_limit_fail() {
    let mut assembler = Assembler::new(4);
    assert_eq!(
        feed(&mut assembler, b"\x02\x83\x00\x00\x00\x00abc"),
        Ok(vec![])
    );
    let error = feed(&mut assembler, b"\x80\x82\x00\x00\x00\x00de");
    assert_eq!(error, Err(Violation::TooBig { limit: 4 }));
}

#[test]
fn message_at_the_limit_is_whole() {
    let out = feed(&mut Assembler::new(4), b"\x82\x84\x00\x00\x00\x00abcd");
    assert_eq!(
        out,
        Ok(vec![Received::Message(Incoming::Binary(b"abcd".to_vec()))])
    );
}

#[test]
fn header_rule_breaks_are_protocol_errors() {
    let cases: [(&[u8], Violation); 7] = [
        (b"\xc1\x80\x00\x00\x00\x00", Violation::ReservedBits(0b100)),
        (b"\x91\x80\x00\x00\x00\x00", Violation::ReservedBits(0b001)),
        (b"\x83\x80\x00\x00\x00\x00", Violation::ReservedOpcode(0x3)),
        (b"\x8b\x80\x00\x00\x00\x00", Violation::ReservedOpcode(0xb)),
        (b"\x09\x80\x00\x00\x00\x00", Violation::ControlFrame),
        (b"\x89\xfe\x00\x7e\x00\x00\x00\x00", Violation::ControlFrame),
        (b"\x80\x80\x00\x00\x00\x00", Violation::NothingToContinue),
    ];
    for (bytes, violation) in cases {
        assert_eq!(
            feed(&mut Assembler::new(1024), bytes),
            Err(violation.clone()),
            "{bytes:x?}"
        );
        assert_eq!(violation.close_code(), 1002);
    }
}

#[test]
fn a_new_message_inside_a_fragmented_one_is_a_protocol_error() {
    let error = feed(
        &mut Assembler::new(1024),
        b"\x01\x81\x00\x00\x00\x00a\x81\x81\x00\x00\x00\x00b",
    );
    assert_eq!(error, Err(Violation::Interleaved));
}

#[test]
fn a_64_bit_length_with_its_top_bit_set_is_a_protocol_error() {
    let error = feed(
        &mut Assembler::new(1024),
        b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00",
    );
    assert_eq!(error, Err(Violation::Length(FrameError::LengthMsbSet)));
    assert_eq!(error.map_err(|e| e.close_code()), Err(1002));
}

#[test]
fn skip_to_close_finds_the_close_behind_the_rest_of_a_refused_frame() {
    // A 4-byte text frame refused at its first byte; its 3 other bytes, a ping, then the close.
    let mut assembler = Assembler::new(1024);
    assert_eq!(
        feed(&mut assembler, b"\x81\x84\x00\x00\x00\x00\xff"),
        Err(Violation::InvalidUtf8)
    );
    assert!(!assembler.skip_to_close());
    assembler.push(b"abc\x89\x80\x00\x00\x00\x00");
    assert!(!assembler.skip_to_close());
    assembler.push(b"\x88\x80");
    assert!(!assembler.skip_to_close(), "the mask is still to come");
    assembler.push(b"\x00\x00\x00\x00");
    assert!(assembler.skip_to_close());
}

#[test]
fn skip_to_close_skips_the_payload_of_a_frame_refused_by_its_header() {
    let mut assembler = Assembler::new(2);
    assert_eq!(
        feed(&mut assembler, b"\x82\x83\x00\x00\x00\x00"),
        Err(Violation::TooBig { limit: 2 })
    );
    // The refused payload holds what looks like a close header: it is skipped, not taken.
    assembler.push(b"\x88\x80\x00\x88\x80\x00\x00\x00\x00");
    assert!(assembler.skip_to_close());
}

#[test]
fn skip_to_close_finds_nothing_once_framing_is_lost() {
    let mut assembler = Assembler::new(1024);
    let bad_length = b"\x82\xfe\x00\x01";
    assert!(feed(&mut assembler, bad_length).is_err());
    assembler.push(b"\x88\x80\x00\x00\x00\x00");
    assert!(!assembler.skip_to_close());
    assert_eq!(assembler.buffered(), 0);
}

#[test]
fn fill_keeps_only_what_the_read_filled() {
    let mut assembler = Assembler::new(1024);
    assembler.push(b"\x81");
    let read = assembler.fill(512, |room| {
        room[..2].copy_from_slice(b"\x85\x37");
        Poll::Ready(Ok::<_, ()>(2))
    });
    assert_eq!(read, Poll::Ready(Ok(2)));
    assert_eq!(assembler.buffered(), 3);
    let pending = assembler.fill(512, |_| Poll::<Result<usize, ()>>::Pending);
    assert_eq!(pending, Poll::Pending);
    assert_eq!(assembler.buffered(), 3);
    assembler.push(b"\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    assert_eq!(feed(&mut assembler, b""), Ok(vec![text("Hello")]));
}

#[test]
fn an_empty_buffer_is_released() {
    let mut assembler = Assembler::new(1024);
    assert_eq!(
        feed(&mut assembler, b"\x81\x82\x00\x00\x00\x00hi"),
        Ok(vec![text("hi")])
    );
    assert!(assembler.capacity() > 0);
    assembler.release_if_empty();
    assert_eq!(assembler.capacity(), 0);
}
