//! The accept loop backs off and retries when the process runs out of descriptors (EMFILE).
//!
//! This binary lowers its own descriptor limit, so it holds a single test that runs the same
//! body on each runtime one after the other.
#![cfg(any(feature = "tokio", feature = "smol"))]

use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

use packetwire::net::TcpListener;
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

async fn body() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
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
    // Give the descriptors back after a while, from another thread.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });

    let started = Instant::now();
    let accepted = listener.accept().await;
    let waited = started.elapsed();
    setrlimit(Resource::Nofile, saved)?;
    releaser.join().unwrap();

    let (mut server, _) = accepted?;
    assert!(
        waited >= Duration::from_millis(250),
        "accepted after {waited:?}"
    );
    use std::io::Write;
    client.write_all(b"after EMFILE\n")?;
    assert_eq!(server.receive_line().await.unwrap(), "after EMFILE\n");
    Ok(())
}

#[test]
fn accept_backs_off_on_emfile_then_succeeds() {
    #[cfg(feature = "tokio")]
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            packetwire::runtime::timeout(
                &*packetwire::runtime::current().unwrap(),
                Duration::from_secs(20),
                body(),
            )
            .await
            .expect("timed out")
            .unwrap()
        });
    #[cfg(feature = "smol")]
    smol::block_on(async {
        packetwire::runtime::timeout(
            &*packetwire::runtime::current().unwrap(),
            Duration::from_secs(20),
            body(),
        )
        .await
        .expect("timed out")
        .unwrap()
    });
}
