//! Several hubs on one real Redis. Each test starts its own `redis-server` on a free
//! port as a child process (and fails, naming the package, when it is not installed), then:
//!
//! - `publish_on_one_node_reaches_subscribers_and_waiters_on_every_node`
//! - `ids_stay_gap_free_under_concurrent_publishers_on_three_nodes`
//! - `a_node_started_later_resumes_from_the_shared_log`
//! - `announcements_missed_while_disconnected_are_filled_from_the_log`
//! - `redis_restart_mid_stream_loses_nothing_acknowledged`
//! - `only_one_node_holds_the_ticker_lease`
//! - `channels_are_bounded_across_nodes`
//! - `servers_on_one_redis_act_as_one_and_answer_503_while_it_is_away` (over HTTP)
//! - `node_specs_replay_through_redis_byte_for_byte` (`specs/nodes_*.yaml`, their own snapshots)
//! - `bench_fanout_over_three_nodes_loses_nothing` (`longconn bench fanout` with three `--target`s)
//! - `a_new_process_on_an_emptied_redis_numbers_above_the_old_ids_and_signals_the_gap` (two
//!   `longconn serve --hub` processes, FLUSHALL between them)
//!
//! Waiting is on events (a subscription's next message) under a timeout; the only polling is the
//! bounded readiness loop while a `redis-server` starts or comes back.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use common::serve::Serve as ServeProcess;
use common::{free_port, missing_tool};
use longconn::clock::Clock;
use longconn::hub::{Hub, HubConfig, HubError, Message, Next, RedisConfig, Subscription};
use longconn::runner::{self, Target};
use longconn::server::{Config, Server};

/// How long any single expected event may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// A `redis-server` child process on its own port (and, when persistent, its own folder).
struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    persistent: bool,
}

impl RedisServer {
    /// A throwaway server: no snapshots, no append-only file.
    fn start() -> RedisServer {
        RedisServer::launch(free_port(), scratch_dir(), false)
    }

    /// A server that keeps every write in an append-only file, fsynced before it answers, so a
    /// restart in the same folder loses nothing it acknowledged.
    fn start_persistent() -> RedisServer {
        RedisServer::launch(free_port(), scratch_dir(), true)
    }

    fn launch(port: u16, dir: PathBuf, persistent: bool) -> RedisServer {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing_tool(
                "no `redis-server` on PATH: run tests/run (or `apt-get install -y redis-server`)",
            ),
            Err(e) => panic!("could not start redis-server: {e}"),
        };
        let mut server = RedisServer {
            child,
            port,
            dir,
            persistent,
        };
        server.wait_ready();
        server
    }

    /// Polls the port with PING until `+PONG` (bounded: 200 tries, 25 ms apart).
    fn wait_ready(&mut self) {
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "redis-server on port {} exited at start: {status}",
                    self.port
                );
            }
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A new server on the same port and folder (the append-only file comes back with it).
    fn restart(&mut self) {
        self.kill();
        let next = RedisServer::launch(self.port, self.dir.clone(), self.persistent);
        let old = std::mem::replace(self, next);
        // The old one is dead already; keep its folder, which the new one uses.
        std::mem::forget(old);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "longconn-redis-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

/// One command over a raw connection; the reply's payload (a bulk string's bytes, an integer's
/// digits, a status line's text).
fn command(port: u16, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis-server");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("set a read timeout");
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream
        .write_all(request.as_bytes())
        .expect("send a command");
    let mut reader = std::io::BufReader::new(stream);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).expect("read a reply");
    let line = line.trim_end();
    match line.split_at(1) {
        ("$", len) => {
            let len: usize = len.parse().expect("a bulk length");
            let mut bulk = vec![0u8; len + 2];
            reader.read_exact(&mut bulk).expect("read a bulk reply");
            bulk.truncate(len);
            String::from_utf8_lossy(&bulk).into_owned()
        }
        (":" | "+", rest) => rest.to_owned(),
        _ => panic!("redis-server answered {args:?} with {line}"),
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

async fn node(redis: &RedisServer) -> Hub {
    node_with(redis, HubConfig::default()).await
}

async fn node_with(redis: &RedisServer, config: HubConfig) -> Hub {
    Hub::with_redis(config, RedisConfig::new(redis.url()))
        .await
        .expect("a hub on the test's Redis")
}

/// The subscription's next message, or a panic naming what was awaited.
async fn next(sub: &mut Subscription, what: &str) -> Arc<Message> {
    match async_std::future::timeout(PATIENCE, sub.next()).await {
        Ok(Next::Message(message)) => message,
        Ok(Next::Ended(reason)) => panic!("{what}: subscription ended ({reason:?})"),
        Err(_) => panic!("{what}: nothing within {PATIENCE:?}"),
    }
}

async fn next_ids(sub: &mut Subscription, n: usize, what: &str) -> Vec<u64> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(next(sub, what).await.id);
    }
    ids
}

