//! Unix datagram packet clients against standard-socket servers in the test: the blocking
//! client, then every async case on tokio and smol.
#![cfg(all(any(target_os = "linux", target_os = "android"), feature = "json"))]

#[allow(unused_imports)] // `runtime_tests` is unused when no runtime feature is on.
mod common;

use std::io::{Read, Write};
use std::os::unix::net::{SocketAddr as StdUnixAddr, UnixDatagram as StdUnix};
use std::time::Duration;

use packetwire::{DatagramProtocol, JsonSerializer};
use serde_json::{json, Value};

type Json = JsonSerializer<Value>;

fn protocol() -> DatagramProtocol<Json> {
    DatagramProtocol::new(Json::new())
}

/// A server socket bound in `dir`, with a receive timeout so a bug fails instead of hanging.
fn server_in(dir: &tempfile::TempDir, name: &str) -> (StdUnix, std::path::PathBuf) {
    let path = dir.path().join(name);
    let socket = StdUnix::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (socket, path)
}

fn recv_json(socket: &StdUnix) -> (Value, StdUnixAddr) {
    let mut buf = vec![0u8; 65536];
    let (len, from) = socket.recv_from(&mut buf).unwrap();
    (serde_json::from_slice(&buf[..len]).unwrap(), from)
}

/// Writes through a received pipe end and reads it back from the other end.
fn check_pipe(reader: std::os::fd::OwnedFd, writer: std::os::fd::OwnedFd) {
    let mut writer = std::fs::File::from(writer);
    writer.write_all(b"through the pipe").unwrap();
    drop(writer);
    let mut reader = std::fs::File::from(reader);
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through the pipe");
}

mod blocking {
    use std::os::fd::AsFd;
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use packetwire::blocking::{UnixDatagramClient, UnixDatagramClientOptions};
    use packetwire::client::{ClientConnectError, RecvPacketError, SendPacketError};
    use packetwire::net::AdoptError;
    use packetwire::unix::{Credentials, SocketAncillary, UnixSocketAddress};

    /// A client connected to a fresh server, the server connected back to the client.
    fn pair(dir: &tempfile::TempDir) -> (UnixDatagramClient<Json>, StdUnix) {
        let (server, path) = server_in(dir, "server.sock");
        let client = UnixDatagramClient::connect(&path, protocol()).unwrap();
        let local = client.local_addr().unwrap();
        let name = local
            .as_abstract_name()
            .expect("auto-bound to an abstract name");
        use std::os::linux::net::SocketAddrExt;
        server
            .connect_addr(&StdUnixAddr::from_abstract_name(name).unwrap())
            .unwrap();
        (client, server)
    }

    #[test]
    fn connect_send_receive_and_names() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<UnixDatagramClient<Json>>();

        let dir = tempfile::tempdir().unwrap();
        let (server, path) = server_in(&dir, "server.sock");
        let client = UnixDatagramClient::connect(&path, protocol()).unwrap();
        assert_eq!(
            client.peer_addr().unwrap(),
            UnixSocketAddress::from_pathname(&path).unwrap()
        );
        assert!(client.local_addr().unwrap().as_abstract_name().is_some());
        client.send_packet(&json!({"data": 42})).unwrap();
        let (packet, from) = recv_json(&server);
        assert_eq!(packet, json!({"data": 42}));
        server.send_to_addr(b"\"reply\"", &from).unwrap();
        assert_eq!(client.recv_packet().unwrap(), json!("reply"));
        assert!(client.socket_options().send_buffer_size().unwrap() > 0);
        assert_eq!(client.max_recv_size(), 64 * 1024);

