//! Socket options and socket identity on real sockets: TCP and UDP over loopback, Unix stream,
//! datagram and seqpacket sockets, and descriptors that are not sockets.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::io;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::time::Duration;

use packetwire::os;
use packetwire::sockopt::{InvalidSocketError, SocketFamily, SocketKind, SocketOptions};

const INET: &[SocketFamily] = &[SocketFamily::Inet, SocketFamily::Inet6];
const UNIX: &[SocketFamily] = &[SocketFamily::Unix];

fn tcp_pair() -> (TcpListener, TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    (listener, client, server_side)
}

#[test]
fn nodelay_and_keepalive_round_trip_on_tcp_loopback() {
    let (_listener, client, server_side) = tcp_pair();
    for stream in [&client, &server_side] {
        let options = SocketOptions::new(stream);
        for value in [true, false, true] {
            options.set_nodelay(value).unwrap();
            assert_eq!(options.nodelay().unwrap(), value);
            // The standard library reads the same option.
            assert_eq!(stream.nodelay().unwrap(), value);
            options.set_keepalive(value).unwrap();
            assert_eq!(options.keepalive().unwrap(), value);
        }
    }
}

#[test]
fn buffer_sizes() {
    let (_listener, client, _server_side) = tcp_pair();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (unix, _peer) = UnixStream::pair().unwrap();
    for options in [
        SocketOptions::new(&client),
        SocketOptions::new(&udp),
        SocketOptions::new(&unix),
    ] {
        options.set_recv_buffer_size(32 * 1024).unwrap();
        options.set_send_buffer_size(48 * 1024).unwrap();
        // Linux doubles what it is given (room for its bookkeeping).
        assert_eq!(options.recv_buffer_size().unwrap(), 64 * 1024);
        assert_eq!(options.send_buffer_size().unwrap(), 96 * 1024);
    }
}

#[test]
fn linger_round_trip() {
    let (_listener, client, _server_side) = tcp_pair();
    let options = SocketOptions::new(&client);
    assert_eq!(options.linger().unwrap(), None);
    for linger in [Some(Duration::from_secs(5)), Some(Duration::ZERO), None] {
        options.set_linger(linger).unwrap();
        assert_eq!(options.linger().unwrap(), linger);
    }
    // Raw view of the same option: struct linger { int l_onoff; int l_linger; }.
    options.set_linger(Some(Duration::from_secs(7))).unwrap();
    let mut raw = [0u8; 8];
    assert_eq!(
        options
            .get_raw(libc::SOL_SOCKET, libc::SO_LINGER, &mut raw)
            .unwrap(),
        8
    );
    assert_eq!(i32::from_ne_bytes(raw[..4].try_into().unwrap()), 1);
    assert_eq!(i32::from_ne_bytes(raw[4..].try_into().unwrap()), 7);
}

#[test]
fn reuse_ttl_broadcast_and_only_v6() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let options = SocketOptions::new(&listener);
    // The standard library sets SO_REUSEADDR on listeners.
    assert!(options.reuse_address().unwrap());
    options.set_reuse_address(false).unwrap();
    assert!(!options.reuse_address().unwrap());
    options.set_reuse_port(true).unwrap();
    assert!(options.reuse_port().unwrap());

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let options = SocketOptions::new(&udp);
    options.set_ttl(42).unwrap();
    assert_eq!(options.ttl().unwrap(), 42);
    assert_eq!(udp.ttl().unwrap(), 42);
    options.set_broadcast(true).unwrap();
    assert!(options.broadcast().unwrap());
    // IPV6_V6ONLY does not apply to an IPv4 socket.
    assert!(options.only_v6().is_err());

    // IPV6_V6ONLY is set before bind, on an IPv6 socket.
    let inet6 = rustix::net::socket(
        rustix::net::AddressFamily::INET6,
        rustix::net::SocketType::DGRAM,
        None,
    );
    match inet6 {
        Ok(udp6) => {
            let options = SocketOptions::new(&udp6);
            for value in [true, false] {
                options.set_only_v6(value).unwrap();
                assert_eq!(options.only_v6().unwrap(), value);
            }
            assert_eq!(options.family().unwrap(), SocketFamily::Inet6);
        }
        Err(e) => println!("no IPv6 ({e}): skipping the IPv6 part"),
    }
}

#[test]
fn raw_get_and_set() {
    let (_listener, client, _server_side) = tcp_pair();
    let options = SocketOptions::new(&client);
    options
        .set_raw(libc::SOL_SOCKET, libc::SO_KEEPALIVE, &1i32.to_ne_bytes())
        .unwrap();
    assert!(options.keepalive().unwrap());
    let mut value = [0xffu8; 4];
    assert_eq!(
        options
            .get_raw(libc::SOL_SOCKET, libc::SO_KEEPALIVE, &mut value)
            .unwrap(),
        4
    );
    assert_eq!(i32::from_ne_bytes(value), 1);
    options
        .set_raw(libc::SOL_SOCKET, libc::SO_KEEPALIVE, &0i32.to_ne_bytes())
        .unwrap();
    assert!(!options.keepalive().unwrap());

    // A buffer shorter than the value: the kernel cuts it, nothing overflows.
    let mut short = [0u8; 2];
    let len = options
        .get_raw(libc::SOL_SOCKET, libc::SO_TYPE, &mut short)
        .unwrap();
    assert!(len <= 2);
    // An empty buffer is fine too.
    assert_eq!(
        options
            .get_raw(libc::SOL_SOCKET, libc::SO_TYPE, &mut [])
            .unwrap(),
        0
    );

    // Unknown options and wrong sizes are OS errors, not panics.
    assert!(options
        .get_raw(libc::SOL_SOCKET, 0x7fff_ffff, &mut value)
        .is_err());
    assert!(options
        .set_raw(libc::SOL_SOCKET, libc::SO_KEEPALIVE, &[1])
        .is_err());
    assert!(options.set_raw(-1, -1, &[]).is_err());
}

