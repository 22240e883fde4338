//! Byte-exact tests of a whole session over an in-memory socket pair: the client side writes
//! raw (masked) frames, then reads everything the server sends until it closes.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_std::os::unix::net::UnixStream;
use async_std::task;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::server::counting_polls::CountingPolls;
use crate::server::websocket::outgoing::Push;
use crate::wire::websocket::close_code;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame, masked with [`MASK`], written out by hand so the test does not trust the codec.
fn client(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    client_raw(if fin { 0x80 } else { 0 } | op, payload)
}

/// A masked frame with the first byte given as is (FIN, RSV and opcode bits).
fn client_raw(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

fn close_frame(code: u16) -> Vec<u8> {
    client(true, opcode::CLOSE, &code.to_be_bytes())
}

/// What the server sends for a close with `code`.
fn server_close(code: u16) -> Vec<u8> {
    let [hi, lo] = code.to_be_bytes();
    vec![0x88, 0x02, hi, lo]
}

/// Echoes every message back as it came (what `/echo` does).
async fn echo<S>(session: &mut Session<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = session.next().await {
        let _ = match message {
            Incoming::Text(text) => session.text(text).await,
            Incoming::Binary(data) => session.binary(data).await,
        };
    }
}

/// Runs an echo with `max` bytes per message on one end of a socket pair, writes `input` on the
/// other end, reads until the server's close frame, then ends its own side (as a client that
/// answers a close by closing) and returns every byte the server wrote until it dropped the
/// connection.
async fn exchange(max: usize, input: &[u8]) -> Vec<u8> {
    let (server, mut peer) = UnixStream::pair().expect("socket pair");
    let (mut session, _outbox) = open(server, max);
    let echo = task::spawn(async move {
        echo(&mut session).await;
    });
    peer.write_all(input).await.expect("write to the server");
    let mut output = Vec::new();
    let mut chunk = [0u8; 4096];
    while !holds_close(&output) {
        let n = peer.read(&mut chunk).await.expect("read from the server");
        if n == 0 {
            break;
        }
        output.extend_from_slice(&chunk[..n]);
    }
    peer.shutdown(std::net::Shutdown::Write).expect("shutdown");
    peer.read_to_end(&mut output)
        .await
        .expect("read from the server");
    echo.await;
    output
}

/// Whether the server's bytes so far end with a whole close frame.
fn holds_close(mut bytes: &[u8]) -> bool {
    while let Ok(Some((frame, used))) = crate::wire::websocket::decode_frame(bytes) {
        if frame.opcode == opcode::CLOSE {
            return true;
        }
        bytes = &bytes[used..];
    }
    false
}

fn run(max: usize, input: &[u8]) -> Vec<u8> {
    task::block_on(exchange(max, input))
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn echo_returns_text_unmasked_then_echoes_close_1000() {
    let input = concat(&[client(true, opcode::TEXT, b"Hello"), close_frame(1000)]);
    let mut expected = b"\x81\x05Hello".to_vec();
    expected.extend(server_close(1000));
    assert_eq!(run(1024, &input), expected);
}

#[test]
fn echo_returns_binary() {
    let input = concat(&[
        client(true, opcode::BINARY, &[0, 0xff, 7]),
        close_frame(1000),
    ]);
    assert_eq!(
        run(1024, &input),
        b"\x82\x03\x00\xff\x07\x88\x02\x03\xe8".to_vec()
    );
}

#[test]
fn echo_uses_16_bit_length_for_200_bytes() {
    let payload = vec![b'a'; 200];
    let input = concat(&[client(true, opcode::TEXT, &payload), close_frame(1000)]);
    let mut expected = vec![0x81, 126, 0, 200];
    expected.extend_from_slice(&payload);
    expected.extend(server_close(1000));
    assert_eq!(run(1024, &input), expected);
}

#[test]
fn ping_gets_pong_with_same_payload() {
    let input = concat(&[client(true, opcode::PING, b"hi"), close_frame(1000)]);
    assert_eq!(run(1024, &input), b"\x8a\x02hi\x88\x02\x03\xe8".to_vec());
}

#[test]
fn unsolicited_pong_gets_no_answer() {
    let input = concat(&[client(true, opcode::PONG, b"x"), close_frame(1000)]);
    assert_eq!(run(1024, &input), server_close(1000));
}

#[test]
fn close_4000_is_echoed_with_4000() {
    assert_eq!(run(1024, &close_frame(4000)), b"\x88\x02\x0f\xa0".to_vec());
}

#[test]
fn close_with_reason_is_echoed_with_its_code_only() {
    let mut payload = 1001u16.to_be_bytes().to_vec();
    payload.extend_from_slice("bye ☺".as_bytes());
    assert_eq!(
        run(1024, &client(true, opcode::CLOSE, &payload)),
        server_close(1001)
    );
}

#[test]
fn empty_close_is_echoed_empty() {
    assert_eq!(
        run(1024, &client(true, opcode::CLOSE, b"")),
        b"\x88\x00".to_vec()
    );
}

#[test]
fn frames_after_the_close_are_not_answered() {
    let input = concat(&[close_frame(1000), client(true, opcode::TEXT, b"late")]);
    assert_eq!(run(1024, &input), server_close(1000));
}

#[test]
fn unmasked_frame_is_closed_with_1002() {
    assert_eq!(run(1024, b"\x81\x02hi"), server_close(1002));
}

#[test]
fn rsv1_without_extension_is_closed_with_1002() {
    assert_eq!(
        run(1024, &client_raw(0x80 | 0x40 | 0x1, b"hi")),
        server_close(1002)
    );
}

#[test]
fn rsv3_is_closed_with_1002() {
    assert_eq!(
        run(1024, &client_raw(0x80 | 0x10 | 0x2, b"")),
        server_close(1002)
    );
}

#[test]
fn reserved_data_opcode_3_is_closed_with_1002() {
    assert_eq!(run(1024, &client(true, 0x3, b"")), server_close(1002));
}

#[test]
fn reserved_control_opcode_0xb_is_closed_with_1002() {
    assert_eq!(run(1024, &client(true, 0xB, b"")), server_close(1002));
}

#[test]
fn ping_of_126_bytes_is_closed_with_1002() {
    assert_eq!(
        run(1024, &client(true, opcode::PING, &[b'p'; 126])),
        server_close(1002)
    );
}

#[test]
fn fragmented_ping_is_closed_with_1002() {
    assert_eq!(
        run(1024, &client(false, opcode::PING, b"p")),
        server_close(1002)
    );
}

#[test]
fn continuation_without_a_message_is_closed_with_1002() {
    assert_eq!(
        run(1024, &client(true, opcode::CONTINUATION, b"x")),
        server_close(1002)
    );
}

#[test]
fn new_text_inside_a_fragmented_message_is_closed_with_1002() {
    let input = concat(&[
        client(false, opcode::TEXT, b"one"),
        client(true, opcode::TEXT, b"two"),
    ]);
    assert_eq!(run(1024, &input), server_close(1002));
}

#[test]
fn invalid_utf8_text_is_closed_with_1007() {
    assert_eq!(
        run(1024, &client(true, opcode::TEXT, b"\xce\xba\xff")),
        server_close(1007)
    );
}

#[test]
fn invalid_utf8_is_refused_at_the_fragment_that_shows_it() {
    // The message is never finished: the close must come from the second fragment alone.
    let input = concat(&[
        client(false, opcode::TEXT, "κόσμε".as_bytes()),
        client(false, opcode::CONTINUATION, b"\xed\xa0\x80"), // a UTF-16 surrogate
    ]);
    assert_eq!(run(1024, &input), server_close(1007));
}

#[test]
fn utf8_sequence_split_across_fragments_is_reassembled() {
    let input = concat(&[
        client(false, opcode::TEXT, b"\xe2"),
        client(false, opcode::CONTINUATION, b"\x82"),
        client(true, opcode::CONTINUATION, b"\xac!"),
        close_frame(1000),
    ]);
    let mut expected = vec![0x81, 0x04];
    expected.extend_from_slice("€!".as_bytes());
    expected.extend(server_close(1000));
    assert_eq!(run(1024, &input), expected);
}

#[test]
fn truncated_utf8_at_message_end_is_closed_with_1007() {
    let input = concat(&[
        client(false, opcode::TEXT, b"ok"),
        client(true, opcode::CONTINUATION, b"\xe2\x82"),
    ]);
    assert_eq!(run(1024, &input), server_close(1007));
}

#[test]
fn fragments_are_reassembled_with_a_ping_between_them() {
    let input = concat(&[
        client(false, opcode::TEXT, b"Hel"),
        client(true, opcode::PING, b"!"),
        client(false, opcode::CONTINUATION, b""),
        client(true, opcode::CONTINUATION, b"lo"),
        close_frame(1000),
    ]);
    assert_eq!(
        run(1024, &input),
        b"\x8a\x01!\x81\x05Hello\x88\x02\x03\xe8".to_vec()
    );
}

#[test]
fn close_with_one_byte_payload_is_closed_with_1002() {
    assert_eq!(
        run(1024, &client(true, opcode::CLOSE, b"\x03")),
        server_close(1002)
    );
}

#[test]
fn close_codes_that_may_not_be_sent_are_closed_with_1002() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999] {
        assert_eq!(
            run(1024, &close_frame(code)),
            server_close(1002),
            "code {code}"
        );
    }
}

