//! `request: { method, path, headers, body, status }`: one whole HTTP/1.1 exchange on a
//! connection: the request with `Host` and `Content-Length` added unless given, then the response
//! head (interim 1xx heads skipped) and its whole body by its framing, all in the transcript; a
//! status other than the expected one fails the step.

use super::connection::Connection;
use super::error::StepFailure;
use super::read::{read_body, read_head, Deadline};
use super::transcript::Transcript;
use crate::spec::HttpRequest;

/// A `request` step with its variables already replaced.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The method.
    pub method: String,
    /// The request target, the target's path prefix included.
    pub target: String,
    /// `Host` unless `headers` has one.
    pub host: String,
    /// Headers as written.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// The expected status; any 2xx when `None`.
    pub status: Option<u16>,
}

impl Exchange {
    /// The request's bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, StepFailure> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        let names = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        // RFC 9112 §3.2: a client sends Host in every HTTP/1.1 request.
        if !names("host") {
            head.push_str(&format!("Host: {}\r\n", self.host));
        }
        for (name, value) in &self.headers {
            // RFC 9110 §5.5: a field value never holds CR or LF; writing one would forge a field.
            if [name, value].iter().any(|text| text.contains(['\r', '\n'])) {
                return Err(StepFailure::Variable(format!(
                    "header {name:?}: {value:?} holds a line end, which would split the head"
                )));
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let body = self.body.as_deref().unwrap_or_default();
        // RFC 9110 §8.6: a request with content says its length; one without needs none.
        let add_length =
            self.body.is_some() && !names("content-length") && !names("transfer-encoding");
        Ok(HttpRequest::wire(head.as_bytes(), body, add_length))
    }
}

/// Runs one `request` step on `connection`.
pub async fn request(
    connection: &mut Connection,
    exchange: &Exchange,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let bytes = exchange.bytes()?;
    connection.write_until(&bytes, deadline).await?;
    transcript.sent(&bytes);
    connection.awaiting_head = true;
    // RFC 9110 §15.2: interim 1xx answers (100 Continue, 103 Early Hints) come before the final
    // one; 101 is final.
    let mut interim = 0usize;
    loop {
        read_head(connection, deadline, transcript).await?;
        let status = connection.head.as_ref().map_or(0, |head| head.status);
        if (100..200).contains(&status) && status != 101 {
            interim += 1;
            if interim > MAX_INTERIM {
                return Err(StepFailure::Malformed {
                    expected: "a final response",
                    reason: format!("more than {MAX_INTERIM} interim 1xx responses"),
                    so_far: "none".into(),
                });
            }
            continue;
        }
        break;
    }
    if exchange.method.eq_ignore_ascii_case("HEAD") {
        // RFC 9110 §9.3.2: the answer to HEAD has no body, whatever its fields say.
        connection.framing = super::connection::Framing::Raw;
    }
    read_body(connection, deadline, transcript).await?;
    let actual = connection.head.as_ref().map_or(0, |head| head.status);
    check_status(exchange.status, actual)
}

/// The most interim responses a `request` reads before its final one.
const MAX_INTERIM: usize = 32;

/// `expected` (any 2xx when `None`) against `actual`.
pub fn check_status(expected: Option<u16>, actual: u16) -> Result<(), StepFailure> {
    match expected {
        Some(expected) if expected == actual => Ok(()),
        None if (200..300).contains(&actual) => Ok(()),
        expected => Err(StepFailure::Status {
            expected: expected.map_or("a 2xx".to_string(), |s| s.to_string()),
            actual,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(headers: &[(&str, &str)], body: Option<&str>) -> Exchange {
        Exchange {
            method: "POST".into(),
            target: "/app/pub?id=1".into(),
            host: "example.com:8080".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.map(|b| b.as_bytes().to_vec()),
            status: None,
        }
    }

    #[test]
    fn host_and_content_length_are_added_unless_given() {
        assert_eq!(
            exchange(&[("Accept", "text/plain")], Some("héllo")).bytes().unwrap(),
            b"POST /app/pub?id=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: text/plain\r\nContent-Length: 6\r\n\r\nh\xc3\xa9llo"
        );
        assert_eq!(
            exchange(&[("host", "x"), ("Content-Length", "2")], Some("abc"))
                .bytes()
                .unwrap(),
            b"POST /app/pub?id=1 HTTP/1.1\r\nhost: x\r\nContent-Length: 2\r\n\r\nabc"
        );
        assert_eq!(
            exchange(&[], None).bytes().unwrap(),
            b"POST /app/pub?id=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"
        );
    }

    #[test]
    fn a_header_with_a_line_end_is_refused() {
        assert!(exchange(&[("X", "a\r\nEvil: 1")], None).bytes().is_err());
    }

    #[test]
    fn status_defaults_to_any_2xx() {
        assert!(check_status(None, 204).is_ok());
        assert!(check_status(Some(404), 404).is_ok());
        let error = check_status(None, 404).unwrap_err().to_string();
        assert_eq!(
            error,
            "unexpected status 404 (expected a 2xx; write `status: 404` if that is the answer you mean)"
        );
        assert!(check_status(Some(201), 200).is_err());
    }
}
