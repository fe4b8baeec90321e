//! The async TCP packet client (`client::TcpClient`) against servers made of packetwire's
//! async sockets in the test; every case on tokio and on smol. TLS cases with an rcgen
//! certificate (feature `tls`), async and blocking.
#![cfg(all(feature = "json", any(feature = "tokio", feature = "smol")))]

mod common;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{runtime_tests, sleep, zip};
use futures_sink::Sink;
use packetwire::client::{
    ClientConnectError, RecvPacketError, SendPacketError, TcpClient, TcpClientOptions,
};
use packetwire::net::{TcpListener, TcpStream};
use packetwire::runtime::Runtime;
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};
use smol::stream::StreamExt;

type Json = JsonSerializer<Value>;

const WAIT: Duration = Duration::from_secs(10);

fn protocol() -> StreamProtocol<Json> {
    StreamProtocol::new(JsonSerializer::new())
}

/// A client connected to a fresh listener, and the server's side.
async fn pair(rt: &Arc<dyn Runtime>) -> std::io::Result<(TcpClient<Json>, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addrs()[0].port();
    let (client, accepted) = zip(
        TcpClientOptions::new()
            .runtime(Arc::clone(rt))
            .connect_timeout(WAIT)
            .connect("127.0.0.1", port, protocol()),
        listener.accept(),
    )
    .await;
    Ok((client.map_err(std::io::Error::from)?, accepted?.0))
}

/// Sends every item through the sink, then closes it.
async fn sink_all<T, K: Sink<T> + Unpin>(sink: &mut K, items: Vec<T>) -> Result<(), K::Error> {
    for item in items {
        poll_fn(|cx| Pin::new(&mut *sink).poll_ready(cx)).await?;
        Pin::new(&mut *sink).start_send(item)?;
    }
    poll_fn(|cx| Pin::new(&mut *sink).poll_flush(cx)).await?;
    poll_fn(|cx| Pin::new(&mut *sink).poll_close(cx)).await
}

