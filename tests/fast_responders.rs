//! The fast responders (`FAST_RESPONDERS` in `src/server/mod.rs`) answer byte for byte as the
//! tide routes of the same paths: every spec of the catalogue (`specs/**/*.yaml`, but not those
//! that need `--target`) is replayed against an embedded server with them and one without them
//! (`Config::fast_responders` off), and the two transcripts must be identical.
//!
//! `POST /publish` is also sent as raw bytes to a server with fast responders and one without,
//! and the bytes that come back must be identical (`date` values aside):
//! - `publish_answers_and_refusals_...`: 200 `{"id":N}` (with CORS, same-origin, an empty body,
//!   a covering token, a chunked body), 400 (channel, event, a body cut by the client's close),
//!   401 and 403 with a publisher key, 403 for a foreign `Origin`, 413 by `Content-Length` and by
//!   a chunked body over the limit, 421 for a foreign `Host`, 507 past the hub's channel bound;
//! - `a_body_that_is_not_utf8_...`: 400 `body must be UTF-8`;
//! - `keep_alive_pipelined_and_closing_...`: several publishes on one connection, then
//!   `Connection: close`; four pipelined in one write; a 413 that closes cuts what follows;
//! - `expect_100_continue_...`: `100 Continue`, then the body, then 200;
//! - `a_stalled_publish_body_...`: nothing one second short of the body deadline, 408 and close
//!   at it (manual clock).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_std::io::WriteExt;
use async_std::net::TcpStream;
use common::{manual_clock, read_to_eof, read_until};
use longconn::clock::Clock;
use longconn::hub::{Hub, HubConfig};
use longconn::runner::{self, Options, Target};
use longconn::server::access::jwt::{sign, JwtKey};
use longconn::server::{Config, Server};

/// Every spec file under `dir`, in path order.
fn specs_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read specs/")
        .map(|entry| entry.expect("read specs/").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            specs_under(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "yaml") {
            found.push(path);
        }
    }
}

/// The transcript of `path` replayed with fast responders on or off (an error's text, when the
/// replay failed, so a failure on one side only is a difference too).
async fn transcript(path: PathBuf, without_fast_responders: bool) -> String {
    let spec = longconn::spec::load(&path).unwrap_or_else(|error| panic!("{error}"));
    let options = Options {
        without_fast_responders,
        ..Options::default()
    };
    let recording = runner::record_with(&spec, &Target::Embedded, &options).await;
    match recording.result {
        Ok(()) => recording.transcript.to_string(),
        Err(error) => format!("{}\nfailed: {error}", recording.transcript),
    }
}

#[test]
fn every_spec_replays_byte_identical_with_and_without_fast_responders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut paths = Vec::new();
    specs_under(&root, &mut paths);
    paths.retain(|path| !runner::cli::needs_target(path));
    assert!(paths.len() > 100, "specs/ holds the catalogue");
    let differing = async_std::task::block_on(async {
        let mut differing = Vec::new();
        // A few specs at a time, each replayed both ways at once.
        for batch in paths.chunks(8) {
            let replays: Vec<_> = batch
                .iter()
                .map(|path| {
                    let (a, b) = (path.clone(), path.clone());
                    let on = async_std::task::spawn(transcript(a, false));
                    let off = async_std::task::spawn(transcript(b, true));
                    (path.clone(), on, off)
                })
                .collect();
            for (path, on, off) in replays {
                let (on, off) = (on.await, off.await);
                if on != off {
                    differing.push(format!(
                        "{}:\n--- with fast responders\n{on}\n--- without\n{off}",
                        path.display()
                    ));
                }
            }
        }
        differing
    });
    assert!(
        differing.is_empty(),
        "{} spec(s) differ without fast responders:\n{}",
        differing.len(),
        differing.join("\n")
    );
}

// Raw-byte publishes, sent the same to a server with fast responders and one without: the bytes
// that come back must be identical (the `date` field's value aside).

const PUBLISHER_KEY: &[u8] = b"publisher secret";

/// `config` on a free loopback port, on a manual clock, with fast responders on or off; its hub
/// holds at most `max_channels` channels.
async fn server(config: &Config, fast_responders: bool, max_channels: usize) -> Server {
    let config = Config {
        addr: ([127, 0, 0, 1], 0).into(),
        fast_responders,
        ..config.clone()
    };
    let hub = Hub::new(HubConfig {
        max_channels,
        ..config.hub_config()
    });
    Server::start_with_hub(config, Clock::manual(), hub)
        .await
        .expect("bind 127.0.0.1:0")
}

