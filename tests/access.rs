//! Who may publish, who may read, and which `Host` names are served, over real sockets against an
//! embedded server on a manual clock. Each test names the attack it tries and the exact answer.
//!
//! - publishing: without a token 401 + `WWW-Authenticate: Bearer realm="longconn"`; a forged,
//!   expired or `alg: none` token 401 `invalid_token`; a token for another channel 403
//!   `insufficient_scope`; `/ws` text without one closes 1008.
//! - private channels: every reading route refuses without a subscriber token (401; WebSocket
//!   upgrade 403) and serves with one in the header, the cookie or `?token=`; `/jsonp` refuses
//!   even with one; `--no-jsonp` is 404.
//! - `serve` refuses a public `--addr` without a publisher key, and `--private` without a
//!   subscriber key.
//! - at `--max-connections`, 503 and at most one log line a second (a `serve` process).
//! - DNS rebinding: `Host: evil.example:PORT` with a matching `Origin` gets 421 on every route.

mod common;

use std::time::Duration;

use async_std::io::WriteExt;
use async_std::net::TcpStream;
use common::serve::Serve;
use common::{read_to_eof, read_until, start};
use longconn::server::access::jwt::{sign, JwtKey};
use longconn::server::{Config, Server};
use longconn::wire::websocket::{decode_close_payload, decode_frame, encode_frame, Frame};
use serde_json::json;

const PUBLISHER_KEY: &[u8] = b"publisher secret";
const SUBSCRIBER_KEY: &[u8] = b"subscriber secret";

fn config() -> Config {
    Config {
        publisher_jwt_key: Some(JwtKey(PUBLISHER_KEY.to_vec())),
        subscriber_jwt_key: Some(JwtKey(SUBSCRIBER_KEY.to_vec())),
        private: vec!["secret.*".to_owned()],
        ..Config::default()
    }
}

fn publisher(channels: &[&str]) -> String {
    sign(&json!({"longconn": {"publish": channels}}), PUBLISHER_KEY)
}

fn subscriber(channels: &[&str]) -> String {
    sign(
        &json!({"longconn": {"subscribe": channels}}),
        SUBSCRIBER_KEY,
    )
}

/// Sends `request` on a new connection and reads until the server closes it.
async fn exchange(server: &Server, request: &str) -> String {
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    String::from_utf8_lossy(&read_to_eof(&mut stream).await).into_owned()
}

/// A `GET` with `Connection: close` and the extra header lines `extra`.
fn get(target: &str, extra: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n")
}

fn publish_request(channel: &str, authorization: Option<&str>) -> String {
    let auth = authorization
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /publish?channel={channel} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 2\r\nConnection: close\r\n\r\nhi"
    )
}

