//! The article's servers, reproduced in `tests/article/` (Node.js), replayed with the specs
//! written for them (`specs/seed/`): each spec's transcript against a fresh server must match its
//! snapshot byte for byte, so the repository's own servers show the article's behaviour (the SSE
//! `testEvent` block dropped for want of data, the nodejs-websocket echo and its close).
//!
//! Needs Node.js and `npm ci` in `tests/article/` (`tests/run` installs it); without them each test
//! fails with one line saying so.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::node;
use longconn::runner::{self, Target};

/// Which server of `tests/article/` each spec of `specs/seed/` is written for.
const SERVERS: &[(&str, &str)] = &[
    ("seed_sse_testevent_defect.yaml", "sse_server.js"),
    ("seed_ws_echo.yaml", "ws_server.js"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One of the article's servers on a free port, killed when dropped.
struct NodeServer {
    child: Child,
    addr: String,
}

impl NodeServer {
    /// Starts `node tests/article/SCRIPT` with `PORT=0` (a tick every 50 ms where it ticks) and
    /// waits for the line that names its address.
    fn start(script: &str) -> NodeServer {
        let what = "the article's servers";
        let dir = node::npm_folder("article", "nodejs-websocket", what);
        let mut child = node::spawn(
            Command::new("node")
                .arg(dir.join(script))
                .env("PORT", "0")
                .env("INTERVAL_MS", "50")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
            what,
        );
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        // The first line is `listening on http://127.0.0.1:PORT`; end of file means node exited.
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{script} printed {line:?}, not its address"))
            .to_string();
        NodeServer { child, addr }
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn seed_specs() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("specs/seed"))
        .expect("read specs/seed/")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_article_spec_names_its_server() {
    let unnamed: Vec<_> = seed_specs()
        .into_iter()
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !SERVERS.iter().any(|(spec, _)| *spec == name)
        })
        .collect();
    assert!(
        unnamed.is_empty(),
        "add to SERVERS in tests/article.rs: {unnamed:?}"
    );
}

#[test]
fn article_servers_replay_their_specs_byte_for_byte() {
    let mut differences = Vec::new();
    for (name, script) in SERVERS {
        let path = Path::new("specs/seed").join(name);
        let spec = longconn::spec::load(&path).unwrap_or_else(|error| panic!("{error}"));
        let server = NodeServer::start(script);
        let target = Target::parse(&server.addr).unwrap_or_else(|error| panic!("{error}"));
        let transcript = match async_std::task::block_on(runner::replay(&spec, &target)) {
            Ok(transcript) => transcript.to_string(),
            Err(error) => panic!("{} against {script}: {error}", path.display()),
        };
        drop(server);
        let snapshot = runner::snapshot::locate(&path);
        let stored = runner::snapshot::read(&snapshot.path)
            .expect("read the snapshot")
            .unwrap_or_else(|| panic!("{} has no snapshot", path.display()));
        if !runner::snapshot::matches(&stored, &transcript) {
            differences.push(format!(
                "{} against tests/article/{script} differs from {}:\n{}",
                path.display(),
                snapshot.path.display(),
                runner::snapshot::diff(&stored, &transcript)
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
