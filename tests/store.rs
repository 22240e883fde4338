//! The message store with real `longconn serve` processes, killed with SIGKILL and started again:
//!
//! - every transport resumes after a restart on the same store with none lost, none twice, and
//!   ids continue;
//! - a store whose write-ahead log was cut at any of several offsets keeps every committed message
//!   and says what it dropped; a damaged database file is refused with a precise error;
//! - a `--store memory` restart numbers above the old ids and tells an old client it missed some;
//! - ten channels × 1000 messages, ten times `--max-store-bytes` in all, published and read back,
//!   keep the server's peak resident memory under its size at start plus the ceiling plus a stated
//!   fixed overhead.
//!
//! No sleeps: each process prints its address once it listens; reads wait for bytes with a
//! one-minute guard.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::serve::Serve;

impl Serve {
    /// Starts `longconn serve --store STORE` on a free port; its stderr goes to `log`.
    fn start(store: &str, log: &Path) -> Serve {
        Serve::start_with(&["--store", store], log)
    }

    /// Starts `longconn serve` with these options on a free port; its stderr goes to `log`.
    fn start_with(options: &[&str], log: &Path) -> Serve {
        let stderr = std::fs::File::create(log).expect("stderr file");
        Serve::spawn(&[&["--interval", "60m"], options].concat(), stderr)
    }

    /// SIGKILL: no shutdown code runs.
    fn kill_9(mut self) {
        self.kill();
    }
}

impl Serve {
    /// A size line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
    fn memory(&self, field: &str) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status");
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("a {field} line"));
        kib * 1024
    }
}

