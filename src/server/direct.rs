//! Fast responders: the routes the accept loop may answer without tide (`FAST_RESPONDERS` in
//! the route table), a plain HTTP/1.1 `GET /poll` (the hottest short request), a plain
//! `GET /sseStream` (the most numerous long one: an idle stream then costs its pieces and the
//! loop's small state, not a tide request and response) and a plain `POST /publish` (the
//! publisher's request: its body is read through the connection's gate, and the answer waits for
//! the hub's acknowledgement). The answer is byte for byte the one the tide route gives: the same
//! functions compute it ([`polling::write_poll_json`], [`polling::JSON_HEADERS`], [`sse::open`],
//! [`sse::SSE_HEADERS`], [`origin::cors_headers`], [`publish::read_limited`],
//! [`publish::publish_data`], [`publish::PUBLISHED_HEADERS`], a refusal's
//! `RouteError` → `Response`) and the same encoder frames it ([`encode_head`]). Anything unusual
//! about a request (HTTP/1.0, another method, a body on a `GET`, a chunked body, an upgrade,
//! `Expect`, a field value that is not ASCII, a repeated field a route reads, a query a URL would
//! rewrite, a refusal the route decides before the body) goes the tide way, which stays the one
//! place that decides those.

use std::borrow::Cow;
use std::cell::RefCell;

use super::error::RouteError;
use super::http::client::ClientConnection;
use super::http::encode::{encode_head, encode_head_into, http_date, Framing};
use super::http::exchange::response_fields;
use super::http::fast::{FastAnswer, FastReply};
use super::http::head::{has_token, Admitted, BodyLength};
use super::params::Query;
use super::polling;
use super::publish;
use super::sse;
use super::state::State;
use super::{access, origin};
use crate::wire::http::RequestHead;

/// One fast responder: answers a plain `GET` of its path (already checked by [`answer`]) or
/// leaves it to tide (`None`).
pub type Responder = fn(&State, &Plain) -> Option<FastAnswer>;

/// One fast responder of a request with a body: answers a plain `POST` of its path (already
/// checked by [`answer`]), reading the body from the connection, or leaves it to tide (`None`).
pub type BodyResponder = fn(&State, &Plain, &ClientConnection) -> Option<FastReply>;

/// A fast responder and the method it answers.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// A `GET` without a body.
    Get(Responder),
    /// A `POST` (its body, if any, delimited by `Content-Length`).
    Post(BodyResponder),
}

/// A request plain enough for a fast responder: HTTP/1.1 `GET` with no body or `POST`, no
/// upgrade, no `Expect`, ASCII field values, an allowed `Host`, at most one `Origin` and
/// `Connection`.
#[derive(Debug)]
pub struct Plain<'a> {
    /// The parsed head.
    pub request: &'a RequestHead,
    /// The query, as a URL would keep it (`""` when there is none).
    pub query: &'a str,
    /// The CORS fields the answer carries.
    pub cors: Vec<(&'static str, String)>,
    /// The request asked to close the connection after the answer.
    pub close: bool,
    /// The request's `Origin`.
    pub origin: Option<&'a str>,
    /// How the request's body is delimited.
    pub body: BodyLength,
}

/// The accept loop's [`FastResponder`](super::http::fast::FastResponder): the responder of
/// `FAST_RESPONDERS` for the request's path and method when the request is plain, else `None`
/// (tide).
pub fn answer(state: &State, admitted: &Admitted, client: &ClientConnection) -> Option<FastReply> {
    if admitted.http10 || admitted.upgrade {
        return None;
    }
    let request = &admitted.request;
    // Field values that are not ASCII never reach tide (see `http::exchange`): tide's way.
    let unusual =
        request.header("Expect").is_some() || request.headers().any(|(_, value)| !value.is_ascii());
    if unusual || !access::plain(&state.config, request.header("Host")) {
        return None;
    }
    let (route, query) = super::FAST_RESPONDERS
        .iter()
        .find_map(|(path, route)| Some((route, route_query(request.target(), path)?)))?;
    let body = admitted.body;
    match route {
        Route::Get(_) if request.method() != "GET" || body != BodyLength::None => return None,
        Route::Post(_) if request.method() != "POST" => return None,
        _ => {}
    }
    // The routes read the first `Origin` and `Last-Event-ID`, the exchange the `Connection`:
    // with one of each (or none) there is nothing to choose.
    let origin = single(request, "Origin")?;
    let connection = single(request, "Connection")?;
    let plain = Plain {
        request,
        query,
        cors: origin::cors_headers(&state.config.allow_origins, origin),
        // RFC 9112 §9.3: an HTTP/1.1 connection persists unless "close" is among the options.
        close: connection.is_some_and(|c| has_token(c, "close")),
        origin,
        body,
    };
    match route {
        Route::Get(responder) => responder(state, &plain).map(FastReply::Now),
        Route::Post(responder) => responder(state, &plain, client),
    }
}

