//! The database's tables and the statements the store runs on them: open, load, commit a batch
//! of changes.
//!
//! `channels(name, base, last)` holds each channel's numbering, `messages(channel, id, event,
//! data)` its log, trimmed to the log capacity in the same transaction that appends, and
//! `retired(id, last)` the highest last id of a channel retired (and deleted), so that a name
//! used again, even after a restart, numbers above it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use super::StoredChannel;
use crate::hub::Message;

/// One message to append.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub channel: String,
    /// The channel's base, for a channel the store does not hold yet.
    pub base: u64,
    pub message: Arc<Message>,
}

/// One change a transaction makes.
#[derive(Debug, Clone)]
pub(super) enum Change {
    /// A published message.
    Append(Record),
    /// The channel's messages up to `through` aged out: their rows go.
    Forget { channel: String, through: u64 },
    /// The channel was retired: its row and its messages go; `last` is remembered.
    Retire { channel: String, last: u64 },
}

/// Opens the database in write-ahead-log mode with `synchronous=NORMAL`: a commit appends its
/// frames to the log without syncing it, and the writer syncs the log itself before anything in
/// the transaction is acknowledged ([`super::writer`]), which is what `FULL` would do at every
/// commit (<https://www.sqlite.org/pragma.html#pragma_synchronous>: "In WAL mode when
/// synchronous is NORMAL (1), the WAL file is synchronized before each checkpoint and the
/// database file is synchronized after each completed checkpoint").
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS channels (
             name TEXT PRIMARY KEY NOT NULL,
             base INTEGER NOT NULL,
             last INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS messages (
             channel TEXT NOT NULL,
             id INTEGER NOT NULL,
             event TEXT NOT NULL,
             data TEXT NOT NULL,
             PRIMARY KEY (channel, id)
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS retired (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             last INTEGER NOT NULL
         );",
    )?;
    Ok(connection)
}

/// `PRAGMA quick_check`: `None` when the database is whole, else its first complaints.
pub(super) fn quick_check(connection: &Connection) -> rusqlite::Result<Option<String>> {
    let mut check = connection.prepare("PRAGMA quick_check(3)")?;
    let lines: Vec<String> = check
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((lines != ["ok"]).then(|| lines.join("; ")))
}

/// The highest last id of a retired channel (0 if none was).
pub(super) fn retired_last(connection: &Connection) -> rusqlite::Result<u64> {
    let last: Option<i64> = connection
        .query_row("SELECT last FROM retired WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?;
    Ok(last.unwrap_or(0).max(0) as u64)
}

/// Every channel, with its last `capacity` messages. A log whose ids do not run consecutively up
/// to the channel's last id (a row edited by hand) keeps only its consecutive tail.
pub(super) fn load(
    connection: &Connection,
    capacity: usize,
) -> rusqlite::Result<Vec<StoredChannel>> {
    let mut channels = Vec::new();
    let mut list = connection.prepare("SELECT name, base, last FROM channels")?;
    let mut read = connection.prepare(
        "SELECT id, event, data FROM messages WHERE channel = ?1 AND id > ?2 ORDER BY id DESC",
    )?;
    let rows = list.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (name, base, last) = row?;
        let (base, last) = (base.max(0) as u64, last.max(0) as u64);
        let floor = last.saturating_sub(capacity as u64);
        let mut messages = Vec::new();
        let mut expected = last;
        let mut found = read.query(params![name, floor as i64])?;
        while let Some(row) = found.next()? {
            let id = row.get::<_, i64>(0)?.max(0) as u64;
            if id != expected {
                break;
            }
            messages.push(Arc::new(Message::new(
                id,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            )));
            expected -= 1;
        }
        messages.reverse();
        channels.push(StoredChannel {
            name,
            base,
            last,
            messages,
        });
    }
    Ok(channels)
}

/// Makes `changes` (in order; ids rising per channel) in one transaction, trimming each appended
/// channel's log to `capacity`. The transaction is committed but not yet synced.
pub(super) fn commit(
    connection: &mut Connection,
    changes: &[&Change],
    capacity: usize,
) -> rusqlite::Result<()> {
    // Each channel's numbering is updated and its log trimmed once per batch, at its last append.
    let last_of: HashMap<&str, usize> = changes
        .iter()
        .enumerate()
        .filter_map(|(i, change)| match change {
            Change::Append(record) => Some((record.channel.as_str(), i)),
            _ => None,
        })
        .collect();
    let tx = connection.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO messages (channel, id, event, data) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut number = tx.prepare_cached(
            "INSERT INTO channels (name, base, last) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET last = max(last, excluded.last)",
        )?;
        let mut trim = tx.prepare_cached("DELETE FROM messages WHERE channel = ?1 AND id <= ?2")?;
        let mut forget_channel = tx.prepare_cached("DELETE FROM channels WHERE name = ?1")?;
        let mut remember = tx.prepare_cached(
            "INSERT INTO retired (id, last) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET last = max(last, excluded.last)",
        )?;
        for (i, change) in changes.iter().enumerate() {
            match change {
                Change::Append(record) => {
                    let message = &record.message;
                    insert.execute(params![
                        record.channel,
                        message.id as i64,
                        message.event,
                        message.data
                    ])?;
                    if last_of.get(record.channel.as_str()) == Some(&i) {
                        number.execute(params![
                            record.channel,
                            record.base as i64,
                            message.id as i64
                        ])?;
                        let keep_after = message.id.saturating_sub(capacity as u64);
                        trim.execute(params![record.channel, keep_after as i64])?;
                    }
                }
                Change::Forget { channel, through } => {
                    trim.execute(params![channel, *through as i64])?;
                }
                Change::Retire { channel, last } => {
                    trim.execute(params![channel, i64::MAX])?;
                    forget_channel.execute(params![channel])?;
                    remember.execute(params![*last as i64])?;
                }
            }
        }
    }
    tx.commit()
}
