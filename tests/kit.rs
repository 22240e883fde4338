//! The kit's failures, each a claim: a step that meets what the spec did not ask for fails with a
//! message that says what arrived. Embedded-server cases replay inline specs; the hostile-peer
//! cases answer from a plain socket on 127.0.0.1:0 given as `--target`.
//!
//! - `request_fails_on_a_status_the_spec_does_not_name`
//! - `publish_fails_on_a_status_the_spec_does_not_name`
//! - `a_handshake_fails_on_a_status_other_than_101_unless_an_expect_names_it`
//! - `a_raw_read_of_a_head_fails_on_a_status_the_spec_does_not_name`
//! - `until_silence_moves_the_manual_clock_and_fails_with_what_arrived`
//! - `until_silence_against_a_target_fails_with_the_bytes_that_came`
//! - `an_unknown_variable_fails_the_step_naming_it`
//! - `var_values_reach_the_wire`
//! - `until_chunks_on_a_body_that_is_not_chunked_says_so`
//! - `expect_frame_text_fails_on_other_text`
//! - `expect_sse_retry_fails_on_another_value`
//! - `a_wrong_sec_websocket_accept_fails_the_handshake`
//! - `a_target_path_prefix_goes_before_every_request_path`
//! - `sse_events_ended_by_a_lone_cr_are_read_before_a_pause`
//! - `a_peer_flooding_blank_lines_meets_the_transcript_bound`
//! - `a_peer_flooding_100_continue_meets_the_interim_and_buffer_bounds`
//! - `a_body_that_never_ends_times_out_the_whole_request`
//! - `a_peer_that_never_reads_times_out_send_and_frame`

use async_std::io::{ReadExt, WriteExt};
use async_std::net::TcpListener;
use longconn::runner::{self, Options, Target};

fn spec(steps: &str) -> longconn::spec::Spec {
    let source = format!("description: d\nsteps:\n{steps}");
    match longconn::spec::parse("inline.yaml", &source) {
        Ok(spec) => spec,
        Err(error) => panic!("{error}"),
    }
}

/// Replays on the embedded server; the error text, or the transcript when it passed.
fn outcome(steps: &str, options: &Options) -> Result<String, String> {
    let recording = async_std::task::block_on(runner::record_with(
        &spec(steps),
        &Target::Embedded,
        options,
    ));
    match recording.result {
        Ok(()) => Ok(recording.transcript.to_string()),
        Err(error) => Err(error.to_string()),
    }
}

fn failure(steps: &str) -> String {
    match outcome(steps, &Options::default()) {
        Ok(transcript) => panic!("should fail:\n{transcript}"),
        Err(error) => error,
    }
}

#[test]
fn request_fails_on_a_status_the_spec_does_not_name() {
    let error = failure("  - request: { path: /nowhere }\n");
    assert!(
        error.contains("unexpected status 404 (expected a 2xx"),
        "{error}"
    );
    let error = failure("  - request: { path: /poll, status: 201 }\n");
    assert!(
        error.contains("unexpected status 200 (expected 201"),
        "{error}"
    );
    assert!(outcome(
        "  - request: { path: /nowhere, status: 404 }\n",
        &Options::default()
    )
    .is_ok());
}

#[test]
fn publish_fails_on_a_status_the_spec_does_not_name() {
    let error = failure("  - publish: { channel: c, event: \"a\\nb\", data: x }\n");
    assert!(error.contains("unexpected status 400"), "{error}");
    assert!(outcome(
        "  - publish: { channel: c, event: \"a\\nb\", data: x, status: 400 }\n",
        &Options::default()
    )
    .is_ok());
}

