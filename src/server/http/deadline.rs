//! The wait for a connection's next request head, bounded in real time without a timer per
//! request.
//!
//! `async_std::io::timeout` arms a reactor timer for each wait and async-io interrupts the
//! reactor (a write to its wake-up pipe, a new `epoll_wait` timeout) for every timer it inserts:
//! on a keep-alive connection answering short requests that is a system call and a thread wake-up
//! per request. [`HeadDeadline`] arms one timer per connection and moves it only when it fires
//! early: each wait remembers when it started, and a timer that fires before that wait's own
//! deadline is pushed to it instead of ending the wait. A connection that keeps sending requests
//! therefore touches the reactor's timers about once per [`HEAD_TIMEOUT`](super::accept::HEAD_TIMEOUT),
//! not once per request; the bound each wait gets is the same.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::future;

/// One connection's bound on its waits for a next head.
#[derive(Debug)]
pub struct HeadDeadline {
    limit: Duration,
    /// Armed at or before the current wait's deadline; never polled once it has fired (every
    /// path that sees it fire either re-arms it or ends the wait with `TimedOut`).
    timer: Timer,
}

impl HeadDeadline {
    /// Each wait may take `limit` at most.
    pub fn new(limit: Duration) -> HeadDeadline {
        HeadDeadline {
            limit,
            timer: Timer::after(limit),
        }
    }

    /// Runs `wait` for at most the limit from now; fails with [`io::ErrorKind::TimedOut`] past
    /// it. After a `TimedOut` the deadline is spent: the connection is to end.
    pub async fn bound<F, T>(&mut self, wait: F) -> io::Result<T>
    where
        F: Future<Output = io::Result<T>>,
    {
        let deadline = Instant::now() + self.limit;
        let mut wait = pin!(wait);
        future::poll_fn(|cx| {
            if let Poll::Ready(done) = wait.as_mut().poll(cx) {
                return Poll::Ready(done);
            }
            loop {
                match std::pin::Pin::new(&mut self.timer).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(_) if Instant::now() >= deadline => {
                        return Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
                    }
                    // Fired for an earlier wait's deadline: move it to this one's (the loop
                    // polls it once more to register it).
                    Poll::Ready(_) => self.timer.set_at(deadline),
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_that_finishes_in_time_gets_its_value() {
        async_std::task::block_on(async {
            let mut deadline = HeadDeadline::new(Duration::from_secs(60));
            for n in 0..3 {
                assert_eq!(deadline.bound(async { Ok(n) }).await.ok(), Some(n));
            }
        });
    }

    #[test]
    fn a_wait_past_its_limit_times_out() {
        async_std::task::block_on(async {
            let mut deadline = HeadDeadline::new(Duration::ZERO);
            let waited = deadline.bound(future::pending::<io::Result<()>>()).await;
            assert_eq!(waited.map_err(|e| e.kind()), Err(io::ErrorKind::TimedOut));
        });
    }

    #[test]
    fn a_timer_armed_for_an_earlier_wait_is_moved_not_obeyed() {
        async_std::task::block_on(async {
            // Armed for "now + 0" at creation; the wait below asks for its own full limit, so
            // the early firing is moved to the wait's deadline and the wait ends by itself.
            let mut deadline = HeadDeadline {
                limit: Duration::from_secs(60),
                timer: Timer::after(Duration::ZERO),
            };
            let waited = deadline
                .bound(async {
                    async_std::task::yield_now().await;
                    Ok(7)
                })
                .await;
            assert_eq!(waited.ok(), Some(7));
        });
    }
}
