//! `GET /sseStream` (seed §5): Server-Sent Events with our own encoder ([`crate::wire::sse`];
//! async-sse writes values verbatim and `retry` in seconds).
//!
//! Pieces, one HTTP chunk each: `retry: 10000`; one `testEvent` event whose `id`, `event` and
//! `data` lines form ONE block (the seed splits them with a blank line, so browsers never dispatch
//! it), its id being the point the stream resumes from; `event: missed` with data
//! `{"from":A,"to":B}` when the log no longer holds all that was asked for; the log after the
//! resume point; then one event per message (`id: N`, `event: E`, `data:` lines); `:` comment
//! heartbeats every `heartbeat`.
//!
//! Resume: the `Last-Event-ID` header (EventSource sends it on reconnect), else `?lastEventId=`.

use tide::{Body, Request, Response, StatusCode};

use super::error::{respond, RouteError};
use super::params::{self, ParamError, Query};
use super::pieces::{Piece, PieceReader, Pieces};
use super::state::State;
use super::subscription_pieces::{self, Format};
use crate::clock::rfc3339;
use crate::hub::{Message, Missed};
use crate::wire::sse::{encode_comment, encode_event, encode_retry, Event};

/// The reconnection delay sent first, in milliseconds (the seed's `retry: 10000`).
pub const RETRY_MS: u64 = 10_000;

struct Sse;

impl Format for Sse {
    fn message(&self, message: &Message) -> Piece {
        // `id: N`, `event: E`, `data:` lines: encoded (and framed as a chunk) once for every
        // subscriber.
        match message.sse_chunk() {
            Some(chunk) => Piece::Chunk(chunk),
            None => Piece::Shared(message.sse_event()),
        }
    }

    fn heartbeat(&self) -> Vec<u8> {
        encode_comment("heartbeat")
    }
}

/// The `testEvent` block: one event, its id the resume point, its data the clock's time.
pub fn test_event(resume_from: u64, now: &str) -> Vec<u8> {
    let id = resume_from.to_string();
    encode_event(&Event {
        id: Some(&id),
        event: Some("testEvent"),
        data: now,
    })
}

/// The `missed` event: which ids the bounded log lost; no `id:` line, so the client's last id
/// stays where it was.
pub fn missed_event(missed: Missed) -> Vec<u8> {
    let data = format!(r#"{{"from":{},"to":{}}}"#, missed.from, missed.to);
    encode_event(&Event {
        id: None,
        event: Some("missed"),
        data: &data,
    })
}

/// The header fields of the stream besides its framing and date: `/sseStream` answered by tide
/// and by the accept loop ([`super::direct`]) alike.
pub const SSE_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
];

/// `GET /sseStream?channel=C&lastEventId=N`.
pub async fn sse_stream(req: Request<State>) -> tide::Result {
    respond(sse_stream_inner(&req))
}

fn sse_stream_inner(req: &Request<State>) -> Result<Response, RouteError> {
    let query = Query::from_url(req.url());
    let header = req.header("Last-Event-ID").map(|v| v.as_str());
    let pieces = open(req.state(), &query, header)?;
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(Body::from_reader(PieceReader::new(pieces), None));
    for (name, value) in SSE_HEADERS {
        res.insert_header(name, value);
    }
    Ok(res)
}

/// The stream's pieces for `query` and the `Last-Event-ID` field (`last_event_id`): subscribes
/// to the channel, resuming where the client asks.
pub fn open(
    state: &State,
    query: &Query,
    last_event_id: Option<&str>,
) -> Result<Pieces, RouteError> {
    let channel = query.channel()?;
    let resume = match params::last_event_id(last_event_id, query) {
        Ok(resume) => resume,
        Err(ParamError::LastEventId) if last_event_id.is_some() => {
            return Err(RouteError::LastEventId)
        }
        Err(e) => return Err(e.into()),
    };
    let subscription = state.hub.subscribe(channel, resume);
    // The client's own id, also past the channel's last one (the subscription skips up to it):
    // a client from before a restart keeps asking from where it is.
    let resume_from = resume.unwrap_or(subscription.last);
    let mut opening = vec![
        encode_retry(RETRY_MS),
        test_event(resume_from, &rfc3339(state.clock.now())),
    ];
    if let Some(missed) = subscription.missed {
        opening.push(missed_event(missed));
    }
    Ok(subscription_pieces::pieces(
        opening,
        subscription,
        state.clock.clone(),
        state.config.heartbeat,
        Sse,
    ))
}