#[test]
fn a_handshake_fails_on_a_status_other_than_101_unless_an_expect_names_it() {
    let error = failure("  - open: ws\n  - handshake: { on: ws, path: /nowhere }\n");
    assert!(
        error.contains("inline.yaml:4: handshake on ws GET /nowhere: unexpected status 404 (expected 101; follow the step with `expect: { status: 404 }`"),
        "{error}"
    );
    // A foreign Origin gets 403: named by the expect that follows, the step passes.
    let named = "  - open: ws\n  - handshake: { on: ws, path: /echo, origin: \"http://evil.example\" }\n  - expect: { header: { content-length: \"19\" } }\n  - expect: { status: 403 }\n";
    assert!(outcome(named, &Options::default()).is_ok());
    // An expect that names another status does not excuse it.
    let error = failure(&named.replace("403 }", "401 }"));
    assert!(
        error.contains("unexpected status 403 (expected 401"),
        "{error}"
    );
}

#[test]
fn a_raw_read_of_a_head_fails_on_a_status_the_spec_does_not_name() {
    let get = |path: &str| {
        format!(
            "  - open: c\n  - send: {{ to: c, raw: 'GET {path} HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n' }}\n  - read: {{ from: c, until: head }}\n"
        )
    };
    let error = failure(&get("/nowhere"));
    assert!(
        error.contains(
            "inline.yaml:5: read from c until head: unexpected status 404 (expected a 1xx or 2xx"
        ),
        "{error}"
    );
    assert!(outcome(&get("/poll"), &Options::default()).is_ok());
    let named = format!("{}  - expect: {{ status: 404 }}\n", get("/nowhere"));
    assert!(outcome(&named, &Options::default()).is_ok());
    // A later read on the connection ends the search: its expect names its own head.
    let later = format!(
        "{}  - send: {{ to: c, raw: 'GET /poll HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n' }}\n  - expect: {{ status: 404 }}\n",
        get("/nowhere")
    );
    assert!(failure(&later).contains("unexpected status 404"));
}

#[test]
fn until_silence_moves_the_manual_clock_and_fails_with_what_arrived() {
    let stream = "  - open: sse\n  - send:\n      to: sse\n      http: |\n        GET /sseStream?channel=quiet HTTP/1.1\n        Host: localhost\n  - read: { from: sse, until: head }\n  - read: { from: sse, until: { sse_events: 1 } }\n";
    // The heartbeat comes every 25s of the manual clock: 24s are silent, and the clock moved.
    let quiet = outcome(
        &format!("{stream}  - read: {{ from: sse, until: {{ silence: 24s }} }}\n  - tick: 1s\n"),
        &Options::default(),
    )
    .expect("24s without a heartbeat are silent");
    assert!(
        quiet.contains("* silent for 24s\n") && quiet.contains("(clock 2024-01-01T00:00:25Z)"),
        "{quiet}"
    );
    // 30s take in the heartbeat: the step fails and shows it.
    let error = failure(&format!(
        "{stream}  - read: {{ from: sse, until: {{ silence: 30s }} }}\n"
    ));
    assert!(
        error.contains("read from sse until silence for 30s: expected silence for 30s, but ")
            && error.contains(" bytes arrived: "),
        "{error}"
    );
}

#[test]
fn until_silence_against_a_target_fails_with_the_bytes_that_came() {
    async_std::task::block_on(async {
        let (target, _peer) =
            one_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await;
        let spec = spec(
            "  - open: c\n  - send: { to: c, raw: 'GET / HTTP/1.1\\r\\n\\r\\n' }\n  - read: { from: c, until: { silence: 5s } }\n",
        );
        let target = Target::parse(&target).expect("target");
        let recording = runner::record_with(&spec, &target, &Options::default()).await;
        let error = recording.result.expect_err("bytes arrived").to_string();
        assert!(
            error.contains("expected silence for 5s, but 43 bytes arrived: \"HTTP/1.1 200 OK"),
            "{error}"
        );
        assert!(recording.transcript.to_string().contains("< hello\n"));
    });
}

#[test]
fn an_unknown_variable_fails_the_step_naming_it() {
    let error = failure("  - request: { path: \"/poll?channel=${LONGCONN_SURELY_UNSET_42}\" }\n");
    assert!(
        error.contains("unknown variable ${LONGCONN_SURELY_UNSET_42}"),
        "{error}"
    );
}

