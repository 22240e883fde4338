//! Where things stand in the spec text. serde_yaml gives positions for its own errors but not for
//! values it read successfully, so the line and column of each step (and of a field inside it) are
//! found by scanning the source: the `- ` items of the block sequence under the top-level `steps:`.
//!
//! Fallback: when `steps:` is written in flow style (`steps: [ {open: a}, ... ]`) or the scan does
//! not find one item per step, every step without a found position gets the position of the
//! `steps:` key itself (or 1:1 when even that is missing), and messages still name the step by its
//! number.

/// A 1-based position in the source, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Position {
    pub line: usize,
    pub column: usize,
}

/// Lines `first..end` (1-based, `end` exclusive) hold one step; `key` is where its key starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub key: Position,
    pub first: usize,
    pub end: usize,
}

/// The positions found in one spec's text.
#[derive(Debug)]
pub(super) struct Layout<'a> {
    lines: Vec<&'a str>,
    steps_key: Option<Position>,
    steps: Vec<Span>,
}

fn indent(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Is `line` the top-level key `key:` (followed by nothing, a comment, or a value)?
fn top_level_key<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(key)?.trim_start_matches(' ');
    rest.strip_prefix(':')
}

impl<'a> Layout<'a> {
    /// Scans `source` once.
    pub fn new(source: &'a str) -> Self {
        let lines: Vec<&str> = source.lines().collect();
        let mut layout = Layout {
            lines,
            steps_key: None,
            steps: Vec::new(),
        };
        layout.scan_steps();
        layout
    }

    fn scan_steps(&mut self) {
        let Some(at) = self
            .lines
            .iter()
            .position(|line| top_level_key(line, "steps").is_some())
        else {
            return;
        };
        self.steps_key = Some(Position {
            line: at + 1,
            column: 1,
        });
        let rest = top_level_key(self.lines[at], "steps").unwrap_or("").trim();
        if !(rest.is_empty() || rest.starts_with('#')) {
            return; // flow style: see the module docs
        }
        let mut item_indent = None;
        let mut index = at + 1;
        while index < self.lines.len() {
            let line = self.lines[index];
            if is_blank(line) {
                index += 1;
                continue;
            }
            let width = indent(line);
            let starts_item = line[width..].starts_with('-')
                && line[width + 1..].chars().next().is_none_or(|c| c == ' ');
            match item_indent {
                None if starts_item => item_indent = Some(width),
                Some(expected) if width == expected && starts_item => {}
                Some(expected) if width > expected => {
                    index += 1;
                    continue;
                }
                _ => break,
            }
            if let Some(last) = self.steps.last_mut() {
                last.end = index + 1;
            }
            let after_dash = &line[width + 1..];
            let key = if after_dash.trim().is_empty() {
                // `-` alone: the key is on the next non-blank line.
                self.lines[index + 1..]
                    .iter()
                    .enumerate()
                    .find(|(_, l)| !is_blank(l))
                    .map(|(k, l)| Position {
                        line: index + 2 + k,
                        column: indent(l) + 1,
                    })
            } else {
                let column = line.chars().count() - after_dash.trim_start().chars().count();
                Some(Position {
                    line: index + 1,
                    column: column + 1,
                })
            };
            let key = key.unwrap_or(Position {
                line: index + 1,
                column: width + 1,
            });
            self.steps.push(Span {
                key,
                first: index + 1,
                end: self.lines.len() + 1,
            });
            index += 1;
        }
        if let Some(last) = self.steps.last_mut() {
            last.end = last.end.min(index + 1);
        }
    }

    /// Where step `index` (0-based) starts; see the module docs for the fallback.
    pub fn step(&self, index: usize) -> Position {
        self.steps
            .get(index)
            .map(|span| span.key)
            .or(self.steps_key)
            .unwrap_or(Position { line: 1, column: 1 })
    }

    /// Where the value of `field:` stands inside step `index` (the first `field:` in its lines,
    /// flow or block style); the step's own position when it cannot be found.
    pub fn field(&self, index: usize, field: &str) -> Position {
        self.steps
            .get(index)
            .and_then(|span| self.find_field(span.first, span.end, field))
            .unwrap_or_else(|| self.step(index))
    }

