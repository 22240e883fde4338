//! Who may publish and who may read, and which `Host` names the server answers to: the checks
//! the route [`guard`](mod@super::guard) runs before a route, in one place.
//!
//! - [`host`]: a `Host` off the allow-list gets 421 on every route (DNS rebinding).
//! - [`jwt`]: with `--publisher-jwt-key`, `POST /publish` needs `Authorization: Bearer JWT` whose
//!   `publish` claim covers the channel (`/ws` text is checked by [`may_publish`]).
//! - [`channels`]: a channel matching `--private` needs a subscriber token (`subscribe` claim) on
//!   every reading route; `/jsonp` never serves one (any page can read a script), and
//!   `--no-jsonp` turns `/jsonp` off.
//! - [`limits`]: the connection ceiling and the refusal log of the accept loop.
//!
//! Refusals follow RFC 6750 §3: 401 with `WWW-Authenticate: Bearer` when a token is missing or
//! invalid, 403 (`insufficient_scope`) when a valid token does not cover the channel. A WebSocket
//! upgrade is refused with 403 either way.

pub mod channels;
pub mod host;
pub mod jwt;
pub mod limits;

use tide::http::Method;
use tide::{Request, Response, StatusCode};

use super::params::Query;
use super::state::State;
use super::Config;
use jwt::{JwtError, JwtKey};

/// The realm named in `WWW-Authenticate` (RFC 6750 §3).
const REALM: &str = "longconn";

/// Why a request was refused before its route ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// `Host` is not one this server answers to.
    #[error("host not allowed")]
    Host,
    /// No token where one is needed.
    #[error("token required")]
    TokenMissing,
    /// A token that does not verify.
    #[error("{0}")]
    Token(JwtError),
    /// A valid token that does not cover the channel.
    #[error("token does not cover channel {0}")]
    Scope(String),
    /// A private channel with no subscriber key configured: nobody may read it.
    #[error("channel {0} is private")]
    Private(String),
    /// `/jsonp` on a private channel.
    #[error("JSONP never serves a private channel")]
    JsonpPrivate,
    /// `/jsonp` under `--no-jsonp`.
    #[error("JSONP is turned off")]
    JsonpOff,
    /// A WebSocket upgrade to a private channel without a covering token.
    #[error("upgrade refused: {0}")]
    Upgrade(Box<AccessError>),
}

impl AccessError {
    /// The status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            AccessError::Host => StatusCode::MisdirectedRequest,
            AccessError::TokenMissing | AccessError::Token(_) => StatusCode::Unauthorized,
            AccessError::Scope(_)
            | AccessError::Private(_)
            | AccessError::JsonpPrivate
            | AccessError::Upgrade(_) => StatusCode::Forbidden,
            AccessError::JsonpOff => StatusCode::NotFound,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3): no error code when no token was sent (§3.1),
    /// `invalid_token` or `insufficient_scope` otherwise.
    pub fn www_authenticate(&self) -> Option<String> {
        match self {
            AccessError::TokenMissing => Some(format!("Bearer realm=\"{REALM}\"")),
            AccessError::Token(error) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{error}\""
            )),
            AccessError::Scope(_) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\""
            )),
            _ => None,
        }
    }
}

impl From<AccessError> for Response {
    fn from(error: AccessError) -> Response {
        let mut res = Response::new(error.status());
        if let Some(challenge) = error.www_authenticate() {
            res.insert_header("WWW-Authenticate", challenge);
        }
        if error == AccessError::Host {
            // Nothing more is said to a name this server does not serve.
            res.insert_header("Connection", "close");
        }
        res.set_body(format!("{error}\n"));
        res.set_content_type("text/plain; charset=utf-8");
        res
    }
}

/// Routes that read a channel, and whether it is the WebSocket one.
const READERS: [(&str, bool); 6] = [
    ("/poll", false),
    ("/longpoll", false),
    ("/iframe", false),
    ("/iframeLongConnection", false),
    ("/sseStream", false),
    ("/ws", true),
];

/// The checks of the route at `req`'s path, which answers `methods`, before it runs. Any other
/// method (a preflight `OPTIONS` carries no credentials; a wrong one gets 405) has only its
/// `Host` checked.
pub fn check(req: &Request<State>, methods: &[Method]) -> Result<(), AccessError> {
    let config = &req.state().config;
    // Only an HTTP/1.0 request may come without `Host` (the head parser refuses a 1.1 one, RFC
    // 9112 §3.2): it names no host to rebind, and browsers always send one.
    if let Some(host) = req.header("Host") {
        if !host::allowed(host.as_str(), &config.hosts, config.addr) {
            return Err(AccessError::Host);
        }
    }
    let open = config.publisher_jwt_key.is_none() && config.private.is_empty() && config.jsonp;
    if open || !methods.contains(&req.method()) {
        return Ok(());
    }
    let path = req.url().path();
    let query = Query::from_url(req.url());
    // An invalid channel is the route's to refuse (400).
    let Ok(channel) = query.channel() else {
        return Ok(());
    };
    let credentials = Credentials::of(req, &query);
    let now = req.state().clock.now();
    if path == "/publish" {
        return publisher(config, credentials.header, channel, now);
    }
    if path == "/jsonp" {
        if !config.jsonp {
            return Err(AccessError::JsonpOff);
        }
        if is_private(config, channel) {
            return Err(AccessError::JsonpPrivate);
        }
        return Ok(());
    }
    match READERS.iter().find(|(route, _)| *route == path) {
        Some((_, websocket)) if is_private(config, channel) => {
            let read = subscriber(config, credentials.any(), channel, now);
            match read {
                Err(error) if *websocket => Err(AccessError::Upgrade(Box::new(error))),
                other => other,
            }
        }
        _ => Ok(()),
    }
}

