//! Blocking TCP streams on loopback.

mod blocking_support;

use std::io::{BufRead, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use blocking_support::{bounded_tests, has_ipv6, join, payload, tcp_pair};
use packetwire::blocking::{
    AdoptError, ConnectError, ReceiveError, SendError, TcpConnectOptions, TcpListener, TcpStream,
};

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

/// A listener that never accepts, with a backlog of 0.
fn raw_listener(addr: &str) -> socket2::Socket {
    let addr: SocketAddr = addr.parse().unwrap();
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(0).unwrap();
    socket
}

/// Fills the accept queue of a listener that never accepts; returns the connections that got
/// in (the next connect hangs).
fn fill_backlog(addr: SocketAddr) -> Result<Vec<TcpStream>, ConnectError> {
    let options = TcpConnectOptions::new().timeout(Duration::from_millis(200));
    let mut held = Vec::new();
    for _ in 0..64 {
        match options.connect_addrs(&[addr]) {
            Ok(stream) => held.push(stream),
            Err(ConnectError::TimedOut) => return Ok(held),
            Err(e) => return Err(e),
        }
    }
    panic!("the backlog never filled up");
}

bounded_tests! {
    fn large_payload_partial_reads_and_writes() {
        let (mut client, mut server) = tcp_pair()?;
        let data = payload(4 * 1024 * 1024 + 7);
        let expected = data.clone();
        let sender = std::thread::spawn(move || -> Result<(), SendError> {
            client.send_all(&data)?;
            client.send_eof()
        });
        let mut got = Vec::new();
        loop {
            match server.receive(50_000) {
                Ok(chunk) => {
                    assert!(!chunk.is_empty() && chunk.len() <= 50_000);
                    got.extend_from_slice(&chunk);
                }
                Err(ReceiveError::EndOfStream) => break,
                Err(e) => return Err(e.into()),
            }
        }
        join(sender)?;
        assert!(got == expected, "payload corrupted");
        assert!(server.at_eof());
        Ok(())
    }

    fn receive_exactly_a_large_block_across_many_writes() {
        let (mut client, mut server) = tcp_pair()?;
        let data = payload(3 * 1024 * 1024);
        let expected = data.clone();
        let sender = std::thread::spawn(move || -> Result<(), SendError> {
            for chunk in data.chunks(7_777) {
                client.send_all(chunk)?;
            }
            Ok(())
        });
        let head = server.receive_exactly(10)?;
        let rest = server.receive_exactly(expected.len() - 10)?;
        join(sender)?;
        assert_eq!(&head[..], &expected[..10]);
        assert!(rest[..] == expected[10..], "payload corrupted");
        Ok(())
    }

    fn lines_split_across_writes() {
        let (mut client, mut server) = tcp_pair()?;
        let sender = std::thread::spawn(move || -> Result<(), SendError> {
            for part in [&b"hel"[..], b"lo\nwor", b"ld\nlast li", b"ne\n"] {
                client.send_all(part)?;
                std::thread::sleep(Duration::from_millis(10));
            }
            client.send_eof()
        });
        assert_eq!(server.receive_line()?, "hello\n");
        assert_eq!(server.receive_line()?, "world\n");
        assert_eq!(server.receive_until(b" ")?, "last ");
        assert_eq!(server.receive_line()?, "line\n");
        join(sender)?;
        match server.receive_line() {
            Err(ReceiveError::IncompleteRead { partial, expected: None }) => assert!(partial.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    }

    fn receive_until_over_the_limit_leaves_the_data() {
        let (mut client, mut server) = tcp_pair()?;
        server.set_limit(16);
        client.send_all(b"0123456789abcdefghij")?;
        // No separator within the limit, and more than the limit searched.
        match server.receive_line() {
            Err(ReceiveError::LimitOverrun { consumed, limit }) => {
                assert_eq!(limit, 16);
                assert!(consumed > 16, "{consumed}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(server.buffered(), b"0123456789abcdefghij");
        // Still readable, by the other calls and again after a larger limit.
        assert_eq!(server.receive(4)?, "0123");
        client.send_all(b"\n")?;
        server.set_limit(64);
        assert_eq!(server.receive_line()?, "456789abcdefghij\n");
        Ok(())
    }

    fn end_of_stream_without_data() {
        let (mut client, mut server) = tcp_pair()?;
        client.send_eof()?;
        assert!(matches!(server.receive(10), Err(ReceiveError::EndOfStream)));
        match server.receive_exactly(3) {
            Err(ReceiveError::IncompleteRead { partial, expected: Some(3) }) => assert!(partial.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(server.receive_line().unwrap_err().is_end_of_stream());
        assert!(server.at_eof());
        // std's Read says 0.
        assert_eq!(server.read(&mut [0u8; 8])?, 0);
        Ok(())
    }

    fn end_of_stream_with_partial_data() {
        let (mut client, mut server) = tcp_pair()?;
        client.send_all(b"no newline")?;
        client.send_eof()?;
        match server.receive_line() {
            Err(ReceiveError::IncompleteRead { partial, expected: None }) => assert_eq!(partial, "no newline"),
            other => panic!("unexpected {other:?}"),
        }
        let (mut client, mut server) = tcp_pair()?;
        client.send_all(b"xyz")?;
        drop(client);
        match server.receive_exactly(10) {
            Err(ReceiveError::IncompleteRead { partial, expected: Some(10) }) => assert_eq!(partial, "xyz"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(server.receive(1), Err(ReceiveError::EndOfStream)));
        Ok(())
    }

    fn half_close_then_the_peer_still_sends() {
        let (mut client, mut server) = tcp_pair()?;
        client.send_all(b"request")?;
        client.send_eof()?;
        client.send_eof()?; // idempotent
        assert!(client.eof_sent());
        assert!(matches!(client.send_all(b"more"), Err(SendError::WriteClosed)));
        assert_eq!(
            client.write(b"more").unwrap_err().kind(),
            std::io::ErrorKind::BrokenPipe
        );
        assert_eq!(server.receive_exactly(7)?, "request");
        assert!(matches!(server.receive(1), Err(ReceiveError::EndOfStream)));
        server.send_all(b"response")?;
        server.send_eof()?;
        assert_eq!(client.receive_exactly(8)?, "response");
        assert!(matches!(client.receive(1), Err(ReceiveError::EndOfStream)));
        Ok(())
    }

    fn receive_timeout_keeps_the_data_and_later_data_is_read() {
        let (mut client, mut server) = tcp_pair()?;
        assert_eq!(server.receive_timeout(), None);
        server.set_receive_timeout(ms(50));
        assert_eq!(server.receive_timeout(), ms(50));
        client.send_all(b"par")?;

        let started = Instant::now();
        assert!(matches!(server.receive_line(), Err(ReceiveError::TimedOut)));
        assert!(started.elapsed() >= Duration::from_millis(45), "{:?}", started.elapsed());
        assert_eq!(server.buffered(), b"par");
        assert!(matches!(server.receive_exactly_within(5, ms(10)), Err(ReceiveError::TimedOut)));
        // A zero timeout does not wait.
        let started = Instant::now();
        assert!(matches!(server.receive_until_within(b";", ms(0)), Err(ReceiveError::TimedOut)));
        assert!(started.elapsed() < Duration::from_millis(40));
        // BufRead shows the buffered bytes without waiting.
        assert_eq!(server.fill_buf()?, b"par");

        // Data arriving later completes the line.
        let sender = std::thread::spawn(move || -> Result<TcpStream, SendError> {
            std::thread::sleep(Duration::from_millis(100));
            client.send_all(b"tial\n")?;
            Ok(client)
        });
        assert_eq!(server.receive_line_within(Some(Duration::from_secs(10)))?, "partial\n");
        let _client = join(sender)?;
        // Empty buffer: Read times out with the std kind.
        let error = server.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(std::io::Error::from(ReceiveError::TimedOut).kind(), std::io::ErrorKind::TimedOut);
        Ok(())
    }

    fn send_timeout_when_the_peer_does_not_read() {
        let (mut client, server) = tcp_pair()?;
        client.set_send_timeout(ms(100));
        assert_eq!(client.send_timeout(), ms(100));
        let big = vec![0u8; 64 * 1024 * 1024];
        let started = Instant::now();
        assert!(matches!(client.send_all(&big), Err(SendError::TimedOut)));
        assert!(started.elapsed() >= Duration::from_millis(90));
        assert!(matches!(client.send_all_within(&big, ms(20)), Err(SendError::TimedOut)));
        assert_eq!(client.write_all(&big).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        drop(server);
        Ok(())
    }

    fn a_thread_blocked_in_receive_while_another_sends() {
        let (client, mut server) = tcp_pair()?;
        let (mut rx, mut tx) = client.into_split();
        // The receiving thread blocks first: nothing has been sent yet.
        let receiver = std::thread::spawn(move || -> Result<Vec<u8>, ReceiveError> {
            let mut got = Vec::new();
            for _ in 0..100 {
                got.extend_from_slice(&rx.receive_line()?);
            }
            Ok(got)
        });
        std::thread::sleep(Duration::from_millis(50));
        // Meanwhile this thread sends on the same socket; the server echoes.
        let echo = std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            for _ in 0..100 {
                let line = server.receive_line()?;
                server.send_all(&line)?;
            }
            Ok(())
        });
        let mut expected = Vec::new();
        for i in 0..100 {
            let line = format!("line {i}\n");
            tx.send_all(line.as_bytes())?;
            expected.extend_from_slice(line.as_bytes());
        }
        join(echo)?;
        assert_eq!(join(receiver)?, expected);

        // The same with borrowed halves in scoped threads.
        let (mut client, mut server) = tcp_pair()?;
        // `BufRead::split` would win over the inherent method on an owned stream.
        let (rx, tx) = TcpStream::split(&mut client);
        std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let receiving = scope.spawn(|| rx.receive_exactly(5));
            std::thread::sleep(Duration::from_millis(20));
            tx.send_all(b"ping")?;
            assert_eq!(server.receive_exactly(4)?, "ping");
            server.send_all(b"pong!")?;
            assert_eq!(receiving.join().unwrap()?, "pong!");
            Ok(())
        })?;
        Ok(())
    }

    fn vectored_send_over_iov_max() {
        let (mut client, mut server) = tcp_pair()?;
        let pieces: Vec<Vec<u8>> = (0..3000).map(|i| format!("{i},").into_bytes()).collect();
        let expected: Vec<u8> = pieces.concat();
        let len = expected.len();
        let sender = std::thread::spawn(move || -> Result<(), SendError> {
            let slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
            client.send_all_vectored(&slices)?;
            client.send_all_vectored(&[])?;
            client.send_all_vectored_within(&[IoSlice::new(b""), IoSlice::new(b"!")], ms(1000))?;
            client.flush()
        });
        assert_eq!(server.receive_exactly(len)?, expected);
        assert_eq!(server.receive_exactly(1)?, "!");
        join(sender)?;
        Ok(())
    }

    fn std_read_bufread_and_write_interop() {
        let (mut client, mut server) = tcp_pair()?;
        client.write_all(b"first\nsecond\nthird\nthe rest")?;
        let n = client.write_vectored(&[IoSlice::new(b" and"), IoSlice::new(b" more")])?;
        assert!(n > 0 && n <= 9);
        client.write_all(&b" and more"[n..])?;
        client.flush()?;
        client.send_eof()?;

        assert_eq!(server.receive_line()?, "first\n");
        // BufRead sees the same buffer.
        let mut line = String::new();
        server.read_line(&mut line)?;
        assert_eq!(line, "second\n");
        let buffered = server.fill_buf()?.to_vec();
        assert!(buffered.starts_with(b"third\n"), "{buffered:?}");
        server.consume(2);
        assert_eq!(server.receive_line()?, "ird\n");
        // Read drains the buffer, then the socket.
        let mut small = [0u8; 3];
        server.read_exact(&mut small)?;
        assert_eq!(&small, b"the");
        let mut rest = String::new();
        server.read_to_string(&mut rest)?;
        assert_eq!(rest, " rest and more");
        assert!(server.at_eof());
        assert!(server.fill_buf()?.is_empty());
        Ok(())
    }

    fn addresses_and_socket_options() {
        let listener = TcpListener::bind("127.0.0.1", 0)?;
        let port = listener.local_addrs()[0].port();
        let client = TcpConnectOptions::new()
            .local_addr("127.0.0.1:0".parse()?)
            .connect("localhost", port)?;
        let (server, peer) = listener.accept()?;
        assert_eq!(client.local_addr()?, peer);
        assert_eq!(server.peer_addr()?, peer);
        assert_eq!(client.peer_addr()?, server.local_addr()?);
        for stream in [&client, &server] {
            let options = stream.socket_options();
            assert!(options.nodelay()?);
            assert!(options.keepalive()?);
        }
        assert_eq!(client.limit(), packetwire::DEFAULT_LIMIT);
        Ok(())
    }

    fn adopt_a_connected_std_stream() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let client = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (accepted, _) = listener.accept()?;
        let mut client = TcpStream::from_std(client)?;
        let mut server = TcpStream::from_std(accepted)?;
        assert!(server.socket_options().nodelay()?);
        client.send_all(b"adopted\n")?;
        assert_eq!(server.receive_line()?, "adopted\n");
        Ok(())
    }

    fn adopt_rejects_the_wrong_sockets() {
        use socket2::{Domain, Socket, Type};
        let udp: OwnedFd = Socket::new(Domain::IPV4, Type::DGRAM, None)?.into();
        match TcpStream::from_std(std::net::TcpStream::from(udp)) {
            Err(AdoptError::WrongType { found, .. }) => assert_eq!(found, "SOCK_DGRAM"),
            other => panic!("unexpected {other:?}"),
        }
        let (unix, _peer) = std::os::unix::net::UnixStream::pair()?;
        match TcpStream::from_std(std::net::TcpStream::from(OwnedFd::from(unix))) {
            Err(AdoptError::WrongFamily { found, .. }) => assert_eq!(found, "AF_UNIX"),
            other => panic!("unexpected {other:?}"),
        }
        let fresh: OwnedFd = Socket::new(Domain::IPV4, Type::STREAM, None)?.into();
        let error = TcpStream::from_std(std::net::TcpStream::from(fresh)).unwrap_err();
        assert!(matches!(error, AdoptError::NotConnected), "{error:?}");
        assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::NotConnected);
        Ok(())
    }

    fn connect_times_out_on_a_full_backlog() {
        let listener = raw_listener("127.0.0.1:0");
        let addr = listener.local_addr()?.as_socket().unwrap();
        let _held = fill_backlog(addr)?;
        let started = Instant::now();
        let error = TcpConnectOptions::new()
            .timeout(Duration::from_millis(100))
            .connect("127.0.0.1", addr.port())
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(error, ConnectError::TimedOut), "{error:?}");
        assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(std::io::Error::from(error).kind(), std::io::ErrorKind::TimedOut);
        // The timeout covers every attempt: a second address is not reached.
        let open = TcpListener::bind("127.0.0.1", 0)?;
        let error = TcpConnectOptions::new()
            .timeout(Duration::from_millis(100))
            .connect_addrs(&[addr, open.local_addrs()[0]])
            .unwrap_err();
        assert!(matches!(error, ConnectError::TimedOut), "{error:?}");
        Ok(())
    }

    fn connect_errors_are_typed() {
        let closed: Vec<SocketAddr> = (0..2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap())
            .collect();
        match TcpConnectOptions::new().connect_addrs(&closed) {
            Err(ConnectError::AllAttemptsFailed(errors)) => {
                assert_eq!(errors.iter().map(|(a, _)| *a).collect::<Vec<_>>(), closed);
                for (_, e) in &errors {
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        // A name the resolver rejects before any lookup, inline and on the helper thread.
        for options in [TcpConnectOptions::new(), TcpConnectOptions::new().timeout(Duration::from_secs(5))] {
            match options.connect("bad\0name", 80) {
                Err(ConnectError::Resolve { host, .. }) => assert_eq!(host, "bad\0name"),
                other => panic!("unexpected {other:?}"),
            }
        }
        let error = TcpConnectOptions::new()
            .local_addr("[::1]:0".parse()?)
            .connect("127.0.0.1", 9)
            .unwrap_err();
        assert!(matches!(error, ConnectError::NoAddress { .. }), "{error:?}");
        assert!(matches!(
            TcpConnectOptions::new().connect_addrs(&[]),
            Err(ConnectError::NoAddress { .. })
        ));
        Ok(())
    }

    fn ipv4_fallback() {
        // "localhost" with only an IPv4 listener: an IPv6 address, if any, is refused first.
        let listener = TcpListener::bind("127.0.0.1", 0)?;
        let port = listener.local_addrs()[0].port();
        let client = TcpConnectOptions::new().timeout(Duration::from_secs(10)).connect("localhost", port)?;
        assert!(client.peer_addr()?.is_ipv4());
        let (_server, _) = listener.accept()?;

        if !has_ipv6() {
            return Ok(());
        }
        // IPv6 is tried first whatever the order given, fails, and IPv4 follows.
        let v6: SocketAddr = format!("[::1]:{port}").parse()?;
        let v4: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let client = TcpConnectOptions::new().connect_addrs(&[v4, v6])?;
        assert!(client.peer_addr()?.is_ipv4());
        let (_server, _) = listener.accept()?;
        Ok(())
    }
}
