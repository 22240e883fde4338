//! The kit's failures, each a claim: a step that meets what the spec did not ask for fails with a
//! message that says what arrived. Embedded-server cases replay inline specs; the hostile-peer
//! cases answer from a plain socket on 127.0.0.1:0 given as `--target`.
//!
//! - `request_fails_on_a_status_the_spec_does_not_name`
//! - `publish_fails_on_a_status_the_spec_does_not_name`
//! - `an_unknown_variable_fails_the_step_naming_it`
//! - `var_values_reach_the_wire`
//! - `until_chunks_on_a_body_that_is_not_chunked_says_so`
//! - `expect_frame_text_fails_on_other_text`
//! - `expect_sse_retry_fails_on_another_value`
//! - `a_wrong_sec_websocket_accept_fails_the_handshake`
//! - `a_target_path_prefix_goes_before_every_request_path`

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
