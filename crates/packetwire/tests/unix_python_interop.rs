//! Descriptor and credential passing with a peer nobody here wrote: CPython's `socket` module
//! (`send_fds`, `recv_fds`, `sendmsg`/`recvmsg` with `SCM_CREDENTIALS`), driven by
//! `tests/support/fd_peer.py`. Skipped, with a notice, when `python3` is missing.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use packetwire::unix::{
    AncillaryMessage, Credentials, SocketAncillary, UnixDatagramExt, UnixStreamExt,
};

const DEADLINE: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fd_peer.py")
}

fn python_available() -> bool {
    let found = Command::new("python3")
        .arg("-c")
        .arg("import socket; socket.send_fds")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        println!("python3 (3.9+) not found: skipping the Python interop test");
    }
    found
}

fn spawn_peer(mode: &str, socket_path: &Path) -> Child {
    Command::new("python3")
        .arg(script())
        .arg(mode)
        .arg(socket_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3")
}

/// Waits for the child to exit successfully, killing it after the deadline.
fn finish(mut child: Child) {
    let start = Instant::now();
    loop {
        match child.try_wait().expect("wait for python3") {
            Some(_) => break,
            None if start.elapsed() > DEADLINE => {
                let _ = child.kill();
                break;
            }
            None => sleep(Duration::from_millis(20)),
        }
    }
    let output = child.wait_with_output().expect("collect python3 output");
    assert!(
        output.status.success(),
        "python peer failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Accepts one connection, giving up (and killing the child) after the deadline.
fn accept(listener: &UnixListener, child: &mut Child) -> UnixStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(IO_TIMEOUT).unwrap();
                stream.set_write_timeout(IO_TIMEOUT).unwrap();
                return stream;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("python peer exited before connecting: {status}");
                }
                if start.elapsed() > DEADLINE {
                    let _ = child.kill();
                    panic!("python peer did not connect in time");
                }
                sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn write_through(fd: std::os::fd::OwnedFd, data: &[u8]) {
    let mut file = std::fs::File::from(fd);
    file.write_all(data).unwrap();
}

#[test]
fn python_sends_a_pipe_over_a_stream_and_rust_writes_through_it() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut child = spawn_peer("stream-send", &path);
    let stream = accept(&listener, &mut child);

    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 64];
    let len = stream.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..len], b"from python");
    let fds = anc.take_fds();
    assert_eq!(fds.len(), 1);
    for fd in fds {
        write_through(fd, b"written by rust");
    }
    finish(child);
}

#[test]
fn python_sends_a_pipe_over_a_datagram_and_rust_writes_through_it() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.sock");
    let server = UnixDatagram::bind(&path).unwrap();
    server.set_read_timeout(IO_TIMEOUT).unwrap();
    let child = spawn_peer("dgram-send", &path);

    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 64];
    let meta = server.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..meta.len], b"from python");
    let mut fds = anc.take_fds();
    assert_eq!(fds.len(), 1);
    write_through(fds.remove(0), b"written by rust");
    finish(child);
}

#[test]
fn rust_sends_a_pipe_and_python_writes_through_it() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut child = spawn_peer("stream-recv", &path);
    let stream = accept(&listener, &mut child);

    let (reader, writer) = packetwire::os::pipe().unwrap();
    let mut out = SocketAncillary::new();
    out.add_fds(&[writer.as_fd()]);
    stream.send_all_with_ancillary(b"from rust", &out).unwrap();
    drop(out);
    drop(writer);

    let mut text = Vec::new();
    std::fs::File::from(reader).read_to_end(&mut text).unwrap();
    assert_eq!(text, b"written by python");
    finish(child);
}

#[test]
fn python_sends_credentials_and_rust_reads_them() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // Accepted sockets inherit SO_PASSCRED from the listener.
    packetwire::os::set_passcred(listener.as_fd(), true).unwrap();
    let mut child = spawn_peer("creds-send", &path);
    let child_pid = child.id() as i32;
    let stream = accept(&listener, &mut child);

    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 64];
    let len = stream.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..len], b"creds");
    let me = Credentials::current();
    let creds: Vec<Credentials> = anc.credentials().collect();
    assert_eq!(creds, vec![Credentials::new(child_pid, me.uid, me.gid)]);
    assert!(anc
        .messages()
        .all(|m| matches!(m, AncillaryMessage::Credentials(_))));
    (&stream).write_all(b"k").unwrap();
    finish(child);
}

#[test]
fn rust_sends_credentials_and_python_reads_them() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut child = spawn_peer("creds-recv", &path);
    let mut stream = accept(&listener, &mut child);

    let mut ready = [0u8; 1];
    stream.read_exact(&mut ready).unwrap();
    let me = Credentials::current();
    let mut out = SocketAncillary::new();
    out.add_creds(Credentials::new(0, me.uid, me.gid));
    stream.send_all_with_ancillary(b"creds", &out).unwrap();
    finish(child);
}