/// `GET /poll`: the whole answer, as [`polling::poll`] gives it, in one buffer.
pub fn poll(state: &State, plain: &Plain) -> Option<FastAnswer> {
    thread_local! {
        /// The JSON body, written before the head that gives its length; kept between requests
        /// unless a large backlog made it large.
        static BODY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let query = Query::from_query(plain.query);
    BODY.with(|body| {
        let mut body = body.borrow_mut();
        body.clear();
        let written = polling::write_poll_json(&state.hub, &query, &mut body);
        let answer = written.ok().map(|()| {
            let fields = with_cors(&polling::JSON_HEADERS, &plain.cors);
            let mut bytes = Vec::with_capacity(HEAD_ROOM + body.len());
            let framing = Framing::Length(body.len() as u64);
            encode_head_into(200, &fields, framing, &http_date(), &mut bytes);
            bytes.extend_from_slice(&body);
            FastAnswer {
                bytes,
                body: None,
                close: plain.close,
            }
        });
        if body.capacity() > BODY_KEPT {
            *body = Vec::new();
        }
        answer
    })
}

/// Room for a `/poll` answer's head (about 150 bytes without CORS fields).
const HEAD_ROOM: usize = 256;

/// The largest JSON buffer kept between `/poll` answers on a thread.
const BODY_KEPT: usize = 64 * 1024;

/// `GET /sseStream`: the head, then the stream's pieces, as [`sse::stream`] gives them.
pub fn sse_stream(state: &State, plain: &Plain) -> Option<FastAnswer> {
    let last_event_id = single(plain.request, "Last-Event-ID")?;
    let pieces = sse::open(state, &Query::from_query(plain.query), last_event_id).ok()?;
    let fields = with_cors(&sse::SSE_HEADERS, &plain.cors);
    Some(FastAnswer {
        bytes: encode_head(200, &fields, Framing::Chunked, &http_date()),
        body: Some(pieces),
        close: plain.close,
    })
}

/// `POST /publish`: reads the body (as [`publish::read_limited`], under the body deadline), waits
/// for the hub's acknowledgement ([`publish::publish_data`]) and answers `{"id":N}`, or the
/// route's refusal of the body or of the publish; a request [`planned`] leaves alone goes to tide.
pub fn publish(state: &State, plain: &Plain, client: &ClientConnection) -> Option<FastReply> {
    let Planned {
        channel,
        event,
        max,
        length,
    } = planned(state, plain)?;
    let (state, client) = (state.clone(), client.clone());
    let (cors, close) = (plain.cors.clone(), plain.close);
    Some(FastReply::AfterBody(Box::pin(async move {
        let published = match publish::read_limited(client, max, Some(length)).await {
            Ok(data) => publish::publish_data(&state, &channel, &event, data).await,
            Err(refusal) => Err(refusal),
        };
        match published {
            Ok(id) => {
                let body = publish::published_json(id);
                let fields = with_cors(&publish::PUBLISHED_HEADERS, &cors);
                let framing = Framing::Length(body.len() as u64);
                let mut bytes = encode_head(200, &fields, framing, &http_date());
                bytes.extend_from_slice(body.as_bytes());
                FastAnswer {
                    bytes,
                    body: None,
                    close,
                }
            }
            Err(refusal) => refused(refusal, &cors, close).await,
        }
    })))
}

/// What a plain `POST /publish` publishes once its body is read.
#[derive(Debug, PartialEq, Eq)]
struct Planned {
    channel: String,
    event: String,
    /// `--max-message-bytes`.
    max: usize,
    /// The body's length (at most `max`).
    length: usize,
}

/// The publish `plain` asks for, or `None` when the route refuses it before reading its body (a
/// foreign `Origin` 403, a bad query 400, a `Content-Length` over the limit 413, a publisher token
/// that does not cover the channel 401/403) or its body is chunked: tide answers those.
fn planned(state: &State, plain: &Plain) -> Option<Planned> {
    let length = match plain.body {
        BodyLength::None => 0,
        BodyLength::Fixed(n) => n,
        BodyLength::Chunked => return None,
    };
    let config = &state.config;
    let host = plain.request.header("Host");
    if plain
        .origin
        .is_some_and(|o| !origin::allows(&config.allow_origins, o, host))
    {
        return None;
    }
    let query = Query::from_query(plain.query);
    let channel = query.channel().ok()?.to_owned();
    let event = query.event().ok()?.to_owned();
    let max = config.max_message_bytes;
    let length = usize::try_from(length)
        .ok()
        .filter(|length| *length <= max)?;
    // The guard reads the first `Authorization`: with one (or none) there is nothing to choose.
    let authorization = single(plain.request, "Authorization")?;
    access::may_publish_with(config, authorization, &channel, state.clock.now()).ok()?;
    Some(Planned {
        channel,
        event,
        max,
        length,
    })
}

/// The answer the tide route gives `refusal`: the one `RouteError` → `Response` conversion, with
/// the CORS fields the guard adds, encoded as the exchange encodes it.
async fn refused(refusal: RouteError, cors: &[(&'static str, String)], close: bool) -> FastAnswer {
    let mut res: http_types::Response = tide::Response::from(refusal).into();
    for (name, value) in cors {
        res.insert_header(*name, value.as_str());
    }
    let closes = res
        .header("Connection")
        .is_some_and(|c| has_token(c.as_str(), "close"));
    // A refusal's body is its one line of text, in memory.
    let body = res.take_body().into_bytes().await.unwrap_or_default();
    let fields = response_fields(&res);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let framing = Framing::Length(body.len() as u64);
    let mut bytes = encode_head(u16::from(res.status()), &fields, framing, &http_date());
    bytes.extend_from_slice(&body);
    FastAnswer {
        bytes,
        body: None,
        close: close || closes,
    }
}

/// `fields`, and the CORS fields after them (borrowed as they are when there are none).
fn with_cors<'a>(
    fields: &'a [(&'a str, &'a str)],
    cors: &'a [(&'static str, String)],
) -> Cow<'a, [(&'a str, &'a str)]> {
    if cors.is_empty() {
        return Cow::Borrowed(fields);
    }
    let mut all = fields.to_vec();
    all.extend(cors.iter().map(|(name, value)| (*name, value.as_str())));
    Cow::Owned(all)
}

