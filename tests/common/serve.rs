//! `longconn serve` as a child process: started on an address, returned once it prints
//! `listening on http://ADDR`, and killed (SIGKILL, as a crash would end it) when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Stdio};

/// A running `longconn serve`.
pub struct Serve {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
}

impl Serve {
    /// `longconn serve --addr 127.0.0.1:0 ARGS`, its stderr to `stderr`.
    pub fn spawn(args: &[&str], stderr: impl Into<Stdio>) -> Serve {
        Serve::spawn_on("127.0.0.1:0", args, stderr)
    }

    /// `longconn serve --addr ADDR ARGS`, its stderr to `stderr`.
    pub fn spawn_on(addr: &str, args: &[&str], stderr: impl Into<Stdio>) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_longconn"))
            .args(["serve", "--addr", addr])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start longconn serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("read the address `longconn serve` prints");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("`longconn serve` printed {line:?}, not its address"));
        Serve { child, addr }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr, when started with `Stdio::piped()`.
    pub fn take_stderr(&mut self) -> ChildStderr {
        self.child.stderr.take().expect("stderr is piped")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}
