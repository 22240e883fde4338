//! Proof in a real browser: every technique's demo page, driven by Debian's headless
//! Chromium through `tests/browser/drive.mjs` (playwright-core), against the server started
//! in-process on `127.0.0.1:0`. The driver prints what each page received; the tests assert it.
//!
//! - `every_technique_delivers_in_order`: short polling, long polling, iframe polling, JSONP
//!   polling, forever iframe, WebSocket echo (`/testSocket`, the seed's exact reply), WebSocket
//!   push (`/ws`) and SSE (`testEvent` dispatched, then messages with their ids), each page
//!   showing the published messages once, in order; a screenshot of each under
//!   `target/browser-screenshots/`.
//! - `reconnects_lose_nothing`: the server cuts an SSE stream and a `/ws` socket mid-way (a
//!   subscriber past its queue bound), and restarts on the same port under a long poll and an SSE
//!   stream; the browser's own reconnect (`Last-Event-ID`, `since`) ends with every message once.
//! - `cross_origin_needs_allow_origin`: a page of another origin (a second listener) gets messages
//!   by SSE, polling, iframe polling, forever iframe and WebSocket only when `allow_origins` names
//!   it; otherwise Chromium blocks each (CORS, postMessage origin, WebSocket 403).
//!
//! The driver needs `npm ci` in `tests/browser/` and `/usr/bin/chromium` (`tests/run` installs
//! both); without them each test fails with one line saying so, they are never skipped.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use async_std::channel::{unbounded, Receiver};
use common::serve::Serve;
use common::{missing_tool, node};
use longconn::clock::Clock;
use longconn::server::{Config, Server};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The seed's echo reply to the text `T` (CONTRACT: `/testSocket`).
const ECHO_REPLY: &str = "服务端已收到信息,您的信息是T";

/// What every delivery page must show: markup, quotes, a script end tag, U+2028 and CJK text
/// prove each technique's escaping in a real parser.
const MESSAGES: [&str; 3] = [
    "first",
    "second <b>&amp;</b> \"quoted\"",
    "third </script><script>window.pwned = 1</script> \u{2028} 终",
];

/// No browser run may take longer than this (the driver's own waits are 30 s each).
const DRIVER_DEADLINE: Duration = Duration::from_secs(100);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn screenshots() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("browser-screenshots")
}

/// The Node driver, running one plan.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    started: Instant,
}

/// A line the driver printed.
enum Said {
    Await(String),
    Result(Value),
}

/// The driver's folder, once Node's playwright-core and Chromium are known to be there; fails the
/// test at once with what to do when either is missing.
fn driver_dir() -> PathBuf {
    let dir = node::npm_folder("browser", "playwright-core", "the browser driver");
    if !Path::new("/usr/bin/chromium").exists() {
        missing_tool(
            "no Chromium at /usr/bin/chromium: run tests/run (or `apt-get install -y chromium`)",
        );
    }
    dir
}

