//! Values a running upstream derives from its clock, found in the bytes it sent: each shape found
//! becomes a `redact:` entry of the recorded spec. Two replays a moment apart can agree on them
//! by luck (the same second), so they are not left to the stable check to find. Pure: bytes in,
//! `(pattern, name)` out; patterns apply to transcript lines, as every `redact:` does.

use regex::bytes::Regex;

/// A shape of value, where it is looked for, and the redaction written when it is found.
struct Shape {
    /// What finds it in the upstream's bytes; a group 1, when there is one, is the header the
    /// value stands in, and a `Date` header does not count.
    find: &'static str,
    /// The `redact:` pattern (one group: the value).
    pattern: &'static str,
    /// The placeholder's name.
    name: &'static str,
}

const SHAPES: [Shape; 4] = [
    // RFC 9110 §5.6.7: an IMF-fixdate (`Last-Modified`, `Expires`, and `If-Modified-Since`
    // sent back); the `Date` header is redacted by every transcript already.
    Shape {
        find: r"(?im)^([!#$%&'*+.^_`|~0-9a-z-]+): (?:[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT)",
        pattern: r"([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT)",
        name: "http_date",
    },
    // Seconds since 1970 between 2001 and 2065, alone or as `SECONDS:N` (Nchan's message ids,
    // `1796001501:0`).
    Shape {
        find: r"(?:^|[^\w.])[12]\d{9}(?::\d+)?(?:[^\w.]|$)",
        pattern: r"\b([12]\d{9}(?::\d+)?)\b",
        name: "unix_time",
    },
    // An age in seconds (`last requested: 3 sec. ago`).
    Shape {
        find: r"(?i)-?\d+ ?(?:s|secs?|seconds?)\.? ago",
        pattern: r"(?i)(-?\d+) ?(?:s|secs?|seconds?)\.? ago",
        name: "age",
    },
    // RFC 9110 §8.8.3: an entity tag is opaque, and one server's differs from another's (Nchan
    // counts messages within a second); it goes back as `If-None-Match`.
    Shape {
        find: r"(?im)^etag:",
        pattern: r"(?i)^(?:etag|if-none-match): (.*?)(?:\\r\\n)?$",
        name: "etag",
    },
];

/// The `(pattern, name)` redactions for the clock-derived values in `sent` (what the upstream
/// sent on each connection).
pub fn redactions<'a>(sent: impl IntoIterator<Item = &'a [u8]>) -> Vec<(String, String)> {
    let finders: Vec<Regex> = SHAPES
        .iter()
        .map(|shape| Regex::new(shape.find).expect("a valid shape"))
        .collect();
    let mut found = [false; SHAPES.len()];
    for bytes in sent {
        for (index, finder) in finders.iter().enumerate() {
            found[index] |= finder.captures_iter(bytes).any(|caps| {
                caps.get(1)
                    .is_none_or(|header| !header.as_bytes().eq_ignore_ascii_case(b"date"))
            });
        }
    }
    SHAPES
        .iter()
        .zip(found)
        .filter(|(_, found)| *found)
        .map(|(shape, _)| (shape.pattern.to_string(), shape.name.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sent: &[u8]) -> Vec<String> {
        redactions([sent])
            .into_iter()
            .map(|(_, name)| name)
            .collect()
    }

    #[test]
    fn nchan_answers_show_every_shape() {
        let long_poll = b"HTTP/1.1 200 OK\r\nDate: Mon, 30 Nov 2026 08:48:19 GMT\r\nLast-Modified: Mon, 30 Nov 2026 08:48:19 GMT\r\nEtag: 0\r\n\r\nfour";
        assert_eq!(names(long_poll), ["http_date", "etag"]);
        let publish = b"queued messages: 1\nlast requested: 1 sec. ago\nactive subscribers: 1\nlast message id: 1796028499:0";
        assert_eq!(names(publish), ["unix_time", "age"]);
        assert_eq!(names(b"id: 1796028499:0\ndata: one\n\n"), ["unix_time"]);
    }

    #[test]
    fn a_date_header_counters_and_long_numbers_are_not_clock_values() {
        let sent = b"HTTP/1.1 200 OK\r\nDate: Mon, 30 Nov 2026 08:48:19 GMT\r\ncontent-length: 12\r\n\r\n{\"id\":1,\"last\":1234567890123456,\"v\":1.1796028499}";
        assert!(redactions([sent.as_slice()]).is_empty());
    }

    #[test]
    fn the_patterns_hide_the_values_on_transcript_lines() {
        let hide = |pattern: &str, line: &str| {
            let regex = regex::Regex::new(pattern).expect("valid");
            let caps = regex.captures(line).expect("matches");
            caps.get(1).expect("group").as_str().to_string()
        };
        let [date, time, age, etag] = SHAPES.map(|shape| shape.pattern);
        assert_eq!(
            hide(
                date,
                r"If-Modified-Since: Mon, 30 Nov 2026 08:48:19 GMT\r\n"
            ),
            "Mon, 30 Nov 2026 08:48:19 GMT"
        );
        assert_eq!(hide(time, r"id: 1796028499:0\n"), "1796028499:0");
        assert_eq!(hide(age, r"last requested: -1 sec. ago\n"), "-1");
        assert_eq!(hide(etag, r"Etag: 0\r\n"), "0");
        assert_eq!(hide(etag, r"If-None-Match: 12\r\n"), "12");
    }
}
