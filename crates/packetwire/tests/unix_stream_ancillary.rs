//! Async Unix streams: descriptor and credential passing, the receive buffer's interplay with
//! ancillary data, `UnixSocketAddress` addresses, and socket options on streams and
//! listeners; every test on tokio and smol.
#![cfg(all(
    any(target_os = "linux", target_os = "android"),
    any(feature = "tokio", feature = "smol")
))]

mod common;

use std::collections::HashSet;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};

use common::{payload, runtime_tests, tcp_pair, unix_pair, zip};
use packetwire::net::{
    ReceiveError, SendError, TcpListener, UnixConnectOptions, UnixListener, UnixStream,
};
use packetwire::unix::{Credentials, SocketAncillary, UnixSocketAddress};

static FD_LOCK: Mutex<()> = Mutex::new(());

fn fd_lock() -> MutexGuard<'static, ()> {
    FD_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many descriptors of this process are open on the same file as `fd`.
fn open_count(fd: &impl AsFd) -> usize {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|link| *link == target)
        .count()
}

fn read_pipe(fd: OwnedFd) -> Vec<u8> {
    let mut out = Vec::new();
    File::from(fd).read_to_end(&mut out).unwrap();
    out
}

/// This process's identity, from `/proc/self/status`.
fn proc_credentials() -> Credentials {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u32 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    Credentials::new(std::process::id() as i32, field("Uid:"), field("Gid:"))
}

fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "@packetwire-stream-anc-{}-{tag}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn one_fd(anc: &mut SocketAncillary<'_>) -> OwnedFd {
    let mut fds = anc.take_fds();
    assert_eq!(fds.len(), 1, "one descriptor expected");
    fds.pop().unwrap()
}

