//! Fast responders: the routes the accept loop may answer without tide (`FAST_RESPONDERS` in
//! the route table), a plain HTTP/1.1 `GET /poll` (the hottest short request) and a plain
//! `GET /sseStream` (the most numerous long one: an idle stream then costs its pieces and the
//! loop's small state, not a tide request and response). The answer is byte for byte the one
//! the tide route gives: the same functions compute it ([`polling::write_poll_json`],
//! [`polling::JSON_HEADERS`], [`sse::open`], [`sse::SSE_HEADERS`], [`origin::cors_headers`]) and
//! the same encoder frames it ([`encode_head`]). Anything unusual about a request (HTTP/1.0,
//! another method, a body, an upgrade, `Expect`, a field value that is not ASCII, a repeated field
//! a route reads, a query a URL would rewrite, a refusal by the route) goes the tide way, which
//! stays the one place that decides those.

use std::borrow::Cow;
use std::cell::RefCell;

use super::http::encode::{encode_head, encode_head_into, http_date, Framing};
use super::http::fast::FastAnswer;
use super::http::head::{Admitted, BodyLength};
use super::params::Query;
use super::polling;
use super::sse;
use super::state::State;
use super::{access, origin};
use crate::wire::http::RequestHead;

/// One fast responder: answers a plain `GET` of its path (already checked by [`answer`]) or
/// leaves it to tide (`None`).
pub type Responder = fn(&State, &Plain) -> Option<FastAnswer>;

/// A request plain enough for a fast responder: HTTP/1.1 `GET` with no body, no upgrade, no
/// `Expect`, ASCII field values, an allowed `Host`, at most one `Origin` and `Connection`.
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
}

/// The accept loop's [`FastResponder`](super::http::fast::FastResponder): the responder of
/// `FAST_RESPONDERS` for the request's path when the request is plain, else `None` (tide).
pub fn answer(state: &State, admitted: &Admitted) -> Option<FastAnswer> {
    if admitted.http10 || admitted.upgrade || admitted.body != BodyLength::None {
        return None;
    }
    let request = &admitted.request;
    // Field values that are not ASCII never reach tide (see `http::exchange`): tide's way.
    let unusual =
        request.header("Expect").is_some() || request.headers().any(|(_, value)| !value.is_ascii());
    if request.method() != "GET" || unusual || !access::plain(&state.config, request.header("Host"))
    {
        return None;
    }
    let (responder, query) = super::FAST_RESPONDERS
        .iter()
        .find_map(|(path, responder)| Some((responder, route_query(request.target(), path)?)))?;
    // The routes read the first `Origin` and `Last-Event-ID`, the exchange the `Connection`:
    // with one of each (or none) there is nothing to choose.
    let origin = single(request, "Origin")?;
    let connection = single(request, "Connection")?;
    let plain = Plain {
        request,
        query,
        cors: origin::cors_headers(&state.config.allow_origins, origin),
        close: connection.is_some_and(|c| c.eq_ignore_ascii_case("close")),
    };
    responder(state, &plain)
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
