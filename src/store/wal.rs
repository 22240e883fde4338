//! Reading SQLite's write-ahead log before SQLite opens it, frame by frame, to tell what a torn
//! write (the process or machine stopped mid-write) left at its end and what SQLite will drop.
//!
//! <https://www.sqlite.org/fileformat2.html#walformat>: a 32-byte header (magic, version, page
//! size, checkpoint sequence, two salts, a checksum of its first 24 bytes), then frames of a
//! 24-byte header (page number, database size after commit — nonzero only on a transaction's
//! last frame, the commit frame — both salts, a cumulative checksum) and one page each. "A frame
//! is considered valid if and only if [its salts match the header's and its checksum matches the
//! one computed over every frame up to it]"; on recovery SQLite keeps the valid frames up to the
//! last valid commit frame and ignores the rest. After a checkpoint SQLite starts the log again
//! from its beginning with new salts, so frames of an earlier generation may follow the current
//! ones: they are old, not torn.

use std::io::Read;
use std::path::{Path, PathBuf};

/// WAL header size.
const HEADER: usize = 32;
/// WAL frame header size.
const FRAME_HEADER: usize = 24;
/// The two magic numbers; the last bit says the checksums read big-endian words.
const MAGIC: [u32; 2] = [0x377f_0682, 0x377f_0683];

/// What a write-ahead log holds, as SQLite will read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Frames {
    /// Transactions kept (valid commit frames).
    pub transactions: usize,
    /// Frames in them.
    pub committed: usize,
    /// Whole, valid frames after the last commit frame: a transaction that never committed.
    pub uncommitted: usize,
    /// Bytes of this log's generation after its last commit that SQLite drops: the uncommitted
    /// frames, then a frame whose checksum fails or that is cut short.
    pub dropped_bytes: u64,
}

/// A write-ahead log that ends in a write that never completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The log file.
    pub wal: PathBuf,
    /// What it holds.
    pub frames: Frames,
    /// Whether its header itself is damaged (then SQLite ignores the whole file).
    pub bad_header: bool,
}

impl std::fmt::Display for Torn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Frames {
            transactions,
            committed,
            uncommitted,
            dropped_bytes,
        } = self.frames;
        if self.bad_header {
            return write!(
                f,
                "{}: its header is damaged ({dropped_bytes} bytes): SQLite ignores the whole log",
                self.wal.display()
            );
        }
        write!(
            f,
            "{} ends in a torn write: {transactions} committed transactions ({committed} frames) \
             are kept; the {dropped_bytes} bytes after them ({uncommitted} valid frames of a \
             transaction that never committed, then any damaged or partial frame) are dropped: \
             that transaction was never acknowledged",
            self.wal.display()
        )
    }
}

/// `PATH-wal`, SQLite's name for the log of `PATH`.
pub fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Whether the database's write-ahead log (if any) ends in a torn write.
pub fn inspect(database: &Path) -> std::io::Result<Option<Torn>> {
    let wal = wal_path(database);
    let mut bytes = Vec::new();
    match std::fs::File::open(&wal) {
        Ok(mut file) => file.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(match walk(&bytes) {
        Walk::Empty => None,
        Walk::BadHeader => Some(Torn {
            wal,
            frames: Frames {
                dropped_bytes: bytes.len() as u64,
                ..Frames::default()
            },
            bad_header: true,
        }),
        Walk::Frames(frames) => (frames.dropped_bytes > 0).then_some(Torn {
            wal,
            frames,
            bad_header: false,
        }),
    })
}

/// What [`walk`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// No log, or one SQLite has only begun (no header yet).
    Empty,
    /// A header whose magic or checksum is wrong.
    BadHeader,
    /// A valid header and these frames.
    Frames(Frames),
}

/// Reads a whole write-ahead log as SQLite's recovery does.
pub fn walk(bytes: &[u8]) -> Walk {
    if bytes.is_empty() {
        return Walk::Empty;
    }
    let Some(header) = bytes.get(..HEADER) else {
        return Walk::BadHeader;
    };
    let word = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let magic = word(0);
    if !MAGIC.contains(&magic) {
        return Walk::BadHeader;
    }
    let big_endian = magic & 1 == 1;
    // fileformat2: "page size ... 1 means 65536"; a power of two from 512.
    let page_size = match word(8) {
        1 => 65_536,
        n if (512..=32_768).contains(&n) && n.is_power_of_two() => n as usize,
        _ => return Walk::BadHeader,
    };
    let salts = [word(16), word(20)];
    let mut sum = checksum(big_endian, (0, 0), &header[..24]);
    if sum != (word(24), word(28)) {
        return Walk::BadHeader;
    }
    let mut frames = Frames::default();
    let frame_size = FRAME_HEADER + page_size;
    let (mut at, mut end_of_commit, mut end_of_ours) = (HEADER, HEADER, HEADER);
    let mut valid_since_commit = 0;
    // Set at the first frame of this generation whose checksum fails: SQLite drops it and every
    // frame after it.
    let mut broken = false;
    while at < bytes.len() {
        let rest = &bytes[at..];
        // Another generation's salts (or garbage): the log, as SQLite reads it, ends here. Too
        // few bytes to hold salts can only be this generation's last, partial frame.
        if rest.len() >= 16 && salts_of(rest) != salts {
            break;
        }
        let Some(frame) = rest.get(..frame_size) else {
            end_of_ours = bytes.len();
            break;
        };
        at += frame_size;
        end_of_ours = at;
        if broken {
            continue;
        }
        let next = checksum(big_endian, sum, &frame[..8]);
        let next = checksum(big_endian, next, &frame[FRAME_HEADER..]);
        if next != (be(&frame[16..20]), be(&frame[20..24])) {
            broken = true;
            continue;
        }
        sum = next;
        valid_since_commit += 1;
        if be(&frame[4..8]) != 0 {
            frames.transactions += 1;
            frames.committed += valid_since_commit;
            valid_since_commit = 0;
            end_of_commit = at;
        }
    }
    frames.uncommitted = valid_since_commit;
    frames.dropped_bytes = (end_of_ours - end_of_commit) as u64;
    Walk::Frames(frames)
}

