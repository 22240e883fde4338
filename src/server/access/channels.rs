//! Channel patterns (`news`, `room.*`) and where a request carries its token: the
//! `Authorization: Bearer` header (RFC 6750 §2.1), the `longconn_token` cookie, or the `token`
//! query parameter (RFC 6750 §2.3) for clients that cannot set headers (EventSource, JSONP,
//! iframes, a browser's WebSocket).

/// The cookie a browser page may carry its subscriber token in.
pub const TOKEN_COOKIE: &str = "longconn_token";

/// The query parameter a client may carry its token in.
pub const TOKEN_PARAM: &str = "token";

/// True when `pattern` names `channel`: equal, or a prefix of it when the pattern ends in `*`
/// (`*` alone matches every channel).
pub fn matches(pattern: &str, channel: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => channel.starts_with(prefix),
        None => pattern == channel,
    }
}

/// True when one of `patterns` names `channel`.
pub fn any_matches(patterns: &[String], channel: &str) -> bool {
    patterns.iter().any(|p| matches(p, channel))
}

/// The bearer token of an `Authorization` value (RFC 6750 §2.1: `Bearer` is case-insensitive,
/// one space, then the token).
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim_matches(' ');
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

/// The value of cookie `name` in a `Cookie` header (RFC 6265 §5.4: `name=value` pairs joined by
/// `; `).
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_star_matches_a_prefix_and_nothing_else_does() {
        assert!(matches("news", "news"));
        assert!(!matches("news", "news2"));
        assert!(matches("room.*", "room.1"));
        assert!(matches("room.*", "room."));
        assert!(!matches("room.*", "room"));
        assert!(matches("*", "anything"));
        // A star inside a pattern is a plain character (channel names cannot hold one).
        assert!(!matches("a*b", "axb"));
    }

    #[test]
    fn bearer_reads_the_token_after_the_scheme() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn cookie_finds_the_named_pair() {
        let header = "a=1; longconn_token=xyz; b=2";
        assert_eq!(cookie(header, TOKEN_COOKIE), Some("xyz"));
        assert_eq!(cookie("longconn_token_x=1", TOKEN_COOKIE), None);
        assert_eq!(cookie("", TOKEN_COOKIE), None);
    }
}
