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

/// The decoded query string: the first value of each name wins. Names and values borrow from
/// the query (or the URL) unless decoding changed them.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Query<'a> {
    /// Decodes the URL's query string (form-urlencoded, as browsers send it).
    pub fn from_url(url: &'a Url) -> Query<'a> {
        Query {
            pairs: url.query_pairs().collect(),
        }
    }

    /// Decodes a query string as [`from_url`](Query::from_url) decodes a URL's, for a query a
    /// URL keeps exactly as sent (the caller checks that).
    pub fn from_query(query: &'a str) -> Query<'a> {
        // Nothing escaped: the pairs are slices of the query, split as `form_urlencoded`
        // splits them (on `&`, empty pieces skipped, then at the first `=`).
        if !query.bytes().any(|b| b == b'%' || b == b'+') {
            let pairs = query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (Cow::Borrowed(name), Cow::Borrowed(value))
                })
                .collect();
            return Query { pairs };
        }
        Query {
            pairs: form_urlencoded::parse(query.as_bytes()).collect(),
        }
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
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
        let pairs = Query::from_url(&url).pairs;
        let pairs = pairs
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
            .collect();
        Query { pairs }
    }

    #[test]
    fn a_query_with_nothing_escaped_is_split_as_form_urlencoded_splits_it() {
        for query in [
            "",
            "since=1&channel=a",
            "&&a&=&b=c=d&&a=2&",
            "=x&x=",
            "a%20b=c+d&since=1",
            "caf%C3%A9=%zz&%=+",
        ] {
            let ours: Vec<_> = Query::from_query(query).pairs;
            let theirs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            assert_eq!(ours, theirs, "{query:?}");
        }
        let borrowed = Query::from_query("since=1&channel=a");
        assert!(borrowed
            .pairs
            .iter()
            .all(|(k, v)| matches!((k, v), (Cow::Borrowed(_), Cow::Borrowed(_)))));
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
