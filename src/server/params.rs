//! Query parameters every route shares, parsed and validated in one place: `channel`, `since`,
//! `timeout`, `lastEventId`. Pure functions of the query string, so each rule is tested here.

use std::borrow::Cow;
use std::time::Duration;

use http_types::url::Url;

use crate::hub::DEFAULT_CHANNEL;

/// Longest channel name accepted.
pub const MAX_CHANNEL_LEN: usize = 64;

/// Long-poll hold when `timeout` is not given.
pub const DEFAULT_LONGPOLL: Duration = Duration::from_secs(25);

/// Longest long-poll hold a client may ask for.
pub const MAX_LONGPOLL: Duration = Duration::from_secs(60);

/// A query parameter that cannot be used; the message is the 400 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// `channel` is empty, too long or has a character outside `[A-Za-z0-9_.:-]`.
    #[error("invalid \"channel\" parameter")]
    Channel,
    /// `since` is not a non-negative integer.
    #[error("invalid \"since\" parameter")]
    Since,
    /// `timeout` is not a non-negative integer number of seconds.
    #[error("invalid \"timeout\" parameter")]
    Timeout,
    /// `lastEventId` / `Last-Event-ID` is not a non-negative integer.
    #[error("invalid \"lastEventId\" parameter")]
    LastEventId,
    /// `event` is empty, longer than 64 bytes or could break an SSE line.
    #[error("invalid \"event\" parameter")]
    Event,
}

/// The decoded query string: the first value of each name wins. A query with nothing escaped is
/// read where it is, and a decoded one keeps the names and values decoding left alone borrowed.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pairs: Pairs<'a>,
}

#[derive(Debug, Clone)]
enum Pairs<'a> {
    /// No `%` and no `+`: each pair is a slice of the query.
    Plain(&'a str),
    Decoded(Vec<(Cow<'a, str>, Cow<'a, str>)>),
}

impl Default for Query<'_> {
    fn default() -> Self {
        Query {
            pairs: Pairs::Plain(""),
        }
    }
}

impl<'a> Query<'a> {
    /// Decodes the URL's query string (form-urlencoded, as browsers send it).
    pub fn from_url(url: &'a Url) -> Query<'a> {
        Query::from_query(url.query().unwrap_or_default())
    }

    /// Decodes a query string as `Url::query_pairs` decodes a URL's (`form_urlencoded`); for
    /// a target's query, one that a URL keeps exactly as sent (the caller checks that).
    pub fn from_query(query: &'a str) -> Query<'a> {
        let pairs = if query.bytes().any(|b| b == b'%' || b == b'+') {
            Pairs::Decoded(form_urlencoded::parse(query.as_bytes()).collect())
        } else {
            Pairs::Plain(query)
        };
        Query { pairs }
    }

    /// Every name and value, in order (the tests compare them with `form_urlencoded`'s).
    #[cfg(test)]
    fn pairs(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        match &self.pairs {
            // Split as `form_urlencoded` splits: on `&`, empty pieces skipped, then at the first
            // `=` (a piece without one is a name with an empty value).
            Pairs::Plain(query) => Box::new(
                query
                    .split('&')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| pair.split_once('=').unwrap_or((pair, ""))),
            ),
            Pairs::Decoded(pairs) => Box::new(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))),
        }
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        match &self.pairs {
            Pairs::Plain(query) => plain_get(query, name),
            Pairs::Decoded(pairs) => pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_ref()),
        }
    }

    /// `channel`: 1–64 characters of `[A-Za-z0-9_.:-]`, `default` when absent.
    pub fn channel(&self) -> Result<&str, ParamError> {
        match self.get("channel") {
            None => Ok(DEFAULT_CHANNEL),
            Some(name) if valid_channel(name) => Ok(name),
            Some(_) => Err(ParamError::Channel),
        }
    }

    /// `since`: the last id the client has; 0 (everything the log holds) when absent.
    pub fn since(&self) -> Result<u64, ParamError> {
        self.get("since")
            .map_or(Ok(0), |v| parse_id(v).ok_or(ParamError::Since))
    }

    /// `timeout` in seconds for `/longpoll`: 25 s when absent, capped at 60 s.
    pub fn timeout(&self) -> Result<Duration, ParamError> {
        match self.get("timeout") {
            None => Ok(DEFAULT_LONGPOLL),
            Some(v) => parse_id(v)
                .map(|s| Duration::from_secs(s).min(MAX_LONGPOLL))
                .ok_or(ParamError::Timeout),
        }
    }

    /// `event` for `/publish`: `message` when absent; at most 64 bytes, one SSE line.
    pub fn event(&self) -> Result<&str, ParamError> {
        match self.get("event") {
            None => Ok("message"),
            Some(e) if valid_event(e) => Ok(e),
            Some(_) => Err(ParamError::Event),
        }
    }
}

/// The first value of `name` in a query with nothing escaped, split as `form_urlencoded` splits
/// it: on `&`, empty pieces skipped, then at the first `=` (a piece without one is a name with an
/// empty value). A byte loop: a query is a few dozen bytes, too short for `str::split`'s searcher.
fn plain_get<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    let bytes = query.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'&')
            .map_or(bytes.len(), |i| start + i);
        let pair = &bytes[start..end];
        if !pair.is_empty() {
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], start + eq + 1..end),
                None => (pair, end..end),
            };
            if key == name.as_bytes() {
                // `&` and `=` are ASCII: the value starts and ends on character boundaries.
                return query.get(value);
            }
        }
        start = end + 1;
    }
    None
}

