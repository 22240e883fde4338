//! Replays a spec over raw sockets against the embedded server or any `--target`, and records a
//! transcript of the exact bytes; compares it with its insta snapshot.
//!
//! Files mirror the spec's step kinds (as Hurl's runner mirrors its AST): [`connection`] (`open`,
//! `close`, the receive buffer) on a [`transport`] stream (TCP, or TLS for `https`/`wss`
//! targets), `send`, `read` (every `until`), `handshake`, `frame`, `publish`, `request`,
//! `capture`, `expect`; `vars` (`${name}` and their redaction); then `transcript`,
//! [`snapshot`] (insta's file format), [`report`] (JUnit), [`html`] (the HTML report),
//! [`color`] (`--color`) and [`cli`] (`longconn run`). The entry point for a user's own test
//! is [`replay`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = longconn::spec::load("specs/websocket_echo_utf8.yaml".as_ref())?;
//! let transcript = longconn::runner::replay(&spec, &longconn::runner::Target::Embedded).await?;
//! insta::assert_snapshot!(transcript.to_string());
//! # Ok(()) }
//! ```

mod capture;
pub mod cli;
pub mod color;
pub mod connection;
mod error;
mod expect;
mod frame;
mod handshake;
pub mod html;
mod publish;
mod read;
mod replay;
pub mod report;
mod request;
mod send;
pub mod snapshot;
mod transcript;
pub mod transport;
mod vars;

pub use error::{RunError, StepFailure};
pub use replay::{
    describe, record, record_with, replay, Options, Recording, Remote, Target, TargetError,
    TargetUrl,
};
pub use transcript::{redact_text, Line, Transcript};
