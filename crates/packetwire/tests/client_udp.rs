//! UDP packet clients against standard-socket servers in the test: the blocking client, then
//! every async case on tokio and smol.
#![cfg(all(any(target_os = "linux", target_os = "android"), feature = "json"))]

#[allow(unused_imports)] // `runtime_tests` is unused when no runtime feature is on.
mod common;

use std::net::UdpSocket as StdUdp;
use std::time::Duration;

use packetwire::{DatagramProtocol, JsonSerializer};
use serde_json::{json, Value};

type Json = JsonSerializer<Value>;

fn protocol() -> DatagramProtocol<Json> {
    DatagramProtocol::new(Json::new())
}

/// A server socket on loopback, with a receive timeout so a bug fails instead of hanging.
fn server() -> StdUdp {
    let socket = StdUdp::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

fn port(socket: &StdUdp) -> u16 {
    socket.local_addr().unwrap().port()
}

/// A loopback UDP port with nobody listening: bound, then closed.
fn closed_port() -> u16 {
    port(&StdUdp::bind("127.0.0.1:0").unwrap())
}

/// Receives one datagram on a std socket.
fn recv_json(socket: &StdUdp) -> (Value, std::net::SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (len, from) = socket.recv_from(&mut buf).unwrap();
    (serde_json::from_slice(&buf[..len]).unwrap(), from)
}

mod blocking {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use packetwire::blocking::{UdpClient, UdpClientOptions};
    use packetwire::client::{ClientConnectError, RecvPacketError, SendPacketError};
    use packetwire::net::{AdoptError, IpFamily};

    /// A client connected to a fresh server, the server connected back to the client.
    fn pair() -> (UdpClient<Json>, StdUdp) {
        let server = server();
        let client = UdpClient::connect("127.0.0.1", port(&server), protocol()).unwrap();
        server.connect(client.local_addr().unwrap()).unwrap();
        (client, server)
    }

    #[test]
    fn send_receive_and_introspect() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<UdpClient<Json>>();

        let (client, server) = pair();
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
        assert!(client.local_addr().unwrap().ip().is_loopback());
        assert_eq!(client.max_recv_size(), 64 * 1024);

        client.send_packet(&json!({"data": 42})).unwrap();
        let (packet, from) = recv_json(&server);
        assert_eq!(packet, json!({"data": 42}));
        assert_eq!(from, client.local_addr().unwrap());

        server.send(b"[1, 2, 3]").unwrap();
        assert_eq!(client.recv_packet().unwrap(), json!([1, 2, 3]));

        // The socket-option proxy works on the client's socket.
        let options = client.socket_options();
        options.set_recv_buffer_size(65536).unwrap();
        assert!(options.recv_buffer_size().unwrap() >= 65536);
        use std::os::fd::AsFd;
        assert_eq!(
            packetwire::sockopt::SocketOptions::from_fd(client.as_fd())
                .kind()
                .unwrap(),
            packetwire::sockopt::SocketKind::Datagram
        );
    }

    #[test]
    fn family_and_local_address() {
        let server = server();
        let client = UdpClientOptions::new()
            .family(IpFamily::V4)
            .connect("localhost", port(&server), protocol())
            .unwrap();
        assert!(client.peer_addr().unwrap().is_ipv4());

        let local = StdUdp::bind("127.0.0.1:0").unwrap();
        let wanted = local.local_addr().unwrap();
        drop(local);
        let client = UdpClientOptions::new()
            .local_addr(wanted)
            .connect("127.0.0.1", port(&server), protocol())
            .unwrap();
        assert_eq!(client.local_addr().unwrap(), wanted);

        // No IPv6 address with an IPv4 local address: nothing to try.
        let error = UdpClientOptions::new()
            .local_addr(wanted)
            .connect("::1", port(&server), protocol())
            .unwrap_err();
        assert!(matches!(error, ClientConnectError::Connect(_)), "{error:?}");
    }

    #[test]
    fn adopting_checks_the_socket() {
        let server = server();
        // Not connected.
        let unconnected = StdUdp::bind("127.0.0.1:0").unwrap();
        let error = UdpClient::from_std(unconnected, protocol()).unwrap_err();
        assert!(
            matches!(error, ClientConnectError::Adopt(AdoptError::NotConnected)),
            "{error:?}"
        );
        // Not a datagram socket: a TCP listener's descriptor in a UdpSocket.
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let wrong = StdUdp::from(std::os::fd::OwnedFd::from(tcp));
        let error = UdpClient::from_std(wrong, protocol()).unwrap_err();
        assert!(
            matches!(
                error,
                ClientConnectError::Adopt(AdoptError::WrongType { .. })
            ),
            "{error:?}"
        );
        // Not an IP socket.
        let (unix, _other) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let wrong = StdUdp::from(std::os::fd::OwnedFd::from(unix));
        let error = UdpClient::from_std(wrong, protocol()).unwrap_err();
        assert!(
            matches!(
                error,
                ClientConnectError::Adopt(AdoptError::WrongFamily { .. })
            ),
            "{error:?}"
        );
        // Connected: adopted, and it works.
        let socket = StdUdp::bind("127.0.0.1:0").unwrap();
        socket.connect(server.local_addr().unwrap()).unwrap();
        let client = UdpClient::from_std(socket, protocol()).unwrap();
        client.send_packet(&json!("adopted")).unwrap();
        assert_eq!(recv_json(&server).0, json!("adopted"));

        // From packetwire's own blocking socket, keeping its receive size.
        let socket = packetwire::blocking::UdpSocketOptions::new()
            .max_datagram_size(512)
            .connect("127.0.0.1", port(&server))
            .unwrap();
        let client = UdpClient::from_socket(socket, protocol()).unwrap();
        assert_eq!(client.max_recv_size(), 512);
    }

    #[test]
    fn timeout_zero_takes_only_what_is_there() {
        let (client, server) = pair();
        let start = Instant::now();
        assert!(matches!(
            client.recv_packet_within(Duration::ZERO),
            Err(RecvPacketError::TimedOut)
        ));
        assert!(start.elapsed() < Duration::from_millis(500));

        server.send(b"1").unwrap();
        // Loopback delivers at once, but give the kernel a moment anyway.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(client.recv_packet_within(Duration::ZERO).unwrap(), json!(1));
        assert!(matches!(
            client.recv_packet_within(Duration::ZERO),
            Err(RecvPacketError::TimedOut)
        ));

        let start = Instant::now();
        assert!(matches!(
            client.recv_packet_within(Duration::from_millis(100)),
            Err(RecvPacketError::TimedOut)
        ));
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn iteration_budget() {
        let (client, server) = pair();
        for datagram in ["1", "{bad", "2", "3"] {
            server.send(datagram.as_bytes()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        // Zero: what is there, up to the bad datagram; the next iteration goes on after it.
        let mut iter = client.iter_received_packets(Some(Duration::ZERO));
        assert_eq!(iter.by_ref().collect::<Vec<Value>>(), [json!(1)]);
        assert!(matches!(iter.error(), Some(RecvPacketError::Parse(_))));
        let mut iter = client.iter_received_packets(Some(Duration::ZERO));
        assert_eq!(iter.by_ref().collect::<Vec<Value>>(), [json!(2), json!(3)]);
        assert!(matches!(iter.error(), Some(RecvPacketError::TimedOut)));

        // A budget for the whole iteration: two packets arrive while it runs, then it ends.
        let sender = {
            let server = server.try_clone().unwrap();
            std::thread::spawn(move || {
                for n in [4, 5] {
                    std::thread::sleep(Duration::from_millis(30));
                    server.send(n.to_string().as_bytes()).unwrap();
                }
            })
        };
        let start = Instant::now();
        let got: Vec<Value> = client
            .iter_received_packets(Some(Duration::from_millis(300)))
            .collect();
        let spent = start.elapsed();
        sender.join().unwrap();
        assert_eq!(got, [json!(4), json!(5)]);
        assert!(spent >= Duration::from_millis(300), "{spent:?}");
        assert!(spent < Duration::from_secs(3), "{spent:?}");

        // Time spent by the consumer between items is not counted.
        server.send(b"6").unwrap();
        server.send(b"7").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let mut iter = client.iter_received_packets(Some(Duration::from_millis(50)));
        assert_eq!(iter.next(), Some(json!(6)));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(iter.next(), Some(json!(7)));
        assert_eq!(iter.next(), None);
        assert_eq!(iter.next(), None);
    }

    #[test]
    fn lock_wait_counts_against_the_timeout() {
        let (client, server) = pair();
        let client = Arc::new(client);
        let holder = {
            let client = Arc::clone(&client);
            std::thread::spawn(move || client.recv_packet())
        };
        std::thread::sleep(Duration::from_millis(50));
        // The other thread holds the receive lock, waiting in poll(2): this call gives up
        // at its timeout instead of waiting for the lock.
        let start = Instant::now();
        assert!(matches!(
            client.recv_packet_within(Duration::from_millis(100)),
            Err(RecvPacketError::TimedOut)
        ));
        assert!(start.elapsed() >= Duration::from_millis(100));
        // Sending does not wait for the receive lock.
        client.send_packet(&json!("while receiving")).unwrap();
        assert_eq!(recv_json(&server).0, json!("while receiving"));
        server.send(b"\"done\"").unwrap();
        assert_eq!(holder.join().unwrap().unwrap(), json!("done"));
    }

    #[test]
    fn close_wakes_a_blocked_receiver() {
        let (client, _server) = pair();
        let client = Arc::new(client);
        let receiver = {
            let client = Arc::clone(&client);
            std::thread::spawn(move || {
                let start = Instant::now();
                (client.recv_packet(), start.elapsed())
            })
        };
        let waiter = {
            let client = Arc::clone(&client);
            std::thread::spawn(move || client.recv_packet_within(Duration::from_secs(20)))
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!client.is_closed());
        client.close();
        client.close(); // idempotent
        assert!(client.is_closed());
        let (result, waited) = receiver.join().unwrap();
        assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
        assert!(waited < Duration::from_secs(10));
        let result = waiter.join().unwrap();
        assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
        assert!(matches!(
            client.send_packet(&json!(1)),
            Err(SendPacketError::Closed)
        ));
        assert!(matches!(
            client.recv_packet_within(Duration::ZERO),
            Err(RecvPacketError::Closed)
        ));
        // The descriptor stays valid until the client is dropped.
        assert!(client.socket_options().kind().is_ok());
        assert!((&*client).into_iter().next().is_none());
    }

    #[test]
    fn socket_shut_down_behind_the_clients_back() {
        let (client, server) = pair();
        use std::os::fd::AsFd;
        let duplicate = StdUdp::from(client.as_fd().try_clone_to_owned().unwrap());
        socket2::SockRef::from(&duplicate)
            .shutdown(std::net::Shutdown::Both)
            .unwrap();
        // poll(2) now reports the socket ready at once, with nothing to read: the receive
        // still ends at its timeout (backing off meanwhile), and close still wakes it.
        let start = Instant::now();
        assert!(matches!(
            client.recv_packet_within(Duration::from_millis(200)),
            Err(RecvPacketError::TimedOut)
        ));
        assert!(start.elapsed() >= Duration::from_millis(200));
        let client = Arc::new(client);
        let receiver = {
            let client = Arc::clone(&client);
            std::thread::spawn(move || client.recv_packet())
        };
        std::thread::sleep(Duration::from_millis(300));
        client.close();
        assert!(matches!(
            receiver.join().unwrap(),
            Err(RecvPacketError::Closed)
        ));
        drop(server);
    }

    #[test]
    fn invalid_datagram_then_recovery() {
        let (client, server) = pair();
        server.send(b"{not json").unwrap();
        server.send(b"\"fine\"").unwrap();
        let error = client.recv_packet().unwrap_err();
        assert!(matches!(error, RecvPacketError::Parse(_)), "{error:?}");
        assert!(error.is_recoverable());
        assert_eq!(client.recv_packet().unwrap(), json!("fine"));
        // An empty datagram is a datagram too, and not valid JSON.
        server.send(b"").unwrap();
        server.send(b"3").unwrap();
        assert!(matches!(
            client.recv_packet(),
            Err(RecvPacketError::Parse(_))
        ));
        assert_eq!(client.recv_packet().unwrap(), json!(3));
    }

    #[test]
    fn foreign_datagrams_are_ignored() {
        let (client, server) = pair();
        let stranger = StdUdp::bind("127.0.0.1:0").unwrap();
        stranger
            .send_to(b"\"intruder\"", client.local_addr().unwrap())
            .unwrap();
        server.send(b"\"expected\"").unwrap();
        assert_eq!(client.recv_packet().unwrap(), json!("expected"));
        assert!(matches!(
            client.recv_packet_within(Duration::from_millis(100)),
            Err(RecvPacketError::TimedOut)
        ));
    }

    #[test]
    fn refused_port() {
        let client = UdpClient::connect("127.0.0.1", closed_port(), protocol()).unwrap();
        client.send_packet(&json!("anyone?")).unwrap();
        // The ICMP error comes back for the receive...
        let error = client
            .recv_packet_within(Duration::from_secs(5))
            .unwrap_err();
        assert!(matches!(error, RecvPacketError::Refused), "{error:?}");
        assert!(error.is_recoverable());
        // ... or for the next send.
        client.send_packet(&json!("anyone?")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match client.send_packet(&json!("still?")) {
                Err(SendPacketError::Refused) => break,
                Ok(()) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                other => panic!("expected Refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn oversized_datagram_is_an_error_not_a_cut() {
        let server = server();
        let client = UdpClientOptions::new()
            .max_recv_size(16)
            .connect("127.0.0.1", port(&server), protocol())
            .unwrap();
        server.connect(client.local_addr().unwrap()).unwrap();
        assert_eq!(client.max_recv_size(), 16);
        server
            .send(format!("\"{}\"", "x".repeat(100)).as_bytes())
            .unwrap();
        server.send(b"[1]").unwrap();
        let error = client.recv_packet().unwrap_err();
        assert!(
            matches!(error, RecvPacketError::DatagramTooLarge { max_size: 16 }),
            "{error:?}"
        );
        assert_eq!(client.recv_packet().unwrap(), json!([1]));
    }

    #[test]
    fn concurrent_senders_send_whole_packets() {
        let (client, server) = pair();
        let client = Arc::new(client);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let client = Arc::clone(&client);
                std::thread::spawn(move || {
                    // Few enough to fit in the server's receive buffer however slow it is:
                    // UDP has no flow control.
                    for i in 0..25 {
                        let filler = "y".repeat(100 + i);
                        client
                            .send_packet(&json!({"thread": t, "seq": i, "filler": filler}))
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut seen = vec![Vec::new(); 4];
        for _ in 0..100 {
            let (packet, _) = recv_json(&server);
            let t = packet["thread"].as_u64().unwrap() as usize;
            let i = packet["seq"].as_u64().unwrap() as usize;
            assert_eq!(packet["filler"].as_str().unwrap().len(), 100 + i);
            seen[t].push(i);
        }
        for thread in threads {
            thread.join().unwrap();
        }
        for per_thread in seen {
            // Each thread's packets in its own order (loopback keeps the order).
            assert_eq!(per_thread, (0..25).collect::<Vec<_>>());
        }
    }

    #[test]
    fn iterating_over_the_client() {
        let (client, server) = pair();
        server.send(b"1").unwrap();
        server.send(b"nope").unwrap();
        server.send(b"2").unwrap();
        let mut items = client.packets();
        assert_eq!(items.next().unwrap().unwrap(), json!(1));
        assert!(matches!(items.next(), Some(Err(RecvPacketError::Parse(_)))));
        assert_eq!(items.next().unwrap().unwrap(), json!(2));
        client.close();
        assert!(items.next().is_none());

        // `for packet in &client`: the packets until the first error.
        let (client, server) = pair();
        for datagram in ["1", "2", "stop", "3"] {
            server.send(datagram.as_bytes()).unwrap();
        }
        let mut got = Vec::new();
        for packet in &client {
            got.push(packet);
        }
        assert_eq!(got, [json!(1), json!(2)]);
        assert_eq!(client.recv_packet().unwrap(), json!(3));
    }
}

#[cfg(any(feature = "tokio", feature = "smol"))]
mod async_shell {
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::time::Instant;

    use futures_sink::Sink;
    use smol::stream::StreamExt;

    use super::common::{runtime_tests, sleep, zip};
    use super::*;
    use packetwire::client::{
        ClientConnectError, RecvPacketError, SendPacketError, UdpClient, UdpClientOptions,
    };
    use packetwire::net::{AdoptError, IpFamily, UdpSocket};

    /// Sends one item through a sink (what `SinkExt::send` does).
    async fn sink_send<K: Sink<I> + Unpin, I>(sink: &mut K, item: I) -> Result<(), K::Error> {
        poll_fn(|cx| Pin::new(&mut *sink).poll_ready(cx)).await?;
        Pin::new(&mut *sink).start_send(item)?;
        poll_fn(|cx| Pin::new(&mut *sink).poll_flush(cx)).await
    }

    /// A client connected to a fresh async server.
    async fn pair() -> Result<(UdpClient<Json>, UdpSocket), Box<dyn std::error::Error + Send + Sync>>
    {
        let server = UdpSocket::bind("127.0.0.1", 0).await?;
        let port = server.local_addr()?.port();
        let client = UdpClient::connect("127.0.0.1", port, protocol()).await?;
        Ok((client, server))
    }

    async fn recv_value(server: &UdpSocket) -> (Value, std::net::SocketAddr) {
        let (datagram, from) = server.receive_from().await.unwrap();
        (serde_json::from_slice(&datagram).unwrap(), from)
    }

    runtime_tests! {
        async fn send_receive_stream_and_sink(rt) {
            fn send_sync<T: Send + Sync>() {}
            send_sync::<UdpClient<Json>>();
            let (client, server) = pair().await?;
            let client_addr = client.local_addr()?;
            assert_eq!(client.peer_addr()?, server.local_addr()?);
            assert!(client.is_connected());
            assert_eq!(client.max_recv_size(), 64 * 1024);
            assert!(client.socket_options().recv_buffer_size()? > 0);
            let _ = client.runtime()?;

            client.send_packet(&json!({"data": 42})).await?;
            assert_eq!(recv_value(&server).await, (json!({"data": 42}), client_addr));
            server.send_to(b"[1]", client_addr).await?;
            assert_eq!(client.recv_packet().await?, json!([1]));

            // A Sink of owned packets, a Stream of results.
            let mut sink = client.sink::<Value>();
            sink_send(&mut sink, json!("one")).await?;
            sink_send(&mut sink, json!("two")).await?;
            assert_eq!(recv_value(&server).await.0, json!("one"));
            assert_eq!(recv_value(&server).await.0, json!("two"));
            for datagram in ["1", "bad", "2"] {
                server.send_to(datagram.as_bytes(), client_addr).await?;
            }
            let mut packets = client.packets();
            assert_eq!(packets.next().await.unwrap()?, json!(1));
            assert!(matches!(packets.next().await, Some(Err(RecvPacketError::Parse(_)))));
            assert_eq!(packets.next().await.unwrap()?, json!(2));
            drop(packets);
            client.close().await;
            assert!(client.packets().next().await.is_none());
            let _ = rt;
            Ok(())
        }

        async fn lazy_connection(rt) {
            let server = UdpSocket::bind("127.0.0.1", 0).await?;
            let port = server.local_addr()?.port();
            let client = Arc::new(
                UdpClientOptions::new()
                    .family(IpFamily::V4)
                    .runtime(Arc::clone(&rt))
                    .connect_lazy("localhost", port, protocol()),
            );
            assert!(!client.is_connected());
            assert_eq!(client.local_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
            // Several tasks at once: one socket.
            let (a, b) = zip(client.wait_connected(), client.wait_connected()).await;
            a?;
            b?;
            let local = client.local_addr()?;
            client.wait_connected().await?;
            assert_eq!(client.local_addr()?, local);
            assert_eq!(client.peer_addr()?.port(), port);

            // The first send connects implicitly.
            let lazy = UdpClientOptions::new().connect_lazy("127.0.0.1", port, protocol());
            lazy.send_packet(&json!("implicit")).await?;
            assert!(lazy.is_connected());
            assert_eq!(recv_value(&server).await.0, json!("implicit"));

            // A failure is reported, by wait_connected or by the operation.
            let bad = UdpClientOptions::new()
                .family(IpFamily::V6)
                .connect_lazy("127.0.0.1", port, protocol());
            assert!(matches!(bad.wait_connected().await, Err(ClientConnectError::Connect(_))));
            assert!(matches!(bad.send_packet(&json!(1)).await, Err(SendPacketError::Io(_))));
            // Closed before connecting.
            let closed = UdpClientOptions::new().connect_lazy("127.0.0.1", port, protocol());
            closed.close().await;
            assert!(matches!(closed.wait_connected().await, Err(ClientConnectError::Closed)));
            assert!(matches!(closed.recv_packet().await, Err(RecvPacketError::Closed)));
            Ok(())
        }

        async fn adopting_checks_the_socket(rt) {
            let unconnected = StdUdp::bind("127.0.0.1:0")?;
            let error = UdpClient::from_std(unconnected, protocol()).unwrap_err();
            assert!(matches!(error, ClientConnectError::Adopt(AdoptError::NotConnected)), "{error:?}");
            let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
            let wrong = StdUdp::from(std::os::fd::OwnedFd::from(tcp));
            let error = UdpClient::from_std(wrong, protocol()).unwrap_err();
            assert!(matches!(error, ClientConnectError::Adopt(AdoptError::WrongType { .. })), "{error:?}");

            let server = UdpSocket::bind("127.0.0.1", 0).await?;
            let socket = StdUdp::bind("127.0.0.1:0")?;
            socket.connect(server.local_addr()?)?;
            let client = UdpClient::from_std(socket, protocol())?;
            client.send_packet(&json!("adopted")).await?;
            assert_eq!(recv_value(&server).await.0, json!("adopted"));

            let unconnected = UdpSocket::bind("127.0.0.1", 0).await?;
            assert!(matches!(
                UdpClient::from_socket(unconnected, protocol()),
                Err(ClientConnectError::Adopt(AdoptError::NotConnected))
            ));
            let _ = rt;
            Ok(())
        }

        async fn timeout_zero_and_budget(rt) {
            let (client, server) = pair().await?;
            let addr = client.local_addr()?;
            assert!(matches!(
                client.recv_packet_within(Duration::ZERO).await,
                Err(RecvPacketError::TimedOut)
            ));
            server.send_to(b"1", addr).await?;
            // Loopback delivery is immediate; the reactor need not have seen it.
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(client.recv_packet_within(Duration::ZERO).await?, json!(1));

            for datagram in ["2", "{", "3"] {
                server.send_to(datagram.as_bytes(), addr).await?;
            }
            std::thread::sleep(Duration::from_millis(20));
            let mut iter = client.iter_received_packets(Some(Duration::ZERO));
            assert_eq!(iter.next().await, Some(json!(2)));
            assert_eq!(iter.next().await, None);
            assert!(matches!(iter.error(), Some(RecvPacketError::Parse(_))));
            let got: Vec<Value> = client.iter_received_packets(Some(Duration::ZERO)).collect().await;
            assert_eq!(got, [json!(3)]);

            let start = Instant::now();
            let (got, ()) = zip(
                client.iter_received_packets(Some(Duration::from_millis(300))).collect::<Vec<Value>>(),
                async {
                    sleep(&rt, 50).await;
                    server.send_to(b"4", addr).await.unwrap();
                },
            )
            .await;
            let spent = start.elapsed();
            assert_eq!(got, [json!(4)]);
            assert!(spent >= Duration::from_millis(290), "{spent:?}");
            assert!(spent < Duration::from_secs(5), "{spent:?}");

            let start = Instant::now();
            assert!(matches!(
                client.recv_packet_within(Duration::from_millis(100)).await,
                Err(RecvPacketError::TimedOut)
            ));
            assert!(start.elapsed() >= Duration::from_millis(90));
            Ok(())
        }

        async fn close_wakes_a_waiting_receiver(rt) {
            let (client, _server) = pair().await?;
            let client = Arc::new(client);
            let (sender, receiver) = smol::channel::bounded(1);
            let task = {
                let client = Arc::clone(&client);
                rt.spawn(Box::pin(async move {
                    let _ = sender.send(client.recv_packet().await).await;
                }))
            };
            sleep(&rt, 100).await;
            // And one in this task, waiting for the receive lock.
            let (result, ()) = zip(client.recv_packet(), async {
                sleep(&rt, 50).await;
                client.close().await;
            })
            .await;
            assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
            let result = receiver.recv().await?;
            assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
            let mut task = task;
            task.join().await;
            assert!(client.is_closed());
            assert!(matches!(client.send_packet(&json!(1)).await, Err(SendPacketError::Closed)));
            client.close().await; // idempotent
            Ok(())
        }

        async fn invalid_datagram_then_recovery(rt) {
            let (client, server) = pair().await?;
            let addr = client.local_addr()?;
            server.send_to(b"{nope", addr).await?;
            server.send_to(b"true", addr).await?;
            let error = client.recv_packet().await.unwrap_err();
            assert!(matches!(error, RecvPacketError::Parse(_)), "{error:?}");
            assert_eq!(client.recv_packet().await?, json!(true));
            let _ = rt;
            Ok(())
        }

        async fn foreign_datagrams_are_ignored(rt) {
            let (client, server) = pair().await?;
            let addr = client.local_addr()?;
            let stranger = UdpSocket::bind("127.0.0.1", 0).await?;
            stranger.send_to(b"\"intruder\"", addr).await?;
            server.send_to(b"\"expected\"", addr).await?;
            assert_eq!(client.recv_packet().await?, json!("expected"));
            assert!(matches!(
                client.recv_packet_within(Duration::from_millis(100)).await,
                Err(RecvPacketError::TimedOut)
            ));
            let _ = rt;
            Ok(())
        }

        async fn refused_port(rt) {
            let client = UdpClient::connect("127.0.0.1", closed_port(), protocol()).await?;
            client.send_packet(&json!("anyone?")).await?;
            let error = client.recv_packet_within(Duration::from_secs(5)).await.unwrap_err();
            assert!(matches!(error, RecvPacketError::Refused), "{error:?}");
            client.send_packet(&json!("again")).await?;
            let mut refused = false;
            for _ in 0..500 {
                match client.send_packet(&json!("still?")).await {
                    Err(SendPacketError::Refused) => {
                        refused = true;
                        break;
                    }
                    Ok(()) => sleep(&rt, 10).await,
                    Err(e) => return Err(e.into()),
                }
            }
            assert!(refused);
            Ok(())
        }

        async fn oversized_datagram(rt) {
            let server = UdpSocket::bind("127.0.0.1", 0).await?;
            let client = UdpClientOptions::new()
                .max_recv_size(16)
                .connect("127.0.0.1", server.local_addr()?.port(), protocol())
                .await?;
            let addr = client.local_addr()?;
            server.send_to(&[b' '; 100], addr).await?;
            server.send_to(b"[2]", addr).await?;
            assert!(matches!(
                client.recv_packet().await,
                Err(RecvPacketError::DatagramTooLarge { max_size: 16 })
            ));
            assert_eq!(client.recv_packet().await?, json!([2]));
            let _ = rt;
            Ok(())
        }

        async fn concurrent_senders(rt) {
            let (client, server) = pair().await?;
            let client = Arc::new(client);
            let mut tasks = Vec::new();
            for t in 0..4u64 {
                let client = Arc::clone(&client);
                tasks.push(rt.spawn(Box::pin(async move {
                    // Few enough to fit in the server's receive buffer (no flow control).
                    for i in 0..25u64 {
                        let filler = "w".repeat(100);
                        client
                            .send_packet(&json!({"thread": t, "seq": i, "filler": filler}))
                            .await
                            .unwrap();
                    }
                })));
            }
            let mut seen = vec![Vec::new(); 4];
            for _ in 0..100 {
                let (packet, _) = recv_value(&server).await;
                assert_eq!(packet["filler"].as_str().unwrap().len(), 100);
                seen[packet["thread"].as_u64().unwrap() as usize].push(packet["seq"].as_u64().unwrap());
            }
            for mut task in tasks {
                task.join().await;
            }
            for per_task in seen {
                assert_eq!(per_task, (0..25).collect::<Vec<_>>());
            }
            Ok(())
        }

        async fn cancelled_receives_lose_nothing(rt) {
            let (client, server) = pair().await?;
            let addr = client.local_addr()?;
            let (received, ()) = zip(
                async {
                    let mut received = Vec::new();
                    while received.len() < 5 {
                        // Many receives cancelled by their timeout while datagrams arrive.
                        match client.recv_packet_within(Duration::from_millis(3)).await {
                            Ok(packet) => received.push(packet),
                            Err(RecvPacketError::TimedOut) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                    received
                },
                async {
                    for n in 0..5 {
                        sleep(&rt, 7).await;
                        server.send_to(n.to_string().as_bytes(), addr).await.unwrap();
                    }
                },
            )
            .await;
            assert_eq!(received, (0..5).map(|n| json!(n)).collect::<Vec<_>>());
            Ok(())
        }
    }
}
