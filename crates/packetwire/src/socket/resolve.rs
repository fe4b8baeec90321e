//! Host names to addresses: IP literals, `getaddrinfo`, RFC 8305 ordering, and the addresses
//! "every interface" stands for. The async shell runs [`lookup`] on its runtime's blocking
//! pool; the blocking shell calls it directly.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// An IP literal, with or without IPv6 brackets.
pub(crate) fn parse_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Resolves `host` with `getaddrinfo` (IP literals directly). Duplicates are removed, the
/// resolver's order is kept. Blocks.
pub(crate) fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Some(ip) = parse_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut unique = Vec::new();
    for addr in (host, port).to_socket_addrs()? {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    Ok(unique)
}

/// Orders addresses for connection attempts (RFC 8305 §4): IPv6 first, then the families
/// alternate, each family keeping the resolver's order.
pub(crate) fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let v6: Vec<_> = addrs.iter().filter(|a| a.is_ipv6()).copied().collect();
    let v4: Vec<_> = addrs.iter().filter(|a| a.is_ipv4()).copied().collect();
    let mut out = Vec::with_capacity(addrs.len());
    let (mut a, mut b) = (v6.into_iter(), v4.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// The addresses a listener on "every interface" (host `""`) binds: `::` (IPv6-only) and
/// `0.0.0.0`, one socket each.
pub(crate) fn all_interfaces(port: u16) -> Vec<SocketAddr> {
    vec![
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port),
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_with_and_without_brackets() {
        assert_eq!(
            parse_literal("127.0.0.1"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(parse_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_literal("::1"), Some("::1".parse().unwrap()));
        assert_eq!(parse_literal("localhost"), None);
        assert_eq!(
            lookup("[::1]", 7).unwrap(),
            vec!["[::1]:7".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn interleave_puts_ipv6_first_and_alternates() {
        let addrs: Vec<SocketAddr> = [
            "10.0.0.1:1",
            "10.0.0.2:1",
            "10.0.0.3:1",
            "[2001:db8::1]:1",
            "[2001:db8::2]:1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let ordered: Vec<String> = interleave(&addrs).iter().map(|a| a.to_string()).collect();
        assert_eq!(
            ordered,
            [
                "[2001:db8::1]:1",
                "10.0.0.1:1",
                "[2001:db8::2]:1",
                "10.0.0.2:1",
                "10.0.0.3:1"
            ]
        );
        assert!(interleave(&[]).is_empty());
    }
}
