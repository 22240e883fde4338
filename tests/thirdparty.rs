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

use common::{free_port, terminate};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
const START_GUARD: Duration = Duration::from_secs(20);

/// A child process, ended (SIGTERM, then SIGKILL) when the test is done, pass or fail.
struct Server {
    child: Child,
    port: u16,
    _scratch: Option<Scratch>,
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A temporary folder removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "longconn-thirdparty-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    Scratch(dir)
}

/// Waits until `port` accepts connections, or fails naming the server and its output file.
fn wait_listening(server: &mut Server, what: &str, log: &Path) {
    let deadline = Instant::now() + START_GUARD;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let output = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited ({status}) before listening:\n{output}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{what} did not listen on 127.0.0.1:{} within {START_GUARD:?}",
        server.port
    );
}

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

/// Nchan's configuration: the contract's paths on `port`, everything under `prefix`.
fn nchan_config(prefix: &Path, port: u16) -> String {
    let module = "/usr/lib/nginx/modules/ngx_nchan_module.so";
    let prefix = prefix.display();
    format!(
        "load_module {module};
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /publish {{ nchan_publisher http; nchan_channel_id $arg_channel; nchan_message_buffer_length 100; nchan_message_timeout 1h; }}
    location = /sseStream {{ nchan_subscriber eventsource; nchan_channel_id $arg_channel; }}
    location = /ws {{ nchan_subscriber websocket; nchan_channel_id $arg_channel; }}
  }}
}}
"
    )
}

#[test]
fn nchan_specs_pass() {
    let install = "apt-get install nginx-light libnginx-mod-nchan";
    require("nginx", install);
    assert!(
        Path::new("/usr/lib/nginx/modules/ngx_nchan_module.so").exists(),
        "the Nchan module is not installed: {install}"
    );
    let dir = scratch("nchan");
    let port = free_port();
    let config = dir.0.join("nginx.conf");
    std::fs::write(&config, nchan_config(&dir.0, port)).expect("write nginx.conf");
    let log = dir.0.join("stderr.log");
    let child = Command::new("nginx")
        .arg("-p")
        .arg(&dir.0)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the log"))
        .spawn()
        .expect("start nginx");
    let mut server = Server {
        child,
        port,
        _scratch: None,
    };
    wait_listening(&mut server, "nginx (Nchan)", &log);
    server._scratch = Some(dir);
    replay(
        "specs/thirdparty/nchan",
        &format!("http://127.0.0.1:{port}"),
    );
}

#[test]
fn aiohttp_specs_pass() {
    require(
        "python3",
        "python3 not found: apt-get install python3 python3-pip",
    );
    let importable = Command::new("python3")
        .args(["-c", "import aiohttp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        importable,
        "aiohttp not found: run tests/run (or python3 -m pip install -r tests/requirements.txt)"
    );
    let dir = scratch("aiohttp");
    let port = free_port();
    let log = dir.0.join("stderr.log");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/thirdparty/aiohttp_server.py");
    let child = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the log"))
        .spawn()
        .expect("start python3");
    let mut server = Server {
        child,
        port,
        _scratch: None,
    };
    wait_listening(&mut server, "the aiohttp server", &log);
    server._scratch = Some(dir);
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
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/thirdparty/node_ws");
    assert!(
        folder.join("node_modules/ws/package.json").exists(),
        "the npm package ws is not installed: run tests/run (or npm ci in {})",
        folder.display()
    );
    let dir = scratch("node-ws");
    let port = free_port();
    let log = dir.0.join("stderr.log");
    let child = Command::new("node")
        .arg(folder.join("server.js"))
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the log"))
        .spawn()
        .expect("start node");
    let mut server = Server {
        child,
        port,
        _scratch: None,
    };
    wait_listening(&mut server, "the Node ws server", &log);
    server._scratch = Some(dir);
    replay(
        "specs/thirdparty/node_ws",
        &format!("ws://127.0.0.1:{port}"),
    );
}
