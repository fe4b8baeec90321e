//! The blocking accept loop backs off and retries when the process runs out of descriptors
//! (EMFILE), and its timeout still holds meanwhile.
//!
//! This binary lowers its own descriptor limit, so it holds a single test.

use std::fs::File;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use packetwire::blocking::TcpListener;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(64, |d| d.count() as u64)
}

/// Uses up every descriptor the (lowered) limit allows; returns them.
fn exhaust_descriptors() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) => {
                return held
            }
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(held.len() < 10_000, "the descriptor limit was not lowered");
    }
}

fn body() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1", 0)?;
    let port = listener.local_addrs()[0].port();
    // The handshake completes in the kernel: the connection waits in the backlog.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port))?;

    let saved = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(open_descriptors() + 16),
            maximum: saved.maximum,
        },
    )?;
    let held = exhaust_descriptors();

    // Out of descriptors for good: the timeout ends the back-off.
    let started = Instant::now();
    let timed_out = listener.accept_within(Some(Duration::from_millis(150)));
    let waited = started.elapsed();

    // Give the descriptors back after a while, from another thread.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    let started = Instant::now();
    let accepted = listener.accept_within(Some(Duration::from_secs(10)));
    let recovered_after = started.elapsed();
    releaser.join().unwrap();
    setrlimit(Resource::Nofile, saved)?;

    assert_eq!(timed_out.unwrap_err().kind(), io::ErrorKind::TimedOut);
    assert!(waited >= Duration::from_millis(140), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    let (mut server, _) = accepted?;
    assert!(
        recovered_after >= Duration::from_millis(250),
        "accepted after {recovered_after:?}"
    );
    client.write_all(b"after EMFILE\n")?;
    assert_eq!(server.receive_line().unwrap(), "after EMFILE\n");
    Ok(())
}

#[test]
fn accept_backs_off_on_emfile_then_succeeds() {
    let (sender, receiver) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let result = body();
        let _ = sender.send(());
        result
    });
    match receiver.recv_timeout(Duration::from_secs(30)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            worker.join().unwrap().unwrap()
        }
        Err(_) => panic!("timed out"),
    }
}