/// Publishes `data` to `channel` on a kept-alive connection and reads the whole answer.
fn publish_kept_alive(stream: &mut TcpStream, channel: &str, data: &str) {
    let request = format!(
        "POST /publish?channel={channel} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{data}",
        data.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("read the head");
        answer.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let length = ids_in(&head, "content-length: ")[0];
    let mut body = vec![0u8; length as usize];
    stream.read_exact(&mut body).expect("read the body");
}

/// Every integer following `key` in `text`, in order.
fn ids_in(text: &str, key: &str) -> Vec<u64> {
    text.match_indices(key)
        .filter_map(|(at, _)| {
            let rest = &text[at + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// A fresh directory for one test's store.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("longconn-store-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// What each transport delivers to a client holding ids up to `since`, as ids, plus whether it
/// signalled a gap.
fn resume_everywhere(serve: &Serve, since: u64, last: u64) -> Vec<(&'static str, Vec<u64>, bool)> {
    let mut seen = Vec::new();
    let sse = serve.stream_until(
        &format!("GET /sseStream?channel=news HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: {since}\r\n\r\n"),
        &format!("id: {last}\n"),
    );
    // The stream opens with its test event, carrying the client's own id.
    let mut sse_ids = ids_in(&sse, "id: ");
    assert_eq!(sse_ids.first(), Some(&since), "{sse}");
    sse_ids.remove(0);
    seen.push(("sse", sse_ids, sse.contains("event: missed")));
    let ws = serve.stream_until(
        &format!(
            "GET /ws?channel=news&since={since} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        ),
        &format!("\"id\":{last},"),
    );
    seen.push(("ws", ids_in(&ws, "\"id\":"), ws.contains("\"missed\"")));
    for (name, path) in [
        ("poll", format!("/poll?channel=news&since={since}")),
        ("longpoll", format!("/longpoll?channel=news&since={since}")),
        (
            "jsonp",
            format!("/jsonp?channel=news&since={since}&callback=cb"),
        ),
        ("iframe", format!("/iframe?channel=news&since={since}")),
    ] {
        let answer = serve.request(&format!("GET {path} HTTP/1.1"), "");
        assert!(answer.starts_with("HTTP/1.1 200"), "{name}: {answer}");
        seen.push((name, ids_in(&answer, "\"id\":"), answer.contains("missed")));
    }
    seen
}

#[test]
fn every_transport_resumes_after_kill_9_with_none_lost_none_twice() {
    let dir = scratch("resume");
    let store = dir.join("longconn.db");
    let store = store.to_str().expect("utf-8 path");
    let first = Serve::start(store, &dir.join("first.log"));
    let acked: Vec<u64> = (1..=12)
        .map(|n| first.publish("news", &format!("m{n}")))
        .collect();
    // Ids rise by one within a run.
    assert!(acked.windows(2).all(|w| w[1] == w[0] + 1), "{acked:?}");
    first.kill_9();

    let second = Serve::start(store, &dir.join("second.log"));
    let since = acked[7];
    let missed_by_client = acked[8..].to_vec();
    for (transport, ids, gap) in resume_everywhere(&second, since, acked[11]) {
        assert_eq!(ids, missed_by_client, "{transport}: none lost, none twice");
        assert!(!gap, "{transport}: nothing was lost, no gap to signal");
    }
    // Ids continue after the restart.
    assert_eq!(second.publish("news", "m13"), acked[11] + 1);
}

/// The end offset of every commit frame in a write-ahead log (fileformat2: a 32-byte header, the
/// page size at offset 8, frames of a 24-byte header and one page; a commit frame has a nonzero
/// database size at offset 4 of its header).
fn commit_ends(wal: &[u8]) -> Vec<usize> {
    let page = u32::from_be_bytes([wal[8], wal[9], wal[10], wal[11]]) as usize;
    let frame = 24 + page;
    (0..(wal.len() - 32) / frame)
        .filter(|n| wal[32 + n * frame + 4..32 + n * frame + 8] != [0, 0, 0, 0])
        .map(|n| 32 + (n + 1) * frame)
        .collect()
}

#[test]
fn a_store_cut_at_any_offset_keeps_every_committed_message_and_says_what_it_dropped() {
    let dir = scratch("torn");
    let store = dir.join("longconn.db");
    let store_str = store.to_str().expect("utf-8 path");
    let first = Serve::start(store_str, &dir.join("first.log"));
    // Sequential publishes: each is its own transaction, the last ten of the log.
    let acked: Vec<u64> = (1..=10)
        .map(|n| first.publish("news", &format!("m{n}")))
        .collect();
    first.kill_9();
    let wal_path = dir.join("longconn.db-wal");
    let (db, wal) = (
        std::fs::read(&store).expect("the database"),
        std::fs::read(&wal_path).expect("a WAL after kill -9"),
    );
    let ends = commit_ends(&wal);
    assert!(ends.len() >= 10, "{} commits", ends.len());
    let before_news = ends.len() - 10;
    let frame = 24 + u32::from_be_bytes([wal[8], wal[9], wal[10], wal[11]]) as usize;
    let last = *ends.last().expect("a commit");
    // Cuts: inside the last page, inside the last frame's header, at the last frame's start (a
    // whole number of frames: no length check can see it), three messages back mid-frame.
    let mut cuts = vec![
        last - 100,
        last - frame + 10,
        last - frame,
        ends[ends.len() - 4] - 7,
    ];
    // And one arbitrary offset inside each of the last five messages' transactions.
    cuts.extend((1..=5).map(|k| ends[ends.len() - k] - 1 - (k * 977) % (frame - 1)));
    for (run, cut) in cuts.into_iter().enumerate() {
        std::fs::write(&store, &db).expect("restore the database");
        std::fs::write(&wal_path, &wal[..cut]).expect("the cut WAL");
        let kept = ends
            .iter()
            .filter(|&&end| end <= cut)
            .count()
            .saturating_sub(before_news);
        let log = dir.join(format!("cut-{run}.log"));
        let second = Serve::start(store_str, &log);
        let said = std::fs::read_to_string(&log).expect("stderr");
        let answer = second.request("GET /poll?channel=news&since=0 HTTP/1.1", "");
        assert_eq!(
            ids_in(&answer, "\"id\":"),
            acked[..kept].to_vec(),
            "cut at {cut}: {answer}"
        );
        let kept_end = ends
            .iter()
            .filter(|&&end| end <= cut)
            .max()
            .copied()
            .unwrap_or(32);
        assert!(
            said.contains("ends in a torn write")
                && said.contains(&format!("the {} bytes after them", cut - kept_end))
                && said.contains(&format!("read back {kept} messages in 1 channels")),
            "cut at {cut}: stderr: {said}"
        );
        second.kill_9();
    }
}

#[test]
fn a_damaged_database_file_is_refused_with_a_precise_error() {
    let dir = scratch("damaged");
    let store = dir.join("longconn.db");
    let store_str = store.to_str().expect("utf-8 path");
    let first = Serve::start(store_str, &dir.join("first.log"));
    for n in 1..=50 {
        first.publish(&format!("c{}", n % 5), &"x".repeat(2000));
    }
    first.kill_9();
    // Everything into the database file, then cut its tail: damage no torn write can cause.
    let connection = rusqlite::Connection::open(&store).expect("open");
    connection
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(connection);
    let len = std::fs::metadata(&store).expect("database").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&store)
        .and_then(|f| f.set_len(len - 4096 - 100))
        .expect("cut the database");
    let output = Command::new(env!("CARGO_BIN_EXE_longconn"))
        .args(["serve", "--addr", "127.0.0.1:0", "--store", store_str])
        .stdin(Stdio::null())
        .output()
        .expect("run longconn serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started on a damaged store");
    assert!(output.stdout.is_empty(), "it listened: {stderr}");
    assert!(
        stderr.contains(&format!(
            "message store {store_str} is damaged (SQLite quick_check: "
        )) && stderr.contains(".recover"),
        "{stderr}"
    );
}

#[test]
fn a_memory_store_restart_gives_higher_ids_and_the_gap() {
    let dir = scratch("memory");
    let first = Serve::start("memory", &dir.join("first.log"));
    let old: Vec<u64> = (1..=3)
        .map(|n| first.publish("news", &format!("m{n}")))
        .collect();
    first.kill_9();

    let second = Serve::start("memory", &dir.join("second.log"));
    let new = second.publish("news", "after");
    assert!(
        new > old[2],
        "new id {new} must be above every old one {old:?}"
    );
    assert!(new < 1 << 53, "ids stay JSON-safe: {new}");
    for (transport, ids, gap) in resume_everywhere(&second, old[1], new) {
        assert_eq!(ids, vec![new], "{transport}: the whole retained log");
        assert!(
            gap,
            "{transport}: a client holding an old id is told it missed some"
        );
    }
}

/// The memory ceiling for the test below: ten channels × 1000 messages of 4 KiB (40 MiB
/// published, ten times the ceiling, as the 640 MiB against a 64 MiB ceiling) with readers.
const CEILING: usize = 4 << 20;
/// What the process may hold past its resident size at start plus the ceiling: allocator slack
/// (freed message bodies the allocator keeps) and the requests and answers in flight (five 4 KiB
/// publishes, one poll answer of the whole retained log, ~4 MiB with its JSON). Without the
/// ceiling the logs alone would hold 40 MiB and more.
const OVERHEAD: usize = 12 << 20;

#[test]
fn ten_channels_of_a_thousand_messages_stay_under_the_memory_ceiling() {
    let dir = scratch("ceiling");
    let ceiling = CEILING.to_string();
    let serve = Serve::start_with(
        &["--store", "memory", "--max-store-bytes", &ceiling],
        &dir.join("serve.log"),
    );
    let baseline = serve.memory("VmRSS");
    let serve = std::sync::Arc::new(serve);
    let body = "x".repeat(4 * 1024);
    // Five publishers, two channels each.
    let publishers: Vec<_> = (0..5)
        .map(|p| {
            let (serve, body) = (serve.clone(), body.clone());
            std::thread::spawn(move || {
                let mut connection = serve.connect();
                for channel in [2 * p, 2 * p + 1] {
                    for _ in 0..1000 {
                        publish_kept_alive(&mut connection, &format!("c{channel}"), &body);
                    }
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.join().expect("publisher");
    }
    // One reader per channel reads its whole backlog (the encodings get cached).
    for channel in 0..10 {
        let answer = serve.request(
            &format!("GET /poll?channel=c{channel}&since=0 HTTP/1.1"),
            "",
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "c{channel}");
        // The ceiling evicted the oldest: the reader is told so.
        assert!(answer.contains("\"missed\""), "c{channel}: no gap signal");
    }
    // The peak, not a sample: VmHWM is the largest resident size the process ever had.
    let peak = serve.memory("VmHWM");
    println!(
        "VmRSS at start {} KiB, VmHWM after 40 MiB published and read {} KiB",
        baseline >> 10,
        peak >> 10
    );
    assert!(
        peak <= baseline + CEILING + OVERHEAD,
        "VmHWM {} KiB > start {} KiB + ceiling {} KiB + overhead {} KiB",
        peak >> 10,
        baseline >> 10,
        CEILING >> 10,
        OVERHEAD >> 10
    );
}