#[test]
fn var_values_reach_the_wire() {
    let options = Options {
        vars: vec![("room".into(), "lobby".into())],
        ..Options::default()
    };
    let transcript = outcome(
        "  - request: { method: POST, path: \"/publish?channel=${room}\", body: hi }\n  - request: { path: \"/poll?channel=${room}\" }\n  - expect: { body_contains: '\"data\":\"hi\"' }\n",
        &options,
    )
    .expect("passes");
    assert!(
        transcript.contains("> GET /poll?channel=lobby HTTP/1.1"),
        "{transcript}"
    );
}

#[test]
fn until_chunks_on_a_body_that_is_not_chunked_says_so() {
    let error = failure(
        "  - open: c\n  - send: { to: c, http: \"GET /poll HTTP/1.1\\nHost: localhost\" }\n  - read: { from: c, until: head }\n  - read: { from: c, until: { chunks: 1 } }\n",
    );
    assert!(
        error.contains("the body is not chunked: its length is given by Content-Length"),
        "{error}"
    );
}

#[test]
fn expect_frame_text_fails_on_other_text() {
    let error = failure(
        "  - open: ws\n  - handshake: { on: ws, path: /echo }\n  - frame: { to: ws, opcode: text, text: abc }\n  - read: { from: ws, until: { frames: 1 } }\n  - expect: { frame: { text: abd } }\n",
    );
    assert!(
        error.contains("expected frame text \"abd\", got 3 payload bytes: \"abc\""),
        "{error}"
    );
}

#[test]
fn expect_sse_retry_fails_on_another_value() {
    let error = failure(
        "  - open: s\n  - send: { to: s, http: \"GET /sseStream HTTP/1.1\\nHost: localhost\" }\n  - read: { from: s, until: head }\n  - read: { from: s, until: { sse_events: 1 } }\n  - expect: { sse: { retry: 3000 } }\n",
    );
    assert!(
        error.contains("expected sse retry 3000, got retry 10000"),
        "{error}"
    );
}

/// A peer that answers the first request with `answer`, and records what it got. Connections
/// that close before sending anything (`longconn run` probes the target first) are skipped.
async fn one_answer(answer: &'static [u8]) -> (String, async_std::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = async_std::task::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut got = Vec::new();
            let mut buffer = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buffer[..n]),
                }
            }
            if got.is_empty() {
                continue;
            }
            let _ = stream.write_all(answer).await;
            return got;
        }
    });
    (addr, peer)
}

