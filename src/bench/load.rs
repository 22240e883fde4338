//! A keep-alive request load, the engine of `bench poll` and `bench publish`: C connections, each
//! sending one request after another for a fixed time; its arguments, its run and the figures it
//! reports (requests per second and latency percentiles).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{ClientError, Conn};
use super::histogram::{ms, Histogram};
use super::target::{check_open_files, Dialer, Target};
use super::{seconds, BenchError};

/// The arguments every request load takes.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Server base URL (loopback only), e.g. http://127.0.0.1:3000.
    #[arg(long)]
    pub target: String,
    /// Keep-alive connections sending requests at once.
    #[arg(long)]
    pub connections: u64,
    /// How long to send requests (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = crate::spec::parse_duration)]
    pub duration: Duration,
}

impl LoadArgs {
    /// The target, once the arguments are in range.
    pub(crate) fn check(&self) -> Result<Target, BenchError> {
        let target = Target::parse(&self.target)?;
        if self.connections == 0 {
            return Err(BenchError::Args("--connections must be at least 1".into()));
        }
        if self.duration > Duration::from_secs(3600) {
            return Err(BenchError::Args("--duration is at most 1h".into()));
        }
        Ok(target)
    }
}

/// The figures of a request load; `W` holds what a workload adds to its arguments (`()` when
/// nothing), written after `connections`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport<W> {
    /// The workload: `poll` or `publish`.
    pub workload: &'static str,
    /// Connections used.
    pub connections: u64,
    /// The workload's own arguments.
    #[serde(flatten)]
    pub arguments: W,
    /// Seconds measured.
    pub duration_s: f64,
    /// Requests answered as the workload expects (`poll`: 200; `publish`: 200 with an id).
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

/// What one connection of a load sends, one request after another.
pub(crate) trait Request: Send + 'static {
    /// The workload's name, in the report and the progress lines: `poll`.
    const WORKLOAD: &'static str;
    /// What a progress line calls the requests counted: `requests`, `acknowledged`.
    const COUNTED: &'static str;

    /// Sends the next request on `conn` and reads its answer; whether the server keeps the
    /// connection alive. An answer the workload does not expect is an error.
    fn send(
        &mut self,
        target: &Target,
        conn: &mut Conn,
    ) -> impl Future<Output = Result<bool, ClientError>> + Send;
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

/// Runs a load on `target` (from [`LoadArgs::check`]): connection i sends what `request(i)`
/// makes of it; prints progress on stderr every second. `arguments` go into the report.
pub(crate) async fn run<W, R: Request>(
    args: &LoadArgs,
    target: Target,
    arguments: W,
    request: impl Fn(u64) -> R,
) -> Result<LoadReport<W>, BenchError> {
    check_open_files(args.connections)?;
    let target = Arc::new(target);
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
        let mut request = request(i);
        let (target, dialer, shared) = (target.clone(), dialer.clone(), shared.clone());
        tasks.push(async_std::task::spawn(async move {
            let mut conn: Option<Conn> = None;
            while Instant::now() < end {
                let sent = Instant::now();
                let attempt = async_std::future::timeout(REQUEST_TIMEOUT, async {
                    let mut open = match conn.take() {
                        Some(conn) => conn,
                        None => Conn::new(dialer.connect().await?),
                    };
                    let kept = request.send(&target, &mut open).await?;
                    Ok::<_, ClientError>(kept.then_some(open))
                })
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
            "{}: {requests} {} ({} in the last second), {} errors",
            R::WORKLOAD,
            R::COUNTED,
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
    Ok(LoadReport {
        workload: R::WORKLOAD,
        connections: args.connections,
        arguments,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn figures<W>(arguments: W) -> LoadReport<W> {
        LoadReport {
            workload: "poll",
            connections: 2,
            arguments,
            duration_s: 1.5,
            requests: 30,
            errors: 0,
            requests_per_s: 20.0,
            p50_ms: 0.1,
            p99_ms: 0.2,
            max_ms: 0.3,
            first_error: None,
        }
    }

    #[derive(serde::Serialize)]
    struct Extra {
        channels: u64,
    }

    #[test]
    fn a_report_without_arguments_writes_only_the_figures() {
        assert_eq!(
            serde_json::to_string(&figures(())).expect("serialize"),
            r#"{"workload":"poll","connections":2,"duration_s":1.5,"requests":30,"errors":0,"requests_per_s":20.0,"p50_ms":0.1,"p99_ms":0.2,"max_ms":0.3,"first_error":null}"#
        );
    }

    #[test]
    fn a_workloads_arguments_follow_connections() {
        assert_eq!(
            serde_json::to_string(&figures(Extra { channels: 4 })).expect("serialize"),
            r#"{"workload":"poll","connections":2,"channels":4,"duration_s":1.5,"requests":30,"errors":0,"requests_per_s":20.0,"p50_ms":0.1,"p99_ms":0.2,"max_ms":0.3,"first_error":null}"#
        );
    }
}
