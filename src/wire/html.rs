//! HTML for the iframe techniques: JSON made safe inside `<script>`, the forever iframe's padded
//! prelude and its one-script-per-message chunks, and the iframe-polling document.

/// Escapes JSON text for a `<script>` element: `<`, `>`, `&`, U+2028, U+2029 become `\u003c`,
/// `\u003e`, `\u0026`, `\u2028`, `\u2029`, so no data can end the script or open a comment.
///
/// `json` must be JSON text: outside strings JSON has none of these characters, and inside a
/// string each escape means the same character, so the value is unchanged. HTML §4.12.1.3
/// ("Restrictions for contents of script elements"): `</script` ends the element and `<!--` starts
/// the "script data escaped" state; with no `<` left neither can occur.
pub fn script_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A JavaScript string literal (JSON string, then [`script_json`]) for `value`.
pub fn script_string(value: &str) -> String {
    script_json(&serde_json::Value::from(value).to_string())
}

/// Bytes of whitespace inside the prelude's padding comment. With the head before it the prelude
/// is over 1024 bytes whatever the head says.
pub const PRELUDE_PADDING: usize = 1024;

/// The forever iframe's first chunk: a document head padded past 1024 bytes (browsers start
/// rendering streamed HTML only after the first KiB).
///
/// Deterministic bytes: `<!DOCTYPE html>`, a head with `<meta charset="utf-8">` (so no charset
/// sniffing waits for more bytes), `<body>`, then a comment holding [`PRELUDE_PADDING`] spaces and
/// a line end. Each [`message_script`] chunk follows inside `<body>`.
pub fn forever_prelude() -> String {
    let mut out = String::with_capacity(PRELUDE_PADDING + 200);
    out.push_str("<!DOCTYPE html>\n");
    out.push_str(
        "<html><head><meta charset=\"utf-8\"><title>longconn forever iframe</title></head>\n",
    );
    out.push_str("<body>\n");
    out.push_str("<!-- padding: browsers render a streamed document only after its first KiB");
    out.push_str(&" ".repeat(PRELUDE_PADDING));
    out.push_str("-->\n");
    out
}

/// One forever-iframe chunk: `<script>parent.postMessage(JSON, ORIGIN)</script>`.
///
/// Exactly `<script>parent.postMessage(` [`script_json`]`(json)` `, ` [`script_string`]`(origin)`
/// `)</script>` and a LF. `origin` must be a real origin, never `*` (the route picks it).
pub fn message_script(json: &str, origin: &str) -> String {
    format!(
        "<script>parent.postMessage({}, {})</script>\n",
        script_json(json),
        script_string(origin)
    )
}

/// The iframe-polling document: its script posts `json` to `parent` at `origin`.
pub fn polling_document(json: &str, origin: &str) -> String {
    format!(
        "<!DOCTYPE html>\n\
         <html><head><meta charset=\"utf-8\"><title>longconn iframe poll</title></head>\n\
         <body><script>parent.postMessage({}, {})</script></body></html>\n",
        script_json(json),
        script_string(origin)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_escapes_what_could_end_a_script() {
        assert_eq!(
            script_json(r#"{"data":"</script><script>alert(1)</script>"}"#),
            r#"{"data":"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e"}"#
        );
        assert_eq!(
            script_json(r#"["<!--","a&b"]"#),
            r#"["\u003c!--","a\u0026b"]"#
        );
        assert_eq!(script_json("[\"\u{2028}\u{2029}\"]"), r#"["\u2028\u2029"]"#);
    }

    #[test]
    fn script_json_keeps_escaped_line_ends_nul_and_chinese() {
        let json = serde_json::Value::from("a\r\nb\0c服").to_string();
        assert_eq!(json, r#""a\r\nb\u0000c服""#);
        assert_eq!(script_json(&json), json);
    }

    #[test]
    fn script_json_keeps_the_json_value() {
        let value = "</script><!--\u{2028}\u{2029}&<>\r\n\0服";
        let json = serde_json::Value::from(value).to_string();
        let back: serde_json::Value =
            serde_json::from_str(&script_json(&json)).expect("still JSON");
        assert_eq!(back, serde_json::Value::from(value));
    }

    #[test]
    fn script_string_is_a_safe_string_literal() {
        assert_eq!(
            script_string("http://localhost:3000"),
            r#""http://localhost:3000""#
        );
        assert_eq!(script_string("a\"</script>"), r#""a\"\u003c/script\u003e""#);
        assert_eq!(script_string("x\ny"), r#""x\ny""#);
    }

    #[test]
    fn forever_prelude_is_over_one_kib_and_declares_utf8() {
        let prelude = forever_prelude();
        assert!(prelude.len() > 1024, "{}", prelude.len());
        assert!(prelude.starts_with("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"));
        assert!(prelude.ends_with(" -->\n"));
        assert_eq!(prelude, forever_prelude());
        assert_eq!(prelude.len(), 1205);
    }

    #[test]
    fn message_script_posts_escaped_json_to_the_origin() {
        assert_eq!(
            message_script(r#"{"id":1,"data":"</script><!--"}"#, "http://a.test"),
            "<script>parent.postMessage({\"id\":1,\"data\":\"\\u003c/script\\u003e\\u003c!--\"}, \
             \"http://a.test\")</script>\n"
        );
    }

    #[test]
    fn message_script_escapes_a_hostile_origin() {
        assert_eq!(
            message_script("1", "</script>"),
            "<script>parent.postMessage(1, \"\\u003c/script\\u003e\")</script>\n"
        );
    }

    #[test]
    fn polling_document_is_a_whole_document() {
        assert_eq!(
            polling_document("[\"\u{2028}\"]", "http://a.test"),
            "<!DOCTYPE html>\n\
             <html><head><meta charset=\"utf-8\"><title>longconn iframe poll</title></head>\n\
             <body><script>parent.postMessage([\"\\u2028\"], \"http://a.test\")</script></body></html>\n"
        );
    }
}
