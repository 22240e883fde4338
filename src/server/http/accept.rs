//! The accept loop and each connection's life: `TCP_NODELAY` on every connection,
//! `--max-connections` enforced before any HTTP is parsed, one request at a time.
//!
//! - Limit: past `max_connections` open connections a new one gets a minimal
//!   `503 Service Unavailable` with `Connection: close` and is closed; a [`ConnectionGuard`](super::connections::ConnectionGuard) keeps
//!   the count, so it drops whenever a connection ends, however it ends (an upgraded WebSocket
//!   counts until its protocol drops the connection).
//! - Heads: each head is read and checked once ([`ClientConnection::next_head`],
//!   [`super::head`]); a refused one is answered (431, 400, 501, 505) and the connection
//!   closed; an admitted one is served by tide through [`super::exchange`]. Pipelined
//!   requests and bytes right behind an upgrade request are kept for what comes next.
//! - Bodies: a body that has not fully arrived within [`BODY_TIMEOUT`] of its head (on the
//!   server's clock) is cut: the route answers 408 and the connection closes. A response that
//!   closes the connection (413, 408) cuts the rest of the body, which is then never read.
//! - Slow readers: every write to a client goes through [`ClientConnection`], which fails it with
//!   `TimedOut` when the socket takes no bytes for the configured send timeout (on the server's
//!   clock); the stream or response then ends and the connection closes, freeing its slot.
//! - Idle: a connection between requests waits at most [`HEAD_TIMEOUT`] (real time) for its next
//!   head, bounded by one timer per connection ([`super::deadline`]), and ends at once when the
//!   server shuts down.
//! - Each request carries a clone of its `TcpStream` ([`crate::server::peer::Peer`]) so routes can notice a client
//!   that went away.
//! - Fast answers: the [`FastResponder`] the route table gives the loop (none when fast
//!   responders are off) may answer a request itself ([`super::fast`]); a streamed answer then
//!   runs in a task of its own, sized for it, so an idle stream keeps only its pieces' state. An
//!   answer that needs the request's body reads it through the gate under the same body deadline.
//! - Nagle: every response head goes out with its body's first bytes in one write; with
//!   `TCP_NODELAY` set, nothing waits for a delayed ACK.

use std::future::Future;
use std::io;
use std::net::Shutdown as Both;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_std::net::{TcpListener, TcpStream};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};

use super::client::{ClientConnection, Cut, NextHead, SendLimit};
use super::connections::Connections;
use super::deadline::HeadDeadline;
use super::exchange::{self, After, ExchangeError};
use super::fast::{self, FastReply, FastResponder};
use super::head::HeadRefusal;
use crate::clock::Clock;
use crate::server::pieces::Pieces;
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

/// What every connection is served with: the tide app, and the fast responder that may answer
/// a request before tide sees it.
#[derive(Clone)]
pub struct Service {
    /// The app, the only router.
    pub app: tide::Server<State>,
    /// `None`: tide answers every request.
    pub fast: Option<FastResponder>,
}

/// What every connection of one server is served with, the same for all of them: one pointer
/// in each connection's task, however long the connection lives.
struct Shared {
    service: Service,
    stop: Shutdown,
    clock: Clock,
}

/// Accepts until `stop` fires, serving each connection with `service` on its own task.
pub async fn accept_loop(
    listener: TcpListener,
    service: Service,
    connections: Connections,
    max_connections: usize,
    stop: Shutdown,
    clock: Clock,
) {
    let mut refusals = crate::server::access::limits::RefusedConnections::default();
    let send = Arc::new(SendLimit {
        clock: clock.clone(),
        timeout: service.app.state().config.send_timeout,
    });
    let shared = Arc::new(Shared {
        service,
        stop: stop.clone(),
        clock: clock.clone(),
    });
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        })
        .await;
        let (socket, _) = match accepted {
            None => break,
            Some(Ok(accepted)) => accepted,
            Some(Err(e)) => {
                // EMFILE and friends: say so (once a second), give the system a moment, go on.
                refusals.log(clock.now(), &format!("accept failed: {e}"));
                async_std::task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            eprintln!("longconn: set_nodelay failed: {e}");
        }
        match connections.try_enter(max_connections) {
            Some(guard) => {
                guard.track(&socket);
                let client = ClientConnection::new(socket, guard, send.clone());
                async_std::task::spawn(serve_connection(client, shared.clone()));
            }
            None => {
                refusals.log(
                    clock.now(),
                    &format!("{max_connections} open (--max-connections)"),
                );
                let stop = stop.clone();
                async_std::task::spawn(async move { refuse(socket, &stop).await });
            }
        }
    }
}

