//! `longconn bench`: a load generator aimed at any push server (ours or the Node peer): idle
//! connections held, fan-out latency, and keep-alive polling throughput.

/// Arguments of `longconn bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The workload.
    #[command(subcommand)]
    pub workload: Workload,
}

/// The three workloads.
#[derive(Debug, clap::Subcommand)]
pub enum Workload {
    /// Hold N idle connections.
    Idle,
    /// Fan messages out to N subscribers.
    Fanout,
    /// Keep-alive /poll throughput.
    Poll,
}

/// Runs `longconn bench`; returns the exit code.
pub async fn run(args: BenchArgs) -> u8 {
    let _ = args;
    todo!("bench::run")
}
