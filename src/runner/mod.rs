//! Replays a spec over raw sockets against the embedded server or any `--target`, and records a
//! transcript of the exact bytes; compares it with its insta snapshot.

pub mod cli;