#[test]
fn close_reason_that_is_not_utf8_is_closed_with_1007() {
    assert_eq!(
        run(1024, &client(true, opcode::CLOSE, b"\x03\xe8\xff\xfe")),
        server_close(1007)
    );
}

#[test]
fn message_over_the_limit_is_closed_with_1009() {
    assert_eq!(
        run(16, &client(true, opcode::TEXT, &[b'x'; 17])),
        server_close(1009)
    );
}

#[test]
fn message_at_the_limit_is_echoed() {
    let input = concat(&[client(true, opcode::BINARY, &[7; 16]), close_frame(1000)]);
    let mut expected = vec![0x82, 16];
    expected.extend_from_slice(&[7; 16]);
    expected.extend(server_close(1000));
    assert_eq!(run(16, &input), expected);
}

#[test]
fn fragments_summing_over_the_limit_are_closed_with_1009() {
    let input = concat(&[
        client(false, opcode::BINARY, &[1; 10]),
        client(true, opcode::CONTINUATION, &[2; 10]),
    ]);
    assert_eq!(run(16, &input), server_close(1009));
}

#[test]
fn oversized_length_is_refused_from_the_header_alone() {
    // A header announcing 1 MiB and no payload at all: the answer cannot wait for the bytes.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 20).to_be_bytes());
    header.extend_from_slice(&MASK);
    assert_eq!(run(1024, &header), server_close(1009));
}

