//! What a request head must be before it is served (RFC 9112), and the status of every head
//! that is refused.
//!
//! A pure function of the bytes received so far ([`admit`]): `Ok(None)` while the head is
//! incomplete, the [`Admitted`] head with its body length, or the [`HeadRefusal`] to answer.
//!
//! Decisions:
//! - HTTP/1.0 and HTTP/1.1 are served; any other HTTP/1.x gets 505. An HTTP/1.0 request may omit
//!   `Host` (RFC 9112 §3.2 requires it of HTTP/1.1 only) and may not use `Transfer-Encoding`.
//! - Bare-LF line ends and empty lines before the request line are accepted (RFC 9112 §2.2 MAY).
//! - Field values are kept as received; values that are not ASCII never reach the app's header
//!   map (http-types refuses them), see [`super::exchange`].

use std::str::FromStr;

use http_types::url::Url;

use crate::wire::http::{is_tchar, parse_request_head_within, HttpError, RequestHead};

/// The largest request head served (8 KiB, as Node's default).
pub const MAX_HEAD_BYTES: usize = 8 * 1024 - 1;

/// The most header fields a request head may carry.
pub const MAX_FIELDS: usize = 128;

/// How a request's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body.
    None,
    /// `Content-Length: N`.
    Fixed(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A head to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// How many received bytes the head took.
    pub consumed: usize,
    /// How the body that follows is delimited.
    pub body: BodyLength,
    /// An upgrade request (RFC 9110 §7.8: an `Upgrade` field and `Connection: upgrade`, in
    /// HTTP/1.1): the bytes after its head belong to the upgraded protocol, not to a next request.
    pub upgrade: bool,
    /// HTTP/1.0 (else HTTP/1.1).
    pub http10: bool,
    /// The head as parsed.
    pub request: RequestHead,
}

/// A request the accept loop answers itself, then closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadRefusal {
    /// RFC 6585 §5: the head is larger than [`MAX_HEAD_BYTES`].
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// RFC 6585 §5: more than [`MAX_FIELDS`] header fields.
    #[error("more than {MAX_FIELDS} header fields")]
    TooManyFields,
    /// RFC 9112 §3, §5: a request line or field line that is not HTTP.
    #[error("malformed request head: {0}")]
    Malformed(String),
    /// RFC 9110 §15.6.6: only HTTP/1.0 and HTTP/1.1 are served.
    #[error("HTTP version {0} not supported, use HTTP/1.1")]
    Version(String),
    /// RFC 9112 §6.1: "A server or client that receives an HTTP/1.0 message containing a
    /// Transfer-Encoding header field MUST treat the message as if the framing is faulty".
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingInHttp10,
    /// RFC 9110 §15.6.2: a method this server does not know.
    #[error("method {0:?} not implemented")]
    Method(String),
    /// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
    /// request message that lacks a Host header field and to any request message that contains
    /// more than one Host header field line or a Host header field with an invalid field value."
    #[error("exactly one valid Host header field required")]
    Host,
    /// RFC 9112 §3.2: a request-target that is neither origin-form nor absolute-form.
    #[error("request-target must be a path or an absolute http URL")]
    Target,
    /// RFC 9112 §6.3 item 5: an invalid or differing `Content-Length`.
    #[error("invalid Content-Length")]
    ContentLength,
    /// RFC 9112 §6.3 item 3: `Content-Length` with `Transfer-Encoding` ("ought to be handled as
    /// an error"; a request smuggling vector).
    #[error("Content-Length together with Transfer-Encoding")]
    LengthWithTransferEncoding,
    /// RFC 9112 §6.3 item 4: chunked is not the final transfer coding, or is applied twice (§7).
    #[error("Transfer-Encoding must end with chunked, once")]
    ChunkedNotFinal,
    /// RFC 9112 §6.1: a transfer coding other than chunked.
    #[error("transfer coding {0:?} not implemented")]
    TransferCoding(String),
    /// RFC 9110 §10.1.1: "A server that receives an Expect field value containing a member other
    /// than 100-continue MAY respond with a 417 (Expectation Failed) status code".
    #[error("expectation {0:?} not supported, only 100-continue")]
    Expectation(String),
    /// RFC 9110 §15.5.9: the head did not arrive in time.
    #[error("request head timed out")]
    HeadTimeout,
}

