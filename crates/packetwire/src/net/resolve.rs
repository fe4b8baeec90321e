//! Host name resolution off the runtime's threads. The lookup and the address ordering are
//! shared with the blocking shell ([`crate::socket::resolve`]).

use std::io;
use std::net::SocketAddr;

use crate::runtime::{self, Runtime};
use crate::socket::resolve::{lookup, parse_literal};

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
    runtime::unblock(runtime, move || lookup(&owned, port)).await
}
