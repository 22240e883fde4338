//! `longconn record`, each test a claim. Raw clients talk to the recording proxy (bytes in,
//! waiting on bytes, never on time); on stop, the spec it writes must replay the same as its
//! pending snapshot, on the embedded server and (recorded from the embedded upstream) twice with
//! `longconn run --target` against one running `longconn serve --store memory`.
//!
//! - `sse_with_a_reconnect_becomes_reads_and_a_capture`
//! - `websocket_echo_becomes_frames_without_extension_offers`
//! - `polling_techniques_become_heads_bodies_and_chunks`
//! - `cookies_bearer_tokens_and_key_parameters_are_never_written`
//! - `a_jwt_shaped_value_writes_nothing_unless_allowed`
//! - `values_that_vary_between_replays_are_redacted_and_checked_again`
//! - `an_upstream_that_answers_differently_each_time_gets_a_draft`
//! - `excluded_paths_are_proxied_but_not_written`
//! - `an_aiohttp_server_is_recorded_with_its_token_captured_and_replays_the_same`
//! - `an_https_upstream_is_recorded_and_replayed_over_tls` (the aiohttp server with a
//!   certificate from a CA made at test time, given as `--cacert`)
//! - `an_upstream_certificate_nobody_trusts_is_refused_with_what_is_wrong`
//! - `nchan_sse_websocket_and_long_poll_are_recorded_into_stable_specs` (Debian's Nchan: its
//!   time-based ids, dates and validators become captures and `redact:` entries)
//! - `ticker_pushes_follow_their_ticks`
//! - `exit_codes_are_runs`
//! - `chromium_on_three_demo_pages_is_recorded_into_specs_that_replay` (SSE with a reconnect,
//!   the WebSocket echo, long polling; `tests/browser/drive.mjs` drives headless Chromium)

mod common;

use std::path::{Path, PathBuf};

use async_std::io::WriteExt;
use async_std::net::{TcpListener, TcpStream};
use async_std::task::block_on;
use common::nchan::Nchan;
use common::read_until;
use common::tls::Authority;
use longconn::record::{Filters, Outcome, RecordError, Recorder, Settings};
use longconn::runner::transport::Tls;
use longconn::runner::{self, snapshot, Options, Target, TargetUrl};

/// A fresh `specs/` folder under cargo's test scratch space; the spec to write there.
fn out(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("record")
        .join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("specs")).expect("scratch folder");
    out_path(name)
}

/// Where [`out`] puts the spec `name`.
fn out_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("record")
        .join(name)
        .join("specs")
        .join(format!("{name}.yaml"))
}

fn settings(out: PathBuf) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("literal"),
        upstream: None,
        out,
        filters: Filters::default(),
        keep_headers: Vec::new(),
        allow_secrets: false,
        tls: None,
    }
}

async fn connect(recorder: &Recorder) -> TcpStream {
    TcpStream::connect(recorder.addr()).await.expect("proxy")
}

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
}

/// `POST /publish?channel=CHANNEL` through the proxy on `stream`; waits for its answer.
async fn publish(stream: &mut TcpStream, host: &str, channel: &str, data: &str) {
    let request = format!(
        "POST /publish?channel={channel} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{data}",
        data.len()
    );
    send(stream, request.as_bytes()).await;
    read_until(stream, b"}").await;
}

/// The written spec's text, after checking it replays (twice more) exactly as its snapshot:
/// on the embedded server, then twice with `longconn run --target` against a running
/// `longconn serve --store memory`.
fn replays_as_its_snapshot(outcome: Outcome) -> String {
    let spec = match &outcome {
        Outcome::Written { spec, .. } => spec.clone(),
        other => panic!("expected a written spec, got {other:?}"),
    };
    let text = replays_against(outcome, &Target::Embedded);
    replays_twice_against_a_running_serve(&spec);
    text
}

/// `longconn serve --store memory --addr 127.0.0.1:0`, killed when the test ends.
/// `--interval 1h` keeps its ticker off the channels a replay reads.
fn serve() -> (Child, String) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_longconn"))
            .args(["serve", "--store", "memory", "--interval", "1h"])
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start longconn serve"),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the address line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    (child, url)
}

/// Accepts the spec's pending snapshot (as its reviewer would), then runs `longconn run SPEC
/// --target URL` twice against one running serve: the second run meets the state the first left.
/// The command's output.
fn replays_twice_against_a_running_serve(spec: &Path) -> String {
    let location = snapshot::locate(spec);
    std::fs::copy(location.pending(), &location.path).expect("accept the snapshot");
    let (_serve, url) = serve();
    let mut stdout = String::new();
    for round in ["first", "second"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_longconn"))
            .arg("run")
            .arg(spec)
            .args(["--target", &url])
            .output()
            .expect("run longconn run");
        stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let all = format!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{round} run against serve:\n{all}"
        );
        // A spec with a `tick` needs the embedded server's manual clock: `run` says so.
        let expected = if std::fs::read_to_string(spec)
            .expect("the spec")
            .contains("\n  - tick: ")
        {
            "0 passed, 0 failed, 1 skipped"
        } else {
            "1 passed, 0 failed"
        };
        assert!(all.contains(expected), "{round} run against serve:\n{all}");
    }
    stdout
}

