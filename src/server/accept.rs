//! The accept loop: our own, so that every connection gets `TCP_NODELAY`, `--max-connections` is
//! enforced before any HTTP is parsed, and every request head is checked before async-h1 sees it.
//!
//! - Nagle: async-h1 writes a response's head and body in separate writes; without `TCP_NODELAY`
//!   the body waits for the ACK of the head, which the client delays (40 ms on Linux), so every
//!   keep-alive response stalls.
//! - Limit: past `max_connections` open connections a new one gets a minimal
//!   `503 Service Unavailable` with `Connection: close` and is closed; a [`ConnectionGuard`] keeps
//!   the count, so it drops whenever a connection ends, however it ends (an upgraded WebSocket
//!   counts until its protocol drops the connection).
//! - Heads: the loop reads each head itself ([`ClientStream::next_head`]) and answers what
//!   async-h1 would silently drop (431, 400, 501, 505: [`super::request`]) before closing; async-h1
//!   then serves exactly one request at a time ([`super::stream`]), so pipelined requests and
//!   bytes right behind an upgrade request are no longer lost.
//! - Bodies: a body that has not fully arrived within [`BODY_TIMEOUT`] of its head (on the
//!   server's clock) is cut: the route answers 408 and the connection closes. A response that
//!   closes the connection (413, 408) cuts the rest of the body, which is then never read.
//! - Idle: a connection between requests waits at most [`HEAD_TIMEOUT`] (real time) for its next
//!   head, and ends at once when the server shuts down.
//! - Each request carries a clone of its `TcpStream` ([`Peer`]) so routes can notice a client
//!   that went away.
//! - Direct answers: a plain keep-alive `GET /poll` is answered, and a plain `GET /sseStream`
//!   streamed, by the loop itself, byte for byte as the tide route would ([`super::direct`]),
//!   without async-h1's per-request work (a URL parsed, a request and a response with their
//!   channels, a task wake-up per read). The wait for the next head is bounded by one timer per
//!   connection ([`super::deadline`]).
//! - Reads first, waits after: right after a response the next request has nearly always not
//!   arrived, so the read finds nothing (async-io, one-shot registration, then re-arms and may
//!   read once more before it waits). Waiting for readability first (tried: 1 `recv` per
//!   keep-alive `/poll` instead of 3) made a busy server slower to take a request that had
//!   already arrived (a reactor turn first): back-to-back publishes to 2,000 subscribers fell
//!   from 224,000–710,000 to 146,000–203,000 deliveries per second, for 5% less CPU per `/poll`.
//! - One `send` per short response: async-h1 writes a response's head, then its body, in two
//!   writes (two TCP segments with `TCP_NODELAY`); `HeadWithBody` holds the head back and sends
//!   it with the body's first bytes in one vectored write.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown as Both;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_h1::server::ConnectionStatus;
use async_std::channel::Sender;
use async_std::net::{TcpListener, TcpStream};
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{future, ready, AsyncReadExt, AsyncWriteExt, StreamExt};

use super::deadline::HeadDeadline;
use super::direct;
use super::peer::Peer;
use super::request::Refusal;
use super::state::{Shutdown, State};
use super::stream::{ClientStream, Cut, NextHead};
use crate::clock::Clock;

/// The answer to a connection past the limit.
pub const REFUSED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// How long a request body may take to arrive after its head (on the server's clock).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may wait for its next request head (real time; async-h1's default).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(60);

/// After a refusal or a closing response: how long, and how many bytes, the loop reads and
/// discards what the client still sends, so the answer is not lost to a TCP reset (RFC 9112
/// §9.6: close in stages).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

type Streams = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// Open connections, and a way to wait for all of them to end.
#[derive(Debug, Clone)]
pub struct Connections {
    open: Arc<AtomicUsize>,
    next_id: Arc<AtomicU64>,
    /// Every open connection's socket, so shutdown can close the ones that linger.
    streams: Streams,
    /// Every guard holds a clone; when the loop and every guard are gone the receiver ends.
    alive: Sender<()>,
}