/// True when the accept loop may answer a plain request itself: its `Host` is allowed and no
/// channel is private (else the request goes through the guard).
pub fn plain(config: &Config, host: Option<&str>) -> bool {
    config.private.is_empty() && host::allowed(host.unwrap_or_default(), &config.hosts, config.addr)
}

/// The publisher's check of `POST /publish` to `channel` with this `Authorization` value (as
/// [`check`] runs it), for the accept loop's fast responder.
pub fn may_publish_with(
    config: &Config,
    authorization: Option<&str>,
    channel: &str,
    now: std::time::Duration,
) -> Result<(), AccessError> {
    publisher(
        config,
        authorization.and_then(channels::bearer),
        channel,
        now,
    )
}

/// True when the client of a `/ws` session may publish its text to `channel`: always without
/// `--publisher-jwt-key`, else with a token (header or `?token=`) whose `publish` claim covers it.
pub fn may_publish(req: &Request<State>, channel: &str) -> bool {
    let config = &req.state().config;
    let query = Query::from_url(req.url());
    let credentials = Credentials::of(req, &query);
    let token = credentials.header.or(credentials.query);
    publisher(config, token, channel, req.state().clock.now()).is_ok()
}

/// Where a request carries its token.
struct Credentials<'a> {
    header: Option<&'a str>,
    cookie: Option<&'a str>,
    query: Option<&'a str>,
}

impl<'a> Credentials<'a> {
    fn of(req: &'a Request<State>, query: &'a Query) -> Credentials<'a> {
        Credentials {
            header: req
                .header("Authorization")
                .and_then(|v| channels::bearer(v.as_str())),
            cookie: req
                .header("Cookie")
                .and_then(|v| channels::cookie(v.as_str(), channels::TOKEN_COOKIE)),
            query: query.get(channels::TOKEN_PARAM),
        }
    }

    /// The first of header, cookie and query.
    fn any(&self) -> Option<&'a str> {
        self.header
            .or(self.cookie)
            .or(self.query)
            .filter(|t| !t.is_empty())
    }
}

fn is_private(config: &Config, channel: &str) -> bool {
    channels::any_matches(&config.private, channel)
}

/// A publisher's check: free without a publisher key.
fn publisher(
    config: &Config,
    token: Option<&str>,
    channel: &str,
    now: std::time::Duration,
) -> Result<(), AccessError> {
    let Some(key) = &config.publisher_jwt_key else {
        return Ok(());
    };
    covers(key, token, channel, now, |grants| &grants.publish)
}

/// A subscriber's check of a private channel.
fn subscriber(
    config: &Config,
    token: Option<&str>,
    channel: &str,
    now: std::time::Duration,
) -> Result<(), AccessError> {
    let Some(key) = &config.subscriber_jwt_key else {
        return Err(AccessError::Private(channel.to_owned()));
    };
    covers(key, token, channel, now, |grants| &grants.subscribe)
}

fn covers(
    key: &JwtKey,
    token: Option<&str>,
    channel: &str,
    now: std::time::Duration,
    patterns: impl Fn(&jwt::Grants) -> &Vec<String>,
) -> Result<(), AccessError> {
    let token = token.ok_or(AccessError::TokenMissing)?;
    let grants = jwt::verify(token, &key.0, now).map_err(AccessError::Token)?;
    if channels::any_matches(patterns(&grants), channel) {
        Ok(())
    } else {
        Err(AccessError::Scope(channel.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_rfc_6750_challenge() {
        assert_eq!(
            AccessError::TokenMissing.www_authenticate().as_deref(),
            Some("Bearer realm=\"longconn\"")
        );
        assert_eq!(
            AccessError::Token(JwtError::Expired).www_authenticate().as_deref(),
            Some(
                "Bearer realm=\"longconn\", error=\"invalid_token\", error_description=\"token expired\""
            )
        );
        assert_eq!(
            AccessError::Scope("a".into()).www_authenticate().as_deref(),
            Some("Bearer realm=\"longconn\", error=\"insufficient_scope\"")
        );
        assert_eq!(AccessError::Host.status(), StatusCode::MisdirectedRequest);
        assert_eq!(
            AccessError::Upgrade(Box::new(AccessError::TokenMissing)).status(),
            StatusCode::Forbidden
        );
    }

    #[test]
    fn no_error_description_can_break_its_quotes() {
        for error in [
            JwtError::TooLong,
            JwtError::Malformed,
            JwtError::Algorithm,
            JwtError::Signature,
            JwtError::Expired,
            JwtError::NotYetValid,
            JwtError::Claim,
        ] {
            // RFC 6750 §3: error_description excludes '"' and '\'.
            let text = error.to_string();
            assert!(!text.contains(['"', '\\']), "{text}");
        }
    }
}
