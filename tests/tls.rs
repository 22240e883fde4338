//! The kit over TLS against a server nobody here wrote: Debian's nginx (`nginx-light`, with
//! Nchan from `libnginx-mod-nchan`) terminating https and wss with certificates made here at test
//! time (rcgen): a CA of our own and, signed by it, one certificate per server block.
//!
//! - `tls_specs_pass_with_cacert` — `specs/thirdparty/tls/` over `https://localhost:PORT` and
//!   `wss://127.0.0.1:PORT` with `--cacert`: Nchan's SSE, WebSocket and publish through TLS,
//!   and SNI (sent for a name, not for an IP address: nginx picks each certificate by it).
//! - `the_machines_roots_are_trusted` — the same with the CA as the machine's roots
//!   (`SSL_CERT_FILE`) and no `--cacert`.
//! - `insecure_takes_any_certificate` — `specs/thirdparty/tls_insecure/` with `--insecure`
//!   against a certificate for another name, from a CA nobody trusts.
//! - `aiohttp_over_tls_passes` — `specs/thirdparty/tls_aiohttp/` against the aiohttp server of
//!   `tests/thirdparty.rs` serving https and wss (Python's `ssl`, PyPI's aiohttp).
//! - `handshake_failures_name_what_is_wrong` — unknown issuer, a name mismatch, an expired
//!   certificate and a plain-HTTP port each fail the step with a message that says so.
//!
//! The only polling is the bounded readiness loop while a server starts listening.

mod common;

use common::child::{ChildServer, Folder};
use common::tls::Authority;
use common::{aiohttp, free_port, nginx};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// nginx with its TLS ports, ended with SIGTERM when the test is done; its folder goes too.
struct Nginx {
    server: ChildServer,
    /// SNI picks the certificate: `localhost` gets one for `localhost`, no SNI the default
    /// server's, for the IP address `127.0.0.1`. Nchan behind both.
    main: u16,
    /// A certificate for `other.test` only.
    wrong_name: u16,
    /// A certificate for `localhost` that expired on 2020-01-01.
    expired: u16,
    /// Plain HTTP.
    plain: u16,
}

/// What the Nchan locations and `/tls` answer on every TLS server block.
fn locations() -> String {
    format!(
        r#"{}
    location = /tls {{ default_type text/plain; return 200 "sni=\"$ssl_server_name\" alpn=$ssl_alpn_protocol protocol=$ssl_protocol\n"; }}"#,
        nginx::NCHAN_LOCATIONS
    )
}

/// Makes the certificates under a fresh folder and starts nginx on four free ports.
fn start(ca: &Authority) -> Nginx {
    nginx::require(true);
    let dir = Folder::new("tls");
    let untrusted = Authority::new("a CA nobody trusts");
    for (name, (cert, key)) in [
        ("localhost", ca.sign(&["localhost"], false)),
        ("ip", ca.sign(&["127.0.0.1"], false)),
        ("other", untrusted.sign(&["other.test"], false)),
        ("other-trusted", ca.sign(&["other.test"], false)),
        ("expired", ca.sign(&["localhost"], true)),
    ] {
        std::fs::write(dir.join(format!("{name}.pem")), cert).expect("write a certificate");
        std::fs::write(dir.join(format!("{name}.key")), key).expect("write a key");
    }
    let (main, wrong_name, expired, plain, untrusted_port) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let d = dir.path().display();
    let l = locations();
    let http = format!(
        "ssl_protocols TLSv1.2 TLSv1.3;
  server {{
    listen 127.0.0.1:{main} ssl default_server;
    ssl_certificate {d}/ip.pem; ssl_certificate_key {d}/ip.key;
    {l}
  }}
  server {{
    listen 127.0.0.1:{main} ssl;
    server_name localhost;
    ssl_certificate {d}/localhost.pem; ssl_certificate_key {d}/localhost.key;
    {l}
  }}
  server {{
    listen 127.0.0.1:{wrong_name} ssl;
    ssl_certificate {d}/other-trusted.pem; ssl_certificate_key {d}/other-trusted.key;
    {l}
  }}
  server {{
    listen 127.0.0.1:{untrusted_port} ssl;
    ssl_certificate {d}/other.pem; ssl_certificate_key {d}/other.key;
    {l}
  }}
  server {{
    listen 127.0.0.1:{expired} ssl;
    ssl_certificate {d}/expired.pem; ssl_certificate_key {d}/expired.key;
    {l}
  }}
  server {{
    listen 127.0.0.1:{plain};
    {l}
  }}"
    );
    std::fs::write(dir.join("ca.pem"), &ca.pem).expect("write ca.pem");
    std::fs::write(dir.join("untrusted-port"), untrusted_port.to_string()).expect("write");
    let ports = [main, wrong_name, expired, plain, untrusted_port];
    Nginx {
        server: nginx::start(dir, &nginx::with_nchan(), &http, &ports),
        main,
        wrong_name,
        expired,
        plain,
    }
}

impl Nginx {
    /// A file in nginx's folder.
    fn file(&self, name: &str) -> PathBuf {
        self.server.folder().join(name)
    }

    fn ca(&self) -> PathBuf {
        self.file("ca.pem")
    }

