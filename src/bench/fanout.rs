//! `bench fanout`: N subscribers on one channel, M messages published at R per second through
//! `POST /publish`, each carrying its send time (`{"t":<unix µs>,"seq":k}`); every subscriber
//! checks off the sequence numbers it receives and records receive time − send time.
//!
//! Two latencies are kept per delivery: from the send time carried in the message, and from the
//! time the schedule wanted the message sent (`first publish + seq / rate`). The publisher waits
//! for each answer, so a server that answers late publishes fewer messages per second than asked,
//! and the first figure then describes a lighter load than the one asked for; the second does not
//! (the coordinated-omission correction of wrk2 and HdrHistogram). `published_per_s` says which
//! load was really offered.
//!
//! With several `--target`s (nodes sharing one hub, e.g. `longconn serve --hub redis://…`) the
//! subscribers are dealt out over them in turn and every message is published on the first, so
//! the latency includes the hop between nodes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::{keeps_alive, post_request, ClientError, Conn, Subscriber};
use super::histogram::ms;
use super::receiver::{Handoff, Plan, Receiver, Tally};
use super::target::{check_open_files, Dialer, Target};
use super::{
    connect_phase_limit, now_micros, open_subscriber, run_channel, seconds, BenchError, Permits,
    Stop, Transport, CONNECTS_IN_FLIGHT,
};

/// Arguments of `bench fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Server base URL (loopback only), e.g. http://127.0.0.1:3000. Repeat it to deal the
    /// subscribers out over several nodes in turn; messages are published on the first.
    #[arg(long, required = true)]
    pub target: Vec<String>,
    /// ws (`/ws`) or sse (`/sseStream`).
    #[arg(long, value_enum)]
    pub transport: Transport,
    /// Subscribers.
    #[arg(long)]
    pub clients: u64,
    /// Messages to publish.
    #[arg(long)]
    pub messages: u64,
    /// Messages published per second.
    #[arg(long)]
    pub rate: f64,
    /// How long to wait for stragglers after the last publish.
    #[arg(long, default_value = "5s", value_parser = crate::spec::parse_duration)]
    pub drain: Duration,
    /// The channel to use (default: a fresh one per run), so other clients can be put beside
    /// the subscribers (readers that never read, say).
    #[arg(long)]
    pub channel: Option<String>,
    /// Threads that read the subscribers, each one epoll loop over its share of them.
    #[arg(long, default_value_t = 1)]
    pub receivers: usize,
}

/// The figures of `bench fanout`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FanoutReport {
    /// Always `fanout`.
    pub workload: &'static str,
    /// `ws` or `sse`.
    pub transport: Transport,
    /// Servers the subscribers were dealt out over (`--target`s).
    pub targets: usize,
    /// Subscribers asked for.
    pub clients: u64,
    /// Subscribers that connected.
    pub connected: u64,
    /// Messages published.
    pub messages: u64,
    /// Messages per second asked for.
    pub rate: f64,
    /// clients × messages: a subscriber that never connected lost all of its messages.
    pub expected: u64,
    /// Distinct (subscriber, message) pairs received.
    pub delivered: u64,
    /// expected − delivered.
    pub lost: u64,
    /// Median latency (receive − send), ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// Median latency from the time the schedule wanted the message sent (receive − due), ms.
    pub p50_from_schedule_ms: f64,
    /// 99th percentile latency from the schedule, ms.
    pub p99_from_schedule_ms: f64,
    /// Deliveries per second, from the first publish to the last delivery.
    pub deliveries_per_s: f64,
    /// Messages published per second, from the first publish to the last (`null` with one
    /// message): below `rate` when the publisher waited for the server's answers.
    pub published_per_s: Option<f64>,
    /// The load generator's own CPU time (user + system, all its threads) from the first publish
    /// to the end of the drain, per delivery, µs (`null` where `/proc` cannot be read).
    pub client_cpu_us_per_delivery: Option<f64>,
    /// Publish requests that failed.
    pub publish_errors: u64,
    /// Seconds from the first publish to the end of the drain.
    pub elapsed_s: f64,
    /// The first subscriber failure, if any.
    pub first_error: Option<String>,
}

