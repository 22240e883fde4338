//! Long-poll waiters: a future parked on one channel until a message after `since` exists,
//! whose drop removes its entry, so a client that goes away leaves nothing behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::channel::Channel;
use super::{Backlog, Hub};

/// The future behind [`Hub::wait_since`].
pub(super) struct WaitSince {
    hub: Hub,
    name: String,
    since: u64,
    /// The channel and waiter key, once parked.
    parked: Option<(Arc<Channel>, u64)>,
}

impl WaitSince {
    pub(super) fn new(hub: Hub, name: &str, since: u64) -> WaitSince {
        WaitSince {
            hub,
            name: name.to_owned(),
            since,
            parked: None,
        }
    }
}

impl Future for WaitSince {
    type Output = Backlog;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Backlog> {
        let this = self.get_mut();
        if let Some((chan, key)) = &this.parked {
            let mut state = chan.lock();
            if state.has_news(this.since) || this.hub.is_shutting_down() {
                let backlog = state.backlog(this.since);
                drop(state);
                this.release();
                return Poll::Ready(backlog);
            }
            // Woken without news (the wake was taken by another poll, or spurious): park again.
            state.park_waiter(Some(*key), cx.waker());
            return Poll::Pending;
        }
        let hub = this.hub.clone();
        let (chan, parked) = hub.with_channel(&this.name, |state| {
            // `since` is taken literally, also past the channel's last id: a client that holds
            // ids up to N from before a restart (the log published again, or a Redis hub that
            // never numbers back) waits for N + 1 instead of being handed what it already has.
            if state.has_news(this.since) || hub.is_shutting_down() {
                Err(state.backlog(this.since))
            } else {
                Ok(state.park_waiter(None, cx.waker()))
            }
        });
        match parked {
            Ok(key) => {
                this.parked = Some((chan, key));
                Poll::Pending
            }
            Err(backlog) => {
                // Never parked, but the lookup may have created the channel: do not leave it.
                hub.retire_if_idle(&chan);
                Poll::Ready(backlog)
            }
        }
    }
}

impl WaitSince {
    /// Leaves the channel: removes the waiter entry and retires the channel if nobody is left.
    fn release(&mut self) {
        if let Some((chan, key)) = self.parked.take() {
            let idle = {
                let mut state = chan.lock();
                state.remove_waiter(key);
                state.is_idle()
            };
            if idle {
                self.hub.retire_if_idle(&chan);
            }
        }
    }
}

impl Drop for WaitSince {
    fn drop(&mut self) {
        self.release();
    }
}
