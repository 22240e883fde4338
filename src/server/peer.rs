//! Noticing a client that went away while its request waits (long polling).
//!
//! async-h1 does not tell a handler that its client closed the connection; the accept loop
//! therefore puts a clone of the connection's `TcpStream` into each request's extensions
//! ([`Peer`]), and [`gone`] `peek`s it: a peek that returns 0 bytes is the client's FIN, an error
//! is a reset. Peeking consumes nothing, so async-h1 still reads every byte. When the client has
//! already sent more bytes (a pipelined request) the peek cannot see past them; then the watch
//! gives up and only the route's own timeout ends the wait.

use async_std::net::TcpStream;

use super::state::State;

/// The connection a request arrived on (inserted by the accept loop).
#[derive(Debug, Clone)]
pub struct Peer(pub TcpStream);

/// Resolves when the request's client has closed or reset its connection; never resolves when
/// that cannot be known (no [`Peer`], or bytes already waiting).
pub async fn gone(req: &tide::Request<State>) {
    match req.ext::<Peer>() {
        Some(Peer(stream)) => {
            let mut byte = [0u8; 1];
            match stream.peek(&mut byte).await {
                Ok(0) | Err(_) => {}
                Ok(_) => futures_lite::future::pending::<()>().await,
            }
        }
        None => futures_lite::future::pending::<()>().await,
    }
}