#[test]
fn length_with_most_significant_bit_set_is_closed_with_1002() {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 63).to_be_bytes());
    header.extend_from_slice(&MASK);
    assert_eq!(run(1024, &header), server_close(1002));
}

#[test]
fn server_close_goes_out_after_queued_frames_and_the_reply_ends_the_connection() {
    task::block_on(async {
        let (server, mut peer) = UnixStream::pair().expect("socket pair");
        let (mut session, outbox) = open(server, 1024);
        session.text("bye".into()).await.expect("queued");
        assert!(outbox.close(close_code::GOING_AWAY, ""));
        assert!(
            !outbox.close(close_code::NORMAL, ""),
            "only the first close is sent"
        );
        assert_eq!(session.text("late".into()).await, Err(Closed));
        let reader = task::spawn(async move { session.next().await });
        // The client's close reply completes the handshake; the server then drops the connection.
        peer.write_all(&close_frame(1001))
            .await
            .expect("write to the server");
        let mut output = Vec::new();
        peer.read_to_end(&mut output)
            .await
            .expect("read from the server");
        assert_eq!(reader.await, None);
        assert_eq!(output, b"\x81\x03bye\x88\x02\x03\xe9".to_vec());
    });
}

#[test]
fn peer_that_vanishes_ends_the_session() {
    task::block_on(async {
        let (server, peer) = UnixStream::pair().expect("socket pair");
        let (mut session, _outbox) = open(server, 1024);
        drop(peer);
        assert_eq!(session.next().await, None);
    });
}

#[test]
fn close_reply_after_invalid_utf8_ends_the_connection_at_once() {
    // The client answers the 1007 with its own close and keeps its side open: the server must
    // see the reply (skipping only what is left of the refused frame) and drop the connection,
    // not wait out its drain timeout (3 s) because it skipped into the reply.
    task::block_on(async {
        let (server, mut peer) = UnixStream::pair().expect("socket pair");
        let (mut session, _outbox) = open(server, 1024);
        let echo = task::spawn(async move {
            echo(&mut session).await;
        });
        let input = concat(&[client(true, opcode::TEXT, b"ab\xff"), close_frame(1007)]);
        peer.write_all(&input).await.expect("write to the server");
        let mut output = Vec::new();
        let ended = async_std::future::timeout(
            std::time::Duration::from_secs(1),
            peer.read_to_end(&mut output),
        )
        .await;
        assert!(
            ended.is_ok(),
            "the server waited for a reply it had already received"
        );
        assert_eq!(output, server_close(1007));
        echo.await;
    });
}