    /// Where `needle` first appears at or after the value of `field:` in step `index`; else as
    /// [`Layout::field`].
    pub fn text_in_field(&self, index: usize, field: &str, needle: &str) -> Position {
        let start = self.field(index, field);
        let end = self
            .steps
            .get(index)
            .map_or(start.line + 1, |span| span.end);
        for line in start.line..end {
            let Some(text) = self.lines.get(line - 1) else {
                break;
            };
            let skip = if line == start.line {
                start.column - 1
            } else {
                0
            };
            let byte_skip = text.char_indices().nth(skip).map_or(text.len(), |(b, _)| b);
            if let Some(found) = text[byte_skip..].find(needle) {
                let column = text[..byte_skip + found].chars().count() + 1;
                return Position { line, column };
            }
        }
        start
    }

    /// Where the value of the `nth` (0-based) `field:` after the top-level `key:` stands (for
    /// `redact:` items, which are not steps).
    pub fn nth_field_after(&self, key: &str, nth: usize, field: &str) -> Option<Position> {
        let at = self
            .lines
            .iter()
            .position(|line| top_level_key(line, key).is_some())?;
        let mut seen = 0;
        for line in at + 1..=self.lines.len() {
            if let Some(position) = self.find_field(line, line + 1, field) {
                if seen == nth {
                    return Some(position);
                }
                seen += 1;
            }
        }
        None
    }

    /// The first `field:` key on lines `first..end` preceded by a start of line, space, `{`, `,`
    /// or `- `: the column of its value when the value is on the same line, else of the key.
    fn find_field(&self, first: usize, end: usize, field: &str) -> Option<Position> {
        for line in first..end {
            let text = self.lines.get(line - 1)?;
            let mut from = 0;
            while let Some(found) = text[from..].find(field) {
                let start = from + found;
                from = start + field.len();
                let before_ok = text[..start]
                    .chars()
                    .last()
                    .is_none_or(|c| matches!(c, ' ' | '{' | ',' | '-' | '\t'));
                let after = text[from..].trim_start_matches(' ');
                if !before_ok || !after.starts_with(':') {
                    continue;
                }
                let value = after[1..].trim_start_matches(' ');
                let byte = if value.is_empty() || value.starts_with('#') {
                    start
                } else {
                    text.len() - value.len()
                };
                return Some(Position {
                    line,
                    column: text[..byte].chars().count() + 1,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "\
description: x
steps:
  - open: sse   # a comment
  # between
  - send:
      to: sse
      http: |
        GET / HTTP/1.1
  -
    read: { from: sse, until: head }
redact: []
";

    #[test]
    fn steps_are_found_under_the_steps_key() {
        let layout = Layout::new(SOURCE);
        assert_eq!(layout.step(0), Position { line: 3, column: 5 });
        assert_eq!(layout.step(1), Position { line: 5, column: 5 });
        assert_eq!(
            layout.step(2),
            Position {
                line: 10,
                column: 5
            }
        );
        assert_eq!(
            layout.field(1, "to"),
            Position {
                line: 6,
                column: 11
            }
        );
        assert_eq!(
            layout.field(2, "from"),
            Position {
                line: 10,
                column: 19
            }
        );
        assert_eq!(
            layout.text_in_field(1, "http", "HTTP"),
            Position {
                line: 8,
                column: 15
            }
        );
    }

    #[test]
    fn flow_style_steps_fall_back_to_the_steps_key() {
        let layout = Layout::new("description: x\nsteps: [ { close: a } ]\n");
        assert_eq!(layout.step(0), Position { line: 2, column: 1 });
        assert_eq!(layout.field(0, "close"), Position { line: 2, column: 1 });
    }

    #[test]
    fn items_at_the_keys_indent_are_steps_too() {
        let layout = Layout::new("steps:\n- open: a\n- close: a\ndescription: x\n");
        assert_eq!(layout.step(1), Position { line: 3, column: 3 });
    }
}