fn replays_against(outcome: Outcome, target: &Target) -> String {
    replays_against_with(outcome, target, &Options::default())
}

fn replays_against_with(outcome: Outcome, target: &Target, options: &Options) -> String {
    let Outcome::Written {
        spec,
        snapshot: pending,
    } = outcome
    else {
        panic!("expected a written spec, got {outcome:?}");
    };
    let text = std::fs::read_to_string(&spec).expect("spec written");
    let contents = snapshot::read(&pending)
        .expect("snapshot readable")
        .expect("snapshot written");
    let loaded = longconn::spec::load(&spec).expect("the spec reads back");
    for _ in 0..2 {
        let recording = block_on(Box::pin(runner::record_with(&loaded, target, options)));
        let transcript = match recording.result {
            Ok(()) => recording.transcript,
            Err(error) => panic!("{error}\n{text}"),
        };
        assert!(
            snapshot::matches(&contents, &transcript.to_string()),
            "{}",
            snapshot::diff(&contents, &transcript.to_string())
        );
    }
    text
}

#[test]
fn sse_with_a_reconnect_becomes_reads_and_a_capture() {
    let text = block_on(async {
        let recorder = Recorder::start(settings(out("sse"))).await.expect("start");
        let host = recorder.addr().to_string();
        let mut publisher = connect(&recorder).await;
        publish(&mut publisher, &host, "news", "first").await;
        let mut sse = connect(&recorder).await;
        let open = format!(
            "GET /sseStream?channel=news HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nAccept-Encoding: gzip\r\nLast-Event-ID: 0\r\n\r\n"
        );
        send(&mut sse, open.as_bytes()).await;
        read_until(&mut sse, b"data: first\n\n\r\n").await;
        publish(&mut publisher, &host, "news", "second").await;
        read_until(&mut sse, b"data: second\n\n\r\n").await;
        drop(sse);
        // The browser reconnects with the last id it saw.
        let mut again = connect(&recorder).await;
        let reopen = format!(
            "GET /sseStream?channel=news HTTP/1.1\r\nHost: {host}\r\nLast-Event-ID: 2\r\n\r\n"
        );
        send(&mut again, reopen.as_bytes()).await;
        read_until(&mut again, b"testEvent").await;
        publish(&mut publisher, &host, "news", "third").await;
        read_until(&mut again, b"data: third\n\n\r\n").await;
        recorder.stop().await.expect("stop")
    });
    let text = replays_as_its_snapshot(text);
    assert!(text.contains("Last-Event-ID: ${last_event_id}"), "{text}");
    assert!(
        text.contains("- capture: { name: last_event_id, on: sseStream, sse: id, redact: false }"),
        "{text}"
    );
    assert!(text.contains("until: { sse_events: 1 }"), "{text}");
    assert!(
        text.contains("GET /sseStream?channel=${channel} HTTP/1.1"),
        "{text}"
    );
    assert!(!text.contains("Accept-Encoding"), "{text}");
    assert!(text.contains("Host: ${host}"), "{text}");
}

