//! Snapshots in insta's file format, exactly as insta 1.49 writes them for `insta::glob!` +
//! `assert_snapshot!(transcript)` in `tests/specs.rs`, so `longconn run` and `cargo test` read and
//! write the same files and `cargo insta review` works on what either produced:
//!
//! - name: `snapshots/specs@<path under specs/ with / as __>.snap` (the test function `specs`,
//!   the glob's suffix, `prepend_module_to_snapshot(false)`);
//! - header: `source: tests/specs.rs`, `expression: transcript`, `input_file: specs/<path>`;
//! - comparison: contents with trailing whitespace trimmed and CRLF as LF (insta's rules);
//! - a new or changed transcript not accepted is written beside it as `.snap.new`.

use std::path::{Component, Path, PathBuf};

/// `source:` of every snapshot: the test file that asserts them.
pub const SOURCE: &str = "tests/specs.rs";

/// `expression:` of every snapshot: what `tests/specs.rs` passes to `assert_snapshot!`.
pub const EXPRESSION: &str = "transcript";

/// Where a spec's snapshot lives and what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The `.snap` file.
    pub path: PathBuf,
    /// `input_file:` — the spec's path from the project root (`specs/sse_resume.yaml`).
    pub input_file: String,
}

impl Location {
    /// The pending file insta's review picks up: `<name>.snap.new`.
    pub fn pending(&self) -> PathBuf {
        self.path.with_extension("snap.new")
    }
}

/// The snapshot of the spec at `spec_path`. A spec under a folder named `specs` maps to
/// `<that folder's parent>/snapshots/specs@<path below specs, / as __>.snap`; any other spec to a
/// `snapshots/` folder beside it.
pub fn locate(spec_path: &Path) -> Location {
    let components: Vec<Component<'_>> = spec_path.components().collect();
    let specs_at = components
        .iter()
        .rposition(|component| component.as_os_str() == "specs")
        .filter(|&at| at + 1 < components.len());
    let (root, relative): (PathBuf, Vec<String>) = match specs_at {
        Some(at) => (
            components[..at].iter().collect(),
            components[at + 1..]
                .iter()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect(),
        ),
        None => (
            spec_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            vec![spec_path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()],
        ),
    };
    let name = format!("specs@{}.snap", relative.join("__"));
    let input_file = match specs_at {
        Some(_) => format!("specs/{}", relative.join("/")),
        None => spec_path.to_string_lossy().replace('\\', "/"),
    };
    Location {
        path: root.join("snapshots").join(name),
        input_file,
    }
}

/// insta's normalisation before comparing: trailing whitespace trimmed, CRLF as LF.
pub fn normalize(contents: &str) -> String {
    contents.trim_end().replace("\r\n", "\n")
}

/// Whether `old` (a snapshot's contents) and `new` (a transcript) match by insta's rules.
pub fn matches(old: &str, new: &str) -> bool {
    normalize(old) == normalize(new)
}

/// The snapshot file's text for `contents`, byte for byte what insta writes.
pub fn render(location: &Location, contents: &str) -> String {
    let mut text = String::from("---\n");
    for (key, value) in [
        ("source", SOURCE),
        ("expression", EXPRESSION),
        ("input_file", location.input_file.as_str()),
    ] {
        text.push_str(key);
        text.push_str(": ");
        text.push_str(&yaml_scalar(value));
        text.push('\n');
    }
    text.push_str("---\n");
    text.push_str(&normalize(contents));
    text.push('\n');
    text
}

/// A snapshot's contents (what follows the header), as insta reads them; `None` when the file
/// does not exist.
pub fn read(path: &Path) -> std::io::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    Ok(Some(contents_of(&text)))
}

/// The part of a snapshot file after its `---` header, lines joined by LF.
fn contents_of(text: &str) -> String {
    let mut lines = text.lines();
    let mut body: Vec<&str> = Vec::new();
    match lines.next() {
        Some(first) if first.trim_end() == "---" => {
            for line in lines.by_ref() {
                if line.trim_end() == "---" {
                    break;
                }
            }
        }
        // Legacy format: header lines up to the first blank line.
        Some(first) if !first.trim_end().is_empty() => {
            for line in lines.by_ref() {
                if line.trim_end().is_empty() {
                    break;
                }
            }
        }
        Some(first) => body.push(first),
        None => {}
    }
    body.extend(lines);
    body.join("\n")
}

