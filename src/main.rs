//! The `longconn` command line: `serve` (the push server), `run` (replay specs), `schema` (JSON
//! Schema of the spec format), `bench` (load generator). Exit codes of `run` are the contract's: 0 match, 1 differ or failed
//! expectation, 2 unreadable spec, 3 target unreachable.

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
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (the real one is printed).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// How often the ticker publishes the time to channel `default` (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = longconn::spec::parse_duration)]
    interval: Duration,
    /// An origin allowed to use the server from other pages (repeatable).
    #[arg(long = "allow-origin")]
    allow_origin: Vec<String>,
    /// Connections past this are refused with 503.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Largest /publish body and WebSocket message, in bytes.
    #[arg(long, default_value_t = 65_536)]
    max_message_bytes: usize,
    /// Share channels with other nodes through Redis: redis://HOST:PORT[/DB] (default: the hub
    /// lives in this process).
    #[arg(long, value_name = "redis://HOST:PORT[/DB]")]
    hub: Option<String>,
    /// Where every channel's log is kept: a SQLite file (created if missing), or `memory` for
    /// none (a restart then starts every channel empty, its ids above any earlier process's).
    #[arg(long, default_value = "longconn.db", value_name = "PATH|memory")]
    store: String,
    /// Messages kept per channel for resuming clients (in memory and in the store).
    #[arg(long, default_value_t = 1000)]
    log_capacity: usize,
    /// Bytes all channels' logs may hold in memory, cached encodings counted (e.g. 256MiB);
    /// past it the oldest messages of the largest channels leave memory.
    #[arg(long, default_value = "256MiB", value_parser = longconn::store::parse_bytes)]
    max_store_bytes: usize,
    /// Messages older than this leave memory, and a channel left empty that nobody listens to
    /// is retired (e.g. 10m; default: kept until the log capacity or the memory ceiling).
    #[arg(long, value_parser = longconn::spec::parse_duration)]
    retain: Option<Duration>,
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
        Command::Schema => {
            println!("{}", longconn::spec::schema::schema_json());
            ExitCode::SUCCESS
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = longconn::server::Config {
        addr: args.addr,
        interval: args.interval,
        allow_origins: args.allow_origin,
        max_connections: args.max_connections,
        max_message_bytes: args.max_message_bytes,
        log_capacity: args.log_capacity,
        ..Default::default()
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
                eprintln!("longconn serve: message store: {torn}");
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
