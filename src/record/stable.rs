//! Stable, or not written: a recorded spec is replayed twice against the same kind of upstream.
//! When both transcripts agree it is kept; otherwise the differing lines are named and a
//! `redact:` entry is suggested for each value that changed. Suggestions are pure (two texts in,
//! patterns out).

use crate::runner::transport::Tls;
use crate::runner::{record_with, Options, RunError, Target, Transcript};
use crate::spec::{Pattern, Redaction, Spec};

/// How two replays of one spec compared.
#[derive(Debug)]
pub enum Verdict {
    /// Both replays ran and agree: the transcript is the snapshot.
    Stable(Transcript),
    /// Both ran, and these lines differ (first replay, second replay).
    Differs {
        /// `(line number, first, second)` for each differing line, at most [`MAX_SHOWN`].
        lines: Vec<Difference>,
        /// Suggestions that make the pairs agree.
        suggested: Vec<Suggestion>,
    },
    /// A replay failed.
    Failed(RunError),
}

/// A differing transcript line: its number, the first replay's text, the second's.
pub type Difference = (usize, String, String);

/// A suggested `redact:` entry: pattern and name.
pub type Suggestion = (String, String);

/// The most differing lines a draft lists.
pub const MAX_SHOWN: usize = 20;

/// Replays `spec` twice against `target`. `secrets` are given as variables and hidden as
/// `<NAME>` in the transcripts, as values from the environment are.
/// `tls` is for an `https`/`wss` upstream, as the proxy reached it.
pub async fn check(
    spec: &Spec,
    target: &Target,
    secrets: &[(String, String)],
    tls: Option<Tls>,
) -> Verdict {
    let options = Options {
        vars: secrets.to_vec(),
        tls,
        ..Options::default()
    };
    let hide: Vec<Redaction> = secrets
        .iter()
        .filter_map(|(name, value)| {
            regex::Regex::new(&regex::escape(value))
                .ok()
                .map(|regex| Redaction {
                    pattern: Pattern(regex),
                    name: name.clone(),
                })
        })
        .collect();
    let mut transcripts = Vec::new();
    for _ in 0..2 {
        // On the heap: a replay's future is large, and the caller may be a small thread stack.
        let recording = Box::pin(record_with(spec, target, &options)).await;
        if let Err(error) = recording.result {
            return Verdict::Failed(error);
        }
        let mut transcript = recording.transcript;
        transcript.redact(&hide);
        transcripts.push(transcript);
    }
    let second = transcripts.pop().unwrap_or_default();
    let first = transcripts.pop().unwrap_or_default();
    if first == second {
        return Verdict::Stable(first);
    }
    let (lines, suggested) = compare(&first.to_string(), &second.to_string());
    Verdict::Differs { lines, suggested }
}

/// The differing lines of two transcripts of the same steps, and a redaction for each varying
/// value: the text that differs, between the characters both lines share around it.
pub fn compare(first: &str, second: &str) -> (Vec<Difference>, Vec<Suggestion>) {
    let mut lines = Vec::new();
    let mut suggested: Vec<Suggestion> = Vec::new();
    let a: Vec<&str> = first.lines().collect();
    let b: Vec<&str> = second.lines().collect();
    for index in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(index).copied(), b.get(index).copied());
        if x == y {
            continue;
        }
        let (x, y) = (x.unwrap_or(""), y.unwrap_or(""));
        if lines.len() < MAX_SHOWN {
            lines.push((index + 1, x.to_string(), y.to_string()));
        }
        if let Some(pattern) = suggest(x, y) {
            if !suggested.iter().any(|(p, _)| *p == pattern) {
                let name = format!("varies{}", suggested.len() + 1);
                suggested.push((pattern, name));
            }
        }
    }
    (lines, suggested)
}

/// A pattern whose one group covers where `x` and `y` differ, anchored on up to 12 characters
/// before it (from the line, marker excluded) and 1 after it.
fn suggest(x: &str, y: &str) -> Option<String> {
    let xs: Vec<char> = x.chars().collect();
    let ys: Vec<char> = y.chars().collect();
    let prefix = xs.iter().zip(&ys).take_while(|(a, b)| a == b).count();
    let suffix = xs[prefix..]
        .iter()
        .rev()
        .zip(ys[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    // Grow the varying part to whole words: a number that changed from 19 to 21 shares its
    // tail, but the whole number varies.
    let word = |c: &char| c.is_alphanumeric() || *c == '-' || *c == '_';
    let mut start = prefix;
    while start > 0 && word(&xs[start - 1]) {
        start -= 1;
    }
    let mut end_x = xs.len() - suffix;
    let mut end_y = ys.len() - suffix;
    while end_x < xs.len() && end_y < ys.len() && word(&xs[end_x]) && xs[end_x] == ys[end_y] {
        end_x += 1;
        end_y += 1;
    }
    let before: String = xs[start.saturating_sub(12).max(2.min(start))..start]
        .iter()
        .collect();
    let after: String = xs[end_x..].iter().take(1).collect();
    let middle_x: String = xs[start..end_x].iter().collect();
    let middle_y: String = ys[start..end_y].iter().collect();
    let class = if [&middle_x, &middle_y]
        .iter()
        .all(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
    {
        r"\d+"
    } else if [&middle_x, &middle_y].iter().all(|m| {
        !m.is_empty()
            && m.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    }) {
        r"[\w-]+"
    } else {
        ".*?"
    };
    if before.is_empty() && after.is_empty() {
        return None;
    }
    Some(format!(
        "{}({class}){}",
        regex::escape(&before),
        regex::escape(&after)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_varying_number_gets_a_digit_pattern_anchored_on_its_neighbours() {
        let (lines, suggested) = compare(
            "< a\n< x-request-id: 19\\r\\n\n",
            "< a\n< x-request-id: 21\\r\\n\n",
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0, 2);
        assert_eq!(suggested.len(), 1);
        let pattern = regex::Regex::new(&suggested[0].0).expect("valid");
        for line in ["< x-request-id: 19\\r\\n", "< x-request-id: 21\\r\\n"] {
            let caps = pattern.captures(line).expect("matches");
            assert!(caps.get(1).expect("group").as_str().parse::<u32>().is_ok());
        }
    }
}
