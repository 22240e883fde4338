//! Hostile peers that need real sockets and a whole process rather than a spec. Every
//! wait is on bytes, EOF or the server's own state; time moves only on the manual clock.
//!
//! - `max_connections_hold_under_an_idle_flood_and_free_when_they_go`: `--max-connections` idle
//!   sockets hold every slot; the flood past them gets 503 and EOF; a held one is still served;
//!   once the idle ones close, a new client is served.
//! - `slow_sse_reader_is_cut_off_and_a_healthy_one_gets_every_message`,
//!   `slow_forever_iframe_reader_...`, `slow_websocket_reader_...`: one reader stops reading while
//!   megabytes are published; it is cut off (its stream ends early), the healthy reader counts
//!   every message, and the process's resident memory grows by far less than what was published
//!   (printed: run with `--nocapture`).
//! - `closed_stream_clients_free_their_slot_at_once`: an SSE or forever-iframe client that closes
//!   (FIN) or resets (RST) its connection frees its slot with no heartbeat and no clock moving,
//!   on the fast SSE responder and on the tide path alike.
//! - `sse_stalled_reader_is_cut_after_the_send_timeout` (and `sse_on_the_tide_route_...`,
//!   `forever_iframe_...`, `websocket_...`): a client with a small receive buffer that never
//!   reads, beside a healthy one, while messages are published until the server's write to it
//!   waits; one second short of the send timeout (manual clock) it is still open, at the timeout
//!   its slot is freed and it reads EOF after what it was sent, and the healthy client gets every
//!   message, those published after the cut too.

use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use longconn::server::{Config, Server};

mod common;
use common::{manual_clock, read_to_eof, read_until, start, READ_GUARD};