fn status(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn upgrade(target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[async_std::test]
async fn publish_without_a_token_is_401_with_a_bearer_challenge() {
    let server = start(config()).await;
    let answer = exchange(&server, &publish_request("news", None)).await;
    assert_eq!(status(&answer), "HTTP/1.1 401 Unauthorized", "{answer}");
    assert_eq!(
        header(&answer, "www-authenticate"),
        Some("Bearer realm=\"longconn\"")
    );
    // A wrong method is still 405, and a preflight 204: neither carries credentials.
    let answer = exchange(&server, &get("/publish", "")).await;
    assert_eq!(
        status(&answer),
        "HTTP/1.1 405 Method Not Allowed",
        "{answer}"
    );
    let preflight = "OPTIONS /publish HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let answer = exchange(&server, preflight).await;
    assert_eq!(status(&answer), "HTTP/1.1 204 No Content", "{answer}");
    server.shutdown().await;
}

#[async_std::test]
async fn publish_with_a_forged_or_alg_none_token_is_401_invalid_token() {
    let server = start(config()).await;
    let forged = sign(&json!({"longconn": {"publish": ["*"]}}), b"guessed key");
    let none = "eyJhbGciOiJub25lIn0.eyJsb25nY29ubiI6eyJwdWJsaXNoIjpbIioiXX19.";
    for (token, description) in [
        (forged.as_str(), "token signature does not match"),
        (none, "token algorithm must be HS256"),
        ("not-a-jwt", "token is not a compact JWS"),
    ] {
        let answer = exchange(&server, &publish_request("news", Some(token))).await;
        assert_eq!(status(&answer), "HTTP/1.1 401 Unauthorized", "{answer}");
        assert_eq!(
            header(&answer, "www-authenticate").map(str::to_owned),
            Some(format!(
                "Bearer realm=\"longconn\", error=\"invalid_token\", error_description=\"{description}\""
            ))
        );
    }
    server.shutdown().await;
}

#[async_std::test]
async fn publish_with_a_token_for_another_channel_is_403_insufficient_scope() {
    let server = start(config()).await;
    let answer = exchange(
        &server,
        &publish_request("news", Some(&publisher(&["sport*"]))),
    )
    .await;
    assert_eq!(status(&answer), "HTTP/1.1 403 Forbidden", "{answer}");
    assert_eq!(
        header(&answer, "www-authenticate"),
        Some("Bearer realm=\"longconn\", error=\"insufficient_scope\"")
    );
    assert_eq!(server.hub().since("news", 0).last, 0);
    server.shutdown().await;
}

#[async_std::test]
async fn publish_with_a_covering_token_is_200_until_it_expires_on_the_servers_clock() {
    let server = start(config()).await;
    let now = server.state().clock.now().as_secs();
    let token = sign(
        &json!({"exp": now + 60, "longconn": {"publish": ["news.*"]}}),
        PUBLISHER_KEY,
    );
    let answer = exchange(&server, &publish_request("news.eu", Some(&token))).await;
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");
    assert!(answer.ends_with("{\"id\":1}"), "{answer}");
    server.advance(Duration::from_secs(60)).await;
    let answer = exchange(&server, &publish_request("news.eu", Some(&token))).await;
    assert_eq!(status(&answer), "HTTP/1.1 401 Unauthorized", "{answer}");
    assert!(
        header(&answer, "www-authenticate")
            .is_some_and(|v| v.ends_with("error_description=\"token expired\"")),
        "{answer}"
    );
    server.shutdown().await;
}

/// Opens `/ws` with `extra` headers, sends one text frame, and returns the close code the server
/// answers with (`None`: it published and pushed the message back instead).
async fn ws_publish(server: &Server, target: &str, extra: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    stream
        .write_all(upgrade(target, extra).as_bytes())
        .await
        .expect("write");
    let head = read_until(&mut stream, b"\r\n\r\n").await;
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let frame = encode_frame(&Frame::text("hello").masked([1, 2, 3, 4]));
    stream.write_all(&frame).await.expect("write frame");
    let mut got = head[head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4..].to_vec();
    loop {
        if let Ok(Some((frame, _))) = decode_frame(&got) {
            if frame.opcode != 8 {
                return None;
            }
            let close = decode_close_payload(&frame.payload).expect("a valid close payload");
            return close.map(|(code, _)| code);
        }
        let mut buf = [0u8; 1024];
        let n = common::read_some(&mut stream, &mut buf).await;
        assert!(n > 0, "closed without a frame");
        got.extend_from_slice(&buf[..n]);
    }
}

#[async_std::test]
async fn ws_text_without_a_publisher_token_closes_1008() {
    let server = start(config()).await;
    assert_eq!(
        ws_publish(&server, "/ws?channel=news", "").await,
        Some(1008)
    );
    let wrong = format!("Authorization: Bearer {}\r\n", publisher(&["other"]));
    assert_eq!(
        ws_publish(&server, "/ws?channel=news", &wrong).await,
        Some(1008)
    );
    let right = format!("Authorization: Bearer {}\r\n", publisher(&["news"]));
    assert_eq!(ws_publish(&server, "/ws?channel=news", &right).await, None);
    let query = format!("/ws?channel=news&token={}", publisher(&["news"]));
    assert_eq!(ws_publish(&server, &query, "").await, None);
    server.shutdown().await;
}

#[async_std::test]
async fn a_private_channel_is_refused_on_every_reading_route_without_a_token() {
    let server = start(config()).await;
    for route in [
        "/poll?channel=secret.a",
        "/longpoll?channel=secret.a&timeout=1",
        "/iframe?channel=secret.a",
        "/iframeLongConnection?channel=secret.a",
        "/sseStream?channel=secret.a",
    ] {
        let answer = exchange(&server, &get(route, "")).await;
        assert_eq!(
            status(&answer),
            "HTTP/1.1 401 Unauthorized",
            "{route}: {answer}"
        );
        assert_eq!(
            header(&answer, "www-authenticate"),
            Some("Bearer realm=\"longconn\""),
            "{route}"
        );
        // A token for another channel: 403.
        let other = format!("Authorization: Bearer {}\r\n", subscriber(&["secret.b"]));
        let answer = exchange(&server, &get(route, &other)).await;
        assert_eq!(
            status(&answer),
            "HTTP/1.1 403 Forbidden",
            "{route}: {answer}"
        );
        // A publisher's token is not a subscriber's (another key).
        let publisher = format!("Authorization: Bearer {}\r\n", publisher(&["*"]));
        let answer = exchange(&server, &get(route, &publisher)).await;
        assert_eq!(
            status(&answer),
            "HTTP/1.1 401 Unauthorized",
            "{route}: {answer}"
        );
    }
    // The refused upgrade keeps the connection (no `Connection: close`): read its head only.
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let request = upgrade("/ws?channel=secret.a", "");
    stream.write_all(request.as_bytes()).await.expect("write");
    let answer = String::from_utf8_lossy(&read_until(&mut stream, b"\r\n\r\n").await).into_owned();
    assert_eq!(status(&answer), "HTTP/1.1 403 Forbidden", "{answer}");
    drop(stream);
    // Public channels stay open to all.
    let answer = exchange(&server, &get("/poll?channel=news", "")).await;
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");
    server.shutdown().await;
}

#[async_std::test]
async fn a_subscriber_token_in_header_cookie_or_query_reads_a_private_channel() {
    let server = start(config()).await;
    server
        .hub()
        .publish("secret.a", "message", "classified".into())
        .await
        .expect("publish");
    let token = subscriber(&["secret.*"]);
    let header_line = format!("Authorization: Bearer {token}\r\n");
    let cookie_line = format!("Cookie: theme=dark; longconn_token={token}\r\n");
    for (route, extra) in [
        (
            "/poll?channel=secret.a&since=0".to_owned(),
            header_line.clone(),
        ),
        (
            "/poll?channel=secret.a&since=0".to_owned(),
            cookie_line.clone(),
        ),
        (
            format!("/poll?channel=secret.a&since=0&token={token}"),
            String::new(),
        ),
        (
            "/longpoll?channel=secret.a&since=0".to_owned(),
            cookie_line.clone(),
        ),
        (
            format!("/iframe?channel=secret.a&since=0&token={token}"),
            String::new(),
        ),
    ] {
        let answer = exchange(&server, &get(&route, &extra)).await;
        assert_eq!(
            status(&answer),
            "HTTP/1.1 200 OK",
            "{route} {extra}: {answer}"
        );
        assert!(answer.contains("classified"), "{route}: {answer}");
    }
    for (route, needle) in [
        (
            format!("/sseStream?channel=secret.a&token={token}"),
            "data: classified",
        ),
        (
            format!("/iframeLongConnection?channel=secret.a&since=0&token={token}"),
            "classified",
        ),
    ] {
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        let request = get(&route, "Last-Event-ID: 0\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let got = read_until(&mut stream, needle.as_bytes()).await;
        assert!(got.starts_with(b"HTTP/1.1 200 OK"), "{route}");
    }
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let target = format!("/ws?channel=secret.a&since=0&token={token}");
    stream
        .write_all(upgrade(&target, "").as_bytes())
        .await
        .expect("write");
    let got = read_until(&mut stream, b"classified").await;
    assert!(got.starts_with(b"HTTP/1.1 101"));
    drop(stream);
    server.shutdown().await;
}

#[async_std::test]
async fn jsonp_never_serves_a_private_channel_and_can_be_turned_off() {
    let server = start(config()).await;
    let token = subscriber(&["*"]);
    let route = format!("/jsonp?callback=steal&channel=secret.a&since=0&token={token}");
    let answer = exchange(&server, &get(&route, "")).await;
    assert_eq!(status(&answer), "HTTP/1.1 403 Forbidden", "{answer}");
    assert!(
        answer.ends_with("JSONP never serves a private channel\n"),
        "{answer}"
    );
    let answer = exchange(&server, &get("/jsonp?callback=cb&channel=news", "")).await;
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");
    server.shutdown().await;

    let server = start(Config {
        jsonp: false,
        ..config()
    })
    .await;
    let answer = exchange(&server, &get("/jsonp?callback=cb&channel=news", "")).await;
    assert_eq!(status(&answer), "HTTP/1.1 404 Not Found", "{answer}");
    server.shutdown().await;
}

#[async_std::test]
async fn dns_rebinding_gets_421_on_every_route() {
    // No tokens configured: the Host check alone must stop it.
    let server = start(Config::default()).await;
    let port = server.addr().port();
    let evil = format!("evil.example:{port}");
    let origin = format!("Origin: http://{evil}\r\n");
    for request in [
        format!("POST /publish HTTP/1.1\r\nHost: {evil}\r\n{origin}Content-Length: 2\r\nConnection: close\r\n\r\nhi"),
        upgrade("/ws", &origin).replace("Host: localhost", &format!("Host: {evil}")),
        get("/iframe?since=0", &origin).replace("Host: localhost", &format!("Host: {evil}")),
        get("/poll", &origin).replace("Host: localhost", &format!("Host: {evil}")),
        get("/sseStream", "").replace("Host: localhost", &format!("Host: {evil}")),
        get("/jsonp?callback=cb", "").replace("Host: localhost", &format!("Host: {evil}")),
        get("/iframeLongConnection", "").replace("Host: localhost", &format!("Host: {evil}")),
        format!("OPTIONS /publish HTTP/1.1\r\nHost: {evil}\r\n{origin}Connection: close\r\n\r\n"),
    ] {
        let answer = exchange(&server, &request).await;
        assert_eq!(status(&answer), "HTTP/1.1 421 Misdirected Request", "{request}: {answer}");
        assert!(answer.ends_with("\r\n\r\nhost not allowed\n"), "{answer}");
        assert!(!answer.contains("evil.example"), "nothing echoes the name: {answer}");
    }
    assert_eq!(server.hub().since("default", 0).last, 0);
    // The same requests with the server's own name are served.
    let own = format!("127.0.0.1:{port}");
    let request = get("/iframe?since=0", "").replace("Host: localhost", &format!("Host: {own}"));
    assert_eq!(
        status(&exchange(&server, &request).await),
        "HTTP/1.1 200 OK"
    );
    server.shutdown().await;
}

#[async_std::test]
async fn a_listed_host_is_served() {
    let server = start(Config {
        hosts: vec!["push.example.com".to_owned()],
        ..Config::default()
    })
    .await;
    let request = get("/poll", "").replace("Host: localhost", "Host: push.example.com:443");
    assert_eq!(
        status(&exchange(&server, &request).await),
        "HTTP/1.1 200 OK"
    );
    let request = get("/poll", "").replace("Host: localhost", "Host: example.com");
    assert_eq!(
        status(&exchange(&server, &request).await),
        "HTTP/1.1 421 Misdirected Request"
    );
    server.shutdown().await;
}

#[test]
fn serve_refuses_a_public_address_without_a_publisher_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_longconn"))
        .args(["serve", "--store", "memory", "--addr", "0.0.0.0:0"])
        .output()
        .expect("run longconn");
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "longconn serve: --addr 0.0.0.0:0: anyone who reaches it could publish; give --publisher-jwt-key KEY, or --allow-anonymous-publish\n"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_longconn"))
        .args([
            "serve",
            "--store",
            "memory",
            "--addr",
            "127.0.0.1:0",
            "--private",
            "secret.*",
        ])
        .output()
        .expect("run longconn");
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "longconn serve: --private needs --subscriber-jwt-key KEY (else nobody can read those channels)\n"
    );
}

#[async_std::test]
async fn at_the_limit_refusals_get_503_and_at_most_one_log_line_a_second() {
    use std::io::Read;
    let mut serve = Serve::spawn(
        &["--store", "memory", "--max-connections", "1"],
        std::process::Stdio::piped(),
    );
    let mut stderr = serve.take_stderr();
    let addr = serve.addr;
    // The one slot: held open until the end.
    let mut held = TcpStream::connect(&addr).await.expect("connect");
    held.write_all(get("/sseStream", "").as_bytes())
        .await
        .expect("write");
    read_until(&mut held, b"testEvent").await;
    let started = std::time::Instant::now();
    const REFUSED: usize = 50;
    for _ in 0..REFUSED {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        let answer = String::from_utf8_lossy(&read_to_eof(&mut stream).await).into_owned();
        assert_eq!(
            status(&answer),
            "HTTP/1.1 503 Service Unavailable",
            "{answer}"
        );
    }
    let elapsed = started.elapsed().as_secs() as usize;
    serve.kill();
    let mut log = String::new();
    stderr.read_to_string(&mut log).expect("read stderr");
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        !lines.is_empty() && lines.len() <= elapsed + 1,
        "{} lines in {elapsed} s: {log}",
        lines.len()
    );
    assert_eq!(
        lines[0],
        "longconn: 1 connection(s) refused: 1 open (--max-connections)"
    );
    drop(held);
}

#[test]
fn an_explicit_max_connections_above_the_open_file_limit_is_lowered_with_one_warning() {
    use std::io::Read;
    let limit = longconn::server::access::limits::open_file_limit().expect("a finite ulimit -n");
    let ceiling = limit - longconn::server::access::limits::HEADROOM;
    let asked = (limit * 10).to_string();
    // Started: it printed `listening on`.
    let mut serve = Serve::spawn(
        &["--store", "memory", "--max-connections", &asked],
        std::process::Stdio::piped(),
    );
    let mut stderr = serve.take_stderr();
    serve.kill();
    let mut log = String::new();
    stderr.read_to_string(&mut log).expect("read stderr");
    assert_eq!(
        log,
        format!(
            "longconn serve: --max-connections {} lowered to {ceiling}: the open-file limit is {limit} (ulimit -n) and 64 are kept for the server itself\n",
            limit * 10
        )
    );
}
