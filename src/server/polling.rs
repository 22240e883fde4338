//! The polling techniques (seed §1): short polling `/poll`, long polling `/longpoll`, iframe
//! polling `/iframe` and JSONP polling `/jsonp`. Each answers once with what the log holds after
//! `since`, as `{"last":L,"messages":[...]}` (plus `"missed":{"from":A,"to":B}` when the bounded
//! log no longer holds all that was asked for).

use std::sync::Arc;

use futures_lite::future;
use serde::Serialize;
use tide::{Request, Response, StatusCode};

use super::error::{respond, RouteError};
use super::origin;
use super::params::Query;
use super::peer;
use super::state::State;
use crate::hub::{Backlog, Hub, Message, Missed};
use crate::wire;

#[derive(Serialize)]
struct MissedJson {
    from: u64,
    to: u64,
}

#[derive(Serialize)]
struct PollJson<'a> {
    last: u64,
    messages: MessagesJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missed: Option<MissedJson>,
}

/// The log's messages as a JSON array, serialized where they are (no vector of references).
struct MessagesJson<'a>(&'a [Arc<Message>]);

impl Serialize for MessagesJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|message| &**message))
    }
}

/// The JSON every polling route answers with.
pub fn backlog_json(backlog: &Backlog) -> String {
    let mut json = Vec::with_capacity(128);
    write_backlog_json(backlog, &mut json);
    // serde_json writes UTF-8 only.
    String::from_utf8(json).unwrap_or_default()
}

/// [`backlog_json`], appended to `out` (a response's buffer).
pub fn write_backlog_json(backlog: &Backlog, out: &mut Vec<u8>) {
    let body = PollJson {
        last: backlog.last,
        messages: MessagesJson(&backlog.messages),
        missed: backlog
            .missed
            .map(|Missed { from, to }| MissedJson { from, to }),
    };
    // Plain structs of integers and strings, written to a vector: this cannot fail.
    let _ = serde_json::to_writer(out, &body);
}

/// The header fields of every JSON polling answer besides its length and date: `/poll` answered
/// by tide and by the accept loop ([`super::direct`]) alike.
pub const JSON_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
];

fn json_response(json: String) -> Response {
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(json);
    for (name, value) in JSON_HEADERS {
        res.insert_header(name, value);
    }
    res
}

/// `GET /poll?since=N`: at once, the messages after N.
pub async fn poll(req: Request<State>) -> tide::Result {
    respond(poll_inner(&req))
}

fn poll_inner(req: &Request<State>) -> Result<Response, RouteError> {
    let query = Query::from_url(req.url());
    Ok(json_response(poll_json(&req.state().hub, &query)?))
}

/// `/poll`'s body for `query`: the JSON of what the log holds after `since` on its channel.
pub fn poll_json(hub: &Hub, query: &Query) -> Result<String, RouteError> {
    let (channel, since) = (query.channel()?, query.since()?);
    Ok(backlog_json(&hub.since(channel, since)))
}

/// [`poll_json`], appended to `out`; nothing is appended when the query is refused.
pub fn write_poll_json(hub: &Hub, query: &Query, out: &mut Vec<u8>) -> Result<(), RouteError> {
    let (channel, since) = (query.channel()?, query.since()?);
    write_backlog_json(&hub.since(channel, since), out);
    Ok(())
}

/// `GET /longpoll?since=N&timeout=S`: holds until a message after N (then as `/poll`), the
/// timeout on the server's clock (then 204), or the client going away.
pub async fn longpoll(req: Request<State>) -> tide::Result {
    respond(longpoll_inner(&req).await)
}

