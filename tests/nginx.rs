//! The server behind a real nginx (Debian's `/usr/sbin/nginx`, package `nginx-light`), each test
//! with its own nginx on free ports, configured at test time (`-p` a temp prefix, `daemon off`,
//! one process, error log in the temp dir):
//!
//! - `default_proxy_pass_serves_publish_and_every_polling_technique`: nginx's default
//!   `proxy_pass` speaks HTTP/1.0 to the upstream; publish, short poll, long poll, iframe and
//!   JSONP polling all answer through it.
//! - `default_proxy_pass_streams_sse_unbuffered`: SSE sends `X-Accel-Buffering: no`, so even the
//!   default config streams it, close-delimited over HTTP/1.0.
//! - `streaming_config_streams_sse_forever_iframe_and_websocket`: the config `the README (Deploying behind nginx)`
//!   tells users to copy (`proxy_http_version 1.1`, `proxy_buffering off`, Upgrade headers).
//!
//! No nginx installed is a failure, never a skip.

use std::net::SocketAddr;

use async_std::io::WriteExt;
use async_std::net::TcpStream;
use longconn::server::{Config, Server};
use longconn::wire::websocket::{decode_frame, encode_frame, Frame};

mod common;
use common::child::{ChildServer, Folder};
use common::{free_port, nginx, read_to_eof, read_until};

/// nginx's default: `proxy_pass` alone (HTTP/1.0 to the upstream, buffered).
const DEFAULT_LOCATION: &str = "proxy_pass http://UPSTREAM;";

/// The streaming config of `the README (Deploying behind nginx)`, kept identical to it by
/// `the_documented_config_is_the_tested_one`.
const STREAMING_LOCATION: &str = "proxy_pass http://UPSTREAM;
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;";

/// An nginx process this test started, ended and its prefix removed on drop.
struct Nginx {
    _server: ChildServer,
    addr: SocketAddr,
}

impl Nginx {
    /// Starts nginx (one process) on a free port with `location / { LOCATION }` in front of
    /// `upstream`.
    fn start(upstream: SocketAddr, location: &str) -> Nginx {
        nginx::require(false);
        let port = free_port();
        let location = location.replace("UPSTREAM", &upstream.to_string());
        let http = format!(
            "map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      {location}
    }}
  }}"
        );
        Nginx {
            _server: nginx::start(Folder::new("nginx"), "master_process off;", &http, &[port]),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// Sends one request (`Connection: close`) through nginx; the whole response.
    async fn exchange(&self, request: &str) -> String {
        let mut s = self.connect().await;
        s.write_all(request.as_bytes()).await.expect("write");
        String::from_utf8_lossy(&read_to_eof(&mut s).await).into_owned()
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr)
            .await
            .expect("connect to nginx")
    }

    async fn get(&self, target: &str) -> String {
        self.exchange(&format!(
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    async fn publish(&self, channel: &str, data: &str) -> String {
        self.exchange(&format!(
            "POST /publish?channel={channel} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{data}",
            data.len()
        ))
        .await
    }
}

async fn start_server() -> Server {
    common::start(Config::default()).await
}

fn assert_ok(response: &str, contains: &str) {
    assert!(
        response.starts_with("HTTP/1.1 200 OK\r\n"),
        "not 200: {response}"
    );
    assert!(response.contains(contains), "no {contains:?} in {response}");
}

#[async_std::test]
async fn default_proxy_pass_serves_publish_and_every_polling_technique() {
    let server = start_server().await;
    let nginx = Nginx::start(server.addr(), DEFAULT_LOCATION);
    assert_ok(&nginx.publish("n", "first").await, r#"{"id":1}"#);
    assert_ok(
        &nginx.get("/poll?channel=n&since=0").await,
        r#""data":"first""#,
    );
    assert_ok(&nginx.get("/iframe?channel=n&since=0").await, "first");
    assert_ok(
        &nginx.get("/jsonp?channel=n&since=0&callback=cb").await,
        r#"cb({"last":1"#,
    );
    // A long poll waits for the next message, published through nginx too.
    let mut waiting = nginx.connect().await;
    waiting
        .write_all(b"GET /longpoll?channel=n&since=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    // Race-free: `since=1` answers with any message after 1, published before or after the wait.
    assert_ok(&nginx.publish("n", "second").await, r#"{"id":2}"#);
    let woken = String::from_utf8_lossy(&read_to_eof(&mut waiting).await).into_owned();
    assert_ok(&woken, r#""data":"second""#);
    drop(nginx);
    server.shutdown().await;
}

#[async_std::test]
async fn default_proxy_pass_streams_sse_unbuffered() {
    let server = start_server().await;
    let nginx = Nginx::start(server.addr(), DEFAULT_LOCATION);
    let mut sse = nginx.connect().await;
    sse.write_all(b"GET /sseStream?channel=d HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let head = read_until(&mut sse, b"event: testEvent").await;
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_ok(&nginx.publish("d", "live").await, r#"{"id":1}"#);
    read_until(&mut sse, b"data: live\n\n").await;
    drop(nginx);
    server.shutdown().await;
}

#[async_std::test]
async fn streaming_config_streams_sse_forever_iframe_and_websocket() {
    let server = start_server().await;
    let nginx = Nginx::start(server.addr(), STREAMING_LOCATION);

    let mut sse = nginx.connect().await;
    sse.write_all(b"GET /sseStream?channel=s HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    read_until(&mut sse, b"event: testEvent").await;

    let mut iframe = nginx.connect().await;
    iframe
        .write_all(
            b"GET /iframeLongConnection?channel=s&since=0 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .await
        .expect("write");
    read_until(&mut iframe, b"-->\n").await;

    let mut ws = nginx.connect().await;
    ws.write_all(
        b"GET /ws?channel=s&since=0 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write");
    let head = read_head(&mut ws).await;
    assert!(
        head.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(String::from_utf8_lossy(&head).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));

    assert_ok(&nginx.publish("s", "to-all").await, r#"{"id":1}"#);
    read_until(&mut sse, b"data: to-all\n\n").await;
    read_until(&mut iframe, b"to-all").await;
    // One unmasked text frame (RFC 6455 §5.2: FIN + opcode 1 = 0x81) carrying the message.
    let frames = read_until(&mut ws, b"to-all").await;
    let (frame, _) = decode_frame(&frames)
        .expect("a WebSocket frame")
        .expect("the whole frame");
    assert_eq!(frame.opcode, 1);
    assert!(String::from_utf8_lossy(&frame.payload).contains("to-all"));

    // And the other way: a client text frame on /ws is published to the channel.
    ws.write_all(&encode_frame(&Frame::text("from-ws").masked([1, 2, 3, 4])))
        .await
        .expect("write");
    read_until(&mut sse, b"data: from-ws\n\n").await;
    drop(nginx);
    server.shutdown().await;
}

/// Reads exactly one response head, byte by byte, so the bytes behind it stay unread.
async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = common::read_some(stream, &mut byte).await;
        assert!(
            n == 1,
            "closed inside a head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    head
}

/// `the README (Deploying behind nginx)` shows users the config the streaming test runs.
#[test]
fn the_documented_config_is_the_tested_one() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    for line in STREAMING_LOCATION.lines().map(str::trim) {
        let line = line.replace("UPSTREAM", "127.0.0.1:3000");
        assert!(
            doc.contains(&line),
            "the README (Deploying behind nginx) lacks {line:?}"
        );
    }
    assert!(doc.contains("map $http_upgrade $connection_upgrade { default upgrade; '' close; }"));
}
