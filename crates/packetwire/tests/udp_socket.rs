//! UDP sockets over loopback: every async test on tokio and smol, then the blocking shell.
#![cfg(any(target_os = "linux", target_os = "android"))]

#[allow(unused_imports)] // `runtime_tests` is unused when no runtime feature is on.
mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// A loopback UDP port with nobody listening: bound, then closed.
fn closed_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn v4(port: u16) -> SocketAddr {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into()
}

#[cfg(any(feature = "tokio", feature = "smol"))]
mod async_shell {
    use std::sync::Arc;
    use std::time::Duration;

    use smol::stream::StreamExt;

    use super::common::{has_ipv6, payload, runtime_tests, zip};
    use super::{closed_port, v4};
    use packetwire::net::{
        AdoptError, ConnectError, DatagramReceiveError, IpFamily, UdpSocket, UdpSocketOptions,
    };
    use packetwire::runtime::{self, Elapsed};

    const QUIET: Duration = Duration::from_millis(150);

    runtime_tests! {
        async fn connected_send_and_receive(rt) {
            let server = UdpSocket::bind("127.0.0.1", 0).await?;
            let port = server.local_addr()?.port();
            let client = UdpSocket::connect("127.0.0.1", port).await?;
            assert_eq!(client.peer_addr()?, server.local_addr()?);
            assert!(server.peer_addr().is_err());

            client.send(b"hello").await?;
            let (datagram, from) = server.receive_from().await?;
            assert_eq!(datagram, "hello");
            assert_eq!(from, client.local_addr()?);

            server.send_to(b"world", from).await?;
            assert_eq!(client.receive().await?, "world");
            // Empty datagrams are datagrams too.
            client.send(b"").await?;
            assert_eq!(server.receive_from().await?.0, "");
            let _ = rt;
            Ok(())
        }

        async fn unconnected_sockets_talk_to_many(rt) {
            let a = UdpSocket::bind("127.0.0.1", 0).await?;
            let b = UdpSocket::bind("", 0).await?;
            let c = UdpSocketOptions::new().runtime(Arc::clone(&rt)).bind("127.0.0.1", 0).await?;
            assert!(b.local_addr()?.ip().is_unspecified());
            let b_addr = v4(b.local_addr()?.port());
            a.send_to(b"from a", b_addr).await?;
            c.send_to(b"from c", b_addr).await?;
            let mut got = [b.receive_from().await?, b.receive_from().await?];
            got.sort_by(|x, y| x.0.cmp(&y.0));
            assert_eq!(got[0], (bytes::Bytes::from_static(b"from a"), a.local_addr()?));
            assert_eq!(got[1], (bytes::Bytes::from_static(b"from c"), c.local_addr()?));
            Ok(())
        }

        async fn ipv6_loopback(rt) {
            if !has_ipv6() {
                eprintln!("no IPv6 loopback here: skipped");
                return Ok(());
            }
            let server = UdpSocket::bind("::1", 0).await?;
            let port = server.local_addr()?.port();
            assert!(server.local_addr()?.is_ipv6());
            let client = UdpSocket::connect("[::1]", port).await?;
            client.send(b"six").await?;
            let (datagram, from) = server.receive_from().await?;
            assert_eq!((datagram.as_ref(), from), (&b"six"[..], client.local_addr()?));
            server.send_to(b"back", from).await?;
            assert_eq!(client.receive().await?, "back");

            // With both families on offer, the family option picks.
            let v6 = server.local_addr()?;
            let both = [v4(port), v6];
            let only_v6 = UdpSocketOptions::new().family(IpFamily::V6).connect_addrs(&both).await?;
            assert_eq!(only_v6.peer_addr()?, v6);
            let only_v4 = UdpSocketOptions::new().family(IpFamily::V4).connect_addrs(&both).await?;
            assert_eq!(only_v4.peer_addr()?, v4(port));
            let all_v6 = UdpSocketOptions::new().family(IpFamily::V6).bind("", 0).await?;
            assert!(all_v6.local_addr()?.ip().is_unspecified() && all_v6.local_addr()?.is_ipv6());
            let _ = rt;
            Ok(())
        }

        async fn family_and_local_address(rt) {
            let server = UdpSocket::bind("127.0.0.1", 0).await?;
            let port = server.local_addr()?.port();
            // `localhost` may resolve to ::1 too: V4 keeps 127.0.0.1.
            let client = UdpSocketOptions::new().family(IpFamily::V4).connect("localhost", port).await?;
            assert_eq!(client.peer_addr()?, v4(port));

            let local = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
            let bound = UdpSocketOptions::new().local_addr(local).connect("127.0.0.1", port).await?;
            assert_eq!(bound.local_addr()?, local);

            match UdpSocketOptions::new().family(IpFamily::V6).connect_addrs(&[v4(port)]).await {
                Err(ConnectError::NoAddress { .. }) => {}
                other => panic!("unexpected {other:?}"),
            }
            assert!(matches!(
                UdpSocket::connect("name.invalid", port).await,
                Err(ConnectError::Resolve { .. })
            ));
            let _ = rt;
            Ok(())
        }

        async fn oversized_datagram_is_an_error_and_the_socket_goes_on(rt) {
            let server = UdpSocketOptions::new().max_datagram_size(16).bind("127.0.0.1", 0).await?;
            assert_eq!(server.max_datagram_size(), 16);
            let client = UdpSocket::connect("127.0.0.1", server.local_addr()?.port()).await?;
            client.send(&[7; 17]).await?;
            client.send(&[8; 16]).await?;
            match server.receive_from().await {
                Err(DatagramReceiveError::Truncated { buffer_len: 16 }) => {}
                other => panic!("unexpected {other:?}"),
            }
            assert_eq!(server.receive_from().await?.0, &[8; 16][..]);

            // The default buffer takes the largest UDP datagram whole.
            let big = UdpSocket::bind("127.0.0.1", 0).await?;
            assert_eq!(big.max_datagram_size(), 65536);
            big.socket_options().set_recv_buffer_size(1 << 20)?;
            let largest = payload(65_507);
            client.send_to(&largest, big.local_addr()?).await?;
            assert!(big.receive().await? == largest);
            let _ = rt;
            Ok(())
        }

        async fn connected_socket_ignores_foreign_datagrams(rt) {
            let peer = UdpSocket::bind("127.0.0.1", 0).await?;
            let foreign = UdpSocket::bind("127.0.0.1", 0).await?;
            let client = UdpSocket::connect("127.0.0.1", peer.local_addr()?.port()).await?;
            let client_addr = client.local_addr()?;
            // The foreign datagram goes first; the kernel drops it, as the client is connected.
            foreign.send_to(b"foreign", client_addr).await?;
            peer.send_to(b"peer", client_addr).await?;
            assert_eq!(client.receive().await?, "peer");
            let quiet = runtime::timeout(&*rt, QUIET, client.receive()).await;
            assert!(matches!(quiet, Err(Elapsed)), "{quiet:?}");
            Ok(())
        }

        async fn connection_refused_from_a_closed_port(rt) {
            let client = UdpSocket::connect("127.0.0.1", closed_port()).await?;
            client.send(b"anybody?").await?;
            // The ICMP port-unreachable comes back on the next receive...
            let error = runtime::timeout(&*rt, Duration::from_secs(5), client.receive())
                .await
                .map_err(|_| "no error reported")?
                .unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused, "{error:?}");
            // ... or on the next send; the socket stays usable either way.
            client.send(b"again").await?;
            let next = runtime::timeout(&*rt, Duration::from_secs(5), async {
                loop {
                    match client.send(b"and again").await {
                        Err(e) => break e,
                        Ok(()) => crate::common::sleep(&rt, 10).await,
                    }
                }
            })
            .await?;
            assert_eq!(next.kind(), std::io::ErrorKind::ConnectionRefused);
            Ok(())
        }

