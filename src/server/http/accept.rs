//! The accept loop and each connection's life: `TCP_NODELAY` on every connection,
//! `--max-connections` enforced before any HTTP is parsed, one request at a time.
//!
//! - Limit: past `max_connections` open connections a new one gets a minimal
//!   `503 Service Unavailable` with `Connection: close` and is closed; a [`ConnectionGuard`](super::connections::ConnectionGuard) keeps
//!   the count, so it drops whenever a connection ends, however it ends (an upgraded WebSocket
//!   counts until its protocol drops the connection).
//! - Heads: each head is read and checked once ([`ClientStream::next_head`],
//!   [`super::head`]); a refused one is answered (431, 400, 501, 505) and the connection
//!   closed; an admitted one is served by tide through [`super::exchange`]. Pipelined
//!   requests and bytes right behind an upgrade request are kept for what comes next.
//! - Bodies: a body that has not fully arrived within [`BODY_TIMEOUT`] of its head (on the
//!   server's clock) is cut: the route answers 408 and the connection closes. A response that
//!   closes the connection (413, 408) cuts the rest of the body, which is then never read.
//! - Slow readers: every write to a client goes through [`ClientStream`], which fails it with
//!   `TimedOut` when the socket takes no bytes for the configured send timeout (on the server's
//!   clock); the stream or response then ends and the connection closes, freeing its slot.
//! - Idle: a connection between requests waits at most [`HEAD_TIMEOUT`] (real time) for its next
//!   head, bounded by one timer per connection ([`super::deadline`]), and ends at once when the
//!   server shuts down.
//! - Each request carries a clone of its `TcpStream` ([`crate::server::peer::Peer`]) so routes can notice a client
//!   that went away.
//! - Fast responders: a plain HTTP/1.1 `GET /poll` is answered, and a plain `GET /sseStream`
//!   streamed, by the loop itself with the same functions and encoder as the tide route
//!   ([`crate::server::direct`]), so an idle SSE stream keeps only its pieces' state.
//! - Nagle: every response head goes out with its body's first bytes in one write; with
//!   `TCP_NODELAY` set, nothing waits for a delayed ACK.

use std::future::Future;
use std::io;
use std::net::Shutdown as Both;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use async_std::net::{TcpListener, TcpStream};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt, StreamExt};

use super::client::{ClientStream, Cut, NextHead, SendLimit};
use super::connections::Connections;
use super::deadline::HeadDeadline;
use super::encode;
use super::exchange::{self, After, ExchangeError};
use super::head::Refusal;
use crate::clock::Clock;
use crate::server::direct;
use crate::server::state::{Shutdown, State};

/// The answer to a connection past the limit.
pub const REFUSED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// How long a request body may take to arrive after its head (on the server's clock).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may wait for its next request head (real time).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(60);

/// After a refusal or a closing response: how long, and how many bytes, the loop reads and
/// discards what the client still sends, so the answer is not lost to a TCP reset (RFC 9112
/// §9.6: close in stages).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Accepts until `stop` fires, serving each connection with `app` on its own task.
pub async fn accept_loop(
    listener: TcpListener,
    app: tide::Server<State>,
    connections: Connections,
    max_connections: usize,
    stop: Shutdown,
    clock: Clock,
) {
    let mut refusals = crate::server::access::limits::RefusalLog::default();
    let send = SendLimit {
        clock: clock.clone(),
        timeout: app.state().config.send_timeout,
    };
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
                let client = ClientStream::new(stream, guard, send.clone());
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
                        let connection = (client, peer, app, stop, clock);
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
                client.install(&admitted);
                let served = future::or(
                    Box::pin(exchange::serve(&client, &app, admitted)),
                    body_watchdog(&client, &clock),
                )
                .await;
                match served {
                    Ok(After::KeepAlive) if !stop.is_triggered() => continue,
                    // The upgraded protocol owns the connection now (and keeps it counted).
                    Ok(After::Upgraded) => return,
                    Ok(_) => return linger(&client, &stop).await,
                    Err(e) => {
                        log_unless_routine(&e);
                        return linger(&client, &stop).await;
                    }
                }
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
    pieces: crate::server::pieces::Pieces,
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
    stream: Option<crate::server::pieces::Pieces>,
) -> io::Result<()> {
    // Written through the client, whose writes wait at most the send timeout.
    let mut writer = client.clone();
    let Some(mut pieces) = stream else {
        return writer.write_all(&bytes).await;
    };
    let mut out = bytes;
    // Batches written in a row without ever waiting for a piece: a stream that always has the
    // next one ready (a fast publisher on the other thread) still lets this thread's other tasks
    // run now and then (async-std has no budget of its own).
    let mut busy = 0;
    // A client that closes (FIN) or resets while the stream waits ends it, and frees its
    // connection, at once.
    let watched = client.socket().clone();
    let mut client_gone = Box::pin(async move { crate::server::peer::closed(&watched).await });
    loop {
        // One poll per piece: whether it had to wait is seen on the way.
        let mut waited = false;
        let mut gone = false;
        let first = future::poll_fn(|cx| {
            let next = pieces.as_mut().poll_next(cx);
            waited |= next.is_pending();
            if next.is_pending() && client_gone.as_mut().poll(cx).is_ready() {
                gone = true;
                return Poll::Ready(None);
            }
            next
        })
        .await;
        if gone {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
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
            writer.write_all(&out).await?;
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
/// (`None`); returns whether the stream goes on. Empty pieces add nothing: the tide route reads a body
/// through `PieceReader`, which skips them, so the tide route sends no chunk for them either.
fn frame_piece(piece: Option<crate::server::pieces::Piece>, out: &mut Vec<u8>) -> bool {
    match piece {
        Some(piece) => {
            if !piece.as_bytes().is_empty() {
                encode::chunk(piece.as_bytes(), out);
            }
            true
        }
        None => {
            encode::chunk(&[], out);
            false
        }
    }
}

/// Cuts the current body once [`BODY_TIMEOUT`] has passed on `clock` without all of it; never
/// resolves. Only a body still on its way waits on the clock.
async fn body_watchdog(client: &ClientStream, clock: &Clock) -> Result<After, ExchangeError> {
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
fn log_unless_routine(e: &ExchangeError) {
    let io = match e {
        ExchangeError::Io(io) => Some(io),
        ExchangeError::App(e) => e.downcast_ref::<io::Error>(),
        ExchangeError::Url(_) => None,
    };
    let routine = io
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
    fn refusal_is_a_complete_response() {
        let text = std::str::from_utf8(REFUSED).expect("ASCII");
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    }
}
