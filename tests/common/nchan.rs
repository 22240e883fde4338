//! Nchan (Debian's `nginx-light` + `libnginx-mod-nchan`) as a child server: the contract's paths
//! plus a long-poll subscriber, on a plain port and, given a CA, on a TLS port with a
//! certificate for `localhost` it signs. Ended with SIGTERM when dropped; its folder goes too.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tls::Authority;
use super::{free_port, missing_tool, terminate};

const NGINX: &str = "/usr/sbin/nginx";
const MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/// How long nginx may take to start listening.
const START_GUARD: Duration = Duration::from_secs(20);

/// A running nginx with Nchan.
pub struct Nchan {
    child: Child,
    /// Its folder: configuration, certificates, logs.
    pub dir: PathBuf,
    /// Plain HTTP.
    pub plain: u16,
    /// TLS with a certificate for `localhost` (0 without a CA).
    pub tls: u16,
}

impl Drop for Nchan {
    fn drop(&mut self) {
        terminate(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Publish, EventSource, WebSocket and long-poll subscribers; the channel from `?channel=`.
const LOCATIONS: &str = "location = /publish { nchan_publisher http; nchan_channel_id $arg_channel; nchan_message_buffer_length 100; nchan_message_timeout 1h; }
    location = /sseStream { nchan_subscriber eventsource; nchan_channel_id $arg_channel; }
    location = /ws { nchan_subscriber websocket; nchan_channel_id $arg_channel; }
    location = /longpoll { nchan_subscriber longpoll; nchan_channel_id $arg_channel; }";

impl Nchan {
    /// Starts nginx on free ports; with `ca`, also a TLS port whose certificate `ca` signs.
    pub fn start(ca: Option<&Authority>) -> Nchan {
        if !Path::new(NGINX).exists() || !Path::new(MODULE).exists() {
            missing_tool("nginx with Nchan is not installed: apt-get install nginx-light libnginx-mod-nchan (or tests/run)");
        }
        let dir = std::env::temp_dir().join(format!(
            "longconn-nchan-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let d = dir.display();
        let plain = free_port();
        let mut servers =
            format!("server {{\n    listen 127.0.0.1:{plain};\n    {LOCATIONS}\n  }}");
        let tls = match ca {
            Some(ca) => {
                let (cert, key) = ca.sign(&["localhost"], false);
                std::fs::write(dir.join("localhost.pem"), cert).expect("write a certificate");
                std::fs::write(dir.join("localhost.key"), key).expect("write a key");
                std::fs::write(dir.join("ca.pem"), &ca.pem).expect("write ca.pem");
                let port = free_port();
                servers.push_str(&format!(
                    "\n  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {d}/localhost.pem; ssl_certificate_key {d}/localhost.key;\n    {LOCATIONS}\n  }}"
                ));
                port
            }
            None => 0,
        };
        let config = format!(
            "load_module {MODULE};
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  ssl_protocols TLSv1.2 TLSv1.3;
  {servers}
}}
"
        );
        std::fs::write(dir.join("nginx.conf"), config).expect("write nginx.conf");
        let log = dir.join("stderr.log");
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the log"))
            .spawn()
            .expect("start nginx");
        let mut nchan = Nchan {
            child,
            dir,
            plain,
            tls,
        };
        // Waiting for another process to listen is the one wait here.
        let deadline = Instant::now() + START_GUARD;
        loop {
            if [plain, tls]
                .iter()
                .filter(|port| **port != 0)
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok())
            {
                return nchan;
            }
            if let Ok(Some(status)) = nchan.child.try_wait() {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("nginx exited ({status}) before listening:\n{output}");
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within {START_GUARD:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The CA file (with a CA).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}
