//! Variables of a replay: `${name}` in a step's strings and bytes is replaced, just before the
//! step runs, by a value captured earlier (`capture`), given with `--var NAME=VALUE`, built in
//! (`${host}`, `${channel}`, `${run}`) or read from the environment, in that order. `$${` writes
//! a literal `${`. Values that vary from run to run are redacted by their name in the transcript.

use std::collections::BTreeMap;

use super::error::StepFailure;
use crate::spec::{Pattern, Redaction};
use crate::wire::escape::escape;

/// The most bytes one expansion may produce: a guard against a captured value that a hostile
/// server made huge and a spec that repeats it.
pub const MAX_EXPANDED: usize = 16 * 1024 * 1024;

/// The longest variable name read between `${` and `}`.
const MAX_NAME: usize = 128;

/// Where a value came from; it decides whether the transcript shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// `--var`: chosen by the user, the same on every run; shown.
    Given,
    /// `capture` with `redact: false`; shown.
    Shown,
    /// A built-in, a redacted capture or the environment: replaced by `<name>`.
    Redacted,
}

#[derive(Debug, Clone)]
struct Value {
    text: String,
    origin: Origin,
    used: bool,
}

/// The variables of one replay.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, Value>,
    /// Environment variables read, kept so that they are redacted too.
    from_env: BTreeMap<String, Value>,
    /// Whether unknown names fall back to the environment.
    environment: bool,
}

impl Vars {
    /// Variables from `--var` pairs and the built-ins; unknown names are then looked up in the
    /// environment.
    pub fn new(given: &[(String, String)], builtins: &[(&str, String)]) -> Vars {
        let mut vars = Vars {
            environment: true,
            ..Vars::default()
        };
        for (name, text) in builtins {
            vars.set(name, text.clone(), Origin::Redacted);
        }
        for (name, text) in given {
            vars.set(name, text.clone(), Origin::Given);
        }
        vars
    }

    /// Variables without the environment (for tests that must not depend on it).
    #[cfg(test)]
    pub fn isolated(given: &[(String, String)]) -> Vars {
        let mut vars = Vars::new(given, &[]);
        vars.environment = false;
        vars
    }

    fn set(&mut self, name: &str, text: String, origin: Origin) {
        self.values.insert(
            name.to_string(),
            Value {
                text,
                origin,
                used: false,
            },
        );
    }

    /// Keeps a captured value; `redact` hides it behind `<name>` in the transcript.
    pub fn capture(&mut self, name: &str, text: String, redact: bool) {
        let origin = if redact {
            Origin::Redacted
        } else {
            Origin::Shown
        };
        self.set(name, text, origin);
        if let Some(value) = self.values.get_mut(name) {
            // A capture is redacted whether or not a later step uses it: the value is in the
            // transcript already.
            value.used = true;
        }
    }

    /// `bytes` with every `${name}` replaced.
    pub fn expand(&mut self, bytes: &[u8]) -> Result<Vec<u8>, StepFailure> {
        if !bytes.windows(2).any(|w| w == b"${") {
            return Ok(bytes.to_vec());
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            if bytes[at..].starts_with(b"$${") {
                out.extend_from_slice(b"${");
                at += 3;
                continue;
            }
            if !bytes[at..].starts_with(b"${") {
                out.push(bytes[at]);
                at += 1;
                continue;
            }
            let rest = &bytes[at + 2..];
            let Some(end) = rest.iter().take(MAX_NAME + 1).position(|b| *b == b'}') else {
                return Err(StepFailure::Variable(format!(
                    "'${{' without a closing '}}' after it (write $${{ for a literal ${{): {}",
                    escape(&bytes[at..bytes.len().min(at + 40)])
                )));
            };
            let name = String::from_utf8_lossy(&rest[..end]).into_owned();
            let text = self.lookup(&name)?;
            out.extend_from_slice(text.as_bytes());
            if out.len() > MAX_EXPANDED {
                return Err(StepFailure::Variable(format!(
                    "expanding variables gives more than {MAX_EXPANDED} bytes"
                )));
            }
            at += 2 + end + 1;
        }
        Ok(out)
    }

