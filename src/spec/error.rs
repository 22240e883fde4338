//! Spec errors, rendered like a compiler's (and like Hurl's): `path:line:col: message`, then the
//! source line and a caret under the column.

use std::fmt;

/// Why a spec could not be read. Every variant but [`SpecError::Io`] points into the file.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML at all (bad indentation, unclosed quote, tab...).
    #[error("{0}")]
    Syntax(Diagnostic),
    /// YAML, but not a spec: unknown step or field, wrong type, missing field.
    #[error("{0}")]
    Structure(Diagnostic),
    /// A spec whose parts do not fit: unknown connection, bad escape, bad regex, opcode out of
    /// range...
    #[error("{0}")]
    Invalid(Diagnostic),
}

impl SpecError {
    /// Where the error points, when it points into the file.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            SpecError::Io { .. } => None,
            SpecError::Syntax(d) | SpecError::Structure(d) | SpecError::Invalid(d) => Some(d),
        }
    }
}

/// One message at one place in a spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The spec's path as given.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong, in one line.
    pub message: String,
    /// The text of that line (empty when the position is past the end).
    pub source_line: String,
}

impl Diagnostic {
    /// A message at `line:column` of `source`.
    pub fn new(
        path: &str,
        source: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        let source_line = source
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        Diagnostic {
            path: path.to_string(),
            line: line.max(1),
            column: column.max(1),
            message: message.into(),
            source_line,
        }
    }

    /// The first line alone: `path:line:col: message`.
    pub fn headline(&self) -> String {
        format!(
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

impl fmt::Display for Diagnostic {
    /// ```text
    /// specs/sse_resume.yaml:12:5: unknown step 'sned' (did you mean 'send'?)
    ///    |
    /// 12 |   - sned: { to: sse }
    ///    |     ^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs keep their width under the caret so that it lines up in a terminal.
        let pad: String = self
            .source_line
            .chars()
            .chain(std::iter::repeat(' '))
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{}", self.headline())?;
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {}", self.source_line)?;
        write!(f, "{gutter} | {pad}^")
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .iter()
        .map(|candidate| (levenshtein(word, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// ` (did you mean 'x'?)` or nothing.
pub fn suggestion(word: &str, candidates: &[&str]) -> String {
    did_you_mean(word, candidates)
        .map(|best| format!(" (did you mean '{best}'?)"))
        .unwrap_or_default()
}

/// Edits (insert, delete, substitute one character) that turn `a` into `b`.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_single_edits() {
        assert_eq!(levenshtein("sned", "send"), 2);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("frame", "frame"), 0);
        assert_eq!(levenshtein("fram", "frame"), 1);
    }

    #[test]
    fn did_you_mean_picks_the_closest_likely_typo() {
        let kinds = ["open", "close", "send", "read"];
        assert_eq!(did_you_mean("sned", &kinds), Some("send"));
        assert_eq!(did_you_mean("opne", &kinds), Some("open"));
        assert_eq!(did_you_mean("xyzzy", &kinds), None);
    }

    #[test]
    fn diagnostic_renders_line_and_caret() {
        let source = "a: 1\n  - sned: x\n";
        let d = Diagnostic::new("s.yaml", source, 2, 5, "unknown step 'sned'");
        assert_eq!(
            d.to_string(),
            "s.yaml:2:5: unknown step 'sned'\n  |\n2 |   - sned: x\n  |     ^"
        );
    }
}
