//! The store's writer: one thread owning the database connection, committing every publish that
//! waits at the moment it wakes in one transaction (group commit), then handing the committed
//! messages to the hub and acknowledging them, in order.
//!
//! Bounds: at most [`MAX_PENDING_BYTES`] of message bytes wait for the disk (past it a publish is
//! refused with [`StoreError::Behind`]) and one transaction takes at most [`MAX_BATCH`] messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use super::sqlite::{self, Record};
use super::{Store, StoreError};
use crate::hub::Message;

/// Message bytes that may wait for a commit.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;
/// Messages in one transaction.
pub const MAX_BATCH: usize = 4096;

/// What a publish waits on: `Ok` once its transaction committed.
pub type Ack = async_std::channel::Receiver<Result<(), StoreError>>;

struct Job {
    record: Record,
    ack: async_std::channel::Sender<Result<(), StoreError>>,
}

/// The handle publishes go through; dropping the last one ends the thread.
#[derive(Debug)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("record", &self.record).finish()
    }
}

impl Writer {
    /// Starts the writer thread on `store`. After each commit, `committed` receives the batch's
    /// messages in commit order (channel name, message), before any of them is acknowledged.
    pub fn start(
        store: Store,
        log_capacity: usize,
        committed: impl Fn(&[(String, Arc<Message>)]) + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let pending = Arc::new(AtomicUsize::new(0));
        let counted = pending.clone();
        std::thread::Builder::new()
            .name("longconn-store".into())
            .spawn(move || run(store, log_capacity, queue, counted, committed))?;
        Ok(Writer { jobs, pending })
    }

    /// Queues `message` for the next commit. Call it in id order per channel (under the
    /// channel's lock): the writer keeps that order.
    pub fn submit(
        &self,
        channel: &str,
        base: u64,
        message: Arc<Message>,
    ) -> Result<Ack, StoreError> {
        let size = size_of(&message);
        let before = self.pending.fetch_add(size, Ordering::SeqCst);
        if before + size > MAX_PENDING_BYTES && before > 0 {
            self.pending.fetch_sub(size, Ordering::SeqCst);
            return Err(StoreError::Behind { pending: before });
        }
        let (ack, done) = async_std::channel::bounded(1);
        let record = Record {
            channel: channel.to_owned(),
            base,
            message,
        };
        self.jobs.send(Job { record, ack }).map_err(|_| {
            self.pending.fetch_sub(size, Ordering::SeqCst);
            StoreError::Closed
        })?;
        Ok(done)
    }
}

fn size_of(message: &Message) -> usize {
    message.data.len() + message.event.len()
}

fn run(
    store: Store,
    capacity: usize,
    queue: mpsc::Receiver<Job>,
    pending: Arc<AtomicUsize>,
    committed: impl Fn(&[(String, Arc<Message>)]),
) {
    let Store {
        mut connection,
        path: _,
    } = store;
    let mut batch: Vec<Job> = Vec::new();
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let records: Vec<Record> = batch.iter().map(|job| job.record.clone()).collect();
        let outcome = sqlite::commit(&mut connection, &records, capacity);
        if outcome.is_ok() {
            let messages: Vec<(String, Arc<Message>)> = records
                .into_iter()
                .map(|r| (r.channel, r.message))
                .collect();
            committed(&messages);
        }
        let bytes: usize = batch.iter().map(|job| size_of(&job.record.message)).sum();
        pending.fetch_sub(bytes, Ordering::SeqCst);
        for job in batch.drain(..) {
            let answer = match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Commit {
                    reason: e.to_string(),
                }),
            };
            // A publisher that gave up waiting is no reason to stop.
            let _ = job.ack.try_send(answer);
        }
    }
}
