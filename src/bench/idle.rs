//! `bench idle`: opens N subscribers (WebSocket or SSE) on a quiet channel, holds them for a while,
//! and counts how many are still open at the end — what a server costs per idle client is read
//! beside it from the server's `/proc/PID/status` (see `bench/compare.sh`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::target::{check_open_files, Dialer, Target};
use super::{
    connect_phase_limit, open_subscriber, run_channel, seconds, unless_stopped, BenchError,
    Permits, Stop, Transport, CONNECTS_IN_FLIGHT,
};

/// Arguments of `bench idle`.
#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Server base URL (loopback only), e.g. http://127.0.0.1:3000.
    #[arg(long)]
    pub target: String,
    /// ws (`/ws`) or sse (`/sseStream`).
    #[arg(long, value_enum)]
    pub transport: Transport,
    /// Connections to open.
    #[arg(long)]
    pub clients: u64,
    /// How long to hold them once all are open (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = crate::spec::parse_duration)]
    pub hold: Duration,
}

/// The figures of `bench idle`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleReport {
    /// Always `idle`.
    pub workload: &'static str,
    /// `ws` or `sse`.
    pub transport: Transport,
    /// Connections asked for.
    pub clients: u64,
    /// Connections open at the end of the hold.
    pub held: u64,
    /// Connections that could not be opened.
    pub failed: u64,
    /// Connections that opened and then ended during the hold.
    pub dropped: u64,
    /// Seconds to open them all.
    pub connect_s: f64,
    /// Seconds held.
    pub hold_s: f64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    connected: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
    }
}

/// Runs `bench idle`.
pub async fn idle(args: &IdleArgs) -> Result<IdleReport, BenchError> {
    let target = Arc::new(Target::parse(&args.target)?);
    if args.clients == 0 {
        return Err(BenchError::Args("--clients must be at least 1".into()));
    }
    check_open_files(args.clients)?;
    let transport = args.transport;
    let name = transport.name();
    let path = Arc::new(format!(
        "{}?channel={}",
        transport.path(),
        run_channel("idle")
    ));
    let dialer = Arc::new(Dialer::new(target.addr));
    let counters = Arc::new(Counters::default());
    let permits = Permits::new(CONNECTS_IN_FLIGHT);
    let stop = Stop::new();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (target, path, dialer, counters, permits, stop) = (
            target.clone(),
            path.clone(),
            dialer.clone(),
            counters.clone(),
            permits.clone(),
            stop.clone(),
        );
        tasks.push(async_std::task::spawn(async move {
            let opened = open_subscriber(&stop, &permits, &dialer, &target, transport, &path).await;
            let mut subscriber = match opened {
                None => return false,
                Some(Err(error)) => {
                    counters.fail(error.to_string());
                    return false;
                }
                Some(Ok(subscriber)) => subscriber,
            };
            counters.connected.fetch_add(1, Ordering::Relaxed);
            // Read (and discard) whatever comes, answering pings, until the hold ends.
            loop {
                match unless_stopped(&stop, subscriber.next_data()).await {
                    None => {
                        subscriber.close().await;
                        return true;
                    }
                    Some(Ok(Some(_))) => continue,
                    Some(Ok(None)) | Some(Err(_)) => {
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                        return false;
                    }
                }
            }
        }));
    }

    // Connect phase: until every attempt has settled, or its time limit.
    let limit = started + connect_phase_limit(args.clients);
    let mut next_report = Instant::now();
    loop {
        let connected = counters.connected.load(Ordering::Relaxed);
        let failed = counters.failed.load(Ordering::Relaxed);
        let settled = connected + failed >= args.clients;
        if settled || Instant::now() >= limit || Instant::now() >= next_report {
            eprintln!(
                "idle {name}: {connected}/{} connected, {failed} failed (source {})",
                args.clients,
                dialer.source()
            );
            next_report = Instant::now() + Duration::from_secs(1);
        }
        if settled || Instant::now() >= limit {
            break;
        }
        async_std::task::sleep(Duration::from_millis(50)).await;
    }
    let connect_s = seconds(started.elapsed());
    let connected = counters.connected.load(Ordering::Relaxed);
    if connected == 0 {
        stop.fire();
        let why = first_error(&counters);
        return Err(BenchError::Unreachable(why));
    }

    // Hold phase. compare.sh waits for this exact line before it reads the server's memory.
    eprintln!(
        "idle {name}: holding {connected} connections for {}s",
        args.hold.as_secs_f64()
    );
    let hold_start = Instant::now();
    let hold_end = hold_start + args.hold;
    while Instant::now() < hold_end {
        let left = hold_end.saturating_duration_since(Instant::now());
        async_std::task::sleep(left.min(Duration::from_secs(1))).await;
        eprintln!(
            "idle {name}: {} held, {} dropped, {:.0}s left",
            counters.connected.load(Ordering::Relaxed) - counters.dropped.load(Ordering::Relaxed),
            counters.dropped.load(Ordering::Relaxed),
            hold_end
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
        );
    }
    let hold_s = seconds(hold_start.elapsed());
    stop.fire();
    let mut held = 0;
    // Every task returns at once on stop (a close frame is one small write); 10 s in all at most.
    let join_end = Instant::now() + Duration::from_secs(10);
    for task in tasks {
        let left = join_end.saturating_duration_since(Instant::now());
        if async_std::future::timeout(left, task).await == Ok(true) {
            held += 1;
        }
    }
    eprintln!("idle {name}: done, {held} held");
    Ok(IdleReport {
        workload: "idle",
        transport,
        clients: args.clients,
        held,
        failed: counters.failed.load(Ordering::Relaxed),
        dropped: counters.dropped.load(Ordering::Relaxed),
        connect_s,
        hold_s,
        first_error: counters.first_error.lock().ok().and_then(|e| e.clone()),
    })
}

fn first_error(counters: &Counters) -> String {
    counters
        .first_error
        .lock()
        .ok()
        .and_then(|e| e.clone())
        .unwrap_or_else(|| "no connection opened in time".into())
}
