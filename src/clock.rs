//! One clock for everything time-driven: the system clock for `serve`, and a manual clock that
//! moves only when told (specs and tests advance it; nothing here sleeps to wait for a tick).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the manual clock starts: 2024-01-01T00:00:00Z, so transcripts never depend on the day.
pub const MANUAL_EPOCH: Duration = Duration::from_secs(1_704_067_200);

async_std::task_local! {
    /// The client the current task serves, if any ([`serving`]).
    static SERVING: Cell<Option<SocketAddr>> = Cell::new(None);
}

/// Marks the current task as the one serving the client at `peer`: a sleep it starts on a
/// manual clock counts as that client's request being parked ([`ManualClock::parked`]), which
/// is how the runner knows a request has reached its timer before it advances the clock.
pub fn serving(peer: SocketAddr) {
    // Outside a task (never, for a connection) there is nothing to mark.
    let _ = SERVING.try_with(|serving| serving.set(Some(peer)));
}

/// A clock: cheap to clone, shared by the hub's ticker and every route that waits.
#[derive(Clone, Debug)]
pub enum Clock {
    /// Real time.
    System,
    /// Time that moves only by [`ManualClock::advance`].
    Manual(Arc<ManualClock>),
}

impl Clock {
    /// A new manual clock at [`MANUAL_EPOCH`].
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(ManualClock::default()))
    }

    /// Time since the UNIX epoch.
    pub fn now(&self) -> Duration {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            Clock::Manual(manual) => manual.now(),
        }
    }

    /// A future that completes once `duration` has passed on this clock.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        match self {
            Clock::System => Sleep::System(Box::pin(async_std::task::sleep(duration))),
            Clock::Manual(manual) => {
                let deadline = manual.now() + duration;
                Sleep::Manual {
                    clock: manual.clone(),
                    deadline,
                    key: None,
                }
            }
        }
    }

    /// The manual clock behind this clock, if it is one.
    pub fn as_manual(&self) -> Option<&Arc<ManualClock>> {
        match self {
            Clock::Manual(manual) => Some(manual),
            Clock::System => None,
        }
    }
}

/// A clock that moves only when [`advance`](ManualClock::advance) is called.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    now: Duration,
    next_key: u64,
    /// Sleepers by (deadline, key): woken in deadline order when the clock passes them.
    sleepers: BTreeMap<(Duration, u64), Sleeper>,
    /// Tasks waiting for sleepers to appear ([`ManualClock::parked`]), woken by every new one.
    watchers: Vec<Waker>,
}

#[derive(Debug)]
struct Sleeper {
    waker: Waker,
    /// The client whose connection's task sleeps ([`serving`]), if any.
    peer: Option<SocketAddr>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            state: Mutex::new(ManualState {
                now: MANUAL_EPOCH,
                next_key: 0,
                sleepers: BTreeMap::new(),
                watchers: Vec::new(),
            }),
        }
    }
}

impl ManualClock {
    /// The current manual time since the UNIX epoch.
    pub fn now(&self) -> Duration {
        self.lock().now
    }

    /// Moves the clock forward and wakes every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        let woken: Vec<Waker> = {
            let mut state = self.lock();
            state.now += by;
            let now = state.now;
            let later = state.sleepers.split_off(&(now, u64::MAX));
            std::mem::replace(&mut state.sleepers, later)
                .into_values()
                .map(|sleeper| sleeper.waker)
                .collect()
        };
        for waker in woken {
            waker.wake();
        }
    }

    /// How many sleepers wait on this clock (tests use it to know a route is parked).
    pub fn sleepers(&self) -> usize {
        self.lock().sleepers.len()
    }

    /// Resolves once the task serving each of `peers` sleeps on this clock (a long poll waiting
    /// for its timeout, a stream for its heartbeat, a body for its deadline): each of those
    /// requests has got as far as it goes until the clock moves. Another client's timers do not
    /// count for it. Never resolves for a client whose task does not sleep (callers bound it).
    pub fn parked(&self, peers: Vec<SocketAddr>) -> Parked<'_> {
        Parked { clock: self, peers }
    }

    /// How many sleepers serve `peer` in all, and how many of them a move by `by` wakes.
    pub fn sleeping(&self, peer: SocketAddr, by: Duration) -> (usize, usize) {
        let state = self.lock();
        let due = state.now + by;
        state
            .sleepers
            .iter()
            .filter(|(_, sleeper)| sleeper.peer == Some(peer))
            .fold((0, 0), |(all, woken), ((deadline, _), _)| {
                (all + 1, woken + usize::from(*deadline <= due))
            })
    }

    /// Resolves once at least `count` sleepers serve `peer`: after a move woke some of its
    /// timers, the task has done what they asked (written a heartbeat, answered a timeout) and
    /// sleeps again. Never resolves for a task that ends instead (callers bound it).
    pub fn asleep_again(&self, peer: SocketAddr, count: usize) -> AsleepAgain<'_> {
        AsleepAgain {
            clock: self,
            peer,
            count,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A poisoned lock only means a panic elsewhere; the state itself stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The future of [`ManualClock::parked`].
#[derive(Debug)]
pub struct Parked<'a> {
    clock: &'a ManualClock,
    peers: Vec<SocketAddr>,
}