/// Publishes, retrying while Redis comes back (bounded: 200 tries, 25 ms apart).
async fn publish_when_back(hub: &Hub, channel: &str, data: &str) -> Arc<Message> {
    for _ in 0..200 {
        match hub.publish(channel, "message", data.to_owned()).await {
            Ok(message) => return message,
            Err(HubError::Unavailable { .. }) => {
                async_std::task::sleep(Duration::from_millis(25)).await
            }
            Err(e) => panic!("publish failed: {e}"),
        }
    }
    panic!("Redis did not come back for publishing");
}

#[async_std::test]
async fn publish_on_one_node_reaches_subscribers_and_waiters_on_every_node() {
    let redis = RedisServer::start();
    let (a, b, c) = (node(&redis).await, node(&redis).await, node(&redis).await);
    let mut on_a = a.subscribe("news", None);
    let mut on_b = b.subscribe("news", None);
    let mut on_c = c.subscribe("news", None);
    let long_poll = {
        let c = c.clone();
        async_std::task::spawn(async move { c.wait_since("news", 0).await })
    };

    let published = a
        .publish("news", "custom", "from a".into())
        .await
        .expect("publish");
    assert_eq!(published.id, 1);
    for (sub, name) in [(&mut on_a, "a"), (&mut on_b, "b"), (&mut on_c, "c")] {
        let got = next(sub, name).await;
        assert_eq!(
            (got.id, got.event.as_str(), got.data.as_str()),
            (1, "custom", "from a")
        );
    }
    let backlog = async_std::future::timeout(PATIENCE, long_poll)
        .await
        .expect("long poll on c released");
    assert_eq!(backlog.messages.len(), 1);

    let from_c = c
        .publish("news", "message", "from c".into())
        .await
        .expect("publish");
    assert_eq!(from_c.id, 2);
    assert_eq!(next(&mut on_a, "a").await.data, "from c");
    assert_eq!(next(&mut on_b, "b").await.id, 2);
}

#[async_std::test]
async fn ids_stay_gap_free_under_concurrent_publishers_on_three_nodes() {
    const PER_TASK: usize = 50;
    const TASKS_PER_NODE: usize = 3;
    let redis = RedisServer::start();
    let nodes = [node(&redis).await, node(&redis).await, node(&redis).await];
    let total = nodes.len() * TASKS_PER_NODE * PER_TASK;
    let mut watchers: Vec<Subscription> = nodes.iter().map(|n| n.subscribe("race", None)).collect();

    let mut tasks = Vec::new();
    for (n, hub) in nodes.iter().enumerate() {
        for t in 0..TASKS_PER_NODE {
            let hub = hub.clone();
            tasks.push(async_std::task::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..PER_TASK {
                    let m = hub
                        .publish("race", "message", format!("{n}/{t}/{i}"))
                        .await
                        .expect("publish");
                    ids.push(m.id);
                }
                ids
            }));
        }
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await);
    }
    acknowledged.sort_unstable();
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(
        acknowledged, expected,
        "acknowledged ids are 1..=N, once each"
    );

    for (n, watcher) in watchers.iter_mut().enumerate() {
        let seen = next_ids(watcher, total, &format!("node {n}")).await;
        assert_eq!(seen, expected, "node {n} delivers 1..=N in order");
    }
    for hub in &nodes {
        assert_eq!(hub.stats("race").last, total as u64);
    }
}

#[async_std::test]
async fn a_node_started_later_resumes_from_the_shared_log() {
    let redis = RedisServer::start();
    let a = node(&redis).await;
    for i in 1..=5 {
        a.publish("resume", "message", format!("m{i}"))
            .await
            .expect("publish");
    }
    // A client that read up to 2 on node a comes back on node d, which did not exist then.
    let d = node(&redis).await;
    let backlog = d.since("resume", 2);
    let ids: Vec<u64> = backlog.messages.iter().map(|m| m.id).collect();
    assert_eq!((ids, backlog.last), (vec![3, 4, 5], 5));
    let mut sse = d.subscribe("resume", Some(4));
    assert_eq!(
        sse.backlog.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![5]
    );
    a.publish("resume", "message", "m6".into())
        .await
        .expect("publish");
    assert_eq!(next(&mut sse, "d").await.data, "m6");
}

