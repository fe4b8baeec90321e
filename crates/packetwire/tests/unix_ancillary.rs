//! Descriptor and credential passing over real Unix sockets (socketpairs and sockets in
//! temporary directories), truncation errors, and descriptor leaks.
//!
//! Every test holds `FD_LOCK`, so that the tests counting this process's open descriptors do
//! not see the descriptors of the others.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use packetwire::os::{self, RecvError};
use packetwire::unix::{
    AncillaryMessage, Credentials, SocketAncillary, UnixDatagramExt, UnixSocketAddress,
    UnixStreamExt,
};

static FD_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    FD_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

fn stream_pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(TIMEOUT).unwrap();
        s.set_write_timeout(TIMEOUT).unwrap();
    }
    (a, b)
}

fn dgram_pair() -> (UnixDatagram, UnixDatagram) {
    let (a, b) = UnixDatagram::pair().unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(TIMEOUT).unwrap();
        s.set_write_timeout(TIMEOUT).unwrap();
    }
    (a, b)
}

fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Writes through a received descriptor and closes it.
fn write_through(fd: OwnedFd, data: &[u8]) {
    File::from(fd).write_all(data).unwrap();
}

/// Reads a pipe's read end to EOF.
fn read_pipe(fd: OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    File::from(fd).read_to_end(&mut out).unwrap();
    out
}

/// The uid and gid of this process, from `/proc/self/status` (not from packetwire).
fn proc_ids() -> (u32, u32) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u32 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("Uid:"), field("Gid:"))
}

#[test]
fn pipe_write_end_over_a_stream_socketpair() {
    let _guard = lock();
    let (a, b) = stream_pair();
    let (reader, writer) = os::pipe().unwrap();
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    a.send_all_with_ancillary(b"a pipe for you", &out).unwrap();
    drop(out);
    drop(writer);

    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 64];
    let len = b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..len], b"a pipe for you");
    let fds = anc.take_fds();
    assert_eq!(fds.len(), 1);
    for fd in fds {
        write_through(fd, b"through the stream");
    }
    assert_eq!(read_pipe(reader), b"through the stream");
}