        async fn incoming_yields_datagrams_in_order(rt) {
            let server = UdpSocket::bind("127.0.0.1", 0).await?;
            let client = UdpSocket::connect("127.0.0.1", server.local_addr()?.port()).await?;
            let client_addr = client.local_addr()?;
            for i in 0..20u8 {
                client.send(&[i; 3]).await?;
            }
            // AnyIO's `async for packet, addr in udp`, answering on the same socket.
            let mut incoming = server.incoming();
            for i in 0..20u8 {
                let (datagram, from) = incoming.next().await.ok_or("the stream ended")??;
                assert_eq!((datagram.as_ref(), from), (&[i; 3][..], client_addr));
                server.send_to(&[i], from).await?;
            }
            drop(incoming);
            for i in 0..20u8 {
                assert_eq!(client.receive().await?, &[i][..]);
            }
            let _ = rt;
            Ok(())
        }

        async fn receive_is_cancel_safe(rt) {
            let server = UdpSocket::bind("127.0.0.1", 0).await?;
            let client = UdpSocket::connect("127.0.0.1", server.local_addr()?.port()).await?;
            for _ in 0..3 {
                assert!(runtime::timeout(&*rt, Duration::from_millis(20), server.receive_from()).await.is_err());
                let mut incoming = server.incoming();
                assert!(runtime::timeout(&*rt, Duration::from_millis(20), incoming.next()).await.is_err());
            }
            client.send(b"after the cancellations").await?;
            assert_eq!(server.receive_from().await?.0, "after the cancellations");
            Ok(())
        }

