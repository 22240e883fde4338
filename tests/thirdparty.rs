//! The kit against servers nobody here wrote: each test starts a third-party push server on a
//! free port as a child process, replays `specs/thirdparty/<server>/` against it with
//! `longconn run --target`, and requires every transcript to match its snapshot. A server that is
//! not installed fails the test with one line naming what to install.
//!
//! - `nchan_specs_pass` — Nchan (Debian `nginx-light` + `libnginx-mod-nchan`), configured from
//!   a config written here at test time (free port, temporary prefix).
//! - `aiohttp_specs_pass` — a small aiohttp server (PyPI, pinned in
//!   `tests/requirements.txt`): JSON publish answers, SSE, WebSocket echo.
//! - `node_ws_specs_pass` — Node's `ws` (npm, pinned in `tests/thirdparty/node_ws/`) with
//!   permessage-deflate, offered and not, and a plain Node `http` SSE stream whose events end in
//!   a lone CR.
//!
//! The only polling is the bounded readiness loop while a server starts listening.

mod common;

use common::child::{ChildServer, Folder};
use common::{aiohttp, free_port, nginx, node};
use std::process::{Command, Stdio};

/// `longconn run FOLDER --target URL`: passes when every spec matches its snapshot.
fn replay(folder: &str, target: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_longconn"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", folder, "--target", target])
        .output()
        .expect("run longconn");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "longconn run {folder} --target {target}: {}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains(" passed"), "{stdout}");
    assert!(!stdout.contains("0 passed"), "no spec ran:\n{stdout}");
}

fn require(program: &str, install: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(found, "{program} not found: {install}");
}

#[test]
fn nchan_specs_pass() {
    nginx::require(true);
    let port = free_port();
    let server = format!(
        "server {{
    listen 127.0.0.1:{port};
    {}
  }}",
        nginx::NCHAN_LOCATIONS
    );
    let _nginx = nginx::start(
        Folder::new("thirdparty-nchan"),
        &nginx::with_nchan(),
        &server,
        &[port],
    );
    replay(
        "specs/thirdparty/nchan",
        &format!("http://127.0.0.1:{port}"),
    );
}

#[test]
fn aiohttp_specs_pass() {
    let port = free_port();
    let _server = aiohttp::start(port, None, Folder::new("thirdparty-aiohttp"));
    // The app lives below /app: the prefix of the target URL puts every path there.
    replay(
        "specs/thirdparty/aiohttp",
        &format!("http://127.0.0.1:{port}/app"),
    );
}

#[test]
fn node_ws_specs_pass() {
    require(
        "node",
        "install Node 20 or later (see the README's Prerequisites)",
    );
    let folder = node::npm_folder("thirdparty/node_ws", "ws", "the Node ws server");
    let port = free_port();
    let _server = ChildServer::start(
        "the Node ws server",
        Command::new("node")
            .arg(folder.join("server.js"))
            .arg(port.to_string()),
        Folder::new("thirdparty-node-ws"),
        "stderr.log",
        &[port],
    );
    replay(
        "specs/thirdparty/node_ws",
        &format!("ws://127.0.0.1:{port}"),
    );
}