impl Future for Parked<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.lock();
        let parked = |peer: &SocketAddr| {
            state
                .sleepers
                .values()
                .any(|sleeper| sleeper.peer.as_ref() == Some(peer))
        };
        if self.peers.iter().all(parked) {
            return Poll::Ready(());
        }
        if !state.watchers.iter().any(|w| w.will_wake(cx.waker())) {
            state.watchers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The future of [`ManualClock::asleep_again`].
#[derive(Debug)]
pub struct AsleepAgain<'a> {
    clock: &'a ManualClock,
    peer: SocketAddr,
    count: usize,
}

impl Future for AsleepAgain<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.lock();
        let asleep = state
            .sleepers
            .values()
            .filter(|sleeper| sleeper.peer == Some(self.peer))
            .count();
        if asleep >= self.count {
            return Poll::Ready(());
        }
        // A new sleeper wakes the watchers (see `Sleep::poll`).
        if !state.watchers.iter().any(|w| w.will_wake(cx.waker())) {
            state.watchers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The future of [`Clock::sleep`].
pub enum Sleep {
    /// Backed by async-std's timer.
    System(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// Registered with a [`ManualClock`] until it passes `deadline`.
    Manual {
        /// The clock to wait on.
        clock: Arc<ManualClock>,
        /// When to complete.
        deadline: Duration,
        /// The registration, while one exists.
        key: Option<u64>,
    },
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut() {
            Sleep::System(sleep) => sleep.as_mut().poll(cx),
            Sleep::Manual {
                clock,
                deadline,
                key,
            } => {
                let mut state = clock.lock();
                if state.now >= *deadline {
                    if let Some(k) = key.take() {
                        state.sleepers.remove(&(*deadline, k));
                    }
                    return Poll::Ready(());
                }
                let (k, new) = match key {
                    Some(k) => (*k, false),
                    None => {
                        let k = state.next_key;
                        state.next_key += 1;
                        *key = Some(k);
                        (k, true)
                    }
                };
                let peer = SERVING.try_with(Cell::get).ok().flatten();
                let sleeper = Sleeper {
                    waker: cx.waker().clone(),
                    peer,
                };
                state.sleepers.insert((*deadline, k), sleeper);
                let watchers = if new {
                    std::mem::take(&mut state.watchers)
                } else {
                    Vec::new()
                };
                drop(state);
                watchers.into_iter().for_each(Waker::wake);
                Poll::Pending
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Sleep::Manual {
            clock,
            deadline,
            key: Some(k),
        } = self
        {
            clock.lock().sleepers.remove(&(*deadline, *k));
        }
    }
}

/// Formats time since the epoch as RFC 3339 UTC with seconds, e.g. `2024-01-01T00:00:01Z`.
pub fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future;

    #[test]
    fn manual_epoch_formats_as_new_year_2024() {
        assert_eq!(rfc3339(MANUAL_EPOCH), "2024-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn manual_sleep_completes_only_when_advanced_past_deadline() {
        let clock = Clock::manual();
        let manual = clock.as_manual().unwrap().clone();
        let mut sleep = Box::pin(clock.sleep(Duration::from_secs(5)));
        assert!(future::block_on(future::poll_once(sleep.as_mut())).is_none());
        assert_eq!(manual.sleepers(), 1);
        manual.advance(Duration::from_secs(4));
        assert!(future::block_on(future::poll_once(sleep.as_mut())).is_none());
        manual.advance(Duration::from_secs(1));
        assert!(future::block_on(future::poll_once(sleep.as_mut())).is_some());
        assert_eq!(manual.sleepers(), 0);
    }

    #[test]
    fn parked_waits_for_a_sleep_of_the_task_serving_that_peer_only() {
        async_std::task::block_on(async {
            let clock = Clock::manual();
            let Some(manual) = clock.as_manual().cloned() else {
                panic!("a manual clock");
            };
            let (a, b): (SocketAddr, SocketAddr) = (
                "127.0.0.1:1001".parse().expect("address"),
                "127.0.0.1:1002".parse().expect("address"),
            );
            // b's task sleeps first: that does not park a.
            let serving_b = async_std::task::spawn({
                let clock = clock.clone();
                async move {
                    serving(b);
                    clock.sleep(Duration::from_secs(5)).await;
                }
            });
            manual.parked(vec![b]).await;
            let mut only_b = Box::pin(manual.parked(vec![a, b]));
            assert!(future::poll_once(only_b.as_mut()).await.is_none());
            // a's task sleeps: the wait for both ends without anything polling it again by hand.
            let serving_a = async_std::task::spawn({
                let clock = clock.clone();
                async move {
                    serving(a);
                    clock.sleep(Duration::from_secs(5)).await;
                }
            });
            only_b.await;
            manual.advance(Duration::from_secs(5));
            serving_a.await;
            serving_b.await;
            assert_eq!(manual.sleepers(), 0);
        });
    }

    #[test]
    fn dropped_sleep_leaves_no_sleeper_behind() {
        let clock = Clock::manual();
        let mut sleep = Box::pin(clock.sleep(Duration::from_secs(5)));
        assert!(future::block_on(future::poll_once(sleep.as_mut())).is_none());
        drop(sleep);
        assert_eq!(clock.as_manual().unwrap().sleepers(), 0);
    }
}
