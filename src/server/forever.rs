//! `GET /iframeLongConnection?since=N` (seed §2, the forever iframe): one chunked `text/html`
//! document that never ends while the server runs. First chunk: a head padded past 1024 bytes
//! (browsers render streamed HTML only after the first KiB); then one
//! `<script>parent.postMessage(JSON, ORIGIN)</script>` chunk per message (the log after `since`
//! first, when given); an HTML comment chunk every `heartbeat` keeps a silent stream alive.

use tide::{Body, Request, Response, StatusCode};

use super::error::{respond, RouteError};
use super::origin;
use super::params::{self, ParamError, Query};
use super::pieces::{Piece, PieceReader};
use super::state::State;
use super::subscription_pieces::{self, Format};
use crate::hub::Message;
use crate::wire::html;

struct Forever {
    /// The embedding page's origin, the `postMessage` target.
    origin: String,
}

impl Format for Forever {
    fn message(&self, message: &Message) -> Piece {
        // The JSON is encoded once per message; the script names this page's origin.
        Piece::Owned(html::message_script(&message.json(), &self.origin).into_bytes())
    }

    fn heartbeat(&self) -> Vec<u8> {
        b"<!-- heartbeat -->\n".to_vec()
    }
}

/// `GET /iframeLongConnection`.
pub async fn forever_iframe(req: Request<State>) -> tide::Result {
    respond(forever_iframe_inner(&req))
}

fn forever_iframe_inner(req: &Request<State>) -> Result<Response, RouteError> {
    let query = Query::from_url(req.url());
    let channel = query.channel()?;
    // Without `since` the stream is live only, as the seed's; with it, the log after N first.
    let since = match query.get("since") {
        None => None,
        Some(v) => Some(params::parse_id(v).ok_or(ParamError::Since)?),
    };
    let state = req.state();
    let subscription = state.hub.subscribe(channel, since);
    let format = Forever {
        origin: origin::embedder_origin(req),
    };
    let pieces = subscription_pieces::pieces(
        vec![html::forever_prelude().into_bytes()],
        subscription,
        state.clock.clone(),
        state.config.heartbeat,
        format,
    );
    let mut res = Response::new(StatusCode::Ok);
    res.set_body(Body::from_reader(PieceReader::new(pieces), None));
    res.set_content_type("text/html; charset=utf-8");
    res.insert_header("Cache-Control", "no-store");
    Ok(res)
}
