//! Smoke of `longconn bench` through the library API, so the load generator cannot rot: each
//! workload runs with a few clients for about a second against the embedded server, and the test
//! checks the figures are there and fan-out loses nothing. No timing assertions: CI machines vary.
//!
//! - `idle_ws_holds_every_client`, `idle_sse_holds_every_client`
//! - `fanout_ws_loses_nothing`, `fanout_sse_loses_nothing`
//! - `fanout_counts_a_duplicate_once_and_a_missing_message_as_lost_sse`, `..._ws`: against a
//!   scripted server that sends every message twice (split across chunks, after a ping) and one
//!   never
//! - `fanout_names_a_server_that_sends_garbage`
//! - `poll_reports_throughput_and_latency`
//! - `bench_refuses_a_non_loopback_target`

use std::sync::Arc;
use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::sync::Mutex;

use longconn::bench::{fanout, idle, poll, BenchError, FanoutArgs, IdleArgs, PollArgs, Transport};
use longconn::clock::Clock;
use longconn::server::{Config, Server};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn server() -> Result<(Server, String), Box<dyn std::error::Error>> {
    let config = Config {
        addr: "127.0.0.1:0".parse()?,
        ..Default::default()
    };
    let server = Server::start(config, Clock::System).await?;
    let url = format!("http://{}", server.addr());
    Ok((server, url))
}

fn fields(report: &impl serde::Serialize) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(report)
}

fn assert_has(json: &serde_json::Value, names: &[&str]) {
    for name in names {
        assert!(json.get(name).is_some(), "no `{name}` in {json}");
    }
}

async fn idle_holds_every_client(transport: Transport) -> TestResult {
    let (server, target) = server().await?;
    let args = IdleArgs {
        target,
        transport,
        clients: 5,
        hold: Duration::from_millis(500),
    };
    let report = idle(&args).await?;
    let json = fields(&report)?;
    assert_has(&json, &["workload", "transport", "clients", "held"]);
    assert_eq!(json["workload"], "idle");
    assert_eq!(report.held, 5, "{json}");
    server.shutdown().await;
    Ok(())
}

#[async_std::test]
async fn idle_ws_holds_every_client() -> TestResult {
    idle_holds_every_client(Transport::Ws).await
}

#[async_std::test]
async fn idle_sse_holds_every_client() -> TestResult {
    idle_holds_every_client(Transport::Sse).await
}

async fn fanout_loses_nothing(transport: Transport) -> TestResult {
    let (server, target) = server().await?;
    let args = FanoutArgs {
        target: vec![target],
        transport,
        clients: 5,
        messages: 10,
        rate: 20.0,
        drain: Duration::from_secs(5),
        channel: None,
        receivers: 2,
    };
    let report = fanout(&args).await?;
    let json = fields(&report)?;
    assert_has(
        &json,
        &[
            "expected",
            "delivered",
            "lost",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "p50_from_schedule_ms",
            "p99_from_schedule_ms",
            "published_per_s",
            "client_cpu_us_per_delivery",
        ],
    );
    assert_eq!(report.expected, 50, "{json}");
    // Ten messages: the rate between the first publish and the last is known.
    assert!(report.published_per_s.is_some_and(|r| r > 0.0), "{json}");
    // Latency from the schedule counts from no later than the send time (histogram buckets are
    // within 1%; 50 µs for the two clocks the stamps are read on).
    assert!(
        report.p99_from_schedule_ms >= report.p99_ms * 0.99 - 0.05,
        "{json}"
    );
    assert!(report.client_cpu_us_per_delivery.is_some(), "{json}");
    assert_eq!(report.lost, 0, "{json}");
    server.shutdown().await;
    Ok(())
}

#[async_std::test]
async fn fanout_ws_loses_nothing() -> TestResult {
    fanout_loses_nothing(Transport::Ws).await
}

#[async_std::test]
async fn fanout_sse_loses_nothing() -> TestResult {
    fanout_loses_nothing(Transport::Sse).await
}

#[async_std::test]
async fn poll_reports_throughput_and_latency() -> TestResult {
    let (server, target) = server().await?;
    let args = PollArgs {
        target,
        connections: 2,
        duration: Duration::from_millis(500),
    };
    let report = poll(&args).await?;
    let json = fields(&report)?;
    assert_has(&json, &["workload", "requests_per_s", "p99_ms"]);
    assert!(report.requests > 0, "{json}");
    assert_eq!(report.errors, 0, "{json}");
    server.shutdown().await;
    Ok(())
}

#[async_std::test]
async fn bench_refuses_a_non_loopback_target() {
    let args = PollArgs {
        target: "http://192.0.2.1:80".into(),
        connections: 1,
        duration: Duration::from_millis(10),
    };
    assert!(matches!(poll(&args).await, Err(BenchError::Target(_))));
}

