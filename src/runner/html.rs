//! `--report html=DIR`: a static site of a run, readable from `file://` with no network.
//!
//! `DIR/index.html` lists every spec with its result and time; `DIR/specs/NNN-NAME.html` shows one
//! spec's transcript as a sequence diagram, one lane per connection (and one for the hub: publishes
//! and ticks), built by parsing the transcript's lines ([`timeline`]) rather than re-running
//! anything. Decoded SSE events, WebSocket frames and HTTP chunks are cards; the escaped wire bytes
//! behind each card sit in a `<details>` one click away. A failing spec shows its snapshot diff,
//! and the events whose lines the snapshot does not hold are marked.
//!
//! Everything from a spec (names, bytes, notes, messages) is hostile input: it goes through
//! [`escape_html`] and nowhere else. No page holds a script.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::report::{Case, Verdict};
use super::snapshot;

/// The style sheet every page links to (`DIR/report.css`).
const STYLE: &str = include_str!("html/report.css");

/// The longest spec name kept in a page's file name (the rest is cut).
const MAX_SLUG: usize = 80;

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    /// A file or folder could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// Writes the report of `cases` into `dir`. `transcripts` holds the recorded transcript (as
/// [`super::Transcript`]'s `Display` writes it) of every spec that ran, by spec path.
pub fn write(
    dir: &Path,
    cases: &[Case],
    transcripts: &HashMap<String, String>,
) -> Result<(), HtmlError> {
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs).map_err(|source| HtmlError::Write {
        path: specs.clone(),
        source,
    })?;
    let files: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(index, case)| page_name(index, &case.name))
        .collect();
    let mut out = vec![
        (dir.join("report.css"), STYLE.to_owned()),
        (dir.join("index.html"), index(cases, &files)),
    ];
    for (case, file) in cases.iter().zip(&files) {
        let transcript = transcripts.get(&case.name).map(String::as_str);
        let changed = match (&case.verdict, transcript) {
            (Verdict::Failed { .. }, Some(text)) => changed_lines(&case.name, text),
            _ => BTreeSet::new(),
        };
        out.push((specs.join(file), spec_page(case, transcript, &changed)));
    }
    for (path, text) in out {
        std::fs::write(&path, text).map_err(|source| HtmlError::Write { path, source })?;
    }
    Ok(())
}

/// `007-hostile_sse_data.yaml.html`: the case's index keeps names unique and in run order.
fn page_name(index: usize, name: &str) -> String {
    let mut slug: String = name
        .trim_start_matches("specs/")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_SLUG)
        .collect();
    if slug.is_empty() {
        slug.push('_');
    }
    format!("{index:03}-{slug}.html")
}

/// HTML text and attribute escaping (HTML §13.1.2.6: `&`, `<`, `>`, `"`, `'`); C0 controls other
/// than tab and LF, which HTML forbids in text, become U+FFFD.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `(class, label)` of a verdict.
fn badge(verdict: &Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Passed => ("passed", "passed"),
        Verdict::Failed { .. } => ("failed", "failed"),
        Verdict::Unreadable { .. } => ("unreadable", "unreadable"),
        Verdict::Skipped { .. } => ("skipped", "skipped"),
    }
}

fn head(title: &str, css: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"{css}\"></head>\n<body>\n",
        escape_html(title)
    )
}

