//! The `longconn` command line: `serve` (the push server), `run` (replay specs), `schema` (JSON
//! Schema of the spec format), `bench` (load generator), `record` (traffic into a spec). Exit
//! codes of `run` (and `record`) are the contract's: 0 match, 1 differ or failed expectation,
//! 2 unreadable spec, 3 target unreachable.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Long-connection techniques on one hub, and a recorded-test kit for push servers.
#[derive(Debug, Parser)]
#[command(name = "longconn", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve every technique on one message hub until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Replay specs and compare their transcripts with the snapshots.
    Run(longconn::runner::cli::RunArgs),
    /// Print the JSON Schema (draft-07) of the spec format.
    Schema,
    /// Load-test a push server: idle connections, fan-out latency, polling throughput.
    Bench(longconn::bench::BenchArgs),
    /// Record real traffic through a proxy into a spec that replays it.
    Record(longconn::record::cli::RecordArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// How often the ticker publishes the time to channel `default` (e.g. 1s, 500ms, 1h).
    #[arg(long, default_value = "1s", value_parser = longconn::spec::parse_duration)]
    interval: Duration,
    /// An origin allowed to use the server from other pages (repeatable).
    #[arg(long = "allow-origin")]
    allow_origin: Vec<String>,
    /// Connections past this are refused with 503 (default: the open-file limit less 64; a larger
    /// value is lowered to it).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Largest /publish body and WebSocket message, in bytes.
    #[arg(long, default_value_t = 65_536)]
    max_message_bytes: usize,
    /// Share channels with other nodes through Redis: redis://HOST:PORT[/DB] (default: the hub
    /// lives in this process).
    #[arg(long, value_name = "redis://HOST:PORT[/DB]")]
    hub: Option<String>,
    /// Messages kept per channel, for clients that resume with `since` or `Last-Event-ID`.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    log_capacity: u32,
    /// Messages a subscriber may fall behind before it is cut off (SSE ends, WebSocket close 1008).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    subscriber_queue: u32,
    /// Messages a subscriber that keeps up may have queued before a publish waits for it, so a
    /// publisher goes at the pace of the healthy writers; `off`: publishes never wait.
    #[arg(long, default_value_t = PublishWindow(Some(longconn::hub::DEFAULT_PUBLISH_WINDOW)),
          value_name = "N|off", value_parser = publish_window)]
    publish_window: PublishWindow,
    /// How often a silent SSE or forever-iframe stream gets a comment, so proxies keep it open.
    #[arg(long, default_value = "25s", value_parser = heartbeat)]
    heartbeat: Duration,
    /// How long one write to a client may wait for its socket to take bytes; a client that
    /// reads nothing for that long (a full socket) is disconnected.
    #[arg(long, default_value = "30s", value_parser = send_timeout)]
    send_timeout: Duration,
    /// HS256 key of publishers' JWTs: publishing then needs `Authorization: Bearer JWT`.
    #[arg(long, value_name = "KEY")]
    publisher_jwt_key: Option<String>,
    /// HS256 key of subscribers' JWTs, needed to read a --private channel.
    #[arg(long, value_name = "KEY")]
    subscriber_jwt_key: Option<String>,
    /// Channels that need a subscriber token (a trailing * matches a prefix; repeatable).
    #[arg(long, value_name = "PATTERN")]
    private: Vec<String>,
    /// Let anyone publish on a non-loopback --addr without --publisher-jwt-key.
    #[arg(long)]
    allow_anonymous_publish: bool,
    /// Do not serve /jsonp (any page can read a script it includes).
    #[arg(long)]
    no_jsonp: bool,
    /// Let tide answer every request, also the plain GET /poll and GET /sseStream the accept
    /// loop otherwise answers itself (the same bytes, more CPU and memory per request).
    #[arg(long)]
    no_fast_responders: bool,
    /// A Host name to serve besides the loopback names and the bound IP (repeatable; else 421).
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Where every channel's log is kept: a SQLite file (created if missing), or `memory` for
    /// none (a restart then starts every channel empty, its ids above any earlier process's).
    #[arg(long, default_value = "longconn.db", value_name = "PATH|memory")]
    store: String,
    /// Bytes all channels' logs may hold in memory, cached encodings counted (e.g. 256MiB);
    /// past it the oldest messages of the largest channels leave memory.
    #[arg(long, default_value = "256MiB", value_parser = longconn::store::parse_bytes)]
    max_store_bytes: usize,
    /// Messages older than this leave memory and the store, and a channel left empty that
    /// nobody listens to is retired (e.g. 10m; default: kept until the log capacity or the
    /// memory ceiling).
    #[arg(long, value_parser = longconn::spec::parse_duration)]
    retain: Option<Duration>,
}

/// A send timeout: a duration of at least 100ms (a client's socket may be full for a moment
/// under any burst; a shorter bound would cut healthy readers).
fn send_timeout(text: &str) -> Result<Duration, String> {
    let timeout = longconn::spec::parse_duration(text)?;
    if timeout < Duration::from_millis(100) {
        return Err(format!("send timeout '{text}' is under 100ms"));
    }
    Ok(timeout)
}

