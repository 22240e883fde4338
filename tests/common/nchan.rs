//! Nchan (Debian's `nginx-light` + `libnginx-mod-nchan`) on a plain port of its own, serving the
//! contract's paths plus a long-poll subscriber ([`nginx::NCHAN_LOCATIONS`]). Ended with SIGTERM
//! when dropped; its folder goes too.

use super::child::{ChildServer, Folder};
use super::{free_port, nginx};

/// A running nginx with Nchan.
pub struct Nchan {
    _server: ChildServer,
    /// Its plain HTTP port.
    pub plain: u16,
}

impl Nchan {
    /// Starts nginx with Nchan on a free port.
    pub fn start() -> Nchan {
        nginx::require(true);
        let plain = free_port();
        let http = format!(
            "server {{\n    listen 127.0.0.1:{plain};\n    {}\n  }}",
            nginx::NCHAN_LOCATIONS
        );
        let server = nginx::start(Folder::new("nchan"), &nginx::with_nchan(), &http, &[plain]);
        Nchan {
            _server: server,
            plain,
        }
    }
}
