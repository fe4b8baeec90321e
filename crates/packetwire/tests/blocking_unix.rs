//! Blocking Unix streams: paths, abstract names, pairs, adoption, and on Linux descriptor
//! passing and peer credentials.

mod blocking_support;

use std::io::{BufRead, Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use blocking_support::{bounded_tests, join, payload, unique_name};
use packetwire::blocking::{
    socketpair, AdoptError, ConnectError, ReceiveError, SendError, UnixConnectOptions,
    UnixListener, UnixStream,
};

bounded_tests! {
    fn connect_by_path() {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path)?;
        let mut client = UnixStream::connect(&path)?;
        let (mut server, peer) = listener.accept()?;
        assert_eq!(peer.as_pathname(), None); // the client did not bind
        assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
        assert_eq!(server.local_addr()?.as_pathname(), Some(path.as_path()));
        client.send_all(b"over a path\n")?;
        assert_eq!(server.receive_line()?, "over a path\n");
        Ok(())
    }

    fn connect_by_abstract_name() {
        let name = unique_name("abstract");
        let listener = UnixListener::bind(&name)?;
        assert_eq!(
            listener.local_addr().as_abstract_name(),
            Some(&name.as_bytes()[1..])
        );
        let mut client = UnixConnectOptions::new()
            .timeout(Duration::from_secs(5))
            .connect(&name)?;
        let (mut server, _) = listener.accept()?;
        assert_eq!(client.peer_addr()?.as_abstract_name(), Some(&name.as_bytes()[1..]));
        server.send_all(b"hidden")?;
        assert_eq!(client.receive_exactly(6)?, "hidden");
        // Also by standard address.
        let again = UnixConnectOptions::new().connect_addr(listener.local_addr())?;
        let (_, _) = listener.accept()?;
        drop(again);
        Ok(())
    }

    fn connect_with_a_local_path() {
        let server_name = unique_name("server");
        let client_name = unique_name("client");
        let listener = UnixListener::bind(&server_name)?;
        let client = UnixConnectOptions::new().local_path(&client_name).connect(&server_name)?;
        let (_server, peer) = listener.accept()?;
        assert_eq!(peer.as_abstract_name(), Some(&client_name.as_bytes()[1..]));
        assert_eq!(client.local_addr()?.as_abstract_name(), Some(&client_name.as_bytes()[1..]));
        Ok(())
    }

    fn connect_to_nothing_fails() {
        let error = UnixStream::connect(unique_name("absent")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        let dir = tempfile::tempdir()?;
        let error = UnixStream::connect(dir.path().join("missing")).unwrap_err();
        assert!(matches!(error, ConnectError::Io(_)), "{error:?}");
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        Ok(())
    }

    fn connect_times_out_on_a_full_backlog_then_gets_through() {
        use socket2::{Domain, Socket, Type};
        let name = unique_name("backlog");
        let raw = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        raw.bind(&socket2::SockAddr::unix(format!("\0{}", &name[1..]))?)?;
        raw.listen(0)?;
        let options = UnixConnectOptions::new().timeout(Duration::from_millis(150));
        let mut held = Vec::new();
        let mut timed_out = false;
        for _ in 0..64 {
            let started = Instant::now();
            match options.connect(&name) {
                Ok(stream) => held.push(stream),
                Err(ConnectError::TimedOut) => {
                    assert!(started.elapsed() >= Duration::from_millis(140));
                    timed_out = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        assert!(timed_out, "the backlog never filled up");
        // Once the listener accepts, a waiting connect gets through.
        let waiting = held.len() + 1;
        let accepting = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            raw.set_nonblocking(true).unwrap();
            let mut accepted = Vec::new();
            let until = Instant::now() + Duration::from_secs(5);
            while accepted.len() < waiting && Instant::now() < until {
                match raw.accept() {
                    Ok(conn) => accepted.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            accepted
        });
        let connected = UnixConnectOptions::new().timeout(Duration::from_secs(5)).connect(&name);
        connected?;
        join(accepting);
        Ok(())
    }

    fn socketpair_half_close_and_large_payload() {
        let (mut a, mut b) = socketpair()?;
        let data = payload(2 * 1024 * 1024);
        let expected = data.clone();
        let sender = std::thread::spawn(move || -> Result<UnixStream, SendError> {
            a.send_all(&data)?;
            a.send_eof()?;
            Ok(a)
        });
        let got = b.receive_exactly(expected.len())?;
        assert!(got == expected, "payload corrupted");
        assert!(matches!(b.receive(1), Err(ReceiveError::EndOfStream)));
        let mut a = join(sender)?;
        // The other direction still works after the half-close.
        b.send_all(b"still open")?;
        assert_eq!(a.receive_exactly(10)?, "still open");
        Ok(())
    }

    fn receive_until_over_the_limit() {
        let (mut a, mut b) = socketpair()?;
        b.set_limit(8);
        a.send_all(b"0123456789;rest")?;
        match b.receive_until(b";") {
            Err(ReceiveError::LimitOverrun { consumed: 10, limit: 8 }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(b.buffered(), b"0123456789;rest");
        assert_eq!(b.receive_exactly(4)?, "0123");
        assert_eq!(b.receive_until(b";")?, "456789;");
        Ok(())
    }

    fn std_read_and_bufread() {
        let (mut a, mut b) = socketpair()?;
        a.write_all(b"one\ntwo\nthree")?;
        drop(a);
        let lines: Vec<String> = (&mut b).lines().collect::<Result<_, _>>()?;
        assert_eq!(lines, ["one", "two", "three"]);
        let mut rest = Vec::new();
        assert_eq!(b.read_to_end(&mut rest)?, 0);
        assert!(b.at_eof());
        Ok(())
    }

    fn split_halves_across_threads() {
        let (a, mut b) = socketpair()?;
        let (mut rx, mut tx) = a.into_split();
        let receiver = std::thread::spawn(move || rx.receive_exactly(6));
        std::thread::sleep(Duration::from_millis(20));
        tx.send_all(b"ping")?;
        assert_eq!(b.receive_exactly(4)?, "ping");
        b.send_all(b"pong!!")?;
        assert_eq!(join(receiver)?, "pong!!");
        Ok(())
    }

    fn adopt_checks_the_socket() {
        use socket2::{Domain, Socket, Type};
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        let mut a = UnixStream::from_std(a)?;
        let mut b = UnixStream::from_std(b)?;
        a.send_all(b"x")?;
        assert_eq!(b.receive(1)?, "x");

        let dgram: OwnedFd = Socket::new(Domain::UNIX, Type::DGRAM, None)?.into();
        match UnixStream::from_std(dgram.into()) {
            Err(AdoptError::WrongType { found, .. }) => assert_eq!(found, "SOCK_DGRAM"),
            other => panic!("unexpected {other:?}"),
        }
        let tcp: OwnedFd = Socket::new(Domain::IPV4, Type::STREAM, None)?.into();
        match UnixStream::from_std(tcp.into()) {
            Err(AdoptError::WrongFamily { found, .. }) => assert_eq!(found, "AF_INET"),
            other => panic!("unexpected {other:?}"),
        }
        let fresh: OwnedFd = Socket::new(Domain::UNIX, Type::STREAM, None)?.into();
        assert!(matches!(UnixStream::from_std(fresh.into()), Err(AdoptError::NotConnected)));
        Ok(())
    }

    fn peer_credentials() {
        let (a, b) = socketpair()?;
        let me = packetwire::unix::Credentials::current();
        assert_eq!(a.peer_credentials()?, me);
        assert_eq!(b.peer_credentials()?, me);
        let name = unique_name("creds");
        let listener = UnixListener::bind(&name)?;
        let client = UnixStream::connect(&name)?;
        let (server, _) = listener.accept()?;
        assert_eq!(client.peer_credentials()?, me);
        assert_eq!(server.peer_credentials()?, me);
        assert!(server.socket_options().recv_buffer_size()? > 0);
        Ok(())
    }

    fn fd_passing_over_ancillary_data() {
        use packetwire::unix::SocketAncillary;
        let (mut a, mut b) = socketpair()?;
        let (reader, writer) = packetwire::os::pipe()?;

        // Across threads, with a payload larger than one sendmsg can take.
        let big = payload(1024 * 1024);
        let expected = big.clone();
        let sender = std::thread::spawn(move || -> Result<UnixStream, SendError> {
            let mut out = SocketAncillary::new();
            out.add_fd(&writer);
            a.send_all_with_ancillary(&big, &out)?;
            Ok(a)
        });
        let mut received = SocketAncillary::new();
        let first = b.receive_with_ancillary(expected.len(), &mut received)?;
        let fds = received.take_fds();
        assert_eq!(fds.len(), 1, "the descriptor comes with the first bytes");
        let rest = b.receive_exactly(expected.len() - first.len())?;
        assert!([&first[..], &rest[..]].concat() == expected, "payload corrupted");
        let mut a = join(sender)?;

        // The received descriptor is the pipe's write end.
        let [fd] = <[OwnedFd; 1]>::try_from(fds).unwrap();
        std::fs::File::from(fd).write_all(b"through the pipe")?;
        let mut text = String::new();
        std::fs::File::from(reader).read_to_string(&mut text)?;
        assert_eq!(text, "through the pipe");

        // The receive buffer comes first: buffered bytes are returned without ancillary data.
        let (_r, w) = packetwire::os::pipe()?;
        a.send_all(b"hello")?;
        assert_eq!(b.receive_exactly(2)?, "he");
        let mut out = SocketAncillary::new();
        out.add_fd(&w);
        a.send_all_with_ancillary(b"X", &out)?;
        let mut received = SocketAncillary::new();
        assert_eq!(b.receive_with_ancillary(64, &mut received)?, "llo");
        assert!(received.is_received_empty());
        assert_eq!(b.receive_with_ancillary(64, &mut received)?, "X");
        assert_eq!(received.fds().count(), 1);

        // Timeout and end of stream.
        b.set_receive_timeout(Some(Duration::from_millis(20)));
        assert!(matches!(
            b.receive_with_ancillary(64, &mut received),
            Err(ReceiveError::TimedOut)
        ));
        drop(a);
        assert!(matches!(
            b.receive_with_ancillary(64, &mut received),
            Err(ReceiveError::EndOfStream)
        ));
        Ok(())
    }
}
