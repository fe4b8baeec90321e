//! Blocking `serve(callback)`: a thread per connection, graceful shutdown with a grace
//! period, abort, the stopper, and cleanup of the Unix socket file.

mod blocking_support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use blocking_support::{bounded_tests, join};
use packetwire::blocking::{ReceiveError, TcpListener, TcpStream, UnixListener, UnixStream};

fn echo_lines(mut stream: impl EchoStream) {
    while let Ok(line) = stream.line() {
        if stream.send(&line).is_err() {
            break;
        }
    }
}

trait EchoStream {
    fn line(&mut self) -> Result<bytes::Bytes, ReceiveError>;
    fn send(&mut self, data: &[u8]) -> std::io::Result<()>;
}

impl EchoStream for TcpStream {
    fn line(&mut self) -> Result<bytes::Bytes, ReceiveError> {
        self.receive_line()
    }
    fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        Ok(self.send_all(data)?)
    }
}

impl EchoStream for UnixStream {
    fn line(&mut self) -> Result<bytes::Bytes, ReceiveError> {
        self.receive_line()
    }
    fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        Ok(self.send_all(data)?)
    }
}

bounded_tests! {
    fn tcp_echo_with_many_clients_then_graceful_shutdown() {
        let server = TcpListener::bind("127.0.0.1", 0)?.serve(echo_lines)?;
        assert!(server.is_serving());
        assert_eq!(server.sockets().len(), 1);
        let port = server.local_addrs()[0].port();
        let clients: Vec<_> = (0..20)
            .map(|i| {
                std::thread::spawn(move || -> std::io::Result<()> {
                    let mut client = TcpStream::connect("127.0.0.1", port)?;
                    for j in 0..10 {
                        let line = format!("client {i} line {j}\n");
                        client.write_all(line.as_bytes())?;
                        assert_eq!(client.receive_line()?, line.as_bytes());
                    }
                    client.send_eof()?;
                    Ok(())
                })
            })
            .collect();
        for client in clients {
            join(client)?;
        }
        let outcome = server.shutdown(Duration::from_secs(5));
        // The handlers end as their clients do: none is left to abort.
        assert_eq!(outcome.aborted, 0);
        Ok(())
    }

    fn shutdown_closes_the_listener_and_shuts_down_blocked_handlers() {
        let (entered, handler_in) = mpsc::channel();
        let (ended, handler_out) = mpsc::channel();
        let server = TcpListener::bind("127.0.0.1", 0)?.serve(move |mut stream| {
            let _ = entered.send(());
            // Blocks until the server shuts the socket down: the client never writes.
            let result = stream.receive(100);
            let _ = ended.send(result.is_err() || result.map(|b| b.is_empty()).unwrap_or(false));
        })?;
        let port = server.local_addrs()[0].port();
        let _client = TcpStream::connect("127.0.0.1", port)?;
        handler_in.recv_timeout(Duration::from_secs(5))?;
        assert_eq!(server.active_connections(), 1);

        let started = Instant::now();
        let outcome = server.shutdown(Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
        assert_eq!(outcome.aborted, 1);
        assert_eq!(outcome.finished, 0);
        assert!(handler_out.recv_timeout(Duration::from_secs(5))?, "the handler saw its socket shut down");
        // The listener is gone: connecting is refused.
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        Ok(())
    }

    fn a_handler_that_ends_within_the_grace_period_is_not_aborted() {
        let server = TcpListener::bind("127.0.0.1", 0)?.serve(|mut stream| {
            let _ = stream.receive_line();
            std::thread::sleep(Duration::from_millis(200));
            let _ = stream.send_all(b"late reply\n");
        })?;
        let port = server.local_addrs()[0].port();
        let mut client = TcpStream::connect("127.0.0.1", port)?;
        client.write_all(b"go\n")?;
        // Give the server time to read the request before the shutdown starts.
        std::thread::sleep(Duration::from_millis(50));
        let outcome = server.shutdown(Duration::from_secs(5));
        assert_eq!(outcome.aborted, 0);
        assert_eq!(outcome.finished, 1);
        assert_eq!(client.receive_line()?, "late reply\n");
        Ok(())
    }

    fn a_panicking_handler_ends_its_connection_only() {
        let server = TcpListener::bind("127.0.0.1", 0)?.serve(|mut stream| {
            let line = stream.receive_line().unwrap_or_default();
            if line.starts_with(b"panic") {
                panic!("handler panics on purpose");
            }
            let _ = stream.send_all(&line);
        })?;
        let port = server.local_addrs()[0].port();
        let mut bad = TcpStream::connect("127.0.0.1", port)?;
        bad.write_all(b"panic\n")?;
        assert!(matches!(bad.receive_line(), Err(ReceiveError::IncompleteRead { .. } | ReceiveError::Io(_))));
        let mut good = TcpStream::connect("127.0.0.1", port)?;
        good.write_all(b"fine\n")?;
        assert_eq!(good.receive_line()?, "fine\n");
        assert!(server.is_serving());
        server.abort();
        Ok(())
    }

    fn serve_forever_returns_when_stopped_from_another_thread() {
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let server = TcpListener::bind("127.0.0.1", 0)?.serve(move |_stream| {
            counter.fetch_add(1, Ordering::SeqCst);
        })?;
        let stopper = server.stopper()?;
        let port = server.local_addrs()[0].port();
        let stop = std::thread::spawn(move || {
            let _client = TcpStream::connect("127.0.0.1", port);
            std::thread::sleep(Duration::from_millis(100));
            stopper.stop();
        });
        server.serve_forever()?;
        join(stop);
        assert!(!server.is_serving());
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        let outcome = server.shutdown(Duration::from_secs(1));
        assert_eq!(outcome.aborted, 0);
        Ok(())
    }

    fn unix_server_echoes_and_removes_its_socket_file() {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("serve.sock");
        let mut server = UnixListener::bind(&path)?.serve(echo_lines)?;
        assert_eq!(server.local_addrs()[0].as_pathname(), Some(path.as_path()));
        let mut client = UnixStream::connect(&path)?;
        client.write_all(b"over unix\n")?;
        assert_eq!(client.receive_line()?, "over unix\n");
        server.close();
        assert!(!server.is_serving());
        assert!(server.sockets().is_empty());
        assert!(!path.exists(), "the socket file is removed on close");
        // The connection outlives the listener.
        client.write_all(b"still here\n")?;
        assert_eq!(client.receive_line()?, "still here\n");
        client.send_eof()?;
        let outcome = server.shutdown(Duration::from_secs(5));
        assert_eq!(outcome.aborted, 0);
        Ok(())
    }

    fn dropping_the_server_wakes_its_handlers() {
        let (ended, handler_out) = mpsc::channel();
        let server = TcpListener::bind("127.0.0.1", 0)?.serve(move |mut stream| {
            let _ = stream.receive(100);
            let _ = ended.send(());
        })?;
        let port = server.local_addrs()[0].port();
        let _client = TcpStream::connect("127.0.0.1", port)?;
        while server.active_connections() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(server);
        handler_out.recv_timeout(Duration::from_secs(5))?;
        Ok(())
    }
}