impl Driver {
    /// Starts `node tests/browser/drive.mjs PLAN`; fails the test at once with what to do when
    /// Node, playwright-core or Chromium is missing.
    fn start(plan: &Value) -> Driver {
        let dir = driver_dir();
        let mut child = node::spawn(
            Command::new("node")
                .arg(dir.join("drive.mjs"))
                .arg(plan.to_string())
                .current_dir(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
            "the browser driver",
        );
        let stdin = child.stdin.take().expect("driver stdin is piped");
        let stdout = child.stdout.take().expect("driver stdout is piped");
        let (tx, lines) = unbounded();
        // A thread reads the pipe, so the async test waits on a channel, never on a blocking read.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send_blocking(line).is_err() {
                    break;
                }
            }
        });
        Driver {
            child,
            stdin,
            lines,
            started: Instant::now(),
        }
    }

    /// The next `AWAIT` or `RESULT` line; `None` when the driver is done. Panics on `FATAL`.
    async fn next(&mut self) -> Option<Said> {
        loop {
            let left = DRIVER_DEADLINE.saturating_sub(self.started.elapsed());
            let line = match async_std::future::timeout(left, self.lines.recv()).await {
                Err(_) => panic!("the browser driver took over {DRIVER_DEADLINE:?}"),
                Ok(Err(_)) => return None,
                Ok(Ok(line)) => line,
            };
            if let Some(message) = line.strip_prefix("FATAL ") {
                panic!("the browser driver failed: {message}");
            } else if let Some(name) = line.strip_prefix("AWAIT ") {
                return Some(Said::Await(name.to_owned()));
            } else if let Some(json) = line.strip_prefix("RESULT ") {
                let value: Value = serde_json::from_str(json).expect("driver RESULT is JSON");
                println!(
                    "{:>8.1?} {:<24} ok={} shown={} {}",
                    self.started.elapsed(),
                    value["name"].as_str().unwrap_or("?"),
                    value["ok"],
                    shown(&value).len(),
                    value["error"].as_str().unwrap_or_default()
                );
                return Some(Said::Result(value));
            }
            // Anything else is the driver's own chatter; shown with the test's output.
            println!("driver: {line}");
        }
    }

    /// Lets the scenario `name` go on after its `AWAIT`.
    fn go(&mut self, name: &str) {
        writeln!(self.stdin, "GO {name}").expect("write to the browser driver");
        self.stdin
            .flush()
            .expect("flush the browser driver's stdin");
    }

    /// Every RESULT, by scenario name, when no scenario awaits anything.
    async fn results(mut self) -> HashMap<String, Value> {
        let mut results = HashMap::new();
        while let Some(said) = self.next().await {
            match said {
                Said::Result(r) => {
                    results.insert(r["name"].as_str().unwrap_or("?").to_owned(), r);
                }
                Said::Await(name) => panic!("scenario {name} awaits, but nothing drives it"),
            }
        }
        self.finish();
        results
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("wait for the browser driver");
        println!("browser run took {:?}", self.started.elapsed());
        assert!(status.success(), "the browser driver exited with {status}");
    }
}

/// The result of `name`, which must have succeeded.
fn result<'a>(results: &'a HashMap<String, Value>, name: &str) -> &'a Value {
    let r = results
        .get(name)
        .unwrap_or_else(|| panic!("no result for {name}: {results:#?}"));
    assert_eq!(r["ok"], true, "{name} failed in the browser: {r:#}");
    r
}