impl Connections {
    /// A counter whose `alive` receiver ends when the last clone of `alive` is dropped.
    pub fn new(alive: Sender<()>) -> Connections {
        Connections {
            open: Arc::new(AtomicUsize::new(0)),
            next_id: Arc::new(AtomicU64::new(0)),
            streams: Arc::default(),
            alive,
        }
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Counts one more connection unless `max` are open.
    pub fn try_enter(&self, max: usize) -> Option<ConnectionGuard> {
        self.open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionGuard {
                open: self.open.clone(),
                id: self.next_id.fetch_add(1, Ordering::SeqCst),
                streams: self.streams.clone(),
                _alive: self.alive.clone(),
            })
    }

    /// A handle on the open sockets that does not keep [`Connections::new`]'s receiver alive.
    pub fn sockets(&self) -> Sockets {
        Sockets(self.streams.clone())
    }
}

/// The open connections' sockets.
#[derive(Debug, Clone)]
pub struct Sockets(Streams);

impl Sockets {
    /// Shuts every open socket down both ways: reads and writes on them fail at once, so every
    /// task serving one ends.
    pub fn shut_all(&self) {
        let streams = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for stream in streams.values() {
            let _ = stream.shutdown(Both::Both);
        }
    }

    /// How many sockets are open.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no socket is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One counted connection; dropping it uncounts it.
#[derive(Debug)]
pub struct ConnectionGuard {
    open: Arc<AtomicUsize>,
    id: u64,
    streams: Streams,
    _alive: Sender<()>,
}

impl ConnectionGuard {
    fn track(&self, stream: &TcpStream) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.insert(self.id, stream.clone());
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.remove(&self.id);
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts until `stop` fires, serving each connection with `app` on its own task.
pub async fn accept_loop(
    listener: TcpListener,
    app: tide::Server<State>,
    connections: Connections,
    max_connections: usize,
    stop: Shutdown,
    clock: Clock,
) {
    let mut refusals = super::access::limits::RefusalLog::default();
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        })
        .await;
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(accepted)) => accepted,
            Some(Err(e)) => {
                // EMFILE and friends: say so (once a second), give the system a moment, go on.
                refusals.log(clock.now(), &format!("accept failed: {e}"));
                async_std::task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("longconn: set_nodelay failed: {e}");
        }
        match connections.try_enter(max_connections) {
            Some(guard) => {
                guard.track(&stream);
                let client = ClientStream::new(stream, guard);
                let app = app.clone();
                let (stop, clock) = (stop.clone(), clock.clone());
                async_std::task::spawn(serve_connection(client, peer, app, stop, clock));
            }
            None => {
                refusals.log(
                    clock.now(),
                    &format!("{max_connections} open (--max-connections)"),
                );
                let stop = stop.clone();
                async_std::task::spawn(async move { refuse(stream, &stop).await });
            }
        }
    }
}

