//! The recording reverse proxy: accepts clients, opens one upstream connection per client
//! connection once it has sent its first bytes (through [`Upstream::connect`]: TCP, or TLS),
//! and logs each event to the [`Timeline`] before passing it on. Request heads are read so that
//! what would make recorded bytes unreadable is removed on the way up: `Accept-Encoding`
//! (RFC 9110 §12.5.3: no content coding is then applied) and `Sec-WebSocket-Extensions`
//! (RFC 6455 §9.1: no extension is then in use).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_std::io::prelude::*;
use async_std::net::{Shutdown, TcpListener, TcpStream};
use async_std::task::JoinHandle;
use futures_lite::io::{ReadHalf, WriteHalf};

use super::filter::Filters;
use super::timeline::{Event, Request, Timeline};
use super::upstream::Upstream;
use crate::runner::transport::Stream;
use crate::wire::http::{parse_request_head_within, RequestHead};

/// The largest request head the proxy reads.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The largest request body the proxy holds to log it whole; a larger one passes unlogged as
/// raw bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Request headers removed on the way up (compared case-insensitively).
pub const STRIPPED: [&str; 2] = ["accept-encoding", "sec-websocket-extensions"];

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    open: Open,
}

/// How long a TLS close (sending close_notify) may take before the pump ends anyway.
const CLOSE_GUARD: std::time::Duration = std::time::Duration::from_secs(1);

/// The most connections proxied at once; past it a client gets 503 and nothing is recorded.
pub const MAX_CONNECTIONS: usize = 1024;

/// One proxied connection: its number, its latest request path, its two TCP sockets.
struct Entry {
    id: usize,
    path: String,
    client: TcpStream,
    server: Option<TcpStream>,
}

/// The connections proxied right now (an entry leaves when its connection ends).
type Open = Arc<Mutex<Vec<Entry>>>;

/// `HTTP/1.1 503` for a client past [`MAX_CONNECTIONS`].
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

impl Proxy {
    /// Listens on `listen` and forwards every connection to `upstream`.
    pub async fn start(
        listen: SocketAddr,
        upstream: Upstream,
        filters: Filters,
        timeline: Timeline,
    ) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let open: Open = Arc::default();
        let table = open.clone();
        let accept = async_std::task::spawn(async move {
            let mut next = 0usize;
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                next += 1;
                let _ = client.set_nodelay(true);
                let admitted = match table.lock() {
                    Ok(mut entries) if entries.len() < MAX_CONNECTIONS => {
                        entries.push(Entry {
                            id: next,
                            path: String::new(),
                            client: client.clone(),
                            server: None,
                        });
                        true
                    }
                    _ => false,
                };
                if !admitted {
                    // Answered aside, so a client that does not read cannot hold the accept loop.
                    async_std::task::spawn(async move {
                        let _ = client.write_all(BUSY).await;
                    });
                    continue;
                }
                let connection = Connection {
                    id: next,
                    upstream: upstream.clone(),
                    filters: filters.clone(),
                    timeline: timeline.clone(),
                    open: table.clone(),
                };
                async_std::task::spawn(connection.run(client));
            }
        });
        Ok(Proxy { addr, accept, open })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Cuts both sides of every connection whose latest request went to `path` (the query
    /// aside), as a dropped network would; what the client does next is recorded.
    pub fn cut(&self, path: &str) -> usize {
        let Ok(entries) = self.open.lock() else {
            return 0;
        };
        let mut cut = 0;
        for entry in entries.iter().filter(|entry| entry.path == path) {
            entry.shut();
            cut += 1;
        }
        cut
    }

    /// Stops accepting and cuts every proxied connection.
    pub async fn stop(self) {
        self.accept.cancel().await;
        if let Ok(mut entries) = self.open.lock() {
            for entry in entries.drain(..) {
                entry.shut();
            }
        }
    }
}

