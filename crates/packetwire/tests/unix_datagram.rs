//! Unix datagram sockets: paths, abstract names, auto-bind, descriptor and credential
//! passing, truncation; every async test on tokio and smol, then the blocking shell.
//!
//! The tests that check received descriptors are closed count the open descriptors of one
//! pipe (`/proc/self/fd` entries naming its inode), which other tests cannot disturb; they
//! also hold `FD_LOCK`, one at a time.
#![cfg(any(target_os = "linux", target_os = "android"))]

#[allow(unused_imports)] // `runtime_tests` is unused when no runtime feature is on.
mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

use packetwire::unix::Credentials;

static FD_LOCK: Mutex<()> = Mutex::new(());

fn fd_lock() -> MutexGuard<'static, ()> {
    FD_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many descriptors of this process are open on the same file as `fd` (for a pipe: both
/// ends).
fn open_count(fd: &impl AsFd) -> usize {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|link| *link == target)
        .count()
}

/// Writes through a received descriptor and closes it.
fn write_through(fd: OwnedFd, data: &[u8]) {
    File::from(fd).write_all(data).unwrap();
}

/// Reads a pipe's read end to the end.
fn read_pipe(fd: OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    File::from(fd).read_to_end(&mut out).unwrap();
    out
}

/// This process's identity, read from `/proc/self/status` (not from packetwire).
fn proc_credentials() -> Credentials {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u32 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    Credentials::new(std::process::id() as i32, field("Uid:"), field("Gid:"))
}

fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "@packetwire-dgram-test-{}-{tag}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(any(feature = "tokio", feature = "smol"))]
mod async_shell {
    use std::io::ErrorKind;
    use std::os::fd::{AsFd, OwnedFd};
    use std::sync::Arc;
    use std::time::Duration;

    use smol::stream::StreamExt;

    use super::common::{payload, runtime_tests};
    use super::{fd_lock, open_count, proc_credentials, read_pipe, unique_name, write_through};
    use packetwire::net::{
        AdoptError, ConnectError, DatagramReceiveError, UnixDatagram, UnixDatagramOptions,
    };
    use packetwire::runtime::{self, Elapsed};
    use packetwire::unix::{SocketAncillary, UnixSocketAddress};

    runtime_tests! {
        async fn unbound_client_to_a_path(rt) {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("server.sock");
            let server = UnixDatagram::bind(&path).await?;
            assert_eq!(server.local_addr()?.as_pathname(), Some(path.as_path()));
            let client = UnixDatagram::unbound()?;
            assert!(client.local_addr()?.is_unnamed());
            let server_addr = UnixSocketAddress::from_pathname(&path)?;
            client.send_to(b"anonymous", &server_addr).await?;
            let (datagram, from) = server.receive_from().await?;
            assert_eq!(datagram, "anonymous");
            // Nobody can answer an unnamed sender.
            assert!(from.is_unnamed());
            let error = server.send_to(b"?", &from).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidInput);
            let _ = rt;
            Ok(())
        }