/// What the subscribers' connect tasks share.
#[derive(Debug, Default)]
struct Shared {
    connected: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// The receiving threads, each given every `len()`-th subscriber.
struct Receivers(Vec<Receiver>);

impl Receivers {
    fn start(count: usize, plan: Plan) -> Result<Receivers, BenchError> {
        let receivers = (0..count)
            .map(|_| Receiver::start(plan))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(BenchError::Receiver)?;
        Ok(Receivers(receivers))
    }

    fn hand(&self, index: u64, handoff: Handoff) {
        let count = self.0.len() as u64;
        if let Some(receiver) = self.0.get((index % count.max(1)) as usize) {
            receiver.hand(handoff);
        }
    }

    fn delivered(&self) -> u64 {
        self.0.iter().map(Receiver::delivered).sum()
    }

    fn ready(&self) -> u64 {
        self.0.iter().map(Receiver::ready).sum()
    }

    fn ended(&self) -> u64 {
        self.0.iter().map(Receiver::ended).sum()
    }

    fn start_schedule(&self, micros: u64) {
        for receiver in &self.0 {
            receiver.start_schedule(micros);
        }
    }

    /// Stops every thread and adds up their tallies; a thread that failed is the first error.
    fn stop(&self) -> Tally {
        let mut total = Tally::default();
        for receiver in &self.0 {
            match receiver.stop() {
                Ok(tally) => total.merge(&tally),
                Err(error) => {
                    total
                        .first_error
                        .get_or_insert_with(|| format!("a receiving thread failed: {error}"));
                }
            }
        }
        total
    }
}

impl Shared {
    fn fail(&self, error: &ClientError) {
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| error.to_string());
        }
    }
}

