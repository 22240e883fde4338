//! JSONP bodies: `/**/CB(JSON);`. The `/**/` prefix and a strict callback name stop Rosetta Flash
//! (CVE-2014-4671) and script injection through the callback parameter.

/// The longest callback name [`valid_callback`] accepts.
pub const MAX_CALLBACK_LEN: usize = 64;

/// True when `name` matches `^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$`.
pub fn valid_callback(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= MAX_CALLBACK_LEN
        && (first.is_ascii_alphabetic() || matches!(first, b'_' | b'$'))
        && rest
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
}

/// `/**/CB(JSON);` — `json` must already be JSON text; U+2028/U+2029 are escaped so the body stays a
/// valid script in engines that predate ES2019.
///
/// `callback` must pass [`valid_callback`] (the route answers 400 otherwise). In JSON text these
/// two characters can only stand inside strings, where `\u2028`/`\u2029` mean the same.
pub fn encode_call(callback: &str, json: &str) -> String {
    let mut out = String::with_capacity(callback.len() + json.len() + 8);
    // The `/**/` prefix keeps the body from starting with bytes a Flash player would take for a
    // SWF file (Rosetta Flash, CVE-2014-4671).
    out.push_str("/**/");
    out.push_str(callback);
    out.push('(');
    for c in json.chars() {
        match c {
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push_str(");");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonp_accepts_plain_and_dotted_callbacks() {
        for name in [
            "cb",
            "_",
            "$",
            "jQuery3_1.cb",
            "a.b.c",
            "$x$9",
            &"a".repeat(64),
        ] {
            assert!(valid_callback(name), "{name}");
        }
    }

    #[test]
    fn jsonp_rejects_callback_with_parenthesis_and_other_injections() {
        let long = "a".repeat(65);
        for name in [
            "",
            "alert(1)//",
            "a;b",
            "<script>",
            "1a",
            ".a",
            "a b",
            "a-b",
            "a\nb",
            "a\0",
            "é",
            "a[0]",
            "a'",
            &long,
        ] {
            assert!(!valid_callback(name), "{name:?}");
        }
    }

    #[test]
    fn encode_call_prefixes_a_comment_and_ends_with_semicolon() {
        assert_eq!(encode_call("cb", r#"{"last":1}"#), r#"/**/cb({"last":1});"#);
    }

    #[test]
    fn encode_call_escapes_line_and_paragraph_separators() {
        assert_eq!(
            encode_call("cb", "[\"a\u{2028}b\u{2029}c\"]"),
            "/**/cb([\"a\\u2028b\\u2029c\"]);"
        );
    }

    #[test]
    fn encode_call_leaves_other_text_as_is() {
        assert_eq!(
            encode_call("f", "[\"</script>\\r\\n<!--服\"]"),
            "/**/f([\"</script>\\r\\n<!--服\"]);"
        );
    }
}
