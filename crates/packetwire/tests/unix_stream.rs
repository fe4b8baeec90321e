//! Unix stream sockets: paths, abstract names, pairs, adoption; every test on tokio and smol.
#![cfg(any(feature = "tokio", feature = "smol"))]

mod common;

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use common::{payload, runtime_tests, sleep, unix_pair, zip};
use packetwire::net::{
    AdoptError, ConnectError, ReceiveError, SendError, UnixConnectOptions, UnixListener, UnixStream,
};

fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "@packetwire-test-{}-{tag}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

runtime_tests! {
    async fn connect_by_path(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).await?;
        assert_eq!(listener.local_addr().as_pathname(), Some(path.as_path()));
        let mut client = UnixStream::connect(&path).await?;
        let (mut server, peer) = listener.accept().await?;
        assert!(peer.is_unnamed(), "{peer:?}");
        assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
        assert!(client.local_addr()?.is_unnamed());
        client.send_all(b"over a path\n").await?;
        assert_eq!(server.receive_line().await?, "over a path\n");
        let _ = rt;
        Ok(())
    }

    async fn connect_by_abstract_name(rt) {
        let name = unique_name("abstract");
        let listener = UnixListener::bind(&name).await?;
        assert_eq!(listener.local_addr().as_abstract_name(), Some(&name.as_bytes()[1..]));
        let mut client = UnixConnectOptions::new()
            .runtime(Arc::clone(&rt))
            .connect_addr(listener.local_addr())
            .await?;
        let (mut server, _) = listener.accept().await?;
        assert_eq!(server.local_addr()?.as_abstract_name(), Some(&name.as_bytes()[1..]));
        server.send_all(b"hidden").await?;
        assert_eq!(client.receive_exactly(6).await?, "hidden");
        // No file was created.
        assert!(!std::path::Path::new(&name).exists());
        Ok(())
    }

    async fn connect_with_a_local_path(rt) {
        let dir = tempfile::tempdir()?;
        let server_path = dir.path().join("server.sock");
        let client_path = dir.path().join("client.sock");
        let listener = UnixListener::bind(&server_path).await?;
        let client = UnixConnectOptions::new()
            .local_path(&client_path)
            .connect(&server_path)
            .await?;
        let (_server, peer) = listener.accept().await?;
        assert_eq!(peer.as_pathname(), Some(client_path.as_path()));
        assert_eq!(client.local_addr()?.as_pathname(), Some(client_path.as_path()));
        let _ = rt;
        Ok(())
    }

    async fn connect_to_nothing_fails(rt) {
        let dir = tempfile::tempdir()?;
        let error = UnixStream::connect(dir.path().join("absent.sock")).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        let error = UnixStream::connect(unique_name("absent")).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        let _ = rt;
        Ok(())
    }

    async fn connect_times_out_on_a_full_backlog(rt) {
        use socket2::{Domain, Socket, Type};
        let name = unique_name("backlog");
        let raw = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        raw.bind(&socket2::SockAddr::unix(format!("\0{}", &name[1..]))?)?;
        raw.listen(0)?;
        let options = UnixConnectOptions::new().timeout(Duration::from_millis(150));
        let mut held = Vec::new();
        let mut timed_out = false;
        for _ in 0..64 {
            match options.connect(&name).await {
                Ok(stream) => held.push(stream),
                Err(ConnectError::TimedOut) => {
                    timed_out = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        assert!(timed_out, "the backlog never filled up");
        // Once the listener accepts, a waiting connect gets through.
        let accepting = async {
            sleep(&rt, 100).await;
            raw.set_nonblocking(true).unwrap();
            let mut accepted = Vec::new();
            while let Ok(conn) = raw.accept() {
                accepted.push(conn);
            }
            accepted
        };
        let patient = UnixConnectOptions::new().timeout(Duration::from_secs(5));
        let connecting = patient.connect(&name);
        let (_accepted, connected) = zip(accepting, connecting).await;
        connected?;
        Ok(())
    }

    async fn socketpair_half_close_and_large_payload(rt) {
        let (mut a, mut b) = unix_pair()?;
        let data = payload(2 * 1024 * 1024);
        let sending = async {
            a.send_all(&data).await?;
            a.send_eof()?;
            Ok::<_, SendError>(())
        };
        let (sent, got) = zip(sending, b.receive_exactly(data.len())).await;
        sent?;
        assert!(got? == data);
        assert!(matches!(b.receive(1).await, Err(ReceiveError::EndOfStream)));
        // The other direction still works after the half-close.
        b.send_all(b"still open").await?;
        assert_eq!(a.receive_exactly(10).await?, "still open");
        let _ = rt;
        Ok(())
    }

    async fn receive_until_over_the_limit(rt) {
        let (mut a, mut b) = unix_pair()?;
        b.set_limit(4);
        a.send_all(b"toolong|ok|").await?;
        sleep(&rt, 20).await;
        assert!(matches!(b.receive_until(b"|").await, Err(ReceiveError::LimitOverrun { .. })));
        assert_eq!(b.receive(7).await?, "toolong");
        assert_eq!(b.receive_until(b"|").await?, "|");
        assert_eq!(b.receive_until(b"|").await?, "ok|");
        Ok(())
    }

    async fn adopt_checks_the_socket(rt) {
        use socket2::{Domain, Socket, Type};
        let (left, right) = std::os::unix::net::UnixStream::pair()?;
        let mut left = UnixStream::from_std(left)?;
        let mut right = UnixStream::from_std_with_runtime(right, Arc::clone(&rt))?;
        left.send_all(b"x").await?;
        assert_eq!(right.receive(1).await?, "x");

        let (dgram, _other) = std::os::unix::net::UnixDatagram::pair()?;
        let as_stream = std::os::unix::net::UnixStream::from(OwnedFd::from(dgram));
        match UnixStream::from_std(as_stream) {
            Err(AdoptError::WrongType { found, .. }) => assert_eq!(found, "SOCK_DGRAM"),
            other => panic!("unexpected {other:?}"),
        }
        let tcp: OwnedFd = Socket::new(Domain::IPV4, Type::STREAM, None)?.into();
        match UnixStream::from_std(std::os::unix::net::UnixStream::from(tcp)) {
            Err(AdoptError::WrongFamily { found, .. }) => assert_eq!(found, "AF_INET"),
            other => panic!("unexpected {other:?}"),
        }
        let fresh: OwnedFd = Socket::new(Domain::UNIX, Type::STREAM, None)?.into();
        assert!(matches!(
            UnixStream::from_std(std::os::unix::net::UnixStream::from(fresh)),
            Err(AdoptError::NotConnected)
        ));
        Ok(())
    }

    async fn peer_resets_the_connection(rt) {
        let (mut a, b) = unix_pair()?;
        drop(b);
        // Writing to a closed peer is an I/O error (EPIPE), not a signal.
        let mut failed = false;
        for _ in 0..10 {
            if let Err(e) = a.send_all(&[0; 4096]).await {
                assert!(matches!(e, SendError::Io(_)), "{e:?}");
                failed = true;
                break;
            }
        }
        assert!(failed);
        let _ = rt;
        Ok(())
    }

    async fn custom_calls_through_the_seam(rt) {
        use rustix::net::{RecvFlags, SendFlags};
        let (a, mut b) = unix_pair()?;
        // A custom send, then a peek that leaves the bytes for the normal receive path.
        let sent = a
            .write_with(|fd| Ok(rustix::net::send(fd, b"peeked", SendFlags::NOSIGNAL)?))
            .await?;
        assert_eq!(sent, 6);
        let mut peek = [0u8; 16];
        let (n, _) = b
            .read_with(|fd| Ok(rustix::net::recv(fd, &mut peek[..], RecvFlags::PEEK)?))
            .await?;
        assert_eq!(&peek[..n], b"peeked");
        assert_eq!(b.receive_exactly(6).await?, "peeked");
        let _ = rt;
        Ok(())
    }
}