/// Runs `bench fanout`.
pub async fn fanout(args: &FanoutArgs) -> Result<FanoutReport, BenchError> {
    let targets = args
        .target
        .iter()
        .map(|url| {
            let target = Target::parse(url)?;
            let dialer = Dialer::new(target.addr);
            Ok((Arc::new(target), Arc::new(dialer)))
        })
        .collect::<Result<Vec<_>, BenchError>>()?;
    let Some((target, dialer)) = targets.first().cloned() else {
        return Err(BenchError::Args("--target is required".into()));
    };
    if args.clients == 0 || args.messages == 0 {
        return Err(BenchError::Args(
            "--clients and --messages must be at least 1".into(),
        ));
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        return Err(BenchError::Args("--rate must be a positive number".into()));
    }
    if args.messages > 10_000_000 {
        return Err(BenchError::Args("--messages is at most 10,000,000".into()));
    }
    // One more socket for the publisher.
    check_open_files(args.clients + 1)?;
    let transport = args.transport;
    let name = transport.name();
    let channel = args
        .channel
        .clone()
        .unwrap_or_else(|| run_channel("fanout"));
    if !(1..=64).contains(&args.receivers) {
        return Err(BenchError::Args("--receivers is 1 to 64".into()));
    }
    let path = Arc::new(format!("{}?channel={channel}", transport.path()));
    let shared = Arc::new(Shared::default());
    let plan = Plan {
        messages: args.messages,
        interval_us: 1e6 / args.rate,
    };
    let receivers = Arc::new(Receivers::start(args.receivers, plan)?);
    let permits = Permits::new(CONNECTS_IN_FLIGHT);
    let stop = Stop::new();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, (target, dialer)) in (0..args.clients).zip(targets.iter().cycle()) {
        let (target, path, dialer, shared, permits, stop, receivers) = (
            target.clone(),
            path.clone(),
            dialer.clone(),
            shared.clone(),
            permits.clone(),
            stop.clone(),
            receivers.clone(),
        );
        // The handshake is async; after it, the socket goes to a receiving thread.
        tasks.push(async_std::task::spawn(async move {
            let opened = open_subscriber(&stop, &permits, &dialer, &target, transport, &path).await;
            let handed = match opened {
                None => return,
                Some(opened) => opened.and_then(Subscriber::into_parts),
            };
            match handed {
                Ok(handoff) => {
                    receivers.hand(index, handoff);
                    shared.connected.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    shared.fail(&error);
                }
            }
        }));
    }

    // Connect phase.
    let limit = started + connect_phase_limit(args.clients);
    let mut next_report = Instant::now();
    loop {
        let connected = shared.connected.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        let settled = connected + failed >= args.clients;
        if settled || Instant::now() >= limit || Instant::now() >= next_report {
            eprintln!(
                "fanout {name}: {connected}/{} subscribed, {failed} failed",
                args.clients
            );
            next_report = Instant::now() + Duration::from_secs(1);
        }
        if settled || Instant::now() >= limit {
            break;
        }
        async_std::task::sleep(Duration::from_millis(50)).await;
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    if connected == 0 {
        stop.fire();
        receivers.stop();
        return Err(BenchError::Unreachable(first_error(&shared)));
    }
    let mut publisher = Publisher::new(dialer.clone(), target.clone(), channel);

    // Warm-up: publish an untimed message until every subscriber has seen one, so the timed
    // messages are not published before a server has finished registering its subscribers.
    let warmup_end = Instant::now() + Duration::from_secs(10);
    let mut warmup_published = 0u64;
    let mut warmup_error = None;
    for attempt in 0u64.. {
        if Instant::now() >= warmup_end {
            break;
        }
        if let Err(error) = publisher.publish(format!("{{\"warmup\":{attempt}}}")).await {
            eprintln!("fanout {name}: warm-up publish failed: {error}");
            warmup_error.get_or_insert_with(|| error.to_string());
            async_std::task::sleep(Duration::from_millis(200)).await;
            continue;
        }
        warmup_published += 1;
        let wait_end = (Instant::now() + Duration::from_millis(500)).min(warmup_end);
        // Every subscriber ready, or none left to wait for (each one's stream ended or failed).
        let settled = || receivers.ready() >= connected || receivers.ended() >= connected;
        while !settled() && Instant::now() < wait_end {
            async_std::task::sleep(Duration::from_millis(10)).await;
        }
        if settled() {
            break;
        }
    }
    // Without one delivered warm-up message every figure would be a loss of 100%: say why instead.
    if receivers.ready() == 0 {
        stop.fire();
        let tally = receivers.stop();
        let why = match warmup_error {
            Some(error) if warmup_published == 0 => format!(
                "every publish to {}/publish failed (first: {error}): does the target serve \
                 POST /publish?",
                target.host
            ),
            _ => format!(
                "{warmup_published} messages published, none reached any of the {connected} \
                 subscribers within 10s: does the target deliver POST /publish to {path}?"
            ),
        };
        let why = match tally.first_error {
            Some(error) => format!("{why} (first subscriber error: {error})"),
            None => why,
        };
        return Err(BenchError::NoDelivery(format!("fanout {name}: {why}")));
    }
    eprintln!(
        "fanout {name}: {}/{connected} subscribers ready; publishing {} messages at {}/s",
        receivers.ready(),
        args.messages,
        args.rate
    );

    // Publish phase, paced from one start instant so a slow request does not shift the rest.
    let expected_now = |published: u64| published * connected;
    let publish_start = Instant::now();
    let first_publish = now_micros();
    receivers.start_schedule(first_publish);
    let cpu_start = process_cpu_micros();
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut last_publish = first_publish;
    let mut publish_errors = 0u64;
    let mut next_report = Instant::now() + Duration::from_secs(1);
    for seq in 0..args.messages {
        let due = publish_start + interval.mul_f64(seq as f64);
        let now = Instant::now();
        if due > now {
            async_std::task::sleep(due - now).await;
        }
        last_publish = now_micros();
        let body = format!("{{\"t\":{last_publish},\"seq\":{seq}}}");
        if let Err(error) = publisher.publish(body).await {
            publish_errors += 1;
            if publish_errors == 1 {
                eprintln!("fanout {name}: publish failed: {error}");
            }
        }
        if Instant::now() >= next_report {
            eprintln!(
                "fanout {name}: published {}/{}, delivered {}/{}",
                seq + 1,
                args.messages,
                receivers.delivered(),
                expected_now(seq + 1)
            );
            next_report = Instant::now() + Duration::from_secs(1);
        }
    }

    // Drain: until every subscriber has every message, or the drain time is up.
    let all = connected * args.messages;
    let drain_end = Instant::now() + args.drain;
    while receivers.delivered() < all && Instant::now() < drain_end {
        async_std::task::sleep(Duration::from_millis(10)).await;
        if Instant::now() >= next_report {
            eprintln!(
                "fanout {name}: draining, delivered {}/{all}",
                receivers.delivered()
            );
            next_report = Instant::now() + Duration::from_secs(1);
        }
    }
    let elapsed = publish_start.elapsed();
    let cpu_end = process_cpu_micros();
    stop.fire();
    let tally = receivers.stop();
    let join_end = Instant::now() + Duration::from_secs(10);
    for task in tasks {
        let left = join_end.saturating_duration_since(Instant::now());
        let _ = async_std::future::timeout(left, task).await;
    }

    let delivered = tally.delivered;
    let expected = args.clients * args.messages;
    let span = tally.last_delivery.saturating_sub(first_publish);
    let deliveries_per_s = if span == 0 {
        0.0
    } else {
        (delivered as f64 / (span as f64 / 1e6)).round()
    };
    let latencies = &tally.latencies;
    let publish_span = last_publish.saturating_sub(first_publish);
    let published_per_s = (args.messages > 1 && publish_span > 0)
        .then(|| round2((args.messages - 1) as f64 / (publish_span as f64 / 1e6)));
    let client_cpu_us_per_delivery = match (cpu_start, cpu_end) {
        (Some(start), Some(end)) if delivered > 0 => {
            Some(round2(end.saturating_sub(start) as f64 / delivered as f64))
        }
        _ => None,
    };
    eprintln!("fanout {name}: done, {delivered}/{expected} delivered");
    Ok(FanoutReport {
        workload: "fanout",
        transport,
        targets: targets.len(),
        clients: args.clients,
        connected,
        messages: args.messages,
        rate: args.rate,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        p50_ms: ms(latencies.quantile(0.50)),
        p99_ms: ms(latencies.quantile(0.99)),
        max_ms: ms(latencies.max()),
        p50_from_schedule_ms: ms(tally.from_schedule.quantile(0.50)),
        p99_from_schedule_ms: ms(tally.from_schedule.quantile(0.99)),
        deliveries_per_s,
        published_per_s,
        client_cpu_us_per_delivery,
        publish_errors,
        elapsed_s: seconds(elapsed),
        first_error: shared
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .or(tally.first_error),
    })
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// CPU time (user + system) of every thread of this process so far, µs: fields 14 and 15 of
/// `/proc/self/stat` (proc(5)), in clock ticks of `AT_CLKTCK` from `/proc/self/auxv`. `None`
/// where `/proc` cannot be read.
fn process_cpu_micros() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = stat_cpu_ticks(&stat)?;
    let per_second = clock_ticks_per_second(&std::fs::read("/proc/self/auxv").ok()?)?;
    Some(ticks.saturating_mul(1_000_000) / per_second.max(1))
}

