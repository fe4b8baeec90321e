//! Host name resolution off the runtime's threads, and RFC 8305 address ordering.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::runtime::{self, Runtime};

/// An IP literal, with or without IPv6 brackets.
fn parse_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Resolves `host` (`getaddrinfo` on the runtime's blocking pool; IP literals directly).
/// Duplicates are removed, the resolver's order is kept.
pub(crate) async fn resolve(
    runtime: &dyn Runtime,
    host: &str,
    port: u16,
) -> io::Result<Vec<SocketAddr>> {
    if let Some(ip) = parse_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let owned = host.to_owned();
    let found = runtime::unblock(runtime, move || {
        (owned.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect::<Vec<_>>)
    })
    .await?;
    let mut unique = Vec::with_capacity(found.len());
    for addr in found {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    Ok(unique)
}

/// Orders addresses for Happy Eyeballs (RFC 8305 §4): IPv6 first, then the families
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
