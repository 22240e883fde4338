//! HTML for the iframe techniques: JSON made safe inside `<script>`, the forever iframe's padded
//! prelude and its one-script-per-message chunks, and the iframe-polling document.

/// Escapes JSON text for a `<script>` element: `<`, `>`, `&`, U+2028, U+2029 become `\u003c`,
/// `\u003e`, `\u0026`, `\u2028`, `\u2029`, so no data can end the script or open a comment.
pub fn script_json(json: &str) -> String {
    let _ = json;
    todo!()
}

/// A JavaScript string literal (JSON string, then [`script_json`]) for `value`.
pub fn script_string(value: &str) -> String {
    let _ = value;
    todo!()
}

/// The forever iframe's first chunk: a document head padded past 1024 bytes (browsers start
/// rendering streamed HTML only after the first KiB).
pub fn forever_prelude() -> String {
    todo!()
}

/// One forever-iframe chunk: `<script>parent.postMessage(JSON, ORIGIN)</script>`.
pub fn message_script(json: &str, origin: &str) -> String {
    let _ = (json, origin);
    todo!()
}

/// The iframe-polling document: its script posts `json` to `parent` at `origin`.
pub fn polling_document(json: &str, origin: &str) -> String {
    let _ = (json, origin);
    todo!()
}
