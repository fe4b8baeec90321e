//! TCP streams on loopback, every test on tokio and on smol.
#![cfg(any(feature = "tokio", feature = "smol"))]

mod common;

use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{has_ipv6, payload, runtime_tests, sleep, tcp_pair, zip};
use packetwire::net::{
    AdoptError, ConnectError, ReceiveError, SendError, TcpConnectOptions, TcpListener,
    TcpListenerOptions, TcpStream,
};
use packetwire::runtime::Runtime;
use std::sync::Arc;

/// Fills the accept queue of a listener that never accepts; returns the connections that got
/// in and confirms that the next connect times out.
async fn connect_to_full_backlog(
    rt: &Arc<dyn Runtime>,
    addr: SocketAddr,
) -> Result<Vec<TcpStream>, Box<dyn std::error::Error + Send + Sync>> {
    let options = TcpConnectOptions::new()
        .timeout(Duration::from_millis(200))
        .runtime(Arc::clone(rt));
    let mut held = Vec::new();
    for _ in 0..64 {
        match options.connect_addrs(&[addr]).await {
            Ok(stream) => held.push(stream),
            Err(ConnectError::TimedOut) => return Ok(held),
            Err(e) => return Err(e.into()),
        }
    }
    Err("the backlog never filled up".into())
}

fn raw_listener(addr: &str, backlog: i32) -> socket2::Socket {
    let addr: SocketAddr = addr.parse().unwrap();
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    if addr.is_ipv6() {
        socket.set_only_v6(true).unwrap();
    }
    socket.bind(&addr.into()).unwrap();
    socket.listen(backlog).unwrap();
    socket
}