/// Serves one connection, one request at a time, until it closes, is upgraded, or the server
/// shuts down.
async fn serve_connection(
    client: ClientStream,
    peer: SocketAddr,
    app: tide::Server<State>,
    stop: Shutdown,
    clock: Clock,
) {
    // What this task parks on a manual clock is this client's (the runner waits for it before
    // it advances the clock). Not under the system clock: a task-local costs every connection
    // an allocation.
    if clock.as_manual().is_some() {
        crate::clock::serving(peer);
    }
    let state = app.state().clone();
    let restart = app.clone();
    let endpoint = {
        let client = client.clone();
        move |mut req: http_types::Request| {
            req.ext_mut().insert(Peer(client.socket().clone()));
            let app = app.clone();
            let client = client.clone();
            async move {
                let res: http_types::Response = app.respond(req).await?;
                if res.status() == http_types::StatusCode::SwitchingProtocols {
                    client.mark_upgraded();
                }
                let closes = res
                    .header("Connection")
                    .is_some_and(|c| c.as_str().eq_ignore_ascii_case("close"));
                if closes {
                    // The connection ends after this response: reading the rest of the body
                    // only to discard it (async-h1 does) would let a huge upload hold it.
                    client.cut(Cut::Unread);
                }
                Ok(res)
            }
        }
    };
    let mut server = async_h1::server::Server::new(HeadWithBody::new(client.clone()), endpoint);
    // Both made once per connection: a wait per request registers with neither the reactor's
    // timers nor the shutdown signal ([`HeadDeadline`], [`Shutdown::watch`]).
    let mut deadline = HeadDeadline::new(HEAD_TIMEOUT);
    let mut stopping = stop.watch();
    loop {
        let next = future::or(
            async { Some(deadline.bound(client.next_head()).await) },
            async {
                stopping.fired().await;
                None
            },
        )
        .await;
        match next {
            // Shutting down: an idle connection (or a partial head) just ends.
            None => return,
            Some(Ok(NextHead::Request(admitted))) => {
                if let Some(answer) = direct::answer(&state, &admitted) {
                    client.skip(&admitted);
                    drop(admitted);
                    if let Some(pieces) = answer.stream {
                        // A stream lives long: it gets a task of its own, sized for it, and this
                        // one (sized for whatever a request may need) ends now.
                        let connection = (client, peer, restart, stop, clock);
                        async_std::task::spawn(stream(
                            connection,
                            answer.bytes,
                            pieces,
                            answer.close,
                        ));
                        return;
                    }
                    let sent = write_answer(&client, answer.bytes, None).await;
                    if sent.is_err() || answer.close || stop.is_triggered() {
                        return linger(&client, &stop).await;
                    }
                    continue;
                }
                client.install(admitted);
            }
            Some(Ok(NextHead::Closed)) => return,
            Some(Ok(NextHead::Refused(refusal))) => {
                return answer_and_close(&client, &refusal, &stop).await
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                // RFC 9110 §15.5.9: a head that started but did not finish gets 408; an idle
                // keep-alive connection is just closed.
                if client.has_buffered() {
                    answer_and_close(&client, &Refusal::HeadTimeout, &stop).await;
                }
                return;
            }
            Some(Err(_)) => return,
        }
        // Boxed: async-h1's per-request state (several KiB) is allocated for a request it serves,
        // not kept in every connection's task (an SSE stream answered directly never needs it).
        let served = future::or(
            Box::pin(server.accept_one()),
            body_watchdog(&client, &clock),
        )
        .await;
        match served {
            Ok(ConnectionStatus::KeepAlive) if !stop.is_triggered() => {}
            // The upgraded protocol owns the connection now (and keeps it counted).
            Ok(ConnectionStatus::Close) if client.upgraded() => return,
            Ok(_) => return linger(&client, &stop).await,
            Err(e) => {
                log_unless_routine(&e);
                return linger(&client, &stop).await;
            }
        }
    }
}

/// What a connection's task needs to serve it: the client, its address, the app, the shutdown
/// signal and the server's clock.
type Connection = (
    ClientStream,
    SocketAddr,
    tide::Server<State>,
    Shutdown,
    Clock,
);

/// A stream the loop answers itself ([`direct`]), in its own task: `head`, then each piece. If it
/// ends while the connection stays open (its subscriber was cut off), the connection goes on
/// with its next request in [`serve_connection`].
///
/// Boxed as a trait object: this and [`serve_connection`] start each other, and the compiler
/// cannot see through two `async fn`s that refer to each other.
fn stream(
    connection: Connection,
    head: Vec<u8>,
    pieces: super::pieces::Pieces,
    close: bool,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let (client, peer, app, stop, clock) = connection;
        if clock.as_manual().is_some() {
            crate::clock::serving(peer);
        }
        let sent = write_answer(&client, head, Some(pieces)).await;
        if sent.is_err() || close || stop.is_triggered() {
            return linger(&client, &stop).await;
        }
        // Boxed, so the stream's own task is not sized for a whole connection's state.
        Box::pin(serve_connection(client, peer, app, stop, clock)).await
    })
}

