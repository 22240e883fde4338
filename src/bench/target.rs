//! Where the load goes and how it gets there: the loopback target, the open-files budget of this
//! process, and a [`Dialer`] that spreads connections over source addresses 127.0.0.2, .3, … once
//! one address pair has run out of ephemeral ports.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_std::net::TcpStream;

use super::BenchError;

/// Files this process keeps for itself (stdio, the reactor, the publisher, threads' pipes).
pub const RESERVED_FILES: u64 = 64;

/// Source addresses tried after the kernel's default: 127.0.0.2 ..= 127.0.0.(1 + this).
const MAX_EXTRA_SOURCES: usize = 200;

/// How long one TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback HTTP server to aim at.
#[derive(Debug, Clone)]
pub struct Target {
    /// The socket address connected to.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: String,
}

impl Target {
    /// Parses `http://HOST:PORT[/]`, or `HOST:PORT` (http, as `longconn run --target` reads it);
    /// HOST must be a loopback address (127.0.0.0/8, `::1`, `localhost`): the load generator never
    /// aims at another machine.
    pub fn parse(url: &str) -> Result<Target, BenchError> {
        let bad = |why: &str| BenchError::Target(format!("{url}: {why}"));
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let parsed = http_types::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(bad("only http:// targets are supported"));
        }
        let port = parsed.port_or_known_default().unwrap_or(80);
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain("localhost")) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            _ => return Err(bad("the host must be a loopback address")),
        };
        if !ip.is_loopback() {
            return Err(bad(
                "the host must be a loopback address (127.0.0.0/8 or ::1)",
            ));
        }
        let addr = SocketAddr::new(ip, port);
        Ok(Target {
            addr,
            host: addr.to_string(),
        })
    }
}

// `http_types` re-exports the `url` crate's types under `http_types::url`.
use http_types::url;

/// The soft limit on open files of this process (`Max open files` in `/proc/self/limits`); 20,000
/// on the machines this was written for, where it cannot be raised.
pub fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse().ok())
        })
        .unwrap_or(20_000)
}

/// Refuses a workload that needs more sockets than this process may open.
pub fn check_open_files(sockets: u64) -> Result<(), BenchError> {
    let limit = open_files_limit();
    let room = limit.saturating_sub(RESERVED_FILES);
    if sockets > room {
        return Err(BenchError::TooManyConnections {
            asked: sockets,
            limit,
            room,
        });
    }
    Ok(())
}

/// Opens TCP connections to the target, moving to the next source address when the current
/// address pair has no ephemeral port left (`EADDRNOTAVAIL` on connect, `EADDRINUSE` on bind).
#[derive(Debug)]
pub struct Dialer {
    target: SocketAddr,
    /// 0: the kernel's choice (127.0.0.1 for a 127.0.0.1 target); i ≥ 1: bind 127.0.0.(1 + i).
    source: AtomicUsize,
}

impl Dialer {
    /// A dialer for `target`, starting with the kernel's choice of source address.
    pub fn new(target: SocketAddr) -> Dialer {
        Dialer {
            target,
            source: AtomicUsize::new(0),
        }
    }

    /// The source address in use now, for progress lines.
    pub fn source(&self) -> String {
        match self.source.load(Ordering::Relaxed) {
            0 => "default".to_string(),
            index => source_ip(index).to_string(),
        }
    }

    /// Connects once, trying further source addresses only when ports run out.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        loop {
            let index = self.source.load(Ordering::Relaxed);
            let attempt = if index == 0 {
                match async_std::future::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.target))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
                }
            } else {
                connect_from(source_ip(index), self.target).await
            };
            match attempt {
                Err(error) if out_of_ports(&error) => {
                    // IPv6 has one loopback address: nothing to spread over.
                    if !self.target.is_ipv4() || index >= MAX_EXTRA_SOURCES {
                        return Err(error);
                    }
                    if self
                        .source
                        .compare_exchange(index, index + 1, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        eprintln!(
                            "bench: source ports exhausted ({error}); moving to source {}",
                            source_ip(index + 1)
                        );
                    }
                }
                other => return other,
            }
        }
    }
}

fn source_ip(index: usize) -> Ipv4Addr {
    // index 1 → 127.0.0.2, …; MAX_EXTRA_SOURCES keeps the last byte below 255.
    let last = u8::try_from(index.min(MAX_EXTRA_SOURCES) + 1).unwrap_or(u8::MAX - 1);
    Ipv4Addr::new(127, 0, 0, last)
}

fn out_of_ports(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::AddrInUse
    )
}

/// Binds `source:0` before connecting (socket2), so the kernel picks the port for that source.
async fn connect_from(source: Ipv4Addr, target: SocketAddr) -> io::Result<TcpStream> {
    async_std::task::spawn_blocking(move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&SocketAddr::new(IpAddr::V4(source), 0).into())?;
        socket.connect_timeout(&target.into(), CONNECT_TIMEOUT)?;
        socket.set_nodelay(true)?;
        let stream: std::net::TcpStream = socket.into();
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from(stream))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_accepts_loopback_only() {
        assert_eq!(
            Target::parse("http://127.0.0.1:3003")
                .map(|t| t.addr.port())
                .ok(),
            Some(3003)
        );
        assert!(Target::parse("http://localhost:80/").is_ok());
        assert!(Target::parse("http://[::1]:9000").is_ok());
        // Without a scheme, as `run --target` takes it.
        assert_eq!(
            Target::parse("127.0.0.1:3000").map(|t| t.addr.port()).ok(),
            Some(3000)
        );
        assert!(Target::parse("10.0.0.1:3000").is_err());
        assert!(Target::parse("http://10.0.0.1:3000").is_err());
        assert!(Target::parse("http://example.com:3000").is_err());
        assert!(Target::parse("https://127.0.0.1:3000").is_err());
    }

    #[test]
    fn source_addresses_count_up_from_127_0_0_2() {
        assert_eq!(source_ip(1), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_ip(2), Ipv4Addr::new(127, 0, 0, 3));
        assert!(source_ip(MAX_EXTRA_SOURCES).is_loopback());
    }

    #[test]
    fn more_sockets_than_open_files_are_refused() {
        assert!(check_open_files(10).is_ok());
        assert!(matches!(
            check_open_files(open_files_limit() + 1),
            Err(BenchError::TooManyConnections { .. })
        ));
    }
}