#[test]
fn pipe_write_end_over_a_datagram_socketpair() {
    let _guard = lock();
    let (a, b) = dgram_pair();
    let (reader, writer) = os::pipe().unwrap();
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    assert_eq!(
        a.send_with_ancillary(&[IoSlice::new(b"dgram")], &out)
            .unwrap(),
        5
    );
    drop(out);
    drop(writer);

    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 64];
    let meta = b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..meta.len], b"dgram");
    assert_eq!(meta.address, UnixSocketAddress::Unnamed);
    let messages = anc.take_messages();
    assert_eq!(messages.len(), 1);
    for message in messages {
        match message {
            AncillaryMessage::Rights(rights) => {
                assert_eq!(rights.len(), 1);
                for fd in rights {
                    write_through(fd, b"through the datagram");
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(read_pipe(reader), b"through the datagram");
}

#[test]
fn several_descriptors_in_one_message_keep_their_order() {
    let _guard = lock();
    let (a, b) = stream_pair();
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..3).map(|_| os::pipe().unwrap()).collect();
    let extra = os::pipe().unwrap();
    let mut out = SocketAncillary::new();
    let writers: Vec<_> = pipes.iter().map(|(_, w)| w.as_fd()).collect();
    out.add_fds(&writers).add_fd(&extra.1);
    a.send_all_with_ancillary(b"four", &out).unwrap();
    drop(out);
    drop(writers);

    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 8];
    assert_eq!(b.recv_with_ancillary(&mut buf, &mut anc).unwrap(), 4);
    assert_eq!(anc.fds().count(), 4);
    let fds = anc.take_fds();
    assert!(anc.is_received_empty());

    let mut readers = Vec::new();
    for (i, ((reader, writer), fd)) in pipes.into_iter().chain([extra]).zip(fds).enumerate() {
        drop(writer);
        write_through(fd, format!("pipe {i}").as_bytes());
        readers.push(reader);
    }
    for (i, reader) in readers.into_iter().enumerate() {
        assert_eq!(read_pipe(reader), format!("pipe {i}").into_bytes());
    }
}

#[test]
fn descriptors_and_credentials_together() {
    let _guard = lock();
    for datagram in [false, true] {
        let (reader, writer) = os::pipe().unwrap();
        let (uid, gid) = proc_ids();
        let mut out = SocketAncillary::new();
        out.add_fd(&writer).add_creds(Credentials::new(0, uid, gid));
        let mut anc = SocketAncillary::new();
        let mut buf = [0u8; 16];
        let len = if datagram {
            let (a, b) = dgram_pair();
            b.set_passcred(true).unwrap();
            a.send_with_ancillary(&[IoSlice::new(b"both")], &out)
                .unwrap();
            b.recv_with_ancillary(&mut buf, &mut anc).unwrap().len
        } else {
            let (a, b) = stream_pair();
            b.set_passcred(true).unwrap();
            a.send_all_with_ancillary(b"both", &out).unwrap();
            b.recv_with_ancillary(&mut buf, &mut anc).unwrap()
        };
        drop(out);
        drop(writer);
        assert_eq!(&buf[..len], b"both");
        let expected = Credentials::new(std::process::id() as i32, uid, gid);
        assert_eq!(anc.credentials().collect::<Vec<_>>(), vec![expected]);
        for fd in anc.take_fds() {
            write_through(fd, b"ok");
        }
        // The credentials stay after the descriptors are taken.
        assert_eq!(anc.credentials().count(), 1);
        assert_eq!(read_pipe(reader), b"ok");
    }
}

#[test]
fn credentials_are_attached_by_the_kernel_with_passcred_and_absent_without() {
    let _guard = lock();
    let (uid, gid) = proc_ids();
    let me = Credentials::new(std::process::id() as i32, uid, gid);
    assert_eq!(Credentials::current(), me);

    let (a, b) = dgram_pair();
    let mut buf = [0u8; 8];

    // Without SO_PASSCRED nothing arrives, even when the sender adds credentials.
    let mut out = SocketAncillary::new();
    out.add_creds(Credentials::new(0, uid, gid));
    a.send_with_ancillary(&[IoSlice::new(b"x")], &out).unwrap();
    let mut anc = SocketAncillary::new();
    b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert!(anc.is_received_empty());

    // With it, the kernel adds the sender's credentials to every message.
    b.set_passcred(true).unwrap();
    assert!(os::passcred(b.as_fd()).unwrap());
    a.send(b"y").unwrap();
    let meta = b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..meta.len], b"y");
    assert_eq!(anc.credentials().collect::<Vec<_>>(), vec![me]);
}

#[test]
fn sending_someone_elses_pid_is_refused_by_the_kernel() {
    let _guard = lock();
    let (uid, gid) = proc_ids();
    if uid == 0 {
        println!("running as root, which may claim any pid: nothing to check");
        return;
    }
    let (a, _b) = dgram_pair();
    let mut out = SocketAncillary::new();
    out.add_creds(Credentials::new(1, uid, gid));
    let error = a
        .send_with_ancillary(&[IoSlice::new(b"x")], &out)
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
}

