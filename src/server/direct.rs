//! The requests the accept loop answers itself, without tide and async-h1: a plain `GET /poll`,
//! the hottest short request, and a plain `GET /sseStream`, the most numerous long one (an idle
//! stream then costs its pieces and the loop's own small state, not async-h1's per-request state,
//! a tide request and response, and a response channel pair). The answer is byte for byte the one
//! the tide route gives: the same functions compute it ([`polling::poll_json`],
//! [`polling::JSON_HEADERS`], [`sse::open`], [`sse::SSE_HEADERS`], [`origin::cors_headers`]), and
//! it is framed the way async-h1 frames a response ([`encode_head`], [`chunk`]). Anything unusual
//! about a request (another method, a body, an upgrade, `Expect`, a repeated field a route reads,
//! a query a URL would rewrite, a refusal by the route) goes the tide way, which stays the one
//! place that decides those.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::params::Query;
use super::pieces::Pieces;
use super::polling;
use super::request::{Admitted, BodyLength};
use super::sse;
use super::state::State;
use super::{access, origin};
use crate::wire::http::RequestHead;

/// A response the accept loop writes itself.
pub struct Answer {
    /// The whole response (`/poll`), or its head (`/sseStream`).
    pub bytes: Vec<u8>,
    /// The body's pieces, one HTTP chunk each ([`chunk`]), for a streaming response.
    pub stream: Option<Pieces>,
    /// The request asked to close the connection after it (`Connection: close`).
    pub close: bool,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("bytes", &self.bytes.len())
            .field("stream", &self.stream.is_some())
            .field("close", &self.close)
            .finish()
    }
}

/// The answer to `admitted` when the accept loop gives it itself; `None` sends it to tide.
pub fn answer(state: &State, admitted: &Admitted) -> Option<Answer> {
    if admitted.upgrade || admitted.body != BodyLength::None {
        return None;
    }
    let request = &admitted.request;
    // async-h1 takes only ASCII field values: anything else is for it to refuse.
    let unusual = request.header("Expect").is_some()
        || request.headers.iter().any(|(_, value)| !value.is_ascii());
    if request.method != "GET" || unusual || !access::plain(&state.config, request.header("Host")) {
        return None;
    }
    // The routes read the first `Origin` and `Last-Event-ID`, async-h1 the first `Connection`:
    // with one of each (or none) there is nothing to choose.
    let origin = single(request, "Origin")?;
    let connection = single(request, "Connection")?;
    let close = connection.is_some_and(|c| c.eq_ignore_ascii_case("close"));
    let cors = origin::cors_headers(&state.config.allow_origins, origin);
    let date = http_date();
    if let Some(query) = route_query(&request.target, "/poll") {
        let body = polling::poll_json(&state.hub, &Query::from_query(query)).ok()?;
        let fields = with_cors(&polling::JSON_HEADERS, &cors);
        let mut bytes = encode_head(&fields, Some(body.len()), date.as_str());
        bytes.extend_from_slice(body.as_bytes());
        return Some(Answer {
            bytes,
            stream: None,
            close,
        });
    }
    if let Some(query) = route_query(&request.target, "/sseStream") {
        let last_event_id = single(request, "Last-Event-ID")?;
        let pieces = sse::open(state, &Query::from_query(query), last_event_id).ok()?;
        let fields = with_cors(&sse::SSE_HEADERS, &cors);
        return Some(Answer {
            bytes: encode_head(&fields, None, date.as_str()),
            stream: Some(pieces),
            close,
        });
    }
    None
}

fn with_cors<'a>(
    fields: &[(&'a str, &'a str)],
    cors: &'a [(&'static str, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = fields.to_vec();
    all.extend(cors.iter().map(|(name, value)| (*name, value.as_str())));
    all
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
    // WHATWG URL: the query percent-encode set leaves these bytes alone; `#` starts a fragment.
    let kept = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@/?%".contains(&b);
    query.bytes().all(kept).then_some(query)
}

/// The `date` field of a response sent now, as async-h1 writes it (`http_types`' `Date`),
/// formatted once per second per thread rather than per response.
fn http_date() -> String {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != now {
            *cached = (now, date_at(now));
        }
        cached.1.clone()
    })
}

/// The `date` field for `secs` seconds after the Unix epoch (RFC 9110 §5.6.7 IMF-fixdate).
fn date_at(secs: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(secs);
    http_types::other::Date::new(at).value().to_string()
}

/// The value of field `name` when it appears at most once (`Some(None)` when absent).
fn single<'a>(request: &'a RequestHead, name: &'a str) -> Option<Option<&'a str>> {
    let mut values = request.header_values(name);
    match (values.next(), values.next()) {
        (first, None) => Some(first),
        _ => None,
    }
}

