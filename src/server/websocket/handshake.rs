//! The RFC 6455 opening handshake, server side (§4.2.1–4.2.2): a pure check of the client's request
//! that yields either the `101 Switching Protocols` answer or a typed [`Rejection`] with its status.
//!
//! Nothing here does I/O; `super::upgrade` turns the outcome into a tide response.

use base64::Engine as _;
use http_types::headers::HeaderValues;
use http_types::{Method, Request};

use crate::wire::websocket::accept_key;

/// What a valid opening handshake is answered with (RFC 6455 §4.2.2, item 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)).
    pub accept: String,
    /// `Sec-WebSocket-Protocol`: the first protocol the client offered that the server speaks;
    /// `None` omits the header.
    pub protocol: Option<String>,
}

impl Accepted {
    /// The headers of the `101` response, in the order they are inserted.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Upgrade", "websocket".to_string()),
            ("Connection", "Upgrade".to_string()),
            ("Sec-WebSocket-Accept", self.accept.clone()),
        ];
        if let Some(protocol) = &self.protocol {
            headers.push(("Sec-WebSocket-Protocol", protocol.clone()));
        }
        headers
    }
}

/// Why an opening handshake was refused; each maps to one status and its headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// §4.2.1 item 1: the method must be GET.
    #[error("a WebSocket handshake must use GET")]
    NotGet,
    /// §4.2.1 items 3–4: `Upgrade: websocket` and `Connection: Upgrade` are both required.
    #[error(
        "this resource speaks only WebSocket: send Upgrade: websocket and Connection: Upgrade"
    )]
    NotUpgrade,
    /// §4.2.1 item 6 / §4.2.2 item 4: only version 13 is understood.
    #[error("unsupported Sec-WebSocket-Version (this server speaks 13)")]
    BadVersion,
    /// §4.2.1 item 5: no `Sec-WebSocket-Key`.
    #[error("missing Sec-WebSocket-Key")]
    MissingKey,
    /// §4.2.1 item 5: more than one `Sec-WebSocket-Key`.
    #[error("several Sec-WebSocket-Key headers")]
    SeveralKeys,
    /// §4.2.1 item 5: the key must be base64 of exactly 16 bytes.
    #[error("Sec-WebSocket-Key is not the base64 of 16 bytes")]
    BadKey,
    /// §4.2.1 item 2: no `Host`.
    #[error("missing Host")]
    MissingHost,
    /// §4.2.2 item 4 and the contract: an `Origin` that is neither same-origin nor allowed.
    #[error("origin not allowed")]
    ForeignOrigin,
}

impl Rejection {
    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::NotGet => 405,
            Rejection::NotUpgrade | Rejection::BadVersion => 426,
            Rejection::MissingKey
            | Rejection::SeveralKeys
            | Rejection::BadKey
            | Rejection::MissingHost => 400,
            Rejection::ForeignOrigin => 403,
        }
    }

    /// The headers that tell the client what would have worked.
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        match self {
            // RFC 9110 §15.5.6: a 405 carries `Allow`.
            Rejection::NotGet => vec![("Allow", "GET")],
            // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
            Rejection::NotUpgrade => vec![("Upgrade", "websocket"), ("Connection", "Upgrade")],
            // RFC 6455 §4.2.2 item 4: name the versions the server understands.
            Rejection::BadVersion => vec![("Sec-WebSocket-Version", "13")],
            _ => Vec::new(),
        }
    }
}