runtime_tests! {
    async fn packets_split_across_writes_and_several_in_one_write(rt) {
        let (client, mut server) = pair(&rt).await?;
        server.send_all(b"{\"a\":").await?;
        sleep(&rt, 30).await;
        server.send_all(b"1}\n[1,2]\n\"three\"\n[4").await?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!({"a": 1}));
        assert_eq!(client.recv_packet().await?, json!([1, 2]));
        assert_eq!(client.recv_packet().await?, json!("three"));
        // The extraneous "[4" waits for the rest of its packet.
        assert!(matches!(
            client.recv_packet_within(Duration::from_millis(50)).await,
            Err(RecvPacketError::TimedOut)
        ));
        server.send_all(b",5]\n").await?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!([4, 5]));
        Ok(())
    }

    async fn timeout_zero_and_the_iteration_budget(rt) {
        let (client, mut server) = pair(&rt).await?;
        let start = Instant::now();
        assert!(matches!(
            client.recv_packet_within(Duration::ZERO).await,
            Err(RecvPacketError::TimedOut)
        ));
        assert!(start.elapsed() < Duration::from_millis(500));
        server.send_all(b"1\n2\n3\n").await?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!(1));
        // The rest is buffered: a zero budget yields it, then ends.
        let mut iter = client.iter_received_packets(Some(Duration::ZERO));
        let mut got = Vec::new();
        while let Some(packet) = iter.next().await {
            got.push(packet);
        }
        assert_eq!(got, [json!(2), json!(3)]);
        assert!(matches!(iter.error(), Some(RecvPacketError::TimedOut)));

        // A budget for the whole iteration, while a packet comes every 20 ms.
        let feeding = async {
            for i in 0..40 {
                if server.send_all(format!("{i}\n").as_bytes()).await.is_err() {
                    break;
                }
                sleep(&rt, 20).await;
            }
        };
        let iterating = async {
            let start = Instant::now();
            let got: Vec<Value> = client
                .iter_received_packets(Some(Duration::from_millis(250)))
                .collect()
                .await;
            (got, start.elapsed())
        };
        let (_, (got, elapsed)) = zip(feeding, iterating).await;
        assert!(elapsed >= Duration::from_millis(240), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert!(!got.is_empty() && got.len() < 40, "{}", got.len());
        for (i, packet) in got.iter().enumerate() {
            assert_eq!(packet, &json!(i));
        }
        Ok(())
    }

    async fn end_of_stream_by_half_close_then_the_client_still_sends(rt) {
        let (client, mut server) = pair(&rt).await?;
        server.send_all(b"\"last\"\n").await?;
        server.send_eof()?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!("last"));
        assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::EndOfStream)));
        assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::EndOfStream)));
        client.send_packet(&json!({"after": "eof"})).await?;
        assert_eq!(server.receive_line().await?, &b"{\"after\":\"eof\"}\n"[..]);
        Ok(())
    }

    async fn end_of_stream_by_close_with_leftover_bytes(rt) {
        let (client, mut server) = pair(&rt).await?;
        server.send_all(b"[1]\n[2, 3").await?;
        drop(server);
        assert_eq!(client.recv_packet_within(WAIT).await?, json!([1]));
        assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::Parse(_))));
        assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::EndOfStream)));
        Ok(())
    }

    async fn a_reset_connection_is_reported(rt) {
        let (client, server) = pair(&rt).await?;
        socket2::SockRef::from(&server).set_linger(Some(Duration::ZERO))?;
        drop(server);
        assert!(matches!(
            client.recv_packet_within(WAIT).await,
            Err(RecvPacketError::ConnectionReset)
        ));
        assert!(matches!(
            client.send_packet(&json!(1)).await,
            Err(SendPacketError::ConnectionReset)
        ));
        Ok(())
    }

    async fn close_wakes_a_task_blocked_in_send(rt) {
        // The server never reads: the socket buffers fill up.
        let (client, _server) = pair(&rt).await?;
        client.socket_options().set_send_buffer_size(16 * 1024)?;
        let big = json!("z".repeat(256 * 1024));
        let sending = async {
            loop {
                match client.send_packet(&big).await {
                    Ok(()) => continue,
                    Err(e) => return e,
                }
            }
        };
        let closing = async {
            sleep(&rt, 200).await;
            client.close().await;
        };
        let (error, ()) = zip(sending, closing).await;
        assert!(matches!(error, SendPacketError::Closed), "{error:?}");
        Ok(())
    }

    async fn invalid_data_then_recovery(rt) {
        let (client, mut server) = pair(&rt).await?;
        server.send_all(b"{not json}\n{\"ok\":true}\n").await?;
        match client.recv_packet_within(WAIT).await {
            Err(e @ RecvPacketError::Parse(_)) => assert!(e.is_recoverable()),
            other => panic!("expected a parse error, got {other:?}"),
        }
        assert_eq!(client.recv_packet_within(WAIT).await?, json!({"ok": true}));
        Ok(())
    }

    async fn send_eof_is_idempotent_and_ends_sending(rt) {
        let (client, mut server) = pair(&rt).await?;
        client.send_packet(&json!("bye")).await?;
        client.send_eof().await?;
        client.send_eof().await?;
        assert!(matches!(client.send_packet(&json!(1)).await, Err(SendPacketError::EofSent)));
        assert_eq!(server.receive_line().await?, &b"\"bye\"\n"[..]);
        assert!(server.receive(10).await.unwrap_err().is_end_of_stream());
        server.send_all(b"\"reply\"\n").await?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!("reply"));
        Ok(())
    }

    async fn close_wakes_a_task_waiting_to_receive(rt) {
        let (client, _server) = pair(&rt).await?;
        let waiting = async {
            let start = Instant::now();
            (client.recv_packet().await, start.elapsed())
        };
        // A second task waits for the receive lock.
        let queued = client.recv_packet();
        let closing = async {
            sleep(&rt, 100).await;
            client.close().await;
        };
        let (((result, elapsed), queued), ()) = zip(zip(waiting, queued), closing).await;
        assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
        assert!(elapsed < WAIT);
        assert!(matches!(queued, Err(RecvPacketError::Closed)), "{queued:?}");
        assert!(client.is_closed());
        client.close().await;
        assert!(matches!(client.send_packet(&json!(1)).await, Err(SendPacketError::Closed)));
        assert!(matches!(client.recv_packet().await, Err(RecvPacketError::Closed)));
        assert!(matches!(client.wait_connected().await, Err(ClientConnectError::Closed)));
        Ok(())
    }

    async fn cancelled_receives_lose_nothing(rt) {
        let (client, mut server) = pair(&rt).await?;
        let text = "[\"a packet that arrives a few bytes at a time\", {\"n\": 12345}]\n";
        let expected: Value = serde_json::from_str(text)?;
        let trickle = async {
            for chunk in text.as_bytes().repeat(3).chunks(5) {
                server.send_all(chunk).await?;
                sleep(&rt, 3).await;
            }
            Ok::<_, packetwire::net::SendError>(())
        };
        let receiving = async {
            let mut got = Vec::new();
            let deadline = Instant::now() + WAIT;
            while got.len() < 3 && Instant::now() < deadline {
                // Most of these time out in the middle of a packet.
                match client.recv_packet_within(Duration::from_millis(2)).await {
                    Ok(packet) => got.push(packet),
                    Err(RecvPacketError::TimedOut) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(got)
        };
        let (sent, got) = zip(trickle, receiving).await;
        sent?;
        assert_eq!(got?, vec![expected; 3]);
        Ok(())
    }

    async fn concurrent_senders_produce_whole_packets(rt) {
        const TASKS: usize = 16;
        const PACKETS: usize = 100;
        let (client, mut server) = pair(&rt).await?;
        let client = Arc::new(client);
        let mut handles = Vec::new();
        for t in 0..TASKS {
            let client = Arc::clone(&client);
            handles.push(rt.spawn(Box::pin(async move {
                let filler = "y".repeat(2000 + t * 50);
                for i in 0..PACKETS {
                    client
                        .send_packet(&json!({"task": t, "seq": i, "filler": filler}))
                        .await
                        .unwrap();
                }
            })));
        }
        let reading = async {
            let mut next = [0usize; TASKS];
            for _ in 0..TASKS * PACKETS {
                let line = server.receive_line().await?;
                let packet: Value = serde_json::from_slice(&line)?;
                let t = packet["task"].as_u64().unwrap() as usize;
                assert_eq!(packet["seq"], json!(next[t]));
                assert_eq!(packet["filler"].as_str().unwrap().len(), 2000 + t * 50);
                next[t] += 1;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(next)
        };
        let joining = async {
            for handle in &mut handles {
                handle.join().await;
            }
        };
        let (next, ()) = zip(reading, joining).await;
        assert_eq!(next?, [PACKETS; TASKS]);
        Ok(())
    }

    async fn one_task_receives_while_another_sends(rt) {
        let (client, server) = pair(&rt).await?;
        let (mut rx, mut tx) = server.into_split();
        let echo = async {
            while let Ok(line) = rx.receive_line().await {
                if tx.send_all(&line).await.is_err() {
                    break;
                }
            }
        };
        let talking = async {
            let receiving = async {
                let mut got = Vec::new();
                for _ in 0..30 {
                    got.push(client.recv_packet_within(WAIT).await?);
                }
                Ok::<_, RecvPacketError>(got)
            };
            let sending = async {
                sleep(&rt, 20).await;
                for i in 0..30 {
                    client.send_packet(&json!(i)).await?;
                }
                Ok::<_, SendPacketError>(())
            };
            let (got, sent) = zip(receiving, sending).await;
            sent?;
            client.send_eof().await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(got?)
        };
        let ((), got) = zip(echo, talking).await;
        assert_eq!(got?, (0..30).map(|i| json!(i)).collect::<Vec<_>>());
        Ok(())
    }

    async fn a_stream_and_a_sink_of_packets(rt) {
        let (client, server) = pair(&rt).await?;
        let (mut rx, mut tx) = server.into_split();
        let echo = async {
            while let Ok(line) = rx.receive_line().await {
                if tx.send_all(&line).await.is_err() {
                    break;
                }
            }
            // The client closed its sink: end the stream the other way too.
            let _ = tx.send_eof();
        };
        let talking = async {
            let mut sink = client.sink::<Value>();
            sink_all(&mut sink, (0..5).map(|i| json!({"n": i})).collect()).await?;
            let mut packets = client.packets();
            let mut got = Vec::new();
            while let Some(packet) = packets.next().await {
                got.push(packet?);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(got)
        };
        let ((), got) = zip(echo, talking).await;
        assert_eq!(got?, (0..5).map(|i| json!({"n": i})).collect::<Vec<_>>());
        // The sink's close was send_eof.
        assert!(matches!(client.send_packet(&json!(0)).await, Err(SendPacketError::EofSent)));
        Ok(())
    }

    async fn the_stream_yields_parse_errors_and_goes_on(rt) {
        let (client, mut server) = pair(&rt).await?;
        server.send_all(b"1\n{bad\n2\n").await?;
        server.send_eof()?;
        let items: Vec<_> = client.packets().collect().await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap(), &json!(1));
        assert!(matches!(items[1], Err(RecvPacketError::Parse(_))));
        assert_eq!(items[2].as_ref().unwrap(), &json!(2));
        Ok(())
    }

    async fn lazy_connection_from_several_tasks(rt) {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let client = TcpClientOptions::new()
            .runtime(Arc::clone(&rt))
            .connect_lazy("127.0.0.1", port, protocol())?;
        assert!(!client.is_connected());
        assert!(client.local_addr().is_err());
        let (a, b) = zip(client.wait_connected(), client.wait_connected()).await;
        a?;
        b?;
        client.wait_connected().await?;
        let (mut server, _) = listener.accept().await?;
        client.send_packet(&json!("lazy")).await?;
        assert_eq!(server.receive_line().await?, &b"\"lazy\"\n"[..]);
        // One connection only.
        assert!(runtime_timeout(&rt, 100, listener.accept()).await.is_none());

        // A lazy client that sends first connects then.
        let second = TcpClientOptions::new().connect_lazy("127.0.0.1", port, protocol())?;
        let (sent, accepted) = zip(second.send_packet(&json!(2)), listener.accept()).await;
        sent?;
        let (mut server2, _) = accepted?;
        assert_eq!(server2.receive_line().await?, &b"2\n"[..]);
        Ok(())
    }

    async fn lazy_connection_errors_and_close_before_connecting(rt) {
        let port = {
            let listener = TcpListener::bind("127.0.0.1", 0).await?;
            listener.local_addrs()[0].port()
        };
        let client = TcpClientOptions::new().connect_lazy("127.0.0.1", port, protocol())?;
        assert!(matches!(client.wait_connected().await, Err(ClientConnectError::Connect(_))));
        assert!(client.send_packet(&json!(1)).await.is_err());
        client.close().await;
        assert!(matches!(client.wait_connected().await, Err(ClientConnectError::Closed)));
        assert!(matches!(client.recv_packet().await, Err(RecvPacketError::Closed)));
        let _ = rt;
        Ok(())
    }

    async fn adopt_std_and_packetwire_streams(rt) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (mut server, _) = listener.accept()?;
        let client = TcpClient::from_std(std_stream, protocol())?;
        std::io::Write::write_all(&mut server, b"42\n")?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!(42));
        assert_eq!(client.local_addr()?, server.peer_addr()?);
        assert_eq!(client.peer_addr()?, server.local_addr()?);
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let wrong = std::net::TcpStream::from(std::os::fd::OwnedFd::from(udp));
        assert!(matches!(TcpClient::from_std(wrong, protocol()), Err(ClientConnectError::Adopt(_))));

        // A packetwire stream that read past a text greeting.
        let (mut stream, mut server) = common::tcp_pair().await?;
        server.send_all(b"HELLO\n{\"first\":1}\n").await?;
        sleep(&rt, 50).await;
        assert_eq!(stream.receive_line().await?, &b"HELLO\n"[..]);
        assert_eq!(stream.buffered(), b"{\"first\":1}\n");
        let client = TcpClient::from_socket(stream, protocol());
        assert_eq!(client.recv_packet_within(WAIT).await?, json!({"first": 1}));
        Ok(())
    }

    async fn addresses_options_and_fd(rt) {
        use std::os::fd::AsFd;
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let client = TcpClientOptions::new()
            .local_addr("127.0.0.1:0".parse()?)
            .max_recv_size(7)
            .runtime(Arc::clone(&rt))
            .connect("127.0.0.1", port, protocol())
            .await?;
        let (mut server, peer) = listener.accept().await?;
        assert_eq!(client.local_addr()?, peer);
        assert_eq!(client.max_recv_size(), 7);
        assert!(!client.is_tls());
        client.socket_options().set_recv_buffer_size(32 * 1024)?;
        assert!(client.socket_options().recv_buffer_size()? > 0);
        assert!(client.as_fd().try_clone_to_owned().is_ok());
        assert!(Arc::ptr_eq(client.runtime(), &rt) || format!("{:?}", client.runtime()) == format!("{rt:?}"));
        // Reads of 7 bytes still make whole packets.
        server.send_all(b"{\"a long\":\"packet over many reads\"}\n").await?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!({"a long": "packet over many reads"}));
        Ok(())
    }
}

