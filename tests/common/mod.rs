//! What the integration test files share: an embedded server on a free port and a manual clock,
//! reads that wait on bytes (never on time) yet fail instead of hanging when the server sends
//! nothing for a minute, and the one-line failure of a test whose tool is not installed.
// Each test file compiles its own copy and uses only part of it.
#![allow(dead_code)]

pub mod aiohttp;
pub mod child;
pub mod nginx;
pub mod node;
pub mod serve;

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use async_std::io::ReadExt;
use async_std::net::TcpStream;
use longconn::clock::{Clock, ManualClock};
use longconn::server::{Config, Server};

/// Starts `config` on 127.0.0.1 (a free port) with a manual clock.
pub async fn start(config: Config) -> Server {
    let config = Config {
        addr: "127.0.0.1:0".parse().expect("literal address"),
        ..config
    };
    Server::start(config, Clock::manual())
        .await
        .expect("bind 127.0.0.1:0")
}

/// The manual clock `server` runs on (one [`start`]ed, or a `Server` given `Clock::manual()`).
pub fn manual_clock(server: &Server) -> Arc<ManualClock> {
    server
        .state()
        .clock
        .as_manual()
        .expect("the server runs on a manual clock")
        .clone()
}

/// How long a read may wait before the test fails rather than hangs.
pub const READ_GUARD: Duration = Duration::from_secs(60);

/// Reads until `needle` has arrived; the bytes read so far.
pub async fn read_until(stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut searched = 0;
    loop {
        // Only the new bytes (and a needle's length before them) can complete the needle.
        if got[searched..].windows(needle.len()).any(|w| w == needle) {
            return got;
        }
        searched = got.len().saturating_sub(needle.len() - 1);
        let n = read_some(stream, &mut buf).await;
        assert!(
            n > 0,
            "closed before {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

/// One read, failing the test instead of hanging when the server sends nothing for a minute.
pub async fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> usize {
    async_std::io::timeout(READ_GUARD, stream.read(buf))
        .await
        .expect("read (nothing for a minute: the server hangs)")
}

/// Reads until the peer closes; everything read.
pub async fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = async_std::io::timeout(READ_GUARD, stream.read_to_end(&mut got)).await;
    got
}

/// Fails the calling test because a tool it needs is missing: `message` (what is missing and the
/// command that installs it) on one line, with no panic message and no backtrace even under
/// `RUST_BACKTRACE=1`: `resume_unwind` unwinds without calling the panic hook.
pub fn missing_tool(message: impl Display) -> ! {
    eprintln!("{message}");
    std::panic::resume_unwind(Box::new(message.to_string()))
}

/// A free TCP port on 127.0.0.1: bound, read and released for a child server to take.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// Ends a child server: SIGTERM first (nginx then ends its workers, which a plain kill would
/// orphan), SIGKILL if it is still there 5 s later.
pub fn terminate(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub mod nchan;
pub mod tls;
