//! One request served: the parsed head becomes an `http_types::Request` (no second parse), tide
//! answers it, and the response is written with [`super::encode`]: chunked for HTTP/1.1 when
//! its length is unknown, close-delimited for HTTP/1.0 (which cannot read chunks), no body for
//! `HEAD`, no framing field on 1xx and 204.
//!
//! Also answered here, below the routes: `Expect: 100-continue` (RFC 9110 §10.1.1; any other
//! expectation gets 417 from [`super::head`]) and the server-wide `OPTIONS *` (RFC 9110 §9.3.7).

use std::io;
use std::str::FromStr;

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use http_types::headers::{HeaderName, HeaderValue};
use http_types::{Body, Method, Request, Response, StatusCode, Url, Version};

use super::client::{ClientConnection, Cut};
use super::encode::{chunk, encode_head, http_date, Framing, MAX_CHUNK};
use super::head::{has_token, Admitted, BodyLength, HOST_OF_HTTP10};
use crate::server::peer::{self, Peer};
use crate::server::state::State;

/// What the connection does after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Reads the next request.
    KeepAlive,
    /// Closes.
    Close,
    /// Belongs to the upgraded protocol now.
    Upgraded,
}

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The target and `Host` do not make a URL (refused earlier by `admit`; kept for safety).
    #[error("request target is not a URL: {0}")]
    Url(#[from] http_types::url::ParseError),
    /// The app failed instead of answering.
    #[error("app error: {0}")]
    App(http_types::Error),
    /// Writing the response (or reading the body) failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// RFC 9110 §10.1.1: the interim answer a client waiting to send its body is given.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Serves `admitted` (installed in `client`'s gate) with `app`.
pub async fn serve(
    client: &ClientConnection,
    app: &tide::Server<State>,
    admitted: Admitted,
) -> Result<After, ExchangeError> {
    let http10 = admitted.http10;
    let head = &admitted.request;
    let keep_alive_asked = match head.header("Connection") {
        // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        Some(c) if has_token(c, "close") => false,
        Some(c) if http10 => has_token(c, "keep-alive"),
        _ => !http10,
    };
    let is_head = head.method() == "HEAD";
    let response = if head.target() == "*" {
        server_wide_options()
    } else {
        let request = to_request(client, &admitted)?;
        // RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` waits for this before it
        // sends the body; not needed once the body is here, nor by HTTP/1.0 (§10.1.1: "MUST
        // ignore").
        // Any other expectation was refused with 417 by `admit`.
        let expects = head
            .header_values("Expect")
            .any(|e| has_token(e, "100-continue"));
        if expects && !http10 && client.body_incomplete() {
            client.clone().write_all(CONTINUE).await?;
        }
        app.respond(request).await.map_err(ExchangeError::App)?
    };
    write_response(
        client,
        response,
        is_head,
        http10,
        keep_alive_asked,
        admitted.upgrade,
    )
    .await
}

/// The answer to `OPTIONS *`: what methods the server knows.
fn server_wide_options() -> Response {
    let mut res = Response::new(StatusCode::Ok);
    res.insert_header("allow", "GET, HEAD, POST, OPTIONS");
    res
}

/// The request tide sees: method, URL, version and fields from the head as parsed, the body read
/// through `client`'s gate, the socket as [`Peer`].
fn to_request(client: &ClientConnection, admitted: &Admitted) -> Result<Request, ExchangeError> {
    let head = &admitted.request;
    // Checked by `admit`: an exactly spelled method http-types knows.
    let method = Method::from_str(head.method()).unwrap_or(Method::Get);
    let url = if head.target().starts_with('/') {
        let host = head.header("Host").unwrap_or(HOST_OF_HTTP10);
        Url::parse(&format!("http://{host}{}", head.target()))?
    } else {
        Url::parse(head.target())?
    };
    let mut req = Request::new(method, url);
    req.set_version(Some(if admitted.http10 {
        Version::Http1_0
    } else {
        Version::Http1_1
    }));
    for (name, value) in head.headers() {
        // http-types holds ASCII only (`Headers::append` panics on anything else): a value with
        // obs-text (RFC 9110 §5.5) stays in the parsed head and is not handed to the routes,
        // none of which reads such a field.
        let name = HeaderName::from_bytes(name.as_bytes().to_vec());
        let value = HeaderValue::from_bytes(value.as_bytes().to_vec());
        if let (Ok(name), Ok(value)) = (name, value) {
            req.append_header(name, value);
        }
    }
    let length = match admitted.body {
        BodyLength::None => Some(0),
        BodyLength::Fixed(n) => usize::try_from(n).ok(),
        BodyLength::Chunked => None,
    };
    if admitted.body != BodyLength::None {
        // Sized to the body when it is known to be small: a zeroed 8 KiB buffer per request
        // would cost a small body (a publish) more than parsing its whole request.
        let capacity = length.map_or(MAX_CHUNK, |n| n.clamp(1, MAX_CHUNK));
        let reader = futures_lite::io::BufReader::with_capacity(capacity, client.clone());
        req.set_body(Body::from_reader(reader, length));
    }
    req.ext_mut().insert(Peer(client.socket().clone()));
    Ok(req)
}

/// Encodes and writes `res`, then says what the connection does next.
async fn write_response(
    client: &ClientConnection,
    mut res: Response,
    is_head: bool,
    http10: bool,
    keep_alive_asked: bool,
    upgrade_asked: bool,
) -> Result<After, ExchangeError> {
    let code = u16::from(res.status());
    let upgrade = (code == 101 && upgrade_asked && res.has_upgrade()).then(|| res.send_upgrade());
    if code == 101 {
        client.mark_upgraded();
    }
    let closes_itself = res
        .header("Connection")
        .is_some_and(|c| has_token(c.as_str(), "close"));
    let framing = match (code, res.len()) {
        (100..=199 | 204, _) => Framing::Bodiless,
        (_, Some(n)) => Framing::Length(n as u64),
        (_, None) if http10 => Framing::Close,
        (_, None) => Framing::Chunked,
    };
    let keep_alive = keep_alive_asked && !closes_itself && framing != Framing::Close;
    if http10 && res.header("Connection").is_none() {
        // RFC 9112 §9.3: an HTTP/1.0 client keeps the connection only when told so.
        res.insert_header(
            "connection",
            if keep_alive { "keep-alive" } else { "close" },
        );
    }
    if !keep_alive && upgrade.is_none() {
        // The connection ends after this response: the rest of the body is never read.
        client.cut(Cut::Unread);
    }
    let fields = response_fields(&res);
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let date = http_date();
    let head = encode_head(code, &fields, framing, &date);
    // Written through the client, whose writes wait at most the send timeout.
    let mut writer = client.clone();
    if is_head || framing == Framing::Bodiless {
        writer.write_all(&head).await?;
    } else {
        write_body(&mut writer, head, res.take_body(), framing).await?;
    }
    writer.flush().await?;
    if let Some(sender) = upgrade {
        sender
            .send(http_types::upgrade::Connection::new(client.clone()))
            .await;
        return Ok(After::Upgraded);
    }
    if !keep_alive {
        return Ok(After::Close);
    }
    // Whatever of the body the route did not read is read and dropped, so the next request
    // starts where it should.
    // (Not when the route read it all: draining allocates a buffer.)
    if !client.body_read() {
        futures_lite::io::copy(client.clone(), futures_lite::io::sink()).await?;
    }
    Ok(After::KeepAlive)
}

/// Every field of `res`, one pair per value: what its head carries besides framing and date.
pub fn response_fields(res: &Response) -> Vec<(String, String)> {
    res.iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(|v| (name.as_str().to_owned(), v.as_str().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Writes `head` with the body's first bytes in one write, then the rest as it comes: one read
/// of the body per write, framed as one chunk when chunked.
async fn write_body(
    writer: &mut ClientConnection,
    head: Vec<u8>,
    mut body: Body,
    framing: Framing,
) -> io::Result<()> {
    let mut out = head;
    // A body of known length needs no more room than itself.
    let room = match framing {
        Framing::Length(n) => usize::try_from(n).map_or(MAX_CHUNK, |n| n.clamp(1, MAX_CHUNK)),
        _ => MAX_CHUNK,
    };
    let mut buf = vec![0u8; room];
    // A stream waits for its next piece for as long as it lives: a client that closes (FIN) or
    // resets in the meantime ends it, and frees its connection, at once.
    let watched = writer.socket().clone();
    let streams = matches!(framing, Framing::Chunked | Framing::Close);
    let mut client_gone = Box::pin(async move {
        if streams {
            peer::closed(&watched).await;
        } else {
            future::pending::<()>().await;
        }
    });
    loop {
        let read = async { Some(body.read(&mut buf).await) };
        let gone = async {
            client_gone.as_mut().await;
            None
        };
        let Some(n) = future::or(read, gone).await else {
            return Err(io::ErrorKind::ConnectionAborted.into());
        };
        let n = n?;
        match framing {
            Framing::Chunked => chunk(&buf[..n], &mut out),
            _ => out.extend_from_slice(&buf[..n]),
        }
        if !out.is_empty() {
            writer.write_all(&out).await?;
            out.clear();
        }
        if n == 0 {
            return Ok(());
        }
    }
}
