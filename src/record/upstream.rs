//! The one way the recorder reaches its upstream: every proxied connection is opened here.
//! Plain TCP; an `https`/`wss` upstream is refused until the runner's transport speaks TLS.

use async_std::net::TcpStream;

use crate::runner::TargetUrl;

/// Opens a connection to `upstream`.
pub async fn connect(upstream: &TargetUrl) -> std::io::Result<TcpStream> {
    if upstream.tls {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "https and wss upstreams need TLS, which the recorder does not speak yet",
        ));
    }
    let stream = TcpStream::connect(upstream.authority()).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