fn be(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn salts_of(frame: &[u8]) -> [u32; 2] {
    [be(&frame[8..12]), be(&frame[12..16])]
}

/// fileformat2, "Checksum algorithm": over 32-bit words in the log's byte order, two at a time,
/// `s0 += x[i] + s1; s1 += x[i+1] + s0`, wrapping.
pub fn checksum(big_endian: bool, (mut s0, mut s1): (u32, u32), bytes: &[u8]) -> (u32, u32) {
    for pair in bytes.chunks_exact(8) {
        let read = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(read(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(read(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 512;
    const SALTS: [u32; 2] = [0x1111_2222, 0x3333_4444];

    /// A log header (big-endian checksums, 512-byte pages) with its checksum.
    fn header() -> Vec<u8> {
        let mut h = Vec::new();
        for word in [MAGIC[1], 3_007_000, PAGE as u32, 0, SALTS[0], SALTS[1]] {
            h.extend_from_slice(&word.to_be_bytes());
        }
        let (s0, s1) = checksum(true, (0, 0), &h);
        h.extend_from_slice(&s0.to_be_bytes());
        h.extend_from_slice(&s1.to_be_bytes());
        h
    }

    /// Appends one frame of page `page` filled with `fill`; `commit` makes it a commit frame.
    fn frame(log: &mut Vec<u8>, sum: &mut (u32, u32), page: u32, fill: u8, commit: bool) {
        let mut head = Vec::new();
        head.extend_from_slice(&page.to_be_bytes());
        head.extend_from_slice(&u32::from(commit).to_be_bytes());
        let body = vec![fill; PAGE];
        *sum = checksum(true, checksum(true, *sum, &head), &body);
        for word in [SALTS[0], SALTS[1], sum.0, sum.1] {
            head.extend_from_slice(&word.to_be_bytes());
        }
        log.extend_from_slice(&head);
        log.extend_from_slice(&body);
    }

    /// Two transactions of two frames each, then one frame that never committed.
    fn log() -> Vec<u8> {
        let mut log = header();
        let mut sum = checksum(true, (0, 0), &log[..24]);
        for (page, commit) in [(1, false), (2, true), (3, false), (1, true), (2, false)] {
            frame(&mut log, &mut sum, page, page as u8, commit);
        }
        log
    }

    const FRAME: usize = FRAME_HEADER + PAGE;

    #[test]
    fn the_checksum_reads_word_pairs_in_the_logs_byte_order() {
        let bytes = [0, 0, 0, 1, 0, 0, 0, 2];
        assert_eq!(checksum(true, (0, 0), &bytes), (1, 3));
        assert_eq!(checksum(false, (0, 0), &bytes), (1 << 24, 3 << 24));
        assert_eq!(checksum(true, (u32::MAX, 0), &bytes), (0, 2));
    }

    #[test]
    fn committed_transactions_are_counted_and_an_uncommitted_tail_is_dropped() {
        let log = log();
        assert_eq!(
            walk(&log),
            Walk::Frames(Frames {
                transactions: 2,
                committed: 4,
                uncommitted: 1,
                dropped_bytes: FRAME as u64,
            })
        );
        // Up to the second commit frame, nothing is dropped.
        let whole = &log[..HEADER + 4 * FRAME];
        assert_eq!(
            walk(whole),
            Walk::Frames(Frames {
                transactions: 2,
                committed: 4,
                ..Frames::default()
            })
        );
    }

    #[test]
    fn a_cut_at_any_offset_keeps_the_transactions_committed_before_it() {
        let log = log();
        for cut in HEADER..=log.len() {
            let Walk::Frames(frames) = walk(&log[..cut]) else {
                panic!("cut at {cut}: header lost");
            };
            let whole = (cut - HEADER) / FRAME;
            let expected = if whole >= 4 {
                2
            } else if whole >= 2 {
                1
            } else {
                0
            };
            assert_eq!(frames.transactions, expected, "cut at {cut}");
            let kept_end = HEADER + 2 * FRAME * expected;
            assert_eq!(
                frames.dropped_bytes,
                (cut - kept_end) as u64,
                "cut at {cut}"
            );
        }
        for cut in 1..HEADER {
            assert_eq!(walk(&log[..cut]), Walk::BadHeader, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_byte_drops_its_frame_and_everything_after() {
        let mut log = log();
        log[HEADER + 2 * FRAME + 100] ^= 0xff;
        let Walk::Frames(frames) = walk(&log) else {
            panic!("header lost")
        };
        assert_eq!((frames.transactions, frames.committed), (1, 2));
        assert_eq!(frames.dropped_bytes, 3 * FRAME as u64);
        let mut log = self::log();
        log[30] ^= 1;
        assert_eq!(walk(&log), Walk::BadHeader);
    }

    #[test]
    fn frames_of_an_older_generation_are_not_torn() {
        let mut log = log();
        let whole = HEADER + 4 * FRAME;
        // An older generation's frame: other salts.
        log.truncate(whole);
        let mut old = vec![0u8; FRAME];
        old[8..16].copy_from_slice(&[9; 8]);
        log.extend_from_slice(&old);
        let Walk::Frames(frames) = walk(&log) else {
            panic!("header lost")
        };
        assert_eq!((frames.transactions, frames.dropped_bytes), (2, 0));
    }
}
