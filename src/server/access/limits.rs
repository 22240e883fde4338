//! Limits that fit the process: the connection ceiling the open-file limit (`RLIMIT_NOFILE`,
//! POSIX `getrlimit`) leaves room for, and the log of refused connections, at most one line a
//! second however fast they come.

use std::time::Duration;

/// File descriptors kept back from connections: the listener, stdio, the store's files, Redis
/// connections, and what the runtime opens (epoll, its notification pipe).
pub const HEADROOM: u64 = 64;

/// The ceiling when the open-file limit cannot be read or is unlimited.
pub const UNLIMITED_DEFAULT: usize = 10_000;

/// The process's soft open-file limit; `None` when unlimited.
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The `--max-connections` to use, and a warning when an explicit `requested` was lowered: each
/// connection holds one descriptor, so past `open_files` less [`HEADROOM`] the accept loop would
/// fail with "Too many open files" instead of answering 503.
pub fn max_connections(
    requested: Option<usize>,
    open_files: Option<u64>,
) -> (usize, Option<String>) {
    let ceiling = open_files
        .map(|n| usize::try_from(n.saturating_sub(HEADROOM).max(1)).unwrap_or(usize::MAX));
    match (requested, ceiling) {
        (None, Some(ceiling)) => (ceiling, None),
        (None, None) => (UNLIMITED_DEFAULT, None),
        (Some(n), Some(ceiling)) if n > ceiling => (
            ceiling,
            Some(format!(
                "--max-connections {n} lowered to {ceiling}: the open-file limit is {} (ulimit -n) and {HEADROOM} are kept for the server itself",
                open_files.unwrap_or_default()
            )),
        ),
        (Some(n), _) => (n, None),
    }
}

/// Counts refused connections and says so at most once a second.
#[derive(Debug, Default)]
pub struct RefusedConnections {
    /// When the last line was written (time since the UNIX epoch).
    last: Option<Duration>,
    /// Refusals since that line.
    unreported: u64,
}

impl RefusedConnections {
    /// Notes one refusal at `now`; the line to log when a second has passed since the last one.
    pub fn refused(&mut self, now: Duration, why: &str) -> Option<String> {
        self.unreported += 1;
        if self
            .last
            .is_some_and(|last| now.saturating_sub(last) < Duration::from_secs(1))
        {
            return None;
        }
        self.last = Some(now);
        let count = std::mem::take(&mut self.unreported);
        Some(format!("longconn: {count} connection(s) refused: {why}"))
    }

    /// [`refused`](RefusedConnections::refused), written to stderr when due.
    pub fn log(&mut self, now: Duration, why: &str) {
        if let Some(line) = self.refused(now, why) {
            eprintln!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_open_file_limit_less_headroom() {
        assert_eq!(max_connections(None, Some(1024)), (960, None));
        assert_eq!(max_connections(None, Some(10)), (1, None));
        assert_eq!(max_connections(None, None), (UNLIMITED_DEFAULT, None));
    }

    #[test]
    fn an_explicit_value_above_the_limit_is_lowered_with_a_warning() {
        let (n, warning) = max_connections(Some(10_000), Some(1024));
        assert_eq!(n, 960);
        let warning = warning.expect("a warning");
        assert!(
            warning.contains("--max-connections 10000 lowered to 960"),
            "{warning}"
        );
        assert_eq!(max_connections(Some(500), Some(1024)), (500, None));
        assert_eq!(max_connections(Some(960), Some(1024)), (960, None));
        assert_eq!(max_connections(Some(50_000), None), (50_000, None));
    }

    #[test]
    fn this_process_has_a_readable_limit() {
        // Linux always reports one; the ceiling follows it.
        if let Some(limit) = open_file_limit() {
            assert_eq!(
                max_connections(None, Some(limit)).0 as u64,
                limit.saturating_sub(HEADROOM).max(1)
            );
        }
    }

    #[test]
    fn refusals_are_logged_at_most_once_a_second() {
        let mut log = RefusedConnections::default();
        let t = Duration::from_secs(100);
        assert_eq!(
            log.refused(t, "limit 1").as_deref(),
            Some("longconn: 1 connection(s) refused: limit 1")
        );
        for ms in 1..1000 {
            assert_eq!(log.refused(t + Duration::from_millis(ms), "limit 1"), None);
        }
        assert_eq!(
            log.refused(t + Duration::from_secs(1), "limit 1")
                .as_deref(),
            Some("longconn: 1000 connection(s) refused: limit 1")
        );
        assert_eq!(
            log.refused(t + Duration::from_millis(1500), "limit 1"),
            None
        );
    }
}