/// True for 1–64 characters of `[A-Za-z0-9_.:-]`.
pub fn valid_channel(name: &str) -> bool {
    (1..=MAX_CHANNEL_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// True for an event name a subscriber can receive on one `event:` line (refused at publish
/// rather than mangled at send).
pub fn valid_event(event: &str) -> bool {
    !event.is_empty() && event.len() <= 64 && crate::wire::sse::valid_field_value(event)
}

/// A message id: ASCII digits only (no sign, no spaces), fitting in u64.
pub fn parse_id(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Where an SSE client resumes: the `Last-Event-ID` header (sent by EventSource on reconnect)
/// wins over `?lastEventId=` (for clients that cannot set headers). An empty header means none.
pub fn last_event_id(header: Option<&str>, query: &Query) -> Result<Option<u64>, ParamError> {
    match header.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => parse_id(h).map(Some).ok_or(ParamError::LastEventId),
        None => match query.get("lastEventId").filter(|v| !v.is_empty()) {
            Some(v) => parse_id(v).map(Some).ok_or(ParamError::LastEventId),
            None => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query<'static> {
        let url = Url::parse(&format!("http://h/?{s}")).expect("test URL");
        let pairs = url
            .query_pairs()
            .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
            .collect();
        Query {
            pairs: Pairs::Decoded(pairs),
        }
    }

    #[test]
    fn a_query_is_split_and_decoded_as_form_urlencoded_does_it() {
        let names = ["a", "b", "x", "", "since", "a b", "caf\u{e9}", "%"];
        for query in [
            "",
            "since=1&channel=a",
            "&&a&=&b=c=d&&a=2&",
            "=x&x=",
            "a=&a=1",
            "a%20b=c+d&since=1",
            "caf%C3%A9=%zz&%=+",
        ] {
            let ours = Query::from_query(query);
            let theirs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            let ours_pairs: Vec<_> = ours.pairs().collect();
            let theirs_pairs: Vec<_> = theirs
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref()))
                .collect();
            assert_eq!(ours_pairs, theirs_pairs, "{query:?}");
            for name in names {
                let first = theirs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_ref());
                assert_eq!(ours.get(name), first, "{query:?}: {name:?}");
            }
        }
        assert!(matches!(
            Query::from_query("since=1&channel=a").pairs,
            Pairs::Plain(_)
        ));
    }

    #[test]
    fn channel_defaults_to_default() {
        assert_eq!(q("").channel(), Ok("default"));
    }

    #[test]
    fn channel_accepts_the_allowed_alphabet() {
        assert_eq!(q("channel=room_1.a:b-c").channel(), Ok("room_1.a:b-c"));
        assert_eq!(
            q(&format!("channel={}", "a".repeat(64)))
                .channel()
                .map(str::len),
            Ok(64)
        );
    }

    #[test]
    fn channel_rejects_empty_long_and_foreign_characters() {
        for bad in [
            "channel=",
            "channel=a%2Fb",
            "channel=a b",
            "channel=%C3%A9",
            "channel=a/b",
        ] {
            assert_eq!(q(bad).channel(), Err(ParamError::Channel), "{bad}");
        }
        assert_eq!(
            q(&format!("channel={}", "a".repeat(65))).channel(),
            Err(ParamError::Channel)
        );
    }

    #[test]
    fn since_defaults_to_zero_and_rejects_signs_and_words() {
        assert_eq!(q("").since(), Ok(0));
        assert_eq!(q("since=42").since(), Ok(42));
        for bad in [
            "since=",
            "since=-1",
            "since=%2B1",
            "since=1.5",
            "since=x",
            "since=99999999999999999999",
        ] {
            assert_eq!(q(bad).since(), Err(ParamError::Since), "{bad}");
        }
    }

    #[test]
    fn first_value_of_a_repeated_parameter_wins() {
        assert_eq!(q("since=1&since=2").since(), Ok(1));
    }

    #[test]
    fn longpoll_timeout_defaults_to_25s_and_caps_at_60s() {
        assert_eq!(q("").timeout(), Ok(Duration::from_secs(25)));
        assert_eq!(q("timeout=5").timeout(), Ok(Duration::from_secs(5)));
        assert_eq!(q("timeout=600").timeout(), Ok(Duration::from_secs(60)));
        assert_eq!(q("timeout=soon").timeout(), Err(ParamError::Timeout));
    }

    #[test]
    fn last_event_id_header_wins_over_query() {
        assert_eq!(last_event_id(Some("7"), &q("lastEventId=3")), Ok(Some(7)));
        assert_eq!(last_event_id(None, &q("lastEventId=3")), Ok(Some(3)));
        assert_eq!(last_event_id(Some(""), &q("")), Ok(None));
        assert_eq!(
            last_event_id(Some("x"), &q("")),
            Err(ParamError::LastEventId)
        );
    }
}