impl HeadRefusal {
    /// The status code and reason phrase of the answer.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            HeadRefusal::HeadTooLarge | HeadRefusal::TooManyFields => {
                (431, "Request Header Fields Too Large")
            }
            HeadRefusal::Malformed(_)
            | HeadRefusal::Host
            | HeadRefusal::Target
            | HeadRefusal::ContentLength
            | HeadRefusal::LengthWithTransferEncoding
            | HeadRefusal::TransferEncodingInHttp10
            | HeadRefusal::ChunkedNotFinal => (400, "Bad Request"),
            HeadRefusal::Version(_) => (505, "HTTP Version Not Supported"),
            HeadRefusal::Method(_) | HeadRefusal::TransferCoding(_) => (501, "Not Implemented"),
            HeadRefusal::HeadTimeout => (408, "Request Timeout"),
            HeadRefusal::Expectation(_) => (417, "Expectation Failed"),
        }
    }

    /// The complete answer: status line, `connection: close`, a one-line plain-text body.
    pub fn response(&self) -> Vec<u8> {
        let (code, reason) = self.status();
        // The message may quote peer bytes: keep it printable ASCII, one line.
        let body: String = format!("{self}\n")
            .chars()
            .map(|c| match c {
                '\n' => '\n',
                ' '..='~' => c,
                _ => '?',
            })
            .collect();
        format!(
            "HTTP/1.1 {code} {reason}\r\nconnection: close\r\ncontent-length: {}\r\n\
             content-type: text/plain; charset=utf-8\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// Checks the request head at the start of `bytes`.
pub fn admit(bytes: &[u8]) -> Result<Option<Admitted>, HeadRefusal> {
    let head = match parse_request_head_within(bytes, MAX_HEAD_BYTES) {
        Ok(None) => return Ok(None),
        Ok(Some(head)) => head,
        Err(HttpError::HeadTooLarge(_)) => return Err(HeadRefusal::HeadTooLarge),
        Err(e) => return Err(HeadRefusal::Malformed(e.to_string())),
    };
    let http10 = match head.version() {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        version => return Err(HeadRefusal::Version(version.to_owned())),
    };
    if head.headers().len() > MAX_FIELDS {
        return Err(HeadRefusal::TooManyFields);
    }
    if !known_method(head.method()) {
        return Err(HeadRefusal::Method(head.method().to_owned()));
    }
    check_target(&head, http10)?;
    if http10 && head.header("Transfer-Encoding").is_some() {
        return Err(HeadRefusal::TransferEncodingInHttp10);
    }
    let body = body_length(&head)?;
    if !http10 {
        check_expect(&head)?;
    }
    // RFC 9110 §7.8: "A server MUST ignore an Upgrade header field that is received in an
    // HTTP/1.0 request."
    let upgrade = !http10
        && head.header("Upgrade").is_some()
        && head
            .header("Connection")
            .is_some_and(|c| has_token(c, "upgrade"));
    Ok(Some(Admitted {
        consumed: head.length,
        body,
        upgrade,
        http10,
        request: head,
    }))
}

/// Whether http-types knows `method`, spelled exactly as it spells it. RFC 9110 §9.1: "The
/// method token is case-sensitive": `get` is not `GET` (http-types reads methods
/// case-insensitively, so the spelling is checked here).
fn known_method(method: &str) -> bool {
    // The methods this server's routes answer, spelled as http-types spells them, without
    // `Method::from_str` (which allocates an upper-case copy).
    if matches!(method, "GET" | "POST" | "HEAD" | "OPTIONS") {
        return true;
    }
    http_types::Method::from_str(method).is_ok_and(|known| known.as_ref() == method)
}

/// Whether the comma-separated list `value` holds `token` (ASCII case-insensitive).
pub fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| trim_ows(t).eq_ignore_ascii_case(token))
}

