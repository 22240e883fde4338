//! `bench publish`: C keep-alive connections, each sending `POST /publish` back to back for a
//! fixed time; reports acknowledged publishes per second (an answer 200 `{"id":N}`: with a store,
//! committed) and latency percentiles.

use std::sync::Arc;

use super::client::{keeps_alive, number_after, post_request, ClientError, Conn};
use super::load::{self, LoadArgs, LoadReport, Request};
use super::target::Target;
use super::{run_channel, BenchError};

/// Arguments of `bench publish`.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Where, with how many connections and for how long.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Channels the connections publish to (connection i uses channel i mod N).
    #[arg(long, default_value_t = 1)]
    pub channels: u64,
    /// Bytes of each message body.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
}

/// What `bench publish` adds to the figures: its own arguments.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishShape {
    /// Channels published to.
    pub channels: u64,
    /// Bytes per message body.
    pub size: usize,
}

/// The figures of `bench publish` (`requests`: publishes acknowledged with an id).
pub type PublishReport = LoadReport<PublishShape>;

/// Runs `bench publish`.
pub async fn publish(args: &PublishArgs) -> Result<PublishReport, BenchError> {
    let target = args.load.check()?;
    if args.channels == 0 {
        return Err(BenchError::Args("--channels must be at least 1".into()));
    }
    let base = run_channel("publish");
    let body: Arc<[u8]> = vec![b'x'; args.size].into();
    let shape = PublishShape {
        channels: args.channels,
        size: args.size,
    };
    load::run(&args.load, target, shape, |i| Publisher {
        channel: format!("{base}-{}", i % args.channels),
        body: body.clone(),
    })
    .await
}

/// One connection's publishes: the same body, again and again, to one channel.
struct Publisher {
    channel: String,
    body: Arc<[u8]>,
}

impl Request for Publisher {
    const WORKLOAD: &'static str = "publish";
    const COUNTED: &'static str = "acknowledged";

    /// One `POST /publish`. An answer without an id is not an acknowledgement.
    async fn send(&mut self, target: &Target, conn: &mut Conn) -> Result<bool, ClientError> {
        let request = post_request(
            target,
            &format!("/publish?channel={}", self.channel),
            "text/plain",
            &self.body,
        );
        conn.send(&request).await?;
        let (head, answer) = conn.read_response().await?;
        if head.status != 200 || number_after(&answer, b"id").is_none() {
            return Err(ClientError::Status(head.status));
        }
        Ok(keeps_alive(&head))
    }
}
