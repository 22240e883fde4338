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

/// A peer that answers the first request with `answer`, and records what it got.
async fn one_answer(answer: &'static [u8]) -> (String, async_std::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = async_std::task::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut got = Vec::new();
        let mut buffer = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buffer[..n]),
            }
        }
        let _ = stream.write_all(answer).await;
        got
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