fn index(cases: &[Case], files: &[String]) -> String {
    let mut html = head("longconn run: report", "report.css");
    let count = |class: &str| {
        cases
            .iter()
            .filter(|c| badge(&c.verdict).0 == class)
            .count()
    };
    let total: f64 = cases.iter().map(|c| c.time.as_secs_f64()).sum();
    let _ = writeln!(
        html,
        "<header><h1>longconn run</h1><p class=\"summary\">\
         <span class=\"badge passed\">{} passed</span> <span class=\"badge failed\">{} failed</span> \
         <span class=\"badge unreadable\">{} unreadable</span> \
         <span class=\"badge skipped\">{} skipped</span> \
         <span class=\"time\">{} specs, {:.2} s of replay</span></p></header>",
        count("passed"),
        count("failed"),
        count("unreadable"),
        count("skipped"),
        cases.len(),
        total
    );
    html.push_str(
        "<table id=\"specs\"><thead><tr><th>spec</th><th>result</th><th>time</th><th>detail</th>\
         </tr></thead><tbody>\n",
    );
    for (case, file) in cases.iter().zip(files) {
        let (class, label) = badge(&case.verdict);
        let detail = match &case.verdict {
            Verdict::Passed => String::new(),
            Verdict::Failed { message, .. } => message.clone(),
            Verdict::Unreadable { message } => message.lines().next().unwrap_or("").to_owned(),
            Verdict::Skipped { reason } => reason.clone(),
        };
        let _ = writeln!(
            html,
            "<tr class=\"{class}\"><td><a href=\"specs/{}\">{}</a></td>\
             <td><span class=\"badge {class}\">{label}</span></td>\
             <td class=\"time\">{:.1} ms</td><td class=\"detail\">{}</td></tr>",
            escape_html(file),
            escape_html(&case.name),
            case.time.as_secs_f64() * 1000.0,
            escape_html(&detail)
        );
    }
    html.push_str("</tbody></table>\n</body></html>\n");
    html
}

fn spec_page(case: &Case, transcript: Option<&str>, changed: &BTreeSet<usize>) -> String {
    let mut html = head(&case.name, "../report.css");
    let (class, label) = badge(&case.verdict);
    let _ = writeln!(
        html,
        "<header><p><a href=\"../index.html\">all specs</a></p><h1>{}</h1>\
         <p class=\"summary\"><span class=\"badge {class}\" id=\"verdict\">{label}</span> \
         <span class=\"time\">{:.1} ms</span></p></header>",
        escape_html(&case.name),
        case.time.as_secs_f64() * 1000.0
    );
    match &case.verdict {
        Verdict::Passed => {}
        Verdict::Failed { message, detail } => {
            let _ = writeln!(
                html,
                "<section class=\"failure\"><h2>Why it failed</h2><p class=\"message\">{}</p>",
                escape_html(message)
            );
            if is_diff(detail) {
                html.push_str(
                    "<h3>Snapshot diff (<span class=\"del\">- snapshot</span>, \
                     <span class=\"add\">+ this run</span>)</h3>\n",
                );
                html.push_str(&diff_block(detail));
            }
            html.push_str("</section>\n");
        }
        Verdict::Unreadable { message } => {
            let _ = writeln!(
                html,
                "<section class=\"failure\"><h2>The spec could not be read</h2>\
                 <pre class=\"message\">{}</pre></section>",
                escape_html(message)
            );
        }
        Verdict::Skipped { reason } => {
            let _ = writeln!(
                html,
                "<section class=\"skipped\"><p>Not run: {}</p></section>",
                escape_html(reason)
            );
        }
    }
    if let Some(text) = transcript {
        html.push_str(&timeline_html(&timeline(text), changed));
        let _ = writeln!(
            html,
            "<details class=\"transcript\"><summary>the whole transcript</summary><pre>{}</pre></details>",
            escape_html(text)
        );
    }
    html.push_str("</body></html>\n");
    html
}

/// Whether `detail` is a diff from [`snapshot::diff`] (rather than a transcript).
fn is_diff(detail: &str) -> bool {
    detail.starts_with("@@ ")
}

/// A diff with each line classed by its sign.
fn diff_block(diff: &str) -> String {
    let mut html = String::from("<pre class=\"diff\" id=\"diff\">");
    for line in diff.lines() {
        let class = match line.chars().next() {
            Some('+') => "add",
            Some('-') => "del",
            Some('@') => "hunk",
            _ => "same",
        };
        // Block spans with no line feed between them: each span is one line of the diff.
        let _ = write!(html, "<span class=\"{class}\">{}</span>", escape_html(line));
    }
    html.push_str("</pre>\n");
    html
}

