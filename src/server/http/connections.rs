//! Connection accounting: how many connections are open (for `--max-connections`), each one's
//! socket (so shutdown can close the ones that linger), and a signal once all have ended.

use std::collections::HashMap;
use std::net::Shutdown as Both;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_std::channel::Sender;
use async_std::net::TcpStream;

type OpenSockets = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// Open connections, and a way to wait for all of them to end.
#[derive(Debug, Clone)]
pub struct Connections(Arc<Ledger>);

/// What every clone of [`Connections`] and every guard share: one pointer in each connection.
#[derive(Debug)]
struct Ledger {
    open: AtomicUsize,
    next_id: AtomicU64,
    /// Every open connection's socket, so shutdown can close the ones that linger.
    sockets: OpenSockets,
    /// Dropped with the ledger, once the loop's handles and every guard are gone: the receiver
    /// then ends.
    _alive: Sender<()>,
}

impl Connections {
    /// A counter whose `alive` receiver ends once this counter, its clones and every guard it
    /// gave out are dropped.
    pub fn new(alive: Sender<()>) -> Connections {
        Connections(Arc::new(Ledger {
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            sockets: Arc::default(),
            _alive: alive,
        }))
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Counts one more connection unless `max` are open.
    pub fn try_enter(&self, max: usize) -> Option<ConnectionGuard> {
        self.0
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionGuard {
                ledger: self.0.clone(),
                id: self.0.next_id.fetch_add(1, Ordering::SeqCst),
            })
    }

    /// A handle on the open sockets that does not keep [`Connections::new`]'s receiver alive.
    pub fn sockets(&self) -> Sockets {
        Sockets(self.0.sockets.clone())
    }
}

/// The open connections' sockets.
#[derive(Debug, Clone)]
pub struct Sockets(OpenSockets);

impl Sockets {
    /// Shuts every open socket down both ways: reads and writes on them fail at once, so every
    /// task serving one ends.
    pub fn shut_all(&self) {
        let sockets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for socket in sockets.values() {
            let _ = socket.shutdown(Both::Both);
        }
    }

    /// How many sockets are open.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no socket is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One counted connection; dropping it uncounts it.
#[derive(Debug)]
pub struct ConnectionGuard {
    ledger: Arc<Ledger>,
    id: u64,
}

impl ConnectionGuard {
    /// Lists the connection's socket, so [`Sockets::shut_all`] reaches it.
    pub fn track(&self, socket: &TcpStream) {
        let mut sockets = self
            .ledger
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sockets.insert(self.id, socket.clone());
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut sockets = self
            .ledger
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sockets.remove(&self.id);
        drop(sockets);
        self.ledger.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_drops_when_a_guard_ends() {
        let (alive, _rx) = async_std::channel::bounded(1);
        let c = Connections::new(alive);
        let a = c.try_enter(2).expect("first fits");
        let _b = c.try_enter(2).expect("second fits");
        assert!(c.try_enter(2).is_none());
        drop(a);
        assert_eq!(c.open(), 1);
        assert!(c.try_enter(2).is_some());
    }
}
