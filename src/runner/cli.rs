//! `longconn run`: finds specs, replays them, compares with snapshots, prints a summary, and exits
//! with the contract's codes.

use std::path::PathBuf;

/// Arguments of `longconn run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Spec files or folders (default: every `specs/**/*.yaml`).
    pub paths: Vec<PathBuf>,
    /// Replay against this server instead of an embedded one (e.g. http://127.0.0.1:3002).
    #[arg(long)]
    pub target: Option<String>,
    /// Write transcripts that differ as the new snapshots.
    #[arg(long)]
    pub accept: bool,
    /// Also write a report, e.g. `junit=target/specs.xml`.
    #[arg(long)]
    pub report: Option<String>,
}

/// Runs `longconn run`; returns the exit code.
pub async fn run(args: RunArgs) -> u8 {
    let _ = args;
    todo!("runner::cli::run")
}
