//! The timeline of a recording: everything that crossed the proxy, in the order the proxy saw
//! it, each event logged before its bytes are passed on (so a client's action always comes after
//! the upstream bytes that prompted it). Bounded: past [`MAX_RECORDED_BYTES`] the recording
//! stops keeping bytes and says so when it is written.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The most bytes a recording keeps, both directions together.
pub const MAX_RECORDED_BYTES: usize = 64 * 1024 * 1024;

/// A request head the client sent (as forwarded upstream), with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The head as forwarded: `Accept-Encoding` and `Sec-WebSocket-Extensions` already removed.
    pub head: crate::wire::http::RequestHead,
    /// The body that came with a `Content-Length`.
    pub body: Vec<u8>,
    /// False when the path filters leave the request out.
    pub recorded: bool,
}

/// One thing that happened on one connection (numbered from 1 in accept order), or a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client sent a request.
    Request(usize, Request),
    /// The client sent bytes outside a request head (WebSocket frames, a chunked body).
    ClientBytes(usize, Vec<u8>),
    /// The client closed its side.
    ClientClosed(usize),
    /// The upstream sent bytes.
    ServerBytes(usize, Vec<u8>),
    /// The upstream closed its side.
    ServerClosed(usize),
    /// The recorder moved the embedded upstream's clock.
    Tick(Duration),
}

#[derive(Debug, Default)]
struct Log {
    events: Vec<Event>,
    bytes: usize,
    overflow: bool,
}

/// The shared, append-only log of one recording.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    log: Arc<Mutex<Log>>,
}

impl Timeline {
    fn lock(&self) -> MutexGuard<'_, Log> {
        // A panicking pump cannot leave the log half-written: every push is one statement.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends an event, unless the recording is already over its bound.
    pub fn push(&self, event: Event) {
        let size = match &event {
            Event::Request(_, request) => request.head.length + request.body.len(),
            Event::ClientBytes(_, bytes) | Event::ServerBytes(_, bytes) => bytes.len(),
            _ => 0,
        };
        let mut log = self.lock();
        if log.overflow || log.bytes + size > MAX_RECORDED_BYTES {
            log.overflow = true;
            return;
        }
        log.bytes += size;
        log.events.push(event);
    }

    /// Everything logged so far, and whether bytes were left out past the bound.
    pub fn snapshot(&self) -> (Vec<Event>, bool) {
        let log = self.lock();
        (log.events.clone(), log.overflow)
    }
}