/// Indexes of the transcript's lines that the spec's snapshot does not hold (by insta's
/// normalisation); empty when there is no snapshot to compare with.
fn changed_lines(spec: &str, transcript: &str) -> BTreeSet<usize> {
    let location = snapshot::locate(Path::new(spec));
    let Ok(Some(old)) = snapshot::read(&location.path) else {
        return BTreeSet::new();
    };
    let old = snapshot::normalize(&old);
    let new = snapshot::normalize(transcript);
    let diff = similar::TextDiff::from_lines(&old, &new);
    diff.iter_all_changes()
        .filter(|change| change.tag() == similar::ChangeTag::Insert)
        .filter_map(|change| change.new_index())
        .collect()
}

/// Which way bytes went on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `> ` lines: the client sent them.
    Sent,
    /// `< ` lines: the client received them.
    Received,
}

/// One decoded unit the runner noted after bytes: an HTTP chunk, an SSE event, a WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// `chunk`, `sse` or `ws`.
    pub kind: &'static str,
    /// The runner's note, as written in the transcript.
    pub text: String,
}

/// One thing on a lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `* step N (line L): ...`, across every lane.
    Step {
        /// The note's text after `* `.
        text: String,
    },
    /// Bytes sent or received in a row, with what the runner decoded from them.
    Bytes {
        /// The lane.
        lane: usize,
        /// Sent or received.
        direction: Direction,
        /// The escaped wire lines, as in the transcript.
        raw: Vec<String>,
        /// Decoded units, in order.
        cards: Vec<Card>,
        /// Transcript line indexes this event shows.
        lines: Vec<usize>,
    },
    /// Any other note (an expectation, a publish, a tick, `peer closed`), on its lane.
    Note {
        /// The lane.
        lane: usize,
        /// The note's text.
        text: String,
        /// The transcript line index.
        line: usize,
    },
}

/// A transcript laid out in lanes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Lane names: connections in order of first use; `hub` for publishes and ticks.
    pub lanes: Vec<String>,
    /// Events in transcript order.
    pub events: Vec<Event>,
}

/// The lane a publish or a tick goes to.
const HUB_LANE: &str = "hub";

/// The lane a step works on, from its description (see `replay::describe`): the connection for
/// `open`, `close`, `send to`, `read from`, `handshake on`, `frame to`, `expect on`; the hub for
/// `publish` and `tick`.
fn step_lane(description: &str) -> Option<&str> {
    let mut words = description.split(' ');
    let first = words.next()?;
    let name = match first {
        "open" | "close" => words.next(),
        "send" | "read" | "handshake" | "frame" | "expect" | "request" => {
            words.next()?;
            words.next()
        }
        // `capture NAME on CONNECTION`
        "capture" => {
            words.next()?;
            words.next()?;
            words.next()
        }
        "publish" | "tick" => Some(HUB_LANE),
        _ => None,
    }?;
    (!name.is_empty()).then_some(name)
}

/// The kind of card a note decodes, if it is one (see `read.rs` and `frame.rs`).
fn card_kind(note: &str) -> Option<&'static str> {
    if note.starts_with("chunk ") {
        Some("chunk")
    } else if note.starts_with("sse ") {
        Some("sse")
    } else if note.starts_with("ws fin=") {
        Some("ws")
    } else {
        None
    }
}