/// Writes `contents` as the snapshot at `path` (creating the folder).
pub fn write(path: &Path, location: &Location, contents: &str) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(path, render(location, contents))
}

/// A readable line diff from `old` to `new` (normalised), with three lines of context.
pub fn diff(old: &str, new: &str) -> String {
    let old = normalize(old);
    let new = normalize(new);
    let diff = similar::TextDiff::from_lines(&old, &new);
    let mut out = String::new();
    for group in diff.grouped_ops(3) {
        if let (Some(first), Some(last)) = (group.first(), group.last()) {
            let (old_range, new_range) = (
                first.old_range().start..last.old_range().end,
                first.new_range().start..last.new_range().end,
            );
            out.push_str(&format!(
                "@@ -{},{} +{},{} @@\n",
                old_range.start + 1,
                old_range.len(),
                new_range.start + 1,
                new_range.len()
            ));
        }
        for op in group {
            for change in diff.iter_changes(&op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                out.push(sign);
                out.push_str(change.value().trim_end_matches('\n'));
                out.push('\n');
            }
        }
    }
    out
}

/// A YAML scalar as insta's emitter writes it: plain when it can be, else double-quoted.
fn yaml_scalar(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value.starts_with(' ')
        || value.ends_with(' ')
        || value.starts_with(['&', '*', '?', '|', '-', '<', '>', '=', '!', '%', '@'])
        || value.contains(|c: char| {
            matches!(
                c,
                ':' | '{' | '}' | '[' | ']' | ',' | '#' | '`' | '"' | '\'' | '\\'
                    | '\0'..='\x06' | '\t' | '\n' | '\r' | '\x0e'..='\x1a' | '\x1c'..='\x1f'
            )
        })
        || [
            "yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "true", "False", "FALSE",
            "false", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ]
        .contains(&value)
        || value.starts_with('.')
        || value.starts_with("0x")
        || value.parse::<i64>().is_ok()
        || value.parse::<f64>().is_ok();
    if !needs_quotes {
        return value.to_string();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if c.is_ascii_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_name_follows_the_glob_suffix() {
        let location = locate(Path::new("specs/sse_resume.yaml"));
        assert_eq!(
            location.path,
            Path::new("snapshots/specs@sse_resume.yaml.snap")
        );
        assert_eq!(location.input_file, "specs/sse_resume.yaml");
        let nested = locate(Path::new("/w/specs/seed/seed_ws_echo.yaml"));
        assert_eq!(
            nested.path,
            Path::new("/w/snapshots/specs@seed__seed_ws_echo.yaml.snap")
        );
        assert_eq!(nested.input_file, "specs/seed/seed_ws_echo.yaml");
        assert_eq!(
            nested.pending(),
            Path::new("/w/snapshots/specs@seed__seed_ws_echo.yaml.snap.new")
        );
    }

    #[test]
    fn rendered_file_is_insta_s_format() {
        let location = locate(Path::new("specs/a.yaml"));
        assert_eq!(
            render(&location, "* step 1\n< x\\n\n\n"),
            "---\nsource: tests/specs.rs\nexpression: transcript\ninput_file: specs/a.yaml\n---\n* step 1\n< x\\n\n"
        );
    }

    #[test]
    fn contents_round_trip_through_the_file() {
        let location = locate(Path::new("specs/a.yaml"));
        let file = render(&location, "one\ntwo\n");
        assert_eq!(contents_of(&file), "one\ntwo");
        assert!(matches(&contents_of(&file), "one\r\ntwo\n  "));
        assert!(!matches(&contents_of(&file), "one\ntwo!"));
    }

    #[test]
    fn yaml_scalars_quote_like_insta() {
        assert_eq!(yaml_scalar("tests/specs.rs"), "tests/specs.rs");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("true"), "\"true\"");
    }

    #[test]
    fn diff_marks_changed_lines() {
        let text = diff("a\nb\nc\n", "a\nB\nc\n");
        assert!(text.contains("-b\n+B\n"), "{text}");
    }
}
