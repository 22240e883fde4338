//! `longconn schema`: the JSON Schema (draft-07) of the spec format, for yaml-language-server.
//! Hand-written beside the parser; the test below keeps the two naming the same step kinds.

use serde_json::{json, Value};

/// A connection name written in `to:`, `from:`, `on:`.
fn connection(what: &str) -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": what })
}

fn duration(what: &str) -> Value {
    json!({
        "type": "string",
        "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$",
        "description": format!("{what} A duration: `250ms`, `1s`, `1.5s`, `2m`, `1h`."),
    })
}

fn server_ref() -> Value {
    json!({ "type": "string", "description": "One of `servers:` (the first when absent)." })
}

fn escaped(what: &str) -> Value {
    json!({
        "type": "string",
        "description": format!(
            "{what} Escapes `\\r \\n \\t \\0 \\\\ \\xNN` stand for single bytes; write it in \
             single quotes so YAML leaves the backslashes alone."
        ),
    })
}

fn scalar(what: &str) -> Value {
    json!({ "type": ["string", "number", "boolean"], "description": what })
}

fn headers(what: &str) -> Value {
    json!({
        "type": "object",
        "additionalProperties": { "type": ["string", "number", "boolean"] },
        "description": what,
    })
}

/// One step: a map with the single key `kind`.
fn step(kind: &str, description: &str, value: Value) -> Value {
    json!({
        "type": "object",
        "description": description,
        "properties": { kind: value },
        "required": [kind],
        "additionalProperties": false,
    })
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn count(what: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": what })
}

/// The schema as a JSON value.
pub fn schema() -> Value {
    let until = json!({
        "description": "When the read stops.",
        "oneOf": [
            { "enum": ["head", "body", "close"],
              "description": "`head`: a response's status line and headers; `body`: the rest of the response body, by its framing (Content-Length, chunked, or up to the close); `close`: the peer closes." },
            object(json!({ "bytes": count("N more bytes.") }), &["bytes"]),
            object(json!({ "string": escaped("Until the bytes read contain this byte string.") }), &["string"]),
            object(json!({ "chunks": count("N more HTTP chunks of a chunked body.") }), &["chunks"]),
            object(json!({ "sse_events": count("N more Server-Sent Events.") }), &["sse_events"]),
            object(json!({ "frames": count("N more WebSocket frames.") }), &["frames"]),
            object(json!({ "silence": duration("Nothing arrives and the peer does not close for this long (the manual clock's time on the embedded server, real time against --target).") }), &["silence"]),
        ],
    });
    let steps = json!([
        step(
            "open",
            "Connect a named raw TCP connection.",
            json!({
                "oneOf": [
                    connection("The connection's name."),
                    object(json!({
                        "name": connection("The connection's name."),
                        "server": server_ref(),
                    }), &["name"]),
                ],
            })
        ),
        step(
            "close",
            "Close the client's side of a connection.",
            connection("The connection to close.")
        ),
        step(
            "send",
            "Write bytes exactly as given: `raw:`, or `http:` (+ `body:`).",
            object(
                json!({
                    "to": connection("The connection to write on."),
                    "raw": escaped("The bytes; nothing is added."),
                    "http": { "type": "string", "description": "A request head written naturally: each line end becomes CRLF, and the empty line that ends the head is added if missing. With `body:`, Content-Length is added unless the head names Content-Length or Transfer-Encoding; nothing else is added (no Host). `${name}` variables are replaced." },
                    "body": { "type": "string", "description": "Sent as UTF-8 right after the head (with `http:` only)." },
                }),
                &["to"]
            )
        ),
        step(
            "read",
            "Read from a connection until a condition holds, or fail after the timeout.",
            object(
                json!({
                    "from": connection("The connection to read from."),
                    "until": until,
                    "timeout": duration("How long to wait at most (5s when absent)."),
                }),
                &["from", "until"]
            )
        ),
        step(
            "handshake",
            "Send a WebSocket upgrade request and read the response head.",
            object(
                json!({
                    "on": connection("The connection to upgrade."),
                    "path": { "type": "string", "description": "The request target, e.g. `/echo`." },
                    "key": { "type": ["string", "null"], "description": "Sec-WebSocket-Key (RFC 6455 sample `dGhlIHNhbXBsZSBub25jZQ==` when absent; null omits the header)." },
                    "protocols": { "type": "array", "items": { "type": "string" }, "description": "Sec-WebSocket-Protocol values offered, in order." },
                    "origin": { "type": "string", "description": "The Origin header." },
                    "headers": headers("Extra headers, in order, after the others."),
                    "version": { "type": ["string", "integer", "null"], "description": "Sec-WebSocket-Version (13 when absent; null omits the header)." },
                }),
                &["on", "path"]
            )
        ),
        step(
            "frame",
            "Write one WebSocket frame, raw enough to be malformed on purpose.",
            object(
                json!({
                    "to": connection("The connection to write on."),
                    "opcode": {
                        "description": "A named opcode or any 4-bit number (reserved ones included).",
                        "oneOf": [
                            { "enum": ["continuation", "text", "binary", "close", "ping", "pong"] },
                            { "type": "integer", "minimum": 0, "maximum": 15 },
                        ],
                    },
                    "fin": { "type": "boolean", "description": "FIN bit (true when absent)." },
                    "rsv": { "type": "integer", "minimum": 0, "maximum": 7, "description": "RSV1..3 as a number: RSV1 = 4, RSV2 = 2, RSV3 = 1 (0 when absent)." },
                    "mask": { "type": ["string", "integer", "null"], "pattern": "^([0-9A-Fa-f]{8}|none)$", "description": "Masking key as 8 hex digits, or `none` for an unmasked frame (37fa213d when absent)." },
                    "text": { "type": "string", "description": "Payload: this text as UTF-8." },
                    "raw": escaped("Payload: these bytes."),
                    "code": { "type": "integer", "minimum": 0, "maximum": 65535, "description": "Payload: a close code, 2 bytes big-endian (then `reason:`)." },
                    "reason": { "type": "string", "description": "The close reason after `code:`." },
                }),
                &["to", "opcode"]
            )
        ),
        step(
            "publish",
            "POST /publish through an HTTP client.",
            object(
                json!({
                    "channel": { "type": "string", "description": "The channel (`default` when absent)." },
                    "event": scalar("The event name (the server's `message` when absent)."),
                    "data": scalar("The message body."),
                    "server": server_ref(),
                    "status": { "type": "integer", "minimum": 100, "maximum": 999, "description": "The status the answer must have (any 2xx when absent)." },
                }),
                &["data"]
            )
        ),
        step(
            "tick",
            "Advance an embedded server's manual clock (an error with --target).",
            json!({
                "oneOf": [
                    duration("How far."),
                    object(json!({ "by": duration("How far."), "server": server_ref() }), &["by"]),
                ],
            })
        ),
        step(
            "expect",
            "Assertions on what a connection received so far, beside the snapshot.",
            object(
                json!({
                    "on": connection("The connection (the latest read or handshake's when absent)."),
                    "status": { "type": "integer", "minimum": 0, "maximum": 65535, "description": "Status code of the last response head." },
                    "header": headers("Headers of the last response head (names case-insensitive)."),
                    "body_contains": scalar("Text the body read so far must contain."),
                    "body_matches": { "type": "string", "format": "regex", "description": "A regex the body read so far must match." },
                    "sse": object(json!({
                        "event": scalar("The last SSE event's `event:` (`message` when it had none)."),
                        "id": scalar("The last SSE event's `id:`."),
                        "data": scalar("The last SSE event's data lines joined with LF."),
                        "retry": { "type": "integer", "minimum": 0, "description": "The reconnection time (ms) the stream's last `retry:` set." },
                    }), &[]),
                    "close_code": { "type": "integer", "minimum": 0, "maximum": 65535, "description": "Code of the last WebSocket close frame received." },
                    "frame": object(json!({
                        "opcode": { "description": "The last frame's opcode (a name or 0-15).", "oneOf": [ { "enum": ["continuation", "text", "binary", "close", "ping", "pong"] }, { "type": "integer", "minimum": 0, "maximum": 15 } ] },
                        "text": scalar("The last frame's payload as UTF-8 text, exactly."),
                        "json": { "type": "string", "description": "JSON text the last frame's payload must equal as JSON (key order and spacing aside)." },
                        "binary": escaped("The last frame's payload, exactly."),
                    }), &[]),
                }),
                &[]
            )
        ),
        step(
            "request",
            "One whole HTTP/1.1 exchange: the request (Host and Content-Length added unless given), then the response head and whole body by its framing; fails on a status other than `status:` (any 2xx when absent).",
            object(
                json!({
                    "on": connection("The connection (`request` when absent); opened on first use, kept alive after."),
                    "server": server_ref(),
                    "method": { "type": "string", "description": "The method (GET when absent)." },
                    "path": { "type": "string", "description": "The request target; a --target path prefix goes before it." },
                    "headers": headers("Extra headers, in order."),
                    "body": scalar("The body, as UTF-8."),
                    "status": { "type": "integer", "minimum": 100, "maximum": 999, "description": "The status the response must have (any 2xx when absent)." },
                    "timeout": duration("How long the whole exchange may take (5s when absent)."),
                }),
                &["path"]
            )
        ),
        step(
            "capture",
            "Keep a value of what a connection received as the variable `${name}` for later steps.",
            object(
                json!({
                    "on": connection("The connection (the latest read, handshake or request's when absent)."),
                    "name": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "The variable's name." },
                    "header": { "type": "string", "description": "From this header of the last response head." },
                    "json": { "type": "string", "description": "From the body as JSON, at this JSON pointer (RFC 6901), e.g. `/id`." },
                    "regex": { "type": "string", "format": "regex", "description": "From the body: group 1 of the first match (the whole match without a group)." },
                    "sse": { "enum": ["id", "event", "data"], "description": "From a field of the last SSE event." },
                    "frame": { "enum": ["text"], "description": "From the last WebSocket frame's payload, as text." },
                    "redact": { "type": "boolean", "description": "Replace the value by `<name>` in the transcript (true when absent)." },
                }),
                &["name"]
            )
        ),
    ]);
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://github.com/longconn/longconn/spec.schema.json",
        "title": "longconn spec",
        "description": "One scenario: a client scripted byte by byte against a push server; replaying it records a byte-exact transcript kept as an insta snapshot.",
        "type": "object",
        "required": ["description", "steps"],
        "additionalProperties": false,
        "properties": {
            "description": { "type": "string", "description": "What the scenario shows, in one sentence." },
            "server": object(json!({
                "interval": duration("How often the ticker publishes the time."),
                "max_message_bytes": count("The largest /publish body and WebSocket message."),
                "allow_origin": { "type": "array", "items": { "type": "string" }, "description": "Origins allowed from other pages." },
                "heartbeat": duration("How often idle streams get a keep-alive write."),
                "send_timeout": duration("How long a write may wait for a client that reads nothing before it is cut."),
                "log_capacity": count("Messages kept per channel for resuming."),
                "subscriber_queue": count("Messages queued per subscriber before it is cut off."),
                "max_connections": count("Connections past this are refused."),
                "publisher_jwt_key": { "type": "string", "description": "HS256 key publishers' tokens must be signed with." },
                "subscriber_jwt_key": { "type": "string", "description": "HS256 key subscribers' tokens must be signed with." },
                "private": { "type": "array", "items": { "type": "string" }, "description": "Channels that need a subscriber token (a trailing * matches a prefix)." },
                "host": { "type": "array", "items": { "type": "string" }, "description": "Host names served besides the loopback names (else 421)." },
                "jsonp": { "type": "boolean", "description": "Whether /jsonp is served (default true)." },
            }), &[]),
            "servers": {
                "type": "array", "minItems": 1, "uniqueItems": true,
                "items": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$" },
                "description": "Names of the embedded servers, all on one hub (one server `main` when absent).",
            },
            "embedded_only": {
                "type": "string",
                "description": "Why the spec holds only on the embedded server (besides `tick` and `server:`, which say so themselves): against --target it is listed as skipped with this reason.",
            },
            "redact": {
                "type": "array",
                "description": "Extra patterns replaced by `<name>` in the transcript (`date:` is redacted already).",
                "items": object(json!({
                    "pattern": { "type": "string", "format": "regex", "description": "What varies from run to run." },
                    "name": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$", "description": "The placeholder, written `<name>`." },
                    "target": { "type": "boolean", "description": "Only against --target: the snapshot keeps the embedded server's value, and a running server's transcript is compared with it with this pattern redacted on both sides (ids, dates, lengths a live server varies)." },
                }), &["pattern", "name"]),
            },
            "steps": {
                "type": "array",
                "description": "What the client does, in order; each step is a map with one key.",
                "items": { "oneOf": steps },
            },
        },
    })
}

/// The schema as JSON text.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::STEP_KINDS;

    #[test]
    fn schema_is_json_and_names_every_step_kind() {
        let schema: Value = serde_json::from_str(&schema_json()).unwrap();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        let steps = schema["properties"]["steps"]["items"]["oneOf"]
            .as_array()
            .unwrap();
        let named: Vec<&str> = steps
            .iter()
            .filter_map(|s| s["required"][0].as_str())
            .collect();
        assert_eq!(named, STEP_KINDS);
        assert!(steps.iter().all(|s| s["description"].is_string()));
    }
}
