//! The one way the recorder reaches its upstream: every proxied connection is opened here, over
//! the kit's transport: plain TCP for `http`/`ws`, TLS for `https`/`wss` with the runner's
//! settings (the machine's roots, `--cacert`, `--insecure`; SNI names the URL's host).

use async_std::net::TcpStream;

use crate::runner::transport::{self, ConnectError, Stream, Tls, TlsSetupError, TlsTarget};
use crate::runner::TargetUrl;

/// How long the TCP connection and the TLS handshake together may take, as in the runner.
const CONNECT_GUARD: std::time::Duration = crate::spec::DEFAULT_TIMEOUT;

/// The server the recorder forwards to, and how to reach it.
#[derive(Debug, Clone)]
pub struct Upstream {
    url: TargetUrl,
    tls: Option<TlsTarget>,
}

/// An upstream connection: the stream to pump bytes through, and its TCP socket (to cut it).
#[derive(Debug)]
pub struct Connection {
    /// Decrypted bytes both ways.
    pub stream: Stream,
    /// The socket underneath, for a shutdown from outside the pumps.
    pub tcp: TcpStream,
}

impl Upstream {
    /// `url`, reached with `tls` (`None`: the machine's roots alone) when it is `https`/`wss`.
    pub fn new(url: TargetUrl, tls: Option<Tls>) -> Result<Upstream, TlsSetupError> {
        let tls = if url.tls {
            let tls = match tls {
                Some(tls) => tls,
                None => Tls::new(None, false)?,
            };
            Some(TlsTarget {
                tls,
                host: url.host.clone(),
            })
        } else {
            None
        };
        Ok(Upstream { url, tls })
    }

    /// The URL.
    pub fn url(&self) -> &TargetUrl {
        &self.url
    }

    /// Opens a connection (and makes its TLS handshake).
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let connected =
            transport::connect(&self.url.authority(), self.tls.as_ref(), CONNECT_GUARD).await?;
        let tcp = connected.stream.tcp().clone();
        Ok(Connection {
            stream: connected.stream,
            tcp,
        })
    }
}