#[test]
fn peer_credentials_of_connected_sockets() {
    let _guard = lock();
    let (uid, gid) = proc_ids();
    let me = Credentials::new(std::process::id() as i32, uid, gid);

    let (a, b) = stream_pair();
    assert_eq!(a.peer_credentials().unwrap(), me);
    assert_eq!(b.peer_credentials().unwrap(), me);
    assert_eq!(a.peer_credentials().unwrap(), a.peer_credentials().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("creds.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let client = UnixStream::connect(&path).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    assert_eq!(client.peer_credentials().unwrap(), me);
    assert_eq!(server_side.peer_credentials().unwrap(), me);

    // Not connected: a clear error, not garbage.
    let lonely = os::unix_socket(packetwire::sockopt::SocketKind::Stream).unwrap();
    let error = os::peer_credentials(lonely.as_fd()).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotConnected);
}

#[test]
fn control_truncation_is_an_error_and_closes_every_descriptor() {
    let _guard = lock();
    let (_reader, writer) = os::pipe().unwrap();
    for datagram in [false, true] {
        for capacity in [0, SocketAncillary::space_for_fds(1)] {
            let (a, b) = stream_pair();
            let (c, d) = dgram_pair();
            let before = open_fd_count();

            let ten = vec![writer.as_fd(); 10];
            let mut out = SocketAncillary::new();
            out.add_fds(&ten);
            let mut anc = SocketAncillary::with_recv_capacity(capacity);
            let mut buf = [0u8; 16];
            let result = if datagram {
                c.send_with_ancillary(&[IoSlice::new(b"ten fds")], &out)
                    .unwrap();
                d.recv_with_ancillary(&mut buf, &mut anc)
                    .map(|meta| meta.len)
            } else {
                a.send_all_with_ancillary(b"ten fds", &out).unwrap();
                b.recv_with_ancillary(&mut buf, &mut anc)
            };
            match result {
                Err(RecvError::ControlTruncated {
                    capacity: reported,
                    fds_closed,
                }) => {
                    assert_eq!(reported, capacity);
                    assert!(fds_closed < 10, "{fds_closed}");
                    if capacity > 0 {
                        assert!(fds_closed >= 1, "{fds_closed}");
                    }
                }
                other => panic!("expected ControlTruncated, got {other:?}"),
            }
            assert!(anc.is_received_empty());
            assert_eq!(
                open_fd_count(),
                before,
                "descriptors leaked (datagram: {datagram})"
            );

            // The error converts to io::Error and back.
            let error = io::Error::from(RecvError::ControlTruncated {
                capacity,
                fds_closed: 1,
            });
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert!(error.to_string().contains("control buffer"));

            // The socket goes on working.
            let mut anc = SocketAncillary::new();
            if datagram {
                c.send(b"next").unwrap();
                assert_eq!(d.recv_with_ancillary(&mut buf, &mut anc).unwrap().len, 4);
            } else {
                (&a).write_all(b"next").unwrap();
                assert_eq!(b.recv_with_ancillary(&mut buf, &mut anc).unwrap(), 4);
            }
            assert_eq!(&buf[..4], b"next");
        }
    }
}

#[test]
fn received_descriptors_are_closed_on_drop_and_close_on_exec() {
    let _guard = lock();
    let (a, b) = dgram_pair();
    let (_reader, writer) = os::pipe().unwrap();
    let before = open_fd_count();
    let five = vec![writer.as_fd(); 5];
    let mut out = SocketAncillary::new();
    out.add_fds(&five);
    a.send_with_ancillary(&[IoSlice::new(b"5")], &out).unwrap();
    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 4];
    b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(open_fd_count(), before + 5);
    for fd in anc.fds() {
        let flags = rustix::io::fcntl_getfd(fd).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }
    drop(anc);
    assert_eq!(open_fd_count(), before);

    // clear_received closes too.
    a.send_with_ancillary(&[IoSlice::new(b"5")], &out).unwrap();
    let mut anc = SocketAncillary::new();
    b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(open_fd_count(), before + 5);
    anc.clear_received();
    assert_eq!(open_fd_count(), before);

    // Messages received one after the other accumulate.
    a.send_with_ancillary(&[IoSlice::new(b"5")], &out).unwrap();
    a.send_with_ancillary(&[IoSlice::new(b"5")], &out).unwrap();
    b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(anc.messages().count(), 2);
    assert_eq!(anc.take_fds().len(), 10);
}