/// Checks `req` as a WebSocket opening handshake.
///
/// `origin_allowed` decides on the `Origin` header (called only when one is present, with the
/// request's `Host`); `protocols` lists the subprotocols the server speaks, preferred first.
pub fn check(
    req: &Request,
    origin_allowed: impl Fn(&str, &str) -> bool,
    protocols: &[&str],
) -> Result<Accepted, Rejection> {
    // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if req.method() != Method::Get {
        return Err(Rejection::NotGet);
    }
    // §4.2.1 item 3: an `Upgrade` header field containing the value "websocket" (case-insensitive).
    // §4.2.1 item 4: a `Connection` header field that includes the token "Upgrade".
    if !has_token(req.header("Upgrade"), "websocket")
        || !has_token(req.header("Connection"), "upgrade")
    {
        return Err(Rejection::NotUpgrade);
    }
    // §4.2.1 item 6: `Sec-WebSocket-Version` must be 13 (one value, nothing else).
    let version_ok = match req.header("Sec-WebSocket-Version") {
        Some(values) => {
            let values: Vec<&str> = values.iter().map(|v| v.as_str().trim()).collect();
            values == ["13"]
        }
        None => false,
    };
    if !version_ok {
        return Err(Rejection::BadVersion);
    }
    // §4.2.1 item 5: one `Sec-WebSocket-Key` whose value, base64-decoded, is 16 bytes long.
    let key = match req.header("Sec-WebSocket-Key") {
        None => return Err(Rejection::MissingKey),
        Some(values) if values.iter().count() > 1 => return Err(Rejection::SeveralKeys),
        Some(values) => values.as_str().trim(),
    };
    if key.contains(',') {
        // A comma means several keys folded into one line (RFC 9110 §5.3).
        return Err(Rejection::SeveralKeys);
    }
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if bytes.len() == 16 => {}
        _ => return Err(Rejection::BadKey),
    }
    // §4.2.1 item 2: a `Host` header field.
    let host = match req.header("Host") {
        Some(values) if values.iter().count() == 1 => values.as_str().trim(),
        _ => return Err(Rejection::MissingHost),
    };
    // §4.2.2 item 4 (and §10.2): the server may refuse an `Origin` it does not accept; a client
    // that sends none (not a browser) is served, as the contract says.
    if let Some(origin) = req.header("Origin") {
        if origin.iter().count() != 1 || !origin_allowed(origin.as_str().trim(), host) {
            return Err(Rejection::ForeignOrigin);
        }
    }
    // §4.2.2 item 5, /subprotocol/: the first protocol the client offers that the server speaks;
    // none shared means the header is omitted.
    let protocol = req.header("Sec-WebSocket-Protocol").and_then(|values| {
        values
            .iter()
            .flat_map(|v| v.as_str().split(','))
            .map(str::trim)
            .find(|offered| protocols.contains(offered))
            .map(str::to_string)
    });
    Ok(Accepted {
        accept: accept_key(key),
        protocol,
    })
}