/// How the scripted server misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Script {
    /// Every message twice, and the message `{"t":…,"seq":5}` never.
    TwiceButOneNever,
    /// A masked frame (RFC 6455 §5.1 forbids it from a server) instead of each message.
    Garbage,
}

/// A push server written for the test: `GET /sseStream` (chunked) and `GET /ws` subscribe,
/// `POST /publish` (keep-alive) sends the body to every subscriber as `script` says.
async fn scripted_server(script: Script) -> Result<String, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let subscribers: Arc<Mutex<Vec<(TcpStream, bool)>>> = Arc::default();
    async_std::task::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let subscribers = subscribers.clone();
            async_std::task::spawn(async move {
                let _ = serve_scripted(stream, script, subscribers).await;
            });
        }
    });
    Ok(url)
}

async fn serve_scripted(
    mut stream: TcpStream,
    script: Script,
    subscribers: Arc<Mutex<Vec<(TcpStream, bool)>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut more = [0u8; 4096];
            let n = stream.read(&mut more).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&more[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        if head.starts_with("GET /sseStream") {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await?;
            subscribers.lock().await.push((stream, false));
            return Ok(());
        }
        if head.starts_with("GET /ws") {
            let key = header("Sec-WebSocket-Key:").unwrap_or_default();
            let accept = longconn::wire::websocket::accept_key(&key);
            let answer = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
            stream.write_all(answer.as_bytes()).await?;
            subscribers.lock().await.push((stream, true));
            return Ok(());
        }
        let length: usize = header("Content-Length:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            let mut more = [0u8; 4096];
            let n = stream.read(&mut more).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&more[..n]);
        }
        let body: Vec<u8> = buf.drain(..length).collect();
        let dropped = body.windows(8).any(|w| w == b"\"seq\":5}");
        for (subscriber, ws) in subscribers.lock().await.iter_mut() {
            let once = match (script, *ws) {
                (Script::Garbage, _) => b"\x81\x81\x00\x00\x00\x00x".to_vec(),
                (Script::TwiceButOneNever, _) if dropped => continue,
                (Script::TwiceButOneNever, true) => {
                    // A ping, then the message unmasked (RFC 6455 §5.1), in one write.
                    let mut frames = b"\x89\x01p".to_vec();
                    frames.extend_from_slice(&[0x81, body.len() as u8]);
                    frames.extend_from_slice(&body);
                    frames
                }
                (Script::TwiceButOneNever, false) => {
                    // The event in two chunks, cut in its middle.
                    let event = [b"data: ", &body[..], b"\n\n"].concat();
                    let (a, b) = event.split_at(event.len() / 2);
                    let mut chunks = Vec::new();
                    for part in [a, b] {
                        chunks.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                        chunks.extend_from_slice(part);
                        chunks.extend_from_slice(b"\r\n");
                    }
                    chunks
                }
            };
            let _ = subscriber.write_all(&[&once[..], &once[..]].concat()).await;
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await?;
    }
}

fn scripted_args(target: String, transport: Transport) -> FanoutArgs {
    FanoutArgs {
        target: vec![target],
        transport,
        clients: 3,
        messages: 10,
        rate: 50.0,
        // Message 5 never comes: the drain ends by its time, not by a full count.
        drain: Duration::from_millis(300),
        channel: None,
        receivers: 1,
    }
}

async fn counts_a_duplicate_once_and_a_missing_message_as_lost(transport: Transport) -> TestResult {
    let target = scripted_server(Script::TwiceButOneNever).await?;
    let report = fanout(&scripted_args(target, transport)).await?;
    let json = fields(&report)?;
    assert_eq!(
        (
            report.connected,
            report.expected,
            report.delivered,
            report.lost
        ),
        (3, 30, 27, 3),
        "{json}"
    );
    assert_eq!(report.first_error, None, "{json}");
    Ok(())
}

#[async_std::test]
async fn fanout_counts_a_duplicate_once_and_a_missing_message_as_lost_sse() -> TestResult {
    counts_a_duplicate_once_and_a_missing_message_as_lost(Transport::Sse).await
}

#[async_std::test]
async fn fanout_counts_a_duplicate_once_and_a_missing_message_as_lost_ws() -> TestResult {
    counts_a_duplicate_once_and_a_missing_message_as_lost(Transport::Ws).await
}

#[async_std::test]
async fn fanout_names_a_server_that_sends_garbage() -> TestResult {
    let target = scripted_server(Script::Garbage).await?;
    match fanout(&scripted_args(target, Transport::Ws)).await {
        Err(BenchError::NoDelivery(why)) => assert!(
            why.contains("websocket: the server sent a masked frame after 0 of its messages"),
            "{why}"
        ),
        other => panic!("expected NoDelivery, got {other:?}"),
    }
    Ok(())
}
