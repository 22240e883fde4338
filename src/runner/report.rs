//! `--report junit=FILE`: one `<testcase>` per spec, in JUnit XML as CI systems read it.

use std::fmt::Write;
use std::time::Duration;

/// How one spec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The transcript matches the snapshot (or was accepted).
    Passed,
    /// The transcript differs, an expectation failed, or a step failed.
    Failed {
        /// One line.
        message: String,
        /// The diff or the error in full.
        detail: String,
    },
    /// The spec could not be read.
    Unreadable {
        /// The positioned error.
        message: String,
    },
    /// Not run (needs `--target`).
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One spec's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The spec's path.
    pub name: String,
    /// How long the replay took.
    pub time: Duration,
    /// How it ended.
    pub verdict: Verdict,
}

/// The JUnit XML document for `cases`.
pub fn junit(cases: &[Case]) -> String {
    let count = |wanted: fn(&Verdict) -> bool| cases.iter().filter(|c| wanted(&c.verdict)).count();
    let failures = count(|v| matches!(v, Verdict::Failed { .. }));
    let errors = count(|v| matches!(v, Verdict::Unreadable { .. }));
    let skipped = count(|v| matches!(v, Verdict::Skipped { .. }));
    let total: f64 = cases.iter().map(|c| c.time.as_secs_f64()).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // Writing to a String cannot fail.
    let _ = writeln!(
        xml,
        "<testsuites>\n  <testsuite name=\"longconn specs\" tests=\"{}\" failures=\"{failures}\" \
         errors=\"{errors}\" skipped=\"{skipped}\" time=\"{total:.3}\">",
        cases.len()
    );
    for case in cases {
        let _ = write!(
            xml,
            "    <testcase classname=\"specs\" name=\"{}\" time=\"{:.3}\"",
            escape_xml(&case.name),
            case.time.as_secs_f64()
        );
        match &case.verdict {
            Verdict::Passed => xml.push_str("/>\n"),
            Verdict::Failed { message, detail } => {
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape_xml(message),
                    escape_xml(detail)
                );
            }
            Verdict::Unreadable { message } => {
                let _ = writeln!(
                    xml,
                    ">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                    escape_xml(message.lines().next().unwrap_or("")),
                    escape_xml(message)
                );
            }
            Verdict::Skipped { reason } => {
                let _ = writeln!(
                    xml,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape_xml(reason)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// XML text and attribute escaping; control characters XML 1.0 cannot hold become `?`.
fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_and_escapes() {
        let cases = vec![
            Case {
                name: "specs/a.yaml".into(),
                time: Duration::from_millis(12),
                verdict: Verdict::Passed,
            },
            Case {
                name: "specs/b.yaml".into(),
                time: Duration::from_millis(3),
                verdict: Verdict::Failed {
                    message: "transcript differs".into(),
                    detail: "-<a>\n+<b>".into(),
                },
            },
        ];
        let xml = junit(&cases);
        assert!(xml.contains("tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\""));
        assert!(
            xml.contains("<testcase classname=\"specs\" name=\"specs/a.yaml\" time=\"0.012\"/>")
        );
        assert!(xml.contains("-&lt;a&gt;\n+&lt;b&gt;</failure>"));
    }
}
