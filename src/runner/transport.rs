//! The byte stream under a runner connection: plain TCP for `http`/`ws` targets, TLS over TCP
//! (rustls) for `https`/`wss` ones, and [`Tls`], the client settings it is made with: the
//! machine's trusted roots plus `--cacert FILE`, or `--insecure`. Steps see decrypted bytes only.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_std::net::{Shutdown, TcpStream};
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use futures_rustls::client::TlsStream;
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::client::WebPkiServerVerifier;
use futures_rustls::rustls::crypto::{self, CryptoProvider};
use futures_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore,
    SignatureScheme,
};
use futures_rustls::TlsConnector;

/// The one application protocol offered (RFC 7301 §3.1): every step speaks HTTP/1.1, and a
/// WebSocket upgrade needs it (RFC 8441 would be HTTP/2).
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// How long a TLS close (sending close_notify) may take before the socket is shut anyway.
const CLOSE_GUARD: Duration = Duration::from_secs(1);

/// TLS client settings for `https` and `wss` targets; cheap to clone.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    insecure: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// Why the TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// `--cacert` names a file that cannot be read.
    #[error("--cacert {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// `--cacert` names a file that is not PEM certificates.
    #[error("--cacert {}: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither the machine nor `--cacert` gave a root to trust.
    #[error("no trusted root certificates: none found on this machine (install Debian's ca-certificates, or set SSL_CERT_FILE) and no --cacert FILE given")]
    NoRoots,
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

impl Tls {
    /// [`Tls::new`] when a URL `wants` TLS or `cacert`/`insecure` asked for it; `None` otherwise
    /// (reading the machine's roots takes a moment, so a plain-HTTP run skips it).
    pub fn when_needed(
        wants: bool,
        cacert: Option<&Path>,
        insecure: bool,
    ) -> Result<Option<Tls>, TlsSetupError> {
        if wants || cacert.is_some() || insecure {
            Tls::new(cacert, insecure).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Trusts the machine's roots (as curl does: `/etc/ssl/certs`, or `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR`) and every certificate of the PEM file `cacert`; with `insecure`, trusts
    /// any certificate and reads no roots.
    pub fn new(cacert: Option<&Path>, insecure: bool) -> Result<Tls, TlsSetupError> {
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            // A machine root that webpki cannot use is skipped, as curl skips it.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if let Some(path) = cacert {
                for certificate in read_pem(path)? {
                    roots.add(certificate).map_err(|error| TlsSetupError::Pem {
                        path: path.to_path_buf(),
                        reason: format!("a certificate that cannot be a root: {error}"),
                    })?;
                }
            }
            if roots.is_empty() {
                return Err(TlsSetupError::NoRoots);
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build();
            let verifier = verifier.map_err(|error| rustls::Error::General(error.to_string()))?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        };
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            insecure,
        })
    }

    /// Whether certificates go unchecked (`--insecure`).
    pub fn insecure(&self) -> bool {
        self.insecure
    }
}

/// Every certificate of a PEM file (`-----BEGIN CERTIFICATE-----` blocks; other blocks, such as
/// a key, are skipped).
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bytes = std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsSetupError::Pem {
            path: path.to_path_buf(),
            reason: format!("not PEM: {error}"),
        })?;
    if certificates.is_empty() {
        return Err(TlsSetupError::Pem {
            path: path.to_path_buf(),
            reason: "no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certificates)
}

/// `--insecure`: any certificate is taken, but the handshake's signatures are still checked
/// (the peer must hold the key of the certificate it sent; only who vouches for it is ignored).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS server to connect to: the settings, and the host of the target URL (its SNI name and
/// the name its certificate must carry).
#[derive(Debug, Clone)]
pub struct TlsTarget {
    /// The client settings.
    pub tls: Tls,
    /// The URL's host, without brackets.
    pub host: String,
}

/// A runner connection's stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum Stream {
    /// `http`, `ws`.
    Plain(TcpStream),
    /// `https`, `wss`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Closes both directions: for TLS, first a close_notify alert (RFC 8446 §6.1), which the
    /// peer may never read; either way the socket is shut. Best effort: the peer may be gone.
    pub async fn close(&mut self) {
        if let Stream::Tls(tls) = self {
            let _ = async_std::future::timeout(CLOSE_GUARD, tls.close()).await;
        }
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
        }
    }
}