        async fn concurrent_receivers_and_senders_share_a_socket(rt) {
            let server = Arc::new(UdpSocket::bind("127.0.0.1", 0).await?);
            let client = Arc::new(UdpSocket::connect("127.0.0.1", server.local_addr()?.port()).await?);
            let receivers = zip(server.receive_from(), server.receive_from());
            let senders = async {
                crate::common::sleep(&rt, 20).await;
                let (a, b) = zip(client.send(b"one"), client.send(b"two")).await;
                a.and(b)
            };
            let ((first, second), sent) = zip(receivers, senders).await;
            sent?;
            let mut got = vec![first?.0, second?.0];
            got.sort();
            assert_eq!(got, ["one", "two"]);
            Ok(())
        }

        async fn adopt_checks_the_socket(rt) {
            let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
            let addr = std_socket.local_addr()?;
            let adopted = UdpSocket::from_std_with_runtime(std_socket, Arc::clone(&rt))?;
            assert_eq!(adopted.local_addr()?, addr);
            let client = UdpSocket::connect("127.0.0.1", addr.port()).await?;
            client.send(b"adopted").await?;
            assert_eq!(adopted.receive().await?, "adopted");

            let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
            let as_udp = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(tcp));
            match UdpSocket::from_std(as_udp) {
                Err(AdoptError::WrongType { found, .. }) => assert_eq!(found, "SOCK_STREAM"),
                other => panic!("unexpected {other:?}"),
            }
            let (unix, _other) = std::os::unix::net::UnixDatagram::pair()?;
            let as_udp = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(unix));
            match UdpSocket::from_std(as_udp) {
                Err(AdoptError::WrongFamily { found, .. }) => assert_eq!(found, "AF_UNIX"),
                other => panic!("unexpected {other:?}"),
            }
            Ok(())
        }

        async fn socket_options_reach_the_socket(rt) {
            let socket = UdpSocket::bind("127.0.0.1", 0).await?;
            let options = socket.socket_options();
            assert!(!options.broadcast()?);
            options.set_broadcast(true)?;
            assert!(socket.socket_options().broadcast()?);
            options.set_ttl(7)?;
            assert_eq!(options.ttl()?, 7);
            let _ = rt;
            Ok(())
        }
    }
}

mod blocking_shell {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::common::{has_ipv6, payload};
    use super::{closed_port, v4};
    use packetwire::blocking::{UdpSocket, UdpSocketOptions};
    use packetwire::net::{AdoptError, DatagramReceiveError, IpFamily};

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn server() -> UdpSocket {
        UdpSocketOptions::new()
            .receive_timeout(TIMEOUT)
            .bind("127.0.0.1", 0)
            .unwrap()
    }

    fn client_of(server: &UdpSocket) -> UdpSocket {
        UdpSocketOptions::new()
            .receive_timeout(TIMEOUT)
            .connect("127.0.0.1", server.local_addr().unwrap().port())
            .unwrap()
    }

    #[test]
    fn connected_send_and_receive() {
        let server = server();
        let client = client_of(&server);
        client.send(b"hello").unwrap();
        let (datagram, from) = server.receive_from().unwrap();
        assert_eq!(
            (datagram.as_ref(), from),
            (&b"hello"[..], client.local_addr().unwrap())
        );
        server.send_to(b"world", from).unwrap();
        assert_eq!(client.receive().unwrap(), "world");
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
    }