/// The resident set size of this process, from `/proc/self/status`, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[async_std::test]
async fn max_connections_hold_under_an_idle_flood_and_free_when_they_go() {
    const MAX: usize = 20;
    let server = start(Config {
        max_connections: MAX,
        ..Config::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..MAX {
        idle.push(TcpStream::connect(server.addr()).await.expect("connect"));
    }
    // The flood: every connection past the limit gets 503 and is closed.
    for _ in 0..200 {
        let mut extra = TcpStream::connect(server.addr()).await.expect("connect");
        let got = read_to_eof(&mut extra).await;
        assert!(
            got.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }
    // The held connections are still served.
    let held = &mut idle[0];
    held.write_all(b"GET /poll HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(held, b"\"messages\":[]}").await;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // The idle ones go; each sees the server's FIN, sent after the slot is freed.
    for mut s in idle {
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        read_to_eof(&mut s).await;
    }
    assert_eq!(server.open_connections(), 0);
    let mut again = TcpStream::connect(server.addr()).await.expect("connect");
    again
        .write_all(b"GET /poll HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let got = read_to_eof(&mut again).await;
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    server.shutdown().await;
}

/// A stream technique under test: the request that opens it, the bytes that mark one message in
/// it, and the bytes that mark its end when the server cuts it off.
struct Technique {
    request: &'static [u8],
    message: &'static [u8],
    cut: &'static [u8],
    /// An HTTP stream: once cut, the connection serves its next request.
    keeps_alive: bool,
}

const SSE: Technique = Technique {
    request: b"GET /sseStream?channel=flood HTTP/1.1\r\nHost: localhost\r\n\r\n",
    message: b"event: message\n",
    // The chunked body's last chunk.
    cut: b"\r\n0\r\n\r\n",
    keeps_alive: true,
};

const FOREVER: Technique = Technique {
    request: b"GET /iframeLongConnection?channel=flood HTTP/1.1\r\nHost: localhost\r\n\r\n",
    message: b"\"event\":\"message\"",
    cut: b"\r\n0\r\n\r\n",
    keeps_alive: true,
};

const WEBSOCKET: Technique = Technique {
    request: b"GET /ws?channel=flood HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    message: b"\"event\":\"message\"",
    // The reason of the close frame with code 1008 (policy violation, RFC 6455 §7.4.1).
    cut: b"subscriber fell behind",
    keeps_alive: false,
};

/// Counts `pattern` in a stream read piece by piece, without keeping the stream.
struct Counter {
    pattern: &'static [u8],
    tail: Vec<u8>,
    count: usize,
}

impl Counter {
    fn feed(&mut self, bytes: &[u8]) {
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(bytes);
        self.count += window
            .windows(self.pattern.len())
            .filter(|w| *w == self.pattern)
            .count();
        let keep = (self.pattern.len() - 1).min(window.len());
        self.tail = window[window.len() - keep..].to_vec();
    }
}

/// Opens `technique` and reads its response head (and, for SSE, its opening pieces).
async fn open(server: &Server, technique: &Technique) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).await.expect("connect");
    s.write_all(technique.request).await.expect("write");
    read_until(&mut s, b"\r\n\r\n").await;
    s
}

const MESSAGES: usize = 20_000;
const MESSAGE_BYTES: usize = 1024;
const BATCH: usize = 32;

async fn slow_reader_is_cut_off(technique: &Technique, name: &str) {
    let server = start(Config {
        subscriber_queue: 64,
        log_capacity: 64,
        heartbeat: Duration::ZERO,
        ..Config::default()
    })
    .await;
    let mut stalled = open(&server, technique).await;
    let mut healthy = open(&server, technique).await;
    let (seen_tx, seen_rx) = async_std::channel::unbounded::<usize>();
    let pattern = technique.message;
    let reader = async_std::task::spawn(async move {
        let mut counter = Counter {
            pattern,
            tail: Vec::new(),
            count: 0,
        };
        let mut buf = vec![0u8; 64 * 1024];
        while counter.count < MESSAGES {
            let n = async_std::io::timeout(READ_GUARD, healthy.read(&mut buf))
                .await
                .unwrap_or_else(|e| panic!("healthy reader stalled after {}: {e}", counter.count));
            assert!(n > 0, "healthy reader cut off after {}", counter.count);
            counter.feed(&buf[..n]);
            let _ = seen_tx.send(counter.count).await;
        }
        counter.count
    });
    let before = rss_kib();
    let data = "x".repeat(MESSAGE_BYTES);
    let mut published = 0;
    while published < MESSAGES {
        for _ in 0..BATCH.min(MESSAGES - published) {
            server
                .hub()
                .publish("flood", "message", data.clone())
                .await
                .expect("publish");
            published += 1;
        }
        // Wait for the healthy reader to catch up: it never falls a queue behind.
        let mut seen = 0;
        while seen < published {
            seen = seen_rx.recv().await.expect("healthy reader alive");
        }
    }
    let after = rss_kib();
    let healthy_count = reader.await;
    // The stalled reader reads at last: what it got ends with the cut, well short of everything.
    let got = read_until(&mut stalled, technique.cut).await;
    let mut counter = Counter {
        pattern: technique.message,
        tail: Vec::new(),
        count: 0,
    };
    counter.feed(&got);
    let total_mib = (MESSAGES * MESSAGE_BYTES) as f64 / 1048576.0;
    println!(
        "{name}: published {MESSAGES} messages ({total_mib:.1} MiB); healthy reader got \
         {healthy_count}, stalled reader got {} before it was cut off; VmRSS {before} KiB before, \
         {after} KiB after",
        counter.count
    );
    assert_eq!(healthy_count, MESSAGES);
    assert!(
        counter.count < MESSAGES / 2,
        "stalled got {}",
        counter.count
    );
    assert!(
        after.saturating_sub(before) < (MESSAGES * MESSAGE_BYTES / 1024) as u64 / 2,
        "memory grew from {before} KiB to {after} KiB"
    );
    if technique.keeps_alive {
        // The stream is over, not the connection: it answers its next request.
        stalled
            .write_all(
                b"GET /poll?channel=flood&since=0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await
            .expect("write");
        let next = read_to_eof(&mut stalled).await;
        assert!(
            next.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{name}: after the cut: {:?}",
            String::from_utf8_lossy(&next[..next.len().min(200)])
        );
    }
    server.shutdown().await;
}

#[async_std::test]
async fn slow_sse_reader_is_cut_off_and_a_healthy_one_gets_every_message() {
    slow_reader_is_cut_off(&SSE, "sse").await;
}

#[async_std::test]
async fn slow_forever_iframe_reader_is_cut_off_and_a_healthy_one_gets_every_message() {
    slow_reader_is_cut_off(&FOREVER, "forever iframe").await;
}

#[async_std::test]
async fn slow_websocket_reader_is_cut_off_and_a_healthy_one_gets_every_message() {
    slow_reader_is_cut_off(&WEBSOCKET, "websocket").await;
}

/// How a test client ends its connection.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// close(): FIN.
    Close,
    /// close() with SO_LINGER 0: a reset, as a peer that lost power answers the next packet.
    Reset,
}

/// Opens a streaming request, reads its head, ends the connection as told, and waits (on the
/// server's own count, never on the clock) until its slot is free.
async fn stream_client_frees_its_slot(request: &[u8], ending: Ending) {
    let server = start(Config::default()).await;
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.connect(&server.addr().into()).expect("connect");
    if let Ending::Reset = ending {
        socket.set_linger(Some(Duration::ZERO)).expect("linger");
    }
    let mut client = TcpStream::from(std::net::TcpStream::from(socket));
    client.write_all(request).await.expect("write");
    read_until(&mut client, b"\r\n\r\n").await;
    assert_eq!(server.open_connections(), 1);
    drop(client);
    let since = std::time::Instant::now();
    while server.open_connections() > 0 {
        assert!(
            since.elapsed() < READ_GUARD,
            "{ending:?}: slot still held for {:?}",
            String::from_utf8_lossy(request)
        );
        async_std::task::yield_now().await;
    }
    server.shutdown().await;
}

#[async_std::test]
async fn closed_stream_clients_free_their_slot_at_once() {
    let requests: [&[u8]; 4] = [
        // The fast SSE responder.
        SSE.request,
        // SSE on the tide route (HTTP/1.0 is never answered by the fast responder).
        b"GET /sseStream HTTP/1.0\r\nHost: localhost\r\n\r\n",
        // The forever iframe (tide route).
        b"GET /iframeLongConnection HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /iframeLongConnection HTTP/1.0\r\n\r\n",
    ];
    for request in requests {
        for ending in [Ending::Close, Ending::Reset] {
            stream_client_frees_its_slot(request, ending).await;
        }
    }
}

/// The send timeout the stalled-reader tests serve with.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages published at most while waiting for the stalled reader's socket to fill (16 MiB:
/// more than loopback's largest send and receive buffers together).
const FILL_LIMIT: usize = 16 * 1024;

/// Batches published after the stalled client's write first waits (see
/// `stalled_reader_is_cut_after_the_send_timeout`).
const BATCHES_BEYOND: usize = 4;

/// How many times the stalled client's write may take late bytes and wait again (each starting
/// a new send timeout) before the test fails: a late acknowledgement frees room once or twice,
/// never without end, since the client reads nothing.
const MAX_RESTARTS: usize = 8;

/// Opens `technique` on a socket with a small receive buffer (so a few KiB fill it) and reads the
/// response head; the caller then stops reading.
async fn open_small(server: &Server, technique: &Technique) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    // Before connect, so the window the client advertises stays small.
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&server.addr().into()).expect("connect");
    let mut s = TcpStream::from(std::net::TcpStream::from(socket));
    s.write_all(technique.request).await.expect("write");
    read_until(&mut s, b"\r\n\r\n").await;
    s
}

