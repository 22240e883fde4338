//! `longconn serve` as a child process: started on an address, returned once it prints
//! `listening on http://ADDR`, and killed (SIGKILL, as a crash would end it) when dropped; with
//! blocking requests to it whose reads fail after a minute rather than hang.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};

use super::READ_GUARD;

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

    /// A connection to it.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(READ_GUARD)).expect("guard");
        stream
    }

    /// Sends `line` (`POST /publish?channel=c HTTP/1.1`) with `body`, `Host: localhost` and
    /// `Connection: close`; the whole answer.
    pub fn request(&self, line: &str, body: &str) -> String {
        let mut stream = self.connect();
        let request = format!(
            "{line}\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("read answer");
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Publishes `data` to `channel`; the id it was acknowledged with.
    pub fn publish(&self, channel: &str, data: &str) -> u64 {
        let answer = self.request(&format!("POST /publish?channel={channel} HTTP/1.1"), data);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        answer
            .split_once("\"id\":")
            .and_then(|(_, rest)| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .unwrap_or_else(|| panic!("no id in {answer:?}"))
    }

    /// Sends `head` (a streaming request) and reads until `needle` arrives.
    pub fn stream_until(&self, head: &str, needle: &str) -> String {
        let mut stream = self.connect();
        stream.write_all(head.as_bytes()).expect("send");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = stream.read(&mut buf).expect("read within the guard");
            assert!(
                n > 0,
                "closed before {needle:?}: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
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