    #[test]
    fn ipv6_loopback_and_family() {
        if !has_ipv6() {
            eprintln!("no IPv6 loopback here: skipped");
            return;
        }
        let server = UdpSocket::bind("::1", 0).unwrap();
        let v6 = server.local_addr().unwrap();
        let client = UdpSocketOptions::new()
            .family(IpFamily::V6)
            .connect_addrs(&[v4(v6.port()), v6])
            .unwrap();
        assert_eq!(client.peer_addr().unwrap(), v6);
        client.send(b"six").unwrap();
        assert_eq!(
            server.receive_from().unwrap().1,
            client.local_addr().unwrap()
        );
    }

    #[test]
    fn receive_timeouts() {
        let mut server = server();
        server.set_receive_timeout(Some(Duration::from_millis(100)));
        let started = Instant::now();
        assert!(matches!(
            server.receive_from(),
            Err(DatagramReceiveError::TimedOut)
        ));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < TIMEOUT, "{waited:?}");

        // Zero: only what is already there.
        server.set_receive_timeout(Some(Duration::ZERO));
        let started = Instant::now();
        assert!(matches!(
            server.receive(),
            Err(DatagramReceiveError::TimedOut)
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        let client = client_of(&server);
        client.send(b"ready").unwrap();
        // Loopback delivery is synchronous: the datagram is already queued.
        assert_eq!(server.receive().unwrap(), "ready");
        assert_eq!(server.receive_timeout(), Some(Duration::ZERO));
    }

    #[test]
    fn a_receiving_thread_wakes_up_for_a_late_datagram() {
        let server = Arc::new(server());
        let client = client_of(&server);
        let waiting = {
            let server = Arc::clone(&server);
            std::thread::spawn(move || server.receive_from().map(|(d, _)| d))
        };
        std::thread::sleep(Duration::from_millis(50));
        client.send(b"late").unwrap();
        assert_eq!(waiting.join().unwrap().unwrap(), "late");
    }

    #[test]
    fn oversized_datagram_is_an_error_and_the_socket_goes_on() {
        let mut server = server();
        server.set_max_datagram_size(10);
        let client = client_of(&server);
        client.send(&payload(11)).unwrap();
        client.send(b"fits").unwrap();
        assert!(matches!(
            server.receive(),
            Err(DatagramReceiveError::Truncated { buffer_len: 10 })
        ));
        assert_eq!(server.receive().unwrap(), "fits");
    }

    #[test]
    fn connected_socket_ignores_foreign_datagrams() {
        let peer = server();
        let foreign = server();
        let mut client = client_of(&peer);
        let client_addr = client.local_addr().unwrap();
        foreign.send_to(b"foreign", client_addr).unwrap();
        peer.send_to(b"peer", client_addr).unwrap();
        assert_eq!(client.receive().unwrap(), "peer");
        client.set_receive_timeout(Some(Duration::from_millis(150)));
        assert!(matches!(
            client.receive(),
            Err(DatagramReceiveError::TimedOut)
        ));
    }

    #[test]
    fn connection_refused_from_a_closed_port() {
        let client = UdpSocketOptions::new()
            .receive_timeout(TIMEOUT)
            .connect("127.0.0.1", closed_port())
            .unwrap();
        client.send(b"anybody?").unwrap();
        let error = client.receive().unwrap_err();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{error:?}"
        );
        let deadline = Instant::now() + TIMEOUT;
        let refused = loop {
            match client.send(b"again") {
                Err(e) => break e,
                Ok(()) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(()) => panic!("no error reported"),
            }
        };
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn incoming_iterates_in_order() {
        let server = server();
        let client = client_of(&server);
        for i in 0..10u8 {
            client.send(&[i]).unwrap();
        }
        for (i, item) in server.incoming().take(10).enumerate() {
            let (datagram, from) = item.unwrap();
            assert_eq!(datagram, &[i as u8][..]);
            server.send_to(&datagram, from).unwrap();
        }
        for i in 0..10u8 {
            assert_eq!(client.receive().unwrap(), &[i][..]);
        }
    }

    #[test]
    fn adopt_checks_the_socket() {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let adopted = UdpSocket::from_std(std_socket).unwrap();
        assert_eq!(adopted.receive_timeout(), None);
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let as_udp = std::net::UdpSocket::from(std::os::fd::OwnedFd::from(tcp));
        assert!(matches!(
            UdpSocket::from_std(as_udp),
            Err(AdoptError::WrongType { .. })
        ));
    }
}