/// RFC 9110 §5.6.3: `OWS = *( SP / HTAB )`, and nothing else is whitespace: not `\x0b`, not NBSP,
/// not U+2028 (which `str::trim` would take).
pub fn trim_ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// RFC 9110 §10.1.1: `Expect = #expectation`, and 100-continue is the only expectation defined;
/// any other member (an empty list element aside, §5.6.1) is refused with 417. HTTP/1.0 has no
/// `Expect` (§10.1.1: a 100-continue in it "MUST" be ignored), so only HTTP/1.1 heads are checked.
fn check_expect(head: &RequestHead) -> Result<(), HeadRefusal> {
    let members = head.header_values("Expect").flat_map(|v| v.split(','));
    for member in members.map(trim_ows) {
        if !member.is_empty() && !member.eq_ignore_ascii_case("100-continue") {
            return Err(HeadRefusal::Expectation(member.to_owned()));
        }
    }
    Ok(())
}

/// The authority used for an HTTP/1.0 request without `Host`.
pub const HOST_OF_HTTP10: &str = "localhost";

/// RFC 9112 §3.2: one `Host` (HTTP/1.0 may omit it), and a target that makes a URL with it.
fn check_target(head: &RequestHead, http10: bool) -> Result<(), HeadRefusal> {
    let mut hosts = head.header_values("Host");
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host,
        (None, None) if http10 => HOST_OF_HTTP10,
        _ => return Err(HeadRefusal::Host),
    };
    // RFC 9112 §3.2.4: asterisk-form, only for a server-wide OPTIONS.
    if head.target() == "*" {
        return if head.method() == "OPTIONS" && !host.is_empty() {
            Ok(())
        } else {
            Err(HeadRefusal::Target)
        };
    }
    // RFC 9110 §7.2: `Host = uri-host [ ":" port ]`; nothing a URL would read as a path.
    if host.is_empty()
        || host
            .bytes()
            .any(|b| matches!(b, b'/' | b'\\' | b'?' | b'#' | b'@' | b' '))
    {
        return Err(HeadRefusal::Host);
    }
    let target = head.target();
    let url = if target.starts_with('/') {
        // Origin-form (§3.2.1), read as `http://{host}{target}` (see `super::exchange`). With
        // the bytes refused above, the authority ends where the target starts and a path, query
        // or fragment never fails to parse, so only the host decides; a keep-alive connection
        // sends the same one every time and it is parsed once per thread, not per request.
        if host_parsed_before(host) {
            return Ok(());
        }
        let parsed = Url::parse(&format!("http://{host}{target}"));
        if parsed.is_ok() {
            remember_host(host);
        }
        parsed
    } else if target.starts_with("http://") || target.starts_with("https://") {
        // Absolute-form (§3.2.2).
        Url::parse(target)
    } else {
        return Err(HeadRefusal::Target);
    };
    url.map(|_| ()).map_err(|_| HeadRefusal::Target)
}