/// Whether a comma-separated header (over all its lines) holds `token`, ASCII case-insensitively.
fn has_token(values: Option<&HeaderValues>, token: &str) -> bool {
    values.is_some_and(|values| {
        values
            .iter()
            .flat_map(|v| v.as_str().split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_types::Url;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let url = Url::parse("http://localhost:3000/echo").expect("static url");
        let mut req = Request::new(method, url);
        for (name, value) in headers {
            req.append_header(*name, *value);
        }
        req
    }

    fn valid(extra: &[(&str, &str)]) -> Request {
        let mut headers = vec![
            ("Host", "localhost:3000"),
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", KEY),
        ];
        headers.extend_from_slice(extra);
        request(Method::Get, &headers)
    }

    fn without(name: &str) -> Request {
        let mut req = valid(&[]);
        req.remove_header(name);
        req
    }

    fn same_origin_only(origin: &str, host: &str) -> bool {
        crate::server::origin::allows(&[], origin, Some(host))
    }

    #[test]
    fn accepts_the_rfc_example_with_its_accept_value() {
        let accepted = check(&valid(&[]), same_origin_only, &[]);
        // RFC 6455 §1.3: this key's accept value is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
        assert_eq!(
            accepted,
            Ok(Accepted {
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                protocol: None
            })
        );
    }

    #[test]
    fn accepted_headers_omit_protocol_when_none_is_shared() {
        let accepted = Accepted {
            accept: "x".into(),
            protocol: None,
        };
        assert_eq!(
            accepted.headers(),
            vec![
                ("Upgrade", "websocket".to_string()),
                ("Connection", "Upgrade".to_string()),
                ("Sec-WebSocket-Accept", "x".to_string()),
            ]
        );
    }

    #[test]
    fn post_is_refused_with_405_and_allow_get() {
        let req = request(Method::Post, &[("Upgrade", "websocket")]);
        let rejection = check(&req, same_origin_only, &[]).unwrap_err();
        assert_eq!(rejection, Rejection::NotGet);
        assert_eq!(rejection.status(), 405);
        assert_eq!(rejection.headers(), vec![("Allow", "GET")]);
    }

    #[test]
    fn missing_upgrade_is_refused_with_426_upgrade_websocket() {
        let rejection = check(&without("Upgrade"), same_origin_only, &[]).unwrap_err();
        assert_eq!(rejection, Rejection::NotUpgrade);
        assert_eq!(rejection.status(), 426);
        assert!(rejection.headers().contains(&("Upgrade", "websocket")));
    }

    #[test]
    fn connection_without_upgrade_token_is_refused_with_426() {
        let mut req = valid(&[]);
        req.insert_header("Connection", "keep-alive");
        assert_eq!(
            check(&req, same_origin_only, &[]),
            Err(Rejection::NotUpgrade)
        );
    }

    #[test]
    fn upgrade_to_another_protocol_is_refused_with_426() {
        let mut req = valid(&[]);
        req.insert_header("Upgrade", "h2c");
        assert_eq!(
            check(&req, same_origin_only, &[]),
            Err(Rejection::NotUpgrade)
        );
    }

    #[test]
    fn upgrade_and_connection_tokens_are_case_insensitive() {
        let mut req = valid(&[]);
        req.insert_header("Upgrade", "WebSocket");
        req.insert_header("Connection", "UPGRADE");
        assert!(check(&req, same_origin_only, &[]).is_ok());
    }

    #[test]
    fn version_8_is_refused_with_426_naming_13() {
        let mut req = valid(&[]);
        req.insert_header("Sec-WebSocket-Version", "8");
        let rejection = check(&req, same_origin_only, &[]).unwrap_err();
        assert_eq!(rejection, Rejection::BadVersion);
        assert_eq!(rejection.status(), 426);
        assert_eq!(rejection.headers(), vec![("Sec-WebSocket-Version", "13")]);
    }

    #[test]
    fn missing_version_is_refused_with_426() {
        assert_eq!(
            check(&without("Sec-WebSocket-Version"), same_origin_only, &[]),
            Err(Rejection::BadVersion)
        );
    }

    #[test]
    fn missing_key_is_refused_with_400() {
        let rejection = check(&without("Sec-WebSocket-Key"), same_origin_only, &[]).unwrap_err();
        assert_eq!(rejection, Rejection::MissingKey);
        assert_eq!(rejection.status(), 400);
    }

    #[test]
    fn key_that_is_not_base64_is_refused_with_400() {
        let mut req = valid(&[]);
        req.insert_header("Sec-WebSocket-Key", "not base64 at all!!!!!==");
        assert_eq!(check(&req, same_origin_only, &[]), Err(Rejection::BadKey));
    }

    #[test]
    fn key_of_15_bytes_is_refused_with_400() {
        let mut req = valid(&[]);
        // base64 of "fifteen bytes!!" (15 bytes).
        req.insert_header("Sec-WebSocket-Key", "ZmlmdGVlbiBieXRlcyEh");
        assert_eq!(check(&req, same_origin_only, &[]), Err(Rejection::BadKey));
    }

    #[test]
    fn key_of_17_bytes_is_refused_with_400() {
        let mut req = valid(&[]);
        // base64 of "seventeen bytes!!" (17 bytes).
        req.insert_header("Sec-WebSocket-Key", "c2V2ZW50ZWVuIGJ5dGVzISE=");
        assert_eq!(check(&req, same_origin_only, &[]), Err(Rejection::BadKey));
    }

    #[test]
    fn two_key_headers_are_refused_with_400() {
        let req = valid(&[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")]);
        let rejection = check(&req, same_origin_only, &[]).unwrap_err();
        assert_eq!(rejection, Rejection::SeveralKeys);
        assert_eq!(rejection.status(), 400);
    }

    #[test]
    fn two_keys_folded_into_one_line_are_refused_with_400() {
        let mut req = valid(&[]);
        req.insert_header("Sec-WebSocket-Key", format!("{KEY}, {KEY}"));
        assert_eq!(
            check(&req, same_origin_only, &[]),
            Err(Rejection::SeveralKeys)
        );
    }

    #[test]
    fn missing_host_is_refused_with_400() {
        assert_eq!(
            check(&without("Host"), same_origin_only, &[]),
            Err(Rejection::MissingHost)
        );
    }

    #[test]
    fn same_origin_is_served() {
        let req = valid(&[("Origin", "http://localhost:3000")]);
        assert!(check(&req, same_origin_only, &[]).is_ok());
    }

    #[test]
    fn foreign_origin_is_refused_with_403() {
        let req = valid(&[("Origin", "http://evil.example")]);
        let rejection = check(&req, same_origin_only, &[]).unwrap_err();
        assert_eq!(rejection, Rejection::ForeignOrigin);
        assert_eq!(rejection.status(), 403);
    }

    #[test]
    fn null_origin_is_refused_with_403() {
        let req = valid(&[("Origin", "null")]);
        assert_eq!(
            check(&req, same_origin_only, &[]),
            Err(Rejection::ForeignOrigin)
        );
    }

    #[test]
    fn listed_origin_is_served() {
        let allowed = vec!["http://app.example".to_string()];
        let req = valid(&[("Origin", "http://app.example")]);
        let verdict = check(
            &req,
            |o, h| crate::server::origin::allows(&allowed, o, Some(h)),
            &[],
        );
        assert!(verdict.is_ok());
    }

    #[test]
    fn first_offered_protocol_the_server_speaks_is_chosen() {
        let req = valid(&[
            ("Sec-WebSocket-Protocol", "chat.v2, chat.v1"),
            ("Sec-WebSocket-Protocol", "json"),
        ]);
        let accepted = check(&req, same_origin_only, &["json", "chat.v1"]);
        assert_eq!(
            accepted.map(|a| a.protocol),
            Ok(Some("chat.v1".to_string()))
        );
    }

    #[test]
    fn no_shared_protocol_omits_the_header() {
        let req = valid(&[("Sec-WebSocket-Protocol", "chat")]);
        let accepted = check(&req, same_origin_only, &[]);
        assert_eq!(accepted.map(|a| a.protocol), Ok(None));
    }
}