    fn untrusted(&self) -> u16 {
        std::fs::read_to_string(self.file("untrusted-port"))
            .ok()
            .and_then(|port| port.parse().ok())
            .expect("the untrusted port")
    }
}

/// `longconn run ARGS...` from the project folder, with `SSL_CERT_FILE` as the machine's roots:
/// a CA of its own that signs none of the test's certificates, unless `roots` names a file.
fn longconn(args: &[&str], roots: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_longconn"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("run")
        .args(args)
        .env("SSL_CERT_FILE", roots)
        .env_remove("SSL_CERT_DIR")
        .output()
        .expect("run longconn")
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A roots file holding one CA that signs nothing here.
fn foreign_roots(nginx: &Nginx) -> PathBuf {
    let path = nginx.file("foreign-roots.pem");
    std::fs::write(&path, Authority::new("someone else's CA").pem).expect("write roots");
    path
}

fn assert_passes(output: &Output, count: usize) {
    let all = text(output);
    assert!(output.status.success(), "{all}");
    assert!(all.contains(&format!("{count} passed, 0 failed")), "{all}");
}

#[test]
fn tls_specs_pass_with_cacert() {
    let nginx = start(&Authority::new("longconn test CA"));
    let ca = nginx.ca();
    let output = longconn(
        &[
            "specs/thirdparty/tls",
            "--target",
            &format!("https://localhost:{}", nginx.main),
            "--target",
            &format!("bare=wss://127.0.0.1:{}", nginx.main),
            "--cacert",
            ca.to_str().expect("a UTF-8 path"),
        ],
        &foreign_roots(&nginx),
    );
    assert_passes(&output, 2);
}

#[test]
fn the_machines_roots_are_trusted() {
    let nginx = start(&Authority::new("longconn test CA"));
    let output = longconn(
        &[
            "specs/thirdparty/tls",
            "--target",
            &format!("https://localhost:{}", nginx.main),
            "--target",
            &format!("bare=wss://127.0.0.1:{}", nginx.main),
        ],
        &nginx.ca(),
    );
    assert_passes(&output, 2);
}

#[test]
fn insecure_takes_any_certificate() {
    let nginx = start(&Authority::new("longconn test CA"));
    let output = longconn(
        &[
            "specs/thirdparty/tls_insecure",
            "--target",
            &format!("https://localhost:{}", nginx.untrusted()),
            "--insecure",
        ],
        &foreign_roots(&nginx),
    );
    assert_passes(&output, 1);
}

#[test]
fn handshake_failures_name_what_is_wrong() {
    let nginx = start(&Authority::new("longconn test CA"));
    let ca = nginx.ca();
    let ca = ca.to_str().expect("a UTF-8 path");
    let roots = foreign_roots(&nginx);
    let spec = "specs/thirdparty/tls_insecure";
    let cases = [
        (
            nginx.untrusted(),
            None,
            "the certificate's issuer is unknown (not among the machine's roots or --cacert; \
             --insecure skips the check)",
        ),
        (
            nginx.main,
            None,
            "the certificate's issuer is unknown (not among the machine's roots or --cacert; \
             --insecure skips the check)",
        ),
        (
            nginx.wrong_name,
            Some(ca),
            "the certificate is not valid for localhost (it names only other.test)",
        ),
        (
            nginx.expired,
            Some(ca),
            "the certificate expired (on 2020-01-01T00:00:00Z)",
        ),
        (nginx.plain, Some(ca), "the server did not answer in TLS"),
    ];
    for (port, cacert, message) in cases {
        let target = format!("https://localhost:{port}");
        let mut args = vec![spec, "--target", &target];
        if let Some(ca) = cacert {
            args.extend(["--cacert", ca]);
        }
        let output = longconn(&args, &roots);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(1), "{all}");
        let expected = format!(
            "specs/thirdparty/tls_insecure/tls_insecure_takes_any_certificate.yaml:6: request on \
             request GET /tls: TLS handshake with localhost:{port} failed: {message}"
        );
        assert!(all.contains(&expected), "expected {expected:?} in:\n{all}");
    }
}

#[test]
fn aiohttp_over_tls_passes() {
    let ca = Authority::new("longconn test CA");
    // nginx is only borrowed for its CA file and a foreign roots file.
    let nginx = start(&ca);
    let (cert, key) = ca.sign(&["localhost"], false);
    let dir = Folder::new("tls-aiohttp");
    let (cert_file, key_file) = (dir.join("aiohttp.pem"), dir.join("aiohttp.key"));
    std::fs::write(&cert_file, cert).expect("write the certificate");
    std::fs::write(&key_file, key).expect("write the key");
    let port = free_port();
    let server = aiohttp::start(port, Some((&cert_file, &key_file)), dir);
    let ca_file = nginx.ca();
    let output = longconn(
        &[
            "specs/thirdparty/tls_aiohttp",
            "--target",
            &format!("https://localhost:{port}/app"),
            "--cacert",
            ca_file.to_str().expect("a UTF-8 path"),
        ],
        &foreign_roots(&nginx),
    );
    drop(server);
    assert_passes(&output, 1);
}
