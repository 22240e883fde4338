//! A stream, for tests, that counts how often it is polled: the delivery paths promise at most two
//! polls of their feed per message.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;

/// The items of a channel, counting every poll in a shared counter.
pub struct CountingPolls<T> {
    inner: async_std::channel::Receiver<T>,
    polls: Arc<AtomicUsize>,
}

impl<T> CountingPolls<T> {
    /// The stream over `inner`, and the counter it adds to.
    pub fn over(inner: async_std::channel::Receiver<T>) -> (CountingPolls<T>, Arc<AtomicUsize>) {
        let polls = Arc::new(AtomicUsize::new(0));
        let stream = CountingPolls {
            inner,
            polls: polls.clone(),
        };
        (stream, polls)
    }
}

impl<T> Stream for CountingPolls<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_next(cx)
    }
}
