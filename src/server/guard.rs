//! What wraps every route in the table: the access checks ([`access`]: `Host`, tokens, private
//! channels), the method check (405 with `Allow`; tide's router would
//! answer 404 for a known path with the wrong method), CORS preflight (`OPTIONS`), and the CORS
//! headers for origins listed with `--allow-origin` (never `*`).

use std::sync::Arc;

use tide::http::Method;
use tide::{Endpoint, Request, Response, StatusCode};

use super::state::State;
use super::{access, origin};

/// Headers a cross-origin page may send (preflight answer).
const ALLOW_HEADERS: &str = "Content-Type, Last-Event-ID";

/// `endpoint` answering only `methods` on its path; `OPTIONS` is answered here.
pub fn guard<E: Endpoint<State>>(methods: &'static [Method], endpoint: E) -> impl Endpoint<State> {
    let endpoint = Arc::new(endpoint);
    move |req: Request<State>| {
        let endpoint = endpoint.clone();
        async move {
            if let Err(refusal) = access::check(&req, methods) {
                return Ok(refusal.into());
            }
            let cors = origin::cors_headers(
                &req.state().config.allow_origins,
                origin::request_origin(&req),
            );
            let method = req.method();
            let mut res = if methods.contains(&method) {
                endpoint.call(req).await?
            } else if method == Method::Options {
                preflight(methods, !cors.is_empty())
            } else {
                let mut res = Response::new(StatusCode::MethodNotAllowed);
                res.insert_header("Allow", allow(methods));
                res
            };
            for (name, value) in cors {
                res.insert_header(name, value);
            }
            Ok(res)
        }
    }
}

/// `Allow` for these methods (plus `OPTIONS`, answered by the guard).
pub fn allow(methods: &[Method]) -> String {
    methods
        .iter()
        .map(|m| m.to_string())
        .chain(std::iter::once("OPTIONS".to_owned()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 204 to a preflight; the `Access-Control-*` grants only for a listed origin (the browser then
/// refuses everyone else).
fn preflight(methods: &[Method], listed: bool) -> Response {
    let mut res = Response::new(StatusCode::NoContent);
    res.insert_header("Allow", allow(methods));
    if listed {
        res.insert_header("Access-Control-Allow-Methods", allow(methods));
        res.insert_header("Access-Control-Allow-Headers", ALLOW_HEADERS);
        res.insert_header("Access-Control-Max-Age", "600");
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_the_route_methods_then_options() {
        assert_eq!(allow(&[Method::Get, Method::Head]), "GET, HEAD, OPTIONS");
        assert_eq!(allow(&[Method::Post]), "POST, OPTIONS");
    }
}