/// `response` with every `date` field's value replaced by `DATE`.
fn redact_dates(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    let mut out = String::new();
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("\r\ndate: ") {
        out.push_str(&rest[..at + "\r\ndate: ".len()]);
        rest = &rest[at + "\r\ndate: ".len()..];
        let end = rest.find("\r\n").unwrap_or(rest.len());
        out.push_str("DATE");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Sends `raw` on one connection, closes the sending half, and reads every byte until the server
/// closes: what a server answers `raw`, dates redacted.
async fn answers(server: &Server, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    stream.write_all(raw).await.expect("write");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    redact_dates(&read_to_eof(&mut stream).await)
}

/// What a server with fast responders and one without answer `raw`, after `before` (requests
/// each answered on a connection of its own); the two must be identical. Returns the answer.
async fn same_both_ways(
    config: &Config,
    max_channels: usize,
    before: &[&str],
    raw: &str,
) -> String {
    let mut got = Vec::new();
    for fast in [true, false] {
        let server = server(config, fast, max_channels).await;
        for request in before {
            answers(&server, request.as_bytes()).await;
        }
        got.push(answers(&server, raw.as_bytes()).await);
        server.shutdown().await;
    }
    assert_eq!(got[0], got[1], "fast responders on, then off, for {raw:?}");
    got.remove(0)
}

/// `POST /publish?QUERY` with the extra header lines `extra` and `body` (its `Content-Length`).
fn post(query: &str, extra: &str, body: &str) -> String {
    format!(
        "POST /publish?{query} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn status(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

#[async_std::test]
async fn publish_answers_and_refusals_are_identical_with_and_without_fast_responders() {
    let open = Config::default();
    let bearer = |channels: &[&str]| {
        let token = sign(
            &serde_json::json!({"longconn": {"publish": channels}}),
            PUBLISHER_KEY,
        );
        format!("Authorization: Bearer {token}\r\n")
    };
    let keyed = Config {
        publisher_jwt_key: Some(JwtKey(PUBLISHER_KEY.to_vec())),
        ..Config::default()
    };
    let small = Config {
        max_message_bytes: 8,
        ..Config::default()
    };
    let listed = Config {
        allow_origins: vec!["http://app.test".to_owned()],
        ..Config::default()
    };
    let first = post("channel=a", "Connection: close\r\n", "first");
    let cases: Vec<(&str, &Config, usize, Vec<&str>, String)> = vec![
        ("200 OK", &open, 10_000, vec![], post("channel=a", "", "hello")),
        ("200 OK", &open, 10_000, vec![], post("channel=a&event=e", "", "")),
        (
            "200 OK",
            &listed,
            10_000,
            vec![],
            post("channel=a", "Origin: http://app.test\r\n", "cors"),
        ),
        (
            "200 OK",
            &open,
            10_000,
            vec![],
            post("channel=a", "Origin: http://localhost\r\n", "same origin"),
        ),
        ("400 Bad Request", &open, 10_000, vec![], post("channel=a%20b", "", "x")),
        ("400 Bad Request", &open, 10_000, vec![], post("event=a%0Ab", "", "x")),
        ("401 Unauthorized", &keyed, 10_000, vec![], post("channel=a", "", "x")),
        (
            "401 Unauthorized",
            &keyed,
            10_000,
            vec![],
            post("channel=a", "Authorization: Bearer a.b.c\r\n", "x"),
        ),
        ("403 Forbidden", &keyed, 10_000, vec![], post("channel=b", &bearer(&["a"]), "x")),
        ("200 OK", &keyed, 10_000, vec![], post("channel=a", &bearer(&["a"]), "x")),
        (
            "403 Forbidden",
            &listed,
            10_000,
            vec![],
            post("channel=a", "Origin: http://evil.test\r\n", "x"),
        ),
        // 413 by `Content-Length`, and by a chunked body over the limit.
        ("413 Payload Too Large", &small, 10_000, vec![], post("channel=a", "", "123456789")),
        (
            "413 Payload Too Large",
            &small,
            10_000,
            vec![],
            "POST /publish?channel=a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n".to_owned(),
        ),
        // A body cut short by the client's close.
        (
            "400 Bad Request",
            &open,
            10_000,
            vec![],
            "POST /publish?channel=a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc".to_owned(),
        ),
        (
            "421 Misdirected Request",
            &open,
            10_000,
            vec![],
            post("channel=a", "", "x").replace("Host: localhost", "Host: evil.example"),
        ),
        // One channel holds messages already: a second is past the hub's bound.
        (
            "507 Insufficient Storage",
            &open,
            1,
            vec![first.as_str()],
            post("channel=b", "", "x"),
        ),
        (
            "200 OK",
            &open,
            10_000,
            vec![],
            "POST /publish?channel=a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_owned(),
        ),
    ];
    for (expected, config, max_channels, before, raw) in cases {
        let got = same_both_ways(config, max_channels, &before, &raw).await;
        assert_eq!(
            status(&got),
            format!("HTTP/1.1 {expected}"),
            "{raw:?}:\n{got}"
        );
    }
}

#[async_std::test]
async fn a_body_that_is_not_utf8_is_refused_alike() {
    let raw =
        b"POST /publish?channel=a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n\xff\xfe";
    let mut got = Vec::new();
    for fast in [true, false] {
        let server = server(&Config::default(), fast, 10_000).await;
        got.push(answers(&server, raw).await);
        server.shutdown().await;
    }
    assert_eq!(got[0], got[1]);
    assert!(
        got[0].starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{}",
        got[0]
    );
    assert!(got[0].ends_with("body must be UTF-8"), "{}", got[0]);
}

#[async_std::test]
async fn keep_alive_pipelined_and_closing_publishes_are_identical_both_ways() {
    let open = Config::default();
    let one = post("channel=a", "", "one");
    // Several publishes on one connection, each sent after the answer to the one before.
    let mut sequences = Vec::new();
    for fast in [true, false] {
        let server = server(&open, fast, 10_000).await;
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        let mut all = Vec::new();
        for _ in 0..3 {
            stream.write_all(one.as_bytes()).await.expect("write");
            all.extend_from_slice(&read_until(&mut stream, b"}").await);
        }
        // `Connection: close`: answered, then the server closes.
        stream
            .write_all(post("channel=a", "Connection: close\r\n", "last").as_bytes())
            .await
            .expect("write");
        all.extend_from_slice(&read_to_eof(&mut stream).await);
        sequences.push(redact_dates(&all));
        server.shutdown().await;
    }
    assert_eq!(sequences[0], sequences[1]);
    assert_eq!(sequences[0].matches("HTTP/1.1 200 OK\r\n").count(), 4);
    // Pipelined: four publishes in one write, the last closing.
    let pipelined = [
        post("channel=a", "", "1"),
        post("channel=a&event=e", "", "2"),
        post("channel=b", "", ""),
        post("channel=a", "Connection: close\r\n", "4"),
    ]
    .concat();
    let got = same_both_ways(&open, 10_000, &[], &pipelined).await;
    assert_eq!(got.matches("HTTP/1.1 200 OK\r\n").count(), 4, "{got}");
    // A refusal that closes (413 by its length) cuts what follows it.
    let small = Config {
        max_message_bytes: 2,
        ..Config::default()
    };
    let cut = [
        post("channel=a", "", "ok"),
        post("channel=a", "", "long"),
        post("channel=a", "", "no"),
    ]
    .concat();
    let got = same_both_ways(&small, 10_000, &[], &cut).await;
    assert_eq!(got.matches("HTTP/1.1 ").count(), 2, "{got}");
    assert!(got.contains("HTTP/1.1 413 Payload Too Large\r\n"), "{got}");
}

#[async_std::test]
async fn expect_100_continue_is_answered_alike() {
    let mut got = Vec::new();
    for fast in [true, false] {
        let server = server(&Config::default(), fast, 10_000).await;
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        let head = "POST /publish?channel=a HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n";
        stream.write_all(head.as_bytes()).await.expect("write");
        // RFC 9110 §10.1.1: the client sends its body once told to continue.
        let mut all = read_until(&mut stream, b"\r\n\r\n").await;
        stream.write_all(b"later").await.expect("write");
        all.extend_from_slice(&read_to_eof(&mut stream).await);
        got.push(redact_dates(&all));
        server.shutdown().await;
    }
    assert_eq!(got[0], got[1]);
    assert!(
        got[0].starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{}",
        got[0]
    );
}

#[async_std::test]
async fn a_stalled_publish_body_gets_408_alike_on_the_manual_clock() {
    let mut got = Vec::new();
    for fast in [true, false] {
        let server = server(&Config::default(), fast, 10_000).await;
        let clock = manual_clock(&server);
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        let peer = stream.local_addr().expect("local addr");
        stream
            .write_all(b"POST /publish?channel=a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
            .await
            .expect("write");
        // The body watchdog sleeps on the manual clock: once the connection's task is parked,
        // one second short of the deadline nothing is answered, at the deadline 408.
        clock.parked(vec![peer]).await;
        server
            .advance(longconn::server::publish::BODY_TIMEOUT - Duration::from_secs(1))
            .await;
        clock.parked(vec![peer]).await;
        server.advance(Duration::from_secs(1)).await;
        got.push(redact_dates(&read_to_eof(&mut stream).await));
        server.shutdown().await;
    }
    assert_eq!(got[0], got[1]);
    assert!(
        got[0].starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("\r\nconnection: close\r\n"), "{}", got[0]);
}