#[test]
fn datagram_larger_than_the_buffer_is_an_error_not_a_truncation() {
    let _guard = lock();
    let (a, b) = dgram_pair();
    let (_reader, writer) = os::pipe().unwrap();
    let mut buf = [0u8; 8];

    // With ancillary data: error, and the descriptors that came along are closed.
    let before = open_fd_count();
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    a.send_with_ancillary(&[IoSlice::new(b"nine byte")], &out)
        .unwrap();
    let mut anc = SocketAncillary::new();
    let error = b.recv_with_ancillary(&mut buf, &mut anc).unwrap_err();
    assert!(
        matches!(error, RecvError::DatagramTruncated { buffer_len: 8 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("datagram larger than"));
    assert!(anc.is_received_empty());
    assert_eq!(open_fd_count(), before);

    // Without: every datagram receive reports it.
    a.send(b"nine byte").unwrap();
    assert!(matches!(
        b.recv_datagram(&mut buf),
        Err(RecvError::DatagramTruncated { .. })
    ));
    a.send(b"nine byte").unwrap();
    assert!(matches!(
        b.recv_from_address(&mut buf),
        Err(RecvError::DatagramTruncated { .. })
    ));

    // Exactly the buffer's size is fine.
    a.send(b"8 bytes!").unwrap();
    assert_eq!(b.recv_datagram(&mut buf).unwrap(), 8);

    // UDP too.
    let udp_a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp_b.set_read_timeout(TIMEOUT).unwrap();
    os::send_to(udp_a.as_fd(), &[7u8; 100], udp_b.local_addr().unwrap()).unwrap();
    let error = os::recv_from(udp_b.as_fd(), &mut buf).unwrap_err();
    assert!(matches!(
        error,
        RecvError::DatagramTruncated { buffer_len: 8 }
    ));
    assert_eq!(io::Error::from(error).kind(), io::ErrorKind::InvalidData);
}

#[test]
fn ancillary_data_needs_a_byte_on_streams_but_not_on_datagrams() {
    let _guard = lock();
    let (_reader, writer) = os::pipe().unwrap();
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);

    let (a, _b) = stream_pair();
    let error = a.send_with_ancillary(&[], &out).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        a.send_all_with_ancillary(b"", &out).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );

    let (c, d) = dgram_pair();
    assert_eq!(c.send_with_ancillary(&[], &out).unwrap(), 0);
    let mut anc = SocketAncillary::new();
    let meta = d.recv_with_ancillary(&mut [0u8; 4], &mut anc).unwrap();
    assert_eq!(meta.len, 0);
    assert_eq!(anc.take_fds().len(), 1);
}

#[test]
fn stream_descriptors_arrive_with_the_first_byte_of_their_message() {
    let _guard = lock();
    let (a, b) = stream_pair();
    let (_reader, writer) = os::pipe().unwrap();
    (&a).write_all(b"plain ").unwrap();
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    a.send_all_with_ancillary(b"with fd", &out).unwrap();
    a.send_all_with_ancillary(b"second", &out).unwrap();

    // A read may begin with plain bytes, and ends after the message that carried descriptors.
    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 64];
    let len = b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..len], b"plain with fd");
    assert_eq!(anc.take_fds().len(), 1);
    // The descriptors come with the first byte of their message, even in a short read.
    let len = b.recv_with_ancillary(&mut buf[..3], &mut anc).unwrap();
    assert_eq!(&buf[..len], b"sec");
    assert_eq!(anc.take_fds().len(), 1);
    let len = b.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..len], b"ond");
    assert!(anc.is_received_empty());

    // End of stream.
    drop(a);
    assert_eq!(b.recv_with_ancillary(&mut buf, &mut anc).unwrap(), 0);
}

