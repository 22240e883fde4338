//! The aiohttp server of `tests/thirdparty/aiohttp_server.py` (PyPI's aiohttp, pinned in
//! `tests/requirements.txt`) as a [`ChildServer`]: plain HTTP, or https and wss with a
//! certificate.

use std::path::Path;
use std::process::{Command, Stdio};

use super::child::{ChildServer, Folder};
use super::missing_tool;

/// Starts the aiohttp server on `port` (with `tls`, a certificate and its key: https and wss),
/// its log in `folder`; fails the test with what to install when python3 or aiohttp is missing.
pub fn start(port: u16, tls: Option<(&Path, &Path)>, folder: Folder) -> ChildServer {
    let importable = Command::new("python3")
        .args(["-c", "import aiohttp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !importable {
        missing_tool(
            "python3 with aiohttp not found: run tests/run (or python3 -m pip install -r \
             tests/requirements.txt)",
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/thirdparty/aiohttp_server.py");
    let mut command = Command::new("python3");
    command.arg(&script).arg(port.to_string());
    if let Some((cert, key)) = tls {
        command.arg(cert).arg(key);
    }
    ChildServer::start(
        "the aiohttp server",
        &mut command,
        folder,
        "stderr.log",
        &[port],
    )
}
