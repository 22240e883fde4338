//! The command line as a user meets it: `serve` options that specs can set too (`--log-capacity`,
//! `--subscriber-queue`, `--heartbeat`) and `--interval` in hours, what `run --help` tells,
//! `run --color`, and the catalogue replayed twice against one `longconn serve --store memory`.

mod common;

use std::process::{Command, Output, Stdio};

use common::serve::Serve;

fn longconn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_longconn"))
        .args(args)
        .output()
        .expect("run longconn")
}

#[test]
fn serve_keeps_log_capacity_messages_per_channel() {
    let server = Serve::spawn(
        &[
            "--store",
            "memory",
            "--log-capacity",
            "2",
            "--subscriber-queue",
            "8",
            "--heartbeat",
            "10s",
            "--interval",
            "1h",
        ],
        Stdio::inherit(),
    );
    for data in ["one", "two", "three"] {
        let answer = server.request("POST /publish?channel=c HTTP/1.1", data);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let answer = server.request("GET /poll?channel=c&since=0 HTTP/1.1", "");
    assert!(
        !answer.contains(r#""one""#),
        "log capacity 2 kept 'one': {answer}"
    );
    assert!(
        answer.contains(r#""two""#) && answer.contains(r#""three""#),
        "{answer}"
    );
}

#[test]
fn serve_refuses_options_out_of_range() {
    for (option, value, says) in [
        ("--log-capacity", "0", "0 is not in 1..=1000000"),
        ("--subscriber-queue", "0", "0 is not in 1..=1000000"),
        ("--heartbeat", "10ms", "under 100ms"),
        ("--publish-window", "many", "neither a number of messages"),
        ("--interval", "1d", "unknown unit 'd' (ms, s, m, h)"),
    ] {
        let output = longconn(&["serve", "--addr", "127.0.0.1:0", option, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{option} {value}: {stderr}");
        assert!(stderr.contains(says), "{option} {value}: {stderr}");
    }
}

#[test]
fn run_help_lists_exit_codes_and_where_snapshots_go() {
    let output = longconn(&["run", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for line in [
        "snapshots/specs@PATH.yaml.snap",
        ".snap.new",
        "0  every spec matches its snapshot",
        "2  a spec could not be read",
        "3  the target could not be reached",
    ] {
        assert!(help.contains(line), "run --help lacks {line:?}:\n{help}");
    }
}

#[test]
fn the_catalogue_replays_twice_against_one_running_serve() {
    // One server for both rounds: state the first round leaves (channels, ids, the ticker's
    // messages on `default`) must not fail the second. `--interval 1h` keeps the ticker quiet
    // enough that a failure is never the clock's.
    let server = Serve::spawn(&["--store", "memory", "--interval", "1h"], Stdio::inherit());
    let target = format!("http://{}", server.addr);
    for round in ["first", "second"] {
        let output = Command::new(env!("CARGO_BIN_EXE_longconn"))
            .args(["run", "--target", &target])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run longconn run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{round} round failed:\n{stdout}\n{stderr}"
        );
        let summary = stdout.lines().last().unwrap_or_default();
        assert!(
            summary.contains(" passed, 0 failed, ") && !summary.contains("unreadable"),
            "{round} round: {summary}"
        );
        let passed: usize = summary
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(passed >= 100, "{round} round: {summary}");
        for line in stdout.lines().filter(|l| l.starts_with("skipped ")) {
            // `skipped PATH (REASON)`: every skip says why.
            let reason = line.split_once(" (").map(|(_, r)| r.trim_end_matches(')'));
            assert!(
                reason.is_some_and(|r| r.len() > 10),
                "{round} round: a skip without its reason: {line}"
            );
        }
    }
}

#[test]
fn run_color_always_paints_the_diff_and_never_leaves_it_plain() {
    // A project of one spec whose snapshot holds another transcript: the run prints a diff.
    let project = std::env::temp_dir().join(format!("longconn-color-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("specs")).expect("make specs/");
    std::fs::create_dir_all(project.join("snapshots")).expect("make snapshots/");
    std::fs::write(
        project.join("specs/x.yaml"),
        "description: d\nsteps:\n  - open: c\n  - close: c\n",
    )
    .expect("write the spec");
    std::fs::write(
        project.join("snapshots/specs@x.yaml.snap"),
        "---\nsource: tests/specs.rs\nexpression: transcript\ninput_file: specs/x.yaml\n---\n\
         * step 1 (line 3): open c\n* step 2 (line 4): close d\n",
    )
    .expect("write the snapshot");
    let run = |color: &str, no_color: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_longconn"));
        command
            .args(["run", "--color", color])
            .current_dir(&project)
            .env_remove("NO_COLOR");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let output = command.output().expect("run longconn run");
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // no-color.org: an explicit option overrides NO_COLOR.
    let always = run("always", Some("1"));
    for painted in [
        "\x1b[31mFAILED\x1b[0m  specs/x.yaml",
        "  \x1b[36m@@ -1,2 +1,2 @@\x1b[0m",
        "  \x1b[31m-* step 2 (line 4): close d\x1b[0m",
        "  \x1b[32m+* step 2 (line 4): close c\x1b[0m",
        "   * step 1 (line 3): open c",
    ] {
        assert!(always.contains(painted), "lacks {painted:?}:\n{always}");
    }
    for plain in [
        run("never", None),
        run("auto", None),
        run("auto", Some("1")),
    ] {
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(
            plain.contains("  -* step 2 (line 4): close d\n  +* step 2 (line 4): close c"),
            "{plain}"
        );
    }
    let _ = std::fs::remove_dir_all(&project);
}
