//! A server run as a child process for one test: in a temporary folder of its own, its stderr
//! kept in a log there, waited for until its ports accept connections, and ended (SIGTERM, then
//! SIGKILL) with its folder removed when the test is done, pass or fail.
//!
//! The only polling is the bounded readiness loop while the server starts listening.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::terminate;

/// How long a server may take to start listening.
pub const START_GUARD: Duration = Duration::from_secs(20);

/// A temporary folder, removed when dropped.
pub struct Folder(PathBuf);

impl Folder {
    /// A fresh folder `longconn-NAME-PID-TIME-N` in the temporary directory (N counts the
    /// folders this test binary made, so tests running at once never share one).
    pub fn new(name: &str) -> Folder {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "longconn-{name}-{}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        Folder(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child server, ended when dropped; its folder goes with it.
pub struct ChildServer {
    child: Child,
    folder: Folder,
}

impl ChildServer {
    /// Starts `command` with stdout discarded and stderr into `FOLDER/LOG`, and waits until every
    /// port of `ports` on 127.0.0.1 accepts a connection; fails naming `what` (with the log when
    /// it exited) otherwise.
    pub fn start(
        what: &str,
        command: &mut Command,
        folder: Folder,
        log: &str,
        ports: &[u16],
    ) -> ChildServer {
        let log = folder.join(log);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let mut server = ChildServer { child, folder };
        let deadline = Instant::now() + START_GUARD;
        loop {
            if ports
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok())
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("{what} exited ({status}) before listening:\n{output}");
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not listen on 127.0.0.1:{ports:?} within {START_GUARD:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's folder.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}