        async fn connect_auto_binds_so_the_server_can_answer(rt) {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("server.sock");
            let server = UnixDatagram::bind(&path).await?;
            let client = UnixDatagram::connect(&path).await?;
            let client_addr = client.local_addr()?;
            assert!(client_addr.as_abstract_name().is_some(), "{client_addr}");
            assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));

            client.send(b"ping").await?;
            let (datagram, from) = server.receive_from().await?;
            assert_eq!((datagram.as_ref(), &from), (&b"ping"[..], &client_addr));
            server.send_to(b"pong", &from).await?;
            assert_eq!(client.receive().await?, "pong");

            // Without auto-bind the client stays unnamed.
            let unnamed = UnixDatagramOptions::new().autobind(false).connect(&path).await?;
            assert!(unnamed.local_addr()?.is_unnamed());
            let _ = rt;
            Ok(())
        }

        async fn abstract_names_and_local_paths(rt) {
            let name = unique_name("abstract");
            let server = UnixDatagram::bind(&name).await?;
            assert_eq!(server.local_addr()?.to_string(), name);
            assert!(!std::path::Path::new(&name).exists());

            let dir = tempfile::tempdir()?;
            let client_path = dir.path().join("client.sock");
            let client = UnixDatagramOptions::new()
                .local_path(&client_path)
                .runtime(Arc::clone(&rt))
                .connect(&name)
                .await?;
            client.send(b"named").await?;
            let (_, from) = server.receive_from().await?;
            assert_eq!(from.as_pathname(), Some(client_path.as_path()));

            let other_name: UnixSocketAddress = unique_name("other").parse()?;
            let other = UnixDatagramOptions::new().local_addr(other_name.clone()).unbound()?;
            assert_eq!(other.local_addr()?, other_name);
            other.send_to(b"by address", &server.local_addr()?).await?;
            assert_eq!(server.receive_from().await?, (bytes::Bytes::from_static(b"by address"), other_name));

            let bad = UnixDatagramOptions::new().local_path("bad\0path").unbound().unwrap_err();
            assert_eq!(bad.kind(), ErrorKind::InvalidInput);
            Ok(())
        }

        async fn pairs_and_peer_credentials(rt) {
            let (a, b) = UnixDatagram::pair()?;
            a.send(b"to b").await?;
            b.send(b"to a").await?;
            assert_eq!(b.receive().await?, "to b");
            assert_eq!(a.receive_from().await?, (bytes::Bytes::from_static(b"to a"), UnixSocketAddress::Unnamed));
            assert_eq!(a.peer_credentials()?, proc_credentials());
            let _ = rt;
            Ok(())
        }

        async fn oversized_datagram_is_an_error_and_the_socket_goes_on(rt) {
            let (a, b) = UnixDatagram::pair()?;
            assert_eq!(b.max_datagram_size(), 65536);
            a.socket_options().set_send_buffer_size(1 << 20)?;
            b.socket_options().set_recv_buffer_size(1 << 20)?;
            a.send(&payload(70_000)).await?;
            a.send(b"next").await?;
            match b.receive().await {
                Err(DatagramReceiveError::Truncated { buffer_len: 65536 }) => {}
                other => panic!("unexpected {other:?}"),
            }
            assert_eq!(b.receive().await?, "next");

            let (small_a, small_b) = UnixDatagramOptions::new().max_datagram_size(4).pair()?;
            small_a.send(b"12345").await?;
            small_a.send(b"1234").await?;
            assert!(matches!(small_b.receive_from().await, Err(DatagramReceiveError::Truncated { buffer_len: 4 })));
            assert_eq!(small_b.receive_from().await?.0, "1234");
            let _ = rt;
            Ok(())
        }

        async fn connected_socket_refuses_foreign_senders(rt) {
            let server = UnixDatagram::bind(unique_name("server")).await?;
            let client = UnixDatagram::connect(server.local_addr()?.to_string()).await?;
            let foreign = UnixDatagramOptions::new().unbound()?;
            // The kernel refuses a datagram for a socket connected to somebody else.
            let error = foreign.send_to(b"foreign", &client.local_addr()?).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error:?}");
            server.send_to(b"peer", &client.local_addr()?).await?;
            assert_eq!(client.receive().await?, "peer");
            let quiet = runtime::timeout(&*rt, Duration::from_millis(100), client.receive()).await;
            assert!(matches!(quiet, Err(Elapsed)), "{quiet:?}");
            Ok(())
        }

        async fn connection_refused(rt) {
            match UnixDatagram::connect(unique_name("nobody")).await {
                Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e:?}"),
                Ok(_) => panic!("connected to nobody"),
            }
            let dir = tempfile::tempdir()?;
            match UnixDatagram::connect(dir.path().join("absent")).await {
                Err(ConnectError::Io(e)) => assert_eq!(e.kind(), ErrorKind::NotFound),
                other => panic!("unexpected {other:?}"),
            }
            // Once the peer is gone, sends are refused.
            let server = UnixDatagram::bind(unique_name("gone")).await?;
            let client = UnixDatagram::connect(server.local_addr()?.to_string()).await?;
            client.send(b"first").await?;
            drop(server);
            let error = client.send(b"second").await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error:?}");
            let _ = rt;
            Ok(())
        }

        async fn pass_a_pipe_and_write_through_it(rt) {
            let (a, b) = UnixDatagram::pair()?;
            let (reader, writer) = packetwire::os::pipe()?;
            let mut out = SocketAncillary::new();
            out.add_fd(&writer);
            a.send_with_ancillary(b"a pipe for you", &out).await?;
            drop(out);
            drop(writer);

            let mut anc = SocketAncillary::new();
            let (datagram, from) = b.receive_with_ancillary(&mut anc).await?;
            assert_eq!(datagram, "a pipe for you");
            assert!(from.is_unnamed());
            let [fd] = <[OwnedFd; 1]>::try_from(anc.take_fds()).map_err(|_| "one fd expected")?;
            write_through(fd, b"through the datagram socket");
            assert_eq!(read_pipe(reader), b"through the datagram socket");
            let _ = rt;
            Ok(())
        }

        async fn send_to_with_ancillary_and_credentials(rt) {
            let server = UnixDatagram::bind(unique_name("creds")).await?;
            server.set_passcred(true)?;
            assert!(server.passcred()?);
            let client = UnixDatagram::unbound()?;
            let (reader, writer) = packetwire::os::pipe()?;
            let mut out = SocketAncillary::new();
            out.add_fd(&writer).add_fd(&reader);
            client.send_to_with_ancillary(b"two fds", &out, &server.local_addr()?).await?;

            let mut anc = SocketAncillary::new();
            let (datagram, _) = server.receive_with_ancillary(&mut anc).await?;
            assert_eq!(datagram, "two fds");
            assert_eq!(anc.credentials().collect::<Vec<_>>(), [proc_credentials()]);
            assert_eq!(anc.take_fds().len(), 2);

            // Credentials come with plain datagrams too, once SO_PASSCRED is on.
            client.send_to(b"plain", &server.local_addr()?).await?;
            let mut anc = SocketAncillary::new();
            server.receive_with_ancillary(&mut anc).await?;
            assert_eq!(anc.credentials().next(), Some(proc_credentials()));
            let _ = rt;
            Ok(())
        }

        // The guard serialises the descriptor-counting tests; each test runs on its own
        // runtime and thread, so holding it across awaits blocks nobody else's progress.
        #[allow(clippy::await_holding_lock)]
        async fn control_truncation_closes_what_arrived(rt) {
            let _guard = fd_lock();
            let (a, b) = UnixDatagram::pair()?;
            let (reader, writer) = packetwire::os::pipe()?;
            let before = open_count(&reader);
            assert_eq!(before, 2);
            let mut out = SocketAncillary::new();
            out.add_fds(&[writer.as_fd(), writer.as_fd(), reader.as_fd()]);
            a.send_with_ancillary(b"three fds", &out).await?;
            // Room for one descriptor only: the kernel sets MSG_CTRUNC.
            let mut small = SocketAncillary::with_recv_capacity(SocketAncillary::space_for_fds(1));
            match b.receive_with_ancillary(&mut small).await {
                Err(DatagramReceiveError::ControlTruncated { fds_closed, .. }) => assert!(fds_closed >= 1),
                other => panic!("unexpected {other:?}"),
            }
            assert!(small.is_received_empty());
            assert_eq!(open_count(&reader), before);
            // The socket goes on.
            a.send(b"after").await?;
            assert_eq!(b.receive_with_ancillary(&mut small).await?.0, "after");
            let _ = rt;
            Ok(())
        }

        async fn incoming_yields_datagrams_in_order(rt) {
            let server = UnixDatagram::bind(unique_name("incoming")).await?;
            let client = UnixDatagram::connect(server.local_addr()?.to_string()).await?;
            // Linux queues 10 datagrams per socket by default (net.unix.max_dgram_qlen).
            for i in 0..8u8 {
                client.send(&[i; 2]).await?;
            }
            let mut incoming = server.incoming();
            for i in 0..8u8 {
                let (datagram, from) = incoming.next().await.ok_or("the stream ended")??;
                assert_eq!(datagram, &[i; 2][..]);
                server.send_to(&[i], &from).await?;
            }
            for i in 0..8u8 {
                assert_eq!(client.receive().await?, &[i][..]);
            }
            let _ = rt;
            Ok(())
        }

        async fn sends_wait_for_room_in_a_full_queue(rt) {
            // Connected: the kernel wakes the sender when the peer reads.
            let server = UnixDatagram::bind(unique_name("full")).await?;
            let connected = UnixDatagram::connect(server.local_addr()?.to_string()).await?;
            // Unconnected: no wake-up exists; send_to tries again after a delay.
            let unconnected = UnixDatagram::unbound()?;
            let server_addr = server.local_addr()?;
            let sending = async {
                for i in 0..40u8 {
                    connected.send(&[0, i]).await?;
                    unconnected.send_to(&[1, i], &server_addr).await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let receiving = async {
                crate::common::sleep(&rt, 50).await;
                let (mut next_connected, mut next_unconnected) = (0u8, 0u8);
                for _ in 0..80 {
                    let datagram = server.receive().await?;
                    let next = if datagram[0] == 0 { &mut next_connected } else { &mut next_unconnected };
                    assert_eq!(datagram[1], *next, "out of order");
                    *next += 1;
                }
                Ok::<_, DatagramReceiveError>(())
            };
            let (sent, received) = crate::common::zip(sending, receiving).await;
            sent?;
            received?;
            Ok(())
        }

        async fn adopt_checks_the_socket(rt) {
            let (left, right) = std::os::unix::net::UnixDatagram::pair()?;
            let left = UnixDatagram::from_std(left)?;
            let right = UnixDatagram::from_std_with_runtime(right, Arc::clone(&rt))?;
            left.send(b"adopted").await?;
            assert_eq!(right.receive().await?, "adopted");

            let (stream, _other) = std::os::unix::net::UnixStream::pair()?;
            let as_dgram = std::os::unix::net::UnixDatagram::from(OwnedFd::from(stream));
            match UnixDatagram::from_std(as_dgram) {
                Err(AdoptError::WrongType { found, .. }) => assert_eq!(found, "SOCK_STREAM"),
                other => panic!("unexpected {other:?}"),
            }
            let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
            let as_dgram = std::os::unix::net::UnixDatagram::from(OwnedFd::from(udp));
            match UnixDatagram::from_std(as_dgram) {
                Err(AdoptError::WrongFamily { found, .. }) => assert_eq!(found, "AF_INET"),
                other => panic!("unexpected {other:?}"),
            }
            Ok(())
        }
    }
}

