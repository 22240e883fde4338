//! The store's writer: two threads in a pipeline. The writer thread owns the database
//! connection and commits every change waiting at the moment it wakes in one transaction (group
//! commit); the sync thread makes what was committed durable with one `fdatasync` of the
//! write-ahead log for every transaction committed before the sync began, then hands the
//! messages to the hub and acknowledges them, in commit order. While one sync runs, the writer
//! already commits the next transaction, and only one: the hand-off between the threads is a
//! rendezvous, so the writer then waits for that sync to end while publishes gather, and each
//! transaction holds what arrived during one sync: a transaction's fixed cost (its pages written
//! to the log and checksummed) is shared by as many messages as one sync makes durable.
//!
//! Bounds: at most [`MAX_PENDING_BYTES`] of message bytes wait for the disk (past it a publish is
//! refused with [`StoreError::Behind`]) and one transaction takes at most [`MAX_BATCH`] changes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::sqlite::{self, Change, Record};
use super::{Store, StoreError};
use crate::hub::Message;

/// Message bytes that may wait for a commit.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;
/// Changes in one transaction.
pub const MAX_BATCH: usize = 4096;

/// What a publish waits on: `Ok` once its transaction is committed and synced.
pub type Ack = async_std::channel::Receiver<Result<(), StoreError>>;

type Answer = async_std::channel::Sender<Result<(), StoreError>>;

/// One change and, for a publish, who waits for it.
struct Job {
    change: Change,
    ack: Option<Answer>,
}

/// A committed (or failed) transaction on its way to the sync thread.
struct Committed {
    jobs: Vec<Job>,
    outcome: Result<(), String>,
}

/// The handle changes go through; dropping it lets both threads finish what was submitted, and
/// waits for them.
pub struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    pending: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer and sync threads on `store`. After each sync, `committed` receives the
    /// synced messages in commit order (channel name, message), before any of them is
    /// acknowledged.
    pub fn start(
        store: Store,
        log_capacity: usize,
        committed: impl Fn(&[(String, Arc<Message>)]) + Send + 'static,
    ) -> std::io::Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        // A rendezvous: the writer's next transaction waits until the sync thread takes it.
        let (done, synced) = mpsc::sync_channel::<Committed>(0);
        let pending = Arc::new(AtomicUsize::new(0));
        let wal = super::wal::wal_path(&store.path);
        let counted = pending.clone();
        let sync = std::thread::Builder::new()
            .name("longconn-store-sync".into())
            .spawn(move || sync(wal, synced, counted, committed))?;
        let write = std::thread::Builder::new()
            .name("longconn-store".into())
            .spawn(move || write(store, log_capacity, queue, done))?;
        Ok(Writer {
            jobs: Some(jobs),
            pending,
            threads: vec![write, sync],
        })
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
        self.send(Job {
            change: Change::Append(record),
            ack: Some(ack),
        })
        .inspect_err(|_| {
            self.pending.fetch_sub(size, Ordering::SeqCst);
        })?;
        Ok(done)
    }

    /// Deletes the channel's stored messages up to `through` (they aged out), with the next
    /// commit. Nobody waits for it.
    pub fn forget(&self, channel: &str, through: u64) {
        let _ = self.send(Job {
            change: Change::Forget {
                channel: channel.to_owned(),
                through,
            },
            ack: None,
        });
    }

    /// Deletes a retired channel (its numbering and messages) with the next commit, remembering
    /// `last` so that the name numbers above it when used again.
    pub fn retire(&self, channel: &str, last: u64) {
        let _ = self.send(Job {
            change: Change::Retire {
                channel: channel.to_owned(),
                last,
            },
            ack: None,
        });
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job).map_err(|_| StoreError::Closed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the writer thread after its last commit, which ends the sync
        // thread after its last sync.
        self.jobs = None;
        let here = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // The last hub may be dropped by the sync thread itself (it holds the hub while it
            // delivers): that thread cannot wait for itself, and ends on its own.
            if thread.thread().id() != here {
                let _ = thread.join();
            }
        }
    }
}

fn size_of(message: &Message) -> usize {
    message.data.len() + message.event.len()
}

fn pending_bytes(jobs: &[Job]) -> usize {
    jobs.iter()
        .map(|job| match &job.change {
            Change::Append(record) => size_of(&record.message),
            _ => 0,
        })
        .sum()
}

/// The writer thread: commits what waits, hands each transaction to the sync thread.
fn write(
    store: Store,
    capacity: usize,
    queue: mpsc::Receiver<Job>,
    done: mpsc::SyncSender<Committed>,
) {
    let Store {
        mut connection,
        path: _,
    } = store;
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let changes: Vec<&Change> = jobs.iter().map(|job| &job.change).collect();
        let outcome =
            sqlite::commit(&mut connection, &changes, capacity).map_err(|e| e.to_string());
        if done.send(Committed { jobs, outcome }).is_err() {
            return;
        }
    }
}

/// The sync thread: one `fdatasync` of the write-ahead log for every transaction committed
/// before it, then delivery and acknowledgement in commit order.
fn sync(
    wal: PathBuf,
    synced: mpsc::Receiver<Committed>,
    pending: Arc<AtomicUsize>,
    committed: impl Fn(&[(String, Arc<Message>)]),
) {
    while let Ok(first) = synced.recv() {
        let mut batches = vec![first];
        batches.extend(synced.try_iter());
        // Every transaction taken above committed before this sync starts, so it covers them all.
        let durable = if batches.iter().any(|b| b.outcome.is_ok()) {
            sync_log(&wal).map_err(|e| format!("cannot sync {}: {e}", wal.display()))
        } else {
            Ok(())
        };
        for batch in batches {
            let outcome = batch.outcome.and(durable.clone());
            if outcome.is_ok() {
                let messages: Vec<(String, Arc<Message>)> = batch
                    .jobs
                    .iter()
                    .filter_map(|job| match &job.change {
                        Change::Append(record) => {
                            Some((record.channel.clone(), record.message.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                committed(&messages);
            }
            pending.fetch_sub(pending_bytes(&batch.jobs), Ordering::SeqCst);
            for job in batch.jobs {
                let Some(ack) = job.ack else { continue };
                let answer = outcome
                    .clone()
                    .map_err(|reason| StoreError::Commit { reason });
                // A publisher that gave up waiting is no reason to stop.
                let _ = ack.try_send(answer);
            }
        }
    }
}

/// `fdatasync` of the write-ahead log, opened by name each time: SQLite owns the file, and a
/// descriptor kept across a log SQLite deleted and created again would sync the old one.
fn sync_log(wal: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(wal)?.sync_data()
}
