//! `POST /publish?channel=C&event=E`: the request body becomes one message on the hub.
//!
//! The body is read with a limit (never more than `--max-message-bytes` + 1 bytes buffered; 413
//! past it, at once when `Content-Length` already says so). A body that stalls mid-way is cut by
//! the accept loop after [`BODY_TIMEOUT`] on the server's clock: the read fails with `TimedOut`
//! and the answer is 408. Both answers close the connection, and the accept loop then never reads
//! the rest of the body.

use futures_lite::AsyncReadExt;
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
    let data = read_limited(&mut req, max).await?;
    let message = req.state().hub.publish(&channel, &event, data).await?;
    let mut res = Response::new(StatusCode::Ok);
    // A struct of one integer always serializes.
    res.set_body(serde_json::to_string(&Published { id: message.id }).unwrap_or_default());
    res.set_content_type("application/json");
    res.insert_header("Cache-Control", "no-store");
    Ok(res)
}

/// Reads at most `max` + 1 bytes of the body (enough to tell "too large"), as UTF-8.
async fn read_limited(req: &mut Request<State>, max: usize) -> Result<String, RouteError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut body = req.take_body().take(limit);
    let mut bytes = Vec::new();
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
