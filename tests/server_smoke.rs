//! Smoke tests of `longconn serve` through a real socket, on a manual clock. Exact bytes end to end
//! are the spec runner's job (`specs/`); these only show the server is wired up:
//!
//! - `poll_answers_json_with_last_and_messages`: a published message comes back from `/poll`.
//! - `sse_opens_with_retry_then_one_test_event_block`: the first SSE pieces, one chunk each.
//! - `unknown_path_is_404_and_wrong_method_405_with_allow`: the route table's edges.
//! - `connections_past_the_limit_get_503`: `--max-connections`.

use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpStream;
use longconn::server::{Config, Server};

mod common;
use common::read_until;

async fn start(max_connections: usize) -> Server {
    common::start(Config {
        max_connections,
        ..Config::default()
    })
    .await
}

/// The response with its `date:` header line removed.
fn without_date(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("date: "))
        .collect()
}

#[async_std::test]
async fn poll_answers_json_with_last_and_messages() {
    let server = start(100).await;
    let mut s = TcpStream::connect(server.addr()).await.expect("connect");
    s.write_all(
        b"POST /publish?channel=smoke HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await
    .expect("write");
    let published = read_until(&mut s, b"{\"id\":1}").await;
    assert!(published.starts_with(b"HTTP/1.1 200 OK\r\n"));
    s.write_all(b"GET /poll?channel=smoke&since=0 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let body = br#"{"last":1,"messages":[{"id":1,"event":"message","data":"hi"}]}"#;
    let got = read_until(&mut s, body).await;
    assert_eq!(
        without_date(&got),
        format!(
            "HTTP/1.1 200 OK\r\ncache-control: no-store\r\ncontent-length: {}\r\ncontent-type: application/json\r\n\r\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        )
    );
    server.shutdown().await;
}

#[async_std::test]
async fn sse_opens_with_retry_then_one_test_event_block() {
    let server = start(100).await;
    let mut s = TcpStream::connect(server.addr()).await.expect("connect");
    s.write_all(b"GET /sseStream HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(&mut s, b"data: 2024-01-01T00:00:00Z\n\n\r\n").await;
    let text = without_date(&got);
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nx-accel-buffering: no"
    );
    assert_eq!(
        body,
        "E\r\nretry: 10000\n\n\r\n33\r\nid: 0\nevent: testEvent\ndata: 2024-01-01T00:00:00Z\n\n\r\n"
    );
    // The ticker's first tick arrives as its own chunk once the clock passes one interval.
    server.advance(Duration::from_secs(1)).await;
    let tick = read_until(&mut s, b"data: 2024-01-01T00:00:01Z\n\n\r\n").await;
    assert_eq!(
        String::from_utf8_lossy(&tick),
        "31\r\nid: 1\nevent: message\ndata: 2024-01-01T00:00:01Z\n\n\r\n"
    );
    server.shutdown().await;
}

#[async_std::test]
async fn unknown_path_is_404_and_wrong_method_405_with_allow() {
    let server = start(100).await;
    let mut s = TcpStream::connect(server.addr()).await.expect("connect");
    s.write_all(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(&mut s, b"\r\n\r\n").await;
    assert!(got.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    s.write_all(b"DELETE /poll HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(&mut s, b"\r\n\r\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{text}"
    );
    assert!(text.contains("allow: GET, HEAD, OPTIONS\r\n"), "{text}");
    s.write_all(b"GET /demo/..%2fCargo.toml HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let got = read_until(&mut s, b"\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&got).contains("HTTP/1.1 404 Not Found\r\n"));
    server.shutdown().await;
}

#[async_std::test]
async fn connections_past_the_limit_get_503() {
    let server = start(1).await;
    let mut first = TcpStream::connect(server.addr()).await.expect("connect");
    // A full request/response makes sure the first connection is counted before the second.
    first
        .write_all(b"GET /poll HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    read_until(&mut first, b"\"messages\":[]}").await;
    let mut second = TcpStream::connect(server.addr()).await.expect("connect");
    let mut got = Vec::new();
    second.read_to_end(&mut got).await.expect("read to close");
    assert_eq!(
        got,
        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    drop(first);
    server.shutdown().await;
}
