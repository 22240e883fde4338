//! The browser-origin policy, in one place: which `Origin`s may use the server from other pages
//! (CORS headers, WebSocket upgrades), and which origin an iframe may `postMessage` to.
//!
//! Contract: `--allow-origin` lists the origins allowed from other pages. With none given, only
//! same-origin pages (`Origin` equal to `http://HOST` or `https://HOST`, HOST from the `Host`
//! header) and clients that send no `Origin` are served.

use http_types::url::Url;

use super::state::State;

/// True when a page at `origin` may use this server, reached through `host` (the `Host` header).
///
/// Allowed: an origin listed in `allowed` (compared ASCII case-insensitively, as origins are), or
/// the server's own origin. Never a wildcard: `*` in `allowed` matches only a literal `*`, which no
/// browser sends.
pub fn allows(allowed: &[String], origin: &str, host: Option<&str>) -> bool {
    listed(allowed, origin) || same_origin(origin, host)
}

/// True when `origin` is one of the `--allow-origin` values.
pub fn listed(allowed: &[String], origin: &str) -> bool {
    allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// True when `origin` is this server's own origin as the client addressed it.
pub fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return false;
    };
    ["http://", "https://"].iter().any(|scheme| {
        origin.len() == scheme.len() + host.len()
            && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
            && origin[scheme.len()..].eq_ignore_ascii_case(host)
    })
}

/// The request's `Origin` header, if any.
pub fn request_origin(req: &tide::Request<State>) -> Option<&str> {
    req.header("Origin").map(|v| v.as_str())
}

/// The request's `Host` header, if any.
pub fn request_host(req: &tide::Request<State>) -> Option<&str> {
    req.header("Host").map(|v| v.as_str())
}

/// True unless the request carries an `Origin` this server does not allow: the check the
/// WebSocket routes answer 403 to, and `/publish` too (a foreign page must not publish through a
/// visitor's browser).
pub fn allows_request(req: &tide::Request<State>) -> bool {
    match request_origin(req) {
        None => true,
        Some(origin) => allows(&req.state().config.allow_origins, origin, request_host(req)),
    }
}

/// The origin an iframe served to this request may `postMessage` to: the embedding page's origin
/// (`Origin`, else the origin of `Referer`) when it is allowed, else the server's own origin
/// `http://HOST`. Never `*`.
pub fn embedder_origin(req: &tide::Request<State>) -> String {
    let allowed = &req.state().config.allow_origins;
    let host = request_host(req);
    let referer = req
        .header("Referer")
        .and_then(|r| Url::parse(r.as_str()).ok())
        .map(|u| u.origin().ascii_serialization());
    pick_embedder(allowed, host, request_origin(req), referer.as_deref())
}

/// [`embedder_origin`] on plain values.
pub fn pick_embedder(
    allowed: &[String],
    host: Option<&str>,
    origin: Option<&str>,
    referer_origin: Option<&str>,
) -> String {
    [origin, referer_origin]
        .into_iter()
        .flatten()
        .find(|o| allows(allowed, o, host))
        .map(str::to_owned)
        .unwrap_or_else(|| own_origin(host))
}

/// `http://HOST`, or `http://localhost` when the client sent no usable `Host` (an HTTP/1.1
/// request without one is refused with 400 by [`super::http::head`], so this is only a fallback).
pub fn own_origin(host: Option<&str>) -> String {
    match host.filter(|h| valid_host(h)) {
        Some(h) => format!("http://{h}"),
        None => "http://localhost".to_owned(),
    }
}

/// A `Host` value safe to echo into a script: letters, digits, `.-:[]` only.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// CORS headers for a response to `origin`: `Access-Control-Allow-Origin: <origin>` and
/// `Vary: Origin` for a listed origin; nothing for same-origin, absent or foreign origins.
pub fn cors_headers(allowed: &[String], origin: Option<&str>) -> Vec<(&'static str, String)> {
    match origin {
        Some(o) if listed(allowed, o) => vec![
            ("Access-Control-Allow-Origin", o.to_owned()),
            ("Vary", "Origin".to_owned()),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn same_origin_is_allowed_without_any_list() {
        assert!(allows(&[], "http://127.0.0.1:3000", Some("127.0.0.1:3000")));
        assert!(allows(&[], "HTTPS://Example.com", Some("example.com")));
    }

    #[test]
    fn foreign_origin_is_refused_unless_listed() {
        assert!(!allows(&[], "http://evil.test", Some("127.0.0.1:3000")));
        assert!(!allows(
            &[],
            "http://127.0.0.1:3000.evil.test",
            Some("127.0.0.1:3000")
        ));
        assert!(allows(
            &list(&["http://app.test"]),
            "http://app.test",
            Some("127.0.0.1:3000")
        ));
    }

    #[test]
    fn wildcard_in_the_list_matches_no_real_origin() {
        assert!(!allows(&list(&["*"]), "http://evil.test", Some("h")));
    }

    #[test]
    fn missing_host_allows_only_listed_origins() {
        assert!(!allows(&[], "http://", None));
        assert!(!same_origin("http://", Some("")));
    }

    #[test]
    fn embedder_is_the_allowed_origin_else_the_servers_own() {
        let allowed = list(&["http://app.test"]);
        let host = Some("127.0.0.1:3000");
        assert_eq!(
            pick_embedder(&allowed, host, Some("http://app.test"), None),
            "http://app.test"
        );
        assert_eq!(
            pick_embedder(&allowed, host, None, Some("http://app.test")),
            "http://app.test"
        );
        assert_eq!(
            pick_embedder(
                &allowed,
                host,
                Some("http://evil.test"),
                Some("http://evil.test")
            ),
            "http://127.0.0.1:3000"
        );
    }

    #[test]
    fn hostile_host_never_reaches_the_script() {
        assert_eq!(own_origin(Some("x\"</script>")), "http://localhost");
    }

    #[test]
    fn cors_headers_only_for_listed_origins() {
        let allowed = list(&["http://app.test"]);
        assert_eq!(cors_headers(&allowed, Some("http://app.test")).len(), 2);
        assert!(cors_headers(&allowed, Some("http://evil.test")).is_empty());
        assert!(cors_headers(&allowed, None).is_empty());
    }
}
