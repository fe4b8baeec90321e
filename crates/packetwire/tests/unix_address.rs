//! `UnixSocketAddress` with real sockets: abstract names, pathnames in temporary directories,
//! unnamed sockets and auto-bind.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use packetwire::os;
use packetwire::unix::{
    bind_datagram, bind_listener, AddressError, UnixDatagramExt, UnixSocketAddress, UnixStreamExt,
};

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

/// An abstract name no other test (or test run) uses.
fn unique_abstract(tag: &str) -> UnixSocketAddress {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("@packetwire-test-{tag}-{}-{nanos}", std::process::id())
        .parse()
        .unwrap()
}

#[test]
fn abstract_stream_bind_connect_and_display() {
    let addr = unique_abstract("stream");
    let text = addr.to_string();
    assert!(text.starts_with("@packetwire-test-stream-"), "{text}");

    let listener = bind_listener(&addr, 100).unwrap();
    assert_eq!(
        UnixSocketAddress::from(listener.local_addr().unwrap()),
        addr
    );
    // Nothing appears in the file system.
    assert!(!std::path::Path::new(&text[1..]).exists());

    let mut client = UnixStream::connect_addr(&addr.to_std().unwrap()).unwrap();
    client.set_read_timeout(TIMEOUT).unwrap();
    let (mut server_side, _) = listener.accept().unwrap();
    server_side.set_read_timeout(TIMEOUT).unwrap();
    assert_eq!(client.peer_address().unwrap(), addr);
    assert_eq!(client.peer_address().unwrap().to_string(), text);
    assert_eq!(server_side.local_address().unwrap(), addr);
    assert!(server_side.peer_address().unwrap().is_unnamed());

    client.write_all(b"over an abstract name").unwrap();
    let mut buf = [0u8; 21];
    server_side.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"over an abstract name");

    // The name is taken while the listener lives.
    let error = bind_listener(&addr, 1).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn abstract_datagram_with_a_nul_byte_in_the_name() {
    let name = format!("packetwire\0nul-{}", std::process::id());
    let addr = UnixSocketAddress::from_abstract_name(name.as_bytes()).unwrap();
    assert!(addr.to_string().contains(r"\x00"));
    assert_eq!(addr.to_string().parse::<UnixSocketAddress>().unwrap(), addr);

    let server = bind_datagram(&addr).unwrap();
    server.set_read_timeout(TIMEOUT).unwrap();
    assert_eq!(server.local_address().unwrap(), addr);
    let client = UnixDatagram::unbound().unwrap();
    client.send_to_address(b"nul", &addr).unwrap();
    let mut buf = [0u8; 8];
    let (len, from) = server.recv_from_address(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"nul");
    // An unbound sender is unnamed.
    assert_eq!(from, UnixSocketAddress::Unnamed);
    assert_eq!(from.to_string(), "<unnamed>");
}

#[test]
fn pathname_bind_display_and_std_conversions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.sock");
    let addr = UnixSocketAddress::from_pathname(&path).unwrap();
    assert_eq!(addr.to_string(), path.display().to_string());
    assert_eq!(addr.to_string().parse::<UnixSocketAddress>().unwrap(), addr);

    let server = bind_datagram(&addr).unwrap();
    assert!(path.exists());
    assert_eq!(server.local_address().unwrap(), addr);
    assert_eq!(UnixSocketAddress::from(server.local_addr().unwrap()), addr);
    assert_eq!(addr.to_std().unwrap().as_pathname(), Some(path.as_path()));
    assert_eq!(
        std::os::unix::net::SocketAddr::try_from(&addr)
            .unwrap()
            .as_pathname(),
        Some(path.as_path())
    );

    // A client bound to a path of its own is reported by that path.
    let client_path = dir.path().join("client.sock");
    let client_addr = UnixSocketAddress::from_pathname(&client_path).unwrap();
    let client = bind_datagram(&client_addr).unwrap();
    client.connect(&path).unwrap();
    assert_eq!(client.peer_address().unwrap(), addr);
    client.send(b"p").unwrap();
    server.set_read_timeout(TIMEOUT).unwrap();
    let (_, from) = server.recv_from_address(&mut [0u8; 4]).unwrap();
    assert_eq!(from, client_addr);

    // Binding over an existing file fails: nothing is unlinked for the caller.
    assert_eq!(
        bind_datagram(&addr).unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
}