/// Serves one connection, one request at a time, until it closes, is upgraded, or the server
/// shuts down.
async fn serve_connection(mut client: ClientConnection, shared: Arc<Shared>) {
    let Shared {
        service,
        stop,
        clock,
    } = &*shared;
    mark_serving(&client, clock);
    let state = service.app.state().clone();
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
                let reply = service
                    .fast
                    .and_then(|fast| fast(&state, &admitted, &client));
                if let Some(reply) = reply {
                    let answer = match reply {
                        FastReply::Now(answer) => {
                            client.skip(&admitted);
                            drop(admitted);
                            answer
                        }
                        FastReply::AfterBody(answering) => {
                            // The body is read through the gate, cut at the body deadline as a
                            // route's read is; the head is not held while the answer waits.
                            client.install(&admitted);
                            drop(admitted);
                            future::or(answering, body_watchdog(&client, clock)).await
                        }
                    };
                    if let Some(pieces) = answer.body {
                        // A stream lives long: it gets a task of its own, sized for it, and this
                        // one (sized for whatever a request may need) ends now.
                        client.release_buffer();
                        let shared = shared.clone();
                        async_std::task::spawn(serve_fast_stream(
                            client,
                            shared,
                            answer.bytes,
                            pieces,
                            answer.close,
                        ));
                        return;
                    }
                    if answer.close {
                        // The connection ends after this answer: the rest of a body is never read.
                        client.cut(Cut::Unread);
                    }
                    let sent = fast::write(&mut client, answer.bytes, None).await;
                    if sent.is_err() || answer.close || stop.is_triggered() {
                        return linger(&client, stop).await;
                    }
                    // What of a body the responder did not read is read and dropped, so the
                    // next request starts where it should.
                    if !client.body_read()
                        && futures_lite::io::copy(client.clone(), futures_lite::io::sink())
                            .await
                            .is_err()
                    {
                        return linger(&client, stop).await;
                    }
                    continue;
                }
                client.install(&admitted);
                let served = future::or(
                    Box::pin(exchange::serve(&client, &service.app, admitted)),
                    body_watchdog(&client, clock),
                )
                .await;
                match served {
                    Ok(After::KeepAlive) if !stop.is_triggered() => continue,
                    // The upgraded protocol owns the connection now (and keeps it counted).
                    Ok(After::Upgraded) => return,
                    Ok(_) => return linger(&client, stop).await,
                    Err(e) => {
                        log_unless_routine(&e);
                        return linger(&client, stop).await;
                    }
                }
            }
            Some(Ok(NextHead::Closed)) => return,
            Some(Ok(NextHead::Refused(refusal))) => {
                return answer_and_close(&client, &refusal, stop).await
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                // RFC 9110 §15.5.9: a head that started but did not finish gets 408; an idle
                // keep-alive connection is just closed.
                if client.has_buffered() {
                    answer_and_close(&client, &HeadRefusal::HeadTimeout, stop).await;
                }
                return;
            }
            Some(Err(_)) => return,
        }
    }
}

/// A fast answer with a streamed body, in its own task: `head`, then each piece. If the body
/// ends while the connection stays open (its subscriber was cut off), the connection goes on
/// with its next request in [`serve_connection`].
///
/// Boxed as a trait object: this and [`serve_connection`] start each other, and the compiler
/// cannot see through two `async fn`s that refer to each other.
fn serve_fast_stream(
    mut client: ClientConnection,
    shared: Arc<Shared>,
    head: Vec<u8>,
    pieces: Pieces,
    close: bool,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        mark_serving(&client, &shared.clock);
        let sent = fast::write(&mut client, head, Some(pieces)).await;
        if sent.is_err() || close || shared.stop.is_triggered() {
            // Boxed: the linger's timer and shutdown watch would otherwise widen every idle
            // stream's task.
            return Box::pin(linger(&client, &shared.stop)).await;
        }
        // Boxed, so the stream's own task is not sized for a whole connection's state.
        Box::pin(serve_connection(client, shared)).await
    })
}

/// Under a manual clock, marks this task as the one serving `client`: what it parks on the clock
/// is this client's (the runner waits for it before it advances the clock). Not under the system
/// clock: a task-local costs every connection an allocation.
fn mark_serving(client: &ClientConnection, clock: &Clock) {
    if clock.as_manual().is_some() {
        if let Ok(peer) = client.socket().peer_addr() {
            crate::clock::serving(peer);
        }
    }
}

/// Cuts the current body once [`BODY_TIMEOUT`] has passed on `clock` without all of it; never
/// resolves. Only a body still on its way waits on the clock.
async fn body_watchdog<T>(client: &ClientConnection, clock: &Clock) -> T {
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
async fn answer_and_close(client: &ClientConnection, refusal: &HeadRefusal, stop: &Shutdown) {
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
async fn linger(client: &ClientConnection, stop: &Shutdown) {
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
async fn refuse(mut socket: TcpStream, stop: &Shutdown) {
    let write = async {
        socket.write_all(REFUSED).await?;
        socket.flush().await
    };
    // A peer that does not read gets cut off after a while rather than holding a task.
    if async_std::io::timeout(LINGER_TIME, write).await.is_ok() {
        drain(&socket, stop).await;
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