/// Reads `stream` until `count` messages have been counted in it.
async fn read_messages(stream: &mut TcpStream, counter: &mut Counter, count: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    while counter.count < count {
        let n = async_std::io::timeout(READ_GUARD, stream.read(&mut buf))
            .await
            .unwrap_or_else(|e| panic!("healthy reader stalled after {}: {e}", counter.count));
        assert!(n > 0, "healthy reader cut off after {}", counter.count);
        counter.feed(&buf[..n]);
    }
}

/// Publishes `BATCH` messages of `data` to the flood channel and reads them all from `healthy`
/// (so a write that waits is the stalled client's).
async fn publish_batch(
    server: &Server,
    data: &str,
    published: &mut usize,
    healthy: &mut TcpStream,
    counter: &mut Counter,
) {
    for _ in 0..BATCH {
        server
            .hub()
            .publish("flood", "message", data.to_owned())
            .await
            .expect("publish");
        *published += 1;
    }
    read_messages(healthy, counter, *published).await;
}

/// One client never reads from a socket with a small receive buffer while messages are published
/// until the server's write to it waits on the send timeout (its task sleeps on the manual clock);
/// the subscriber queue is far larger than what is published, so only the timeout can cut it.
/// One second short of the timeout it is still open; at the timeout the server closes it (EOF
/// after what was sent; a late acknowledgement that lets the write take bytes starts the timeout
/// again, and the test then waits another one) and frees its slot, and the healthy client on the same channel gets every
/// message, those published after the cut too.
async fn stalled_reader_is_cut_after_the_send_timeout(technique: &Technique, name: &str) {
    let server = start(Config {
        subscriber_queue: 100_000,
        log_capacity: 64,
        heartbeat: Duration::ZERO,
        send_timeout: SEND_TIMEOUT,
        ..Config::default()
    })
    .await;
    let clock = manual_clock(&server);
    let mut stalled = open_small(&server, technique).await;
    let stalled_addr = stalled.local_addr().expect("local addr");
    let mut healthy = open(&server, technique).await;
    let mut counter = Counter {
        pattern: technique.message,
        tail: Vec::new(),
        count: 0,
    };
    let data = "x".repeat(MESSAGE_BYTES);
    let mut published = 0;
    let waiting = |clock: &longconn::clock::ManualClock| {
        futures_lite::future::block_on(futures_lite::future::poll_once(
            clock.parked(vec![stalled_addr]),
        ))
        .is_some()
    };
    // A few batches more once a write waits, so the server still has more to send than the
    // socket can take should the kernel free some room (a late ACK): the write stays waiting.
    let mut beyond = 0;
    loop {
        if waiting(&clock) {
            if beyond == BATCHES_BEYOND {
                break;
            }
            beyond += 1;
        }
        assert!(
            published < FILL_LIMIT,
            "{name}: no write waited after {published} messages"
        );
        publish_batch(&server, &data, &mut published, &mut healthy, &mut counter).await;
    }
    assert_eq!(
        server.open_connections(),
        2,
        "{name}: cut before the timeout"
    );
    // The timeout counts from when the socket last took bytes. The stalled client's kernel may
    // still acknowledge a segment late (a delayed ACK, later on a loaded machine), which frees
    // room in the server's send buffer: the write takes those bytes and waits again, with a new
    // timeout. So each round advances to one second short of the timeout (still open), then to
    // the timeout, and sees either the cut or the write waiting again after taking bytes.
    let mut restarts = 0;
    loop {
        assert!(
            restarts <= MAX_RESTARTS,
            "{name}: the stalled write took bytes again {restarts} times"
        );
        // After a restart the write may have sent all it had: more messages make it wait again.
        while !waiting(&clock) {
            assert!(
                published < FILL_LIMIT,
                "{name}: no write waited again after {published} messages"
            );
            publish_batch(&server, &data, &mut published, &mut healthy, &mut counter).await;
        }
        server.advance(SEND_TIMEOUT - Duration::from_secs(1)).await;
        assert_eq!(
            server.open_connections(),
            2,
            "{name}: cut before the timeout"
        );
        if !waiting(&clock) {
            // The write took late bytes (and sent all it had) before the clock moved.
            restarts += 1;
            continue;
        }
        server.advance(Duration::from_secs(1)).await;
        let cut = loop {
            if server.open_connections() == 1 {
                break true;
            }
            // Woken sleepers leave the clock at once, so a sleeper now is a new wait.
            if waiting(&clock) {
                break false;
            }
            // Neither yet: the task is still on its way to the cut, or its write took bytes and
            // may have sent all it had. More messages make such a write fill the socket and wait.
            assert!(
                published < FILL_LIMIT,
                "{name}: the stalled client's slot is still held after {published} messages"
            );
            publish_batch(&server, &data, &mut published, &mut healthy, &mut counter).await;
        };
        if cut {
            break;
        }
        restarts += 1;
    }
    // What the socket held, then the server's close.
    let got = read_to_eof(&mut stalled).await;
    let mut stalled_counter = Counter {
        pattern: technique.message,
        tail: Vec::new(),
        count: 0,
    };
    stalled_counter.feed(&got);
    // The healthy client is still served.
    publish_batch(&server, &data, &mut published, &mut healthy, &mut counter).await;
    println!(
        "{name}: the stalled client's writes waited after {published} messages; it got {} \
         before the cut ({restarts} late restarts of the timeout); the healthy one got {}",
        stalled_counter.count, counter.count
    );
    assert_eq!(counter.count, published);
    assert!(stalled_counter.count < published, "{name}: stalled got all");
    assert_eq!(server.open_connections(), 1);
    server.shutdown().await;
}

#[async_std::test]
async fn sse_stalled_reader_is_cut_after_the_send_timeout() {
    stalled_reader_is_cut_after_the_send_timeout(&SSE, "sse").await;
}

#[async_std::test]
async fn sse_on_the_tide_route_stalled_reader_is_cut_after_the_send_timeout() {
    // HTTP/1.0 is never answered by the fast SSE responder.
    let tide_sse = Technique {
        request: b"GET /sseStream?channel=flood HTTP/1.0\r\nHost: localhost\r\n\r\n",
        ..SSE
    };
    stalled_reader_is_cut_after_the_send_timeout(&tide_sse, "sse (tide route)").await;
}

#[async_std::test]
async fn forever_iframe_stalled_reader_is_cut_after_the_send_timeout() {
    stalled_reader_is_cut_after_the_send_timeout(&FOREVER, "forever iframe").await;
}

#[async_std::test]
async fn websocket_stalled_reader_is_cut_after_the_send_timeout() {
    stalled_reader_is_cut_after_the_send_timeout(&WEBSOCKET, "websocket").await;
}