/// `(id, data)` of every message-like value the page showed, in order; an SSE id (a string) is
/// read as a number.
fn shown(result: &Value) -> Vec<(u64, String)> {
    result["received"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|v| {
                    let data = v.get("data")?.as_str()?.to_owned();
                    let id = match &v["id"] {
                        Value::Number(n) => n.as_u64()?,
                        Value::String(s) => s.parse().ok()?,
                        _ => return None,
                    };
                    Some((id, data))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The strings (status lines such as "open") the page showed, in order.
fn notes(result: &Value) -> Vec<String> {
    result["received"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `(1, data[0]), (2, data[1]), ...`
fn numbered(data: &[&str]) -> Vec<(u64, String)> {
    (1..).zip(data.iter().map(|d| d.to_string())).collect()
}

async fn start(config: Config) -> Result<(Server, String), Box<dyn std::error::Error>> {
    let server = Server::start(config, Clock::manual()).await?;
    let url = format!("http://{}", server.addr());
    Ok((server, url))
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn page(base: &str, name: &str, channel: &str) -> String {
    format!("{base}/demo/{name}.html?channel={channel}")
}

fn deliver(base: &str, name: &str, file: &str, ready: &str) -> Value {
    json!({
        "name": name, "kind": "deliver", "url": page(base, file, name), "ready": ready,
        "publish": format!("{base}/publish?channel={name}"), "messages": MESSAGES,
    })
}

#[async_std::test]
async fn every_technique_delivers_in_order() -> TestResult {
    let (server, base) = start(Config {
        addr: local(),
        ..Default::default()
    })
    .await?;
    let plan = json!({
        "screenshots": screenshots(),
        "scenarios": [
            deliver(&base, "short-poll", "short-poll", "load"),
            deliver(&base, "long-poll", "long-poll", "load"),
            deliver(&base, "iframe-poll", "iframe-poll", "load"),
            deliver(&base, "jsonp", "jsonp", "load"),
            deliver(&base, "forever-iframe", "forever-iframe", "response:/iframeLongConnection"),
            deliver(&base, "sse", "sse", "testEvent"),
            deliver(&base, "websocket-hub", "websocket-hub", "roundtrip:typed in the page"),
            {"name": "websocket-echo", "kind": "echo", "text": "T",
             "url": page(&base, "websocket-echo", "websocket-echo")},
        ],
    });
    let results = Driver::start(&plan).results().await;

    for name in [
        "short-poll",
        "long-poll",
        "iframe-poll",
        "jsonp",
        "forever-iframe",
    ] {
        let r = result(&results, name);
        assert_eq!(shown(r), numbered(&MESSAGES), "{name}: {r:#}");
    }
    // No message data ever ran as script, whatever the technique.
    for (name, r) in &results {
        assert!(!r["console"].to_string().contains("pwned"), "{name}: {r:#}");
    }

    let sse = result(&results, "sse");
    let first = notes(sse).into_iter().find(|n| n != "open");
    assert!(
        first
            .as_deref()
            .is_some_and(|n| n.starts_with("testEvent ")),
        "the testEvent event was not dispatched first: {sse:#}"
    );
    assert_eq!(shown(sse), numbered(&MESSAGES), "sse: {sse:#}");

    let hub = result(&results, "websocket-hub");
    let mut want = vec!["typed in the page"];
    want.extend(MESSAGES);
    assert_eq!(shown(hub), numbered(&want), "websocket-hub: {hub:#}");

    let echo = result(&results, "websocket-echo");
    assert_eq!(
        notes(echo),
        ["open", ECHO_REPLY],
        "websocket-echo: {echo:#}"
    );

    for (name, r) in &results {
        let png = r["screenshot"].as_str().unwrap_or_default();
        assert!(Path::new(png).is_file(), "{name}: no screenshot at {png:?}");
    }
    server.shutdown().await;
    Ok(())
}

/// `"{name} 1"`, `"{name} 2"`, ... up to `n`: distinct data per scenario.
fn series(name: &str, range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("{name} {i}")).collect()
}

/// A page that shows `"{name} 1"` and `"{name} 2"`, then (after the test cut or restarted the
/// server and published more) every one up to `total`. A WebSocket page sends the first itself.
fn reconnect(base: &str, name: &str, file: &str, ready: &str, total: usize) -> Value {
    let (ready, first) = match ready {
        "roundtrip" => (format!("roundtrip:{name} 1"), 2),
        other => (other.to_owned(), 1),
    };
    json!({
        "name": name, "kind": "reconnect", "url": page(base, file, name), "ready": ready,
        "publish": format!("{base}/publish?channel={name}"),
        "messages": series(name, first..=2), "expect": series(name, 1..=total),
    })
}

/// The `/sseStream` requests the page made, with the `Last-Event-ID` each carried.
fn sse_requests(result: &Value) -> Vec<(String, Option<String>)> {
    result["requests"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|r| r["url"].as_str().is_some_and(|u| u.contains("/sseStream")))
                .map(|r| {
                    let url = r["url"].as_str().unwrap_or_default().to_owned();
                    (url, r["lastEventId"].as_str().map(str::to_owned))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_resumed_with_last_event_id(name: &str, result: &Value) {
    let requests = sse_requests(result);
    assert!(
        requests.len() >= 2,
        "{name}: EventSource never reconnected: {result:#}"
    );
    for (url, last) in &requests[1..] {
        assert!(
            last.as_deref().is_some_and(|id| id.parse::<u64>().is_ok()),
            "{name}: the reconnect {url} carried no Last-Event-ID: {result:#}"
        );
    }
}

/// Messages published at once through the hub, so a subscriber with a queue of 2 falls behind: many
/// more than 2, because the subscriber's writer drains in parallel on the other core (with 50 it
/// kept up now and then, and the stream was never cut).
const BURST: usize = 400;

#[async_std::test]
async fn reconnects_lose_nothing() -> TestResult {
    // A queue bound of 2: a burst cuts the SSE stream and the WebSocket off mid-way.
    let (cutting, cut_base) = start(Config {
        addr: local(),
        subscriber_queue: 2,
        ..Default::default()
    })
    .await?;
    // `longconn serve` in its own process, killed and started again on the same port under a
    // long poll and an SSE stream.
    let store = std::env::temp_dir().join(format!("longconn-browser-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&store);
    let mut serving = Serve::start("127.0.0.1:0", &store);
    let restart_base = serving.url();
    let plan = json!({
        "screenshots": screenshots(),
        "scenarios": [
            reconnect(&cut_base, "sse-cut", "sse", "testEvent", 2 + BURST),
            reconnect(&cut_base, "ws-cut", "websocket-hub", "roundtrip", 2 + BURST),
            reconnect(&restart_base, "longpoll-restart", "long-poll", "load", 4),
            reconnect(&restart_base, "sse-restart", "sse", "testEvent", 4),
        ],
    });
    let mut driver = Driver::start(&plan);
    let mut results = HashMap::new();
    let mut awaiting_restart = Vec::new();
    while let Some(said) = driver.next().await {
        match said {
            Said::Result(r) => {
                results.insert(r["name"].as_str().unwrap_or("?").to_owned(), r);
            }
            Said::Await(name) if name.ends_with("-cut") => {
                for data in series(&name, 3..=2 + BURST) {
                    cutting.hub().publish(&name, "message", data).await?;
                }
                driver.go(&name);
            }
            Said::Await(name) => {
                awaiting_restart.push(name);
                if awaiting_restart.len() < 2 {
                    continue;
                }
                // Both pages hold 1 and 2: restart on the same port and store (which carries
                // 1 and 2), publish 3 and 4.
                let addr = serving.addr.to_string();
                println!("restarting `longconn serve` on {addr} under {awaiting_restart:?}");
                serving.kill();
                serving = Serve::start(&addr, &store);
                for name in &awaiting_restart {
                    for data in series(name, 3..=4) {
                        serving.publish(name, &data);
                    }
                }
                for name in std::mem::take(&mut awaiting_restart) {
                    driver.go(&name);
                }
            }
        }
    }
    driver.finish();

    for (name, total) in [
        ("sse-cut", 2 + BURST),
        ("ws-cut", 2 + BURST),
        ("longpoll-restart", 4),
        ("sse-restart", 4),
    ] {
        let r = result(&results, name);
        let all = series(name, 1..=total);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut expected = numbered(&all);
        if name.ends_with("-restart") {
            // `longconn serve` numbers above a clock floor; ids still rise by one, across the
            // restart too.
            let base = shown(r).first().map_or(0, |m| m.0 - 1);
            expected.iter_mut().for_each(|m| m.0 += base);
        }
        assert_eq!(shown(r), expected, "{name}: {r:#}");
    }
    assert_resumed_with_last_event_id("sse-cut", result(&results, "sse-cut"));
    assert_resumed_with_last_event_id("sse-restart", result(&results, "sse-restart"));
    let ws = result(&results, "ws-cut");
    assert!(
        notes(ws).iter().any(|n| n == "closed 1008"),
        "ws-cut: the server never cut the socket off: {ws:#}"
    );
    assert!(
        requested(ws, "/ws?channel=ws-cut&since="),
        "ws-cut: the page never reconnected with since: {ws:#}"
    );
    let lp = result(&results, "longpoll-restart");
    let second = shown(lp).get(1).map_or(2, |m| m.0);
    assert!(
        requested(lp, &format!("&since={second}&")),
        "longpoll-restart: no poll resumed after 2: {lp:#}"
    );

    cutting.shutdown().await;
    serving.kill();
    Ok(())
}

/// True when the page requested a URL containing `part`.
fn requested(result: &Value, part: &str) -> bool {
    result["requests"].as_array().is_some_and(|all| {
        all.iter()
            .any(|r| r["url"].as_str().is_some_and(|u| u.contains(part)))
    })
}

// `longconn serve` in its own process ([`Serve`]): killing it closes every connection, as a
// crash would.
impl Serve {
    /// Starts `longconn serve --addr ADDR --store STORE`.
    fn start(addr: &str, store: &Path) -> Serve {
        let store = store.to_str().expect("a UTF-8 path");
        Serve::spawn_on(addr, &["--store", store], Stdio::inherit())
    }
}

/// A second listener on another port (another origin) serving `tests/browser/cross-origin.html`.
async fn foreign_origin() -> Result<String, Box<dyn std::error::Error>> {
    let listener = async_std::net::TcpListener::bind(local()).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let mut app = tide::new();
    app.at("/cross-origin.html").get(|_| async {
        let mut res = tide::Response::new(200);
        res.set_body(include_str!("browser/cross-origin.html"));
        res.set_content_type("text/html; charset=utf-8");
        Ok(res)
    });
    async_std::task::spawn(async move {
        if let Err(e) = app.listen(listener).await {
            eprintln!("the foreign-origin listener stopped: {e}");
        }
    });
    Ok(origin)
}

const PROBES: [&str; 5] = ["sse", "poll", "iframe", "forever", "ws"];

#[async_std::test]
async fn cross_origin_needs_allow_origin() -> TestResult {
    let foreign = foreign_origin().await?;
    let (allowing, allowing_base) = start(Config {
        addr: local(),
        allow_origins: vec![foreign.clone()],
        ..Default::default()
    })
    .await?;
    let (refusing, refusing_base) = start(Config {
        addr: local(),
        ..Default::default()
    })
    .await?;
    for server in [&allowing, &refusing] {
        for data in ["across 1", "across 2"] {
            server
                .hub()
                .publish("cross", "message", data.into())
                .await?;
        }
    }
    let mut scenarios = Vec::new();
    for (verdict, base) in [("allowed", &allowing_base), ("refused", &refusing_base)] {
        for probe in PROBES {
            scenarios.push(json!({
                "name": format!("cross-{verdict}-{probe}"), "kind": "cross",
                "url": format!("{foreign}/cross-origin.html?api={base}&probe={probe}&channel=cross"),
            }));
        }
    }
    let plan = json!({ "screenshots": screenshots(), "scenarios": scenarios });
    let results = Driver::start(&plan).results().await;

    for probe in PROBES {
        let name = format!("cross-allowed-{probe}");
        let r = result(&results, &name);
        assert_eq!(
            r["outcome"]["data"],
            json!(["across 1", "across 2"]),
            "{name}: {r:#}"
        );
    }
    // What Chromium says when it blocks each technique.
    let blocked = [
        ("sse", "CORS policy"),
        ("poll", "CORS policy"),
        ("iframe", "does not match the recipient window's origin"),
        ("forever", "does not match the recipient window's origin"),
        ("ws", "403"),
    ];
    for (probe, says) in blocked {
        let name = format!("cross-refused-{probe}");
        let r = result(&results, &name);
        assert_eq!(r["outcome"]["data"], json!([]), "{name} got data: {r:#}");
        assert!(
            r["console"].to_string().contains(says),
            "{name}: Chromium did not say {says:?}: {r:#}"
        );
    }
    allowing.shutdown().await;
    refusing.shutdown().await;
    Ok(())
}

/// `Server::shutdown` then `Server::start` on the same port, in one process (as the runner and
/// library users restart): the page's next long poll must reach the new server.
///
/// Fails today: `shutdown` stops accepting and waits `SHUTDOWN_GRACE`, but never closes the
/// connections still open, and their tasks go on serving the old app. Chromium's keep-alive
/// connection stays on the old server, whose shut hub answers `/longpoll?since=2` with 204 at
/// once, so the page polls in a hot loop and never sees 3 and 4 from the new server.
#[async_std::test]
async fn in_process_restart_reaches_the_new_server() -> TestResult {
    let (mut server, base) = start(Config {
        addr: local(),
        ..Default::default()
    })
    .await?;
    let name = "inproc-restart";
    let plan = json!({
        "screenshots": screenshots(),
        "scenarios": [reconnect(&base, name, "long-poll", "load", 4)],
    });
    let mut driver = Driver::start(&plan);
    let mut results = HashMap::new();
    while let Some(said) = driver.next().await {
        match said {
            Said::Result(r) => {
                results.insert(r["name"].as_str().unwrap_or("?").to_owned(), r);
            }
            Said::Await(name) => {
                let addr = server.addr();
                server.shutdown().await;
                server = Server::start(
                    Config {
                        addr,
                        ..Default::default()
                    },
                    Clock::manual(),
                )
                .await?;
                for data in series(&name, 1..=4) {
                    server.hub().publish(&name, "message", data).await?;
                }
                driver.go(&name);
            }
        }
    }
    driver.finish();
    let r = results
        .get(name)
        .unwrap_or_else(|| panic!("no result for {name}"));
    let polls = r["requests"].as_array().map_or(0, |all| {
        all.iter()
            .filter(|q| q["url"].as_str().is_some_and(|u| u.contains("/longpoll")))
            .count()
    });
    assert_eq!(
        r["ok"],
        true,
        "after Server::shutdown + Server::start on the same port the page never reached the new \
         server: {polls} long polls, still answered by the old one over its keep-alive \
         connection (shutdown leaves open connections serving): {:?}",
        shown(r)
    );
    let all = series(name, 1..=4);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    assert_eq!(shown(r), numbered(&all), "{name}: {r:#}");
    server.shutdown().await;
    Ok(())
}

// The HTML report of `longconn run` and the `/compare` page, looked at through
// `tests/browser/look.mjs`:
//
// - `html_report_shows_lanes_cards_and_the_diff`: `longconn run --report html=DIR --report
//   junit=FILE` on two copies of a spec, one with a tampered snapshot; Chromium opens
//   `DIR/index.html` from `file://` and the failing spec's page: lanes per connection, SSE, WebSocket
//   and chunk cards, the raw bytes one click away, the diff highlighted, no script on any page.
// - `compare_page_lanes_receive_in_order`: on `/compare` the publish box reaches all seven lanes in
//   order; polling lanes keep making requests, each stream makes one; paused and resumed, every
//   lane gets what was published meanwhile, the streams reconnecting once; the tick box publishes.
// - `demo_pages_cap_the_backlog`: a polling page opened on a channel with 30 messages shows the
//   last 20 and one line saying 10 are left out, with its channel in the channel field.

/// Runs `tests/browser/look.mjs PLAN`; every RESULT by scenario name.
async fn look(plan: &Value) -> HashMap<String, Value> {
    let dir = driver_dir();
    let plan = plan.to_string();
    let run = async_std::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("look.mjs"))
            .arg(plan)
            .current_dir(&dir)
            .stderr(Stdio::inherit())
            .output()
    });
    let output = async_std::future::timeout(DRIVER_DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("the browser driver took over {DRIVER_DEADLINE:?}"))
        .expect("cannot run `node` (Node.js 20 is needed for the browser driver)");
    let mut results = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if let Some(message) = line.strip_prefix("FATAL ") {
            panic!("the browser driver failed: {message}");
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            let value: Value = serde_json::from_str(json).expect("driver RESULT is JSON");
            results.insert(value["name"].as_str().unwrap_or("?").to_owned(), value);
        } else {
            println!("driver: {line}");
        }
    }
    assert!(
        output.status.success(),
        "the browser driver exited with {}",
        output.status
    );
    results
}

/// `specs/fanout.yaml` with its snapshot, and `specs/fanout_tampered.yaml` whose snapshot says
/// `everybody` where the server says `everyone`, in a fresh folder.
fn report_project(name: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("longconn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("specs"))?;
    std::fs::create_dir_all(dir.join("snapshots"))?;
    let spec =
        std::fs::read_to_string(root().join("specs/fanout_one_publish_three_transports.yaml"))?;
    let snap = std::fs::read_to_string(
        root().join("snapshots/specs@fanout_one_publish_three_transports.yaml.snap"),
    )?;
    std::fs::write(dir.join("specs/fanout.yaml"), &spec)?;
    std::fs::write(dir.join("specs/fanout_tampered.yaml"), &spec)?;
    std::fs::write(dir.join("snapshots/specs@fanout.yaml.snap"), &snap)?;
    let tampered = snap.replacen("data: everyone\\n", "data: everybody\\n", 1);
    assert_ne!(tampered, snap, "the snapshot has the line to tamper with");
    std::fs::write(
        dir.join("snapshots/specs@fanout_tampered.yaml.snap"),
        tampered,
    )?;
    Ok(dir)
}

#[async_std::test]
async fn html_report_shows_lanes_cards_and_the_diff() -> TestResult {
    let project = report_project("html-report")?;
    let status = Command::new(env!("CARGO_BIN_EXE_longconn"))
        .args([
            "run",
            "--report",
            "html=report",
            "--report",
            "junit=junit.xml",
        ])
        .current_dir(&project)
        .stdout(Stdio::null())
        .status()?;
    assert_eq!(status.code(), Some(1), "one spec differs from its snapshot");
    let junit = std::fs::read_to_string(project.join("junit.xml"))?;
    assert!(junit.contains("tests=\"2\" failures=\"1\""), "{junit}");

    let index = format!("file://{}", project.join("report/index.html").display());
    let plan = json!({
        "screenshots": screenshots(),
        "scenarios": [{"name": "report", "kind": "report", "index": index,
                       "spec": "specs/fanout_tampered.yaml", "width": 1100, "height": 700}],
    });
    let results = look(&plan).await;
    let r = result(&results, "report");

    let rows = r["index"]["rows"].as_array().expect("index rows");
    let row = |name: &str| {
        rows.iter()
            .find(|row| row["name"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {r:#}"))
    };
    assert_eq!(rows.len(), 2, "{r:#}");
    assert_eq!(row("specs/fanout.yaml")["result"], "passed");
    assert_eq!(row("specs/fanout_tampered.yaml")["result"], "failed");
    for row in rows {
        let time = row["time"].as_str().unwrap_or_default();
        assert!(time.ends_with(" ms") && time != "0.0 ms", "{row}");
    }
    assert_eq!(r["index"]["scripts"], 0);

    let spec = &r["spec"];
    assert_eq!(spec["verdict"], "failed");
    assert_eq!(spec["scripts"], 0);
    assert_eq!(spec["lanes"], json!(["sse", "ws", "poll", "hub"]));
    let cards: Vec<&str> = spec["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        cards.contains(&"sse: sse id=1 event=message data=\"everyone\""),
        "{cards:?}"
    );
    assert!(cards
        .iter()
        .any(|c| c.starts_with("ws: ws fin=1 opcode=text")));
    assert!(cards.contains(&"chunk: chunk 37 bytes"), "{cards:?}");
    assert_eq!(spec["added"], json!(["+< data: everyone\\n"]), "{spec:#}");
    assert_eq!(
        spec["removed"],
        json!(["-< data: everybody\\n"]),
        "{spec:#}"
    );
    let differs = spec["differs"].as_array().expect("differs");
    assert_eq!(differs.len(), 1, "{spec:#}");
    assert!(differs[0].as_str().is_some_and(|d| d.contains("everyone")));
    assert_eq!(spec["rawOpen"], 0, "raw bytes start folded");
    assert_eq!(spec["rawVisible"], true);
    assert!(
        spec["raw"]
            .as_str()
            .is_some_and(|raw| raw.contains("retry: 10000\\n")),
        "{spec:#}"
    );
    for png in ["report-index.png", "report-spec.png"] {
        assert!(screenshots().join(png).is_file(), "no screenshot {png}");
    }
    let _ = std::fs::remove_dir_all(&project);
    Ok(())
}

#[async_std::test]
async fn compare_page_lanes_receive_in_order() -> TestResult {
    let (server, base) = start(Config {
        addr: local(),
        ..Default::default()
    })
    .await?;
    let messages = ["hello", "你好，世界", "<b>not bold</b> & \"quoted\""];
    let plan = json!({
        "screenshots": screenshots(),
        "scenarios": [{
            "name": "compare", "kind": "compare", "url": format!("{base}/compare?channel=cmp"),
            "messages": messages, "polls": 3, "late": "published while paused",
            "publish": format!("{base}/publish?channel=cmp"), "width": 1400, "height": 760,
        }],
    });
    let results = look(&plan).await;
    let r = result(&results, "compare");
    let lanes = [
        "poll", "longpoll", "iframe", "jsonp", "forever", "ws", "sse",
    ];
    let data = |state: &Value, lane: &str| -> Vec<(u64, String)> {
        state["received"][lane]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|m| Some((m["id"].as_u64()?, m["data"].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = &r["before"];
    let after = &r["after"];
    let mut late = messages.to_vec();
    late.push("published while paused");
    for lane in lanes {
        assert_eq!(data(before, lane), numbered(&messages), "{lane}: {r:#}");
        assert_eq!(data(after, lane), numbered(&late), "{lane}: {r:#}");
        assert!(before["bytes"][lane].as_u64() > Some(0), "{lane}: {r:#}");
    }
    let requests = |state: &Value, lane: &str| state["requests"][lane].as_u64().unwrap_or(0);
    // Polling asks again and again; a stream is one request (one connection) until cut.
    for lane in ["poll", "iframe", "jsonp"] {
        assert!(requests(before, lane) >= 3, "{lane}: {r:#}");
    }
    // A long poll is answered by each message it waits for, then asked again.
    assert!(requests(before, "longpoll") >= 2, "{r:#}");
    for lane in ["forever", "ws", "sse"] {
        assert_eq!(requests(before, lane), 1, "{lane}: {r:#}");
        assert_eq!(r["pausedRequests"][lane], 1, "{lane}: {r:#}");
        assert_eq!(requests(after, lane), 2, "{lane} reconnects once: {r:#}");
    }
    let delays = before["delays"].as_array().expect("delays");
    assert!(
        delays.len() == 3
            && delays
                .iter()
                .all(|d| d.as_str().is_some_and(|d| d.starts_with('+'))),
        "every SSE row shows its delay: {r:#}"
    );
    assert!(
        r["ticked"].as_u64() >= Some(1),
        "the tick box published: {r:#}"
    );
    assert!(!r["console"].to_string().contains("pageerror"), "{r:#}");
    assert!(screenshots().join("compare.png").is_file());
    server.shutdown().await;
    Ok(())
}

#[async_std::test]
async fn demo_pages_cap_the_backlog() -> TestResult {
    let (server, base) = start(Config {
        addr: local(),
        ..Default::default()
    })
    .await?;
    let all = series("backlog", 1..=30);
    for data in &all {
        server
            .hub()
            .publish("backlog", "message", data.clone())
            .await?;
    }
    let plan = json!({
        "screenshots": screenshots(),
        "scenarios": [{"name": "backlog", "kind": "backlog", "shown": 21,
                       "url": page(&base, "short-poll", "backlog")}],
    });
    let results = look(&plan).await;
    let r = result(&results, "backlog");
    assert_eq!(notes(r), ["10 older messages not shown"], "{r:#}");
    let last: Vec<(u64, String)> = (11..).zip(all[10..].iter().cloned()).collect();
    assert_eq!(shown(r), last, "{r:#}");
    assert_eq!(r["channel"], "backlog");
    assert_eq!(r["rows"], 21);
    Ok(())
}

/// A second listener on another port serving `tests/browser/private.html`.
async fn private_page_origin() -> Result<String, Box<dyn std::error::Error>> {
    let listener = async_std::net::TcpListener::bind(local()).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let mut app = tide::new();
    app.at("/private.html").get(|_| async {
        let mut res = tide::Response::new(200);
        res.set_body(include_str!("browser/private.html"));
        res.set_content_type("text/html; charset=utf-8");
        Ok(res)
    });
    async_std::task::spawn(async move {
        if let Err(e) = app.listen(listener).await {
            eprintln!("the private-page listener stopped: {e}");
        }
    });
    Ok(origin)
}

const PRIVATE_PROBES: [&str; 6] = ["sse", "poll", "longpoll", "iframe", "forever", "ws"];

/// A page with a subscriber token (`?token=`, the one way every browser technique can carry it)
/// receives a `--private` channel on every transport; the same page without one is refused on
/// each (and JSONP refuses even with a token).
#[async_std::test]
async fn private_channel_needs_a_subscriber_token_in_the_browser() -> TestResult {
    use longconn::server::access::jwt::{sign, JwtKey};
    const KEY: &[u8] = b"browser subscriber key";
    let page = private_page_origin().await?;
    let (server, base) = start(Config {
        addr: local(),
        allow_origins: vec![page.clone()],
        subscriber_jwt_key: Some(JwtKey(KEY.to_vec())),
        private: vec!["secret.*".to_owned()],
        ..Default::default()
    })
    .await?;
    for data in ["private 1", "private 2"] {
        server
            .hub()
            .publish("secret.room", "message", data.into())
            .await?;
    }
    let token = sign(&json!({"longconn": {"subscribe": ["secret.*"]}}), KEY);
    let url = |probe: &str, token: Option<&str>| {
        let token = token.map(|t| format!("&token={t}")).unwrap_or_default();
        format!("{page}/private.html?api={base}&probe={probe}&channel=secret.room{token}")
    };
    let mut scenarios = Vec::new();
    for probe in PRIVATE_PROBES {
        scenarios.push(json!({"name": format!("private-token-{probe}"), "kind": "cross", "url": url(probe, Some(&token))}));
        scenarios.push(json!({"name": format!("private-none-{probe}"), "kind": "cross", "url": url(probe, None)}));
    }
    scenarios.push(
        json!({"name": "private-token-jsonp", "kind": "cross", "url": url("jsonp", Some(&token))}),
    );
    let plan = json!({ "screenshots": screenshots(), "scenarios": scenarios });
    let results = Driver::start(&plan).results().await;

    for probe in PRIVATE_PROBES {
        let name = format!("private-token-{probe}");
        let r = result(&results, &name);
        assert_eq!(
            r["outcome"]["data"],
            json!(["private 1", "private 2"]),
            "{name}: {r:#}"
        );
        let name = format!("private-none-{probe}");
        let r = result(&results, &name);
        assert_eq!(r["outcome"]["data"], json!([]), "{name} got data: {r:#}");
        assert!(
            r["outcome"]["error"].is_string(),
            "{name} was not refused: {r:#}"
        );
    }
    let r = result(&results, "private-token-jsonp");
    assert_eq!(
        r["outcome"]["data"],
        json!([]),
        "JSONP served a private channel: {r:#}"
    );
    assert_eq!(r["outcome"]["error"], "script refused", "{r:#}");
    server.shutdown().await;
    Ok(())
}