runtime_tests! {
    async fn pass_a_pipe_over_a_socketpair(rt) {
        let (mut a, mut b) = unix_pair()?;
        let (reader, writer) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&writer);
        a.send_all_with_ancillary(b"a pipe for you", &out).await?;
        drop(out);
        drop(writer);

        let mut anc = SocketAncillary::new();
        let data = b.receive_with_ancillary(1024, &mut anc).await?;
        assert_eq!(data, "a pipe for you");
        File::from(one_fd(&mut anc)).write_all(b"through the stream")?;
        assert_eq!(read_pipe(reader), b"through the stream");
        let _ = rt;
        Ok(())
    }

    async fn pass_a_pipe_from_an_accepted_stream(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.sock");
        let listener = UnixListener::bind(&path).await?;
        let mut client = UnixStream::connect(&path).await?;
        let (mut server, peer) = listener.accept().await?;
        assert!(peer.is_unnamed());

        // One vocabulary for addresses: hashable `UnixSocketAddress`es.
        let listener_addr = UnixSocketAddress::from_pathname(&path)?;
        assert_eq!(listener.local_addr(), &listener_addr);
        assert_eq!(client.peer_addr()?, listener_addr);
        assert_eq!(server.local_addr()?, listener_addr);
        assert_eq!(server.peer_addr()?, UnixSocketAddress::Unnamed);
        let seen: HashSet<UnixSocketAddress> = [client.peer_addr()?, server.local_addr()?].into();
        assert_eq!(seen.len(), 1);

        let (reader, writer) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&writer);
        server.send_all_with_ancillary(b"fd", &out).await?;
        drop(out);
        drop(writer);
        let mut anc = SocketAncillary::new();
        assert_eq!(client.receive_with_ancillary(2, &mut anc).await?, "fd");
        File::from(one_fd(&mut anc)).write_all(b"served")?;
        assert_eq!(read_pipe(reader), b"served");
        let _ = rt;
        Ok(())
    }

    async fn buffered_bytes_come_first_without_ancillary_data(rt) {
        let (mut a, mut b) = unix_pair()?;
        a.send_all(b"line\nrest").await?;
        assert_eq!(b.receive_line().await?, "line\n");
        assert_eq!(b.buffered(), b"rest");

        let (_reader, writer) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&writer);
        a.send_all_with_ancillary(b"X", &out).await?;

        let mut anc = SocketAncillary::new();
        // The buffered bytes first, with no system call and nothing in `anc`...
        assert_eq!(b.receive_with_ancillary(2, &mut anc).await?, "re");
        assert_eq!(b.receive_with_ancillary(100, &mut anc).await?, "st");
        assert!(anc.is_received_empty());
        assert!(b.buffered().is_empty());
        // ... then the socket, descriptors included.
        assert_eq!(b.receive_with_ancillary(100, &mut anc).await?, "X");
        assert_eq!(anc.take_fds().len(), 1);
        let _ = rt;
        Ok(())
    }

    async fn large_data_with_ancillary_data(rt) {
        let (mut a, mut b) = unix_pair()?;
        let data = payload(1 << 20);
        let (_reader, writer) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&writer);
        let receiving = async {
            let mut anc = SocketAncillary::new();
            let first = b.receive_with_ancillary(data.len(), &mut anc).await?;
            let rest = b.receive_exactly(data.len() - first.len()).await?;
            Ok::<_, ReceiveError>((first, rest, anc.take_fds().len()))
        };
        let (sent, received) = zip(a.send_all_with_ancillary(&data, &out), receiving).await;
        sent?;
        let (first, rest, fds) = received?;
        assert_eq!(fds, 1);
        assert!([&first[..], &rest[..]].concat() == data);
        let _ = rt;
        Ok(())
    }

    async fn end_of_stream_and_send_errors(rt) {
        let (mut a, mut b) = unix_pair()?;
        let (_reader, writer) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&writer);
        match a.send_all_with_ancillary(b"", &out).await {
            Err(SendError::Io(e)) => assert_eq!(e.kind(), ErrorKind::InvalidInput),
            other => panic!("unexpected {other:?}"),
        }
        a.send_eof()?;
        assert!(matches!(a.send_all_with_ancillary(b"x", &out).await, Err(SendError::WriteClosed)));
        let mut anc = SocketAncillary::new();
        assert!(matches!(
            b.receive_with_ancillary(16, &mut anc).await,
            Err(ReceiveError::EndOfStream)
        ));
        assert!(b.at_eof());
        let _ = rt;
        Ok(())
    }

    async fn credentials_match_the_process(rt) {
        let (mut a, mut b) = unix_pair()?;
        assert_eq!(a.peer_credentials()?, proc_credentials());
        assert_eq!(b.peer_credentials()?, proc_credentials());
        b.set_passcred(true)?;
        assert!(b.passcred()?);
        a.send_all(b"who?").await?;
        let mut anc = SocketAncillary::new();
        assert_eq!(b.receive_with_ancillary(16, &mut anc).await?, "who?");
        assert_eq!(anc.credentials().collect::<Vec<_>>(), [proc_credentials()]);
        let _ = rt;
        Ok(())
    }

    // The guard serialises the descriptor-counting tests; each test has its own runtime and
    // thread, so holding it across awaits blocks nobody else's progress.
    #[allow(clippy::await_holding_lock)]
    async fn control_truncation_closes_what_arrived(rt) {
        let _guard = fd_lock();
        let (mut a, mut b) = unix_pair()?;
        let (reader, writer) = packetwire::os::pipe()?;
        let before = open_count(&reader);
        let mut out = SocketAncillary::new();
        out.add_fds(&[writer.as_fd(), reader.as_fd(), writer.as_fd()]);
        a.send_all_with_ancillary(b"three", &out).await?;
        let mut small = SocketAncillary::with_recv_capacity(SocketAncillary::space_for_fds(1));
        match b.receive_with_ancillary(16, &mut small).await {
            Err(ReceiveError::ControlTruncated { fds_closed, .. }) => assert!(fds_closed >= 1),
            other => panic!("unexpected {other:?}"),
        }
        assert!(small.is_received_empty());
        drop(out);
        assert_eq!(open_count(&reader), before);
        let _ = rt;
        Ok(())
    }

    async fn connect_by_unix_socket_address(rt) {
        let name = unique_name("addr");
        let listener = UnixListener::bind(&name).await?;
        assert_eq!(listener.local_addr().to_string(), name);
        let addr: UnixSocketAddress = name.parse()?;
        let client = UnixConnectOptions::new().runtime(Arc::clone(&rt)).connect_addr(&addr).await?;
        assert_eq!(client.peer_addr()?, addr);
        assert!(client.local_addr()?.is_unnamed());
        let error = UnixConnectOptions::new().connect_addr(&UnixSocketAddress::Unnamed).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        Ok(())
    }

    async fn socket_options_on_streams_and_listeners(rt) {
        let (tcp_client, _tcp_server) = tcp_pair().await?;
        assert!(tcp_client.socket_options().nodelay()?);
        assert!(tcp_client.socket_options().keepalive()?);

        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let options = listener.socket_options();
        assert_eq!(options.len(), listener.local_addrs().len());
        assert!(options[0].reuse_address()?);

        let unix_listener = UnixListener::bind(unique_name("opts")).await?;
        assert_eq!(unix_listener.socket_options().kind()?, packetwire::sockopt::SocketKind::Stream);
        let (unix, _other) = unix_pair()?;
        unix.socket_options().set_send_buffer_size(1 << 16)?;
        assert!(unix.socket_options().send_buffer_size()? >= 1 << 16);
        let _ = rt;
        Ok(())
    }
}
