//! The `Host` allow-list that defeats DNS rebinding: a page at `http://evil.example:PORT` whose
//! name an attacker re-points at this server sends `Host: evil.example:PORT` (RFC 9110 §7.2), and
//! is answered 421 Misdirected Request (RFC 9110 §15.5.20) before any route runs.
//!
//! Names are compared without the port, ASCII case-insensitively, as webpack-dev-server's and
//! Vite's allow-lists do: rebinding changes the name, never only the port. Always allowed: the
//! loopback names (`localhost`, `127.0.0.1`, `[::1]`) and the bound address's IP (an IP literal
//! cannot be rebound); `--host NAME` adds the public names a proxy forwards.

use std::net::{IpAddr, SocketAddr};

/// Names every server answers to.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The host name of a `Host` value (RFC 9110 §7.2: `uri-host [ ":" port ]`, an IPv6 literal in
/// brackets), as sent; `None` when the value is not of that form.
pub fn name_of(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        let end = host.find(']')?;
        let rest = &host[end + 1..];
        if !(rest.is_empty() || port(rest.strip_prefix(':')?)) {
            return None;
        }
        &host[..=end]
    } else {
        match host.split_once(':') {
            Some((name, p)) if port(p) => name,
            Some(_) => return None,
            None => host,
        }
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    valid.then_some(name)
}

fn port(digits: &str) -> bool {
    digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// True when `name` (from [`name_of`]) is the literal of `ip` (`[...]` for IPv6).
fn is_ip(name: &str, ip: IpAddr) -> bool {
    let literal = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().map(IpAddr::V6),
        None => name.parse::<std::net::Ipv4Addr>().map(IpAddr::V4),
    };
    literal.is_ok_and(|literal| literal == ip)
}

/// True when a request with this `Host` value may be served by a server bound to `bound` that
/// lists `names` (`--host`). Allocates nothing: it runs on every request.
pub fn allowed(host: &str, names: &[String], bound: SocketAddr) -> bool {
    let Some(name) = name_of(host) else {
        return false;
    };
    LOOPBACK.iter().any(|l| l.eq_ignore_ascii_case(name))
        || (!bound.ip().is_unspecified() && is_ip(name, bound.ip()))
        || names.iter().any(|listed| {
            // A listed name may carry a port; only its name counts.
            name_of(listed).is_some_and(|listed| listed.eq_ignore_ascii_case(name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(addr: &str) -> SocketAddr {
        addr.parse().expect("address")
    }

    #[test]
    fn loopback_names_are_allowed_on_any_port() {
        let at = bound("127.0.0.1:3000");
        for host in [
            "localhost",
            "LOCALHOST:3000",
            "127.0.0.1:3000",
            "[::1]:9",
            "localhost:1",
        ] {
            assert!(allowed(host, &[], at), "{host}");
        }
    }

    #[test]
    fn a_rebound_name_is_refused() {
        let at = bound("127.0.0.1:3000");
        for host in [
            "evil.example:3000",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io:3000",
            "localhost:3000@evil",
            "",
            ":3000",
            "localhost:x",
            "[::1]x",
        ] {
            assert!(!allowed(host, &[], at), "{host}");
        }
    }

    #[test]
    fn the_bound_ip_is_allowed_unless_unspecified() {
        assert!(allowed("192.0.2.7:80", &[], bound("192.0.2.7:80")));
        assert!(allowed("[2001:db8::1]:80", &[], bound("[2001:db8::1]:80")));
        assert!(allowed("[2001:DB8:0::1]", &[], bound("[2001:db8::1]:80")));
        assert!(!allowed("192.0.2.8", &[], bound("192.0.2.7:80")));
        assert!(!allowed("0.0.0.0:80", &[], bound("0.0.0.0:80")));
    }

    #[test]
    fn listed_names_are_allowed_whatever_the_port() {
        let names = vec![
            "push.example.com".to_owned(),
            "Other.Example:443".to_owned(),
        ];
        let at = bound("0.0.0.0:3000");
        assert!(allowed("push.example.com", &names, at));
        assert!(allowed("PUSH.example.com:8443", &names, at));
        assert!(allowed("other.example", &names, at));
        assert!(!allowed("example.com", &names, at));
    }

    #[test]
    fn name_of_strips_the_port() {
        assert_eq!(name_of("Example.COM:80"), Some("Example.COM"));
        assert_eq!(name_of("[::1]:80"), Some("[::1]"));
        assert_eq!(name_of("a b"), None);
        assert_eq!(name_of("a:1:2"), None);
        assert_eq!(name_of("a:123456"), None);
    }
}