#[test]
fn a_wrong_sec_websocket_accept_fails_the_handshake() {
    async_std::task::block_on(async {
        let (addr, peer) = one_answer(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
        )
        .await;
        let target = Target::parse(&format!("ws://{addr}")).expect("target");
        let recording = runner::record(
            &spec("  - open: ws\n  - handshake: { on: ws, path: /chat }\n"),
            &target,
        )
        .await;
        let error = recording.result.expect_err("should fail").to_string();
        assert!(
            error.contains("expected Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{error}"
        );
        peer.await;
    });
}

#[test]
fn a_target_path_prefix_goes_before_every_request_path() {
    async_std::task::block_on(async {
        let (addr, peer) = one_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        let target = Target::parse(&format!("http://{addr}/app/")).expect("target");
        let recording = runner::record(&spec("  - request: { path: \"/x?y=1\" }\n"), &target).await;
        recording.result.expect("passes");
        let got = String::from_utf8_lossy(&peer.await).into_owned();
        assert!(
            got.starts_with(&format!("GET /app/x?y=1 HTTP/1.1\r\nHost: {addr}\r\n")),
            "{got}"
        );
    });
}

/// `longconn run` in a project of its own under the temporary folder, from its `specs/` folder:
/// snapshots are found from the project root, and a `--target` run whose transcript differs
/// writes `.snap.target` beside the snapshot, never the embedded run's pending `.snap.new`.
#[test]
fn a_target_run_finds_the_root_and_leaves_pending_snapshots_alone() {
    let project = std::env::temp_dir().join(format!("longconn-kit-{}", std::process::id()));
    let specs = project.join("specs");
    std::fs::create_dir_all(&specs).expect("specs/");
    std::fs::write(
        specs.join("probe.yaml"),
        "description: d\nsteps:\n  - request: { path: /probe, status: 404 }\n",
    )
    .expect("write the spec");
    let longconn = env!("CARGO_BIN_EXE_longconn");
    let run = |args: &[&str]| {
        std::process::Command::new(longconn)
            .current_dir(&specs)
            .arg("run")
            .args(args)
            .output()
            .expect("run longconn")
    };
    // Embedded, from inside specs/: the new snapshot goes to the root's snapshots/.
    let first = run(&["probe.yaml", "--accept"]);
    assert!(first.status.success(), "{first:?}");
    let snapshots = project.join("snapshots");
    let snapshot = snapshots.join("specs@probe.yaml.snap");
    assert!(
        snapshot.exists(),
        "{:?}",
        std::fs::read_dir(&project).map(|d| d.count())
    );
    assert!(!specs.join("snapshots").exists());
    let pending = snapshots.join("specs@probe.yaml.snap.new");
    std::fs::write(&pending, "the embedded run's pending snapshot").expect("write");
    // Against a server that answers otherwise: the run fails and writes .snap.target.
    let (addr, peer) = async_std::task::block_on(one_answer(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nX-Other: 1\r\n\r\nother",
    ));
    let live = run(&["probe.yaml", "--target", &format!("http://{addr}")]);
    async_std::task::block_on(peer);
    let stdout = String::from_utf8_lossy(&live.stdout);
    assert_eq!(live.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("transcript differs"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&pending).expect("pending"),
        "the embedded run's pending snapshot"
    );
    assert!(snapshots.join("specs@probe.yaml.snap.target").exists());
    let _ = std::fs::remove_dir_all(&project);
}

/// A peer on 127.0.0.1:0 that reads one request head, then runs `script` on the connection.
async fn scripted<F, Fut>(script: F) -> (String, async_std::task::JoinHandle<()>)
where
    F: FnOnce(async_std::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = async_std::task::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut got = Vec::new();
        let mut buffer = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buffer[..n]),
            }
        }
        script(stream).await;
    });
    (addr, peer)
}

/// Reads until `needle` has arrived or the client goes.
async fn read_until(stream: &mut async_std::net::TcpStream, needle: &[u8]) {
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Writes `bytes` again and again until the client goes.
async fn flood(stream: &mut async_std::net::TcpStream, bytes: &[u8]) {
    while stream.write_all(bytes).await.is_ok() {}
}

fn remote(addr: &str) -> Target {
    Target::parse(&format!("http://{addr}")).expect("target")
}

const GET: &str = "  - open: c\n  - send: { to: c, http: \"GET /events HTTP/1.1\\nHost: x\" }\n  - read: { from: c, until: head }\n";

#[test]
fn sse_events_ended_by_a_lone_cr_are_read_before_a_pause() {
    async_std::task::block_on(async {
        // The peer pauses after each event's lone CR: a reader that waited for one more byte
        // would time out. The LF that starts the second write completes the first write's CRLF.
        let (addr, peer) = scripted(|mut stream| async move {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: one\r\r",
                )
                .await;
            read_until(&mut stream, b"next").await;
            let _ = stream.write_all(b"\ndata: two\r\r").await;
        })
        .await;
        let steps = format!(
            "{GET}  - read: {{ from: c, until: {{ sse_events: 1 }}, timeout: 30s }}\n  - expect: {{ sse: {{ data: one }} }}\n  - send: {{ to: c, raw: next }}\n  - read: {{ from: c, until: {{ sse_events: 1 }}, timeout: 30s }}\n  - expect: {{ sse: {{ data: two }} }}\n  - read: {{ from: c, until: close }}\n"
        );
        let recording = runner::record(&spec(&steps), &remote(&addr)).await;
        let transcript = recording.transcript.to_string();
        recording.result.expect("passes");
        assert!(
            transcript.contains("< data: one\\r\\r\n* sse event=message data=\"one\"")
                && transcript
                    .contains("< \\n\n< data: two\\r\\r\n* sse event=message data=\"two\""),
            "{transcript}"
        );
        assert!(!transcript.contains("sse no event"), "{transcript}");
        peer.await;
    });
}