/// utime + stime of a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
/// hold spaces or parentheses itself, so fields are counted from the last `)`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // After the name: field 3 (state) is the first; utime and stime are fields 14 and 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// `AT_CLKTCK` (getauxval(3): the frequency of `times()` and of `/proc` tick counts) from the bytes
/// of `/proc/self/auxv`: native-endian (key, value) pairs of machine words, ending with key 0.
fn clock_ticks_per_second(auxv: &[u8]) -> Option<u64> {
    const AT_CLKTCK: u64 = 17;
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |bytes: &[u8]| -> Option<u64> {
        let array: [u8; WORD] = bytes.try_into().ok()?;
        Some(usize::from_ne_bytes(array) as u64)
    };
    for pair in auxv.chunks_exact(2 * WORD) {
        let (key, value) = (word(&pair[..WORD])?, word(&pair[WORD..])?);
        match key {
            0 => return None,
            AT_CLKTCK => return Some(value),
            _ => {}
        }
    }
    None
}

fn first_error(shared: &Shared) -> String {
    shared
        .first_error
        .lock()
        .ok()
        .and_then(|e| e.clone())
        .unwrap_or_else(|| "no subscriber connected in time".into())
}

/// One keep-alive connection that POSTs to `/publish`, reconnecting when the server closes it.
struct Publisher {
    dialer: Arc<Dialer>,
    target: Arc<Target>,
    path: String,
    conn: Option<Conn>,
}

