//! `bench publish`: C keep-alive connections, each sending `POST /publish` back to back for a
//! fixed time; reports acknowledged publishes per second (an answer 200 `{"id":N}`: with a store,
//! committed) and latency percentiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{keeps_alive, number_after, post_request, ClientError, Conn};
use super::histogram::{ms, Histogram};
use super::target::{check_open_files, Dialer, Target};
use super::{run_channel, seconds, BenchError};

/// Arguments of `bench publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Server base URL (loopback only), e.g. http://127.0.0.1:3000.
    #[arg(long)]
    pub target: String,
    /// Keep-alive connections publishing at once.
    #[arg(long)]
    pub connections: u64,
    /// Channels the connections publish to (connection i uses channel i mod N).
    #[arg(long, default_value_t = 1)]
    pub channels: u64,
    /// Bytes of each message body.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// How long to publish (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = crate::spec::parse_duration)]
    pub duration: Duration,
}

/// The figures of `bench publish`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishReport {
    /// Always `publish`.
    pub workload: &'static str,
    /// Connections used.
    pub connections: u64,
    /// Channels published to.
    pub channels: u64,
    /// Bytes per message body.
    pub size: usize,
    /// Seconds measured.
    pub duration_s: f64,
    /// Publishes acknowledged (answered 200 with an id).
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

/// Runs `bench publish`.
pub async fn publish(args: &PublishArgs) -> Result<PublishReport, BenchError> {
    let target = Arc::new(Target::parse(&args.target)?);
    if args.connections == 0 {
        return Err(BenchError::Args("--connections must be at least 1".into()));
    }
    if args.duration > Duration::from_secs(3600) {
        return Err(BenchError::Args("--duration is at most 1h".into()));
    }
    if args.channels == 0 {
        return Err(BenchError::Args("--channels must be at least 1".into()));
    }
    check_open_files(args.connections)?;
    let base = run_channel("publish");
    let body: Arc<[u8]> = vec![b'x'; args.size].into();
    let dialer = Arc::new(Dialer::new(target.addr));
    let shared = Arc::new(Shared::default());

    // Fail fast (exit 3) when the target is not there at all.
    if let Err(error) = dialer.connect().await {
        return Err(BenchError::Unreachable(error.to_string()));
    }

    let started = Instant::now();
    let end = started + args.duration;
    let mut tasks = Vec::new();
    for i in 0..args.connections {
        let channel = format!("{base}-{}", i % args.channels);
        let (target, body, dialer, shared) =
            (target.clone(), body.clone(), dialer.clone(), shared.clone());
        tasks.push(async_std::task::spawn(async move {
            let mut conn: Option<Conn> = None;
            while Instant::now() < end {
                let sent = Instant::now();
                let attempt = async_std::future::timeout(
                    REQUEST_TIMEOUT,
                    publish_once(&dialer, &target, &channel, conn.take(), &body),
                )
                .await;
                match attempt {
                    Ok(Ok(kept)) => {
                        shared.requests.fetch_add(1, Ordering::Relaxed);
                        shared.latencies.record(sent.elapsed().as_micros() as u64);
                        conn = kept;
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
            "publish: {requests} acknowledged ({} in the last second), {} errors",
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
    Ok(PublishReport {
        workload: "publish",
        connections: args.connections,
        channels: args.channels,
        size: args.size,
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

/// One `POST /publish`; returns the connection if the server keeps it alive. An answer without
/// an id is not an acknowledgement.
async fn publish_once(
    dialer: &Dialer,
    target: &Target,
    channel: &str,
    conn: Option<Conn>,
    body: &[u8],
) -> Result<Option<Conn>, ClientError> {
    let mut conn = match conn {
        Some(conn) => conn,
        None => Conn::new(dialer.connect().await?),
    };
    let request = post_request(
        target,
        &format!("/publish?channel={channel}"),
        "text/plain",
        body,
    );
    conn.send(&request).await?;
    let (head, answer) = conn.read_response().await?;
    if head.status != 200 || number_after(&answer, b"id").is_none() {
        return Err(ClientError::Status(head.status));
    }
    Ok(keeps_alive(&head).then_some(conn))
}
