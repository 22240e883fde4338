//! Parsing tests: every step kind from a YAML literal, and the exact text of each kind of error.

use std::time::Duration;

use super::*;

fn spec(steps: &str) -> Spec {
    let source = format!("description: test\nsteps:\n{steps}");
    match parse("specs/t.yaml", &source) {
        Ok(spec) => spec,
        Err(error) => panic!("should parse:\n{error}"),
    }
}

fn kinds(steps: &str) -> Vec<StepKind> {
    spec(steps).steps.into_iter().map(|s| s.kind).collect()
}

fn error(source: &str) -> String {
    match parse("specs/t.yaml", source) {
        Ok(_) => panic!("should fail:\n{source}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn the_issue_example_parses_with_step_lines() {
    let source = "\
# specs/sse_resumes_after_last_event_id.yaml
description: an SSE client that reconnects with Last-Event-ID gets only what it missed
steps:
  - publish: { data: first }              # POST /publish through surf
  - publish: { data: second }
  - open: sse                             # a raw TCP connection, named
  - send:
      to: sse
      http: |                             # line ends become CRLF; nothing else is added
        GET /sseStream HTTP/1.1
        Host: localhost
        Last-Event-ID: 1
  - read: { from: sse, until: head }      # status line + headers
  - read: { from: sse, until: { sse_events: 2 } }
  - tick: 1s                              # manual clock of the embedded server: the ticker fires
  - read: { from: sse, until: { sse_events: 1 } }
  - expect: { status: 200, header: { content-type: text/event-stream } }
  - close: sse
";
    let spec = parse("specs/sse.yaml", source).unwrap();
    let lines: Vec<usize> = spec.steps.iter().map(|s| s.line).collect();
    assert_eq!(lines, [4, 5, 6, 7, 13, 14, 15, 16, 17, 18]);
    assert!(spec.steps.iter().all(|s| s.column == 5));
    assert_eq!(spec.servers, [DEFAULT_SERVER]);
    assert!(spec.uses_tick());
    assert_eq!(spec.first_tick().map(|s| s.line), Some(15));
    assert_eq!(
        spec.steps[3].kind,
        StepKind::Send(Send {
            to: "sse".into(),
            payload: Payload::Http(HttpRequest {
                head: b"GET /sseStream HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: 1\r\n\r\n"
                    .to_vec(),
                body: Vec::new(),
                add_length: false,
            }),
            timeout: DEFAULT_TIMEOUT,
        })
    );
    let StepKind::Expect(expect) = &spec.steps[8].kind else {
        panic!("not an expect: {:?}", spec.steps[8]);
    };
    assert_eq!(expect.on, "sse");
    assert_eq!(expect.status, Some(200));
    assert_eq!(
        expect.headers,
        [("content-type".to_string(), "text/event-stream".to_string())]
    );
}

#[test]
fn open_takes_a_name_or_a_name_and_server() {
    let source = "description: t\nservers: [one, two]\nsteps:\n  - open: a\n  - open: { name: b, server: two }\n";
    let spec = parse("t.yaml", source).unwrap();
    assert_eq!(spec.servers, ["one", "two"]);
    assert_eq!(
        spec.steps
            .iter()
            .map(|s| s.kind.clone())
            .collect::<Vec<_>>(),
        [
            StepKind::Open(Open {
                name: "a".into(),
                server: "one".into()
            }),
            StepKind::Open(Open {
                name: "b".into(),
                server: "two".into()
            }),
        ]
    );
}

#[test]
fn close_names_an_open_connection() {
    assert_eq!(
        kinds("  - open: a\n  - close: a\n  - open: a\n")[1],
        StepKind::Close(Close { name: "a".into() })
    );
}

#[test]
fn send_raw_decodes_escapes() {
    assert_eq!(
        kinds("  - open: a\n  - send: { to: a, raw: 'GET / HTTP/1.1\\r\\n\\x00\\xff' }\n")[1],
        StepKind::Send(Send {
            to: "a".into(),
            payload: Payload::Raw(b"GET / HTTP/1.1\r\n\x00\xff".to_vec()),
            timeout: DEFAULT_TIMEOUT,
        })
    );
}

#[test]
fn send_http_adds_crlf_and_the_blank_line_only() {
    let steps = "  - open: a
  - send:
      to: a
      http: |
        POST /publish HTTP/1.1
        Content-Length: 2

      body: hi
";
    let StepKind::Send(send) = &kinds(steps)[1] else {
        panic!("not a send")
    };
    assert_eq!(
        send.bytes(),
        b"POST /publish HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi".to_vec()
    );
    assert_eq!(
        parse::http_head("GET / HTTP/1.1"),
        b"GET / HTTP/1.1\r\n\r\n"
    );
    assert_eq!(
        parse::http_head("GET / HTTP/1.1\r\n"),
        b"GET / HTTP/1.1\r\n\r\n"
    );
    assert_eq!(
        parse::http_head("GET / HTTP/1.1\n\n"),
        b"GET / HTTP/1.1\r\n\r\n"
    );
}

#[test]
fn read_knows_every_until() {
    let steps = "  - open: a
  - read: { from: a, until: head }
  - read: { from: a, until: close, timeout: 250ms }
  - read: { from: a, until: { bytes: 3 } }
  - read: { from: a, until: { string: '\\r\\n\\r\\n' } }
  - read: { from: a, until: { chunks: 2 } }
  - read: { from: a, until: { sse_events: 1 } }
  - read: { from: a, until: { frames: 4 } }
";
    let reads: Vec<(Until, Duration)> = kinds(steps)
        .into_iter()
        .filter_map(|k| match k {
            StepKind::Read(r) => Some((r.until, r.timeout)),
            _ => None,
        })
        .collect();
    let five = DEFAULT_TIMEOUT;
    assert_eq!(
        reads,
        [
            (Until::Head, five),
            (Until::Close, Duration::from_millis(250)),
            (Until::Bytes(3), five),
            (Until::String(b"\r\n\r\n".to_vec()), five),
            (Until::Chunks(2), five),
            (Until::SseEvents(1), five),
            (Until::Frames(4), five),
        ]
    );
}

#[test]
fn handshake_defaults_to_the_rfc_sample_key_and_version_13() {
    let steps = "  - open: ws
  - handshake: { on: ws, path: /echo }
  - handshake:
      on: ws
      path: /ws?channel=x
      key: ~
      protocols: [chat, superchat]
      origin: http://a.example
      headers: { X-One: 1, Sec-WebSocket-Key: abc }
      version: 8
";
    let all = kinds(steps);
    assert_eq!(
        all[1],
        StepKind::Handshake(Handshake {
            on: "ws".into(),
            path: "/echo".into(),
            key: Some(SAMPLE_KEY.into()),
            protocols: vec![],
            origin: None,
            headers: vec![],
            version: Some("13".into()),
            extensions: None,
        })
    );
    assert_eq!(
        all[2],
        StepKind::Handshake(Handshake {
            on: "ws".into(),
            path: "/ws?channel=x".into(),
            key: None,
            protocols: vec!["chat".into(), "superchat".into()],
            origin: Some("http://a.example".into()),
            headers: vec![
                ("X-One".into(), "1".into()),
                ("Sec-WebSocket-Key".into(), "abc".into())
            ],
            version: Some("8".into()),
            extensions: None,
        })
    );
}

#[test]
fn frame_is_raw_enough_for_malformed_frames() {
    let steps = "  - open: ws
  - frame: { to: ws, opcode: text, text: hi }
  - frame: { to: ws, opcode: 3, fin: false, rsv: 4, mask: none, raw: '\\xff\\x00' }
  - frame: { to: ws, opcode: close, code: 1000, reason: bye, mask: '00000000' }
  - frame: { to: ws, opcode: 9, mask: 12345678 }
";
    let frames: Vec<Frame> = kinds(steps)
        .into_iter()
        .filter_map(|k| match k {
            StepKind::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(
        frames[0],
        Frame {
            to: "ws".into(),
            opcode: Opcode::Text,
            fin: true,
            rsv: 0,
            mask: Mask::Key(DEFAULT_MASK),
            payload: b"hi".to_vec(),
            compress: false,
            timeout: DEFAULT_TIMEOUT,
        }
    );
    assert_eq!(frames[1].opcode, Opcode::Raw(3));
    assert_eq!(
        (frames[1].fin, frames[1].rsv, frames[1].mask),
        (false, 4, Mask::None)
    );
    assert_eq!(frames[1].payload, b"\xff\x00");
    assert_eq!(frames[2].payload, b"\x03\xe8bye");
    assert_eq!(frames[2].mask, Mask::Key([0; 4]));
    assert_eq!(frames[3].opcode, Opcode::Ping);
    assert_eq!(frames[3].opcode.code(), 9);
    assert_eq!(frames[3].mask, Mask::Key([0x12, 0x34, 0x56, 0x78]));
}

#[test]
fn publish_defaults_to_the_default_channel() {
    assert_eq!(
        kinds("  - publish: { data: 42 }\n  - publish: { channel: c, event: e, data: x }\n"),
        [
            StepKind::Publish(Publish {
                channel: crate::hub::DEFAULT_CHANNEL.into(),
                event: None,
                data: "42".into(),
                server: DEFAULT_SERVER.into(),
                status: None,
            }),
            StepKind::Publish(Publish {
                channel: "c".into(),
                event: Some("e".into()),
                data: "x".into(),
                server: DEFAULT_SERVER.into(),
                status: None,
            }),
        ]
    );
}

#[test]
fn tick_takes_a_duration_or_by_and_server() {
    let source = "description: t\nservers: [a, b]\nsteps:\n  - tick: 1s\n  - tick: { by: 500ms, server: b }\n";
    let spec = parse("t.yaml", source).unwrap();
    assert_eq!(
        spec.steps
            .iter()
            .map(|s| s.kind.clone())
            .collect::<Vec<_>>(),
        [
            StepKind::Tick(Tick {
                by: Duration::from_secs(1),
                server: "a".into()
            }),
            StepKind::Tick(Tick {
                by: Duration::from_millis(500),
                server: "b".into()
            }),
        ]
    );
}

#[test]
fn expect_checks_sse_fields_body_and_close_code() {
    let steps = "  - open: a
  - expect: { on: a, body_contains: retry, body_matches: 'id: \\d+', close_code: 1000 }
  - expect: { on: a, sse: { event: message, id: 2, data: second } }
";
    let all = kinds(steps);
    let StepKind::Expect(first) = &all[1] else {
        panic!("not an expect")
    };
    assert_eq!(first.body_contains.as_deref(), Some("retry"));
    assert!(first.body_matches.as_ref().unwrap().is_match("id: 12"));
    assert_eq!(first.close_code, Some(1000));
    let StepKind::Expect(second) = &all[2] else {
        panic!("not an expect")
    };
    assert_eq!(
        second.sse,
        Some(SseExpect {
            event: Some("message".into()),
            id: Some("2".into()),
            data: Some("second".into()),
            retry: None,
        })
    );
}

#[test]
fn server_options_and_redactions_are_typed() {
    let source = "description: t
server:
  interval: 2s
  max_message_bytes: 100
  allow_origin: [http://a.example]
  heartbeat: 15s
  send_timeout: 5s
  log_capacity: 10
  subscriber_queue: 4
  max_connections: 3
  publisher_jwt_key: p
  subscriber_jwt_key: s
  private: [secret.*]
  host: [push.example.com]
  jsonp: false
redact:
  - { pattern: 'token=\\w+', name: token }
steps: []
";
    let spec = parse("t.yaml", source).unwrap();
    assert_eq!(
        spec.server,
        ServerOptions {
            interval: Some(Duration::from_secs(2)),
            max_message_bytes: Some(100),
            allow_origin: vec!["http://a.example".into()],
            heartbeat: Some(Duration::from_secs(15)),
            send_timeout: Some(Duration::from_secs(5)),
            log_capacity: Some(10),
            subscriber_queue: Some(4),
            max_connections: Some(3),
            publisher_jwt_key: Some("p".into()),
            subscriber_jwt_key: Some("s".into()),
            private: vec!["secret.*".into()],
            host: vec!["push.example.com".into()],
            jsonp: Some(false),
        }
    );
    assert_eq!(spec.redact[0].name, "token");
    assert!(spec.redact[0].pattern.is_match("token=abc"));
    assert!(!spec.uses_tick());
}

// Error rendering: the exact text a user sees.

#[test]
fn unknown_step_suggests_the_closest_kind() {
    assert_eq!(
        error("description: t\nsteps:\n  - open: sse\n  - sned: { to: sse, raw: x }\n"),
        "specs/t.yaml:4:5: unknown step 'sned' (did you mean 'send'?)
  |
4 |   - sned: { to: sse, raw: x }
  |     ^"
    );
}

#[test]
fn unknown_field_points_at_the_key() {
    assert_eq!(
        error("description: t\nsteps:\n  - open: sse\n  - send:\n      to: sse\n      rw: x\n"),
        "specs/t.yaml:6:7: unknown field 'rw' in send (did you mean 'raw'?)
  |
6 |       rw: x
  |       ^"
    );
    assert_eq!(
        error("description: t\nsteps:\n  - open: sse\n  - close: { name: sse }\n"),
        "specs/t.yaml:4:12: wrong type for 'close': expected a string, found map
  |
4 |   - close: { name: sse }
  |            ^"
    );
}

#[test]
fn fields_beside_their_step_point_at_the_indentation() {
    assert_eq!(
        error("description: t\nsteps:\n  - open: sse\n  - send:\n    to: sse\n    raw: x\n"),
        "specs/t.yaml:4:10: missing field 'to' in send ('to:' on line 5 is beside 'send:', not \
         under it: indent it past column 5)
  |
4 |   - send:
  |          ^"
    );
    // Properly indented but truly missing: no hint.
    assert_eq!(
        error("description: t\nsteps:\n  - open: sse\n  - send:\n      raw: x\n"),
        "specs/t.yaml:5:7: missing field 'to' in send
  |
5 |       raw: x
  |       ^"
    );
}

#[test]
fn wrong_type_names_the_field_and_both_types() {
    assert_eq!(
        error("description: t\nsteps:\n  - open: a\n  - expect: { on: a, status: ok }\n"),
        "specs/t.yaml:4:30: wrong type for 'status' in expect: expected a whole number 0-65535, \
         found string \"ok\"
  |
4 |   - expect: { on: a, status: ok }
  |                              ^"
    );
}

#[test]
fn bad_escape_points_into_the_string() {
    assert_eq!(
        error("description: t\nsteps:\n  - open: a\n  - send: { to: a, raw: 'GET\\q' }\n"),
        "specs/t.yaml:4:29: bad escape '\\q' (use \\r \\n \\t \\0 \\\\ or \\xNN with two hex digits)
  |
4 |   - send: { to: a, raw: 'GET\\q' }
  |                             ^"
    );
}

#[test]
fn unknown_connection_suggests_an_open_one() {
    assert_eq!(
        error("description: t\nsteps:\n  - open: sse\n  - read: { from: sde, until: head }\n"),
        "specs/t.yaml:4:19: unknown connection 'sde' (did you mean 'sse'?)
  |
4 |   - read: { from: sde, until: head }
  |                   ^"
    );
    assert_eq!(
        error("description: t\nsteps:\n  - open: a\n  - close: a\n  - send: { to: a, raw: x }\n"),
        "specs/t.yaml:5:17: connection 'a' was closed at line 4
  |
5 |   - send: { to: a, raw: x }
  |                 ^"
    );
}

#[test]
fn bad_yaml_points_where_the_unclosed_quote_starts() {
    assert_eq!(
        error("description: t\nsteps:\n  - send: { to: a, raw: 'x }\n"),
        "specs/t.yaml:3:25: found unexpected end of stream, while scanning a quoted scalar that \
         starts here
  |
3 |   - send: { to: a, raw: 'x }
  |                         ^"
    );
    assert_eq!(
        error("description: t\nsteps:\n\t- open: a\n"),
        "specs/t.yaml:3:1: found character that cannot start any token (a tab: YAML indents with \
         spaces only)
  |
3 | \t- open: a
  | ^"
    );
}

#[test]
fn semantic_errors_point_at_their_field() {
    let cases = [
        (
            "  - open: a\n  - frame: { to: a, opcode: text, rsv: 8 }\n",
            "4:40: rsv 8 is out of range 0-7",
        ),
        (
            "  - open: a\n  - frame: { to: a, opcode: 16 }\n",
            "4:29: opcode 16 is out of range 0-15",
        ),
        (
            "  - open: a\n  - frame: { to: a, opcode: text, mask: 37fa21 }\n",
            "4:41: mask '37fa21' is not 8 hex digits",
        ),
        (
            "  - open: a\n  - open: a\n",
            "4:5: connection 'a' is already open (opened at line 3)",
        ),
        (
            "  - open: a\n  - expect: { on: a, body_matches: '(' }\n",
            "4:36: bad regex '(': unclosed group",
        ),
        (
            "  - open: { name: a, server: b }\n",
            "3:30: unknown server 'b' (servers: main)",
        ),
        (
            "  - expect: { status: 200 }\n",
            "3:5: expect needs on: NAME",
        ),
        (
            "  - read: { from: a, until: hed }\n",
            "3:29: unknown until 'hed' (did you mean 'head'?)",
        ),
        (
            "  - tick: 5\n",
            "3:11: duration '5' needs a unit (ms, s, m)",
        ),
        (
            "  - open: a\n    close: a\n",
            "3:5: a step has exactly one key, but 'open' is followed by 'close'",
        ),
    ];
    for (steps, expected) in cases {
        let text = error(&format!("description: t\nsteps:\n{steps}"));
        assert!(
            text.starts_with(&format!("specs/t.yaml:{expected}")),
            "{steps}\ngave\n{text}\nexpected specs/t.yaml:{expected}"
        );
    }
}

#[test]
fn no_input_panics() {
    for source in [
        "",
        "-",
        ":",
        "steps:",
        "description: t\nsteps:\n  -\n",
        "description: t\nsteps: [1, [2]]\n",
        "description: t\nsteps:\n  - open: ''\n",
        "description: t\nsteps:\n  - send: { to: a, raw: '\\\\' }\n",
        "\u{feff}description: t\nsteps: []\n",
        "description: é\nsteps:\n  - é: ü\n",
        "description: t\nsteps:\n  - read: { from: a, until: { bytes: -1 } }\n",
    ] {
        let _ = parse("t.yaml", source).map_err(|e| e.to_string());
    }
}

#[test]
fn load_names_a_missing_file() {
    let error = load(Path::new("specs/does-not-exist.yaml")).unwrap_err();
    assert!(matches!(error, SpecError::Io { .. }));
    assert!(error.to_string().starts_with("specs/does-not-exist.yaml: "));
}

#[test]
fn no_mutation_of_a_spec_panics() {
    let source = "description: t\nservers: [a, b]\nredact:\n  - { pattern: 'x+', name: x }\nsteps:\n  - open: { name: w, server: b }\n  - handshake: { on: w, path: /echo, headers: { X: 1 } }\n  - frame: { to: w, opcode: close, code: 1000, reason: é, mask: '37fa213d' }\n  - send:\n      to: w\n      raw: 'a\\x00\\r\\n'\n  - read: { from: w, until: { string: 'b\\n' }, timeout: 1s }\n  - expect: { sse: { id: 1 }, body_matches: 'a|b' }\n  - tick: { by: 1s, server: a }\n  - close: w\n";
    assert!(parse("t.yaml", source).is_ok());
    let chars: Vec<char> = source.chars().collect();
    for at in 0..=chars.len() {
        for insert in ["", "\\", "'", "\t", "-", ":", "{", "é", "\n  - "] {
            let mut mutated: String = chars[..at].iter().collect();
            mutated.push_str(insert);
            // An empty insert deletes the character instead.
            let skip = usize::from(insert.is_empty());
            mutated.extend(chars.iter().skip(at + skip));
            if let Err(error) = parse("t.yaml", &mutated) {
                let _ = error.to_string();
            }
        }
    }
}

#[test]
fn send_http_with_a_body_gets_its_content_length_unless_the_head_names_one() {
    let steps = kinds(
        "  - open: c\n  - send: { to: c, http: \"POST /p HTTP/1.1\", body: \"héllo\" }\n  - send: { to: c, http: \"POST /p HTTP/1.1\\ncontent-length: 1\", body: \"x\" }\n  - send: { to: c, http: \"POST /p HTTP/1.1\\nTransfer-Encoding: chunked\", body: \"0\\r\\n\\r\\n\" }\n  - send: { to: c, http: \"GET / HTTP/1.1\" }\n",
    );
    let bytes: Vec<Vec<u8>> = steps
        .iter()
        .filter_map(|kind| match kind {
            StepKind::Send(send) => Some(send.bytes()),
            _ => None,
        })
        .collect();
    assert_eq!(
        bytes,
        [
            b"POST /p HTTP/1.1\r\nContent-Length: 6\r\n\r\nh\xc3\xa9llo".to_vec(),
            b"POST /p HTTP/1.1\r\ncontent-length: 1\r\n\r\nx".to_vec(),
            b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ]
    );
}

#[test]
fn request_and_capture_read_with_their_defaults_and_errors() {
    let steps = kinds(
        "  - request: { path: /p }\n  - capture: { name: id, json: /id }\n  - request: { on: r2, method: POST, path: /q, body: 1, status: 201 }\n  - capture: { on: request, name: t, header: ETag, redact: false }\n",
    );
    let StepKind::Request(first) = &steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        (first.on.as_str(), first.method.as_str(), first.status),
        ("request", "GET", None)
    );
    let StepKind::Capture(capture) = &steps[1] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        (capture.on.as_str(), &capture.source, capture.redact),
        ("request", &CaptureSource::Json("/id".into()), true)
    );
    let StepKind::Request(second) = &steps[2] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        (second.body.as_deref(), second.status),
        (Some(&b"1"[..]), Some(201))
    );
    for (yaml, message) in [
        (
            "  - request: { path: /p, method: \"GE T\" }\n",
            "is not an HTTP token",
        ),
        ("  - request: { path: p }\n", "should start with '/'"),
        (
            "  - request: { path: /p }\n  - capture: { name: x }\n",
            "capture needs one source",
        ),
        (
            "  - request: { path: /p }\n  - capture: { name: x, json: /a, header: B }\n",
            "capture takes one source",
        ),
        (
            "  - request: { path: /p }\n  - capture: { name: x, json: a }\n",
            "should start with '/' (RFC 6901)",
        ),
        (
            "  - request: { path: /p }\n  - capture: { name: x, sse: retry }\n",
            "unknown sse field",
        ),
        (
            "  - capture: { name: x, json: /a }\n",
            "capture needs on: NAME",
        ),
    ] {
        let error = crate::spec::parse("t.yaml", &format!("description: d\nsteps:\n{yaml}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{yaml}: {error}");
    }
}

#[test]
fn payloads_can_be_generated_by_repeat_or_read_from_a_file() {
    let dir = std::env::temp_dir().join(format!("longconn-payload-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("payloads")).expect("folder");
    std::fs::write(dir.join("payloads/x.bin"), b"\x00${a}\xff").expect("file");
    let source = "description: d\nsteps:\n  - open: c\n  - frame: { to: c, opcode: text, text: { repeat: ab, times: 3 } }\n  - frame: { to: c, opcode: binary, raw: { repeat: '\\x01', times: 2 } }\n  - frame: { to: c, opcode: binary, raw: { file: payloads/x.bin } }\n  - send: { to: c, http: 'POST / HTTP/1.1', body: { repeat: 'x', times: 4 } }\n";
    let path = dir.join("s.yaml");
    let spec = parse(&path.display().to_string(), source).expect("parses");
    let payloads: Vec<Vec<u8>> = spec
        .steps
        .iter()
        .filter_map(|step| match &step.kind {
            StepKind::Frame(frame) => Some(frame.payload.clone()),
            StepKind::Send(send) => Some(send.bytes()),
            _ => None,
        })
        .collect();
    assert_eq!(payloads[0], b"ababab");
    assert_eq!(payloads[1], b"\x01\x01");
    // `${` in a file is kept for variable replacement to give back as it is.
    assert_eq!(payloads[2], b"\x00$${a}\xff");
    assert_eq!(
        payloads[3],
        b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nxxxx"
    );
    let missing = parse(
        &path.display().to_string(),
        "description: d\nsteps:\n  - open: c\n  - frame: { to: c, opcode: text, text: { file: nope.bin } }\n",
    )
    .expect_err("missing file")
    .to_string();
    assert!(
        missing.contains(":4:") && missing.contains("payload file 'nope.bin' cannot be read"),
        "{missing}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generated_payloads_are_bounded() {
    let message = error(
        "description: d\nsteps:\n  - open: c\n  - frame: { to: c, opcode: text, text: { repeat: ab, times: 1000000000000 } }\n",
    );
    assert!(
        message.starts_with("specs/t.yaml:4:")
            && message.contains("over the 67108864 bytes one spec may generate"),
        "{message}"
    );
    let message = error(
        "description: d\nsteps:\n  - open: c\n  - frame: { to: c, opcode: text, text: { repeat: ab } }\n",
    );
    assert!(
        message.contains("payload: write { repeat: TEXT, times: N } or { file: PATH }"),
        "{message}"
    );
}

#[test]
fn a_billion_laughs_spec_is_refused_before_yaml_expands_it() {
    // Each level repeats the one before ten times: nine levels would be 10^9 strings.
    let mut source = String::from("description: d\nlol0: &l0 \"lol\"\n");
    for level in 1..10 {
        let refs = vec![format!("*l{}", level - 1); 10].join(", ");
        source.push_str(&format!("lol{level}: &l{level} [{refs}]\n"));
    }
    source.push_str("steps: []\n");
    let message = error(&source);
    assert!(
        message.starts_with("specs/t.yaml:3:") && message.contains("more than 8 YAML aliases"),
        "{message}"
    );
    // A few aliases are fine.
    let few = "description: d\nsteps:\n  - open: c\n  - frame: &f { to: c, opcode: text, text: hi }\n  - frame: *f\n";
    assert!(parse("specs/t.yaml", few).is_ok());
    // `*` inside words and paths is not an alias.
    assert!(parse(
        "specs/t.yaml",
        "description: 'room.* a*b x/*'\nserver: { private: [room.*, a*, b*, c*, d*, e*, f*, g*, h*] }\nsteps: []\n"
    )
    .is_ok());
    let big = format!("description: {}\nsteps: []\n", "x".repeat(MAX_SPEC_BYTES));
    assert!(error(&big).contains("over the 4194304 a spec may have"));
}

#[test]
fn target_redactions_and_embedded_only_are_kept_apart() {
    let source = "description: t\nembedded_only: ids from 1\nredact:\n  - { pattern: 'a', name: a }\n  - { pattern: '\"id\":(\\d+)', name: id, target: true }\nsteps:\n  - open: c\n";
    let spec = parse("specs/t.yaml", source).expect("parses");
    assert_eq!(spec.embedded_only.as_deref(), Some("ids from 1"));
    assert_eq!(
        (spec.redact.len(), spec.target_redact.len()),
        (1, 1),
        "{spec:?}"
    );
    assert_eq!(spec.target_redact[0].name, "id");
    assert!(
        error("description: t\nredact:\n  - { pattern: a, name: a, target: 1 }\nsteps: []\n")
            .contains("specs/t.yaml:")
    );
}