async fn longpoll_inner(req: &Request<State>) -> Result<Response, RouteError> {
    let query = Query::from_url(req.url());
    let (channel, since, timeout) = (query.channel()?, query.since()?, query.timeout()?);
    let state = req.state();
    let message = async { Some(state.hub.wait_since(channel, since).await) };
    let expired = async {
        state.clock.sleep(timeout).await;
        None
    };
    let left = async {
        peer::gone(req).await;
        None
    };
    // `or` polls left to right: a message ready together with the timeout wins.
    match future::or(message, future::or(expired, left)).await {
        Some(backlog) if !backlog.messages.is_empty() || backlog.missed.is_some() => {
            Ok(json_response(backlog_json(&backlog)))
        }
        // Timed out, client gone, or hub shutting down with nothing new.
        _ => {
            let mut res = Response::new(StatusCode::NoContent);
            res.insert_header("Cache-Control", "no-store");
            Ok(res)
        }
    }
}

/// `GET /iframe?since=N`: an HTML document whose script posts the messages after N to `parent`
/// at the embedding page's origin (never `*`).
pub async fn iframe(req: Request<State>) -> tide::Result {
    respond(iframe_inner(&req))
}

fn iframe_inner(req: &Request<State>) -> Result<Response, RouteError> {
    let query = Query::from_url(req.url());
    let (channel, since) = (query.channel()?, query.since()?);
    let json = backlog_json(&req.state().hub.since(channel, since));
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(wire::html::polling_document(
        &json,
        &origin::embedder_origin(req),
    ));
    res.set_content_type("text/html; charset=utf-8");
    res.insert_header("Cache-Control", "no-store");
    Ok(res)
}

/// `GET /jsonp?callback=CB&since=N`: `/**/CB({...});` (the prefix and the strict name stop
/// Rosetta Flash, CVE-2014-4671), `nosniff` so it runs only as a script.
pub async fn jsonp(req: Request<State>) -> tide::Result {
    respond(jsonp_inner(&req))
}

fn jsonp_inner(req: &Request<State>) -> Result<Response, RouteError> {
    let query = Query::from_url(req.url());
    let callback = match query.get("callback") {
        None | Some("") => return Err(RouteError::CallbackMissing),
        Some(cb) if !wire::jsonp::valid_callback(cb) => return Err(RouteError::CallbackInvalid),
        Some(cb) => cb,
    };
    let (channel, since) = (query.channel()?, query.since()?);
    let json = backlog_json(&req.state().hub.since(channel, since));
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(wire::jsonp::encode_call(callback, &json));
    res.set_content_type("application/javascript; charset=utf-8");
    res.insert_header("X-Content-Type-Options", "nosniff");
    res.insert_header("Cache-Control", "no-store");
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_json_lists_last_then_messages() {
        let backlog = Backlog {
            messages: vec![Arc::new(Message::new(3, "message", "hi"))],
            last: 3,
            missed: None,
        };
        assert_eq!(
            backlog_json(&backlog),
            r#"{"last":3,"messages":[{"id":3,"event":"message","data":"hi"}]}"#
        );
    }

    #[test]
    fn poll_json_is_appended_to_what_the_buffer_holds() {
        let backlog = Backlog {
            messages: vec![
                Arc::new(Message::new(2, "message", "a\"b")),
                Arc::new(Message::new(3, "tick", "\u{e9}")),
            ],
            last: 3,
            missed: None,
        };
        let mut out = b"HEAD".to_vec();
        write_backlog_json(&backlog, &mut out);
        assert_eq!(
            out,
            "HEAD{\"last\":3,\"messages\":[{\"id\":2,\"event\":\"message\",\"data\":\"a\\\"b\"},\
             {\"id\":3,\"event\":\"tick\",\"data\":\"\u{e9}\"}]}"
                .as_bytes()
        );
    }

    #[test]
    fn poll_json_says_what_the_log_lost() {
        let backlog = Backlog {
            messages: Vec::new(),
            last: 9,
            missed: Some(Missed { from: 1, to: 4 }),
        };
        assert_eq!(
            backlog_json(&backlog),
            r#"{"last":9,"messages":[],"missed":{"from":1,"to":4}}"#
        );
    }
}