#[test]
fn datagram_with_ancillary_to_a_named_socket_reports_the_sender() {
    let _guard = lock();
    let dir = tempfile::tempdir().unwrap();
    let server_addr = UnixSocketAddress::from_pathname(dir.path().join("server.sock")).unwrap();
    let server = packetwire::unix::bind_datagram(&server_addr).unwrap();
    server.set_read_timeout(TIMEOUT).unwrap();
    let client = UnixDatagram::unbound().unwrap();
    let client_addr = client.autobind().unwrap();

    let (reader, writer) = os::pipe().unwrap();
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    client
        .send_to_with_ancillary(
            &[IoSlice::new(b"hi "), IoSlice::new(b"there")],
            &out,
            &server_addr,
        )
        .unwrap();
    drop(out);
    drop(writer);

    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 32];
    let meta = server.recv_with_ancillary(&mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..meta.len], b"hi there");
    assert_eq!(meta.address, client_addr);
    for fd in anc.take_fds() {
        write_through(fd, b"reply");
    }
    assert_eq!(read_pipe(reader), b"reply");

    // Replying to the reported address works.
    server.send_to_address(b"back", &meta.address).unwrap();
    client.set_read_timeout(TIMEOUT).unwrap();
    let (len, from) = client.recv_from_address(&mut buf).unwrap();
    assert_eq!((&buf[..len], from), (&b"back"[..], server_addr));

    // An unnamed destination is refused before any system call.
    let error = client
        .send_to_with_ancillary(
            &[IoSlice::new(b"x")],
            &SocketAncillary::new(),
            &UnixSocketAddress::Unnamed,
        )
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn non_blocking_receive_reports_would_block_and_survives_io_error_round_trip() {
    let _guard = lock();
    let (a, b) = os::socketpair_stream().unwrap();
    os::set_nonblocking(b.as_fd(), true).unwrap();
    let mut anc = SocketAncillary::new();
    let mut buf = [0u8; 8];
    let error = os::recv_with_ancillary(b.as_fd(), &mut buf, &mut anc).unwrap_err();
    assert!(error.is_would_block());
    let through = RecvError::from(io::Error::from(error));
    assert!(through.is_would_block());

    os::send(a.as_fd(), b"now").unwrap();
    let meta = os::recv_with_ancillary(b.as_fd(), &mut buf, &mut anc).unwrap();
    assert_eq!(&buf[..meta.len], b"now");
    assert_eq!(meta.address, UnixSocketAddress::Unnamed);
}

#[test]
fn vectored_receive_scatters_the_data() {
    let _guard = lock();
    let (a, b) = os::socketpair_dgram().unwrap();
    os::send_vectored(a.as_fd(), &[IoSlice::new(b"abc"), IoSlice::new(b"defg")]).unwrap();
    let (mut first, mut second) = ([0u8; 2], [0u8; 8]);
    let mut anc = SocketAncillary::new();
    let meta = os::recv_vectored_with_ancillary(
        b.as_fd(),
        &mut [
            io::IoSliceMut::new(&mut first),
            io::IoSliceMut::new(&mut second),
        ],
        &mut anc,
    )
    .unwrap();
    assert_eq!(meta.len, 7);
    assert_eq!(&first, b"ab");
    assert_eq!(&second[..5], b"cdefg");
}

#[test]
fn the_receive_capacity_is_capped_and_a_huge_one_does_not_panic() {
    let _guard = lock();
    let mut anc = SocketAncillary::with_recv_capacity(usize::MAX);
    assert_eq!(anc.recv_capacity(), SocketAncillary::MAX_RECV_CAPACITY);
    anc.set_recv_capacity(100);
    assert_eq!(anc.recv_capacity(), 100);
    anc.set_recv_capacity(usize::MAX);
    let (a, b) = dgram_pair();
    let (_reader, writer) = os::pipe().unwrap();
    let mut out = SocketAncillary::new();
    out.add_fd(&writer);
    a.send_with_ancillary(&[IoSlice::new(b"big")], &out)
        .unwrap();
    let meta = b.recv_with_ancillary(&mut [0u8; 8], &mut anc).unwrap();
    assert_eq!(meta.len, 3);
    assert_eq!(anc.take_fds().len(), 1);
    assert_eq!(SocketAncillary::DEFAULT_RECV_CAPACITY, 8208);
}
