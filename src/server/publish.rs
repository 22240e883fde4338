//! `POST /publish?channel=C&event=E`: the request body becomes one message on the hub.
//!
//! The body is read with a limit (never more than `--max-message-bytes` + 1 bytes buffered; 413
//! past it, at once when `Content-Length` already says so). A body that stalls mid-way is cut by
//! the accept loop after [`BODY_TIMEOUT`] on the server's clock: the read fails with `TimedOut`
//! and the answer is 408. Both answers close the connection, and the accept loop then never reads
//! the rest of the body.
//!
//! The tide route [`publish`] and the accept loop's fast responder
//! ([`direct::publish`](super::direct::publish)) share every step that decides the answer: the
//! body read ([`read_limited`]), the publish ([`publish_data`]) and the answer's body and fields
//! ([`published_json`], [`PUBLISHED_HEADERS`]).

use futures_lite::{AsyncRead, AsyncReadExt};
use serde::Serialize;
use tide::{Request, Response, StatusCode};

use super::error::{respond, RouteError};
use super::origin;
use super::params::Query;
use super::state::State;

pub use super::http::accept::BODY_TIMEOUT;

#[derive(Serialize)]
struct Published {
    id: u64,
}

/// The header fields of a publish's answer besides its length and date: the tide route and the
/// accept loop ([`super::direct`]) alike.
pub const PUBLISHED_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
];

/// `POST /publish`: answers `{"id":N}`.
pub async fn publish(req: Request<State>) -> tide::Result {
    respond(publish_inner(req).await)
}

async fn publish_inner(mut req: Request<State>) -> Result<Response, RouteError> {
    // A foreign page must not publish through a visitor's browser (a form POST needs no CORS).
    if !origin::allows_request(&req) {
        return Err(RouteError::ForeignOrigin);
    }
    let query = Query::from_url(req.url());
    let channel = query.channel()?.to_owned();
    let event = query.event()?.to_owned();
    let max = req.state().config.max_message_bytes;
    if req.len().is_some_and(|len| len > max) {
        return Err(RouteError::TooLarge { max });
    }
    let length = req.len();
    let data = read_limited(req.take_body(), max, length).await?;
    let id = publish_data(req.state(), &channel, &event, data).await?;
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(published_json(id));
    for (name, value) in PUBLISHED_HEADERS {
        res.insert_header(name, value);
    }
    Ok(res)
}

/// Publishes `data` as one message of `event` to `channel`; its id once the hub acknowledged it
/// (the store committed it).
pub async fn publish_data(
    state: &State,
    channel: &str,
    event: &str,
    data: String,
) -> Result<u64, RouteError> {
    Ok(state.hub.publish(channel, event, data).await?.id)
}

/// The answer's body: `{"id":N}`.
pub fn published_json(id: u64) -> String {
    // A struct of one integer always serializes.
    serde_json::to_string(&Published { id }).unwrap_or_default()
}

/// Reads at most `max` + 1 bytes of `body` (enough to tell "too large"), as UTF-8. `length`, the
/// body's length when the request says it, sizes the buffer (one allocation, no regrowth).
pub async fn read_limited(
    body: impl AsyncRead + Unpin,
    max: usize,
    length: Option<usize>,
) -> Result<String, RouteError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut body = body.take(limit);
    // One byte more than the body: the read that finds its end needs no room of its own.
    let mut bytes = Vec::with_capacity(length.map_or(0, |n| n.min(max).saturating_add(1)));
    match body.read_to_end(&mut bytes).await {
        Ok(_) => {}
        // The accept loop's body deadline (RFC 9110 §15.5.9).
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(RouteError::BodyTimeout),
        Err(_) => return Err(RouteError::BodyRead),
    }
    if bytes.len() > max {
        return Err(RouteError::TooLarge { max });
    }
    String::from_utf8(bytes).map_err(|_| RouteError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_the_id_as_json() {
        assert_eq!(published_json(42), r#"{"id":42}"#);
    }

    #[test]
    fn a_body_is_read_up_to_its_limit_as_utf8() {
        let read = |body: &'static [u8], max| {
            futures_lite::future::block_on(read_limited(body, max, Some(body.len())))
        };
        assert_eq!(read(b"caf\xc3\xa9", 5).ok().as_deref(), Some("caf\u{e9}"));
        assert!(matches!(
            read(b"abcdef", 5),
            Err(RouteError::TooLarge { max: 5 })
        ));
        assert!(matches!(read(b"\xff", 5), Err(RouteError::NotUtf8)));
    }
}
