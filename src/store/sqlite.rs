//! The database's tables and the three statements the store runs on them: open, load, commit a
//! batch.
//!
//! `channels(name, base, last)` holds each channel's numbering, `messages(channel, id, event,
//! data)` its log, trimmed to the log capacity in the same transaction that appends.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection};

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

pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    // https://www.sqlite.org/pragma.html#pragma_synchronous: in WAL mode, FULL syncs the log at
    // every commit, so a committed transaction survives a power loss, not only a crash.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
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
         ) WITHOUT ROWID;",
    )?;
    Ok(connection)
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

/// Appends `records` (ids rising per channel) in one transaction and trims each channel's log to
/// `capacity`.
pub(super) fn commit(
    connection: &mut Connection,
    records: &[Record],
    capacity: usize,
) -> rusqlite::Result<()> {
    // Each channel's numbering is updated and its log trimmed once per batch, at its last record.
    let last_of: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.channel.as_str(), i))
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
        for (i, record) in records.iter().enumerate() {
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
    }
    tx.commit()
}
