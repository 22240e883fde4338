//! `bench poll`: C keep-alive connections, each sending `GET /poll?since=L` back to back for a
//! fixed time, as a short-polling client does (L is the last id of the previous answer); reports
//! requests per second and latency percentiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{get_request, keeps_alive, number_after, ClientError, Conn};
use super::histogram::{ms, Histogram};
use super::target::{check_open_files, Dialer, Target};
use super::{run_channel, seconds, BenchError};

/// Arguments of `bench poll`.
#[derive(Debug, Clone, clap::Args)]
pub struct PollArgs {
    /// Server base URL (loopback only), e.g. http://127.0.0.1:3000.
    #[arg(long)]
    pub target: String,
    /// Keep-alive connections polling at once.
    #[arg(long)]
    pub connections: u64,
    /// How long to poll (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = crate::spec::parse_duration)]
    pub duration: Duration,
}

/// The figures of `bench poll`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PollReport {
    /// Always `poll`.
    pub workload: &'static str,
    /// Connections used.
    pub connections: u64,
    /// Seconds measured.
    pub duration_s: f64,
    /// Requests answered with 200.
    pub requests: u64,
    /// Requests that failed (i/o, bad HTTP, a status other than 200, a timeout).
    pub errors: u64,
    /// requests / duration_s.
    pub requests_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    requests: AtomicU64,
    errors: AtomicU64,
    latencies: Histogram,
    first_error: Mutex<Option<String>>,
}

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `bench poll`.
pub async fn poll(args: &PollArgs) -> Result<PollReport, BenchError> {
    let target = Arc::new(Target::parse(&args.target)?);
    if args.connections == 0 {
        return Err(BenchError::Args("--connections must be at least 1".into()));
    }
    if args.duration > Duration::from_secs(3600) {
        return Err(BenchError::Args("--duration is at most 1h".into()));
    }
    check_open_files(args.connections)?;
    let channel = Arc::new(run_channel("poll"));
    let dialer = Arc::new(Dialer::new(target.addr));
    let shared = Arc::new(Shared::default());

    // Fail fast (exit 3) when the target is not there at all.
    if let Err(error) = dialer.connect().await {
        return Err(BenchError::Unreachable(error.to_string()));
    }

    let started = Instant::now();
    let end = started + args.duration;
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (target, channel, dialer, shared) = (
            target.clone(),
            channel.clone(),
            dialer.clone(),
            shared.clone(),
        );
        tasks.push(async_std::task::spawn(async move {
            let mut since = 0u64;
            let mut conn: Option<Conn> = None;
            while Instant::now() < end {
                let sent = Instant::now();
                let attempt = async_std::future::timeout(
                    REQUEST_TIMEOUT,
                    poll_once(&dialer, &target, &channel, conn.take(), since),
                )
                .await;
                match attempt {
                    Ok(Ok((kept, last))) => {
                        shared.requests.fetch_add(1, Ordering::Relaxed);
                        shared.latencies.record(sent.elapsed().as_micros() as u64);
                        conn = kept;
                        since = last.unwrap_or(since);
                    }
                    Ok(Err(error)) => {
                        record_error(&shared, error.to_string());
                        // Do not spin on a refusing server.
                        async_std::task::sleep(Duration::from_millis(50)).await;
                    }
                    Err(_) => record_error(&shared, "request timed out".into()),
                }
            }
        }));
    }

    let mut last_report = 0;
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        async_std::task::sleep(left.min(Duration::from_secs(1))).await;
        let requests = shared.requests.load(Ordering::Relaxed);
        eprintln!(
            "poll: {requests} requests ({} in the last second), {} errors",
            requests - last_report,
            shared.errors.load(Ordering::Relaxed)
        );
        last_report = requests;
    }
    // Each task ends after its request in flight: within REQUEST_TIMEOUT.
    let join_end = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(1);
    for task in tasks {
        let left = join_end.saturating_duration_since(Instant::now());
        let _ = async_std::future::timeout(left, task).await;
    }
    let elapsed = started.elapsed();
    let requests = shared.requests.load(Ordering::Relaxed);
    let latencies = &shared.latencies;
    Ok(PollReport {
        workload: "poll",
        connections: args.connections,
        duration_s: seconds(elapsed),
        requests,
        errors: shared.errors.load(Ordering::Relaxed),
        requests_per_s: (requests as f64 / elapsed.as_secs_f64().max(1e-9)).round(),
        p50_ms: ms(latencies.quantile(0.50)),
        p99_ms: ms(latencies.quantile(0.99)),
        max_ms: ms(latencies.max()),
        first_error: shared.first_error.lock().ok().and_then(|e| e.clone()),
    })
}

fn record_error(shared: &Shared, error: String) {
    shared.errors.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut first) = shared.first_error.lock() {
        first.get_or_insert(error);
    }
}

/// One `GET /poll`; returns the connection if the server keeps it alive, and the answer's `last`.
async fn poll_once(
    dialer: &Dialer,
    target: &Target,
    channel: &str,
    conn: Option<Conn>,
    since: u64,
) -> Result<(Option<Conn>, Option<u64>), ClientError> {
    let mut conn = match conn {
        Some(conn) => conn,
        None => Conn::new(dialer.connect().await?),
    };
    let request = get_request(
        target,
        &format!("/poll?channel={channel}&since={since}"),
        "",
    );
    conn.send(&request).await?;
    let (head, body) = conn.read_response().await?;
    if head.status != 200 {
        return Err(ClientError::Status(head.status));
    }
    let last = number_after(&body, b"last");
    Ok((keeps_alive(&head).then_some(conn), last))
}
