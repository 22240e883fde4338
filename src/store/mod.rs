//! The message store: every channel's log kept in an embedded SQLite database, so a restart
//! resumes where the last acknowledged publish left off.
//!
//! [`Store::open`] reads what the file holds (each channel's first-id base, last id and its last
//! log-capacity messages) and checks the write-ahead log frame by frame ([`wal`]), so a torn tail
//! is reported with what it cost. A [`Writer`] ([`writer`]) then owns the connection: it groups
//! every change waiting at that moment into one transaction, and one sync of the log makes every
//! transaction committed before it durable. A publish is acknowledged once its transaction is
//! committed and synced, never before; aged-out messages and retired channels are deleted in
//! the same transactions.
//!
//! Why SQLite: it is the most widely deployed embedded database, a commit in its write-ahead log
//! is durable once the log is synced, and on open it replays only complete transactions (a frame
//! whose checksum or commit marker is missing is ignored, <https://www.sqlite.org/wal.html>,
//! "WAL file format"), which is exactly the torn-tail rule.

mod sqlite;
pub mod wal;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::hub::Message;

pub use writer::Writer;

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (file unreadable, not a database, disk full...).
    #[error("message store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The write-ahead log could not be inspected.
    #[error("message store {path}: cannot read its write-ahead log: {source}")]
    Wal {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database file itself is damaged (SQLite's `quick_check` failed). SQLite writes it only
    /// when checkpointing, after the write-ahead log is synced, and a checkpoint cut short is
    /// redone from the log: a torn write never does this, a failing disk or an edit does.
    #[error(
        "message store {path} is damaged (SQLite quick_check: {report}); nothing was changed. \
         Recover what it holds with `sqlite3 {path} .recover`, or move it aside to start empty \
         (ids still never go back)"
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// The first lines of SQLite's report.
        report: String,
    },
    /// A transaction failed; the publishes in it were not acknowledged.
    #[error("the message store could not commit: {reason}")]
    Commit {
        /// What SQLite said.
        reason: String,
    },
    /// Too many publishes wait for the disk; this one was refused, not stored.
    #[error("the message store is behind ({pending} bytes wait for the disk); try again shortly")]
    Behind {
        /// Bytes waiting.
        pending: usize,
    },
    /// The writer thread is gone (the process is stopping).
    #[error("the message store is closed")]
    Closed,
}

/// One channel as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChannel {
    /// The channel's name.
    pub name: String,
    /// The id before the channel's first message (its first message is `base + 1`).
    pub base: u64,
    /// The channel's last committed id.
    pub last: u64,
    /// Its last messages, oldest first, ids consecutive and ending at `last`.
    pub messages: Vec<Arc<Message>>,
}

/// What [`Store::open`] found.
#[derive(Debug, Default)]
pub struct Opened {
    /// Every channel with its log.
    pub channels: Vec<StoredChannel>,
    /// Set when the write-ahead log ended in frames that belong to no committed transaction:
    /// those bytes were never acknowledged, and SQLite drops them.
    pub torn: Option<wal::Torn>,
    /// The highest last id of a channel retired (and deleted) earlier.
    pub retired_last: u64,
}

impl Opened {
    /// The highest id the store holds or held: a new channel must start above it.
    pub fn highest(&self) -> u64 {
        self.channels
            .iter()
            .map(|c| c.last)
            .max()
            .unwrap_or(0)
            .max(self.retired_last)
    }

    /// Messages read back, across channels.
    pub fn messages(&self) -> usize {
        self.channels.iter().map(|c| c.messages.len()).sum()
    }
}

/// An opened store, before its writer starts.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    connection: rusqlite::Connection,
}

impl Store {
    /// Opens (or creates) the database at `path` and reads every channel's last `log_capacity`
    /// messages.
    pub fn open(path: &Path, log_capacity: usize) -> Result<(Store, Opened), StoreError> {
        let torn = wal::inspect(path).map_err(|source| StoreError::Wal {
            path: path.to_owned(),
            source,
        })?;
        let sqlite_error = |source: rusqlite::Error| {
            let damaged = matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            );
            if damaged {
                StoreError::Damaged {
                    path: path.to_owned(),
                    report: source.to_string(),
                }
            } else {
                StoreError::Sqlite {
                    path: path.to_owned(),
                    source,
                }
            }
        };
        let connection = sqlite::open(path).map_err(sqlite_error)?;
        let report = sqlite::quick_check(&connection).map_err(sqlite_error)?;
        if let Some(report) = report {
            return Err(StoreError::Damaged {
                path: path.to_owned(),
                report,
            });
        }
        let channels = sqlite::load(&connection, log_capacity).map_err(sqlite_error)?;
        let retired_last = sqlite::retired_last(&connection).map_err(sqlite_error)?;
        Ok((
            Store {
                path: path.to_owned(),
                connection,
            },
            Opened {
                channels,
                torn,
                retired_last,
            },
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parses a byte count: a number with an optional unit `B`, `KiB`, `MiB`, `GiB` (powers of 1024)
/// or `KB`, `MB`, `GB` (powers of 1000), e.g. `256MiB`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("size '{text}': expected a number then a unit, e.g. 256MiB"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "size '{text}': unknown unit '{other}' (B, KiB, MiB, GiB, KB, MB, GB)"
            ))
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("size '{text}': too large"))
}

#[cfg(test)]
mod tests;
