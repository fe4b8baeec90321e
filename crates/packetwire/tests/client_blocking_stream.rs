//! The blocking stream packet clients (`blocking::TcpClient`, `blocking::UnixStreamClient`)
//! against servers made of std sockets in the test. Every wait is bounded.
#![cfg(feature = "json")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use packetwire::blocking::{
    ClientConnectError, RecvPacketError, SendPacketError, TcpClient, TcpClientOptions,
};
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const WAIT: Duration = Duration::from_secs(10);

fn protocol() -> StreamProtocol<JsonSerializer<Value>> {
    StreamProtocol::new(JsonSerializer::new())
}

/// A client connected to a fresh loopback listener, and the server's side.
fn tcp_pair() -> Result<(TcpClient<JsonSerializer<Value>>, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let client =
        TcpClientOptions::new()
            .connect_timeout(WAIT)
            .connect("127.0.0.1", port, protocol())?;
    let (server, _) = listener.accept()?;
    server.set_read_timeout(Some(WAIT))?;
    Ok((client, server))
}

fn read_line(reader: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line)
}

#[test]
fn packets_split_across_writes_and_several_in_one_write() -> Result {
    let (client, mut server) = tcp_pair()?;
    server.write_all(b"{\"a\":")?;
    server.flush()?;
    thread::sleep(Duration::from_millis(30));
    server.write_all(b"1}\n[1,2]\n\"three\"\n[4")?;
    assert_eq!(client.recv_packet_within(WAIT)?, json!({"a": 1}));
    assert_eq!(client.recv_packet_within(WAIT)?, json!([1, 2]));
    assert_eq!(client.recv_packet_within(WAIT)?, json!("three"));
    // The extraneous "[4" waits for the rest of its packet.
    assert!(matches!(
        client.recv_packet_within(Duration::from_millis(50)),
        Err(RecvPacketError::TimedOut)
    ));
    server.write_all(b",5]\n")?;
    assert_eq!(client.recv_packet_within(WAIT)?, json!([4, 5]));
    Ok(())
}

#[test]
fn a_small_receive_size_still_makes_whole_packets() -> Result {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let client = TcpClientOptions::new()
        .max_recv_size(3)
        .connect("127.0.0.1", port, protocol())?;
    assert_eq!(client.max_recv_size(), 3);
    let (mut server, _) = listener.accept()?;
    let big = json!({"key": "a value longer than three bytes", "list": [1, 2, 3]});
    server.write_all(format!("{big}\n{big}\n").as_bytes())?;
    assert_eq!(client.recv_packet_within(WAIT)?, big);
    assert_eq!(client.recv_packet_within(WAIT)?, big);
    Ok(())
}

#[test]
fn timeout_zero_returns_only_what_is_there() -> Result {
    let (client, mut server) = tcp_pair()?;
    let start = Instant::now();
    assert!(matches!(
        client.recv_packet_within(Duration::ZERO),
        Err(RecvPacketError::TimedOut)
    ));
    assert!(start.elapsed() < Duration::from_millis(500));
    server.write_all(b"1\n2\n")?;
    // Wait until the bytes are readable, then a zero timeout gets both packets.
    let deadline = Instant::now() + WAIT;
    let first = loop {
        match client.recv_packet_within(Duration::ZERO) {
            Ok(packet) => break packet,
            Err(RecvPacketError::TimedOut) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e.into()),
        }
    };
    assert_eq!(first, json!(1));
    assert_eq!(client.recv_packet_within(Duration::ZERO)?, json!(2));
    // An iteration with a zero budget yields what is buffered, then ends.
    server.write_all(b"3\n4\n")?;
    thread::sleep(Duration::from_millis(50));
    let got: Vec<Value> = client.iter_received_packets(Some(Duration::ZERO)).collect();
    assert_eq!(got, [json!(3), json!(4)]);
    Ok(())
}