/// `future` within `ms` milliseconds, or `None`.
async fn runtime_timeout<F: std::future::Future>(
    rt: &Arc<dyn Runtime>,
    ms: u64,
    future: F,
) -> Option<F::Output> {
    packetwire::runtime::timeout(&**rt, Duration::from_millis(ms), future)
        .await
        .ok()
}

#[cfg(feature = "tls")]
mod tls {
    use packetwire::tls::{TlsClientConfig, TlsListener, TlsServerConfig};

    use super::*;

    fn certificate() -> (
        packetwire::tls::CertificateDer<'static>,
        packetwire::tls::PrivateKeyDer<'static>,
    ) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = certified.signing_key.serialize_der().try_into().unwrap();
        (cert, key)
    }

    runtime_tests! {
        async fn tls_echo_eof_and_close(rt) {
            let (cert, key) = certificate();
            let acceptor = TlsServerConfig::new(vec![cert.clone()], key).build()?;
            let server = TlsListener::bind("localhost", 0, acceptor).await?.serve(|mut stream| async move {
                while let Ok(line) = stream.receive_line().await {
                    if stream.send_all(&line).await.is_err() {
                        return;
                    }
                }
                let _ = stream.send_all(b"\"bye\"\n").await;
                let _ = stream.close().await;
            });
            let port = server.local_addrs()[0].port();
            let connector = TlsClientConfig::new().root_certificates([cert]).build()?;
            let client = TcpClientOptions::new()
                .runtime(Arc::clone(&rt))
                .tls(connector.clone())
                .connect("localhost", port, protocol())
                .await?;
            assert!(client.is_tls());
            assert_eq!(client.peer_certificates().map(|c| c.len()), Some(1));
            // Concurrent sends and a waiting receiver over one TLS session.
            let sending = async {
                for i in 0..20 {
                    client.send_packet(&json!({"i": i})).await?;
                }
                Ok::<_, SendPacketError>(())
            };
            let receiving = async {
                let mut got = Vec::new();
                for _ in 0..20 {
                    got.push(client.recv_packet_within(WAIT).await?);
                }
                Ok::<_, RecvPacketError>(got)
            };
            let (sent, got) = zip(sending, receiving).await;
            sent?;
            assert_eq!(got?, (0..20).map(|i| json!({"i": i})).collect::<Vec<_>>());
            client.send_eof().await?;
            assert_eq!(client.recv_packet_within(WAIT).await?, json!("bye"));
            assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::EndOfStream)));

            // Close wakes a receiver waiting on a TLS session.
            let lazy = TcpClientOptions::new()
                .tls(connector)
                .connect_lazy("localhost", port, protocol())?;
            lazy.wait_connected().await?;
            let (result, ()) = zip(lazy.recv_packet(), async {
                sleep(&rt, 50).await;
                lazy.close().await;
            })
            .await;
            assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
            Ok(())
        }

        async fn tls_with_an_untrusted_certificate_fails(rt) {
            let (cert, key) = certificate();
            let acceptor = TlsServerConfig::new(vec![cert], key).build()?;
            let server = TlsListener::bind("localhost", 0, acceptor).await?.serve(|_stream| async {});
            let port = server.local_addrs()[0].port();
            let (other, _) = certificate();
            let connector = TlsClientConfig::new().root_certificates([other]).build()?;
            let result = TcpClientOptions::new()
                .runtime(Arc::clone(&rt))
                .tls(connector)
                .connect("localhost", port, protocol())
                .await;
            assert!(matches!(result, Err(ClientConnectError::Tls(_))), "{result:?}");
            Ok(())
        }
    }

    #[test]
    fn blocking_tls_client() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let (cert, key) = certificate();
        let acceptor = TlsServerConfig::new(vec![cert.clone()], key).build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = std::thread::spawn(
            move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                let (sock, _) = listener.accept()?;
                let mut tls = acceptor.accept_blocking(sock)?;
                let mut lines = Vec::new();
                loop {
                    match tls.receive_line() {
                        Ok(line) => {
                            tls.send_all(&line)?;
                            lines.push(line);
                        }
                        Err(e) if e.is_end_of_stream() => break,
                        Err(e) => return Err(e.into()),
                    }
                }
                tls.send_all(b"\"done\"\n")?;
                tls.close()?;
                Ok(())
            },
        );
        let connector = TlsClientConfig::new().root_certificates([cert]).build()?;
        let client = packetwire::blocking::TcpClientOptions::new()
            .tls(connector)
            .connect("localhost", port, protocol())?;
        assert!(client.is_tls());
        std::thread::scope(
            |scope| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                // One thread waits for packets while this one sends.
                let receiver = scope.spawn(|| -> Result<Vec<Value>, RecvPacketError> {
                    (0..20).map(|_| client.recv_packet_within(WAIT)).collect()
                });
                std::thread::sleep(Duration::from_millis(20));
                for i in 0..20 {
                    client.send_packet(&json!([i]))?;
                }
                let got = receiver.join().unwrap()?;
                assert_eq!(got, (0..20).map(|i| json!([i])).collect::<Vec<_>>());
                Ok(())
            },
        )?;
        client.send_eof()?;
        assert_eq!(client.recv_packet_within(WAIT)?, json!("done"));
        assert!(matches!(
            client.recv_packet_within(WAIT),
            Err(RecvPacketError::EndOfStream)
        ));
        server.join().unwrap()?;

        // Close wakes a thread blocked in a TLS receive.
        let (cert, key) = certificate();
        let acceptor = TlsServerConfig::new(vec![cert.clone()], key).build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            let mut tls = acceptor.accept_blocking(sock).unwrap();
            // Wait until the client goes away.
            let _ = tls.receive(1);
        });
        let connector = TlsClientConfig::new().root_certificates([cert]).build()?;
        let client = packetwire::blocking::TcpClientOptions::new()
            .tls(connector)
            .connect("localhost", port, protocol())?;
        std::thread::scope(|scope| {
            let blocked = scope.spawn(|| client.recv_packet());
            std::thread::sleep(Duration::from_millis(50));
            client.close();
            assert!(matches!(
                blocked.join().unwrap(),
                Err(RecvPacketError::Closed)
            ));
        });
        drop(client);
        server.join().unwrap();
        Ok(())
    }
}