/// What a TLS handshake settled, as the transcript notes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The protocol the server chose from our offer (RFC 7301), if it chose one.
    pub alpn: Option<String>,
    /// Whether the certificate went unchecked (`--insecure`).
    pub insecure: bool,
}

impl Negotiated {
    /// The transcript's note: `tls: TLSv1.3, alpn http/1.1`. Only what a server's settings fix:
    /// never the cipher suite, the key exchange group or a session ticket, which a server may
    /// pick differently from one connection to the next.
    pub fn note(&self) -> String {
        let mut note = format!(
            "tls: {}, alpn {}",
            self.version,
            self.alpn.as_deref().unwrap_or("none")
        );
        if self.insecure {
            note.push_str(", certificate not verified (--insecure)");
        }
        note
    }
}

/// `TLSv1.3` for rustls's version.
fn version_name(version: Option<ProtocolVersion>) -> String {
    match version {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "unknown version".into(),
    }
}

/// A stream ready for a step's bytes, and what its TLS handshake settled (none for plain TCP).
#[derive(Debug)]
pub struct Connected {
    /// The stream.
    pub stream: Stream,
    /// The handshake's outcome, for TLS.
    pub negotiated: Option<Negotiated>,
}

/// Why [`connect`] gave no stream.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No TCP connection (refused, unreachable, no answer in time): the target is unreachable.
    #[error("{0}")]
    Unreachable(#[source] std::io::Error),
    /// TCP connected, the TLS handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

/// A TLS handshake that failed: `TLS handshake with localhost:8443 failed: ...`.
#[derive(Debug, thiserror::Error)]
#[error("TLS handshake with {authority} failed: {failure}")]
pub struct HandshakeError {
    /// `host:port`.
    pub authority: String,
    /// Why.
    pub failure: HandshakeFailure,
}

/// Why a TLS handshake failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// RFC 5280 §6: no chain from the certificate to a trusted root.
    #[error("the certificate's issuer is unknown (not among the machine's roots or --cacert; --insecure skips the check)")]
    UnknownIssuer,
    /// RFC 6125 §6: the certificate does not name the host.
    #[error(
        "the certificate is not valid for {expected}{}",
        presented_names(presented)
    )]
    NameMismatch {
        /// The URL's host.
        expected: String,
        /// The names the certificate carries.
        presented: Vec<String>,
    },
    /// RFC 5280 §4.1.2.5: past `notAfter`.
    #[error("the certificate expired{}", at_time("on", *not_after))]
    Expired {
        /// `notAfter`, seconds since 1970, when known.
        not_after: Option<u64>,
    },
    /// RFC 5280 §4.1.2.5: before `notBefore`.
    #[error("the certificate is not valid yet{}", at_time("before", *not_before))]
    NotValidYet {
        /// `notBefore`, seconds since 1970, when known.
        not_before: Option<u64>,
    },
    /// What came back is not TLS at all.
    #[error("the server did not answer in TLS ({0}); is it a plain http:// or ws:// server?")]
    NotTls(String),
    /// The server closed the connection during the handshake.
    #[error("the server closed the connection during the handshake")]
    Closed,
    /// The handshake did not end in time.
    #[error("the handshake did not end within {}", crate::runner::transcript::format_duration(*.0))]
    TimedOut(Duration),
    /// A host that cannot be a TLS server name.
    #[error("'{0}' is not a DNS name or IP address a certificate can carry")]
    BadName(String),
    /// Anything else rustls or the socket reported (an alert from the server, ...).
    #[error("{0}")]
    Other(String),
}

fn presented_names(presented: &[String]) -> String {
    if presented.is_empty() {
        " (it names no host)".into()
    } else {
        format!(" (it names only {})", presented.join(", "))
    }
}

/// A name as webpki presents it (`DnsName("example.com")`, `IpAddress(192.0.2.1)`) as a user
/// writes it (`example.com`, `192.0.2.1`).
fn plain_name(presented: &str) -> String {
    let inner = presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        });
    inner.unwrap_or(presented).to_string()
}

