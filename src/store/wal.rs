//! Reading the length of SQLite's write-ahead log before SQLite opens it, to tell whether the
//! last write was torn (the process or machine stopped mid-frame).
//!
//! <https://www.sqlite.org/fileformat2.html#walformat>: a 32-byte header (page size as a
//! big-endian u32 at offset 8), then frames of a 24-byte header and one page each. A file whose
//! frames do not fill it exactly ends in a partial frame; SQLite ignores that frame and every
//! frame of its transaction, which therefore never committed.

use std::io::Read;
use std::path::{Path, PathBuf};

/// WAL header size.
const HEADER: u64 = 32;
/// WAL frame header size.
const FRAME_HEADER: u64 = 24;

/// A write-ahead log that ends mid-frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The log file.
    pub wal: PathBuf,
    /// Bytes past the last whole frame.
    pub partial_bytes: u64,
}

impl std::fmt::Display for Torn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ends in a torn frame ({} bytes past the last whole frame): the transaction being \
             written when the process stopped was never committed nor acknowledged, and is dropped; \
             every committed message is kept",
            self.wal.display(),
            self.partial_bytes
        )
    }
}

/// `PATH-wal`, SQLite's name for the log of `PATH`.
pub fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Whether the database's write-ahead log (if any) ends in a partial frame.
pub fn inspect(database: &Path) -> std::io::Result<Option<Torn>> {
    let wal = wal_path(database);
    let mut file = match std::fs::File::open(&wal) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER as usize];
    if len < HEADER {
        // A log cut inside its header: SQLite ignores the whole file.
        return Ok((len > 0).then_some(Torn {
            wal,
            partial_bytes: len,
        }));
    }
    file.read_exact(&mut header)?;
    Ok(torn_tail(len, &header).map(|partial_bytes| Torn { wal, partial_bytes }))
}

/// The bytes past the last whole frame of a log of `len` bytes with this header, if any.
fn torn_tail(len: u64, header: &[u8; HEADER as usize]) -> Option<u64> {
    let page_size = u64::from(u32::from_be_bytes([
        header[8], header[9], header[10], header[11],
    ]));
    // The format stores 65536 as 1 (fileformat2: "page size ... 1 means 65536").
    let page_size = if page_size == 1 { 65_536 } else { page_size };
    if page_size == 0 {
        return None;
    }
    let partial = (len - HEADER) % (FRAME_HEADER + page_size);
    (partial > 0).then_some(partial)
}

#[cfg(test)]
mod tests {
    use super::torn_tail;

    fn header(page_size: u32) -> [u8; 32] {
        let mut h = [0u8; 32];
        h[8..12].copy_from_slice(&page_size.to_be_bytes());
        h
    }

    #[test]
    fn whole_frames_are_not_torn() {
        assert_eq!(torn_tail(32 + 3 * (24 + 4096), &header(4096)), None);
        assert_eq!(torn_tail(32, &header(4096)), None);
    }

    #[test]
    fn a_partial_frame_is_torn_by_its_length() {
        assert_eq!(
            torn_tail(32 + 2 * (24 + 4096) + 100, &header(4096)),
            Some(100)
        );
    }

    #[test]
    fn page_size_one_means_65536() {
        assert_eq!(torn_tail(32 + (24 + 65_536) + 1, &header(1)), Some(1));
    }
}
