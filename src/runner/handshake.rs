//! `handshake: { on, path, key, protocols, origin, headers, version }`: the WebSocket opening
//! handshake (RFC 6455 §4.1). It reads the whole response head before the step ends, so nothing
//! else is sent first: some servers drop bytes that arrive in the same read as a request head.

use super::connection::Connection;
use super::error::StepFailure;
use super::read::{read_head, Deadline};
use super::transcript::Transcript;
use crate::spec::Handshake;
use crate::wire::deflate::{self, Inflater};
use crate::wire::websocket::accept_key;

/// Runs one `handshake` step.
pub async fn handshake(
    connection: &mut Connection,
    step: &Handshake,
    deadline: Deadline,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let request = request_bytes(step);
    connection.write(&request).await?;
    transcript.sent(&request);
    connection.awaiting_head = true;
    read_head(connection, deadline, transcript).await?;
    let Some(head) = connection.head.as_ref() else {
        return Ok(());
    };
    if head.status == 101 {
        if let Some(key) = &step.key {
            let expected = accept_key(key);
            // RFC 6455 §4.1: a client fails the connection when the accept value is absent or
            // is not the base64 SHA-1 of its key and the GUID.
            match head.header("sec-websocket-accept") {
                Some(accept) if accept.trim() == expected => {
                    transcript.note("ws accept matches the key")
                }
                Some(accept) => {
                    transcript.note(format!(
                        "ws accept {accept} does not match the key (expected {expected})"
                    ));
                    return Err(StepFailure::Expectation {
                        expected: format!("Sec-WebSocket-Accept: {expected} (RFC 6455 §4.1)"),
                        actual: format!("Sec-WebSocket-Accept: {accept}"),
                    });
                }
                None => {
                    transcript.note("ws accept missing");
                    return Err(StepFailure::Expectation {
                        expected: format!("Sec-WebSocket-Accept: {expected} (RFC 6455 §4.1)"),
                        actual: "no Sec-WebSocket-Accept header".into(),
                    });
                }
            }
        }
        negotiate(connection, step, transcript)?;
    }
    Ok(())
}

/// Reads the `Sec-WebSocket-Extensions` answer of a 101: when it accepts permessage-deflate,
/// the connection inflates the compressed messages that follow (RFC 7692 §5).
fn negotiate(
    connection: &mut Connection,
    step: &Handshake,
    transcript: &mut Transcript,
) -> Result<(), StepFailure> {
    let answer = connection
        .head
        .as_ref()
        .and_then(|head| head.header("sec-websocket-extensions"))
        .map(str::to_string);
    let Some(answer) = answer else {
        return Ok(());
    };
    let Some(params) = deflate::parse_answer(&answer)? else {
        return Ok(());
    };
    let offered = step.extensions.as_deref().is_some_and(deflate::offers)
        || step.headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("sec-websocket-extensions") && deflate::offers(value)
        });
    if !offered {
        // RFC 6455 §9.1: a server answers only with extensions the client offered.
        return Err(StepFailure::Expectation {
            expected: "no extension the handshake did not offer (RFC 6455 §9.1)".into(),
            actual: format!("Sec-WebSocket-Extensions: {answer}"),
        });
    }
    transcript.note(format!(
        "ws permessage-deflate accepted: {}",
        params.describe()
    ));
    connection.deflate = Some(Inflater::new(&params));
    connection.compressed = None;
    Ok(())
}

/// The upgrade request: request line, `Host`, `Upgrade`, `Connection`, key, version, protocols,
/// origin, then the spec's own headers. `Host` is `localhost` (never the port, which changes from
/// run to run) unless the spec's headers name one.
fn request_bytes(step: &Handshake) -> Vec<u8> {
    let mut head = format!("GET {} HTTP/1.1\r\n", step.path);
    let has = |name: &str| {
        step.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !has("host") {
        head.push_str("Host: localhost\r\n");
    }
    head.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
    if let Some(key) = &step.key {
        head.push_str(&format!("Sec-WebSocket-Key: {key}\r\n"));
    }
    if let Some(version) = &step.version {
        head.push_str(&format!("Sec-WebSocket-Version: {version}\r\n"));
    }
    if !step.protocols.is_empty() {
        head.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            step.protocols.join(", ")
        ));
    }
    if let Some(origin) = &step.origin {
        head.push_str(&format!("Origin: {origin}\r\n"));
    }
    if let Some(extensions) = &step.extensions {
        head.push_str(&format!("Sec-WebSocket-Extensions: {extensions}\r\n"));
    }
    for (name, value) in &step.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SAMPLE_KEY;

    #[test]
    fn handshake_request_uses_the_sample_key_and_no_port() {
        let step = Handshake {
            on: "ws".into(),
            path: "/echo".into(),
            key: Some(SAMPLE_KEY.into()),
            protocols: vec![],
            origin: None,
            headers: vec![],
            version: Some("13".into()),
            extensions: None,
        };
        assert_eq!(
            String::from_utf8_lossy(&request_bytes(&step)),
            "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
    }
}