#[test]
fn unnamed_sockets_display_as_unnamed() {
    let (a, b) = UnixStream::pair().unwrap();
    for sock in [&a, &b] {
        let local = sock.local_address().unwrap();
        assert_eq!(local, UnixSocketAddress::Unnamed);
        assert_eq!(local.to_string(), "<unnamed>");
        assert!(sock.peer_address().unwrap().is_unnamed());
        assert!(UnixSocketAddress::from(sock.local_addr().unwrap()).is_unnamed());
    }
    let dgram = UnixDatagram::unbound().unwrap();
    assert!(dgram.local_address().unwrap().is_unnamed());
    // Not connected.
    assert_eq!(
        dgram.peer_address().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
}

#[test]
fn autobind_gives_an_abstract_name() {
    let sock = UnixDatagram::unbound().unwrap();
    let addr = sock.autobind().unwrap();
    let name = addr.as_abstract_name().expect("an abstract name");
    // Linux picks five hexadecimal digits.
    assert_eq!(name.len(), 5, "{addr}");
    assert!(name.iter().all(u8::is_ascii_hexdigit), "{addr}");
    assert_eq!(
        addr.to_string(),
        format!("@{}", String::from_utf8_lossy(name))
    );
    assert_eq!(sock.local_address().unwrap(), addr);
    assert_eq!(UnixSocketAddress::from(sock.local_addr().unwrap()), addr);
    // Auto-binding a bound socket keeps its name (Linux); binding it to another name fails.
    assert_eq!(sock.autobind().unwrap(), addr);
    let error = os::bind_unix(sock.as_fd(), &unique_abstract("rebind")).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);

    // bind_datagram with the unnamed address auto-binds too, and the names differ.
    let other = bind_datagram(&UnixSocketAddress::Unnamed).unwrap();
    let other_addr = other.local_address().unwrap();
    assert!(other_addr.as_abstract_name().is_some());
    assert_ne!(other_addr, addr);

    // The auto-bound name is reachable.
    other.send_to_address(b"to auto", &addr).unwrap();
    sock.set_read_timeout(TIMEOUT).unwrap();
    let mut buf = [0u8; 8];
    let (len, from) = sock.recv_from_address(&mut buf).unwrap();
    assert_eq!((&buf[..len], from), (&b"to auto"[..], other_addr));
}

#[test]
fn os_level_bind_and_connect_over_borrowed_descriptors() {
    let addr = unique_abstract("os");
    let server = os::unix_socket(packetwire::sockopt::SocketKind::Stream).unwrap();
    os::bind_unix(server.as_fd(), &addr).unwrap();
    os::listen(server.as_fd(), 8).unwrap();
    let client = os::unix_socket(packetwire::sockopt::SocketKind::Stream).unwrap();
    os::connect_unix(client.as_fd(), &addr).unwrap();
    assert_eq!(os::unix_peer_address(client.as_fd()).unwrap(), addr);
    assert_eq!(os::unix_local_address(server.as_fd()).unwrap(), addr);
    // Connecting to nothing, or to the unnamed address, fails clearly.
    let other = os::unix_socket(packetwire::sockopt::SocketKind::Stream).unwrap();
    let missing = unique_abstract("missing");
    assert_eq!(
        os::connect_unix(other.as_fd(), &missing)
            .unwrap_err()
            .kind(),
        io::ErrorKind::ConnectionRefused
    );
    let error = os::connect_unix(other.as_fd(), &UnixSocketAddress::Unnamed).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("<unnamed>"));
}

#[test]
fn parse_hash_and_eq() {
    let parsed: Vec<UnixSocketAddress> = ["@a", "@a", "/tmp/a", "", "a", "@"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(parsed[0], UnixSocketAddress::Abstract(b"a".to_vec()));
    assert_eq!(parsed[2], UnixSocketAddress::Pathname("/tmp/a".into()));
    assert_eq!(parsed[3], UnixSocketAddress::Unnamed);
    assert_eq!(parsed[4], UnixSocketAddress::Pathname("a".into()));
    assert_eq!(parsed[5], UnixSocketAddress::Abstract(Vec::new()));
    let set: HashSet<_> = parsed.into_iter().collect();
    assert_eq!(set.len(), 5);

    assert_eq!(
        "/tmp/x\0y".parse::<UnixSocketAddress>(),
        Err(AddressError::ContainsNul)
    );
    let long = format!("@{}", "n".repeat(108));
    assert_eq!(
        long.parse::<UnixSocketAddress>(),
        Err(AddressError::TooLong { len: 108, max: 107 })
    );
    let io_error = io::Error::from(AddressError::ContainsNul);
    assert_eq!(io_error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn a_pathname_filling_all_of_sun_path_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().as_os_str().len() + 1;
    assert!(
        prefix < 100,
        "temporary directory path too long for this test"
    );
    let path = dir
        .path()
        .join("f".repeat(UnixSocketAddress::MAX_PATHNAME_LEN - prefix));
    assert_eq!(path.as_os_str().len(), 108);
    let addr = UnixSocketAddress::from_pathname(&path).unwrap();
    let server = bind_datagram(&addr).unwrap();
    // The kernel reports it without a NUL terminator: still the same address.
    assert_eq!(server.local_address().unwrap(), addr);
    let client = UnixDatagram::unbound().unwrap();
    client.send_to_address(b"long", &addr).unwrap();
    let client_addr = client.local_address().unwrap();
    server.set_read_timeout(TIMEOUT).unwrap();
    let mut buf = [0u8; 8];
    let (len, from) = server.recv_from_address(&mut buf).unwrap();
    assert_eq!((&buf[..len], from), (&b"long"[..], client_addr));
    // The standard library wants room for a NUL terminator.
    assert!(matches!(
        addr.to_std(),
        Err(AddressError::TooLong { len: 108, max: 107 })
    ));
}