/// The query of `target` when its path is exactly `path` and a URL would keep the query as sent
/// (so [`Query::from_query`] reads what `Url::query_pairs` would); `""` when there is none.
fn route_query<'a>(target: &'a str, path: &str) -> Option<&'a str> {
    let rest = target.strip_prefix(path)?;
    let query = match rest.strip_prefix('?') {
        Some(query) => query,
        None if rest.is_empty() => "",
        None => return None,
    };
    query
        .bytes()
        .all(|b| KEPT_IN_QUERY[usize::from(b)])
        .then_some(query)
}

/// WHATWG URL: the bytes the query percent-encode set leaves alone (`#` starts a fragment), as a
/// table: every byte of every fast request's query is looked up.
const KEPT_IN_QUERY: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'%'
            );
        b += 1;
    }
    table
};

/// The value of field `name` when it appears at most once (`Some(None)` when absent).
fn single<'a>(request: &'a RequestHead, name: &'a str) -> Option<Option<&'a str>> {
    let mut values = request.header_values(name);
    match (values.next(), values.next()) {
        (first, None) => Some(first),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use http_types::url::Url;

    use super::*;

    #[test]
    fn a_query_kept_as_sent_decodes_as_the_url_route_decodes_it() {
        for query in ["since=1&channel=a", "a=%20b+c&a=2", "x=%zz&=&since", ""] {
            let url = Url::parse(&format!("http://localhost/poll?{query}")).expect("url");
            let direct = Query::from_query(query);
            for name in ["since", "channel", "a", "x", ""] {
                let routed = url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v);
                assert_eq!(direct.get(name), routed.as_deref(), "{query}: {name}");
            }
        }
    }

    #[test]
    fn only_the_exact_path_with_a_query_kept_as_sent_is_answered_here() {
        assert_eq!(route_query("/poll", "/poll"), Some(""));
        assert_eq!(
            route_query("/poll?since=1&channel=a", "/poll"),
            Some("since=1&channel=a")
        );
        assert_eq!(route_query("/polls", "/poll"), None);
        assert_eq!(route_query("/poll/", "/poll"), None);
        assert_eq!(route_query("/poll?a=<b>", "/poll"), None);
        assert_eq!(route_query("/poll?a#b", "/poll"), None);
        assert_eq!(route_query("/poll?caf\u{e9}", "/poll"), None);
    }

    #[test]
    fn exactly_the_bytes_a_url_keeps_in_a_query_are_accepted() {
        let kept = b"-._~!$&()*+,;=:@/?%";
        for b in 0..=255u8 {
            let query = format!("/poll?a{}", char::from(b));
            let expected = b.is_ascii_alphanumeric() || kept.contains(&b);
            assert_eq!(route_query(&query, "/poll").is_some(), expected, "byte {b}");
        }
    }

    fn publish_state(config: crate::server::Config) -> State {
        State {
            hub: crate::hub::Hub::new(config.hub_config()),
            clock: crate::clock::Clock::manual(),
            config: std::sync::Arc::new(config),
            shutdown: crate::server::state::Shutdown::default(),
        }
    }

    /// What [`planned`] makes of `POST /publish?QUERY` with `fields` and `body`.
    fn plan(
        state: &State,
        query: &str,
        fields: &[(&str, &str)],
        body: BodyLength,
    ) -> Option<Planned> {
        let mut head = format!("POST /publish?{query} HTTP/1.1\r\nHost: localhost\r\n");
        for (name, value) in fields {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let request = crate::wire::http::parse_request_head(head.as_bytes())
            .expect("a well-formed head")
            .expect("a whole head");
        let origin = single(&request, "Origin")?;
        let plain = Plain {
            request: &request,
            query,
            cors: Vec::new(),
            close: false,
            origin,
            body,
        };
        planned(state, &plain)
    }

    #[test]
    fn a_plain_publish_is_answered_here_and_every_early_refusal_by_tide() {
        use crate::server::access::jwt::{sign, JwtKey};
        let state = publish_state(crate::server::Config {
            max_message_bytes: 10,
            ..Default::default()
        });
        let fixed = BodyLength::Fixed(10);
        assert_eq!(
            plan(&state, "channel=a&event=e", &[], fixed),
            Some(Planned {
                channel: "a".into(),
                event: "e".into(),
                max: 10,
                length: 10,
            })
        );
        assert!(plan(&state, "channel=a", &[], BodyLength::None).is_some());
        let same_origin = [("Origin", "http://localhost")];
        assert!(plan(&state, "channel=a", &same_origin, fixed).is_some());
        // 413 by its length, a chunked body, 400 for the query, 403 for a foreign page.
        assert_eq!(plan(&state, "channel=a", &[], BodyLength::Fixed(11)), None);
        assert_eq!(plan(&state, "channel=a", &[], BodyLength::Chunked), None);
        assert_eq!(plan(&state, "channel=a%20b", &[], fixed), None);
        assert_eq!(plan(&state, "channel=a&event=a%0Ab", &[], fixed), None);
        let foreign = [("Origin", "http://evil.test")];
        assert_eq!(plan(&state, "channel=a", &foreign, fixed), None);

        let key = b"publisher secret";
        let state = publish_state(crate::server::Config {
            publisher_jwt_key: Some(JwtKey(key.to_vec())),
            ..Default::default()
        });
        let token = sign(&serde_json::json!({"longconn": {"publish": ["a"]}}), key);
        let bearer = format!("Bearer {token}");
        let authorized = [("Authorization", bearer.as_str())];
        assert!(plan(&state, "channel=a", &authorized, fixed).is_some());
        // 403 for another channel, 401 without a token or with a forged one.
        assert_eq!(plan(&state, "channel=b", &authorized, fixed), None);
        assert_eq!(plan(&state, "channel=a", &[], fixed), None);
        let forged = [("Authorization", "Bearer a.b.c")];
        assert_eq!(plan(&state, "channel=a", &forged, fixed), None);
        let twice = [authorized[0], authorized[0]];
        assert_eq!(plan(&state, "channel=a", &twice, fixed), None);
    }

    #[test]
    fn a_repeated_field_is_left_to_tide() {
        let head = |fields: &[(&str, &str)]| {
            let mut bytes = b"GET /poll HTTP/1.1\r\n".to_vec();
            for (name, value) in fields {
                bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            bytes.extend_from_slice(b"\r\n");
            crate::wire::http::parse_request_head(&bytes)
                .expect("valid")
                .expect("complete")
        };
        assert_eq!(single(&head(&[]), "Origin"), Some(None));
        assert_eq!(single(&head(&[("origin", "x")]), "Origin"), Some(Some("x")));
        assert_eq!(
            single(&head(&[("Origin", "x"), ("Origin", "y")]), "Origin"),
            None
        );
    }
}
