//! The behaviour catalogue: every `specs/**/*.yaml` replayed against its own embedded server
//! (manual clock, `127.0.0.1:0`), its transcript asserted against `snapshots/specs@<path>.snap`.
//! `longconn run` reads and writes the very same files (see `src/runner/snapshot.rs`), so
//! `cargo insta review` works on what either produced.
//!
//! Specs under `specs/seed/` are written for the article's Node servers (`tests/article/`, replayed
//! by `tests/article.rs`) and run only with
//! `longconn run --target`; here each of them is still loaded and must have its snapshot, and is
//! reported as skipped — never dropped silently.

use std::path::Path;

use longconn::runner::{self, Target};

#[test]
fn specs() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("../specs", "**/*.yaml", |path| {
            let spec = match longconn::spec::load(path) {
                Ok(spec) => spec,
                Err(error) => panic!("{error}"),
            };
            if runner::cli::needs_target(path) {
                let snapshot = runner::snapshot::locate(path);
                assert!(
                    snapshot.path.exists(),
                    "{} has no snapshot {} (record it with `longconn run --target ...`)",
                    path.display(),
                    snapshot.path.display()
                );
                println!("skipped {} (needs --target)", path.display());
                return;
            }
            let transcript =
                match async_std::task::block_on(runner::replay(&spec, &Target::Embedded)) {
                    Ok(transcript) => transcript.to_string(),
                    Err(error) => panic!("{error}"),
                };
            insta::assert_snapshot!(transcript);
        });
    });
}

/// The runner's own snapshot names agree with the ones `insta::glob!` gives above.
#[test]
fn runner_and_insta_name_snapshots_alike() {
    let location = runner::snapshot::locate(Path::new("specs/sse_first_bytes.yaml"));
    assert_eq!(
        location.path,
        Path::new("snapshots/specs@sse_first_bytes.yaml.snap")
    );
}

/// `specs/longconn.schema.json` (what the specs' `yaml-language-server` modelines point at) is
/// what `longconn schema` prints today; regenerate it with `longconn schema > specs/longconn.schema.json`.
#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/longconn.schema.json"),
    )
    .unwrap_or_default();
    assert_eq!(
        committed.trim_end(),
        longconn::spec::schema::schema_json().trim_end(),
        "run `cargo run -- schema > specs/longconn.schema.json`"
    );
}
