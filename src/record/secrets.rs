//! What a recording must not write: credentials in request headers and query parameters, and
//! anything shaped like a JSON Web Token. Fails closed: a header or parameter that looks like a
//! credential is written as a `${NAME}` variable (the replay then needs `--var NAME=...` or the
//! environment, and never shows the value) unless `--keep-header NAME` keeps it; a JWT anywhere
//! in what would be written refuses the recording unless `--allow-secrets`.

use regex::Regex;
use std::sync::OnceLock;

/// Header names that always carry credentials (RFC 9110 §11.6.2, §11.7.2; RFC 6265 §5.4).
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// Words that make a header or parameter name look like an API key or a token.
const SECRET_WORDS: [&str; 10] = [
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api-key",
    "api_key",
    "session",
    "signature",
    "credential",
];

/// Query parameter names that are credentials by themselves.
const SECRET_PARAMETERS: [&str; 5] = ["key", "auth", "sig", "code", "jwt"];

/// Whether a request header named `name` is a credential.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    // RFC 6455 §4.1: the handshake's key is a nonce, not a credential.
    if name.starts_with("sec-websocket-") {
        return false;
    }
    CREDENTIAL_HEADERS.contains(&name.as_str())
        || SECRET_WORDS.iter().any(|word| name.contains(word))
        || name.ends_with("-key")
        || name.ends_with("-auth")
}

/// Whether a query parameter named `name` is a credential.
pub fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.contains(&name.as_str())
        || SECRET_WORDS.iter().any(|word| name.contains(word))
        || name.ends_with("_key")
        || name.ends_with("-key")
}

/// The variable a masked value becomes: the name in capitals, other characters as `_`
/// (`Cookie` → `COOKIE`, `x-api-key` → `X_API_KEY`).
pub fn variable_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn jwt() -> &'static Regex {
    static JWT: OnceLock<Regex> = OnceLock::new();
    // RFC 7519 §3: base64url(header) "." base64url(payload) "." base64url(signature); a JOSE
    // header is a JSON object, so its base64url starts with `eyJ` (`{"`).
    JWT.get_or_init(|| {
        Regex::new(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*").expect("valid")
    })
}

/// The first thing shaped like a JWT in `text`: its 1-based line and the token cut short.
pub fn find_jwt(text: &str) -> Option<(usize, String)> {
    text.lines().enumerate().find_map(|(index, line)| {
        jwt().find(line).map(|found| {
            let token = found.as_str();
            let shown: String = token.chars().take(12).collect();
            (index + 1, format!("{shown}..."))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_key_looking_names_are_secret() {
        for name in [
            "Cookie",
            "Authorization",
            "X-API-Key",
            "X-Auth-Token",
            "x-session-id",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in [
            "Accept",
            "Last-Event-ID",
            "Host",
            "Origin",
            "Sec-WebSocket-Key",
        ] {
            assert!(!is_secret_header(name), "{name}");
        }
        for name in ["token", "access_token", "api_key", "apikey", "key", "sig"] {
            assert!(is_secret_parameter(name), "{name}");
        }
        for name in ["since", "channel", "callback", "timeout", "lastEventId"] {
            assert!(!is_secret_parameter(name), "{name}");
        }
    }

    #[test]
    fn a_jwt_is_found_with_its_line() {
        let text = "a: 1\nb: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl\n";
        assert_eq!(find_jwt(text), Some((2, "eyJhbGciOiJI...".to_string())));
        assert_eq!(find_jwt("eyJ but not a token"), None);
        assert_eq!(variable_name("x-api-key"), "X_API_KEY");
    }
}
