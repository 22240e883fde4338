//! A subscription turned into the pieces of a streaming response (SSE, forever iframe): the
//! opening pieces, the backlog, then one piece per live message, with heartbeats on a fixed cadence.
//!
//! Determinism (transcripts on the manual clock must not vary):
//! - heartbeats fall at `start + k * heartbeat`, not "since the last write";
//! - when a message and a heartbeat are both ready, the message goes first (the subscription is
//!   polled before the clock); `Server::advance` publishes ticks before it wakes sleepers, so a
//!   tick and a heartbeat due together always come out tick first;
//! - every overdue cadence point gets its own heartbeat.
//!
//! The stream ends when the subscription does (lagged or shutdown): the body ends with it.
//!
//! Cost per message: the stream is polled directly (no future built per piece); the heartbeat
//! timer is kept across messages (armed once per cadence point, not once per message) and polled
//! only when it woke or the polling task changed ([`Watch`]), and a format may hand out bytes
//! encoded once for every subscriber.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::Stream;

use super::http::readiness::Watch;
use super::pieces::{Piece, Pieces};
use crate::clock::{Clock, Sleep};
use crate::hub::{Message, Next, Subscription};

/// How a technique writes its pieces.
pub trait Format: Send + Unpin + 'static {
    /// One message.
    fn message(&self, message: &Message) -> Piece;
    /// One keep-alive piece that the client ignores.
    fn heartbeat(&self) -> Vec<u8>;
}

/// `opening` pieces, then `subscription`'s backlog, then its live messages, with a heartbeat every
/// `heartbeat` on `clock` (none when `heartbeat` is zero).
pub fn pieces<F: Format>(
    opening: Vec<Vec<u8>>,
    mut subscription: Subscription,
    clock: Clock,
    heartbeat: Duration,
    format: F,
) -> Pieces {
    let mut queued: VecDeque<Piece> = opening.into_iter().map(Piece::from).collect();
    for message in std::mem::take(&mut subscription.backlog) {
        queued.push_back(format.message(&message));
    }
    let next_beat = clock.now() + heartbeat;
    Box::pin(SubscriptionPieces {
        queued,
        subscription,
        clock,
        heartbeat,
        next_beat,
        beat: None,
        beat_watch: Watch::default(),
        format,
        ended: false,
    })
}

struct SubscriptionPieces<F> {
    queued: VecDeque<Piece>,
    subscription: Subscription,
    clock: Clock,
    heartbeat: Duration,
    next_beat: Duration,
    /// The timer for `next_beat`, armed when first waited on and kept until it fires: its
    /// deadline is `max(next_beat, time armed)`, as a timer armed afresh on every wait would have.
    beat: Option<Sleep>,
    /// Polls `beat` only when it woke (a wake-up for a message does not poll the timer).
    beat_watch: Watch,
    format: F,
    ended: bool,
}

impl<F: Format> Stream for SubscriptionPieces<F> {
    type Item = Piece;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Piece>> {
        let this = self.get_mut();
        if let Some(piece) = this.queued.pop_front() {
            return Poll::Ready(Some(piece));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        // The subscription first: a ready message beats a ready heartbeat.
        match this.subscription.poll_next(cx) {
            Poll::Ready(Next::Message(message)) => {
                return Poll::Ready(Some(this.format.message(&message)))
            }
            Poll::Ready(Next::Ended(_)) => {
                this.ended = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if this.heartbeat.is_zero() {
            return Poll::Pending;
        }
        let beat = match &mut this.beat {
            Some(beat) => beat,
            slot @ None => {
                let clock = &this.clock;
                // A new timer: polled whatever the watch says of the last one.
                this.beat_watch.reset();
                slot.insert(clock.sleep(this.next_beat.saturating_sub(clock.now())))
            }
        };
        if this.beat_watch.poll(cx, Pin::new(beat)).is_pending() {
            return Poll::Pending;
        }
        this.beat = None;
        this.next_beat += this.heartbeat;
        Poll::Ready(Some(this.format.heartbeat().into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    use futures_lite::future::block_on;

    use super::*;
    use crate::hub::Hub;

    struct Plain;

    impl Format for Plain {
        fn message(&self, message: &Message) -> Piece {
            Piece::Owned(message.data.clone().into_bytes())
        }

        fn heartbeat(&self) -> Vec<u8> {
            b"beat".to_vec()
        }
    }

    struct CountingTask(AtomicUsize);

    impl Wake for CountingTask {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(pieces: &mut Pieces, cx: &mut Context<'_>) -> Poll<Option<Vec<u8>>> {
        pieces
            .as_mut()
            .poll_next(cx)
            .map(|piece| piece.map(|p| p.as_bytes().to_vec()))
    }

    #[test]
    fn messages_between_heartbeats_keep_the_cadence_and_the_timer_still_wakes_the_task() {
        let clock = Clock::manual();
        let manual = clock.as_manual().expect("manual").clone();
        let hub = Hub::default();
        let subscription = hub.subscribe("c", None);
        let mut pieces = pieces(
            vec![b"open".to_vec()],
            subscription,
            clock.clone(),
            Duration::from_secs(10),
            Plain,
        );
        let task = Arc::new(CountingTask(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(task.clone());
        let cx = &mut Context::from_waker(&waker);
        assert_eq!(poll(&mut pieces, cx), Poll::Ready(Some(b"open".to_vec())));
        assert_eq!(poll(&mut pieces, cx), Poll::Pending);
        // Messages wake the task and come out; the timer is armed once, for start + 10 s.
        for n in 0..3 {
            manual.advance(Duration::from_secs(3));
            block_on(hub.publish("c", "message", format!("m{n}"))).expect("publish");
            assert_eq!(
                poll(&mut pieces, cx),
                Poll::Ready(Some(format!("m{n}").into_bytes()))
            );
            assert_eq!(poll(&mut pieces, cx), Poll::Pending);
        }
        assert_eq!(manual.sleepers(), 1);
        let woken = task.0.load(Ordering::SeqCst);
        // 9 s: not yet. 10 s: the timer wakes the task, and the heartbeat comes out.
        manual.advance(Duration::from_secs(1));
        assert_eq!(task.0.load(Ordering::SeqCst), woken + 1);
        assert_eq!(poll(&mut pieces, cx), Poll::Ready(Some(b"beat".to_vec())));
        assert_eq!(poll(&mut pieces, cx), Poll::Pending);
        // The next one at 20 s, with a message before it.
        manual.advance(Duration::from_secs(5));
        block_on(hub.publish("c", "message", "m3".to_string())).expect("publish");
        assert_eq!(poll(&mut pieces, cx), Poll::Ready(Some(b"m3".to_vec())));
        assert_eq!(poll(&mut pieces, cx), Poll::Pending);
        manual.advance(Duration::from_secs(4));
        assert_eq!(poll(&mut pieces, cx), Poll::Pending);
        manual.advance(Duration::from_secs(1));
        assert_eq!(poll(&mut pieces, cx), Poll::Ready(Some(b"beat".to_vec())));
        // Overdue cadence points each get their own heartbeat.
        manual.advance(Duration::from_secs(25));
        assert_eq!(poll(&mut pieces, cx), Poll::Ready(Some(b"beat".to_vec())));
        assert_eq!(poll(&mut pieces, cx), Poll::Ready(Some(b"beat".to_vec())));
        assert_eq!(poll(&mut pieces, cx), Poll::Pending);
    }
}
