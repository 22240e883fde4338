//! The accept loop: our own, so that every connection gets `TCP_NODELAY` and `--max-connections`
//! is enforced before any HTTP is parsed.
//!
//! - Nagle: async-h1 writes a response's head and body in separate writes; without `TCP_NODELAY`
//!   the body waits for the ACK of the head, which the client delays (40 ms on Linux), so every
//!   keep-alive response stalls.
//! - Limit: past `max_connections` open connections a new one gets a minimal
//!   `503 Service Unavailable` with `Connection: close` and is closed; a [`ConnectionGuard`] keeps
//!   the count, so it drops whenever a connection ends, however it ends.
//! - Each request carries a clone of its `TcpStream` ([`Peer`]) so routes can notice a client
//!   that went away.
//! - async-h1 trap: it reads a request head through a fresh `BufReader` and drops whatever that
//!   buffer held past the head when the request has no body (a pipelined request, or bytes sent
//!   right behind an upgrade request). Clients that wait for each response (browsers, curl, the
//!   runner) never hit it; pipelining clients lose requests.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_std::channel::Sender;
use async_std::net::{TcpListener, TcpStream};
use futures_lite::{future, AsyncWriteExt};

use super::peer::Peer;
use super::state::{Shutdown, State};

/// The answer to a connection past the limit.
pub const REFUSED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Open connections, and a way to wait for all of them to end.
#[derive(Debug, Clone)]
pub struct Connections {
    open: Arc<AtomicUsize>,
    /// Every guard holds a clone; when the loop and every guard are gone the receiver ends.
    alive: Sender<()>,
}

impl Connections {
    /// A counter whose `alive` receiver ends when the last clone of `alive` is dropped.
    pub fn new(alive: Sender<()>) -> Connections {
        Connections {
            open: Arc::new(AtomicUsize::new(0)),
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
                _alive: self.alive.clone(),
            })
    }
}

/// One counted connection; dropping it uncounts it.
#[derive(Debug)]
pub struct ConnectionGuard {
    open: Arc<AtomicUsize>,
    _alive: Sender<()>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
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
) {
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            stop.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => break,
            Some(Ok((stream, _))) => stream,
            Some(Err(e)) => {
                // EMFILE and friends: say so, give the system a moment, go on serving.
                eprintln!("longconn: accept failed: {e}");
                async_std::task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("longconn: set_nodelay failed: {e}");
        }
        match connections.try_enter(max_connections) {
            Some(guard) => {
                let app = app.clone();
                async_std::task::spawn(async move {
                    let _guard = guard;
                    serve_connection(stream, app).await;
                });
            }
            None => {
                async_std::task::spawn(refuse(stream));
            }
        }
    }
}

/// Hands one connection to async-h1, with the peer stream in each request.
async fn serve_connection(stream: TcpStream, app: tide::Server<State>) {
    let peer = stream.clone();
    let result = async_h1::accept(stream, move |mut req| {
        req.ext_mut().insert(Peer(peer.clone()));
        let app = app.clone();
        async move { app.respond(req).await }
    })
    .await;
    if let Err(e) = result {
        // A client closing mid-request is routine; anything else is worth a line.
        let routine = e
            .downcast_ref::<io::Error>()
            .map(|io| {
                matches!(
                    io.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionAborted
                )
            })
            .unwrap_or(false);
        if !routine {
            eprintln!("longconn: connection error: {e}");
        }
    }
}

/// Writes the 503 and closes.
async fn refuse(mut stream: TcpStream) {
    let write = async {
        stream.write_all(REFUSED).await?;
        stream.flush().await?;
        stream.shutdown(std::net::Shutdown::Write)
    };
    // A peer that does not read gets cut off after a second rather than holding a task.
    let _ = async_std::io::timeout(Duration::from_secs(1), write).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