#[async_std::test]
async fn announcements_missed_while_disconnected_are_filled_from_the_log() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut on_b = b.subscribe("gap", Some(0));
    a.publish("gap", "message", "before".into())
        .await
        .expect("publish");
    assert_eq!(next(&mut on_b, "b").await.id, 1);

    // Cut every subscriber connection, as a network blip would, and publish at once: node b
    // misses the announcements and must read them from the log when it is back.
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let killed: u64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut conn)
        .await
        .expect("CLIENT KILL");
    assert!(killed >= 2, "both nodes' subscriptions were cut ({killed})");
    for i in 2..=20 {
        a.publish("gap", "message", format!("m{i}"))
            .await
            .expect("publish");
    }
    assert_eq!(
        next_ids(&mut on_b, 19, "b").await,
        (2..=20).collect::<Vec<_>>()
    );
    // And the live path works again afterwards.
    a.publish("gap", "message", "after".into())
        .await
        .expect("publish");
    assert_eq!(next(&mut on_b, "b").await.id, 21);
}

#[async_std::test]
async fn redis_restart_mid_stream_loses_nothing_acknowledged() {
    let mut redis = RedisServer::start_persistent();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut stream_on_b = b.subscribe("live", Some(0));
    let mut stream_on_a = a.subscribe("live", Some(0));
    for i in 1..=5 {
        a.publish("live", "message", format!("m{i}"))
            .await
            .expect("publish");
    }
    assert_eq!(
        next_ids(&mut stream_on_b, 5, "b").await,
        vec![1, 2, 3, 4, 5]
    );

    redis.kill();
    match a.publish("live", "message", "lost".into()).await {
        Err(HubError::Unavailable { reason }) => assert!(!reason.is_empty()),
        other => panic!("publish with Redis away must be Unavailable, got {other:?}"),
    }
    redis.restart();

    let mut acknowledged = Vec::new();
    for i in 6..=10 {
        acknowledged.push(publish_when_back(&a, "live", &format!("m{i}")).await.id);
    }
    assert_eq!(
        acknowledged,
        vec![6, 7, 8, 9, 10],
        "ids go on where they stopped"
    );
    // The open streams never ended, and got every acknowledged message once, in order.
    assert_eq!(next_ids(&mut stream_on_b, 5, "b").await, acknowledged);
    assert_eq!(
        next_ids(&mut stream_on_a, 10, "a").await,
        (1..=10).collect::<Vec<_>>()
    );
    // The log survived the restart: a new node resumes from it.
    let c = node(&redis).await;
    let ids: Vec<u64> = c.since("live", 0).messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
}

#[async_std::test]
async fn only_one_node_holds_the_ticker_lease() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let lease = Duration::from_secs(30);
    assert!(
        a.claim_ticker(lease).await,
        "the first node takes the lease"
    );
    assert!(!b.claim_ticker(lease).await, "a second node does not");
    assert!(a.claim_ticker(lease).await, "the holder renews it");
    // Once the holder stops renewing and the lease runs out, another node takes over.
    let short = Duration::from_millis(50);
    assert!(a.claim_ticker(short).await);
    let mut taken = false;
    for _ in 0..200 {
        if b.claim_ticker(lease).await {
            taken = true;
            break;
        }
        async_std::task::sleep(Duration::from_millis(10)).await;
    }
    assert!(taken, "b takes the lease after a's ran out");
    assert!(!a.claim_ticker(lease).await);
}

#[async_std::test]
async fn channels_are_bounded_across_nodes() {
    let redis = RedisServer::start();
    let config = HubConfig {
        max_channels: 2,
        ..HubConfig::default()
    };
    let (a, b) = (
        node_with(&redis, config).await,
        node_with(&redis, config).await,
    );
    a.publish("one", "message", "x".into())
        .await
        .expect("first channel");
    b.publish("two", "message", "x".into())
        .await
        .expect("second channel");
    match a.publish("three", "message", "x".into()).await {
        Err(HubError::TooManyChannels { max: 2 }) => {}
        other => panic!("a third channel must be refused, got {other:?}"),
    }
    b.publish("default", "message", "tick".into())
        .await
        .expect("default is always allowed");
    b.publish("one", "message", "y".into())
        .await
        .expect("known channel");
}