#[test]
fn websocket_echo_becomes_frames_without_extension_offers() {
    let text = block_on(async {
        let recorder = Recorder::start(settings(out("websocket")))
            .await
            .expect("start");
        let host = recorder.addr().to_string();
        let mut ws = connect(&recorder).await;
        let upgrade = format!(
            "GET /testSocket HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        );
        send(&mut ws, upgrade.as_bytes()).await;
        let head = read_until(&mut ws, b"\r\n\r\n").await;
        assert!(
            !String::from_utf8_lossy(&head).contains("permessage-deflate"),
            "the offer went up"
        );
        // A masked text frame "hi" (RFC 6455 §5.3), key 01 02 03 04.
        send(&mut ws, &[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]).await;
        read_until(&mut ws, "您的信息是hi".as_bytes()).await;
        // Close 1000, masked with a zero key.
        send(&mut ws, &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await;
        read_until(&mut ws, &[0x88, 0x02, 0x03, 0xe8]).await;
        recorder.stop().await.expect("stop")
    });
    let text = replays_as_its_snapshot(text);
    assert!(
        text.contains("- frame: { to: testSocket, opcode: text, text: \"hi\" }"),
        "{text}"
    );
    assert!(
        text.contains("- frame: { to: testSocket, opcode: close, code: 1000 }"),
        "{text}"
    );
    assert!(text.contains("until: { frames: 1 }"), "{text}");
    assert!(!text.contains("Sec-WebSocket-Extensions"), "{text}");
}

#[test]
fn polling_techniques_become_heads_bodies_and_chunks() {
    let text = block_on(async {
        let recorder = Recorder::start(settings(out("polling")))
            .await
            .expect("start");
        let host = recorder.addr().to_string();
        let mut publisher = connect(&recorder).await;
        let mut forever = connect(&recorder).await;
        let request =
            format!("GET /iframeLongConnection?channel=p HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut forever, request.as_bytes()).await;
        read_until(&mut forever, b"-->\n\r\n").await;
        publish(&mut publisher, &host, "p", "one").await;
        read_until(&mut forever, b"</script>\n\r\n").await;
        let mut poll = connect(&recorder).await;
        let request = format!("GET /poll?channel=p&since=0 HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut poll, request.as_bytes()).await;
        read_until(&mut poll, b"]}").await;
        // A long poll after the last id it saw waits for the next publish.
        let request =
            format!("GET /longpoll?channel=p&since=1&timeout=30 HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut poll, request.as_bytes()).await;
        publish(&mut publisher, &host, "p", "two").await;
        read_until(&mut poll, b"two\"}]}").await;
        let request = format!("GET /jsonp?channel=p&callback=cb HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut poll, request.as_bytes()).await;
        read_until(&mut poll, b");").await;
        let request = format!("GET /iframe?channel=p HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut poll, request.as_bytes()).await;
        read_until(&mut poll, b"</html>").await;
        recorder.stop().await.expect("stop")
    });
    let text = replays_as_its_snapshot(text);
    assert!(
        text.contains("- read: { from: poll, until: body }"),
        "{text}"
    );
    assert!(
        text.contains("- capture: { name: last, on: poll, json: \"/last\", redact: false }"),
        "{text}"
    );
    assert!(
        text.contains("GET /longpoll?channel=${channel}&since=${last}&timeout=30 HTTP/1.1"),
        "{text}"
    );
    assert!(
        text.contains("- read: { from: iframeLongConnection, until: { chunks: "),
        "{text}"
    );
}

#[test]
fn cookies_bearer_tokens_and_key_parameters_are_never_written() {
    let out = out("secrets");
    let outcome = block_on(async {
        let recorder = Recorder::start(settings(out.clone())).await.expect("start");
        let host = recorder.addr().to_string();
        let mut poll = connect(&recorder).await;
        let request = format!(
            "GET /poll?channel=s&api_key=k-4242-secret HTTP/1.1\r\nHost: {host}\r\n\
             Cookie: session=c00kie-value\r\nAuthorization: Bearer opaque-bearer-value\r\n\
             X-Api-Key: key-value-1234\r\nReferer: http://{host}/app?access_token=ref-secret-999\r\n\r\n"
        );
        send(&mut poll, request.as_bytes()).await;
        read_until(&mut poll, b"]}").await;
        recorder.stop().await.expect("stop")
    });
    let Outcome::Written { spec, snapshot } = &outcome else {
        panic!("{outcome:?}");
    };
    let written = std::fs::read_to_string(spec).expect("spec")
        + &std::fs::read_to_string(snapshot).expect("snapshot");
    for secret in [
        "c00kie-value",
        "opaque-bearer-value",
        "k-4242-secret",
        "key-value-1234",
    ] {
        assert!(!written.contains(secret), "{secret} written:\n{written}");
    }
    for variable in [
        "${COOKIE}",
        "${AUTHORIZATION}",
        "${API_KEY}",
        "${X_API_KEY}",
    ] {
        assert!(written.contains(variable), "{variable} missing:\n{written}");
    }
    // Fail closed: replayed without the values, the spec stops at the first one.
    let loaded = longconn::spec::load(spec).expect("reads back");
    let error = block_on(runner::replay(&loaded, &Target::Embedded)).expect_err("no values");
    assert!(
        error.to_string().contains("unknown variable ${API_KEY}"),
        "{error}"
    );
}

#[test]
fn a_jwt_shaped_value_writes_nothing_unless_allowed() {
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl";
    for allowed in [false, true] {
        let out = out(if allowed { "jwt_allowed" } else { "jwt" });
        let result = block_on(async {
            let recorder = Recorder::start(Settings {
                allow_secrets: allowed,
                ..settings(out.clone())
            })
            .await
            .expect("start");
            let host = recorder.addr().to_string();
            let mut poll = connect(&recorder).await;
            let request =
                format!("GET /poll?channel=j HTTP/1.1\r\nHost: {host}\r\nX-Trace: {JWT}\r\n\r\n");
            send(&mut poll, request.as_bytes()).await;
            read_until(&mut poll, b"]}").await;
            recorder.stop().await
        });
        match (allowed, result) {
            (false, Err(RecordError::Secret { line, .. })) => {
                assert!(line > 0);
                assert!(!out.exists(), "nothing is written");
            }
            (true, Ok(Outcome::Written { spec, .. })) => {
                assert!(std::fs::read_to_string(spec).expect("spec").contains(JWT));
            }
            (_, other) => panic!("allowed={allowed}: {other:?}"),
        }
    }
}

/// A server nobody here wrote, in miniature: every answer carries a new request number N in a
/// header, and a body of `request N` (or, with `lines`, N lines). Its address.
async fn counting_upstream(lines: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("addr").to_string();
    let numbers = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    async_std::task::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let numbers = numbers.clone();
            async_std::task::spawn(async move {
                let mut buffer = [0u8; 1024];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match async_std::io::ReadExt::read(&mut stream, &mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let number = numbers.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let body = if lines {
                    "line\n".repeat(number as usize)
                } else {
                    format!("request {number}")
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-request: {number}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = common::read_to_eof(&mut stream).await;
            });
        }
    });
    upstream
}

/// Records one `GET /count` on `upstream`.
async fn record_count(upstream: &str, out: PathBuf) -> Outcome {
    let recorder = Recorder::start(Settings {
        upstream: Some(TargetUrl::parse(upstream).expect("url")),
        ..settings(out)
    })
    .await
    .expect("start");
    let mut client = connect(&recorder).await;
    send(&mut client, b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n").await;
    read_until(&mut client, b"line\n").await;
    recorder.stop().await.expect("stop")
}

#[test]
fn values_that_vary_between_replays_are_redacted_and_checked_again() {
    let out = out("varies");
    let (outcome, upstream) = block_on(async {
        let upstream = counting_upstream(false).await;
        let recorder = Recorder::start(Settings {
            upstream: Some(TargetUrl::parse(&upstream).expect("url")),
            ..settings(out.clone())
        })
        .await
        .expect("start");
        let mut client = connect(&recorder).await;
        send(&mut client, b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n").await;
        read_until(&mut client, b"request 1").await;
        (recorder.stop().await.expect("stop"), upstream)
    });
    let text = replays_against(
        outcome,
        &Target::Remote(runner::Remote {
            default: Some(TargetUrl::parse(&upstream).expect("url")),
            named: Vec::new(),
        }),
    );
    assert!(
        text.contains("# redact: varies1, varies2 added by the recorder: two replays differed"),
        "{text}"
    );
    assert!(text.contains("name: varies1 }"), "{text}");
}

#[test]
fn an_upstream_that_answers_differently_each_time_gets_a_draft() {
    let out = out("draft");
    let outcome = block_on(async {
        let upstream = counting_upstream(true).await;
        record_count(&upstream, out.clone()).await
    });
    let Outcome::Draft { path, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(path, &longconn::record::draft_path(&out));
    assert!(!out.exists(), "an unstable spec is not written");
    let draft = std::fs::read_to_string(path).expect("draft");
    assert!(
        draft.contains("two replays of this recording did not agree"),
        "{draft}"
    );
    assert!(draft.contains("x-request: "), "{draft}");
    assert!(draft.contains("redact:\n  - { pattern: "), "{draft}");
    longconn::spec::load(path).expect("the draft reads back");
}

#[test]
fn excluded_paths_are_proxied_but_not_written() {
    let text = block_on(async {
        let recorder = Recorder::start(Settings {
            filters: Filters {
                include: Vec::new(),
                exclude: vec!["/demo/*".into()],
            },
            ..settings(out("filters"))
        })
        .await
        .expect("start");
        let host = recorder.addr().to_string();
        let mut page = connect(&recorder).await;
        let request = format!("GET /demo/sse.html HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut page, request.as_bytes()).await;
        read_until(&mut page, b"</html>").await;
        let request = format!("GET /poll?channel=f HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut page, request.as_bytes()).await;
        read_until(&mut page, b"]}").await;
        recorder.stop().await.expect("stop")
    });
    let text = replays_as_its_snapshot(text);
    assert!(!text.contains("/demo/"), "{text}");
    assert!(
        text.contains("GET /poll?channel=${channel} HTTP/1.1"),
        "{text}"
    );
}

/// A child process killed when the test ends, pass or fail.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The aiohttp server of `tests/thirdparty/`, on a free port; with a certificate and its key,
/// serving https and wss. Killed when the test ends.
fn aiohttp(tls: Option<(&Path, &Path)>) -> (Child, u16) {
    use std::process::{Command, Stdio};
    let importable = Command::new("python3")
        .args(["-c", "import aiohttp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !importable {
        common::missing_tool(
            "python3 with aiohttp not found: run tests/run (or python3 -m pip install -r tests/requirements.txt)",
        );
    }
    let port = common::free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/thirdparty/aiohttp_server.py");
    let mut command = Command::new("python3");
    command.arg(&script).arg(port.to_string());
    if let Some((cert, key)) = tls {
        command.arg(cert).arg(key);
    }
    let mut child = Child(
        command
            .stdout(Stdio::null())
            .spawn()
            .expect("start python3"),
    );
    // Waiting for another process to listen is the one wait here (as tests/thirdparty.rs does).
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            child.0.try_wait().ok().flatten().is_none(),
            "the aiohttp server exited"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "aiohttp did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (child, port)
}

/// A scratch folder with a certificate for `localhost` signed by a fresh CA: (folder, CA file,
/// certificate file, key file).
fn certificates(name: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("record-tls")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let ca = Authority::new("longconn record test CA");
    let (cert, key) = ca.sign(&["localhost"], false);
    let files = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&files.0, &ca.pem).expect("write the CA");
    std::fs::write(&files.1, cert).expect("write the certificate");
    std::fs::write(&files.2, key).expect("write the key");
    (dir, files.0, files.1, files.2)
}

/// Records a login, an SSE stream and an authorized publish on the aiohttp server at `url`
/// (reached with `tls`); the written spec's text, after it replays as its snapshot twice more.
fn record_aiohttp(name: &str, url: TargetUrl, tls: Option<Tls>) -> String {
    let mut token = String::new();
    let outcome = block_on(async {
        let recorder = Recorder::start(Settings {
            upstream: Some(url.clone()),
            tls: tls.clone(),
            ..settings(out(name))
        })
        .await
        .expect("start");
        let host = recorder.addr().to_string();
        let mut api = connect(&recorder).await;
        let login =
            format!("POST /app/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
        send(&mut api, login.as_bytes()).await;
        let answer = String::from_utf8_lossy(&read_until(&mut api, b"\"}").await).into_owned();
        token = answer
            .rsplit("\"token\": \"")
            .next()
            .and_then(|rest| rest.split('"').next())
            .expect("a token")
            .to_string();
        let mut events = connect(&recorder).await;
        let open = format!("GET /app/events?channel=room HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut events, open.as_bytes()).await;
        read_until(&mut events, b"retry: 1000\n\n\r\n").await;
        let message = format!(
            "POST /app/messages?channel=room HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: 5\r\n\r\nhello"
        );
        send(&mut api, message.as_bytes()).await;
        read_until(&mut api, b"}").await;
        read_until(&mut events, b"data: hello\n\n\r\n").await;
        recorder.stop().await.expect("stop")
    });
    let Outcome::Written { spec, snapshot } = &outcome else {
        panic!("{outcome:?}");
    };
    let written = std::fs::read_to_string(spec).expect("spec")
        + &std::fs::read_to_string(snapshot).expect("snapshot");
    assert!(token.len() >= 16 && !written.contains(&token), "{written}");
    let text = replays_against_with(
        outcome,
        &Target::Remote(runner::Remote {
            default: Some(url),
            named: Vec::new(),
        }),
        &Options {
            tls,
            ..Options::default()
        },
    );
    assert!(
        text.contains("- capture: { name: token, on: login, json: \"/token\" }"),
        "{text}"
    );
    assert!(text.contains("Authorization: Bearer ${token}"), "{text}");
    assert!(
        text.contains("GET /events?channel=${channel} HTTP/1.1"),
        "{text}"
    );
    text
}

#[test]
fn an_aiohttp_server_is_recorded_with_its_token_captured_and_replays_the_same() {
    let (_server, port) = aiohttp(None);
    let url = TargetUrl::parse(&format!("http://127.0.0.1:{port}/app")).expect("url");
    record_aiohttp("aiohttp", url, None);
}

#[test]
fn an_https_upstream_is_recorded_and_replayed_over_tls() {
    let (dir, ca, cert, key) = certificates("https");
    let (_server, port) = aiohttp(Some((&cert, &key)));
    // The CA is given as --cacert: the machine's roots do not hold it.
    let tls = Tls::new(Some(&ca), false).expect("the CA reads");
    let url = TargetUrl::parse(&format!("https://localhost:{port}/app")).expect("url");
    let text = record_aiohttp("aiohttp_https", url, Some(tls));
    assert!(
        text.contains(&format!(
            "--target https://localhost:{port}/app (--cacert FILE"
        )),
        "{text}"
    );
    // Both replays went over TLS: the snapshot notes each handshake.
    let snapshot = std::fs::read_to_string(snapshot::locate(&out_path("aiohttp_https")).pending())
        .expect("the pending snapshot");
    assert!(
        snapshot.contains("* tls: TLSv1.3, alpn http/1.1"),
        "{snapshot}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_upstream_certificate_nobody_trusts_is_refused_with_what_is_wrong() {
    let (dir, _ca, cert, key) = certificates("untrusted");
    let (_server, port) = aiohttp(Some((&cert, &key)));
    let foreign = dir.join("foreign.pem");
    std::fs::write(&foreign, Authority::new("someone else's CA").pem).expect("write");
    let upstream = format!("https://localhost:{port}/app");
    let expected = format!(
        "upstream: TLS handshake with localhost:{port} failed: the certificate's issuer is \
         unknown (not among the machine's roots or --cacert; --insecure skips the check)"
    );
    let result = block_on(Recorder::start(Settings {
        upstream: Some(TargetUrl::parse(&upstream).expect("url")),
        tls: Some(Tls::new(Some(&foreign), false).expect("the CA reads")),
        ..settings(out("untrusted"))
    }));
    match result {
        Err(error @ RecordError::Handshake(_)) => assert_eq!(error.to_string(), expected),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a certificate nobody trusts was taken"),
    }
    // The command line: exit 3, the same words; with --insecure the recorder starts.
    let out = out("untrusted_cli");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_longconn"))
        .args(["record", "--listen", "127.0.0.1:0", "--upstream", &upstream])
        .arg("--out")
        .arg(&out)
        .arg("--cacert")
        .arg(&foreign)
        .output()
        .expect("run longconn record");
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("longconn record: {expected}")),
        "{stderr}"
    );
    assert!(!out.exists());
    let insecure = block_on(Recorder::start(Settings {
        upstream: Some(TargetUrl::parse(&upstream).expect("url")),
        tls: Some(Tls::new(None, true).expect("insecure")),
        ..settings(out.clone())
    }))
    .expect("--insecure takes any certificate");
    drop(insecure);
    let _ = std::fs::remove_dir_all(dir);
}

/// One HTTP answer on `stream`: its head, then the `Content-Length` bytes it announces.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut got = read_until(stream, b"\r\n\r\n").await;
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let length: usize = head
        .split("\r\ncontent-length: ")
        .nth(1)
        .and_then(|rest| rest.split('\r').next())
        .and_then(|n| n.parse().ok())
        .expect("a content-length");
    let mut buf = [0u8; 4096];
    while got.len() < end + length {
        let n = common::read_some(stream, &mut buf).await;
        assert!(n > 0, "closed in a body");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The value of header `name` in an answer's head.
fn header_value(answer: &str, name: &str) -> String {
    answer
        .split("\r\n")
        .find_map(|line| {
            let (n, v) = line.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then(|| v.to_string())
        })
        .unwrap_or_else(|| panic!("no {name} in {answer}"))
}

/// Starts a recorder of `name` with Nchan as its upstream.
async fn record_nchan(nchan: &Nchan, name: &str) -> Recorder {
    let url = TargetUrl::parse(&format!("http://127.0.0.1:{}", nchan.plain)).expect("url");
    Recorder::start(Settings {
        upstream: Some(url),
        ..settings(out(name))
    })
    .await
    .expect("start")
}

/// `POST /publish?channel=CHANNEL` to Nchan through the proxy; waits for its answer.
async fn publish_nchan(stream: &mut TcpStream, host: &str, channel: &str, data: &str) {
    let request = format!(
        "POST /publish?channel={channel} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{data}",
        data.len()
    );
    send(stream, request.as_bytes()).await;
    let answer = read_answer(stream).await;
    assert!(answer.contains("last message id: "), "{answer}");
}

#[test]
fn nchan_sse_websocket_and_long_poll_are_recorded_into_stable_specs() {
    let nchan = Nchan::start();
    let target = Target::Remote(runner::Remote {
        default: Some(TargetUrl::parse(&format!("http://127.0.0.1:{}", nchan.plain)).expect("url")),
        named: Vec::new(),
    });
    // EventSource, with a reconnect that names the last id it saw.
    let sse = block_on(async {
        let recorder = record_nchan(&nchan, "nchan_sse").await;
        let host = recorder.addr().to_string();
        let mut publisher = connect(&recorder).await;
        let mut sse = connect(&recorder).await;
        let open = format!(
            "GET /sseStream?channel=room HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
        );
        send(&mut sse, open.as_bytes()).await;
        read_until(&mut sse, b": hi\n\n").await;
        publish_nchan(&mut publisher, &host, "room", "one").await;
        let got =
            String::from_utf8_lossy(&read_until(&mut sse, b"data: one\n\n").await).into_owned();
        let id = got
            .split("id: ")
            .nth(1)
            .and_then(|rest| rest.split('\n').next())
            .expect("an id")
            .to_string();
        drop(sse);
        let mut again = connect(&recorder).await;
        let reopen = format!(
            "GET /sseStream?channel=room HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nLast-Event-ID: {id}\r\n\r\n"
        );
        send(&mut again, reopen.as_bytes()).await;
        read_until(&mut again, b": hi\n\n").await;
        publish_nchan(&mut publisher, &host, "room", "two").await;
        read_until(&mut again, b"data: two\n\n").await;
        recorder.stop().await.expect("stop")
    });
    let sse = replays_against(sse, &target);
    assert!(sse.contains("Last-Event-ID: ${last_event_id}"), "{sse}");
    assert!(sse.contains("name: unix_time }"), "{sse}");
    // WebSocket: a publish arrives as a text frame; the client closes. (A channel of its own:
    // Nchan hands a new subscriber the messages a channel holds, and replays use fresh ones.)
    let ws = block_on(async {
        let recorder = record_nchan(&nchan, "nchan_ws").await;
        let host = recorder.addr().to_string();
        let mut publisher = connect(&recorder).await;
        let mut ws = connect(&recorder).await;
        let upgrade = format!(
            "GET /ws?channel=chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        send(&mut ws, upgrade.as_bytes()).await;
        read_until(&mut ws, b"\r\n\r\n").await;
        publish_nchan(&mut publisher, &host, "chat", "three").await;
        read_until(&mut ws, b"three").await;
        send(&mut ws, &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await;
        read_until(&mut ws, &[0x88]).await;
        recorder.stop().await.expect("stop")
    });
    let ws = replays_against(ws, &target);
    assert!(
        ws.contains("- frame: { to: ws, opcode: close, code: 1000 }"),
        "{ws}"
    );
    // Long polling as Nchan's client does it: the next request names the last answer's
    // Last-Modified and Etag.
    let lp = block_on(async {
        let recorder = record_nchan(&nchan, "nchan_longpoll").await;
        let host = recorder.addr().to_string();
        let mut publisher = connect(&recorder).await;
        let mut poll = connect(&recorder).await;
        let request = format!("GET /longpoll?channel=poll HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut poll, request.as_bytes()).await;
        publish_nchan(&mut publisher, &host, "poll", "four").await;
        let answer = read_answer(&mut poll).await;
        assert!(answer.ends_with("four"), "{answer}");
        let request = format!(
            "GET /longpoll?channel=poll HTTP/1.1\r\nHost: {host}\r\nIf-Modified-Since: {}\r\nIf-None-Match: {}\r\n\r\n",
            header_value(&answer, "last-modified"),
            header_value(&answer, "etag"),
        );
        send(&mut poll, request.as_bytes()).await;
        publish_nchan(&mut publisher, &host, "poll", "five").await;
        let answer = read_answer(&mut poll).await;
        assert!(answer.ends_with("five"), "{answer}");
        recorder.stop().await.expect("stop")
    });
    let lp = replays_against(lp, &target);
    assert!(lp.contains("If-Modified-Since: ${last_modified}"), "{lp}");
    assert!(lp.contains("If-None-Match: ${etag}"), "{lp}");
    assert!(
        lp.contains("- capture: { name: last_modified, on: longpoll, header: last-modified, redact: false }"),
        "{lp}"
    );
    assert!(lp.contains("name: http_date }"), "{lp}");
}

#[test]
fn chromium_on_three_demo_pages_is_recorded_into_specs_that_replay() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        common::missing_tool(format_args!(
            "the browser driver is not installed in {}: run tests/run (or `npm ci` there)",
            dir.display()
        ));
    }
    if !Path::new("/usr/bin/chromium").exists() {
        common::missing_tool("no Chromium at /usr/bin/chromium: run tests/run");
    }
    // The pages, their scripts and the favicon are proxied, not written.
    let start = |name: &str| {
        block_on(Recorder::start(Settings {
            filters: Filters {
                include: Vec::new(),
                exclude: vec!["/demo/*".into(), "/favicon.ico".into()],
            },
            ..settings(out(name))
        }))
        .expect("start")
    };
    let (sse, ws, lp) = (
        start("browser_sse"),
        start("browser_ws"),
        start("browser_longpoll"),
    );
    let base = |recorder: &Recorder| format!("http://{}", recorder.addr());
    let plan = serde_json::json!({
        "scenarios": [
            {"name": "sse", "kind": "reconnect", "ready": "testEvent",
             "url": format!("{}/demo/sse.html?channel=rb", base(&sse)),
             "publish": format!("{}/publish?channel=rb", base(&sse)),
             "messages": ["rb 1", "rb 2"], "expect": ["rb 1", "rb 2", "rb 3"]},
            {"name": "echo", "kind": "echo", "text": "hello 你好",
             "url": format!("{}/demo/websocket-echo.html", base(&ws))},
            {"name": "long-poll", "kind": "deliver", "ready": "load",
             "url": format!("{}/demo/long-poll.html?channel=lp", base(&lp)),
             "publish": format!("{}/publish?channel=lp", base(&lp)),
             "messages": ["lp 1", "lp 2"]},
        ],
    });
    let mut driver = Child(
        Command::new("node")
            .arg(dir.join("drive.mjs"))
            .arg(plan.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| common::missing_tool(format_args!("cannot run `node`: {e}"))),
    );
    let mut stdin = driver.0.stdin.take().expect("piped");
    let stdout = BufReader::new(driver.0.stdout.take().expect("piped"));
    let mut results = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(name) = line.strip_prefix("AWAIT ") {
            // The network drops the stream; a message is published while the page is away.
            assert_eq!(sse.cut("/sseStream"), 1, "one stream to cut");
            block_on(async {
                let host = sse.addr().to_string();
                publish(&mut connect(&sse).await, &host, "rb", "rb 3").await;
            });
            writeln!(stdin, "GO {name}").expect("driver stdin");
        } else if let Some(result) = line.strip_prefix("RESULT ") {
            let result: serde_json::Value = serde_json::from_str(result).expect("json");
            assert_eq!(result["ok"], true, "{result:#}");
            results.push(result);
            if results.len() == 3 {
                break;
            }
        } else if line.starts_with("FATAL") {
            panic!("{line}");
        }
    }
    assert_eq!(results.len(), 3, "the driver ended early: {results:#?}");
    let stop = |recorder: Recorder| block_on(recorder.stop()).expect("stop");
    let sse = replays_as_its_snapshot(stop(sse));
    assert!(sse.contains("Last-Event-ID: ${last_event_id}"), "{sse}");
    assert!(!sse.contains("GET /demo/"), "{sse}");
    let ws = replays_as_its_snapshot(stop(ws));
    assert!(ws.contains("text: \"hello 你好\""), "{ws}");
    assert!(!ws.contains("permessage-deflate"), "{ws}");
    let lp = replays_as_its_snapshot(stop(lp));
    assert!(lp.contains("&since=${last}&timeout=25"), "{lp}");
    // Fresh channels per replay: what makes them replay against a running serve twice.
    for text in [&sse, &lp] {
        assert!(text.contains("?channel=${channel}"), "{text}");
        assert!(text.contains("name: id, target: true }"), "{text}");
    }
}

#[test]
fn exit_codes_are_runs() {
    use std::process::Command;
    let record = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_longconn"))
            .arg("record")
            .args(args)
            .output()
            .expect("run longconn record")
    };
    let bad = record(&["--out", "specs/x.txt", "--listen", "127.0.0.1:0"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a spec is a .yaml file"));
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a port nobody listens on once dropped");
    let upstream = format!("http://{refused}");
    let out = out("unreachable");
    let gone = record(&[
        "--out",
        &out.to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
    ]);
    assert_eq!(gone.status.code(), Some(3), "{gone:?}");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("could not be reached"),
        "{gone:?}"
    );
    let tls = record(&[
        "--out",
        &out.to_string_lossy(),
        "--upstream",
        &format!("https://{refused}"),
        "--insecure",
    ]);
    assert_eq!(tls.status.code(), Some(3), "{tls:?}");
    assert!(
        String::from_utf8_lossy(&tls.stderr).contains("could not be reached"),
        "{tls:?}"
    );
    let cacert = record(&[
        "--out",
        &out.to_string_lossy(),
        "--upstream",
        &format!("https://{refused}"),
        "--cacert",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(cacert.status.code(), Some(2), "{cacert:?}");
    assert!(
        String::from_utf8_lossy(&cacert.stderr).contains("--cacert /nonexistent/ca.pem: "),
        "{cacert:?}"
    );
    assert!(!out.exists());
}

#[test]
fn ticker_pushes_follow_their_ticks() {
    let text = block_on(async {
        let recorder = Recorder::start(settings(out("ticker")))
            .await
            .expect("start");
        let host = recorder.addr().to_string();
        // Quiet ticks before anything listens still publish: they merge into one step.
        recorder.tick().await;
        recorder.tick().await;
        let mut sse = connect(&recorder).await;
        let open = format!("GET /sseStream HTTP/1.1\r\nHost: {host}\r\n\r\n");
        send(&mut sse, open.as_bytes()).await;
        read_until(&mut sse, b"testEvent").await;
        for id in [3, 4] {
            recorder.tick().await;
            read_until(&mut sse, format!("id: {id}\n").as_bytes()).await;
        }
        recorder.stop().await.expect("stop")
    });
    let text = replays_as_its_snapshot(text);
    assert!(
        text.contains("GET /sseStream HTTP/1.1"),
        "the ticker's channel stays: {text}"
    );
    let steps: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("tick") || line.contains("sse_events"))
        .collect();
    assert_eq!(
        steps,
        [
            "  - tick: 2s",
            "  - read: { from: sseStream, until: { sse_events: 1 } }",
            "  - tick: 1s",
            "  - read: { from: sseStream, until: { sse_events: 1 } }",
            "  - tick: 1s",
            "  - read: { from: sseStream, until: { sse_events: 1 } }",
        ],
        "{text}"
    );
}