#[test]
fn session_waiting_for_a_message_holds_no_buffers() {
    // An idle connection is the one task and its socket: no read buffer, no write buffer.
    task::block_on(async {
        let (server, mut peer) = UnixStream::pair().expect("socket pair");
        let (mut session, _outbox) = open(server, 1024);
        peer.write_all(&client(true, opcode::TEXT, b"hi"))
            .await
            .expect("write to the server");
        assert_eq!(session.next().await, Some(Incoming::Text("hi".into())));
        session.text("hi".into()).await.expect("sent");
        assert!(
            future::poll_once(session.next()).await.is_none(),
            "no message yet"
        );
        assert_eq!(session.incoming.capacity(), 0);
        assert!(session.out.holds_nothing());
        let mut echo = [0u8; 4];
        peer.read_exact(&mut echo).await.expect("read the echo");
        assert_eq!(&echo, b"\x81\x02hi");
    });
}

/// A socket that counts the reads asked of it.
struct CountingReads {
    inner: UnixStream,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

impl AsyncRead for CountingReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingReads {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[test]
fn deliveries_from_the_feed_do_not_read_the_socket() {
    // Each delivery wakes the connection's task; only a wake-up from the socket itself (or bytes
    // from the last read) may lead to a read: otherwise every delivered message would cost an
    // empty read and a re-arm of the socket.
    task::block_on(async {
        let (server, mut peer) = UnixStream::pair().expect("socket pair");
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = CountingReads {
            inner: server,
            reads: reads.clone(),
        };
        let (push, frames) = async_std::channel::bounded::<Push>(1);
        let (mut session, _outbox) = open_with_feed(counted, 1024, Some(Box::pin(frames)));
        let route = task::spawn(async move { while session.next().await.is_some() {} });
        let mut frame = [0u8; 3];
        for n in 0..50u8 {
            let bytes: Arc<[u8]> = Arc::from(&[0x81, 0x01, n][..]);
            push.send(Push::Frame(bytes)).await.expect("feed");
            peer.read_exact(&mut frame).await.expect("the delivery");
            assert_eq!(frame, [0x81, 0x01, n]);
        }
        assert!(
            reads.load(Ordering::SeqCst) <= 2,
            "{} reads for 50 deliveries and nothing sent",
            reads.load(Ordering::SeqCst)
        );
        // The client's close still gets read: the socket wakes the task by itself.
        peer.write_all(&close_frame(1000)).await.expect("close");
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).await.expect("read");
        assert_eq!(rest, server_close(1000));
        route.await;
    });
}

#[test]
fn each_delivery_polls_the_feed_twice_at_most() {
    // Once for the frame, once to find nothing more ready (which leaves the task registered):
    // not a third time after the write, when nothing can have changed without waking the task.
    task::block_on(async {
        let (server, mut peer) = UnixStream::pair().expect("socket pair");
        let (push, frames) = async_std::channel::bounded::<Push>(1);
        let (feed, polls) = CountingPolls::over(frames);
        let (mut session, _outbox) = open_with_feed(server, 1024, Some(Box::pin(feed)));
        let route = task::spawn(async move { while session.next().await.is_some() {} });
        let mut frame = [0u8; 3];
        for n in 0..50u8 {
            let bytes: Arc<[u8]> = Arc::from(&[0x81, 0x01, n][..]);
            push.send(Push::Frame(bytes)).await.expect("feed");
            peer.read_exact(&mut frame).await.expect("the delivery");
            assert_eq!(frame, [0x81, 0x01, n]);
        }
        let polls = polls.load(Ordering::SeqCst);
        // One more for the first poll, which found nothing yet.
        assert!(polls <= 2 * 50 + 1, "{polls} polls for 50 deliveries");
        peer.write_all(&close_frame(1000)).await.expect("close");
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).await.expect("read");
        assert_eq!(rest, server_close(1000));
        route.await;
    });
}

/// A peer that takes every write at once (counting them) and never sends anything.
struct Sink {
    writes: usize,
}

impl AsyncRead for Sink {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writes += 1;
        assert!(self.writes < 100_000, "the session never yielded");
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_feed_that_never_runs_dry_still_lets_the_thread_go() {
    // Every frame is ready at once and every write is taken at once: without a budget the one
    // poll would never end.
    task::block_on(async {
        let frame: Arc<[u8]> = Arc::from(&[0x81, 0x01, b'x'][..]);
        let endless = futures_lite::stream::repeat_with(move || Push::Frame(frame.clone()));
        let (mut session, _outbox) =
            open_with_feed(Sink { writes: 0 }, 1024, Some(Box::pin(endless)));
        assert!(future::poll_once(session.next()).await.is_none());
        let writes = session.stream.as_ref().map_or(0, |sink| sink.writes);
        assert!(
            writes > 0 && writes <= TURNS_PER_POLL as usize,
            "{writes} writes"
        );
    });
}
