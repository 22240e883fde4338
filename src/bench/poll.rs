//! `bench poll`: C keep-alive connections, each sending `GET /poll?since=L` back to back for a
//! fixed time, as a short-polling client does (L is the last id of the previous answer); reports
//! requests per second and latency percentiles.

use std::sync::Arc;

use super::client::{get_request, keeps_alive, number_after, ClientError, Conn};
use super::load::{self, LoadArgs, LoadReport, Request};
use super::target::Target;
use super::{run_channel, BenchError};

/// Arguments of `bench poll`.
pub type PollArgs = LoadArgs;

/// The figures of `bench poll`.
pub type PollReport = LoadReport<()>;

/// Runs `bench poll`.
pub async fn poll(args: &PollArgs) -> Result<PollReport, BenchError> {
    let target = args.check()?;
    let channel: Arc<str> = run_channel("poll").into();
    load::run(args, target, (), |_| Poller {
        channel: channel.clone(),
        since: 0,
    })
    .await
}

/// One connection's polls: each asks for what came after the last id the previous one saw.
struct Poller {
    channel: Arc<str>,
    since: u64,
}

impl Request for Poller {
    const WORKLOAD: &'static str = "poll";
    const COUNTED: &'static str = "requests";

    /// One `GET /poll`; keeps the answer's `last` for the next.
    async fn send(&mut self, target: &Target, conn: &mut Conn) -> Result<bool, ClientError> {
        let request = get_request(
            target,
            &format!("/poll?channel={}&since={}", self.channel, self.since),
            "",
        );
        conn.send(&request).await?;
        let (head, body) = conn.read_response().await?;
        if head.status != 200 {
            return Err(ClientError::Status(head.status));
        }
        self.since = number_after(&body, b"last").unwrap_or(self.since);
        Ok(keeps_alive(&head))
    }
}
