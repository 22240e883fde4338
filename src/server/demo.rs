//! `GET /`, `GET /compare` and `GET /demo/NAME`: the built-in demo pages, one per technique, and
//! the page that runs all seven side by side, compiled into the binary with `include_str!`. A request path is only ever compared with the fixed names below;
//! it never reaches the filesystem, so `..`, `%2e%2e`, `%00`, backslashes and the like are 404.

use tide::{Request, Response, StatusCode};

use super::state::State;

/// (name under `/demo/`, content type, content).
const PAGES: &[(&str, &str, &str)] = &[
    ("index.html", HTML, include_str!("demo/index.html")),
    ("demo.js", JS, include_str!("demo/demo.js")),
    ("demo.css", CSS, include_str!("demo/demo.css")),
    (
        "short-poll.html",
        HTML,
        include_str!("demo/short-poll.html"),
    ),
    ("long-poll.html", HTML, include_str!("demo/long-poll.html")),
    (
        "iframe-poll.html",
        HTML,
        include_str!("demo/iframe-poll.html"),
    ),
    ("jsonp.html", HTML, include_str!("demo/jsonp.html")),
    (
        "forever-iframe.html",
        HTML,
        include_str!("demo/forever-iframe.html"),
    ),
    (
        "websocket-echo.html",
        HTML,
        include_str!("demo/websocket-echo.html"),
    ),
    (
        "websocket-hub.html",
        HTML,
        include_str!("demo/websocket-hub.html"),
    ),
    ("sse.html", HTML, include_str!("demo/sse.html")),
    ("compare.html", HTML, include_str!("demo/compare.html")),
    ("compare.js", JS, include_str!("demo/compare.js")),
    ("compare.css", CSS, include_str!("demo/compare.css")),
];

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page named exactly `name`, if there is one.
pub fn lookup(name: &str) -> Option<(&'static str, &'static str)> {
    PAGES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, mime, body)| (*mime, *body))
}

/// `GET /`: the index page.
pub async fn index(_req: Request<State>) -> tide::Result {
    Ok(page("index.html"))
}

/// `GET /compare`: the seven techniques side by side.
pub async fn compare(_req: Request<State>) -> tide::Result {
    Ok(page("compare.html"))
}

/// `GET /demo/*`: a page by its exact name (the raw, still percent-encoded path).
pub async fn demo(req: Request<State>) -> tide::Result {
    let name = req.url().path().strip_prefix("/demo/").unwrap_or("");
    Ok(page(name))
}

fn page(name: &str) -> Response {
    match lookup(name) {
        Some((mime, body)) => {
            let mut res = Response::new(StatusCode::Ok);
            res.set_body(body);
            res.set_content_type(mime);
            res.insert_header("X-Content-Type-Options", "nosniff");
            res
        }
        None => Response::new(StatusCode::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_technique_has_a_page() {
        for name in [
            "short-poll.html",
            "long-poll.html",
            "iframe-poll.html",
            "jsonp.html",
            "forever-iframe.html",
            "websocket-echo.html",
            "websocket-hub.html",
            "sse.html",
            "compare.html",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
    }

    #[test]
    fn traversal_names_are_not_pages() {
        for name in [
            "../Cargo.toml",
            "%2e%2e/Cargo.toml",
            "..%2fCargo.toml",
            "index.html%00",
            "..\\index.html",
            "/etc/passwd",
            "%252e%252e/x",
            "",
            "demo/index.html",
        ] {
            assert!(lookup(name).is_none(), "{name}");
        }
    }
}