    /// `text` with every `${name}` replaced.
    pub fn expand_str(&mut self, text: &str) -> Result<String, StepFailure> {
        let bytes = self.expand(text.as_bytes())?;
        // Values are UTF-8 (captures are taken as text), so the result is too; lossy is a guard.
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn lookup(&mut self, name: &str) -> Result<String, StepFailure> {
        if let Some(value) = self.values.get_mut(name) {
            value.used = true;
            return Ok(value.text.clone());
        }
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid && self.environment {
            if let Ok(text) = std::env::var(name) {
                self.from_env.insert(
                    name.to_string(),
                    Value {
                        text: text.clone(),
                        origin: Origin::Redacted,
                        used: true,
                    },
                );
                return Ok(text);
            }
        }
        let mut known: Vec<&str> = self.values.keys().map(String::as_str).collect();
        known.sort_unstable();
        Err(StepFailure::Variable(format!(
            "unknown variable ${{{name}}} (known here: {}; or --var {name}=VALUE, or the \
             environment)",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )))
    }

    /// Redactions for every value used that must not show: its escaped text becomes `<name>`.
    /// Longer values go first, so that a value inside another is not cut out of it.
    pub fn redactions(&self) -> Vec<Redaction> {
        let mut hidden: Vec<(&String, &Value)> = self
            .values
            .iter()
            .chain(self.from_env.iter())
            .filter(|(_, value)| {
                value.used && value.origin == Origin::Redacted && !value.text.is_empty()
            })
            .collect();
        hidden.sort_by_key(|(_, value)| std::cmp::Reverse(value.text.len()));
        hidden
            .into_iter()
            .filter_map(|(name, value)| {
                // A value that starts or ends with a word character is redacted only where it
                // stands as a whole word: a captured id `2` leaves `200 OK` alone.
                let text = escape(value.text.as_bytes());
                let edge = |c: Option<char>| {
                    if c.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        r"\b"
                    } else {
                        ""
                    }
                };
                let pattern = regex::Regex::new(&format!(
                    "{}{}{}",
                    edge(text.chars().next()),
                    regex::escape(&text),
                    edge(text.chars().last())
                ));
                pattern.ok().map(|regex| Redaction {
                    pattern: Pattern(regex),
                    name: name.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_replaced_and_dollar_dollar_is_literal() {
        let mut vars = Vars::isolated(&[("id".into(), "42".into())]);
        assert_eq!(vars.expand(b"/m/${id}?x=$${id}").unwrap(), b"/m/42?x=${id}");
        assert_eq!(vars.expand(b"no variables").unwrap(), b"no variables");
    }

    #[test]
    fn an_unknown_or_unclosed_name_is_a_precise_error() {
        let mut vars = Vars::isolated(&[]);
        let error = vars.expand(b"${nope}").unwrap_err().to_string();
        assert!(error.contains("unknown variable ${nope}"), "{error}");
        let error = vars.expand(b"a ${open").unwrap_err().to_string();
        assert!(error.contains("without a closing"), "{error}");
    }

    #[test]
    fn redacted_captures_and_builtins_are_hidden_given_ones_shown() {
        let mut vars = Vars::new(
            &[("user".into(), "ann".into())],
            &[("channel", "c-123".into()), ("run", "r-9".into())],
        );
        vars.capture("token", "s3cr\r\n".into(), true);
        vars.capture("count", "7".into(), false);
        vars.expand(b"${channel} ${user}").unwrap();
        let names: Vec<String> = vars.redactions().into_iter().map(|r| r.name).collect();
        // `run` was never used; `user` and `count` are shown.
        assert_eq!(names, ["token", "channel"]);
        assert_eq!(vars.redactions()[0].pattern.as_str(), r"\bs3cr\\r\\n\b");
        assert_eq!(vars.redactions()[1].pattern.as_str(), r"\bc\-123\b");
    }

    #[test]
    fn a_huge_expansion_is_refused() {
        let big = "x".repeat(MAX_EXPANDED / 2 + 1);
        let mut vars = Vars::isolated(&[("big".into(), big)]);
        assert!(vars.expand(b"${big}${big}").is_err());
    }
}
