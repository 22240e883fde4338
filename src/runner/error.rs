//! Why a replay stopped: typed so that `longconn run` can pick its exit code (3 for an unreachable
//! target, 1 for everything that happened on the wire) and print where in the spec it happened.

use std::time::Duration;

use super::transcript::format_duration;

/// A replay that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The server could not be reached at all (exit code 3).
    #[error("{target} could not be reached: {source}")]
    Unreachable {
        /// `host:port` the runner tried.
        target: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The TLS settings for an `https`/`wss` target could not be made.
    #[error("{0}")]
    Tls(#[source] super::transport::TlsSetupError),
    /// An embedded server could not be started.
    #[error("the embedded server could not start: {0}")]
    Server(#[source] std::io::Error),
    /// `--target` given for a spec that advances a manual clock.
    #[error("{path}:{line}: tick needs the embedded server's manual clock; it cannot run against --target")]
    TickWithTarget {
        /// The spec's path.
        path: String,
        /// The line of the first `tick` step.
        line: usize,
    },
    /// `--target NAME=URL` names some servers, and none is given for this one.
    #[error("{path}: no --target for server '{server}' (give --target {server}=URL or one --target URL for all)")]
    NoTargetFor {
        /// The spec's path.
        path: String,
        /// The server name without a URL.
        server: String,
    },
    /// A step failed: `specs/x.yaml:14: read from sse until 2 sse_events: timed out after 5s ...`.
    #[error("{path}:{line}: {step}: {failure}")]
    Step {
        /// The spec's path.
        path: String,
        /// The step's line in the spec.
        line: usize,
        /// The step as the transcript names it (`read from sse until 2 sse_events`).
        step: String,
        /// What went wrong.
        failure: StepFailure,
    },
}

impl RunError {
    /// Whether the target could not be reached (the contract's exit code 3).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RunError::Unreachable { .. })
    }
}

/// What went wrong inside one step.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// The condition did not hold before the step's timeout.
    #[error("timed out after {} {progress} (bytes so far: {so_far})", format_duration(*after))]
    Timeout {
        /// The step's timeout.
        after: Duration,
        /// How far the step got, e.g. `with 1 event`.
        progress: String,
        /// The bytes this step saw, escaped and shortened.
        so_far: String,
    },
    /// The peer closed the connection before the condition held.
    #[error("the peer closed the connection {progress} (bytes so far: {so_far})")]
    PeerClosed {
        /// How far the step got.
        progress: String,
        /// The bytes this step saw, escaped and shortened.
        so_far: String,
    },
    /// Bytes that are not what the step reads (not HTTP, not a WebSocket frame...).
    #[error("expected {expected}, got bytes that are not: {reason} (bytes so far: {so_far})")]
    Malformed {
        /// What the step was reading.
        expected: &'static str,
        /// The decoder's complaint.
        reason: String,
        /// The bytes this step saw, escaped and shortened.
        so_far: String,
    },
    /// An expectation did not hold.
    #[error("expected {expected}, got {actual}")]
    Expectation {
        /// What the spec asked for.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// A connection name no `open` step created (or one already closed).
    #[error("no open connection named '{0}'")]
    NoConnection(String),
    /// `open` with a name that is already open.
    #[error("a connection named '{0}' is already open")]
    AlreadyOpen(String),
    /// A server name the spec does not list.
    #[error("no server named '{0}'")]
    NoServer(String),
    /// The `publish` request failed.
    #[error("POST /publish failed: {0}")]
    Publish(String),
    /// Writing to or reading from the socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A `${name}` that cannot be replaced.
    #[error("{0}")]
    Variable(String),
    /// An HTTP step got a status the spec does not name (any 2xx when it names none).
    #[error("unexpected status {actual} (expected {expected}; write `status: {actual}` if that is the answer you mean)")]
    Status {
        /// What the spec asked for: `201`, or `a 2xx`.
        expected: String,
        /// The status that arrived.
        actual: u16,
    },
    /// A `handshake` or a `read until: head` got a status the spec does not name: neither the
    /// default (101 for a handshake, 1xx or 2xx for a read) nor the next `expect` on the
    /// connection.
    #[error("unexpected status {actual} (expected {expected}; follow the step with `expect: {{ status: {actual} }}` if that is the answer you mean)")]
    HeadStatus {
        /// What the step takes: `101`, `a 1xx or 2xx`, or the status the next `expect` names.
        expected: String,
        /// The status that arrived.
        actual: u16,
    },
    /// `until: { silence: W }` saw bytes arrive, or the peer close, within the window.
    #[error("expected silence for {window}, but {arrived}")]
    NotSilent {
        /// The window, as the spec wrote it.
        window: String,
        /// What broke it: `3 bytes arrived: "..."` or `the peer closed the connection`.
        arrived: String,
    },
    /// A `capture` found nothing to keep.
    #[error("capture {name}: {reason}")]
    Capture {
        /// The variable's name.
        name: String,
        /// Why nothing was found.
        reason: String,
    },
    /// The TLS handshake with an `https`/`wss` target failed (certificate, protocol, time).
    #[error("{0}")]
    Tls(#[from] super::transport::HandshakeError),
    /// More bytes arrived than the runner keeps for one connection.
    #[error("more than {0} bytes buffered on one connection")]
    Flood(usize),
    /// A response body (decoded) grew past what the runner keeps.
    #[error("the response body is over {0} bytes, more than the runner keeps")]
    BodyTooLarge(usize),
    /// The transcript reached its bound: the peer sends more than a replay can record.
    #[error("the transcript is over {0} bytes: the peer sends more than a replay records (read with a narrower until:)")]
    TranscriptFull(usize),
    /// A permessage-deflate answer or message that cannot be taken (RFC 7692).
    #[error("{0}")]
    Deflate(#[from] crate::wire::deflate::DeflateError),
}
