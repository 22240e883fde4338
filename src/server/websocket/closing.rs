//! The closing handshake of RFC 6455 (§5.5.1, §7.1.2–§7.1.5): the [`Outbox`] that starts it from
//! anywhere in the connection's task (the shutdown watcher, a route refusing a message), the
//! answer to a client's close frame ([`reply_to_close`]), and what is left to do once it started
//! ([`Ending`]).
//!
//! Only the first close is sent: after it the connection sends no more data frames (§5.5.1) and
//! processes nothing the peer still sends (§1.4). The server closes the TCP connection first
//! (§7.1.1): at once after echoing the client's close, after the client's reply when the server
//! closed first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};

use super::outgoing::server_frame;
use crate::wire::websocket::{close_payload, decode_close_payload, opcode};

/// The connection is closing or closed: nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the WebSocket connection is closing")]
pub struct Closed;

/// Starts the connection's closing handshake from outside its session; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    closing: Arc<Closing>,
}

/// The closing handshake, shared by the session and its outboxes: a flag, the close frame waiting
/// to be written, and the session's task to wake when a close starts from elsewhere.
#[derive(Debug, Default)]
struct Closing {
    /// A close was queued or the connection abandoned: no more data frames.
    started: AtomicBool,
    state: Mutex<CloseState>,
}

#[derive(Debug, Default)]
struct CloseState {
    /// The close frame, until the session writes it.
    frame: Option<Vec<u8>>,
    session: Option<Waker>,
}

impl Closing {
    fn lock(&self) -> MutexGuard<'_, CloseState> {
        // A poisoned lock only means a panic elsewhere; the state stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// Marks the close started (with `frame` to send, if any) and wakes the session; false when it
    /// had already started.
    fn start(&self, frame: Option<Vec<u8>>) -> bool {
        if self.started.swap(true, Ordering::SeqCst) {
            return false;
        }
        let waker = {
            let mut state = self.lock();
            state.frame = frame;
            state.session.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

impl Outbox {
    /// The outbox of a new connection, no close started.
    pub(super) fn new() -> Self {
        Outbox {
            closing: Arc::default(),
        }
    }

    /// Starts the closing handshake with `code` (RFC 6455 §5.5.1): frames already sent go first,
    /// then the close frame, then the write side is shut down. Returns false when a close was
    /// already under way (only the first one is sent).
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.close_with(close_payload(code, reason))
    }

    /// Whether a close has been queued (or the connection abandoned).
    pub fn is_closing(&self) -> bool {
        self.closing.is_started()
    }

    /// Starts the closing handshake with a close frame carrying `payload` (an echo of the
    /// client's close, say); false when a close was already under way.
    pub(super) fn close_with(&self, payload: Vec<u8>) -> bool {
        self.closing
            .start(Some(server_frame(opcode::CLOSE, payload)))
    }

    /// Ends the connection without a close frame (the peer is gone: RFC 6455 §7.1.5, code 1006,
    /// which is never sent).
    pub(super) fn abandon(&self) {
        self.closing.start(None);
    }

    /// Whether a close has started; when not, the task of `cx` is woken once one does.
    pub(super) fn poll_started(&self, cx: &Context<'_>) -> bool {
        let mut state = self.closing.lock();
        // Checked under the lock: `start` sets the flag before it takes the waker.
        if self.closing.is_started() {
            return true;
        }
        match &state.session {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.session = Some(cx.waker().clone()),
        }
        false
    }

    /// The close frame to write (`None` when the connection was abandoned, or once taken).
    pub(super) fn take_frame(&self) -> Option<Vec<u8>> {
        self.closing.lock().frame.take()
    }
}

/// How a connection ended, which decides what is left to do before the TCP connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed and the close was echoed: drop at once (RFC 6455 §7.1.1: the server
    /// closes the TCP connection first).
    Echoed,
    /// The server sent a close: wait for the client's reply (§5.5.1), so that the bytes it still
    /// sends do not turn the FIN into a RST.
    Sent,
    /// The peer is gone.
    PeerGone,
}

/// The answer to a client's close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReply {
    /// Echo a close frame with this payload (RFC 6455 §5.5.1).
    Echo(Vec<u8>),
    /// The close frame is invalid: fail the connection with this code.
    Fail(u16),
}

/// The answer to a client's close frame with `payload` (RFC 6455 §5.5.1, §7.4): echo its code,
/// or refuse it with 1002 (a one-byte body, a code that may not be sent) or 1007 (a reason that
/// is not UTF-8).
pub fn reply_to_close(payload: &[u8]) -> CloseReply {
    match decode_close_payload(payload) {
        // §5.5.1: no body: echo an empty close.
        Ok(None) => CloseReply::Echo(Vec::new()),
        // §5.5.1: "typically echos the status code it received".
        Ok(Some((code, _reason))) => CloseReply::Echo(close_payload(code, "")),
        Err(error) => CloseReply::Fail(error.close_code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_with_a_code_is_echoed_with_the_code_only() {
        assert_eq!(
            reply_to_close(b"\x03\xe8"),
            CloseReply::Echo(b"\x03\xe8".to_vec())
        );
        assert_eq!(
            reply_to_close(b"\x0f\xa0bye \xe2\x98\xba"),
            CloseReply::Echo(b"\x0f\xa0".to_vec())
        );
    }

    #[test]
    fn an_empty_close_is_echoed_empty() {
        assert_eq!(reply_to_close(b""), CloseReply::Echo(Vec::new()));
    }

    #[test]
    fn invalid_closes_fail_with_1002_or_1007() {
        assert_eq!(reply_to_close(b"\x03"), CloseReply::Fail(1002));
        // 1005 and 1006 are for reporting only (RFC 6455 §7.4.1), 999 is unused (§7.4.2).
        assert_eq!(reply_to_close(b"\x03\xed"), CloseReply::Fail(1002));
        assert_eq!(reply_to_close(b"\x03\xee"), CloseReply::Fail(1002));
        assert_eq!(reply_to_close(b"\x03\xe7"), CloseReply::Fail(1002));
        assert_eq!(reply_to_close(b"\x03\xe8\xff\xfe"), CloseReply::Fail(1007));
    }

    #[test]
    fn only_the_first_close_is_queued() {
        let outbox = Outbox::new();
        let other = outbox.clone();
        assert!(!outbox.is_closing());
        assert!(outbox.close(1001, "bye"));
        assert!(!other.close(1000, ""));
        assert!(!other.close_with(Vec::new()));
        assert!(other.is_closing());
        assert_eq!(outbox.take_frame(), Some(b"\x88\x05\x03\xe9bye".to_vec()));
        assert_eq!(outbox.take_frame(), None, "taken once");
    }

    #[test]
    fn abandoning_sends_no_close_frame() {
        let outbox = Outbox::new();
        outbox.abandon();
        assert!(outbox.is_closing());
        assert!(!outbox.close(1000, ""));
        assert_eq!(outbox.take_frame(), None);
    }

    #[test]
    fn a_close_from_elsewhere_wakes_the_waiting_session() {
        use std::sync::atomic::AtomicUsize;

        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let outbox = Outbox::new();
        assert!(!outbox.poll_started(&Context::from_waker(&waker)));
        outbox.clone().close(1001, "");
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(outbox.poll_started(&Context::from_waker(&waker)));
    }
}