mod blocking_shell {
    use std::io::ErrorKind;
    use std::os::fd::{AsFd, OwnedFd};
    use std::time::{Duration, Instant};

    use super::{fd_lock, open_count, proc_credentials, read_pipe, unique_name, write_through};
    use packetwire::blocking::{UnixDatagram, UnixDatagramOptions};
    use packetwire::net::DatagramReceiveError;
    use packetwire::unix::{SocketAncillary, UnixSocketAddress};

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn pair() -> (UnixDatagram, UnixDatagram) {
        UnixDatagramOptions::new()
            .receive_timeout(TIMEOUT)
            .send_timeout(TIMEOUT)
            .pair()
            .unwrap()
    }

    #[test]
    fn bind_connect_and_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.sock");
        let server = UnixDatagramOptions::new()
            .receive_timeout(TIMEOUT)
            .bind(&path)
            .unwrap();
        let client = UnixDatagramOptions::new()
            .receive_timeout(TIMEOUT)
            .connect(&path)
            .unwrap();
        client.send(b"ping").unwrap();
        let (datagram, from) = server.receive_from().unwrap();
        assert_eq!(datagram, "ping");
        assert_eq!(from, client.local_addr().unwrap());
        assert!(from.as_abstract_name().is_some());
        server.send_to(b"pong", &from).unwrap();
        assert_eq!(client.receive().unwrap(), "pong");
    }

    #[test]
    fn abstract_names() {
        let name = unique_name("blocking");
        let server = UnixDatagram::bind(&name).unwrap();
        let addr: UnixSocketAddress = name.parse().unwrap();
        assert_eq!(server.local_addr().unwrap(), addr);
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"hi", &addr).unwrap();
        assert_eq!(
            server.receive_from().unwrap(),
            (bytes::Bytes::from_static(b"hi"), UnixSocketAddress::Unnamed)
        );
        let auto = UnixDatagramOptions::new().unbound().unwrap();
        assert!(auto.local_addr().unwrap().as_abstract_name().is_some());
    }

    #[test]
    fn receive_and_send_timeouts() {
        let (mut a, mut b) = pair();
        a.set_receive_timeout(Some(Duration::from_millis(80)));
        let started = Instant::now();
        assert!(matches!(a.receive(), Err(DatagramReceiveError::TimedOut)));
        assert!(started.elapsed() >= Duration::from_millis(80));

        // Fill b's queue until a send waits, then times out.
        b.set_max_datagram_size(1024);
        a.set_send_timeout(Some(Duration::from_millis(80)));
        let error = loop {
            if let Err(e) = a.send(&[0; 512]) {
                break e;
            }
        };
        assert_eq!(error.kind(), ErrorKind::TimedOut, "{error:?}");
        // Draining b's queue makes room again.
        b.set_receive_timeout(Some(Duration::ZERO));
        while b.receive().is_ok() {}
        a.send(b"room again").unwrap();
        assert_eq!(b.receive().unwrap(), "room again");
    }

    #[test]
    fn oversized_datagram_is_an_error_and_the_socket_goes_on() {
        let (a, mut b) = pair();
        b.set_max_datagram_size(8);
        a.send(b"123456789").unwrap();
        a.send(b"12345678").unwrap();
        assert!(matches!(
            b.receive(),
            Err(DatagramReceiveError::Truncated { buffer_len: 8 })
        ));
        assert_eq!(b.receive().unwrap(), "12345678");
    }

    #[test]
    fn peer_gone_is_refused() {
        let (a, b) = pair();
        drop(b);
        assert_eq!(
            a.send(b"anybody?").unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn pass_a_pipe_and_credentials() {
        let (a, b) = pair();
        b.set_passcred(true).unwrap();
        let (reader, writer) = packetwire::os::pipe().unwrap();
        let mut out = SocketAncillary::new();
        out.add_fd(&writer);
        a.send_with_ancillary(b"pipe", &out).unwrap();
        drop(out);
        drop(writer);
        let mut anc = SocketAncillary::new();
        let (datagram, _) = b.receive_with_ancillary(&mut anc).unwrap();
        assert_eq!(datagram, "pipe");
        assert_eq!(anc.credentials().next(), Some(proc_credentials()));
        let fds = anc.take_fds();
        assert_eq!(fds.len(), 1);
        for fd in fds {
            write_through(fd, b"blocking");
        }
        assert_eq!(read_pipe(reader), b"blocking");
        assert_eq!(a.peer_credentials().unwrap(), proc_credentials());
    }

    #[test]
    fn control_truncation_closes_what_arrived() {
        let _guard = fd_lock();
        let server = UnixDatagramOptions::new()
            .receive_timeout(TIMEOUT)
            .bind(unique_name("ctrunc"))
            .unwrap();
        let client = UnixDatagram::unbound().unwrap();
        let (reader, writer) = packetwire::os::pipe().unwrap();
        let before = open_count(&reader);
        let mut out = SocketAncillary::new();
        out.add_fds(&[
            writer.as_fd(),
            reader.as_fd(),
            writer.as_fd(),
            reader.as_fd(),
        ]);
        client
            .send_to_with_ancillary(b"four fds", &out, &server.local_addr().unwrap())
            .unwrap();
        let mut small = SocketAncillary::with_recv_capacity(SocketAncillary::space_for_fds(2));
        match server.receive_with_ancillary(&mut small) {
            Err(DatagramReceiveError::ControlTruncated { fds_closed, .. }) => {
                assert!(fds_closed >= 1)
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(open_count(&reader), before);
        let _: Vec<OwnedFd> = small.take_fds();
    }

    #[test]
    fn send_to_a_full_queue_waits_for_room() {
        let server = UnixDatagramOptions::new()
            .receive_timeout(TIMEOUT)
            .bind(unique_name("blocking-full"))
            .unwrap();
        let addr = server.local_addr().unwrap();
        let mut client = UnixDatagram::unbound().unwrap();
        client.set_send_timeout(Some(Duration::from_millis(60)));
        // Fill the queue: the last send times out.
        let error = (0..100u8)
            .find_map(|i| client.send_to(&[i], &addr).err())
            .unwrap();
        assert_eq!(error.kind(), ErrorKind::TimedOut);
        client.set_send_timeout(Some(TIMEOUT));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                while server.receive().unwrap() != [b'!'][..] {}
            });
            client.send_to(b"!", &addr).unwrap();
        });
    }

    #[test]
    fn incoming_iterates_in_order() {
        let (a, b) = pair();
        for i in 0..10u8 {
            a.send(&[i]).unwrap();
        }
        let received: Vec<_> = b.incoming().take(10).map(|item| item.unwrap().0).collect();
        assert_eq!(received, (0..10u8).map(|i| vec![i]).collect::<Vec<_>>());
    }
}