/// Writes a response the loop answers itself: `bytes`, then, for a stream, each piece as one
/// chunk and the last chunk once the stream ends.
///
/// The head goes out with the first piece, and pieces that are ready together (a backlog, a
/// burst) go out in one write of at most [`WRITE_BATCH`] bytes, still one chunk each (chunk
/// boundaries are what transcripts see). Between writes the connection keeps no buffer: an idle
/// stream holds its pieces' state and nothing else.
async fn write_answer(
    client: &ClientStream,
    bytes: Vec<u8>,
    stream: Option<super::pieces::Pieces>,
) -> io::Result<()> {
    let mut socket = client.socket();
    let Some(mut pieces) = stream else {
        return socket.write_all(&bytes).await;
    };
    let mut out = bytes;
    // Batches written in a row without ever waiting for a piece: a stream that always has the
    // next one ready (a fast publisher on the other thread) still lets this thread's other tasks
    // run now and then (async-std has no budget of its own).
    let mut busy = 0;
    loop {
        // One poll per piece: whether it had to wait is seen on the way.
        let mut waited = false;
        let first = future::poll_fn(|cx| {
            let next = pieces.as_mut().poll_next(cx);
            waited |= next.is_pending();
            next
        })
        .await;
        busy = if waited { 0 } else { busy + 1 };
        if busy >= YIELD_AFTER {
            busy = 0;
            future::yield_now().await;
        }
        let mut ended = !frame_piece(first, &mut out);
        while !ended && out.len() < WRITE_BATCH {
            match future::poll_once(pieces.next()).await {
                Some(piece) => ended = !frame_piece(piece, &mut out),
                None => break,
            }
        }
        if !out.is_empty() {
            socket.write_all(&out).await?;
        }
        out = Vec::new();
        if ended {
            return Ok(());
        }
    }
}

/// How many bytes of ready pieces one write of a direct stream carries at most.
const WRITE_BATCH: usize = 64 * 1024;

/// How many batches a direct stream writes in a row, pieces always ready, before it yields.
const YIELD_AFTER: u32 = 16;

/// Appends `piece` to `out` as one HTTP chunk, or the last chunk when the stream has ended
/// (`None`); returns whether the stream goes on. Empty pieces add nothing: async-h1 reads a body
/// through `PieceReader`, which skips them, so the tide route sends no chunk for them either.
fn frame_piece(piece: Option<super::pieces::Piece>, out: &mut Vec<u8>) -> bool {
    match piece {
        Some(piece) => {
            if !piece.as_bytes().is_empty() {
                direct::chunk(piece.as_bytes(), out);
            }
            true
        }
        None => {
            direct::chunk(&[], out);
            false
        }
    }
}

/// The connection as async-h1 writes to it: a response head is held back (not sent) until the
/// next write, the body's first bytes, and both go out in one vectored write; a flush (async-h1
/// flushes after every response, an empty body included) sends a head still held. Other writes
/// (chunks, an upgraded protocol's frames) pass straight through. Every route answers with its
/// body's first bytes ready, so holding the head delays nothing.
#[derive(Debug, Clone)]
struct HeadWithBody {
    client: ClientStream,
    /// A response head not sent yet.
    head: Vec<u8>,
}

impl HeadWithBody {
    /// Heads longer than this are written at once (ours are a few hundred bytes).
    const MAX_HELD: usize = 4096;

    fn new(client: ClientStream) -> HeadWithBody {
        HeadWithBody {
            client,
            head: Vec::new(),
        }
    }

    /// Writes what is held of the head, with `rest` behind it in the same call; returns how many
    /// bytes of `rest` went out (0 until the whole head has).
    fn poll_send(&mut self, cx: &mut Context<'_>, rest: &[u8]) -> Poll<io::Result<usize>> {
        let mut socket = self.client.socket();
        while !self.head.is_empty() {
            let bufs = [IoSlice::new(&self.head), IoSlice::new(rest)];
            let n = ready!(Pin::new(&mut socket).poll_write_vectored(cx, &bufs))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if n >= self.head.len() {
                let sent = n - self.head.len();
                self.head.clear();
                return Poll::Ready(Ok(sent));
            }
            self.head.drain(..n);
        }
        Poll::Ready(Ok(0))
    }
}

impl AsyncRead for HeadWithBody {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().client).poll_read(cx, buf)
    }
}

impl AsyncWrite for HeadWithBody {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.head.is_empty() {
            let sent = ready!(this.poll_send(cx, buf))?;
            if sent > 0 || buf.is_empty() {
                return Poll::Ready(Ok(sent));
            }
        } else if buf.starts_with(b"HTTP/1.1 ") && buf.len() <= Self::MAX_HELD {
            this.head.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.client).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx, &[]))?;
        Pin::new(&mut this.client).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx, &[]))?;
        Pin::new(&mut this.client).poll_close(cx)
    }
}