/// Parses a transcript (`> `, `< `, `* ` lines) into lanes. Lines before any step, or of a step
/// with no connection, go to a lane named `-`; a line with no known marker is a note.
pub fn timeline(transcript: &str) -> Timeline {
    let mut timeline = Timeline::default();
    let mut current: Option<usize> = None;
    for (index, line) in transcript.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("* ") {
            if let Some(description) = step_description(rest) {
                current = step_lane(description).map(|name| lane_of(&mut timeline, name));
                timeline.events.push(Event::Step {
                    text: rest.to_owned(),
                });
                continue;
            }
            let lane = match (
                rest.starts_with("publish ") || rest.starts_with("tick "),
                current,
            ) {
                (true, _) => lane_of(&mut timeline, HUB_LANE),
                (false, Some(lane)) => lane,
                (false, None) => lane_of(&mut timeline, "-"),
            };
            if let Some(kind) = card_kind(rest) {
                if let Some(Event::Bytes {
                    lane: last,
                    cards,
                    lines,
                    ..
                }) = timeline.events.last_mut()
                {
                    if *last == lane {
                        cards.push(Card {
                            kind,
                            text: rest.to_owned(),
                        });
                        lines.push(index);
                        continue;
                    }
                }
            }
            timeline.events.push(Event::Note {
                lane,
                text: rest.to_owned(),
                line: index,
            });
            continue;
        }
        let (direction, text) = if let Some(text) = line.strip_prefix("> ") {
            (Direction::Sent, text)
        } else if let Some(text) = line.strip_prefix("< ") {
            (Direction::Received, text)
        } else {
            let lane = current.unwrap_or_else(|| lane_of(&mut timeline, "-"));
            timeline.events.push(Event::Note {
                lane,
                text: line.to_owned(),
                line: index,
            });
            continue;
        };
        let lane = current.unwrap_or_else(|| lane_of(&mut timeline, "-"));
        // Bytes after a decoded card start a new event, so each card keeps its own bytes.
        match timeline.events.last_mut() {
            Some(Event::Bytes {
                lane: last,
                direction: was,
                raw,
                cards,
                lines,
            }) if *last == lane && *was == direction && cards.is_empty() => {
                raw.push(text.to_owned());
                lines.push(index);
            }
            _ => timeline.events.push(Event::Bytes {
                lane,
                direction,
                raw: vec![text.to_owned()],
                cards: Vec::new(),
                lines: vec![index],
            }),
        }
    }
    timeline
}

/// The index of the lane `name`, added on first use.
fn lane_of(timeline: &mut Timeline, name: &str) -> usize {
    match timeline.lanes.iter().position(|l| l == name) {
        Some(at) => at,
        None => {
            timeline.lanes.push(name.to_owned());
            timeline.lanes.len() - 1
        }
    }
}

/// `step 3 (line 11): read from page until head` → `read from page until head`.
fn step_description(note: &str) -> Option<&str> {
    let rest = note.strip_prefix("step ")?;
    let (number, rest) = rest.split_once(' ')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix("(line ")?;
    let (_, description) = rest.split_once("): ")?;
    Some(description)
}

/// The first raw line without its escaped line end: the title of a card-less event.
fn first_line(raw: &[String]) -> String {
    let first = raw.first().map(String::as_str).unwrap_or("");
    first
        .trim_end_matches("\\n")
        .trim_end_matches("\\r")
        .to_owned()
}