fn at_time(word: &str, seconds: Option<u64>) -> String {
    seconds
        .map(|s| {
            format!(
                " ({word} {})",
                crate::clock::rfc3339(Duration::from_secs(s))
            )
        })
        .unwrap_or_default()
}

impl HandshakeFailure {
    /// The failure a handshake's I/O error stands for.
    fn from_io(error: std::io::Error) -> HandshakeFailure {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            return HandshakeFailure::Closed;
        }
        match error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(rustls) => HandshakeFailure::from_rustls(rustls),
            None => HandshakeFailure::Other(error.to_string()),
        }
    }

    /// The failure rustls reported, in the words of RFC 5280 and RFC 6125.
    pub fn from_rustls(error: &rustls::Error) -> HandshakeFailure {
        match error {
            rustls::Error::InvalidCertificate(certificate) => match certificate {
                CertificateError::UnknownIssuer => HandshakeFailure::UnknownIssuer,
                CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                } => HandshakeFailure::NameMismatch {
                    expected: expected.to_str().into_owned(),
                    presented: presented.iter().map(|name| plain_name(name)).collect(),
                },
                CertificateError::NotValidForName => HandshakeFailure::NameMismatch {
                    expected: "this host".into(),
                    presented: Vec::new(),
                },
                CertificateError::ExpiredContext { not_after, .. } => HandshakeFailure::Expired {
                    not_after: Some(not_after.as_secs()),
                },
                CertificateError::Expired => HandshakeFailure::Expired { not_after: None },
                CertificateError::NotValidYetContext { not_before, .. } => {
                    HandshakeFailure::NotValidYet {
                        not_before: Some(not_before.as_secs()),
                    }
                }
                CertificateError::NotValidYet => HandshakeFailure::NotValidYet { not_before: None },
                other => HandshakeFailure::Other(format!("bad certificate: {other}")),
            },
            rustls::Error::InvalidMessage(_) => HandshakeFailure::NotTls(error.to_string()),
            other => HandshakeFailure::Other(other.to_string()),
        }
    }
}

