//! The requests the accept loop answers itself, without tide and async-h1: a plain keep-alive
//! `GET /poll`, the hottest short request. The answer is byte for byte the one the tide route
//! gives (the same functions compute it: [`polling::poll_json`], [`polling::JSON_HEADERS`],
//! [`origin::cors_headers`]), encoded the way async-h1 encodes a response
//! ([`encode_response`]). Anything unusual about a request (another method, a body, an upgrade,
//! `Expect`, a repeated field the route reads, a query a URL would rewrite, a refusal) goes the
//! tide way, which stays the one place that decides those.

use std::fmt::Write as _;
use std::sync::LazyLock;

use http_types::url::Url;

use super::origin;
use super::params::Query;
use super::polling;
use super::request::{Admitted, BodyLength};
use super::state::State;
use crate::wire::http::RequestHead;

/// A response the accept loop writes itself.
#[derive(Debug)]
pub struct Answer {
    /// The whole response, head and body.
    pub bytes: Vec<u8>,
    /// The request asked to close the connection after it (`Connection: close`).
    pub close: bool,
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
    if request.method != "GET" || unusual {
        return None;
    }
    let query = route_query(&request.target, "/poll")?;
    // The route reads the first `Origin`, async-h1 the first `Connection`: with one of each
    // (or none) there is nothing to choose.
    let origin = single(request, "Origin")?;
    let connection = single(request, "Connection")?;
    let body = polling::poll_json(&state.hub, &query_of(query)).ok()?;
    let mut fields: Vec<(&str, &str)> = polling::JSON_HEADERS.to_vec();
    let cors = origin::cors_headers(&state.config.allow_origins, origin);
    fields.extend(cors.iter().map(|(name, value)| (*name, value.as_str())));
    let date = http_types::other::Date::now().value();
    Some(Answer {
        bytes: encode_response(&fields, date.as_str(), body.as_bytes()),
        close: connection.is_some_and(|c| c.eq_ignore_ascii_case("close")),
    })
}

/// The query of `target` when its path is exactly `path` and a URL would keep the query as sent
/// (so [`Query::parse`] reads what `Url::query_pairs` would); `""` when there is none.
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

/// `query` decoded as the route decodes its URL's (`Query::from_url`), on a URL whose scheme and
/// host are parsed once rather than per request.
fn query_of(query: &str) -> Query {
    static BASE: LazyLock<Option<Url>> = LazyLock::new(|| Url::parse("http://localhost/").ok());
    let Some(mut url) = BASE.clone() else {
        return Query::default();
    };
    url.set_query(Some(query));
    Query::from_url(&url)
}

/// The value of field `name` when it appears at most once (`Some(None)` when absent).
fn single<'a>(request: &'a RequestHead, name: &'a str) -> Option<Option<&'a str>> {
    let mut values = request.header_values(name);
    match (values.next(), values.next()) {
        (first, None) => Some(first),
        _ => None,
    }
}

/// A `200 OK` with `body`, encoded as async-h1 encodes a response (its `server::Encoder`): the
/// status line, then every field (`fields`, `content-length`, `date`) sorted by its lower-case
/// name, one `name: value` line each, a blank line, the body.
pub fn encode_response(fields: &[(&str, &str)], date: &str, body: &[u8]) -> Vec<u8> {
    let length = body.len().to_string();
    let mut fields: Vec<(&str, &str)> = fields.to_vec();
    fields.push(("content-length", &length));
    fields.push(("date", date));
    fields.sort_unstable_by(|(a, _), (b, _)| lower(a).cmp(lower(b)));
    let mut head = String::with_capacity(160 + body.len());
    head.push_str("HTTP/1.1 200 OK\r\n");
    for (name, value) in &fields {
        head.extend(name.chars().map(|c| c.to_ascii_lowercase()));
        let _ = write!(head, ": {value}\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn lower(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.bytes().map(|b| b.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_fields_are_sorted_lower_case_like_async_h1() {
        let mut fields = polling::JSON_HEADERS.to_vec();
        fields.push(("Vary", "Origin"));
        fields.push(("Access-Control-Allow-Origin", "http://a.example"));
        let bytes = encode_response(&fields, "Sat, 28 Nov 2026 00:19:59 GMT", b"{}");
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