async fn server_on(redis: &RedisServer) -> Server {
    let config = Config {
        addr: ([127, 0, 0, 1], 0).into(),
        ..Config::default()
    };
    let hub = node_with(redis, config.hub_config()).await;
    Server::start_with_hub(config, Clock::manual(), hub)
        .await
        .expect("server")
}

/// One request with `Connection: close`; the whole response.
async fn http(server: &Server, head: &str, body: &str) -> String {
    let mut stream = async_std::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    let request = format!(
        "{head} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    async_std::future::timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .expect("response within patience")
        .expect("read");
    response
}

#[async_std::test]
async fn servers_on_one_redis_act_as_one_and_answer_503_while_it_is_away() {
    let mut redis = RedisServer::start();
    let (a, b) = (server_on(&redis).await, server_on(&redis).await);

    // An SSE stream on b, open before the publish on a.
    let mut sse = async_std::net::TcpStream::connect(b.addr())
        .await
        .expect("connect");
    sse.write_all(b"GET /sseStream?channel=http HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("send");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("event: testEvent") {
        let n = async_std::future::timeout(PATIENCE, sse.read(&mut buf))
            .await
            .expect("SSE prelude")
            .expect("read");
        assert!(n > 0, "SSE stream closed early");
        seen.extend_from_slice(&buf[..n]);
    }

    let published = http(&a, "POST /publish?channel=http", "from a").await;
    assert!(published.contains("{\"id\":1}"), "{published}");
    while !String::from_utf8_lossy(&seen).contains("data: from a") {
        let n = async_std::future::timeout(PATIENCE, sse.read(&mut buf))
            .await
            .expect("the message on b's SSE stream")
            .expect("read");
        assert!(n > 0, "SSE stream closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("id: 1\n"));
    let polled = http(&b, "GET /poll?channel=http&since=0", "").await;
    assert!(polled.contains("\"data\":\"from a\""), "{polled}");

    // A WebSocket on a, upgraded while Redis is there.
    let mut ws = async_std::net::TcpStream::connect(a.addr())
        .await
        .expect("connect");
    ws.write_all(
        b"GET /ws?channel=http HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("send");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let n = async_std::future::timeout(PATIENCE, ws.read(&mut buf[..1]))
            .await
            .expect("101")
            .expect("read");
        assert!(n > 0, "closed before the 101");
        head.push(buf[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");

    redis.kill();
    let refused = http(&a, "POST /publish?channel=http", "lost").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("Redis is unreachable"), "{refused}");

    // A text sent on the WebSocket now cannot be published: close 1013, try again later.
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 4];
    frame.extend_from_slice(&mask);
    frame.extend(b"lost".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    ws.write_all(&frame).await.expect("send a text frame");
    let mut frames = Vec::new();
    while frames.len() < 4 || frames[0] != 0x88 {
        let n = async_std::future::timeout(PATIENCE, ws.read(&mut buf))
            .await
            .expect("a close frame")
            .expect("read");
        assert!(n > 0, "closed without a close frame: {frames:?}");
        frames.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&frames[2..4], &1013u16.to_be_bytes(), "{frames:?}");

    drop(ws);
    drop(sse);
    a.shutdown().await;
    b.shutdown().await;
}

/// Every spec run across nodes (`specs/nodes_*.yaml`) replayed with each of its servers a node
/// on a real Redis (`longconn run --hub`), all at once, must give the very transcript of the
/// in-process run: the same snapshot, byte for byte. Each replay keeps its keys under a prefix
/// of its own and deletes them after, so Redis is empty at the end.
#[async_std::test]
async fn node_specs_replay_through_redis_byte_for_byte() {
    let redis = RedisServer::start();
    let mut paths: Vec<PathBuf> = std::fs::read_dir("specs")
        .expect("read specs/")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("nodes_") && name.ends_with(".yaml")
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no specs/nodes_*.yaml");

    let replays: Vec<_> = paths
        .iter()
        .map(|path| {
            let spec = longconn::spec::load(path).unwrap_or_else(|error| panic!("{error}"));
            let target = Target::EmbeddedOnRedis(redis.url());
            async_std::task::spawn(async move { runner::replay(&spec, &target).await })
        })
        .collect();
    let mut differences = Vec::new();
    for (path, replay) in paths.iter().zip(replays) {
        let transcript = match replay.await {
            Ok(transcript) => transcript.to_string(),
            Err(error) => panic!("{error}"),
        };
        let snapshot = runner::snapshot::locate(path);
        let stored = runner::snapshot::read(&snapshot.path)
            .expect("read the snapshot")
            .unwrap_or_else(|| panic!("{} has no snapshot", path.display()));
        if !runner::snapshot::matches(&stored, &transcript) {
            differences.push(format!(
                "{} through Redis differs from {}:\n{}",
                path.display(),
                snapshot.path.display(),
                runner::snapshot::diff(&stored, &transcript)
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // The messages did cross Redis (the publish script ran), and every replay cleaned up.
    let stats = command(redis.port, &["INFO", "commandstats"]);
    assert!(
        stats.contains("cmdstat_xadd:"),
        "no XADD on Redis:\n{stats}"
    );
    assert_eq!(command(redis.port, &["DBSIZE"]), "0", "keys left behind");
}

/// `bench fanout` deals its subscribers out over every `--target` and publishes on the first:
/// through three nodes on one Redis, every subscriber gets every message.
#[async_std::test]
async fn bench_fanout_over_three_nodes_loses_nothing() {
    let redis = RedisServer::start();
    let nodes = [
        server_on(&redis).await,
        server_on(&redis).await,
        server_on(&redis).await,
    ];
    let args = longconn::bench::FanoutArgs {
        target: nodes
            .iter()
            .map(|node| format!("http://{}", node.addr()))
            .collect(),
        transport: longconn::bench::Transport::Sse,
        clients: 9,
        messages: 10,
        rate: 50.0,
        drain: Duration::from_secs(5),
        channel: None,
        receivers: 1,
    };
    let report = longconn::bench::fanout(&args).await.expect("fanout");
    assert_eq!(
        (
            report.targets,
            report.connected,
            report.expected,
            report.lost
        ),
        (3, 9, 90, 0),
        "{report:?}"
    );
    for node in nodes {
        node.shutdown().await;
    }
}

impl ServeProcess {
    /// `longconn serve --hub REDIS` with a memory store.
    fn start(redis: &RedisServer) -> ServeProcess {
        let args = [
            "--interval",
            "60m",
            "--store",
            "memory",
            "--hub",
            &redis.url(),
        ];
        ServeProcess::spawn(&args, Stdio::null())
    }

    /// Reads an SSE stream resuming after `since` until `needle`.
    fn sse_until(&self, channel: &str, since: u64, needle: &str) -> String {
        let head = format!(
            "GET /sseStream?channel={channel} HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: {since}\r\n\r\n"
        );
        self.stream_until(&head, needle)
    }
}

/// Every integer following `key` in `text`, in order.
fn numbers_after(text: &str, key: &str) -> Vec<u64> {
    text.match_indices(key)
        .filter_map(|(at, _)| {
            let digits: String = text[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn a_new_process_on_an_emptied_redis_numbers_above_the_old_ids_and_signals_the_gap() {
    let redis = RedisServer::start();
    let first = ServeProcess::start(&redis);
    let old: Vec<u64> = (1..=3)
        .map(|n| first.publish("news", &format!("old {n}")))
        .collect();
    assert!(old.windows(2).all(|w| w[1] == w[0] + 1), "{old:?}");
    drop(first);
    // Redis loses everything (a restart without persistence would too).
    assert_eq!(command(redis.port, &["FLUSHALL"]), "OK");
    assert_eq!(command(redis.port, &["DBSIZE"]), "0");

    let second = ServeProcess::start(&redis);
    let new = second.publish("news", "new");
    assert!(new > old[2], "id {new} reuses the old ones {old:?}");
    assert!(new < 1 << 53, "ids stay JSON-safe: {new}");

    // A client holding an old id gets the whole retained log and the gap signal.
    let polled = second.request(
        &format!("GET /poll?channel=news&since={} HTTP/1.1", old[1]),
        "",
    );
    assert!(polled.starts_with("HTTP/1.1 200"), "{polled}");
    assert_eq!(numbers_after(&polled, "\"id\":"), vec![new], "{polled}");
    assert!(
        polled.contains(&format!("\"missed\":{{\"from\":{},", old[1] + 1)),
        "{polled}"
    );
    let sse = second.sse_until("news", old[1], &format!("id: {new}\n"));
    let missed = sse.find("event: missed").expect("the gap signal on SSE");
    assert!(
        missed < sse.find("data: new").expect("the message"),
        "{sse}"
    );
    // A client holding nothing is told of no gap: nothing it could have had is lost.
    let fresh = second.request("GET /poll?channel=news&since=0 HTTP/1.1", "");
    assert_eq!(numbers_after(&fresh, "\"id\":"), vec![new], "{fresh}");
    assert!(!fresh.contains("missed"), "{fresh}");
}