/// Opens a TCP connection to `authority` (`host:port`) and, for a TLS target, makes the TLS
/// handshake on it: SNI names `tls.host` unless it is an IP address (RFC 6066 §3), and the
/// certificate must name it. Both end within `timeout`.
pub async fn connect(
    authority: &str,
    tls: Option<&TlsTarget>,
    timeout: Duration,
) -> Result<Connected, ConnectError> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let tcp = match async_std::future::timeout(left(), TcpStream::connect(authority)).await {
        Ok(connected) => connected.map_err(ConnectError::Unreachable)?,
        Err(_) => {
            return Err(ConnectError::Unreachable(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no TCP connection in time",
            )))
        }
    };
    tcp.set_nodelay(true).map_err(ConnectError::Unreachable)?;
    let Some(target) = tls else {
        return Ok(Connected {
            stream: Stream::Plain(tcp),
            negotiated: None,
        });
    };
    let failed = |failure| HandshakeError {
        authority: authority.to_string(),
        failure,
    };
    // rustls sends no SNI for an IP address, and checks the certificate's IP names instead.
    let name = ServerName::try_from(target.host.clone())
        .map_err(|_| failed(HandshakeFailure::BadName(target.host.clone())))?;
    let connector = TlsConnector::from(target.tls.config.clone());
    let stream = match async_std::future::timeout(left(), connector.connect(name, tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(failed(HandshakeFailure::from_io(error)).into()),
        Err(_) => return Err(failed(HandshakeFailure::TimedOut(timeout)).into()),
    };
    let (_, session) = stream.get_ref();
    let negotiated = Negotiated {
        version: version_name(session.protocol_version()),
        alpn: session
            .alpn_protocol()
            .map(|alpn| String::from_utf8_lossy(alpn).into_owned()),
        insecure: target.tls.insecure,
    };
    Ok(Connected {
        stream: Stream::Tls(Box::new(stream)),
        negotiated: Some(negotiated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_rustls::pki_types::DnsName;

    #[test]
    fn the_note_holds_version_and_alpn_only() {
        let negotiated = Negotiated {
            version: "TLSv1.3".into(),
            alpn: Some("http/1.1".into()),
            insecure: false,
        };
        assert_eq!(negotiated.note(), "tls: TLSv1.3, alpn http/1.1");
        let insecure = Negotiated {
            version: "TLSv1.2".into(),
            alpn: None,
            insecure: true,
        };
        assert_eq!(
            insecure.note(),
            "tls: TLSv1.2, alpn none, certificate not verified (--insecure)"
        );
        assert_eq!(version_name(Some(ProtocolVersion::TLSv1_3)), "TLSv1.3");
        assert_eq!(version_name(Some(ProtocolVersion::TLSv1_2)), "TLSv1.2");
    }

    #[test]
    fn certificate_failures_read_as_what_is_wrong() {
        let name_mismatch =
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected: ServerName::DnsName(DnsName::try_from("localhost").unwrap().to_owned()),
                presented: vec![
                    "DnsName(\"other.test\")".into(),
                    "IpAddress(192.0.2.1)".into(),
                    "DirectoryName".into(),
                ],
            });
        assert_eq!(
            HandshakeFailure::from_rustls(&name_mismatch).to_string(),
            "the certificate is not valid for localhost (it names only other.test, 192.0.2.1, \
             DirectoryName)"
        );
        let expired = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
        });
        assert_eq!(
            HandshakeFailure::from_rustls(&expired).to_string(),
            "the certificate expired (on 2023-11-14T22:13:20Z)"
        );
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            HandshakeFailure::from_rustls(&unknown),
            HandshakeFailure::UnknownIssuer
        );
        let failure = HandshakeError {
            authority: "localhost:8443".into(),
            failure: HandshakeFailure::UnknownIssuer,
        };
        assert_eq!(
            failure.to_string(),
            "TLS handshake with localhost:8443 failed: the certificate's issuer is unknown (not \
             among the machine's roots or --cacert; --insecure skips the check)"
        );
    }

    /// A TLS server of rustls's own on a free port, with a certificate for `localhost` signed by
    /// a CA made here; the PEM file of that CA.
    fn server() -> (
        async_std::net::TcpListener,
        futures_rustls::TlsAcceptor,
        PathBuf,
    ) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![leaf.der().clone()],
                    futures_rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
                )
                .unwrap();
        let dir = std::env::temp_dir().join(format!(
            "longconn-transport-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let listener =
            async_std::task::block_on(async_std::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        (
            listener,
            futures_rustls::TlsAcceptor::from(Arc::new(config)),
            ca_file,
        )
    }

    #[test]
    fn close_sends_close_notify_before_the_tcp_end() {
        use futures_lite::io::AsyncReadExt;
        async_std::task::block_on(async {
            let (listener, acceptor, ca_file) = server();
            let port = listener.local_addr().unwrap().port();
            let served = async_std::task::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                let mut got = Vec::new();
                // rustls reports a TCP end without close_notify as an UnexpectedEof error
                // (RFC 8446 §6.1: a truncation); after close_notify, a clean end of stream.
                let end = tls.read_to_end(&mut got).await;
                (got, end.map_err(|error| error.kind()))
            });
            let target = TlsTarget {
                tls: Tls::new(Some(&ca_file), false).unwrap(),
                host: "localhost".into(),
            };
            let authority = format!("localhost:{port}");
            let mut connected = connect(&authority, Some(&target), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(
                connected
                    .negotiated
                    .as_ref()
                    .map(Negotiated::note)
                    .as_deref(),
                Some("tls: TLSv1.3, alpn none")
            );
            connected.stream.write_all(b"hello").await.unwrap();
            connected.stream.close().await;
            assert_eq!(served.await, (b"hello".to_vec(), Ok(5)));
            let _ = std::fs::remove_dir_all(ca_file.parent().unwrap());
        });
    }

    #[test]
    fn a_cacert_that_is_not_pem_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("longconn-cacert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-pem.txt");
        std::fs::write(&file, "hello\n").unwrap();
        let error = Tls::new(Some(&file), false).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "--cacert {}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
                file.display()
            )
        );
        let missing = dir.join("missing.pem");
        let error = Tls::new(Some(&missing), false).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("--cacert {}: ", missing.display())),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