thread_local! {
    /// The last `Host` an origin-form target parsed with (see [`check_target`]).
    static HOST_OK: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn host_parsed_before(host: &str) -> bool {
    // `check_target` refuses an empty host before it asks, so the empty start never matches.
    HOST_OK.with(|ok| *ok.borrow() == host)
}

fn remember_host(host: &str) {
    // Bounded: a host is one field of a head, itself under `MAX_HEAD_BYTES`.
    HOST_OK.with(|ok| {
        let mut ok = ok.borrow_mut();
        ok.clear();
        ok.push_str(host);
    });
}

/// RFC 9112 §6.3: the body's length from `Transfer-Encoding` and `Content-Length`.
fn body_length(head: &RequestHead) -> Result<BodyLength, HeadRefusal> {
    let codings: Vec<String> = head
        .header_values("Transfer-Encoding")
        .flat_map(|v| v.split(','))
        .map(|c| trim_ows(c).to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    let lengths: Vec<&str> = head
        .header_values("Content-Length")
        .flat_map(|v| v.split(','))
        .map(trim_ows)
        .collect();
    let has_te = head.header("Transfer-Encoding").is_some();
    if has_te && !lengths.is_empty() {
        return Err(HeadRefusal::LengthWithTransferEncoding);
    }
    // RFC 9112 §6.1: `Transfer-Encoding = #transfer-coding`, each a token (RFC 9110 §5.6.2).
    if let Some(bad) = codings.iter().find(|c| !c.bytes().all(is_tchar)) {
        return Err(HeadRefusal::Malformed(format!(
            "transfer coding {bad:?} is not a token"
        )));
    }
    if has_te {
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(BodyLength::Chunked),
            [.., last] if last == "chunked" => match codings.iter().find(|c| *c != "chunked") {
                Some(other) => Err(HeadRefusal::TransferCoding(other.clone())),
                None => Err(HeadRefusal::ChunkedNotFinal),
            },
            _ => Err(HeadRefusal::ChunkedNotFinal),
        };
    }
    let mut length = None;
    for value in lengths {
        // RFC 9110 §8.6: `Content-Length = 1*DIGIT`; a list of identical values MAY be accepted.
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeadRefusal::ContentLength);
        }
        let n: u64 = value.parse().map_err(|_| HeadRefusal::ContentLength)?;
        if length.is_some_and(|l| l != n) {
            return Err(HeadRefusal::ContentLength);
        }
        length = Some(n);
    }
    Ok(match length {
        None | Some(0) => BodyLength::None,
        Some(n) => BodyLength::Fixed(n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(bytes: &[u8]) -> HeadRefusal {
        match admit(bytes) {
            Err(refusal) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn admitted(bytes: &[u8]) -> Admitted {
        match admit(bytes) {
            Ok(Some(admitted)) => admitted,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn an_expectation_other_than_100_continue_is_refused_with_417() {
        let head = |expect: &str| format!("POST / HTTP/1.1\r\nHost: h\r\n{expect}\r\n");
        for ok in [
            "Expect: 100-continue\r\n",
            "Expect: 100-CONTINUE \r\n",
            "Expect: ,\r\n",
            "",
        ] {
            admitted(head(ok).as_bytes());
        }
        for (bad, member) in [
            ("Expect: 200-ok\r\n", "200-ok"),
            ("Expect: 100-continue, x\r\n", "x"),
            (
                "Expect: 100-continue\r\nExpect: 100-continueX\r\n",
                "100-continueX",
            ),
        ] {
            assert_eq!(
                refused(head(bad).as_bytes()),
                HeadRefusal::Expectation(member.into())
            );
        }
        // HTTP/1.0 has no Expect: ignored.
        admitted(b"GET / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n");
        let answer = HeadRefusal::Expectation("200-ok".into()).response();
        assert_eq!(
            answer,
            b"HTTP/1.1 417 Expectation Failed\r\nconnection: close\r\ncontent-length: 54\r\n\
              content-type: text/plain; charset=utf-8\r\n\r\n\
              expectation \"200-ok\" not supported, only 100-continue\n"
        );
    }

    #[test]
    fn a_host_remembered_as_good_does_not_let_another_one_through() {
        assert!(admit(b"GET / HTTP/1.1\r\nHost: example.com:80\r\n\r\n").is_ok());
        assert!(admit(b"GET / HTTP/1.1\r\nHost: example.com:80\r\n\r\n").is_ok());
        assert_eq!(
            admit(b"GET / HTTP/1.1\r\nHost: example.com:99999\r\n\r\n"),
            Err(HeadRefusal::Target)
        );
        assert_eq!(
            admit(b"GET / HTTP/1.1\r\nHost: 1.2.3.256\r\n\r\n"),
            Err(HeadRefusal::Target)
        );
        assert!(admit(b"GET / HTTP/1.1\r\nHost: example.com:80\r\n\r\n").is_ok());
    }

    #[test]
    fn a_plain_get_is_admitted_as_sent() {
        let bytes = b"GET /poll?since=0 HTTP/1.1\r\nHost: h\r\n\r\nGET /next";
        let a = admitted(bytes);
        assert_eq!(a.request.target(), "/poll?since=0");
        assert_eq!(a.consumed, bytes.len() - b"GET /next".len());
        assert_eq!(a.body, BodyLength::None);
        assert!(!a.upgrade);
    }

    #[test]
    fn an_incomplete_head_needs_more_bytes() {
        assert_eq!(admit(b"GET / HTTP/1.1\r\nHost: h\r\n"), Ok(None));
    }

    #[test]
    fn bare_lf_and_leading_empty_lines_are_accepted() {
        let a = admitted(b"\r\nGET / HTTP/1.1\nHost:  h \n\n");
        assert_eq!(a.request.header("Host"), Some("h"));
    }

    #[test]
    fn body_lengths() {
        let fixed = admitted(b"POST /publish HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(fixed.body, BodyLength::Fixed(5));
        let chunked =
            admitted(b"POST /publish HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(chunked.body, BodyLength::Chunked);
    }

    #[test]
    fn smuggling_shapes_are_400() {
        for bytes in [
            &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(refused(bytes).status().0, 400, "{:?}", String::from_utf8_lossy(bytes));
        }
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            HeadRefusal::TransferCoding("gzip".into())
        );
    }

    #[test]
    fn only_sp_and_htab_are_whitespace_around_framing_values() {
        // RFC 9110 §5.6.3 OWS; llhttp and h11 refuse these too.
        for value in [
            "chunked\x0b",
            "chunked\u{a0}",
            "chunked\u{2028}",
            "\x0bchunked",
        ] {
            let head = format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: {value}\r\n\r\n");
            assert_eq!(refused(head.as_bytes()).status().0, 400, "{value:?}");
        }
        for value in ["5\x0b", "5\u{a0}", "\u{2028}5"] {
            let head = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(
                refused(head.as_bytes()),
                HeadRefusal::ContentLength,
                "{value:?}"
            );
        }
        let tab = admitted(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 ,\t5\r\n\r\n");
        assert_eq!(tab.body, BodyLength::Fixed(5));
    }

    #[test]
    fn the_methods_checked_without_http_types_are_spelled_as_it_spells_them() {
        for method in ["GET", "POST", "HEAD", "OPTIONS"] {
            let known = http_types::Method::from_str(method).expect("known");
            assert_eq!(known.as_ref(), method);
        }
        assert!(known_method("PATCH"));
        assert!(!known_method("Patch"));
        assert!(!known_method("BREW"));
    }

    #[test]
    fn methods_are_case_sensitive() {
        for method in ["post", "Post", "gEt", "get"] {
            let head = format!("{method} /publish HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(refused(head.as_bytes()), HeadRefusal::Method(method.into()));
        }
    }

    #[test]
    fn http_1_0_is_admitted_without_host_and_without_upgrade() {
        let a = admitted(b"GET /poll HTTP/1.0\r\n\r\n");
        assert!(a.http10);
        let ws =
            admitted(b"GET /echo HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        assert!(!ws.upgrade, "RFC 9110 §7.8: Upgrade is ignored in HTTP/1.0");
        assert_eq!(
            refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadRefusal::TransferEncodingInHttp10
        );
        assert_eq!(
            refused(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
            HeadRefusal::Version("HTTP/1.2".into())
        );
    }

    #[test]
    fn asterisk_form_is_for_options_only() {
        assert!(!admitted(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").upgrade);
        assert_eq!(
            refused(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
            HeadRefusal::Target
        );
    }

    #[test]
    fn versions_methods_hosts_and_targets() {
        assert_eq!(
            refused(b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n").status().0,
            501
        );
        assert_eq!(refused(b"GET / HTTP/1.1\r\n\r\n"), HeadRefusal::Host);
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            HeadRefusal::Host
        );
        assert_eq!(
            refused(b"GET x HTTP/1.1\r\nHost: h\r\n\r\n"),
            HeadRefusal::Target
        );
        assert_eq!(refused(b"GET  / HTTP/1.1\r\n\r\n").status().0, 400);
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n")
                .status()
                .0,
            400
        );
    }

    #[test]
    fn heads_over_the_size_limit_are_431() {
        let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 1, b'a');
        assert_eq!(refused(&big), HeadRefusal::HeadTooLarge);
        let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..MAX_FIELDS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(refused(&many), HeadRefusal::TooManyFields);
    }

    #[test]
    fn upgrade_needs_both_fields() {
        let ws = b"GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n";
        assert!(admitted(ws).upgrade);
        assert!(!admitted(b"GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n").upgrade);
    }

    #[test]
    fn refusal_is_a_complete_response_with_printable_body() {
        let bytes = HeadRefusal::Method("\u{7}x".into()).response();
        assert_eq!(
            bytes,
            b"HTTP/1.1 501 Not Implemented\r\nconnection: close\r\ncontent-length: 32\r\n\
content-type: text/plain; charset=utf-8\r\n\r\nmethod \"\\u{7}x\" not implemented\n"
        );
    }
}
