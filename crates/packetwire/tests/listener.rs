//! Listeners and servers: binding, Unix socket files, serve and shutdown; every test on tokio
//! and smol.
#![cfg(any(feature = "tokio", feature = "smol"))]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{has_ipv6, runtime_tests, sleep};
use packetwire::net::{
    ConnectError, ReceiveError, StaleSocketPolicy, TcpListener, TcpListenerOptions, TcpStream,
    UnixListener, UnixListenerOptions, UnixStream,
};

/// A socket file nobody listens on (std's listener leaves its file behind when dropped).
fn stale_socket_file(path: &std::path::Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    assert!(path.exists());
}

runtime_tests! {
    async fn tcp_all_interfaces_share_one_port(rt) {
        let listener = TcpListenerOptions::new()
            .runtime(Arc::clone(&rt))
            .bind("", 0)
            .await?;
        let addrs = listener.local_addrs().to_vec();
        assert_eq!(listener.sockets().len(), addrs.len());
        let port = addrs[0].port();
        assert!(addrs.iter().all(|a| a.port() == port && a.ip().is_unspecified()));
        assert!(addrs.iter().any(|a| a.is_ipv4()));
        if has_ipv6() {
            assert_eq!(addrs.len(), 2);
            // IPV6_V6ONLY: the IPv6 socket does not take IPv4 connections, the IPv4 one does.
            let fds = listener.sockets();
            assert!(socket2::SockRef::from(&fds[0]).only_v6()?);
            let _c6 = TcpStream::connect("::1", port).await?;
            let (_, peer) = listener.accept().await?;
            assert!(peer.is_ipv6());
        }
        let _c4 = TcpStream::connect("127.0.0.1", port).await?;
        let (_, peer) = listener.accept().await?;
        assert!(peer.is_ipv4());
        Ok(())
    }

    async fn tcp_bind_several_addresses(rt) {
        if !has_ipv6() {
            return Ok(());
        }
        let listener = TcpListenerOptions::new()
            .backlog(5)
            .bind_addrs(&["127.0.0.1:0".parse()?, "[::1]:0".parse()?])
            .await?;
        let addrs = listener.local_addrs();
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[0].port(), addrs[1].port());
        // Accept from both sockets.
        let _a = TcpStream::connect("::1", addrs[0].port()).await?;
        let _b = TcpStream::connect("127.0.0.1", addrs[0].port()).await?;
        let (_, first) = listener.accept().await?;
        let (_, second) = listener.accept().await?;
        assert_ne!(first.is_ipv4(), second.is_ipv4());
        let _ = rt;
        Ok(())
    }

    async fn tcp_adopt_a_std_listener(rt) {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = std_listener.local_addr()?;
        let listener = TcpListener::from_std(std_listener)?;
        assert_eq!(listener.local_addrs(), [addr]);
        let _client = TcpStream::connect("127.0.0.1", addr.port()).await?;
        listener.accept().await?;
        // A socket that is not listening.
        let unbound: std::os::fd::OwnedFd =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?.into();
        assert!(matches!(
            TcpListener::from_std(std::net::TcpListener::from(unbound)),
            Err(packetwire::net::AdoptError::NotListening)
        ));
        let _ = rt;
        Ok(())
    }

    async fn unix_stale_socket_policy(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("stale.sock");
        stale_socket_file(&path);

        // Fail (the default): the stale file is in the way.
        let error = UnixListener::bind(&path).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert!(path.exists());

        // RemoveIfStale: nobody listens, so it is replaced.
        let options = UnixListenerOptions::new().stale_socket(StaleSocketPolicy::RemoveIfStale);
        let listener = options.bind(&path).await?;
        let _client = UnixStream::connect(&path).await?;
        listener.accept().await?;

        // A live listener is never taken over.
        let error = options.bind(&path).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains("in use"), "{error}");
        let _client = UnixStream::connect(&path).await?;
        listener.accept().await?;

        // A path that is not a socket is never removed.
        let file = dir.path().join("plain.file");
        std::fs::write(&file, b"keep me")?;
        let error = options.bind(&file).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        assert_eq!(std::fs::read(&file)?, b"keep me");
        let _ = rt;
        Ok(())
    }

    async fn unix_socket_file_removed_on_drop_only_if_ours(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("mine.sock");
        let listener = UnixListener::bind(&path).await?;
        assert!(path.exists());
        drop(listener);
        assert!(!path.exists(), "our own file is removed");

        // Someone replaces the file behind the listener: theirs stays.
        let listener = UnixListener::bind(&path).await?;
        std::fs::remove_file(&path)?;
        let theirs = std::os::unix::net::UnixListener::bind(&path)?;
        drop(listener);
        assert!(path.exists(), "a replaced file must be left alone");
        let _still_works = std::os::unix::net::UnixStream::connect(&path)?;
        drop(theirs);

        // Replaced by a plain file: also left alone.
        std::fs::remove_file(&path)?;
        let listener = UnixListener::bind(&path).await?;
        std::fs::remove_file(&path)?;
        std::fs::write(&path, b"not a socket")?;
        drop(listener);
        assert_eq!(std::fs::read(&path)?, b"not a socket");
        let _ = rt;
        Ok(())
    }

    async fn unix_file_mode(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("private.sock");
        let _listener = UnixListenerOptions::new().mode(0o600).bind(&path).await?;
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let path = dir.path().join("shared.sock");
        let _listener = UnixListenerOptions::new().mode(0o666).bind(&path).await?;
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o666);
        let _ = rt;
        Ok(())
    }

    async fn unix_adopted_listener_leaves_its_file(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("adopted.sock");
        let listener = UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path)?)?;
        let _client = UnixStream::connect(&path).await?;
        listener.accept().await?;
        drop(listener);
        assert!(path.exists());
        let _ = rt;
        Ok(())
    }

    async fn serve_and_graceful_shutdown_with_an_active_client(rt) {
        let server = TcpListener::bind("127.0.0.1", 0).await?.serve(|mut stream| async move {
            while let Ok(line) = stream.receive_line().await {
                if stream.send_all(&line).await.is_err() {
                    return;
                }
            }
            let _ = stream.send_all(b"bye\n").await;
        });
        assert!(server.is_serving());
        assert_eq!(server.sockets().len(), 1);
        let port = server.local_addrs()[0].port();

        let mut client = TcpStream::connect("127.0.0.1", port).await?;
        client.send_all(b"one\n").await?;
        assert_eq!(client.receive_line().await?, "one\n");
        assert_eq!(server.active_connections(), 1);

        // Shut down while the client is connected; it finishes its session within the grace
        // period.
        let rt2 = Arc::clone(&rt);
        let client_session = async move {
            sleep(&rt2, 200).await;
            client.send_all(b"two\n").await?;
            let echoed = client.receive_line().await?;
            client.send_eof()?;
            let bye = client.receive_line().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((echoed, bye))
        };
        let started = Instant::now();
        let (outcome, session) = common::zip(server.shutdown(Duration::from_secs(10)), client_session).await;
        let (echoed, bye) = session?;
        assert_eq!(echoed, "two\n");
        assert_eq!(bye, "bye\n");
        assert_eq!(outcome.finished, 1);
        assert_eq!(outcome.aborted, 0);
        assert!(started.elapsed() < Duration::from_secs(5));

        // Closed: new connections are refused.
        assert!(matches!(
            TcpStream::connect("127.0.0.1", port).await,
            Err(ConnectError::AllAttemptsFailed(_))
        ));
        Ok(())
    }

    async fn shutdown_aborts_connections_after_the_grace_period(rt) {
        let server = TcpListener::bind("127.0.0.1", 0).await?.serve(|mut stream| async move {
            // Never ends on its own.
            let _ = stream.send_all(b"hello\n").await;
            std::future::pending::<()>().await;
        });
        let port = server.local_addrs()[0].port();
        let mut client = TcpStream::connect("127.0.0.1", port).await?;
        assert_eq!(client.receive_line().await?, "hello\n");
        let started = Instant::now();
        let outcome = server.shutdown(Duration::from_millis(200)).await;
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(outcome.aborted, 1);
        assert_eq!(outcome.finished, 0);
        // The aborted handler dropped its stream: the client sees the end of the stream.
        assert!(matches!(client.receive(10).await, Err(ReceiveError::EndOfStream)));
        let _ = rt;
        Ok(())
    }

    async fn abort_stops_everything_at_once(rt) {
        let server = TcpListener::bind("127.0.0.1", 0).await?.serve(|_stream| async move {
            std::future::pending::<()>().await;
        });
        let port = server.local_addrs()[0].port();
        let mut client = TcpStream::connect("127.0.0.1", port).await?;
        // Wait until the connection task runs.
        while server.active_connections() == 0 {
            sleep(&rt, 5).await;
        }
        server.abort().await;
        assert!(matches!(client.receive(10).await, Err(ReceiveError::EndOfStream)));
        Ok(())
    }

    async fn a_panicking_handler_does_not_stop_the_server(rt) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let server = TcpListener::bind("127.0.0.1", 0).await?.serve(move |mut stream| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("handler panic (expected by this test)");
                }
                let _ = stream.send_all(b"served\n").await;
            }
        });
        let port = server.local_addrs()[0].port();
        let mut first = TcpStream::connect("127.0.0.1", port).await?;
        assert!(first.receive(10).await.unwrap_err().is_end_of_stream());
        let mut second = TcpStream::connect("127.0.0.1", port).await?;
        assert_eq!(second.receive_line().await?, "served\n");
        assert!(server.is_serving());
        server.abort().await;
        let _ = rt;
        Ok(())
    }

    async fn unix_server_close_removes_the_file(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("served.sock");
        let mut server = UnixListener::bind(&path).await?.serve(|mut stream| async move {
            let _ = stream.send_all(b"unix\n").await;
        });
        assert_eq!(server.local_addrs()[0].as_pathname(), Some(path.as_path()));
        let mut client = UnixStream::connect(&path).await?;
        assert_eq!(client.receive_line().await?, "unix\n");
        server.close().await;
        assert!(!server.is_serving());
        assert!(server.sockets().is_empty());
        assert!(!path.exists());
        let outcome = server.shutdown(Duration::from_secs(1)).await;
        assert_eq!(outcome.aborted, 0);
        let _ = rt;
        Ok(())
    }

    async fn dropping_the_server_stops_it(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("dropped.sock");
        let server = UnixListener::bind(&path).await?.serve(|_stream| async move {
            std::future::pending::<()>().await;
        });
        let mut client = UnixStream::connect(&path).await?;
        while server.active_connections() == 0 {
            sleep(&rt, 5).await;
        }
        drop(server);
        assert!(client.receive(1).await.unwrap_err().is_end_of_stream());
        // The accept task is gone with the listener, and the file with it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while path.exists() && Instant::now() < deadline {
            sleep(&rt, 10).await;
        }
        assert!(!path.exists());
        Ok(())
    }
}