        // An explicit local path.
        let local = dir.path().join("client.sock");
        let client = UnixDatagramClientOptions::new()
            .local_path(&local)
            .connect(&path, protocol())
            .unwrap();
        assert_eq!(
            client.local_addr().unwrap().as_pathname(),
            Some(local.as_path())
        );
        client.send_packet(&json!(1)).unwrap();
        let (_, from) = recv_json(&server);
        assert_eq!(from.as_pathname(), Some(local.as_path()));
        // Nobody there.
        let error =
            UnixDatagramClient::connect(dir.path().join("missing"), protocol()).unwrap_err();
        assert!(matches!(error, ClientConnectError::Connect(_)), "{error:?}");
    }

    #[test]
    fn abstract_names() {
        let name = format!("packetwire-test-dgram-client-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let server =
            StdUnix::bind_addr(&StdUnixAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let by_path = UnixDatagramClient::connect(format!("@{name}"), protocol()).unwrap();
        let by_addr = UnixDatagramClient::connect_addr(
            &UnixSocketAddress::from_abstract_name(name.as_bytes()).unwrap(),
            protocol(),
        )
        .unwrap();
        by_path.send_packet(&json!("path")).unwrap();
        by_addr.send_packet(&json!("addr")).unwrap();
        assert_eq!(recv_json(&server).0, json!("path"));
        let (packet, from) = recv_json(&server);
        assert_eq!(packet, json!("addr"));
        server.send_to_addr(b"2", &from).unwrap();
        assert_eq!(by_addr.recv_packet().unwrap(), json!(2));
    }

    #[test]
    fn adopting_checks_the_socket() {
        let unconnected = StdUnix::unbound().unwrap();
        let error = UnixDatagramClient::from_std(unconnected, protocol()).unwrap_err();
        assert!(
            matches!(error, ClientConnectError::Adopt(AdoptError::NotConnected)),
            "{error:?}"
        );
        let (stream, _other) = std::os::unix::net::UnixStream::pair().unwrap();
        let wrong = StdUnix::from(std::os::fd::OwnedFd::from(stream));
        let error = UnixDatagramClient::from_std(wrong, protocol()).unwrap_err();
        assert!(
            matches!(
                error,
                ClientConnectError::Adopt(AdoptError::WrongType { .. })
            ),
            "{error:?}"
        );
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let wrong = StdUnix::from(std::os::fd::OwnedFd::from(udp));
        let error = UnixDatagramClient::from_std(wrong, protocol()).unwrap_err();
        assert!(
            matches!(
                error,
                ClientConnectError::Adopt(AdoptError::WrongFamily { .. })
            ),
            "{error:?}"
        );

        // A connected pair: adopted and auto-bound.
        let (mine, theirs) = StdUnix::pair().unwrap();
        let client = UnixDatagramClient::from_std(mine, protocol()).unwrap();
        assert!(!client.local_addr().unwrap().is_unnamed());
        assert_eq!(client.peer_credentials().unwrap(), Credentials::current());
        theirs.send(b"[true]").unwrap();
        assert_eq!(client.recv_packet().unwrap(), json!([true]));

        let (socket, _peer) = packetwire::blocking::UnixDatagramOptions::new()
            .max_datagram_size(100)
            .pair()
            .unwrap();
        let client = UnixDatagramClient::from_socket(socket, protocol()).unwrap();
        assert_eq!(client.max_recv_size(), 100);
    }

    #[test]
    fn timeout_zero_and_budget() {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = pair(&dir);
        assert!(matches!(
            client.recv_packet_within(Duration::ZERO),
            Err(RecvPacketError::TimedOut)
        ));
        server.send(b"1").unwrap();
        server.send(b"oops").unwrap();
        server.send(b"2").unwrap();
        let mut iter = client.iter_received_packets(Some(Duration::ZERO));
        assert_eq!(iter.by_ref().collect::<Vec<Value>>(), [json!(1)]);
        assert!(matches!(iter.error(), Some(RecvPacketError::Parse(_))));
        let got: Vec<Value> = client.iter_received_packets(Some(Duration::ZERO)).collect();
        assert_eq!(got, [json!(2)]);

        let start = Instant::now();
        let got: Vec<Value> = client
            .iter_received_packets(Some(Duration::from_millis(150)))
            .collect();
        assert!(got.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(150));
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn close_wakes_a_blocked_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = pair(&dir);
        let client = Arc::new(client);
        let receiver = {
            let client = Arc::clone(&client);
            std::thread::spawn(move || {
                let mut ancillary = SocketAncillary::new();
                client.recv_packet_with_ancillary(&mut ancillary)
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        client.close();
        let result = receiver.join().unwrap();
        assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
        assert!(matches!(
            client.send_packet(&json!(0)),
            Err(SendPacketError::Closed)
        ));
        // The socket was shut down: the server's sends to it fail now.
        assert!(server.send(b"1").is_err());
        assert!(client.as_fd().try_clone_to_owned().is_ok());
    }

    #[test]
    fn close_wakes_a_blocked_sender() {
        let dir = tempfile::tempdir().unwrap();
        // The server never reads: its queue fills and the client's send waits for room.
        let (client, _server) = pair(&dir);
        let client = Arc::new(client);
        let sender = {
            let client = Arc::clone(&client);
            std::thread::spawn(move || {
                let filler = "f".repeat(1000);
                let mut sent = 0usize;
                loop {
                    match client.send_packet(&json!(filler)) {
                        Ok(()) => sent += 1,
                        Err(e) => return (sent, e),
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        client.close();
        let (sent, error) = sender.join().unwrap();
        assert!(sent > 0);
        assert!(matches!(error, SendPacketError::Closed), "{error:?}");

        // A send that cannot get the send lock in time times out.
        let dir = tempfile::tempdir().unwrap();
        let (client, _server) = pair(&dir);
        let client = Arc::new(client);
        let blocked = {
            let client = Arc::clone(&client);
            std::thread::spawn(move || loop {
                if let Err(e) = client.send_packet(&json!("z".repeat(1000))) {
                    return e;
                }
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        let error = client
            .send_packet_within(&json!(1), Duration::from_millis(50))
            .unwrap_err();
        assert!(matches!(error, SendPacketError::TimedOut), "{error:?}");
        assert!(start.elapsed() >= Duration::from_millis(50));
        client.close();
        assert!(matches!(blocked.join().unwrap(), SendPacketError::Closed));
    }

    #[test]
    fn invalid_datagram_then_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = pair(&dir);
        server.send(b"]").unwrap();
        server.send(b"{\"ok\": true}").unwrap();
        assert!(matches!(
            client.recv_packet(),
            Err(RecvPacketError::Parse(_))
        ));
        assert_eq!(client.recv_packet().unwrap(), json!({"ok": true}));
    }

    #[test]
    fn foreign_datagrams_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = pair(&dir);
        let local = client.local_addr().unwrap();
        use std::os::linux::net::SocketAddrExt;
        let target = StdUnixAddr::from_abstract_name(local.as_abstract_name().unwrap()).unwrap();
        // The kernel refuses a datagram from a socket other than the peer.
        let stranger = StdUnix::unbound().unwrap();
        assert!(stranger.send_to_addr(b"\"intruder\"", &target).is_err());
        server.send(b"\"expected\"").unwrap();
        assert_eq!(client.recv_packet().unwrap(), json!("expected"));
        assert!(matches!(
            client.recv_packet_within(Duration::from_millis(50)),
            Err(RecvPacketError::TimedOut)
        ));
    }

    #[test]
    fn gone_peer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (server, path) = server_in(&dir, "server.sock");
        let client = UnixDatagramClient::connect(&path, protocol()).unwrap();
        drop(server);
        let error = client.send_packet(&json!("hello?")).unwrap_err();
        assert!(matches!(error, SendPacketError::Refused), "{error:?}");
    }

    #[test]
    fn oversized_datagram_is_an_error_not_a_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (server, path) = server_in(&dir, "server.sock");
        let client = UnixDatagramClientOptions::new()
            .max_recv_size(8)
            .connect(&path, protocol())
            .unwrap();
        client.send_packet(&json!(0)).unwrap();
        let (_, from) = recv_json(&server);
        server.send_to_addr(b"[1,2,3,4,5,6,7,8]", &from).unwrap();
        server.send_to_addr(b"[9]", &from).unwrap();
        assert!(matches!(
            client.recv_packet(),
            Err(RecvPacketError::DatagramTooLarge { max_size: 8 })
        ));
        assert_eq!(client.recv_packet().unwrap(), json!([9]));
    }

    #[test]
    fn fd_passing_through_a_packet() {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = pair(&dir);
        let server = UnixDatagramClient::from_std(server, protocol()).unwrap();

        let (reader, writer) = packetwire::os::pipe().unwrap();
        let mut out = SocketAncillary::new();
        out.add_fd(&writer);
        client
            .send_packet_with_ancillary(&json!({"fd": "writer"}), &out)
            .unwrap();
        drop(out);
        drop(writer);

        let mut ancillary = SocketAncillary::new();
        let packet = server
            .recv_packet_with_ancillary_within(&mut ancillary, Duration::from_secs(10))
            .unwrap();
        assert_eq!(packet, json!({"fd": "writer"}));
        let mut fds = ancillary.take_fds();
        assert_eq!(fds.len(), 1);
        check_pipe(reader, fds.remove(0));
    }

    #[test]
    fn credentials_through_a_packet() {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = pair(&dir);
        client.set_passcred(true).unwrap();
        assert!(client.passcred().unwrap());
        server.send(b"\"with creds\"").unwrap();
        let mut ancillary = SocketAncillary::new();
        assert_eq!(
            client.recv_packet_with_ancillary(&mut ancillary).unwrap(),
            json!("with creds")
        );
        assert_eq!(
            ancillary.credentials().collect::<Vec<_>>(),
            [Credentials::current()]
        );

        // Credentials sent explicitly with a packet.
        let server = UnixDatagramClient::from_std(server, protocol()).unwrap();
        server.set_passcred(true).unwrap();
        let mut out = SocketAncillary::new();
        out.add_creds(Credentials::current());
        client
            .send_packet_with_ancillary(&json!("explicit"), &out)
            .unwrap();
        let mut ancillary = SocketAncillary::new();
        assert_eq!(
            server.recv_packet_with_ancillary(&mut ancillary).unwrap(),
            json!("explicit")
        );
        assert_eq!(ancillary.credentials().next(), Some(Credentials::current()));
    }

    #[test]
    fn concurrent_senders_send_whole_packets() {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = pair(&dir);
        let client = Arc::new(client);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let client = Arc::clone(&client);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        client
                            .send_packet_within(
                                &json!({"thread": t, "seq": i, "filler": "z".repeat(500)}),
                                Duration::from_secs(10),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut seen = vec![Vec::new(); 4];
        for _ in 0..400 {
            let (packet, _) = recv_json(&server);
            assert_eq!(packet["filler"].as_str().unwrap().len(), 500);
            seen[packet["thread"].as_u64().unwrap() as usize].push(packet["seq"].as_u64().unwrap());
        }
        for thread in threads {
            thread.join().unwrap();
        }
        for per_thread in seen {
            assert_eq!(per_thread, (0..100).collect::<Vec<_>>());
        }
    }
}

#[cfg(any(feature = "tokio", feature = "smol"))]
mod async_shell {
    use std::sync::Arc;
    use std::time::Instant;

    use smol::stream::StreamExt;

    use super::common::{runtime_tests, sleep, zip};
    use super::*;
    use packetwire::client::{
        ClientConnectError, RecvPacketError, SendPacketError, UnixDatagramClient,
        UnixDatagramClientOptions,
    };
    use packetwire::net::{AdoptError, UnixDatagram};
    use packetwire::unix::{Credentials, SocketAncillary, UnixSocketAddress};

    type TestError = Box<dyn std::error::Error + Send + Sync>;

    /// A client connected to a server bound in `dir`; the server connected back to it.
    async fn pair(
        dir: &tempfile::TempDir,
    ) -> Result<(UnixDatagramClient<Json>, UnixDatagram), TestError> {
        let (server, path) = server_in(dir, "server.sock");
        let client = UnixDatagramClient::connect(&path, protocol()).await?;
        let local = client.local_addr()?;
        use std::os::linux::net::SocketAddrExt;
        server.connect_addr(&StdUnixAddr::from_abstract_name(
            local.as_abstract_name().unwrap(),
        )?)?;
        Ok((client, UnixDatagram::from_std(server)?))
    }

    runtime_tests! {
        async fn connect_send_receive_and_names(rt) {
            fn send_sync<T: Send + Sync>() {}
            send_sync::<UnixDatagramClient<Json>>();
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("server.sock");
            let server = UnixDatagram::bind(&path).await?;
            let client = UnixDatagramClient::connect(&path, protocol()).await?;
            assert_eq!(client.peer_addr()?, UnixSocketAddress::from_pathname(&path)?);
            assert!(client.local_addr()?.as_abstract_name().is_some());
            client.send_packet(&json!({"data": 42})).await?;
            let (datagram, from) = server.receive_from().await?;
            assert_eq!(datagram, r#"{"data":42}"#);
            server.send_to(b"\"reply\"", &from).await?;
            assert_eq!(client.recv_packet().await?, json!("reply"));
            assert!(client.socket_options().send_buffer_size()? > 0);

            // Explicit local path, abstract server name, connect_addr.
            // One name per run: the tokio and smol runs of this test are concurrent.
            static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("packetwire-test-async-dgram-client-{}-{run}", std::process::id());
            let abstract_server = UnixDatagram::bind(format!("@{name}")).await?;
            let local = dir.path().join("client.sock");
            let client = UnixDatagramClientOptions::new()
                .local_path(&local)
                .runtime(Arc::clone(&rt))
                .connect_addr(&UnixSocketAddress::from_abstract_name(name.as_bytes())?, protocol())
                .await?;
            assert_eq!(client.local_addr()?.as_pathname(), Some(local.as_path()));
            client.send_packet(&json!("abstract")).await?;
            let (datagram, from) = abstract_server.receive_from().await?;
            assert_eq!(datagram, "\"abstract\"");
            assert_eq!(from.as_pathname(), Some(local.as_path()));

            let error = UnixDatagramClient::connect(dir.path().join("missing"), protocol())
                .await
                .unwrap_err();
            assert!(matches!(error, ClientConnectError::Connect(_)), "{error:?}");
            Ok(())
        }

        async fn lazy_connection(rt) {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("server.sock");
            let server = UnixDatagram::bind(&path).await?;
            let client = UnixDatagramClientOptions::new().connect_lazy(&path, protocol());
            assert!(!client.is_connected());
            assert!(client.set_passcred(true).is_err());
            let (a, b) = zip(client.wait_connected(), client.wait_connected()).await;
            a?;
            b?;
            client.wait_connected().await?;
            client.send_packet(&json!("lazy")).await?;
            assert_eq!(server.receive_from().await?.0, "\"lazy\"");
            // A bad path is reported when connecting.
            let bad = UnixDatagramClientOptions::new().connect_lazy("a\0b", protocol());
            assert!(bad.wait_connected().await.is_err());
            let _ = rt;
            Ok(())
        }

        async fn adopting_checks_the_socket(rt) {
            let error = UnixDatagramClient::from_std(StdUnix::unbound()?, protocol()).unwrap_err();
            assert!(matches!(error, ClientConnectError::Adopt(AdoptError::NotConnected)), "{error:?}");
            let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
            let error = UnixDatagramClient::from_std(StdUnix::from(std::os::fd::OwnedFd::from(udp)), protocol())
                .unwrap_err();
            assert!(matches!(error, ClientConnectError::Adopt(AdoptError::WrongFamily { .. })), "{error:?}");
            let (mine, theirs) = StdUnix::pair()?;
            let client = UnixDatagramClient::from_std(mine, protocol())?;
            assert!(!client.local_addr()?.is_unnamed());
            assert_eq!(client.peer_credentials()?, Credentials::current());
            theirs.send(b"[1]")?;
            assert_eq!(client.recv_packet().await?, json!([1]));
            let (socket, _peer) = packetwire::net::UnixDatagramOptions::new()
                .max_datagram_size(100)
                .pair()?;
            let client = UnixDatagramClient::from_socket(socket, protocol())?;
            assert_eq!(client.max_recv_size(), 100);
            let _ = rt;
            Ok(())
        }

        async fn timeout_zero_and_budget(rt) {
            let dir = tempfile::tempdir()?;
            let (client, server) = pair(&dir).await?;
            assert!(matches!(
                client.recv_packet_within(Duration::ZERO).await,
                Err(RecvPacketError::TimedOut)
            ));
            for datagram in ["1", "2"] {
                server.send(datagram.as_bytes()).await?;
            }
            let got: Vec<Value> = client.iter_received_packets(Some(Duration::ZERO)).collect().await;
            assert_eq!(got, [json!(1), json!(2)]);
            let start = Instant::now();
            let mut iter = client.iter_received_packets(Some(Duration::from_millis(150)));
            assert_eq!(iter.next().await, None);
            assert!(matches!(iter.error(), Some(RecvPacketError::TimedOut)));
            assert!(start.elapsed() >= Duration::from_millis(140));
            // A zero timeout with ancillary data, too.
            server.send(b"3").await?;
            let mut ancillary = SocketAncillary::new();
            assert_eq!(
                client.recv_packet_with_ancillary_within(&mut ancillary, Duration::ZERO).await?,
                json!(3)
            );
            let _ = rt;
            Ok(())
        }

        async fn close_wakes_a_waiting_receiver(rt) {
            let dir = tempfile::tempdir()?;
            let (client, server) = pair(&dir).await?;
            let client = Arc::new(client);
            let (sender, receiver) = smol::channel::bounded(1);
            let mut task = {
                let client = Arc::clone(&client);
                rt.spawn(Box::pin(async move {
                    let mut ancillary = SocketAncillary::new();
                    let result = client.recv_packet_with_ancillary(&mut ancillary).await;
                    let _ = sender.send(result).await;
                }))
            };
            sleep(&rt, 100).await;
            client.close().await;
            let result = receiver.recv().await?;
            assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
            task.join().await;
            assert!(matches!(client.send_packet(&json!(0)).await, Err(SendPacketError::Closed)));
            // The socket is shut down: the server's sends fail.
            assert!(server.send(b"1").await.is_err());
            Ok(())
        }

        async fn invalid_datagram_then_recovery(rt) {
            let dir = tempfile::tempdir()?;
            let (client, server) = pair(&dir).await?;
            server.send(b"]").await?;
            server.send(b"null").await?;
            assert!(matches!(client.recv_packet().await, Err(RecvPacketError::Parse(_))));
            assert_eq!(client.recv_packet().await?, Value::Null);
            let _ = rt;
            Ok(())
        }

        async fn foreign_datagrams_are_ignored(rt) {
            let dir = tempfile::tempdir()?;
            let (client, server) = pair(&dir).await?;
            let stranger = UnixDatagram::unbound()?;
            assert!(stranger.send_to(b"\"intruder\"", &client.local_addr()?).await.is_err());
            server.send(b"\"expected\"").await?;
            assert_eq!(client.recv_packet().await?, json!("expected"));
            assert!(matches!(
                client.recv_packet_within(Duration::from_millis(50)).await,
                Err(RecvPacketError::TimedOut)
            ));
            let _ = rt;
            Ok(())
        }

        async fn gone_peer_is_refused(rt) {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("server.sock");
            let server = UnixDatagram::bind(&path).await?;
            let client = UnixDatagramClient::connect(&path, protocol()).await?;
            drop(server);
            let error = client.send_packet(&json!("hello?")).await.unwrap_err();
            assert!(matches!(error, SendPacketError::Refused), "{error:?}");
            let _ = rt;
            Ok(())
        }

        async fn oversized_datagram(rt) {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("server.sock");
            let server = UnixDatagram::bind(&path).await?;
            let client = UnixDatagramClientOptions::new()
                .max_recv_size(8)
                .connect(&path, protocol())
                .await?;
            let to = client.local_addr()?;
            server.send_to(b"[1,2,3,4,5,6,7,8]", &to).await?;
            server.send_to(b"[9]", &to).await?;
            assert!(matches!(
                client.recv_packet().await,
                Err(RecvPacketError::DatagramTooLarge { max_size: 8 })
            ));
            assert_eq!(client.recv_packet().await?, json!([9]));
            let _ = rt;
            Ok(())
        }

        async fn fd_and_credentials_through_a_packet(rt) {
            let (mine, theirs) = StdUnix::pair()?;
            let client = UnixDatagramClient::from_std(mine, protocol())?;
            let peer = UnixDatagramClient::from_std(theirs, protocol())?;
            peer.set_passcred(true)?;
            assert!(peer.passcred()?);

            let (reader, writer) = packetwire::os::pipe()?;
            let mut out = SocketAncillary::new();
            out.add_fd(&writer);
            out.add_creds(Credentials::current());
            client.send_packet_with_ancillary(&json!({"fd": 1}), &out).await?;
            drop(out);
            drop(writer);

            let mut ancillary = SocketAncillary::new();
            let packet = peer.recv_packet_with_ancillary(&mut ancillary).await?;
            assert_eq!(packet, json!({"fd": 1}));
            assert_eq!(ancillary.credentials().collect::<Vec<_>>(), [Credentials::current()]);
            let mut fds = ancillary.take_fds();
            assert_eq!(fds.len(), 1);
            let received = fds.remove(0);
            // Reading a pipe blocks: do it on a thread.
            std::thread::spawn(move || check_pipe(reader, received)).join().unwrap();
            let _ = rt;
            Ok(())
        }

        async fn waiting_senders_go_out_in_arrival_order(rt) {
            let dir = tempfile::tempdir()?;
            let (client, server) = pair(&dir).await?;
            let client = Arc::new(client);
            // Fill the server's queue: the next send waits, holding the send lock.
            let mut fillers = 0;
            while packetwire::runtime::timeout(&*rt, Duration::from_millis(50), client.send_packet(&json!("filler")))
                .await
                .is_ok()
            {
                fillers += 1;
                assert!(fillers < 10_000, "the queue never filled");
            }
            let mut tasks = Vec::new();
            for order in 0..5 {
                let client = Arc::clone(&client);
                tasks.push(rt.spawn(Box::pin(async move {
                    client.send_packet(&json!({"order": order})).await.unwrap();
                })));
                // Each task is waiting for the lock before the next one asks.
                sleep(&rt, 20).await;
            }
            let mut orders = Vec::new();
            while orders.len() < 5 {
                let datagram = server.receive().await?;
                let packet: Value = serde_json::from_slice(&datagram)?;
                if packet != json!("filler") {
                    orders.push(packet["order"].as_u64().unwrap());
                }
            }
            assert_eq!(orders, [0, 1, 2, 3, 4]);
            for mut task in tasks {
                task.join().await;
            }
            Ok(())
        }

        async fn concurrent_senders_and_streams(rt) {
            let dir = tempfile::tempdir()?;
            let (client, server) = pair(&dir).await?;
            let client = Arc::new(client);
            let mut tasks = Vec::new();
            for t in 0..4u64 {
                let client = Arc::clone(&client);
                tasks.push(rt.spawn(Box::pin(async move {
                    for i in 0..100u64 {
                        client
                            .send_packet(&json!({"thread": t, "seq": i, "filler": "q".repeat(500)}))
                            .await
                            .unwrap();
                    }
                })));
            }
            let server = UnixDatagramClient::from_socket(server, protocol())?;
            let mut seen = vec![Vec::new(); 4];
            let mut packets = server.packets();
            for _ in 0..400 {
                let packet = packets.next().await.unwrap()?;
                assert_eq!(packet["filler"].as_str().unwrap().len(), 500);
                seen[packet["thread"].as_u64().unwrap() as usize].push(packet["seq"].as_u64().unwrap());
            }
            for mut task in tasks {
                task.join().await;
            }
            for per_task in seen {
                assert_eq!(per_task, (0..100).collect::<Vec<_>>());
            }
            Ok(())
        }
    }
}
