//! nginx (Debian's `nginx-light`, Nchan from `libnginx-mod-nchan`) as a [`ChildServer`]: a
//! config written at test time under its folder (the `-p` prefix: pid, logs, temp paths), one
//! process tree in the foreground (`daemon off`).

use std::path::Path;
use std::process::Command;

use super::child::{ChildServer, Folder};
use super::missing_tool;

pub const NGINX: &str = "/usr/sbin/nginx";
pub const NCHAN: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/// The contract's paths served by Nchan, for a `server` block: publish (keeping 100 messages for
/// an hour), SSE, WebSocket and long-poll subscribers, each on the channel `?channel=` names.
pub const NCHAN_LOCATIONS: &str = "location = /publish { nchan_publisher http; nchan_channel_id $arg_channel; nchan_message_buffer_length 100; nchan_message_timeout 1h; }
    location = /sseStream { nchan_subscriber eventsource; nchan_channel_id $arg_channel; }
    location = /ws { nchan_subscriber websocket; nchan_channel_id $arg_channel; }
    location = /longpoll { nchan_subscriber longpoll; nchan_channel_id $arg_channel; }";

/// Top-level directives that load Nchan, with one worker.
pub fn with_nchan() -> String {
    format!("load_module {NCHAN};\nworker_processes 1;")
}

/// Fails the test with what to install unless nginx (and, with `nchan`, the Nchan module) is
/// there.
pub fn require(nchan: bool) {
    if !Path::new(NGINX).exists() {
        missing_tool(format_args!(
            "{NGINX} not found: apt-get install nginx-light (or tests/run)"
        ));
    }
    if nchan && !Path::new(NCHAN).exists() {
        missing_tool(
            "the Nchan module is not installed: apt-get install nginx-light libnginx-mod-nchan \
             (or tests/run)",
        );
    }
}

/// Writes `FOLDER/nginx.conf` (`main` directives, then an `http` block holding `http`), starts
/// nginx on it and waits until every port of `ports` accepts connections.
pub fn start(folder: Folder, main: &str, http: &str, ports: &[u16]) -> ChildServer {
    let p = folder.path().display();
    let config = format!(
        "{main}
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {p}/body;
  proxy_temp_path {p}/proxy;
  fastcgi_temp_path {p}/fastcgi;
  uwsgi_temp_path {p}/uwsgi;
  scgi_temp_path {p}/scgi;
  {http}
}}
"
    );
    let path = folder.join("nginx.conf");
    std::fs::write(&path, config).expect("write nginx.conf");
    let mut command = Command::new(NGINX);
    // `-e`: the log nginx opens before it reads the config, in the folder too.
    command
        .arg("-p")
        .arg(folder.path())
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(folder.join("error.log"));
    // Its stderr into the error log too: a failed start shows nginx's own reason.
    ChildServer::start("nginx", &mut command, folder, "error.log", ports)
}
