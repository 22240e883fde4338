//! Noticing a client that went away while its request waits (long polling) or while its response
//! streams (SSE, the forever iframe).
//!
//! Each request carries a clone of its connection's `TcpStream` ([`Peer`]); [`closed`] `peek`s
//! it: a peek that returns 0 bytes is the client's FIN, an error is a reset. Peeking consumes
//! nothing, so the next request's bytes stay for it. When the client has already sent more bytes
//! (a pipelined request) the peek cannot see past them; then the watch gives up and only the
//! route's own timeout (or a failed write) ends the wait.

use async_std::net::TcpStream;

use super::state::State;

/// The connection a request arrived on (inserted by the accept loop).
#[derive(Debug, Clone)]
pub struct Peer(pub TcpStream);

/// Resolves when the request's client has closed or reset its connection; never resolves when
/// that cannot be known (no [`Peer`], or bytes already waiting).
pub async fn gone(req: &tide::Request<State>) {
    match req.ext::<Peer>() {
        Some(Peer(stream)) => closed(stream).await,
        None => futures_lite::future::pending::<()>().await,
    }
}

/// Resolves when the client on `stream` has closed or reset it; never resolves when bytes are
/// already waiting to be read.
pub async fn closed(stream: &TcpStream) {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => futures_lite::future::pending::<()>().await,
    }
}
