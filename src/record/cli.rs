//! `longconn record`: its arguments, the ticker that moves the embedded upstream's clock in real
//! time, and exit codes as `run`'s (0 written, 1 a draft, 2 nothing written, 3 unreachable).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{Filters, Outcome, RecordError, Recorder, Settings};
use crate::runner::cli::exit;
use crate::runner::transport::Tls;
use crate::runner::TargetUrl;

const RECORD_HELP: &str = "\
Point a browser (or any client) at the --listen address and use your app; press Ctrl-C to stop.
The recording is replayed twice: if both replays agree, --out is written with its snapshot as
snapshots/specs@NAME.yaml.snap.new (review it, or `longconn run --accept`); otherwise
NAME.draft.yaml says what differed and suggests redact: entries.

Exit codes:
  0  the spec and its pending snapshot are written
  1  a draft was written (the replays differed or failed)
  2  nothing was written (bad arguments, a JWT-shaped value, a file that cannot be written)
  3  the upstream could not be reached (no connection, or its TLS handshake failed)";

/// Arguments of `longconn record`.
#[derive(Debug, clap::Args)]
#[command(after_help = RECORD_HELP)]
pub struct RecordArgs {
    /// Where the proxy listens; port 0 picks a free one (printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The server to record (http[s]://HOST:PORT[/PREFIX]); default: a fresh embedded server whose
    /// clock the recorder moves (each interval becomes a `tick` step).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// The spec to write.
    #[arg(long, value_name = "specs/NAME.yaml")]
    pub out: PathBuf,
    /// Keep only requests whose path matches (a trailing * matches a prefix; repeatable).
    #[arg(long, value_name = "PATH")]
    pub include: Vec<String>,
    /// Leave out requests whose path matches (a trailing * matches a prefix; repeatable).
    #[arg(long, value_name = "PATH")]
    pub exclude: Vec<String>,
    /// Write this credential header's value as it is instead of as a ${NAME} variable.
    #[arg(long = "keep-header", value_name = "NAME")]
    pub keep_headers: Vec<String>,
    /// Write values shaped like a JWT instead of refusing to write anything.
    #[arg(long)]
    pub allow_secrets: bool,
    /// Also trust the CA certificates of this PEM file for an https or wss upstream, beside the
    /// machine's roots (as `run --cacert`).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Do not verify an https or wss upstream's certificate (as `run --insecure`).
    #[arg(long)]
    pub insecure: bool,
}

/// Runs `longconn record` until SIGINT/SIGTERM; returns the exit code.
pub async fn run(args: RecordArgs) -> u8 {
    let upstream = match args.upstream.as_deref().map(TargetUrl::parse).transpose() {
        Ok(upstream) => upstream,
        Err(error) => {
            eprintln!("longconn record: --upstream: {error}");
            return exit::UNREADABLE;
        }
    };
    if args.out.extension().is_none_or(|ext| ext != "yaml") {
        eprintln!(
            "longconn record: --out {}: a spec is a .yaml file (specs/NAME.yaml)",
            args.out.display()
        );
        return exit::UNREADABLE;
    }
    // Made once for the run, and only when needed or asked for.
    let wants_tls = upstream.as_ref().is_some_and(|url| url.tls);
    let tls = match Tls::when_needed(wants_tls, args.cacert.as_deref(), args.insecure) {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("longconn record: {error}");
            return exit::UNREADABLE;
        }
    };
    let settings = Settings {
        listen: args.listen,
        upstream,
        out: args.out,
        filters: Filters {
            include: args.include,
            exclude: args.exclude,
        },
        keep_headers: args.keep_headers,
        allow_secrets: args.allow_secrets,
        tls,
    };
    let recorder = match Recorder::start(settings).await {
        Ok(recorder) => recorder,
        Err(error) => return report(Err(error)),
    };
    println!("recording on http://{} (Ctrl-C stops)", recorder.addr());
    let stop = crate::server::wait_for_signal();
    match recorder.interval() {
        Some(interval) => {
            let ticking = async {
                loop {
                    async_std::task::sleep(interval).await;
                    recorder.tick().await;
                }
            };
            let _ = futures_lite::future::or(stop, ticking).await;
        }
        None => {
            let _ = stop.await;
        }
    }
    eprintln!("longconn record: stopped; replaying the recording twice");
    report(recorder.stop().await)
}

/// Prints what a recording wrote; its exit code.
fn report(outcome: Result<Outcome, RecordError>) -> u8 {
    match outcome {
        Ok(Outcome::Written { spec, snapshot }) => {
            println!(
                "wrote {} (replayed the same twice) and {}",
                spec.display(),
                snapshot.display()
            );
            exit::OK
        }
        Ok(Outcome::Draft {
            path,
            reason,
            unreachable,
        }) => {
            println!("wrote the draft {}: {reason}", path.display());
            if unreachable {
                exit::UNREACHABLE
            } else {
                exit::FAILED
            }
        }
        Err(error) => {
            eprintln!("longconn record: {error}");
            match error {
                RecordError::Unreachable { .. } | RecordError::Handshake(_) => exit::UNREACHABLE,
                RecordError::TooLarge(_) => exit::FAILED,
                _ => exit::UNREADABLE,
            }
        }
    }
}