/// `--publish-window`: a number of messages, or `off`.
#[derive(Debug, Clone, Copy)]
struct PublishWindow(Option<usize>);

impl std::fmt::Display for PublishWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(window) => write!(f, "{window}"),
            None => f.write_str("off"),
        }
    }
}

fn publish_window(text: &str) -> Result<PublishWindow, String> {
    if text == "off" {
        return Ok(PublishWindow(None));
    }
    match text.parse::<u32>() {
        Ok(n) if n <= 1_000_000 => Ok(PublishWindow(Some(n as usize))),
        _ => Err(format!(
            "publish window '{text}' is neither a number of messages (0 to 1000000) nor 'off'"
        )),
    }
}

/// A heartbeat period: a duration of at least 100ms (a shorter one only burns CPU).
fn heartbeat(text: &str) -> Result<Duration, String> {
    let period = longconn::spec::parse_duration(text)?;
    if period < Duration::from_millis(100) {
        return Err(format!("heartbeat '{text}' is under 100ms"));
    }
    Ok(period)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match async_std::task::block_on(serve(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("longconn serve: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            ExitCode::from(async_std::task::block_on(longconn::runner::cli::run(args)))
        }
        Command::Bench(args) => {
            ExitCode::from(async_std::task::block_on(longconn::bench::run(args)))
        }
        Command::Record(args) => {
            ExitCode::from(async_std::task::block_on(longconn::record::cli::run(args)))
        }
        Command::Schema => {
            println!("{}", longconn::spec::schema::schema_json());
            ExitCode::SUCCESS
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use longconn::server::access::{jwt::JwtKey, limits};
    if !args.addr.ip().is_loopback()
        && args.publisher_jwt_key.is_none()
        && !args.allow_anonymous_publish
    {
        anyhow::bail!(
            "--addr {}: anyone who reaches it could publish; give --publisher-jwt-key KEY, or --allow-anonymous-publish",
            args.addr
        );
    }
    if !args.private.is_empty() && args.subscriber_jwt_key.is_none() {
        anyhow::bail!(
            "--private needs --subscriber-jwt-key KEY (else nobody can read those channels)"
        );
    }
    let (max_connections, warning) =
        limits::max_connections(args.max_connections, limits::open_file_limit());
    if let Some(warning) = warning {
        eprintln!("longconn serve: {warning}");
    }
    let key = |k: Option<String>| k.map(|k| JwtKey(k.into_bytes()));
    let config = longconn::server::Config {
        addr: args.addr,
        interval: args.interval,
        allow_origins: args.allow_origin,
        max_connections,
        max_message_bytes: args.max_message_bytes,
        log_capacity: args.log_capacity as usize,
        subscriber_queue: args.subscriber_queue as usize,
        publish_window: args.publish_window.0,
        heartbeat: args.heartbeat,
        send_timeout: args.send_timeout,
        publisher_jwt_key: key(args.publisher_jwt_key),
        subscriber_jwt_key: key(args.subscriber_jwt_key),
        private: args.private,
        hosts: args.hosts,
        jsonp: !args.no_jsonp,
        fast_responders: !args.no_fast_responders,
    };
    let clock = longconn::clock::Clock::System;
    // A served hub may have a predecessor (this store's, or a lost one's): new channels start
    // above any id it could have issued.
    let mut hub_config = longconn::hub::HubConfig {
        id_floor: longconn::hub::id_floor_now(),
        max_store_bytes: args.max_store_bytes,
        retain: args.retain,
        ..config.hub_config()
    };
    let server = match args.hub {
        None if args.store == "memory" => {
            let hub = longconn::hub::Hub::new(hub_config);
            longconn::server::Server::start_with_hub(config, clock, hub).await?
        }
        None => {
            let path = std::path::Path::new(&args.store);
            let (store, opened) = longconn::store::Store::open(path, config.log_capacity)?;
            if let Some(torn) = &opened.torn {
                eprintln!(
                    "longconn serve: message store: {torn}; read back {} messages in {} channels",
                    opened.messages(),
                    opened.channels.len()
                );
            }
            // Ids never go back, even when the system clock did.
            hub_config.id_floor = hub_config.id_floor.max(opened.highest());
            let hub = longconn::hub::Hub::with_store(hub_config, store, opened)?;
            longconn::server::Server::start_with_hub(config, clock, hub).await?
        }
        Some(url) => {
            if !url.starts_with("redis://") {
                anyhow::bail!("--hub {url}: expected redis://HOST:PORT[/DB]");
            }
            let redis = longconn::hub::RedisConfig::new(url.as_str());
            let hub = longconn::hub::Hub::with_redis(hub_config, redis)
                .await
                .with_context(|| format!("--hub {url}: cannot use Redis"))?;
            longconn::server::Server::start_with_hub(config, clock, hub).await?
        }
    };
    println!("listening on http://{}", server.addr());
    longconn::server::wait_for_signal().await?;
    server.shutdown().await;
    Ok(())
}