/// The head of a `200 OK`, encoded as async-h1 encodes one (its `server::Encoder`): the status
/// line, then every field (`fields`, `content-length` when the body's length is known, else
/// `transfer-encoding: chunked`, and `date`) sorted by its lower-case name, one `name: value`
/// line each, then a blank line.
pub fn encode_head(fields: &[(&str, &str)], length: Option<usize>, date: &str) -> Vec<u8> {
    let length = length.map(|n| n.to_string());
    let mut fields: Vec<(&str, &str)> = fields.to_vec();
    match &length {
        Some(length) => fields.push(("content-length", length)),
        None => fields.push(("transfer-encoding", "chunked")),
    }
    fields.push(("date", date));
    fields.sort_unstable_by(|(a, _), (b, _)| lower(a).cmp(lower(b)));
    let mut head = String::with_capacity(192);
    head.push_str("HTTP/1.1 200 OK\r\n");
    for (name, value) in &fields {
        head.extend(name.chars().map(|c| c.to_ascii_lowercase()));
        let _ = write!(head, ": {value}\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The most one HTTP chunk of a streamed body carries: async-h1 copies the body through an 8 KiB
/// buffer and keeps room in it for the chunk's framing (`max_bytes_to_read(8192)`).
pub const MAX_CHUNK: usize = 8184;

/// `piece` as async-h1's chunked encoder frames it: `SIZE-IN-HEX\r\nBYTES\r\n` per
/// [`MAX_CHUNK`] bytes, appended to `out` (an empty `piece` is the last chunk, `0\r\n\r\n`).
pub fn chunk(piece: &[u8], out: &mut Vec<u8>) {
    let mut parts = piece.chunks(MAX_CHUNK).peekable();
    if parts.peek().is_none() {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    for part in parts {
        let _ = write!(HexLen(out), "{:X}\r\n", part.len());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// `fmt::Write` into a byte buffer.
struct HexLen<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HexLen<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn lower(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.bytes().map(|b| b.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use http_types::url::Url;

    use super::*;

    #[test]
    fn response_fields_are_sorted_lower_case_like_async_h1() {
        let mut fields = polling::JSON_HEADERS.to_vec();
        fields.push(("Vary", "Origin"));
        fields.push(("Access-Control-Allow-Origin", "http://a.example"));
        let mut bytes = encode_head(&fields, Some(2), "Sat, 28 Nov 2026 00:19:59 GMT");
        bytes.extend_from_slice(b"{}");
        assert_eq!(
            std::str::from_utf8(&bytes).expect("ASCII"),
            "HTTP/1.1 200 OK\r\n\
             access-control-allow-origin: http://a.example\r\n\
             cache-control: no-store\r\n\
             content-length: 2\r\n\
             content-type: application/json\r\n\
             date: Sat, 28 Nov 2026 00:19:59 GMT\r\n\
             vary: Origin\r\n\
             \r\n{}"
        );
    }

    #[test]
    fn a_stream_head_is_chunked_and_pieces_are_framed_like_async_h1() {
        let head = encode_head(&sse::SSE_HEADERS, None, "Sat, 28 Nov 2026 00:19:59 GMT");
        assert_eq!(
            std::str::from_utf8(&head).expect("ASCII"),
            "HTTP/1.1 200 OK\r\n\
             cache-control: no-cache\r\n\
             content-type: text/event-stream\r\n\
             date: Sat, 28 Nov 2026 00:19:59 GMT\r\n\
             transfer-encoding: chunked\r\n\
             x-accel-buffering: no\r\n\
             \r\n"
        );
        let mut out = Vec::new();
        chunk(b"retry: 10000\n\n", &mut out);
        chunk(b"", &mut out);
        assert_eq!(out, b"E\r\nretry: 10000\n\n\r\n0\r\n\r\n".to_vec());
        let mut big = Vec::new();
        chunk(&vec![b'x'; MAX_CHUNK + 1], &mut big);
        assert!(big.starts_with(b"1FF8\r\nxx"));
        assert!(big.ends_with(b"x\r\n1\r\nx\r\n"));
    }

    #[test]
    fn the_date_is_an_imf_fixdate_and_the_cached_one_is_current() {
        assert_eq!(date_at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date_at(1_795_825_199), "Sat, 28 Nov 2026 00:19:59 GMT");
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let date = http_date();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        assert!(date == date_at(before) || date == date_at(after), "{date}");
    }

    #[test]
    fn a_query_kept_as_sent_decodes_as_the_url_route_decodes_it() {
        for query in ["since=1&channel=a", "a=%20b+c&a=2", "x=%zz&=&since", ""] {
            let url = Url::parse(&format!("http://localhost/poll?{query}")).expect("url");
            let (direct, routed) = (Query::from_query(query), Query::from_url(&url));
            for name in ["since", "channel", "a", "x", ""] {
                assert_eq!(direct.get(name), routed.get(name), "{query}: {name}");
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
    fn a_repeated_field_is_left_to_tide() {
        let head = |fields: &[(&str, &str)]| RequestHead {
            method: "GET".into(),
            target: "/poll".into(),
            version: "HTTP/1.1".into(),
            headers: fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            length: 0,
        };
        assert_eq!(single(&head(&[]), "Origin"), Some(None));
        assert_eq!(single(&head(&[("origin", "x")]), "Origin"), Some(Some("x")));
        assert_eq!(
            single(&head(&[("Origin", "x"), ("Origin", "y")]), "Origin"),
            None
        );
    }
}