/// Cuts the current body once [`BODY_TIMEOUT`] has passed on `clock` without all of it; never
/// resolves. Only a body still on its way waits on the clock.
async fn body_watchdog(
    client: &ClientStream,
    clock: &Clock,
) -> http_types::Result<ConnectionStatus> {
    if client.body_incomplete() {
        let timed_out = future::or(
            async {
                clock.sleep(BODY_TIMEOUT).await;
                true
            },
            async {
                client.body_done().await;
                false
            },
        )
        .await;
        if timed_out {
            client.cut(Cut::TimedOut);
        }
    }
    future::pending().await
}

/// A client closing or stalling mid-request is routine; anything else is worth a line.
fn log_unless_routine(e: &http_types::Error) {
    let routine = e
        .downcast_ref::<io::Error>()
        .map(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::NotConnected
                    | io::ErrorKind::InvalidData
            )
        })
        .unwrap_or(false);
    if !routine {
        eprintln!("longconn: connection error: {e}");
    }
}

/// Writes the refusal, then closes the connection.
async fn answer_and_close(client: &ClientStream, refusal: &Refusal, stop: &Shutdown) {
    let mut socket = client.socket().clone();
    let write = async {
        socket.write_all(&refusal.response()).await?;
        socket.flush().await
    };
    if async_std::io::timeout(LINGER_TIME, write).await.is_ok() {
        linger(client, stop).await;
    }
}

/// Closes in stages (RFC 9112 §9.6): uncounts the connection, sends FIN, then reads and discards
/// what the client still sends until it closes too, [`LINGER_BYTES`] have come, [`LINGER_TIME`]
/// has passed or the server shuts down. Dropping a socket with unread bytes would reset the
/// connection and could destroy the answer before the client read it.
async fn linger(client: &ClientStream, stop: &Shutdown) {
    client.release();
    drain(client.socket(), stop).await;
}

async fn drain(socket: &TcpStream, stop: &Shutdown) {
    let _ = socket.shutdown(Both::Write);
    let mut socket = socket.clone();
    let read_all = async {
        // On the heap, and only while draining: as an array it would sit in every connection's
        // task (8 KiB per call site of `drain`, all the time the connection is open).
        let mut buf = vec![0u8; 8192];
        let mut total = 0;
        while total < LINGER_BYTES {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        Ok(())
    };
    let timed = async {
        let _ = async_std::io::timeout(LINGER_TIME, read_all).await;
    };
    future::or(timed, stop.wait()).await;
}

/// Writes the 503 and closes.
async fn refuse(mut stream: TcpStream, stop: &Shutdown) {
    let write = async {
        stream.write_all(REFUSED).await?;
        stream.flush().await
    };
    // A peer that does not read gets cut off after a while rather than holding a task.
    if async_std::io::timeout(LINGER_TIME, write).await.is_ok() {
        drain(&stream, stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_held_until_the_body_and_sent_with_it_byte_for_byte() {
        async_std::task::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("address");
            let mut peer = TcpStream::connect(addr).await.expect("connect");
            let (stream, _) = listener.accept().await.expect("accept");
            let (alive, _ends) = async_std::channel::bounded(1);
            let guard = Connections::new(alive)
                .try_enter(1)
                .expect("under the limit");
            let mut writer = HeadWithBody::new(ClientStream::new(stream, guard));
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n";
            writer.write_all(head).await.expect("head");
            assert_eq!(writer.head, head.to_vec(), "the head waits for the body");
            writer.write_all(b"body").await.expect("body");
            assert!(writer.head.is_empty());
            // A response without a body: the flush sends its head.
            writer
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .expect("head");
            writer.flush().await.expect("flush");
            drop(writer);
            let mut received = Vec::new();
            peer.read_to_end(&mut received).await.expect("read");
            let mut expected = head.to_vec();
            expected.extend_from_slice(b"bodyHTTP/1.1 204 No Content\r\n\r\n");
            assert_eq!(received, expected);
        });
    }

    #[test]
    fn count_drops_when_a_guard_ends() {
        let (alive, _rx) = async_std::channel::bounded(1);
        let c = Connections::new(alive);
        let a = c.try_enter(2).expect("first fits");
        let _b = c.try_enter(2).expect("second fits");
        assert!(c.try_enter(2).is_none());
        drop(a);
        assert_eq!(c.open(), 1);
        assert!(c.try_enter(2).is_some());
    }

    #[test]
    fn refusal_is_a_complete_response() {
        let text = std::str::from_utf8(REFUSED).expect("ASCII");
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }
}
