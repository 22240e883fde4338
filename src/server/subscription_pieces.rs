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
//! Cost per message: the heartbeat timer is kept across messages (armed once per cadence point,
//! not once per message), and a format may hand out bytes encoded once for every subscriber.

use std::collections::VecDeque;
use std::time::Duration;

use futures_lite::{future, stream};

use super::pieces::{Piece, Pieces};
use crate::clock::{Clock, Sleep};
use crate::hub::{Message, Next, Subscription};

/// How a technique writes its pieces.
pub trait Format: Send + 'static {
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
    let pieces = SubscriptionPieces {
        queued,
        subscription,
        clock,
        heartbeat,
        next_beat,
        beat: None,
        format,
        ended: false,
    };
    Box::pin(stream::unfold(pieces, |mut pieces| async move {
        let piece = pieces.next_piece().await?;
        Some((piece, pieces))
    }))
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
    format: F,
    ended: bool,
}

enum Woke {
    Next(Next),
    Beat,
}

impl<F: Format> SubscriptionPieces<F> {
    async fn next_piece(&mut self) -> Option<Piece> {
        if let Some(piece) = self.queued.pop_front() {
            return Some(piece);
        }
        if self.ended {
            return None;
        }
        let woke = {
            let subscription = &mut self.subscription;
            let clock = &self.clock;
            let message = async { Woke::Next(subscription.next().await) };
            if self.heartbeat.is_zero() {
                message.await
            } else {
                let next_beat = self.next_beat;
                let timer = self
                    .beat
                    .get_or_insert_with(|| clock.sleep(next_beat.saturating_sub(clock.now())));
                let beat = async {
                    timer.await;
                    Woke::Beat
                };
                // `or` polls its first future first: a ready message beats a ready heartbeat.
                future::or(message, beat).await
            }
        };
        match woke {
            Woke::Next(Next::Message(message)) => Some(self.format.message(&message)),
            Woke::Next(Next::Ended(_)) => {
                self.ended = true;
                None
            }
            Woke::Beat => {
                self.beat = None;
                self.next_beat += self.heartbeat;
                Some(self.format.heartbeat().into())
            }
        }
    }
}