#[test]
fn options_that_do_not_apply_are_errors() {
    let (unix, _peer) = UnixStream::pair().unwrap();
    let options = SocketOptions::new(&unix);
    assert!(options.set_nodelay(true).is_err());
    assert!(options.nodelay().is_err());
    assert!(options.ttl().is_err());
    // SO_ERROR is empty on a healthy socket.
    assert!(options.take_error().unwrap().is_none());
    assert_eq!(options.fd().as_raw_fd(), unix.as_raw_fd());
}

#[test]
fn type_family_and_connected_on_every_kind_of_socket() {
    let (listener, client, server_side) = tcp_pair();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_connected = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_connected.connect(udp.local_addr().unwrap()).unwrap();
    let (unix_a, _unix_b) = UnixStream::pair().unwrap();
    let (dgram_a, _dgram_b) = UnixDatagram::pair().unwrap();
    let dgram_unbound = UnixDatagram::unbound().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let unix_listener = UnixListener::bind(dir.path().join("l.sock")).unwrap();
    let seqpacket = os::unix_socket(SocketKind::SeqPacket).unwrap();

    let cases: [(&dyn AsFd, SocketKind, SocketFamily, bool); 10] = [
        (&listener, SocketKind::Stream, SocketFamily::Inet, false),
        (&client, SocketKind::Stream, SocketFamily::Inet, true),
        (&server_side, SocketKind::Stream, SocketFamily::Inet, true),
        (&udp, SocketKind::Datagram, SocketFamily::Inet, false),
        (
            &udp_connected,
            SocketKind::Datagram,
            SocketFamily::Inet,
            true,
        ),
        (&unix_a, SocketKind::Stream, SocketFamily::Unix, true),
        (&dgram_a, SocketKind::Datagram, SocketFamily::Unix, true),
        (
            &dgram_unbound,
            SocketKind::Datagram,
            SocketFamily::Unix,
            false,
        ),
        (
            &unix_listener,
            SocketKind::Stream,
            SocketFamily::Unix,
            false,
        ),
        (&seqpacket, SocketKind::SeqPacket, SocketFamily::Unix, false),
    ];
    for (i, (sock, kind, family, connected)) in cases.into_iter().enumerate() {
        let fd = sock.as_fd();
        assert_eq!(os::socket_type(fd).unwrap(), kind, "case {i}");
        assert_eq!(os::socket_family(fd).unwrap(), family, "case {i}");
        assert_eq!(os::is_connected(fd).unwrap(), connected, "case {i}");
        let families = if family == SocketFamily::Unix {
            UNIX
        } else {
            INET
        };
        os::ensure_socket(fd, families, kind).unwrap();
        assert_eq!(os::ensure_connected(fd).is_ok(), connected, "case {i}");
    }
}

#[test]
fn wrong_sockets_give_clear_errors() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (unix, _peer) = UnixStream::pair().unwrap();
    let dgram = UnixDatagram::unbound().unwrap();

    let error = os::ensure_socket(udp.as_fd(), INET, SocketKind::Stream).unwrap_err();
    assert!(matches!(
        error,
        InvalidSocketError::WrongKind {
            expected: SocketKind::Stream,
            found: SocketKind::Datagram
        }
    ));
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::InvalidInput);

    let error = os::ensure_socket(unix.as_fd(), INET, SocketKind::Stream).unwrap_err();
    assert_eq!(
        error.to_string(),
        "wrong address family: expected AF_INET or AF_INET6, found AF_UNIX"
    );
    assert!(matches!(
        error,
        InvalidSocketError::WrongFamily {
            found: SocketFamily::Unix,
            ..
        }
    ));

    let error = os::ensure_connected(dgram.as_fd()).unwrap_err();
    assert!(matches!(error, InvalidSocketError::NotConnected));
    assert_eq!(error.to_string(), "the socket is not connected");
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::NotConnected);

    // Not a socket at all.
    let (reader, _writer) = os::pipe().unwrap();
    let error = os::ensure_socket(reader.as_fd(), UNIX, SocketKind::Stream).unwrap_err();
    assert!(matches!(error, InvalidSocketError::NotASocket), "{error:?}");
    assert!(matches!(
        os::ensure_connected(reader.as_fd()),
        Err(InvalidSocketError::NotASocket)
    ));
    assert_eq!(
        os::socket_type(reader.as_fd()).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert!(os::is_connected(reader.as_fd()).is_err());
    let file = tempfile::tempfile().unwrap();
    assert!(matches!(
        os::ensure_socket(file.as_fd(), INET, SocketKind::Datagram),
        Err(InvalidSocketError::NotASocket)
    ));
}
