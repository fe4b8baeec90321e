//! Blocking listeners: all interfaces, several addresses, adoption, accept timeouts, Unix
//! socket files (stale-file policy, inode-checked unlink, mode).

mod blocking_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use blocking_support::{bounded_tests, has_ipv6, join, unique_name};
use packetwire::blocking::{
    AdoptError, StaleSocketPolicy, TcpListener, TcpListenerOptions, TcpStream, UnixConnectOptions,
    UnixListener, UnixListenerOptions, UnixStream,
};
use packetwire::sockopt::SocketOptions;

/// A socket file nobody listens on (std's listener leaves its file behind when dropped).
fn stale_socket_file(path: &std::path::Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    assert!(path.exists());
}

bounded_tests! {
    fn tcp_all_interfaces_share_one_port() {
        let listener = TcpListener::bind("", 0)?;
        let addrs = listener.local_addrs().to_vec();
        let sockets = listener.sockets();
        assert_eq!(sockets.len(), addrs.len());
        let port = addrs[0].port();
        assert!(addrs.iter().all(|a| a.port() == port && a.ip().is_unspecified()));
        assert!(addrs.iter().any(|a| a.is_ipv4()));
        for fd in &sockets {
            assert!(SocketOptions::from_fd(*fd).reuse_address()?);
        }
        if has_ipv6() {
            assert_eq!(addrs.len(), 2);
            // IPV6_V6ONLY: the IPv6 socket does not take IPv4 connections, the IPv4 one does.
            let v6 = addrs.iter().position(|a| a.is_ipv6()).unwrap();
            assert!(SocketOptions::from_fd(sockets[v6]).only_v6()?);
            let _c6 = TcpStream::connect("::1", port)?;
            let (_, peer) = listener.accept()?;
            assert!(peer.is_ipv6());
        }
        let _c4 = TcpStream::connect("127.0.0.1", port)?;
        let (stream, peer) = listener.accept()?;
        assert!(peer.is_ipv4());
        assert!(stream.socket_options().nodelay()? && stream.socket_options().keepalive()?);
        Ok(())
    }

    fn tcp_bind_several_addresses() {
        if !has_ipv6() {
            return Ok(());
        }
        let listener = TcpListenerOptions::new()
            .backlog(5)
            .limit(100)
            .bind_addrs(&["127.0.0.1:0".parse()?, "[::1]:0".parse()?])?;
        let addrs = listener.local_addrs();
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[0].port(), addrs[1].port());
        let _a = TcpStream::connect("::1", addrs[0].port())?;
        let _b = TcpStream::connect("127.0.0.1", addrs[0].port())?;
        let (first, a) = listener.accept()?;
        let (_, b) = listener.accept()?;
        assert_ne!(a.is_ipv4(), b.is_ipv4());
        assert_eq!(first.limit(), 100);
        Ok(())
    }

    fn tcp_addr_in_use_and_reuse_port() {
        let first = TcpListener::bind("127.0.0.1", 0)?;
        let port = first.local_addrs()[0].port();
        let error = TcpListener::bind("127.0.0.1", port).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains("cannot listen on"), "{error}");
        let options = TcpListenerOptions::new().reuse_port(true);
        let a = options.bind("127.0.0.1", 0)?;
        let port = a.local_addrs()[0].port();
        let b = options.bind("127.0.0.1", port)?;
        assert_eq!(b.local_addrs()[0].port(), port);
        assert!(SocketOptions::from_fd(b.sockets()[0]).reuse_port()?);
        Ok(())
    }

    fn tcp_adopt_a_std_listener() {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = std_listener.local_addr()?;
        let listener = TcpListener::from_std(std_listener)?;
        assert_eq!(listener.local_addrs(), [addr]);
        let _client = TcpStream::connect("127.0.0.1", addr.port())?;
        listener.accept()?;
        let unbound: std::os::fd::OwnedFd =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?.into();
        assert!(matches!(
            TcpListener::from_std(std::net::TcpListener::from(unbound)),
            Err(AdoptError::NotListening)
        ));
        let udp: std::os::fd::OwnedFd =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?.into();
        assert!(matches!(
            TcpListener::from_std(std::net::TcpListener::from(udp)),
            Err(AdoptError::WrongType { .. })
        ));
        Ok(())
    }

    fn accept_timeout() {
        let mut listener = TcpListener::bind("127.0.0.1", 0)?;
        assert_eq!(listener.accept_timeout(), None);
        listener.set_accept_timeout(Some(Duration::from_millis(50)));
        let started = Instant::now();
        let error = listener.accept().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(45));
        // A connection that arrives while waiting is taken.
        let port = listener.local_addrs()[0].port();
        let connecting = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            TcpStream::connect("127.0.0.1", port)
        });
        let (_stream, _) = listener.accept_within(Some(Duration::from_secs(10)))?;
        let _client = join(connecting)?;

        let unix = UnixListener::bind(unique_name("accept-timeout"))?;
        let error = unix.accept_within(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        Ok(())
    }

    fn several_threads_accept_from_one_listener() {
        let listener = TcpListener::bind("", 0)?;
        let port = listener.local_addrs()[0].port();
        std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let acceptors: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| -> std::io::Result<Vec<u8>> {
                        let (mut stream, _) = listener.accept()?;
                        Ok(stream.receive_line()?.to_vec())
                    })
                })
                .collect();
            let mut clients = Vec::new();
            for i in 0..4 {
                let mut client = TcpStream::connect("127.0.0.1", port)?;
                client.send_all(format!("client {i}\n").as_bytes())?;
                clients.push(client);
            }
            let mut lines: Vec<Vec<u8>> =
                acceptors.into_iter().map(|a| a.join().unwrap()).collect::<Result<_, _>>()?;
            lines.sort();
            assert_eq!(lines, (0..4).map(|i| format!("client {i}\n").into_bytes()).collect::<Vec<_>>());
            Ok(())
        })
    }

    fn unix_stale_socket_policy() {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("stale.sock");
        stale_socket_file(&path);

        // Fail (the default): the stale file is in the way.
        let error = UnixListener::bind(&path).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert!(path.exists());

        // RemoveIfStale: nobody listens, so it is replaced.
        let options = UnixListenerOptions::new().stale_socket(StaleSocketPolicy::RemoveIfStale);
        let listener = options.bind(&path)?;
        let _client = UnixStream::connect(&path)?;
        listener.accept()?;

        // A live listener is never taken over.
        let error = options.bind(&path).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains("in use"), "{error}");
        let _client = UnixStream::connect(&path)?;
        listener.accept()?;

        // A path that is not a socket is never removed.
        let file = dir.path().join("plain.file");
        std::fs::write(&file, b"keep me")?;
        let error = options.bind(&file).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert_eq!(std::fs::read(&file)?, b"keep me");
        Ok(())
    }

    fn unix_socket_file_removed_on_drop_only_if_ours() {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("mine.sock");
        let listener = UnixListener::bind(&path)?;
        assert!(path.exists());
        drop(listener);
        assert!(!path.exists(), "our own file is removed");

        // Someone replaces the file behind the listener: theirs stays.
        let listener = UnixListener::bind(&path)?;
        std::fs::remove_file(&path)?;
        let theirs = std::os::unix::net::UnixListener::bind(&path)?;
        drop(listener);
        assert!(path.exists(), "a replaced file must be left alone");
        let _still_works = std::os::unix::net::UnixStream::connect(&path)?;
        drop(theirs);

        // Replaced by a plain file: also left alone.
        std::fs::remove_file(&path)?;
        let listener = UnixListener::bind(&path)?;
        std::fs::remove_file(&path)?;
        std::fs::write(&path, b"not a socket")?;
        drop(listener);
        assert_eq!(std::fs::read(&path)?, b"not a socket");
        Ok(())
    }

    fn unix_file_mode() {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("private.sock");
        let _listener = UnixListenerOptions::new().mode(0o600).bind(&path)?;
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        let path = dir.path().join("shared.sock");
        let _listener = UnixListenerOptions::new().mode(0o666).backlog(1).bind(&path)?;
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o666);
        Ok(())
    }

    fn unix_adopted_listener_leaves_its_file() {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("adopted.sock");
        let listener = UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path)?)?;
        assert_eq!(listener.local_addr().as_pathname(), Some(path.as_path()));
        let _client = UnixStream::connect(&path)?;
        listener.accept()?;
        drop(listener);
        assert!(path.exists());
        let (a, _b) = std::os::unix::net::UnixStream::pair()?;
        let not_listening = std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(a));
        assert!(matches!(UnixListener::from_std(not_listening), Err(AdoptError::NotListening)));
        Ok(())
    }

    fn unix_abstract_listener_and_named_peers() {
        let name = unique_name("listener");
        let listener = UnixListenerOptions::new().limit(32).bind(&name)?;
        assert_eq!(listener.local_addrs().len(), 1);
        assert_eq!(listener.sockets().len(), 1);
        let client_name = unique_name("peer");
        let mut client = UnixConnectOptions::new().local_path(&client_name).connect(&name)?;
        let (mut server, peer) = listener.accept()?;
        assert_eq!(peer.as_abstract_name(), Some(&client_name.as_bytes()[1..]));
        assert_eq!(server.limit(), 32);
        client.send_all(b"abstract\n")?;
        assert_eq!(server.receive_line()?, "abstract\n");
        Ok(())
    }
}