/// How long one publish request may take.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

impl Publisher {
    fn new(dialer: Arc<Dialer>, target: Arc<Target>, channel: String) -> Publisher {
        Publisher {
            dialer,
            target,
            path: format!("/publish?channel={channel}"),
            conn: None,
        }
    }

    async fn publish(&mut self, body: String) -> Result<(), ClientError> {
        let result = async_std::future::timeout(PUBLISH_TIMEOUT, self.try_publish(&body)).await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                self.conn = None;
                Err(error)
            }
            Err(_) => {
                self.conn = None;
                Err(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "publish timed out",
                )))
            }
        }
    }

    async fn try_publish(&mut self, body: &str) -> Result<(), ClientError> {
        if let Some(conn) = self.conn.take() {
            // A kept-alive connection the server may have closed meanwhile: on failure, the
            // message goes again on a new one (a duplicate seq is counted once).
            if self.publish_on(conn, body).await.is_ok() {
                return Ok(());
            }
        }
        let conn = Conn::new(self.dialer.connect().await?);
        self.publish_on(conn, body).await
    }

    async fn publish_on(&mut self, mut conn: Conn, body: &str) -> Result<(), ClientError> {
        let request = post_request(
            &self.target,
            &self.path,
            "application/json",
            body.as_bytes(),
        );
        conn.send(&request).await?;
        let (head, _) = conn.read_response().await?;
        if head.status / 100 != 2 {
            return Err(ClientError::Status(head.status));
        }
        if keeps_alive(&head) {
            self.conn = Some(conn);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        let stat = "4242 (bench (x) 1) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 3";
        assert_eq!(stat_cpu_ticks(stat), Some(281));
        assert_eq!(stat_cpu_ticks("4242 (short) S 1 2"), None);
        assert_eq!(stat_cpu_ticks("no name here"), None);
    }

    #[test]
    fn the_clock_tick_rate_is_found_among_the_auxiliary_vector() {
        let pairs: &[(usize, usize)] = &[(6, 4096), (17, 100), (0, 0)];
        let auxv: Vec<u8> = pairs
            .iter()
            .flat_map(|&(k, v)| [k.to_ne_bytes(), v.to_ne_bytes()].concat())
            .collect();
        assert_eq!(clock_ticks_per_second(&auxv), Some(100));
        assert_eq!(
            clock_ticks_per_second(&auxv[2 * size_of::<usize>()..]),
            Some(100)
        );
        // Key 0 ends the vector: nothing after it counts.
        let ended: Vec<u8> = [(0usize, 0usize), (17, 100)]
            .iter()
            .flat_map(|&(k, v)| [k.to_ne_bytes(), v.to_ne_bytes()].concat())
            .collect();
        assert_eq!(clock_ticks_per_second(&ended), None);
    }

    #[test]
    fn the_process_cpu_time_grows_with_work() {
        let before = process_cpu_micros().expect("/proc/self is readable on Linux");
        // Spin until the CPU time moves (not for a wall time: a loaded machine gives less CPU).
        let end = Instant::now() + Duration::from_secs(20);
        let mut now = before;
        while now < before + 20_000 && Instant::now() < end {
            for _ in 0..100_000 {
                std::hint::black_box(now);
            }
            now = process_cpu_micros().expect("readable");
        }
        assert!(now >= before + 20_000, "{before} → {now} µs");
    }
}
