//! Values that flow from a response into a later request: an SSE `id:` sent back as
//! `Last-Event-ID` (or `lastEventId=`), a poll's `last` sent back as `since=`, a validator sent
//! back in a conditional request (`Last-Modified` as `If-Modified-Since`, `ETag` as
//! `If-None-Match`: how Nchan's long-poll client asks for the next message), a long string a
//! JSON answer handed out (a token) sent back anywhere in a request. Each becomes a `capture`
//! after the read that received it, and the request uses `${name}`.

use std::collections::BTreeMap;

/// The shortest JSON string value taken for a token when it comes back in a request.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Where a captured value is read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// `sse: id`: the last SSE event's id.
    SseId,
    /// `json: /pointer`: a value of the body read.
    Json(String),
    /// `header: NAME`: a header of the last response head.
    Header(String),
}

/// A capture to write after the step at `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Index of the `read` step it follows.
    pub after: usize,
    /// The connection it reads.
    pub on: String,
    /// The variable's name.
    pub name: String,
    /// Where the value is.
    pub source: Source,
    /// Whether the transcript hides the value (tokens), or shows it (ids, which replay the same).
    pub redact: bool,
}

#[derive(Debug, Clone)]
struct Seen {
    after: usize,
    on: String,
    source: Source,
    value: String,
    /// The variable name to use when it is captured.
    stem: &'static str,
    redact: bool,
}

/// What responses handed out so far, and the captures taken from them.
#[derive(Debug, Default)]
pub struct Flows {
    seen: Vec<Seen>,
    taken: BTreeMap<(usize, String, Source), String>,
    captures: Vec<Capture>,
}

impl Flows {
    /// A read at step `after` on `on` ended with this SSE id.
    pub fn sse_id(&mut self, after: usize, on: &str, id: &str) {
        self.seen.push(Seen {
            after,
            on: on.to_string(),
            source: Source::SseId,
            value: id.to_string(),
            stem: "last_event_id",
            redact: false,
        });
    }

    /// A read at step `after` on `on` took a head with these validators (lowercase names).
    pub fn validators(&mut self, after: usize, on: &str, validators: &[(String, String)]) {
        for (name, value) in validators {
            let stem = match name.as_str() {
                "last-modified" => "last_modified",
                "etag" => "etag",
                _ => continue,
            };
            self.seen.push(Seen {
                after,
                on: on.to_string(),
                source: Source::Header(name.clone()),
                value: value.clone(),
                stem,
                // Shown: a short ETag such as `0` would otherwise hide every `0`; what varies
                // in them is redacted by pattern (see `varying`).
                redact: false,
            });
        }
    }

    /// A read at step `after` on `on` completed this body.
    pub fn body(&mut self, after: usize, on: &str, body: &[u8]) {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) else {
            return;
        };
        for (key, value) in object {
            let pointer = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
            match value {
                serde_json::Value::Number(number) if key == "last" => self.seen.push(Seen {
                    after,
                    on: on.to_string(),
                    source: Source::Json(pointer),
                    value: number.to_string(),
                    stem: "last",
                    redact: false,
                }),
                serde_json::Value::String(text) if text.chars().count() >= MIN_TOKEN_CHARS => {
                    self.seen.push(Seen {
                        after,
                        on: on.to_string(),
                        source: Source::Json(pointer),
                        value: text,
                        stem: "token",
                        redact: true,
                    })
                }
                _ => {}
            }
        }
    }

    /// The variable for `value` when it repeats what an earlier answer sent, if any: an id
    /// (`Last-Event-ID`, `lastEventId`) for `kind` "id", a poll's last for "since", a token
    /// for "token" (looked up anywhere).
    pub fn variable_for(&mut self, kind: &str, value: &str) -> Option<String> {
        let stem = match kind {
            "id" => "last_event_id",
            "since" => "last",
            "last_modified" => "last_modified",
            "etag" => "etag",
            _ => "token",
        };
        let seen = self
            .seen
            .iter()
            .rev()
            .find(|seen| seen.stem == stem && seen.value == value)?
            .clone();
        let key = (seen.after, seen.on.clone(), seen.source.clone());
        if let Some(name) = self.taken.get(&key) {
            return Some(name.clone());
        }
        let count = self
            .captures
            .iter()
            .filter(|c| c.name.starts_with(stem))
            .count();
        let name = if count == 0 {
            stem.to_string()
        } else {
            format!("{stem}_{}", count + 1)
        };
        self.taken.insert(key, name.clone());
        self.captures.push(Capture {
            after: seen.after,
            on: seen.on,
            name: name.clone(),
            source: seen.source,
            redact: seen.redact,
        });
        Some(name)
    }

    /// Tokens handed out so far, longest first (so one never matches inside another).
    pub fn tokens(&self) -> Vec<String> {
        let mut tokens: Vec<String> = self
            .seen
            .iter()
            .filter(|seen| seen.stem == "token")
            .map(|seen| seen.value.clone())
            .collect();
        tokens.sort_by_key(|token| std::cmp::Reverse(token.len()));
        tokens.dedup();
        tokens
    }

    /// Every capture taken, in the order taken.
    pub fn captures(&self) -> &[Capture] {
        &self.captures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_sent_back_is_captured_once_after_its_read() {
        let mut flows = Flows::default();
        flows.sse_id(3, "sse", "7");
        assert_eq!(
            flows.variable_for("id", "7").as_deref(),
            Some("last_event_id")
        );
        assert_eq!(
            flows.variable_for("id", "7").as_deref(),
            Some("last_event_id")
        );
        assert_eq!(flows.variable_for("id", "8"), None);
        assert_eq!(flows.captures().len(), 1);
        assert_eq!(flows.captures()[0].after, 3);
    }

    #[test]
    fn validators_sent_back_in_a_conditional_request_are_captured_from_the_head() {
        let mut flows = Flows::default();
        flows.validators(
            4,
            "longpoll",
            &[
                (
                    "last-modified".into(),
                    "Mon, 30 Nov 2026 08:48:19 GMT".into(),
                ),
                ("etag".into(), "0".into()),
            ],
        );
        assert_eq!(
            flows
                .variable_for("last_modified", "Mon, 30 Nov 2026 08:48:19 GMT")
                .as_deref(),
            Some("last_modified")
        );
        assert_eq!(flows.variable_for("etag", "0").as_deref(), Some("etag"));
        assert_eq!(flows.variable_for("etag", "1"), None);
        assert_eq!(
            flows.captures()[0].source,
            Source::Header("last-modified".into())
        );
        assert!(flows.captures().iter().all(|c| !c.redact && c.after == 4));
    }

    #[test]
    fn a_poll_last_and_a_token_are_found_in_json_bodies() {
        let mut flows = Flows::default();
        flows.body(
            5,
            "poll",
            br#"{"last":4,"messages":[],"token":"abcdefghijklmnopqrstu"}"#,
        );
        assert_eq!(flows.variable_for("since", "4").as_deref(), Some("last"));
        assert_eq!(flows.tokens(), vec!["abcdefghijklmnopqrstu".to_string()]);
        assert_eq!(
            flows
                .variable_for("token", "abcdefghijklmnopqrstu")
                .as_deref(),
            Some("token")
        );
        assert_eq!(flows.captures()[1].source, Source::Json("/token".into()));
        assert!(flows.captures()[1].redact);
    }
}