impl Entry {
    fn shut(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        if let Some(server) = &self.server {
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

struct Connection {
    id: usize,
    upstream: Upstream,
    filters: Filters,
    timeline: Timeline,
    open: Open,
}

impl Connection {
    async fn run(self, client: TcpStream) {
        self.proxy(client).await;
        if let Ok(mut entries) = self.open.lock() {
            entries.retain(|entry| entry.id != self.id);
        }
    }

    /// The upstream is reached once the client has sent something, so what it sent is logged
    /// first: the timeline keeps the order in which clients acted, however long a connect (or
    /// a TLS handshake) takes.
    async fn proxy(&self, client: TcpStream) {
        let mut down = None;
        self.pump_up(client, &mut down).await;
        if let Some(down) = down {
            down.await;
        }
    }

    /// Opens the upstream connection and starts its pump down to `client`; `None` (after
    /// answering 502) when the upstream cannot be reached.
    async fn reach(
        &self,
        client: &mut TcpStream,
        down: &mut Option<JoinHandle<()>>,
    ) -> Option<WriteHalf<Stream>> {
        let server = match self.upstream.connect().await {
            Ok(server) => server,
            Err(error) => {
                eprintln!(
                    "longconn record: upstream {}: {error}",
                    self.upstream.url().authority()
                );
                let _ = client
                    .write_all(
                        b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
                return None;
            }
        };
        if let Ok(mut entries) = self.open.lock() {
            if let Some(entry) = entries.iter_mut().find(|entry| entry.id == self.id) {
                entry.server = Some(server.tcp.clone());
            }
        }
        // One stream, two pumps: TLS state is shared, so the halves take turns on it.
        let (reader, writer) = futures_lite::io::split(server.stream);
        *down = Some(async_std::task::spawn(pump_down(
            self.id,
            reader,
            server.tcp.clone(),
            client.clone(),
            self.timeline.clone(),
        )));
        Some(writer)
    }

    /// Client to upstream: request heads read and cleaned, then logged and passed on.
    async fn pump_up(&self, mut client: TcpStream, down: &mut Option<JoinHandle<()>>) {
        let mut server: Option<WriteHalf<Stream>> = None;
        let mut buffer = Vec::new();
        let mut raw = false;
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let read = match client.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    self.timeline.push(Event::ClientClosed(self.id));
                    // For TLS, a close_notify alert first (RFC 8446 §6.1), then the TCP end.
                    if let Some(server) = server.as_mut() {
                        let _ = async_std::io::timeout(
                            CLOSE_GUARD,
                            futures_lite::io::AsyncWriteExt::close(server),
                        )
                        .await;
                    }
                    return;
                }
                Ok(read) => read,
            };
            buffer.extend_from_slice(&chunk[..read]);
            let mut out = Vec::new();
            while !raw && !buffer.is_empty() {
                match parse_request_head_within(&buffer, MAX_HEAD_BYTES) {
                    Ok(Some(head)) => {
                        let length = body_length(&head);
                        let chunked = head
                            .header("transfer-encoding")
                            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                        let Some(length) = length.filter(|l| *l <= MAX_BODY_BYTES) else {
                            raw = true;
                            break;
                        };
                        if buffer.len() < head.length + length {
                            break;
                        }
                        let body = buffer[head.length..head.length + length].to_vec();
                        buffer.drain(..head.length + length);
                        let head = clean(head);
                        let recorded = self.filters.records(head.target());
                        let path = head.target().split(['?', '#']).next().unwrap_or_default();
                        if let Ok(mut entries) = self.open.lock() {
                            if let Some(entry) = entries.iter_mut().find(|e| e.id == self.id) {
                                entry.path = path.to_string();
                            }
                        }
                        out.extend_from_slice(&write_head(&head));
                        out.extend_from_slice(&body);
                        raw = chunked
                            || head
                                .header("upgrade")
                                .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
                        self.timeline.push(Event::Request(
                            self.id,
                            Request {
                                head,
                                body,
                                recorded,
                            },
                        ));
                    }
                    Ok(None) => break,
                    // Not HTTP: passed on as it is.
                    Err(_) => raw = true,
                }
            }
            if raw && !buffer.is_empty() {
                self.timeline
                    .push(Event::ClientBytes(self.id, buffer.clone()));
                out.append(&mut buffer);
            }
            if out.is_empty() {
                continue;
            }
            if server.is_none() {
                server = self.reach(&mut client, down).await;
            }
            let Some(upstream) = server.as_mut() else {
                return;
            };
            // Flushed: a TLS stream may hold written bytes until asked to send them.
            if upstream.write_all(&out).await.is_err() || upstream.flush().await.is_err() {
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

/// Upstream to client: bytes logged, then passed on. `tcp` is the upstream's socket.
async fn pump_down(
    id: usize,
    mut server: ReadHalf<Stream>,
    tcp: TcpStream,
    mut client: TcpStream,
    timeline: Timeline,
) {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match server.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                timeline.push(Event::ServerClosed(id));
                let _ = client.shutdown(Shutdown::Write);
                return;
            }
            Ok(read) => {
                timeline.push(Event::ServerBytes(id, chunk[..read].to_vec()));
                if client.write_all(&chunk[..read]).await.is_err() {
                    let _ = tcp.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    }
}

/// The body length a request head announces: 0 without `Content-Length`, `None` for a chunked
/// body or a length that is not a number (passed on raw).
fn body_length(head: &RequestHead) -> Option<usize> {
    if head.header("transfer-encoding").is_some() {
        return None;
    }
    match head.header("content-length") {
        None => Some(0),
        Some(value) => value.trim().parse().ok(),
    }
}

/// `head` without the headers in [`STRIPPED`].
pub fn clean(mut head: RequestHead) -> RequestHead {
    head.retain_headers(|name, _| !STRIPPED.iter().any(|s| name.eq_ignore_ascii_case(s)));
    head
}

/// A request head's bytes: request line, `name: value` lines, blank line.
pub fn write_head(head: &RequestHead) -> Vec<u8> {
    let mut bytes =
        format!("{} {} {}\r\n", head.method(), head.target(), head.version()).into_bytes();
    for (name, value) in head.headers() {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::http::parse_request_head;

    #[test]
    fn accept_encoding_and_extension_offers_do_not_go_up() {
        let head = parse_request_head(
            b"GET /ws HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, br\r\nSec-WebSocket-Extensions: permessage-deflate\r\nUpgrade: websocket\r\n\r\n",
        )
        .expect("valid")
        .expect("complete");
        assert_eq!(
            write_head(&clean(head)),
            b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"
        );
    }
}