#[test]
fn iteration_budget_covers_the_whole_iteration() -> Result {
    let (client, mut server) = tcp_pair()?;
    let feeder = thread::spawn(move || -> Result<TcpStream> {
        for i in 0..100 {
            if server.write_all(format!("{i}\n").as_bytes()).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    });
    let start = Instant::now();
    let mut iter = client.iter_received_packets(Some(Duration::from_millis(300)));
    let got: Vec<Value> = iter.by_ref().collect();
    let elapsed = start.elapsed();
    assert!(matches!(iter.error(), Some(RecvPacketError::TimedOut)));
    // Each packet came within the per-packet wait, yet the budget ended the loop.
    assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert!(!got.is_empty() && got.len() < 100, "{}", got.len());
    for (i, packet) in got.iter().enumerate() {
        assert_eq!(packet, &json!(i));
    }
    client.close();
    feeder.join().unwrap()?;
    Ok(())
}

#[test]
fn end_of_stream_by_peer_half_close_and_the_client_still_sends() -> Result {
    let (client, server) = tcp_pair()?;
    (&server).write_all(b"\"last\"\n")?;
    server.shutdown(Shutdown::Write)?;
    assert_eq!(client.recv_packet_within(WAIT)?, json!("last"));
    assert!(matches!(
        client.recv_packet_within(WAIT),
        Err(RecvPacketError::EndOfStream)
    ));
    // Again: the end of the stream stays.
    assert!(matches!(
        client.recv_packet_within(WAIT),
        Err(RecvPacketError::EndOfStream)
    ));
    client.send_packet(&json!({"after": "eof"}))?;
    let mut reader = BufReader::new(&server);
    assert_eq!(read_line(&mut reader)?, "{\"after\":\"eof\"}\n");
    Ok(())
}

#[test]
fn end_of_stream_by_peer_close_with_leftover_bytes() -> Result {
    let (client, mut server) = tcp_pair()?;
    server.write_all(b"[1]\n[2, 3")?;
    drop(server);
    assert_eq!(client.recv_packet_within(WAIT)?, json!([1]));
    // The leftover is one parse error, then the end of the stream.
    match client.recv_packet_within(WAIT) {
        Err(RecvPacketError::Parse(_)) => {}
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert!(matches!(
        client.recv_packet_within(WAIT),
        Err(RecvPacketError::EndOfStream)
    ));
    Ok(())
}

#[test]
fn a_reset_connection_is_reported() -> Result {
    let (client, server) = tcp_pair()?;
    // Linger zero: closing sends a reset instead of the end of the stream.
    socket2::SockRef::from(&server).set_linger(Some(Duration::ZERO))?;
    drop(server);
    assert!(matches!(
        client.recv_packet_within(WAIT),
        Err(RecvPacketError::ConnectionReset)
    ));
    assert!(matches!(
        client.send_packet(&json!(1)),
        Err(SendPacketError::ConnectionReset)
    ));
    Ok(())
}

#[test]
fn send_timeout_and_close_wake_a_blocked_sender() -> Result {
    // The server never reads: the socket buffers fill up.
    let (client, _server) = tcp_pair()?;
    client.socket_options().set_send_buffer_size(16 * 1024)?;
    let big = json!("z".repeat(256 * 1024));
    let start = Instant::now();
    let timed_out = loop {
        match client.send_packet_within(&big, Duration::from_millis(100)) {
            Ok(()) if start.elapsed() < WAIT => continue,
            other => break other,
        }
    };
    assert!(
        matches!(timed_out, Err(SendPacketError::TimedOut)),
        "{timed_out:?}"
    );
    thread::scope(|scope| {
        let blocked = scope.spawn(|| client.send_packet(&big));
        thread::sleep(Duration::from_millis(50));
        assert!(!blocked.is_finished());
        client.close();
        assert!(matches!(
            blocked.join().unwrap(),
            Err(SendPacketError::Closed)
        ));
    });
    Ok(())
}

#[test]
fn invalid_data_then_the_next_packet_arrives() -> Result {
    let (client, mut server) = tcp_pair()?;
    server.write_all(b"{not json}\n{\"ok\":true}\n")?;
    match client.recv_packet_within(WAIT) {
        Err(e @ RecvPacketError::Parse(_)) => assert!(e.is_recoverable()),
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert_eq!(client.recv_packet_within(WAIT)?, json!({"ok": true}));
    Ok(())
}

#[test]
fn send_eof_is_idempotent_and_ends_sending() -> Result {
    let (client, server) = tcp_pair()?;
    client.send_packet(&json!("bye"))?;
    client.send_eof()?;
    client.send_eof()?;
    assert!(matches!(
        client.send_packet(&json!("more")),
        Err(SendPacketError::EofSent)
    ));
    let mut all = String::new();
    BufReader::new(&server).read_to_string(&mut all)?;
    assert_eq!(all, "\"bye\"\n");
    // Receiving still works after send_eof.
    (&server).write_all(b"\"reply\"\n")?;
    assert_eq!(client.recv_packet_within(WAIT)?, json!("reply"));
    Ok(())
}

#[test]
fn close_wakes_a_thread_blocked_in_receive() -> Result {
    let (client, _server) = tcp_pair()?;
    let client = Arc::new(client);
    let receiver = {
        let client = Arc::clone(&client);
        thread::spawn(move || {
            let start = Instant::now();
            (client.recv_packet(), start.elapsed())
        })
    };
    // A second thread waits for the receive lock.
    let waiter = {
        let client = Arc::clone(&client);
        thread::spawn(move || client.recv_packet_within(WAIT))
    };
    thread::sleep(Duration::from_millis(100));
    assert!(!receiver.is_finished());
    client.close();
    let (result, elapsed) = receiver.join().unwrap();
    assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
    assert!(elapsed < WAIT);
    assert!(matches!(
        waiter.join().unwrap(),
        Err(RecvPacketError::Closed)
    ));
    assert!(client.is_closed());
    client.close(); // idempotent
    assert!(matches!(
        client.send_packet(&json!(1)),
        Err(SendPacketError::Closed)
    ));
    assert!(matches!(
        client.recv_packet_within(Duration::ZERO),
        Err(RecvPacketError::Closed)
    ));
    Ok(())
}

#[test]
fn the_receive_timeout_counts_the_wait_for_the_lock() -> Result {
    let (client, _server) = tcp_pair()?;
    thread::scope(|scope| -> Result {
        let blocked = scope.spawn(|| client.recv_packet());
        thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        assert!(matches!(
            client.recv_packet_within(Duration::from_millis(100)),
            Err(RecvPacketError::TimedOut)
        ));
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        client.close();
        assert!(matches!(
            blocked.join().unwrap(),
            Err(RecvPacketError::Closed)
        ));
        Ok(())
    })
}

#[test]
fn one_thread_receives_while_another_sends() -> Result {
    let (client, server) = tcp_pair()?;
    // An echo server.
    let echo = thread::spawn(move || -> Result {
        let mut writer = server.try_clone()?;
        for line in BufReader::new(server).lines() {
            writeln!(writer, "{}", line?)?;
        }
        Ok(())
    });
    thread::scope(|scope| -> Result {
        let receiver = scope.spawn(|| -> Result<Vec<Value>> {
            (0..50)
                .map(|_| Ok(client.recv_packet_within(WAIT)?))
                .collect()
        });
        thread::sleep(Duration::from_millis(20));
        for i in 0..50 {
            client.send_packet(&json!(i))?;
        }
        let got = receiver.join().unwrap()?;
        assert_eq!(got, (0..50).map(|i| json!(i)).collect::<Vec<_>>());
        Ok(())
    })?;
    client.send_eof()?;
    echo.join().unwrap()?;
    Ok(())
}

#[test]
fn concurrent_senders_produce_whole_packets() -> Result {
    const THREADS: usize = 8;
    const PACKETS: usize = 200;
    let (client, server) = tcp_pair()?;
    let reader = thread::spawn(move || -> Result<Vec<Value>> {
        BufReader::new(server)
            .lines()
            .map(|line| Ok(serde_json::from_str(&line?)?))
            .collect()
    });
    thread::scope(|scope| {
        for t in 0..THREADS {
            let client = &client;
            scope.spawn(move || {
                // Large enough packets that a torn write would show.
                let filler = "x".repeat(3000 + t * 100);
                for i in 0..PACKETS {
                    client
                        .send_packet(&json!({"thread": t, "seq": i, "filler": filler}))
                        .unwrap();
                }
            });
        }
    });
    client.send_eof()?;
    let packets = reader.join().unwrap()?;
    assert_eq!(packets.len(), THREADS * PACKETS);
    let mut next = [0usize; THREADS];
    for packet in packets {
        let t = packet["thread"].as_u64().unwrap() as usize;
        assert_eq!(
            packet["seq"],
            json!(next[t]),
            "packets of one thread in order"
        );
        assert_eq!(packet["filler"].as_str().unwrap().len(), 3000 + t * 100);
        next[t] += 1;
    }
    assert_eq!(next, [PACKETS; THREADS]);
    Ok(())
}

#[test]
fn serialization_errors_send_nothing() -> Result {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // JSON object keys must be strings: a map keyed by lists cannot be serialized.
    type Map = std::collections::BTreeMap<Vec<u8>, i32>;
    let protocol = StreamProtocol::new(JsonSerializer::<Map>::new());
    let client = TcpClient::connect("127.0.0.1", port, protocol)?;
    let (server, _) = listener.accept()?;
    server.set_read_timeout(Some(WAIT))?;
    assert!(matches!(
        client.send_packet(&Map::from([(vec![1], 1)])),
        Err(SendPacketError::Serialize(_))
    ));
    client.send_packet(&Map::new())?;
    assert_eq!(read_line(&mut BufReader::new(&server))?, "{}\n");
    Ok(())
}

#[test]
fn addresses_options_and_fd() -> Result {
    let (client, server) = tcp_pair()?;
    assert_eq!(client.local_addr()?, server.peer_addr()?);
    assert_eq!(client.peer_addr()?, server.local_addr()?);
    assert!(!client.is_tls());
    let options = client.socket_options();
    options.set_send_buffer_size(64 * 1024)?;
    assert!(options.send_buffer_size()? > 0);
    assert!(client.as_fd().try_clone_to_owned().is_ok());
    assert_eq!(client.max_recv_size(), 64 * 1024);
    let _protocol = client.protocol().clone();
    Ok(())
}

#[test]
fn connect_with_a_local_address_and_refused() -> Result {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let client = TcpClientOptions::new()
        .local_addr("127.0.0.1:0".parse()?)
        .connect("127.0.0.1", port, protocol())?;
    assert_eq!(client.local_addr()?.ip(), listener.local_addr()?.ip());
    drop(listener);
    match TcpClient::connect("127.0.0.1", port, protocol()) {
        Err(e @ ClientConnectError::Connect(_)) => assert!(!e.is_timeout()),
        other => panic!("expected a connect error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn adopt_a_std_stream_and_reject_the_wrong_socket() -> Result {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let std = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    let client = TcpClient::from_std(std, protocol())?;
    server.write_all(b"42\n")?;
    assert_eq!(client.recv_packet_within(WAIT)?, json!(42));

    // An unconnected TCP socket.
    let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let unconnected = TcpStream::from(std::os::fd::OwnedFd::from(raw));
    assert!(matches!(
        TcpClient::from_std(unconnected, protocol()),
        Err(ClientConnectError::Adopt(_))
    ));
    // A UDP socket dressed as a TCP stream.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let wrong = TcpStream::from(std::os::fd::OwnedFd::from(udp));
    assert!(matches!(
        TcpClient::from_std(wrong, protocol()),
        Err(ClientConnectError::Adopt(_))
    ));
    Ok(())
}

#[test]
fn from_socket_keeps_the_buffered_bytes() -> Result {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut stream = packetwire::blocking::TcpStream::connect("127.0.0.1", port)?;
    let (mut server, _) = listener.accept()?;
    server.write_all(b"HELLO\n{\"first\":1}\n")?;
    // A plain-text greeting first, then packets: the stream reads past the line.
    thread::sleep(Duration::from_millis(50));
    let line = stream.receive_line()?;
    assert_eq!(line, &b"HELLO\n"[..]);
    assert_eq!(stream.buffered(), b"{\"first\":1}\n");
    let client = TcpClient::from_socket(stream, protocol());
    assert_eq!(client.recv_packet_within(WAIT)?, json!({"first": 1}));
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod unix {
    use std::os::unix::net::{UnixListener, UnixStream};

    use packetwire::blocking::{UnixStreamClient, UnixStreamClientOptions};
    use packetwire::unix::{Credentials, SocketAncillary, UnixSocketAddress};

    use super::*;

    fn unix_pair() -> Result<(UnixStreamClient<JsonSerializer<Value>>, UnixStream)> {
        let (a, b) = UnixStream::pair()?;
        b.set_read_timeout(Some(WAIT))?;
        Ok((UnixStreamClient::from_std(a, protocol())?, b))
    }

    #[test]
    fn connect_by_path_with_a_local_path() -> Result {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.sock");
        let local = dir.path().join("client.sock");
        let listener = UnixListener::bind(&path)?;
        let client = UnixStreamClientOptions::new()
            .connect_timeout(WAIT)
            .local_path(&local)
            .connect(&path, protocol())?;
        let (mut server, peer) = listener.accept()?;
        assert_eq!(peer.as_pathname(), Some(local.as_path()));
        assert_eq!(client.local_addr()?.as_pathname(), Some(local.as_path()));
        assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
        server.write_all(b"[\"hi\"]\n")?;
        assert_eq!(client.recv_packet_within(WAIT)?, json!(["hi"]));
        client.send_packet(&json!("back"))?;
        server.set_read_timeout(Some(WAIT))?;
        assert_eq!(read_line(&mut BufReader::new(&server))?, "\"back\"\n");
        Ok(())
    }

    #[test]
    fn connect_to_an_abstract_name() -> Result {
        let name = format!("packetwire-test-sclient-{}", std::process::id());
        let addr = UnixSocketAddress::from_abstract_name(&name)?;
        let listener = packetwire::unix::bind_listener(&addr, 4)?;
        let client = UnixStreamClient::connect_addr(&addr, protocol())?;
        let by_text = UnixStreamClient::connect(format!("@{name}"), protocol())?;
        let (mut server, _) = listener.accept()?;
        let (_second, _) = listener.accept()?;
        assert_eq!(client.peer_addr()?, addr);
        assert_eq!(by_text.peer_addr()?, addr);
        server.write_all(b"7\n")?;
        assert_eq!(client.recv_packet_within(WAIT)?, json!(7));
        Ok(())
    }

    #[test]
    fn refused_and_missing_sockets() -> Result {
        let dir = tempfile::tempdir()?;
        assert!(matches!(
            UnixStreamClient::connect(dir.path().join("none.sock"), protocol()),
            Err(ClientConnectError::Connect(_))
        ));
        // A datagram socket dressed as a stream.
        let dgram = std::os::unix::net::UnixDatagram::unbound()?;
        let wrong = UnixStream::from(std::os::fd::OwnedFd::from(dgram));
        assert!(matches!(
            UnixStreamClient::from_std(wrong, protocol()),
            Err(ClientConnectError::Adopt(_))
        ));
        Ok(())
    }

    #[test]
    fn peer_credentials_are_ours() -> Result {
        let (client, _server) = unix_pair()?;
        let creds = client.peer_credentials()?;
        assert_eq!(creds, Credentials::current());
        Ok(())
    }

    #[test]
    fn fds_and_credentials_travel_with_a_packet() -> Result {
        let (a, b) = UnixStream::pair()?;
        let sender = UnixStreamClient::from_std(a, protocol())?;
        let receiver = UnixStreamClient::from_std(b, protocol())?;
        receiver.set_passcred(true)?;

        let (pipe_r, pipe_w) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&pipe_w).add_creds(Credentials::current());
        // A plain packet first, received with a plain read. (Had the descriptors been sent
        // before it was read, one read would have taken both messages' bytes, and a plain
        // read makes the kernel close the descriptors.)
        sender.send_packet(&json!("before"))?;
        assert_eq!(receiver.recv_packet_within(WAIT)?, json!("before"));
        sender.send_packet_with_ancillary(&json!({"here": "a pipe"}), &out)?;

        let mut anc = SocketAncillary::new();
        let packet = receiver.recv_packet_with_ancillary_within(&mut anc, WAIT)?;
        assert_eq!(packet, json!({"here": "a pipe"}));
        assert_eq!(anc.credentials().next(), Some(Credentials::current()));
        let fds = anc.take_fds();
        assert_eq!(fds.len(), 1);
        // The received descriptor is the pipe's write end.
        std::fs::File::from(fds.into_iter().next().unwrap()).write_all(b"through")?;
        drop(pipe_w);
        let mut text = String::new();
        std::fs::File::from(pipe_r).read_to_string(&mut text)?;
        assert_eq!(text, "through");
        Ok(())
    }

    #[test]
    fn close_wakes_a_blocked_receive_and_peer_close_ends_the_stream() -> Result {
        let (client, server) = unix_pair()?;
        thread::scope(|scope| {
            let blocked = scope.spawn(|| client.recv_packet());
            thread::sleep(Duration::from_millis(50));
            client.close();
            assert!(matches!(
                blocked.join().unwrap(),
                Err(RecvPacketError::Closed)
            ));
        });
        drop(server);

        let (client, server) = unix_pair()?;
        (&server).write_all(b"1\n{bad\n2\n")?;
        server.shutdown(Shutdown::Write)?;
        assert_eq!(client.recv_packet_within(WAIT)?, json!(1));
        assert!(matches!(
            client.recv_packet_within(WAIT),
            Err(RecvPacketError::Parse(_))
        ));
        assert_eq!(client.recv_packet_within(WAIT)?, json!(2));
        assert!(matches!(
            client.recv_packet_within(WAIT),
            Err(RecvPacketError::EndOfStream)
        ));
        client.send_packet(&json!("still sending"))?;
        assert_eq!(
            read_line(&mut BufReader::new(&server))?,
            "\"still sending\"\n"
        );
        // `for packet in &client` stops at the end of the stream.
        assert_eq!((&client).into_iter().count(), 0);
        Ok(())
    }

    #[test]
    fn concurrent_senders_on_a_unix_stream() -> Result {
        let (client, server) = unix_pair()?;
        let reader = thread::spawn(move || -> Result<usize> {
            let mut count = 0;
            for line in BufReader::new(server).lines() {
                let packet: Value = serde_json::from_str(&line?)?;
                assert_eq!(packet["pad"].as_str().unwrap().len(), 5000);
                count += 1;
            }
            Ok(count)
        });
        let pad = "p".repeat(5000);
        thread::scope(|scope| {
            for t in 0..4 {
                let (client, pad) = (&client, &pad);
                scope.spawn(move || {
                    for i in 0..100 {
                        client
                            .send_packet(&json!({"t": t, "i": i, "pad": pad}))
                            .unwrap();
                    }
                });
            }
        });
        client.send_eof()?;
        assert_eq!(reader.join().unwrap()?, 400);
        Ok(())
    }
}
