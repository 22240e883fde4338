//! The fast responders (`FAST_RESPONDERS` in `src/server/mod.rs`) answer byte for byte as the
//! tide routes of the same paths: every spec of the catalogue (`specs/**/*.yaml`, but not those
//! that need `--target`) is replayed against an embedded server with them and one without them
//! (`Config::fast_responders` off), and the two transcripts must be identical.

use std::path::{Path, PathBuf};

use longconn::runner::{self, Options, Target};

/// Every spec file under `dir`, in path order.
fn specs_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read specs/")
        .map(|entry| entry.expect("read specs/").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            specs_under(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "yaml") {
            found.push(path);
        }
    }
}

/// The transcript of `path` replayed with fast responders on or off (an error's text, when the
/// replay failed, so a failure on one side only is a difference too).
async fn transcript(path: PathBuf, without_fast_responders: bool) -> String {
    let spec = longconn::spec::load(&path).unwrap_or_else(|error| panic!("{error}"));
    let options = Options {
        without_fast_responders,
        ..Options::default()
    };
    let recording = runner::record_with(&spec, &Target::Embedded, &options).await;
    match recording.result {
        Ok(()) => recording.transcript.to_string(),
        Err(error) => format!("{}\nfailed: {error}", recording.transcript),
    }
}

#[test]
fn every_spec_replays_byte_identical_with_and_without_fast_responders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let mut paths = Vec::new();
    specs_under(&root, &mut paths);
    paths.retain(|path| !runner::cli::needs_target(path));
    assert!(paths.len() > 100, "specs/ holds the catalogue");
    let differing = async_std::task::block_on(async {
        let mut differing = Vec::new();
        // A few specs at a time, each replayed both ways at once.
        for batch in paths.chunks(8) {
            let replays: Vec<_> = batch
                .iter()
                .map(|path| {
                    let (a, b) = (path.clone(), path.clone());
                    let on = async_std::task::spawn(transcript(a, false));
                    let off = async_std::task::spawn(transcript(b, true));
                    (path.clone(), on, off)
                })
                .collect();
            for (path, on, off) in replays {
                let (on, off) = (on.await, off.await);
                if on != off {
                    differing.push(format!(
                        "{}:\n--- with fast responders\n{on}\n--- without\n{off}",
                        path.display()
                    ));
                }
            }
        }
        differing
    });
    assert!(
        differing.is_empty(),
        "{} spec(s) differ without fast responders:\n{}",
        differing.len(),
        differing.join("\n")
    );
}
