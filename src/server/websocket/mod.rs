//! WebSocket routes (`/echo`, `/testSocket`, `/ws`): the RFC 6455 opening handshake checked before
//! the upgrade, and the protocol run over the upgraded connection with [`crate::wire::websocket`].

use super::state::State;

/// `GET /echo`: plain echo of text and binary messages (for Autobahn).
pub async fn echo(req: tide::Request<State>) -> tide::Result {
    let _ = req;
    todo!("server::websocket::echo")
}

/// `GET /testSocket`: the seed's echo, text `T` answered with `服务端已收到信息,您的信息是T`.
pub async fn test_socket(req: tide::Request<State>) -> tide::Result {
    let _ = req;
    todo!("server::websocket::test_socket")
}

/// `GET /ws?channel=C&since=N`: hub messages pushed as JSON text frames; client text is published.
pub async fn hub_socket(req: tide::Request<State>) -> tide::Result {
    let _ = req;
    todo!("server::websocket::hub_socket")
}
