//! JSON Web Tokens as this server reads them: compact JWS (RFC 7515 §7.1) signed with HS256
//! (RFC 7518 §3.2), the time claims `exp` and `nbf` (RFC 7519 §4.1.4–5) judged on the server's
//! clock, and the private claim `{"longconn":{"publish":[...],"subscribe":[...]}}` naming channel
//! patterns (see [`super::channels`]).
//!
//! Only HS256 is accepted: a token whose header names any other `alg` (`none` included) is refused
//! before its signature is looked at (RFC 8725 §3.1), so a key can never be used with an algorithm
//! it was not meant for.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Longest token read (bytes): far beyond any real claim set, small enough that a hostile one
/// costs nothing to refuse.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Most patterns read from one claim list.
pub const MAX_PATTERNS: usize = 64;

/// Why a token was refused; each reads as the `error_description` of RFC 6750 §3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    /// Not three base64url parts with a JSON header and claim set.
    #[error("token is not a compact JWS")]
    Malformed,
    /// A header `alg` other than HS256.
    #[error("token algorithm must be HS256")]
    Algorithm,
    /// The signature does not match the key.
    #[error("token signature does not match")]
    Signature,
    /// `exp` has passed (RFC 7519 §4.1.4).
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead (RFC 7519 §4.1.5).
    #[error("token not valid yet")]
    NotYetValid,
    /// A `longconn` claim that is not lists of strings, or lists longer than [`MAX_PATTERNS`].
    #[error("token claim longconn is not {{publish: [...], subscribe: [...]}}")]
    Claim,
}

/// An HS256 secret; its `Debug` never shows it (configurations get logged).
#[derive(Clone, PartialEq, Eq)]
pub struct JwtKey(pub Vec<u8>);

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(<redacted>)")
    }
}

/// What a valid token grants: channel patterns (a trailing `*` matches a prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Grants {
    /// Channels the bearer may publish to.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Channels the bearer may read.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    // RFC 7519 §2: NumericDate, seconds since the epoch, possibly fractional.
    exp: Option<f64>,
    nbf: Option<f64>,
    #[serde(default)]
    longconn: Option<serde_json::Value>,
}

/// The grants of `token` when it is an HS256 JWT signed with `key`, valid at `now` (time since
/// the UNIX epoch).
pub fn verify(token: &str, key: &[u8], now: Duration) -> Result<Grants, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = decode_json(header)?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    // RFC 7515 §5.2: the signing input is the two encoded parts joined by '.', as sent.
    let signed = &token[..header_and_payload_len(token)];
    let mut mac = hmac(key);
    mac.update(signed.as_bytes());
    // Constant-time comparison (hmac's `verify_slice`).
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;
    let claims: Claims = decode_json(payload)?;
    let now = now.as_secs_f64();
    if claims.exp.is_some_and(|exp| now >= exp) {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now < nbf) {
        return Err(JwtError::NotYetValid);
    }
    let grants = match claims.longconn {
        None => Grants::default(),
        Some(value) => serde_json::from_value::<Grants>(value).map_err(|_| JwtError::Claim)?,
    };
    if grants.publish.len() > MAX_PATTERNS || grants.subscribe.len() > MAX_PATTERNS {
        return Err(JwtError::Claim);
    }
    Ok(grants)
}

/// An HS256 JWT of `claims` (a JSON object) signed with `key`: for tests, tools and the docs'
/// examples.
pub fn sign(claims: &serde_json::Value, key: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let mut mac = hmac(key);
    mac.update(signed.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signed}.{signature}")
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // RFC 2104 §2: HMAC takes a key of any length (hashed when longer than a block).
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length")
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"secret";
    const NOW: Duration = Duration::from_secs(1_000_000);

    #[test]
    fn a_signed_token_grants_its_patterns() {
        let token = sign(
            &json!({"longconn": {"publish": ["news"], "subscribe": ["room.*"]}}),
            KEY,
        );
        let grants = verify(&token, KEY, NOW).expect("valid");
        assert_eq!(grants.publish, ["news"]);
        assert_eq!(grants.subscribe, ["room.*"]);
    }

    #[test]
    fn the_rfc_7515_appendix_a1_token_verifies() {
        // RFC 7515 Appendix A.1: an HS256 JWS with a published key. Its `exp` (1300819380) is long
        // past, so it verifies only on a clock before it.
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .expect("key");
        assert_eq!(
            verify(token, &key, Duration::from_secs(1_300_000_000)),
            Ok(Grants::default())
        );
        assert_eq!(
            verify(token, &key, Duration::from_secs(1_300_819_380)),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let token = sign(&json!({}), b"other");
        assert_eq!(verify(&token, KEY, NOW), Err(JwtError::Signature));
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let token = sign(&json!({"longconn": {"publish": ["a"]}}), KEY);
        let forged = URL_SAFE_NO_PAD.encode(json!({"longconn": {"publish": ["*"]}}).to_string());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(verify(&forged, KEY, NOW), Err(JwtError::Signature));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"longconn":{"publish":["*"]}}"#);
        for alg in ["none", "None", "HS512", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let token = format!("{header}.{payload}.");
            assert_eq!(verify(&token, KEY, NOW), Err(JwtError::Algorithm), "{alg}");
        }
    }

    #[test]
    fn exp_and_nbf_are_judged_on_the_given_clock() {
        let token = sign(&json!({"exp": 1_000_010, "nbf": 999_990}), KEY);
        assert!(verify(&token, KEY, NOW).is_ok());
        assert_eq!(
            verify(&token, KEY, Duration::from_secs(1_000_010)),
            Err(JwtError::Expired)
        );
        assert_eq!(
            verify(&token, KEY, Duration::from_secs(999_989)),
            Err(JwtError::NotYetValid)
        );
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        for token in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "é.é.é",
            "eyJ9.eyJ9.",
            "=.=.=",
        ] {
            assert_eq!(
                verify(token, KEY, NOW),
                Err(JwtError::Malformed),
                "{token:?}"
            );
        }
        assert_eq!(
            verify(&"a".repeat(MAX_TOKEN_BYTES + 1), KEY, NOW),
            Err(JwtError::TooLong)
        );
    }

    #[test]
    fn a_claim_of_the_wrong_shape_is_refused() {
        for claim in [
            json!({"publish": "news"}),
            json!([1]),
            json!({"subscribe": [1]}),
        ] {
            let token = sign(&json!({ "longconn": claim }), KEY);
            assert_eq!(verify(&token, KEY, NOW), Err(JwtError::Claim));
        }
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| i.to_string()).collect();
        let token = sign(&json!({"longconn": {"publish": many}}), KEY);
        assert_eq!(verify(&token, KEY, NOW), Err(JwtError::Claim));
    }
}