#[test]
fn a_peer_flooding_blank_lines_meets_the_transcript_bound() {
    async_std::task::block_on(async {
        let (addr, peer) = scripted(|mut stream| async move {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
                .await;
            flood(&mut stream, &[b'\n'; 65536]).await;
        })
        .await;
        let steps = format!(
            "{GET}  - read: {{ from: c, until: {{ sse_events: 1000000000 }}, timeout: 60s }}\n"
        );
        let recording = runner::record(&spec(&steps), &remote(&addr)).await;
        let error = recording.result.expect_err("should fail").to_string();
        assert!(
            error.contains("the transcript is over 16777216 bytes"),
            "{error}"
        );
        assert!(recording.transcript.to_string().len() <= 16 * 1024 * 1024);
        peer.await;
    });
}

#[test]
fn a_peer_flooding_100_continue_meets_the_interim_and_buffer_bounds() {
    async_std::task::block_on(async {
        let continues = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(2048);
        let (addr, peer) = scripted({
            let continues = continues.clone();
            |mut stream| async move { flood(&mut stream, &continues).await }
        })
        .await;
        let recording = runner::record(&spec("  - request: { path: /x }\n"), &remote(&addr)).await;
        let error = recording.result.expect_err("should fail").to_string();
        assert!(
            error.contains("more than 32 interim 1xx responses"),
            "{error}"
        );
        peer.await;
        // Read raw until the peer closes, which it never does: the buffer bound stops it.
        let (addr, peer) =
            scripted(|mut stream| async move { flood(&mut stream, &continues).await }).await;
        let steps = "  - open: c\n  - send: { to: c, raw: 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' }\n  - read: { from: c, until: close, timeout: 60s }\n";
        let recording = runner::record(&spec(steps), &remote(&addr)).await;
        let error = recording.result.expect_err("should fail").to_string();
        assert!(
            error.contains("more than 67108864 bytes buffered on one connection"),
            "{error}"
        );
        peer.await;
    });
}

#[test]
fn a_body_that_never_ends_times_out_the_whole_request() {
    async_std::task::block_on(async {
        // The head and ten bytes come at once, then nothing: the request's one deadline covers
        // the body too.
        let (addr, peer) = scripted(|mut stream| async move {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                .await;
            read_until(&mut stream, b"never sent").await;
        })
        .await;
        let recording = runner::record(
            &spec("  - request: { path: /x, timeout: 200ms }\n"),
            &remote(&addr),
        )
        .await;
        let error = recording.result.expect_err("should fail").to_string();
        assert!(
            error.contains("timed out after 200ms with 10 of 1000 bytes"),
            "{error}"
        );
        peer.await;
    });
}

#[test]
fn a_peer_that_never_reads_times_out_send_and_frame() {
    async_std::task::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        // The peer accepts and holds each connection, reading nothing, until the test is done.
        let held = async_std::task::spawn(async move {
            let mut held = Vec::new();
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.expect("accept");
                held.push(stream);
            }
            held
        });
        // 16 MiB is more than loopback's largest send and receive buffers together: it cannot
        // all go into the socket of a peer that never reads.
        for step in [
            "  - send: { to: c, raw: { repeat: x, times: 16777216 }, timeout: 300ms }\n",
            "  - frame: { to: c, opcode: binary, raw: { repeat: x, times: 16777216 }, timeout: 300ms }\n",
        ] {
            let steps = format!("  - open: c\n{step}");
            let recording = runner::record(&spec(&steps), &remote(&addr)).await;
            let error = recording.result.expect_err("should fail").to_string();
            assert!(
                error.contains("the peer did not take") && error.contains("within 300ms"),
                "{error}"
            );
        }
        drop(held.await);
    });
}
