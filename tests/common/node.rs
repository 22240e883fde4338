//! Node.js for the tests: the npm folders under `tests/` (each installed by `tests/run`, or
//! `npm ci` there) and the `node` processes started from them; a missing `node` or npm package
//! fails the test with one line saying what to install.

use std::path::PathBuf;
use std::process::{Child, Command};

use super::missing_tool;

/// `tests/FOLDER`, once `package` is installed in its `node_modules`; `what` names what needs it.
pub fn npm_folder(folder: &str, package: &str, what: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(folder);
    if !dir.join("node_modules").join(package).is_dir() {
        missing_tool(format_args!(
            "{what}: the npm package {package} is not installed in {}: run tests/run (or `npm ci` \
             there)",
            dir.display()
        ));
    }
    dir
}

/// Spawns `command`, a `node` one; `what` names what needs Node.js.
pub fn spawn(command: &mut Command, what: &str) -> Child {
    match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing_tool(format_args!(
            "no `node` on PATH: {what} needs Node.js 20 or later"
        )),
        Err(e) => panic!("cannot run `node`: {e}"),
    }
}
