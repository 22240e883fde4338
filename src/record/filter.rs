//! `--include` / `--exclude`: which requests a recording keeps, by path. A pattern is a path
//! (`/poll`), or a prefix when it ends in `*` (`/demo/*`); the query is never compared.

/// The path filters of a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only requests matching one of these are kept (all when empty).
    pub include: Vec<String>,
    /// Requests matching one of these are left out, even when included.
    pub exclude: Vec<String>,
}

impl Filters {
    /// Whether a request to `target` (path and query) is written to the spec.
    pub fn records(&self, target: &str) -> bool {
        let path = target.split(['?', '#']).next().unwrap_or(target);
        (self.include.is_empty() || self.include.iter().any(|p| matches(p, path)))
            && !self.exclude.iter().any(|p| matches(p, path))
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_win_over_includes_and_stars_are_prefixes() {
        let filters = Filters {
            include: vec!["/sseStream".into(), "/demo/*".into()],
            exclude: vec!["/demo/demo.css".into()],
        };
        assert!(filters.records("/sseStream?channel=a"));
        assert!(filters.records("/demo/sse.html"));
        assert!(!filters.records("/demo/demo.css"));
        assert!(!filters.records("/poll"));
        assert!(Filters::default().records("/anything"));
    }
}
