//! The ticker: publishes the clock's time to channel `default` every interval, the seed's
//! `setInterval(... new Date() ...)`, on the system clock (`run`) or a manual one (`fire_due`).

use std::time::Duration;

use super::{Hub, DEFAULT_CHANNEL};
use crate::clock::{rfc3339, Clock};

/// Publishes one message per interval boundary to [`DEFAULT_CHANNEL`]; its data is the boundary's
/// time in RFC 3339 (`2024-01-01T00:00:01Z`), not the time it was sent, so a manual clock gives
/// the same transcript every run.
#[derive(Debug)]
pub struct Ticker {
    hub: Hub,
    clock: Clock,
    interval: Duration,
    /// The next boundary to publish.
    next_due: Duration,
}

impl Ticker {
    /// Ticks published by one [`fire_due`](Ticker::fire_due) at most: a huge clock jump skips the
    /// boundaries past this many rather than flooding the channel.
    pub const MAX_CATCH_UP: usize = 1000;

    /// The shortest interval; a shorter one (zero included) is raised to it.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

    /// A ticker whose first tick is due one `interval` from the clock's now.
    pub fn new(hub: Hub, clock: Clock, interval: Duration) -> Ticker {
        let interval = interval.max(Self::MIN_INTERVAL);
        let next_due = clock.now() + interval;
        Ticker {
            hub,
            clock,
            interval,
            next_due,
        }
    }

    /// When the next tick is due (time since the UNIX epoch on the ticker's clock).
    pub fn next_due(&self) -> Duration {
        self.next_due
    }

    /// Publishes one tick per interval boundary up to the clock's now, and returns how many.
    /// Past [`MAX_CATCH_UP`](Ticker::MAX_CATCH_UP) ticks the remaining boundaries are skipped.
    /// Publishes nothing once the hub is shutting down.
    pub async fn fire_due(&mut self) -> usize {
        let now = self.clock.now();
        let mut fired = 0;
        while self.next_due <= now && fired < Self::MAX_CATCH_UP {
            let data = rfc3339(self.next_due);
            if self
                .hub
                .publish(DEFAULT_CHANNEL, "message", data)
                .await
                .is_err()
            {
                // Shutting down: the ticker has nothing more to say.
                return fired;
            }
            self.next_due += self.interval;
            fired += 1;
        }
        if self.next_due <= now {
            // Skip to the first boundary after now, keeping the ticks on the interval's grid.
            let behind = (now - self.next_due).as_nanos() / self.interval.as_nanos() + 1;
            let skip = self.interval.as_nanos().saturating_mul(behind);
            self.next_due += Duration::from_nanos(u64::try_from(skip).unwrap_or(u64::MAX));
        }
        fired
    }

    /// Ticks until the hub shuts down: sleeps on the clock until the next boundary, then fires
    /// and sweeps the hub ([`Hub::sweep`]).
    ///
    /// With several nodes on one Redis only the node holding the ticker lease fires (see
    /// [`Hub::claim_ticker`]); the others skip the boundary and try again at the next one, so a
    /// tick is published once, not once per node. The lease lasts [`Ticker::lease`], renewed at
    /// every tick by its holder.
    pub async fn run(mut self) {
        let lease = self.lease();
        while !self.hub.is_shutting_down() {
            let now = self.clock.now();
            if self.next_due > now {
                self.clock.sleep(self.next_due - now).await;
            }
            if self.hub.claim_ticker(lease).await {
                self.fire_due().await;
            } else {
                self.skip_due();
            }
            // Each tick also ages the logs and retires spent channels.
            self.hub.sweep();
        }
    }

    /// How long the ticker lease lasts: three intervals, at least a second, so one late renewal
    /// does not hand the ticker over, and a dead holder's is taken over soon.
    pub fn lease(&self) -> Duration {
        (self.interval * 3).max(Duration::from_secs(1))
    }

    /// Moves past every due boundary without publishing (another node ticks).
    fn skip_due(&mut self) {
        let now = self.clock.now();
        while self.next_due <= now {
            self.next_due += self.interval;
        }
    }
}