runtime_tests! {
    async fn large_payload_partial_reads_and_writes(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        let data = payload(4 * 1024 * 1024 + 7);
        let sending = async {
            client.send_all(&data).await?;
            client.send_eof()?;
            Ok::<_, SendError>(())
        };
        let receiving = async {
            let mut got = Vec::new();
            loop {
                match server.receive(50_000).await {
                    Ok(chunk) => {
                        assert!(!chunk.is_empty() && chunk.len() <= 50_000);
                        got.extend_from_slice(&chunk);
                    }
                    Err(ReceiveError::EndOfStream) => return Ok::<_, ReceiveError>(got),
                    Err(e) => return Err(e),
                }
            }
        };
        let (sent, got) = zip(sending, receiving).await;
        sent?;
        assert!(got? == data, "payload corrupted");
        let _ = rt;
        Ok(())
    }

    async fn receive_exactly_across_many_writes(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        let data = payload(300_000);
        let sending = async {
            for chunk in data.chunks(777) {
                client.send_all(chunk).await?;
            }
            Ok::<_, SendError>(())
        };
        let (sent, got) = zip(sending, server.receive_exactly(data.len())).await;
        sent?;
        assert!(got? == data);
        let _ = rt;
        Ok(())
    }

    async fn lines_split_across_writes(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        let sending = async {
            for piece in [&b"hel"[..], b"lo\nwor", b"ld", b"\n\nlast"] {
                client.send_all(piece).await?;
                sleep(&rt, 20).await;
            }
            client.send_eof()?;
            Ok::<_, SendError>(())
        };
        let receiving = async {
            let mut lines = Vec::new();
            for _ in 0..3 {
                lines.push(server.receive_line().await?);
            }
            let tail = server.receive_line().await.unwrap_err();
            Ok::<_, ReceiveError>((lines, tail))
        };
        let (sent, received) = zip(sending, receiving).await;
        sent?;
        let (lines, tail) = received?;
        assert_eq!(lines, [&b"hello\n"[..], b"world\n", b"\n"]);
        match tail {
            ReceiveError::IncompleteRead { partial, expected: None } => assert_eq!(partial, "last"),
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    }

    async fn receive_until_custom_separator(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        client.send_all(b"a\r\nb\r").await?;
        sleep(&rt, 20).await;
        client.send_all(b"\nc").await?;
        assert_eq!(server.receive_until(b"\r\n").await?, "a\r\n");
        assert_eq!(server.receive_until(b"\r\n").await?, "b\r\n");
        assert_eq!(server.buffered(), b"c");
        Ok(())
    }

    async fn receive_until_over_the_limit_leaves_the_data(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        server.set_limit(8);
        assert_eq!(server.limit(), 8);
        client.send_all(b"0123456789ABC;rest;").await?;
        sleep(&rt, 20).await;
        match server.receive_until(b";").await {
            Err(ReceiveError::LimitOverrun { consumed, limit: 8 }) => assert!(consumed > 8),
            other => panic!("unexpected {other:?}"),
        }
        // Nothing was consumed: the bytes are still readable, and the stream goes on.
        assert!(server.buffered().starts_with(b"0123456789"));
        assert_eq!(server.receive_exactly(13).await?, "0123456789ABC");
        assert_eq!(server.receive_until(b";").await?, ";");
        assert_eq!(server.receive_until(b";").await?, "rest;");

        // Without a separator at all.
        client.send_all(&[b'x'; 20]).await?;
        sleep(&rt, 20).await;
        assert!(matches!(
            server.receive_line().await,
            Err(ReceiveError::LimitOverrun { limit: 8, .. })
        ));
        server.set_limit(1024);
        client.send_all(b"\n").await?;
        assert_eq!(server.receive_line().await?.len(), 21);
        Ok(())
    }

    async fn end_of_stream_without_data(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        client.send_eof()?;
        let error = server.receive(10).await.unwrap_err();
        assert!(matches!(error, ReceiveError::EndOfStream));
        assert!(error.is_end_of_stream());
        assert!(server.at_eof());
        // Still the end of the stream, for every method.
        assert!(matches!(server.receive(10).await, Err(ReceiveError::EndOfStream)));
        match server.receive_exactly(4).await {
            Err(ReceiveError::IncompleteRead { partial, expected: Some(4) }) => assert!(partial.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        match server.receive_line().await {
            Err(ReceiveError::IncompleteRead { partial, expected: None }) => assert!(partial.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        let as_io: std::io::Error = server.receive(1).await.unwrap_err().into();
        assert_eq!(as_io.kind(), std::io::ErrorKind::UnexpectedEof);
        let _ = rt;
        Ok(())
    }

    async fn end_of_stream_with_partial_data(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        client.send_all(b"abc").await?;
        client.send_eof()?;
        match server.receive_exactly(5).await {
            Err(ReceiveError::IncompleteRead { partial, expected: Some(5) }) => {
                assert_eq!(partial, Bytes::from_static(b"abc"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(server.receive(10).await, Err(ReceiveError::EndOfStream)));
        let _ = rt;
        Ok(())
    }

    async fn half_close_then_the_peer_still_sends(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        client.send_all(b"request").await?;
        client.send_eof()?;
        client.send_eof()?; // idempotent
        assert!(matches!(client.send_all(b"more").await, Err(SendError::WriteClosed)));

        assert_eq!(server.receive_exactly(7).await?, "request");
        assert!(matches!(server.receive(10).await, Err(ReceiveError::EndOfStream)));
        server.send_all(b"response").await?;
        server.send_eof()?;

        assert_eq!(client.receive_exactly(8).await?, "response");
        assert!(matches!(client.receive(10).await, Err(ReceiveError::EndOfStream)));
        let _ = rt;
        Ok(())
    }

    async fn vectored_send_over_iov_max(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        let pieces: Vec<Vec<u8>> = (0..3000).map(|i| payload(i % 97)).collect();
        let expected: Vec<u8> = pieces.concat();
        let slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
        let sending = async {
            client.send_all_vectored(&slices).await?;
            client.flush().await?;
            client.send_eof()?;
            Ok::<_, SendError>(())
        };
        let (sent, got) = zip(sending, server.receive_exactly(expected.len())).await;
        sent?;
        assert!(got? == expected);
        assert!(matches!(server.receive(1).await, Err(ReceiveError::EndOfStream)));
        let _ = rt;
        Ok(())
    }

    async fn addresses_and_options(rt) {
        let (client, server) = tcp_pair().await?;
        assert_eq!(client.peer_addr()?, server.local_addr()?);
        assert_eq!(client.local_addr()?, server.peer_addr()?);
        for stream in [&client, &server] {
            let socket = socket2::SockRef::from(stream);
            assert!(socket.tcp_nodelay()?);
            assert!(socket.keepalive()?);
        }
        let _ = rt;
        Ok(())
    }

    async fn split_halves_work_concurrently(rt) {
        let (client, mut server) = tcp_pair().await?;
        let (mut read, mut write) = client.into_split();
        let writer = rt.spawn(Box::pin(async move {
            for i in 0..100u32 {
                write.send_all(format!("{i}\n").as_bytes()).await.unwrap();
            }
            write.send_eof().unwrap();
        }));
        let (sr, sw) = server.split();
        let echo = async {
            while let Ok(line) = sr.receive_line().await {
                sw.send_all(&line).await?;
            }
            sw.send_eof()?;
            Ok::<_, SendError>(())
        };
        let read_back = async {
            let mut n = 0u32;
            while let Ok(line) = read.receive_line().await {
                assert_eq!(line, format!("{n}\n"));
                n += 1;
            }
            n
        };
        let (echoed, count) = zip(echo, read_back).await;
        echoed?;
        assert_eq!(count, 100);
        let mut writer = writer;
        writer.join().await;
        Ok(())
    }

    async fn adopt_a_connected_std_stream(rt) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let client = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (accepted, _) = listener.accept()?;
        let mut client = TcpStream::from_std(client)?;
        let mut server = TcpStream::from_std_with_runtime(accepted, Arc::clone(&rt))?;
        assert!(socket2::SockRef::from(&client).nonblocking().is_ok());
        client.send_all(b"adopted\n").await?;
        assert_eq!(server.receive_line().await?, "adopted\n");
        Ok(())
    }

    async fn adopt_rejects_the_wrong_sockets(rt) {
        use socket2::{Domain, Socket, Type};
        // A UDP socket dressed as a TCP stream.
        let udp: OwnedFd = Socket::new(Domain::IPV4, Type::DGRAM, None)?.into();
        match TcpStream::from_std(std::net::TcpStream::from(udp)) {
            Err(AdoptError::WrongType { found, .. }) => assert_eq!(found, "SOCK_DGRAM"),
            other => panic!("unexpected {other:?}"),
        }
        // A Unix stream socket.
        let (unix, _peer) = std::os::unix::net::UnixStream::pair()?;
        match TcpStream::from_std(std::net::TcpStream::from(OwnedFd::from(unix))) {
            Err(AdoptError::WrongFamily { found, .. }) => assert_eq!(found, "AF_UNIX"),
            other => panic!("unexpected {other:?}"),
        }
        // A TCP socket that never connected.
        let fresh: OwnedFd = Socket::new(Domain::IPV4, Type::STREAM, None)?.into();
        let error = TcpStream::from_std(std::net::TcpStream::from(fresh)).unwrap_err();
        assert!(matches!(error, AdoptError::NotConnected), "{error:?}");
        assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::NotConnected);
        let _ = rt;
        Ok(())
    }

    async fn connect_times_out_on_a_full_backlog(rt) {
        let listener = raw_listener("127.0.0.1:0", 0);
        let addr = listener.local_addr()?.as_socket().unwrap();
        let _held = connect_to_full_backlog(&rt, addr).await?;
        let error = TcpConnectOptions::new()
            .timeout(Duration::from_millis(100))
            .connect("127.0.0.1", addr.port())
            .await
            .unwrap_err();
        assert!(matches!(error, ConnectError::TimedOut));
        assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::TimedOut);
        Ok(())
    }

    async fn connect_errors_are_typed(rt) {
        // Two closed ports: every attempt fails.
        let closed: Vec<SocketAddr> = (0..2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap())
            .collect();
        match TcpConnectOptions::new().connect_addrs(&closed).await {
            Err(ConnectError::AllAttemptsFailed(errors)) => {
                assert_eq!(errors.len(), 2);
                for (_, e) in &errors {
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        // A name the resolver rejects before any lookup (no DNS traffic).
        match TcpStream::connect("bad\0name", 80).await {
            Err(ConnectError::Resolve { host, .. }) => assert_eq!(host, "bad\0name"),
            other => panic!("unexpected {other:?}"),
        }
        // An IPv6 local address and an IPv4 target: nothing to try.
        let error = TcpConnectOptions::new()
            .local_addr("[::1]:0".parse()?)
            .connect("127.0.0.1", 9)
            .await
            .unwrap_err();
        assert!(matches!(error, ConnectError::NoAddress { .. }), "{error:?}");
        let _ = rt;
        Ok(())
    }

    async fn connect_with_a_local_address(rt) {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let client = TcpConnectOptions::new()
            .local_addr("127.0.0.1:0".parse()?)
            .runtime(Arc::clone(&rt))
            .connect("localhost", port)
            .await?;
        let (_server, peer) = listener.accept().await?;
        assert_eq!(client.local_addr()?, peer);
        Ok(())
    }

    async fn happy_eyeballs_falls_back_to_ipv4(rt) {
        // "localhost" with only an IPv4 listener.
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let _client = TcpStream::connect("localhost", port).await?;
        let (_server, _) = listener.accept().await?;

        if !has_ipv6() {
            return Ok(());
        }
        // IPv6 refused at once: the IPv4 attempt starts without waiting for the delay.
        let v6: SocketAddr = format!("[::1]:{port}").parse()?;
        let v4: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let started = Instant::now();
        let client = TcpConnectOptions::new()
            .happy_eyeballs_delay(Duration::from_secs(10))
            .connect_addrs(&[v4, v6])
            .await?;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(client.peer_addr()?.is_ipv4());
        let (_server, _) = listener.accept().await?;
        let _ = rt;
        Ok(())
    }

    async fn happy_eyeballs_staggers_past_a_stalled_ipv6_attempt(rt) {
        if !has_ipv6() {
            return Ok(());
        }
        // An IPv6 listener that never accepts and whose backlog is full: attempts to it hang.
        let stalled = raw_listener("[::1]:0", 0);
        let v6 = stalled.local_addr()?.as_socket().unwrap();
        let _held = connect_to_full_backlog(&rt, v6).await?;

        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let v4 = listener.local_addrs()[0];
        let started = Instant::now();
        let client = TcpConnectOptions::new()
            .timeout(Duration::from_secs(10))
            .connect_addrs(&[v4, v6])
            .await?;
        let elapsed = started.elapsed();
        // IPv6 goes first, IPv4 starts 250 ms later and wins.
        assert!(client.peer_addr()?.is_ipv4());
        assert!(elapsed >= Duration::from_millis(240), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

        // A shorter delay is honoured.
        let started = Instant::now();
        let _client = TcpConnectOptions::new()
            .happy_eyeballs_delay(Duration::from_millis(20))
            .connect_addrs(&[v6, v4])
            .await?;
        assert!(started.elapsed() < Duration::from_millis(240), "{:?}", started.elapsed());
        Ok(())
    }

    async fn bind_reports_addr_in_use(rt) {
        let first = TcpListener::bind("127.0.0.1", 0).await?;
        let port = first.local_addrs()[0].port();
        let error = TcpListener::bind("127.0.0.1", port).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
        // SO_REUSEPORT lets two listeners share the port.
        let a = TcpListenerOptions::new().reuse_port(true).bind("127.0.0.1", 0).await?;
        let port = a.local_addrs()[0].port();
        let b = TcpListenerOptions::new().reuse_port(true).bind("127.0.0.1", port).await?;
        assert_eq!(b.local_addrs()[0].port(), port);
        let _ = rt;
        Ok(())
    }

    #[cfg(feature = "tokio")]
    async fn tokio_io_traits_read_the_buffer_first(rt) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, mut server) = tcp_pair().await?;
        AsyncWriteExt::write_all(&mut client, b"line\nrest of it").await?;
        AsyncWriteExt::shutdown(&mut client).await?;
        assert_eq!(server.receive_line().await?, "line\n");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut server, &mut rest).await?;
        assert_eq!(rest, b"rest of it");
        let _ = rt;
        Ok(())
    }

    #[cfg(feature = "smol")]
    async fn futures_io_traits_read_the_buffer_first(rt) {
        use smol::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, mut server) = tcp_pair().await?;
        AsyncWriteExt::write_all(&mut client, b"line\nrest of it").await?;
        AsyncWriteExt::close(&mut client).await?;
        assert_eq!(server.receive_line().await?, "line\n");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut server, &mut rest).await?;
        assert_eq!(rest, b"rest of it");
        let _ = rt;
        Ok(())
    }

    async fn cancelled_receive_loses_nothing(rt) {
        let (mut client, mut server) = tcp_pair().await?;
        client.send_all(b"partial li").await?;
        // Give up on the line before it is complete.
        let cancelled = packetwire::runtime::timeout(&*rt, Duration::from_millis(50), server.receive_line()).await;
        assert!(cancelled.is_err());
        client.send_all(b"ne\n").await?;
        assert_eq!(server.receive_line().await?, "partial line\n");
        Ok(())
    }
}
