//! What a running `longconn serve` varies that the embedded server fixes: ids above its id floor,
//! its clock, and the lengths that carry them. A spec recorded on the embedded upstream carries
//! these as `redact:` entries with `target: true` (the catalogue's own), so it also replays
//! against a live server with `longconn run --target`; the embedded run keeps every value.

/// `(pattern, name)` of each `target: true` redaction, as the catalogue's specs write them.
pub const TARGET_REDACTIONS: [(&str, &str); 9] = [
    // `"id":N`, `id: N` (SSE), `Last-Event-ID: N`, `since=N`.
    (r"(?i)(?:id|since)\W{1,4}(\d+)", "id"),
    (r#""last":(\d+)"#, "id"),
    // RFC 3339 times the ticker and the pages show.
    (r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", "time"),
    // Lengths of what holds them: a body, a chunk (RFC 9112 §7.1), a frame (RFC 6455 §5.2).
    (r"(?i)^content-length: (\d+)", "length"),
    (r"^([0-9A-Fa-f]+)\\r\\n$", "length"),
    (r"^chunk (\d+) bytes", "length"),
    (r"^(\\x81(?:\\x[0-9a-f]{2}|.))\{", "frame"),
    (r#"len=(\d+) "\{"#, "length"),
    // A captured id, shown as it is (`redact: false`).
    (r#"^capture \w+ = "(\d+)"$"#, "id"),
];

/// The redactions as `(pattern, name)` pairs for a spec's header.
pub fn target_redactions() -> Vec<(String, String)> {
    TARGET_REDACTIONS
        .iter()
        .map(|(pattern, name)| (pattern.to_string(), name.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redactions_are_the_catalogues() {
        // The catalogue's spec is the reference: a change there or here shows up as a failure.
        let spec = crate::spec::load(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("specs/sse_resume_last_event_id.yaml")
                .as_path(),
        )
        .expect("the catalogue spec reads");
        let catalogue: Vec<(String, String)> = spec
            .target_redact
            .iter()
            .map(|r| (r.pattern.regex().as_str().to_string(), r.name.clone()))
            .collect();
        assert_eq!(catalogue, target_redactions());
    }
}