fn timeline_html(timeline: &Timeline, changed: &BTreeSet<usize>) -> String {
    let lanes = timeline.lanes.len().max(1);
    let mut html = format!(
        "<section class=\"timeline\"><h2>Timeline</h2>\
         <div class=\"lanes\" id=\"timeline\" style=\"--lanes: {lanes}\">\n"
    );
    for (at, name) in timeline.lanes.iter().enumerate() {
        let _ = writeln!(
            html,
            "<div class=\"lane-head\" style=\"grid-column: {}\">{}</div>",
            at + 1,
            escape_html(name)
        );
    }
    for event in &timeline.events {
        match event {
            Event::Step { text } => {
                let _ = writeln!(html, "<div class=\"step\">{}</div>", escape_html(text));
            }
            Event::Note { lane, text, line } => {
                let kind = if text.starts_with("expect ok") {
                    "expect ok"
                } else if text.starts_with("expect") {
                    "expect failed"
                } else if text.starts_with("publish ") {
                    "publish"
                } else {
                    "note"
                };
                let differs = if changed.contains(line) {
                    " differs"
                } else {
                    ""
                };
                let _ = writeln!(
                    html,
                    "<div class=\"event {kind}{differs}\" style=\"grid-column: {}\">{}</div>",
                    lane + 1,
                    escape_html(text)
                );
            }
            Event::Bytes {
                lane,
                direction,
                raw,
                cards,
                lines,
            } => {
                let (class, arrow) = match direction {
                    Direction::Sent => ("sent", "→ sent"),
                    Direction::Received => ("received", "← received"),
                };
                let differs = if lines.iter().any(|line| changed.contains(line)) {
                    " differs"
                } else {
                    ""
                };
                let bytes: usize = raw.iter().map(String::len).sum();
                let _ = writeln!(
                    html,
                    "<div class=\"event {class}{differs}\" style=\"grid-column: {}\">\
                     <div class=\"arrow\">{arrow}</div>",
                    lane + 1
                );
                if cards.is_empty() {
                    let _ = writeln!(
                        html,
                        "<div class=\"title\">{}</div>",
                        escape_html(&first_line(raw))
                    );
                }
                for card in cards {
                    let _ = writeln!(
                        html,
                        "<div class=\"card {}\"><span class=\"kind\">{}</span> {}</div>",
                        card.kind,
                        card.kind,
                        escape_html(
                            card.text
                                .strip_prefix(card.kind)
                                .unwrap_or(&card.text)
                                .trim_start()
                        )
                    );
                }
                let _ = writeln!(
                    html,
                    "<details class=\"raw\"><summary>raw bytes ({} line{}, {bytes} escaped chars)</summary><pre>{}</pre></details></div>",
                    raw.len(),
                    if raw.len() == 1 { "" } else { "s" },
                    escape_html(&raw.join("\n"))
                );
            }
        }
    }
    html.push_str("</div></section>\n");
    html
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SSE: &str = "* step 1 (line 4): open sse\n\
        * step 2 (line 5): send to sse\n\
        > GET /sseStream HTTP/1.1\\r\\n\n\
        > \\r\\n\n\
        * step 3 (line 11): read from sse until 1 sse_events\n\
        < 25\\r\\n\n\
        < id: 1\\n\n\
        < data: <b>\\n\n\
        < \\n\n\
        < \\r\\n\n\
        * chunk 37 bytes\n\
        * sse id=1 event=message data=\"<b>\"\n\
        * step 4 (line 12): publish to default\n\
        * publish channel=default data=\"x\" -> 200 \"{\"id\":2}\"\n\
        * step 5 (line 13): frame to ws\n\
        > \\x81\\x01x\n\
        * ws fin=1 opcode=text mask=none len=1 \"x\"\n";

    #[test]
    fn transcript_lines_fall_into_connection_lanes() {
        let timeline = timeline(SSE);
        assert_eq!(timeline.lanes, ["sse", "hub", "ws"]);
        let bytes: Vec<&Event> = timeline
            .events
            .iter()
            .filter(|e| matches!(e, Event::Bytes { .. }))
            .collect();
        assert_eq!(bytes.len(), 3);
        match bytes[1] {
            Event::Bytes {
                lane,
                direction,
                raw,
                cards,
                lines,
            } => {
                assert_eq!((*lane, *direction), (0, Direction::Received));
                assert_eq!(raw.len(), 5);
                assert_eq!(
                    cards.iter().map(|c| c.kind).collect::<Vec<_>>(),
                    ["chunk", "sse"]
                );
                assert_eq!(lines, &[5, 6, 7, 8, 9, 10, 11]);
            }
            other => panic!("{other:?}"),
        }
        assert!(timeline.events.iter().any(|e| matches!(
            e,
            Event::Note { lane: 1, text, .. } if text.starts_with("publish channel=default")
        )));
        assert!(matches!(
            bytes[2],
            Event::Bytes { lane: 2, direction: Direction::Sent, cards, .. } if cards[0].kind == "ws"
        ));
    }

    #[test]
    fn every_snapshot_line_lands_in_one_event() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("snapshots/") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|ext| ext != "snap") {
                continue;
            }
            let text = snapshot::read(&path).expect("read").expect("exists");
            let timeline = timeline(&text);
            let shown: usize = timeline
                .events
                .iter()
                .map(|event| match event {
                    Event::Step { .. } | Event::Note { .. } => 1,
                    Event::Bytes { lines, .. } => lines.len(),
                })
                .sum();
            assert_eq!(shown, text.lines().count(), "{}", path.display());
            assert!(
                !timeline.lanes.iter().any(|l| l == "-"),
                "{}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked > 50, "only {checked} snapshots");
    }

    #[test]
    fn step_descriptions_name_their_lane() {
        assert_eq!(step_lane("read from poll until head"), Some("poll"));
        assert_eq!(step_lane("request on api POST /publish"), Some("api"));
        assert_eq!(step_lane("capture token on api"), Some("api"));
        assert_eq!(step_lane("handshake on ws GET /ws"), Some("ws"));
        assert_eq!(step_lane("open a on other"), Some("a"));
        assert_eq!(step_lane("tick 1s"), Some("hub"));
        assert_eq!(step_lane("dance"), None);
        assert_eq!(
            step_description("step 12 (line 3): close x"),
            Some("close x")
        );
        assert_eq!(step_description("step x (line 3): close x"), None);
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let name = "specs/<script>alert(1)</script>.yaml";
        let case = Case {
            name: name.into(),
            time: Duration::from_millis(5),
            verdict: Verdict::Failed {
                message: "it's <b>bad</b>".into(),
                detail: "@@ -1,1 +1,1 @@\n-< <img src=x onerror=alert(1)>\n+< \"&\"\n".into(),
            },
        };
        let transcript = "* step 1 (line 1): open <x>\n< <script>x</script>\\n\n* note \u{7}\"'\n";
        let page = spec_page(&case, Some(transcript), &BTreeSet::new());
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(
            page.contains("<span class=\"del\">-&lt; &lt;img src=x onerror=alert(1)&gt;</span>")
        );
        assert!(page.contains("it&#39;s"));
        assert!(page.contains('\u{fffd}'));
        let list = index(std::slice::from_ref(&case), &[page_name(0, name)]);
        assert!(!list.contains("<script"), "{list}");
        assert_eq!(
            page_name(0, name),
            "000-_script_alert_1___script_.yaml.html"
        );
    }

    #[test]
    fn changed_lines_mark_their_events() {
        let timeline = timeline(SSE);
        let changed: BTreeSet<usize> = [7].into();
        let html = timeline_html(&timeline, &changed);
        assert_eq!(html.matches(" differs").count(), 1, "{html}");
        assert!(html.contains("<div class=\"event received differs\""));
    }

    #[test]
    fn writes_an_index_and_a_page_per_spec() {
        let dir = std::env::temp_dir().join(format!("longconn-html-{}", std::process::id()));
        let cases = vec![
            Case {
                name: "specs/a.yaml".into(),
                time: Duration::from_millis(12),
                verdict: Verdict::Passed,
            },
            Case {
                name: "specs/seed/b.yaml".into(),
                time: Duration::ZERO,
                verdict: Verdict::Skipped {
                    reason: "needs --target".into(),
                },
            },
        ];
        let transcripts: HashMap<String, String> = [("specs/a.yaml".into(), SSE.into())].into();
        write(&dir, &cases, &transcripts).expect("write the report");
        let index = std::fs::read_to_string(dir.join("index.html")).expect("index");
        assert!(index.contains("href=\"specs/000-a.yaml.html\""));
        assert!(index.contains("href=\"specs/001-seed_b.yaml.html\""));
        let page = std::fs::read_to_string(dir.join("specs/000-a.yaml.html")).expect("page");
        assert!(page.contains("<div class=\"lane-head\" style=\"grid-column: 3\">ws</div>"));
        assert!(dir.join("report.css").is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
