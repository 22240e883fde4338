//! What every route shares: the hub, the clock, the configuration and the shutdown signal.

use std::pin::Pin;
use std::sync::Arc;

use async_std::channel::{Receiver, Sender};
use futures_lite::Stream;

use super::Config;
use crate::clock::Clock;
use crate::hub::Hub;

/// The tide app's state; cheap to clone.
#[derive(Clone, Debug)]
pub struct State {
    /// The message hub.
    pub hub: Hub,
    /// System clock under `serve`, manual clock under the runner.
    pub clock: Clock,
    /// The server's configuration.
    pub config: Arc<Config>,
    /// Fires once when the server shuts down.
    pub shutdown: Shutdown,
}

/// A one-shot signal many tasks can wait on: closing the channel wakes every receiver.
#[derive(Clone, Debug)]
pub struct Shutdown {
    sender: Sender<()>,
    receiver: Receiver<()>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (sender, receiver) = async_std::channel::bounded(1);
        Shutdown { sender, receiver }
    }
}

impl Shutdown {
    /// Fires the signal (idempotent).
    pub fn trigger(&self) {
        self.sender.close();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.sender.is_closed()
    }

    /// Resolves once the signal has fired.
    pub async fn wait(&self) {
        // Nothing is ever sent: `recv` returns only when the channel is closed.
        let _ = self.receiver.recv().await;
    }

    /// A handle for a loop that waits for the signal many times (once per request): it
    /// registers with the signal once and stays registered between waits, where each
    /// [`wait`](Shutdown::wait) registers anew (a lock on a list every connection shares).
    pub fn watch(&self) -> ShutdownWatch {
        ShutdownWatch(self.receiver.clone())
    }
}

/// See [`Shutdown::watch`].
#[derive(Debug)]
pub struct ShutdownWatch(Receiver<()>);

impl ShutdownWatch {
    /// Resolves once the signal has fired (at once, every time, after it has).
    pub async fn fired(&mut self) {
        // The receiver keeps its listener while pending; nothing is ever sent, so the stream
        // only ends, when the channel closes.
        futures_lite::future::poll_fn(|cx| Pin::new(&mut self.0).poll_next(cx).map(|_| ())).await
    }
}
