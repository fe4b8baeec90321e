//! The async Unix stream packet client (`client::UnixStreamClient`) against servers made of
//! packetwire's async sockets in the test; every case on tokio and on smol.
#![cfg(all(
    feature = "json",
    any(feature = "tokio", feature = "smol"),
    any(target_os = "linux", target_os = "android")
))]

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{runtime_tests, sleep, zip};
use packetwire::client::{
    ClientConnectError, RecvPacketError, SendPacketError, UnixStreamClient, UnixStreamClientOptions,
};
use packetwire::net::{UnixListener, UnixStream};
use packetwire::unix::{Credentials, SocketAncillary, UnixSocketAddress};
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};
use smol::stream::StreamExt;

type Json = JsonSerializer<Value>;

const WAIT: Duration = Duration::from_secs(10);

fn protocol() -> StreamProtocol<Json> {
    StreamProtocol::new(JsonSerializer::new())
}

/// A client over one end of a socket pair, and the other end.
fn pair() -> std::io::Result<(UnixStreamClient<Json>, UnixStream)> {
    let (a, b) = packetwire::net::socketpair()?;
    Ok((UnixStreamClient::from_socket(a, protocol()), b))
}

fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "packetwire-test-async-uclient-{}-{}-{tag}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

runtime_tests! {
    async fn connect_by_path_with_a_local_path(rt) {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.sock");
        let local = dir.path().join("client.sock");
        let listener = UnixListener::bind(&path).await?;
        let client = UnixStreamClientOptions::new()
            .runtime(Arc::clone(&rt))
            .connect_timeout(WAIT)
            .local_path(&local)
            .connect(&path, protocol())
            .await?;
        let (mut server, peer) = listener.accept().await?;
        assert_eq!(peer.as_pathname(), Some(local.as_path()));
        assert_eq!(client.local_addr()?.as_pathname(), Some(local.as_path()));
        assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
        server.send_all(b"[\"hi\"]\n").await?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!(["hi"]));
        client.send_packet(&json!("back")).await?;
        assert_eq!(server.receive_line().await?, &b"\"back\"\n"[..]);
        assert!(matches!(
            UnixStreamClient::connect(dir.path().join("none.sock"), protocol()).await,
            Err(ClientConnectError::Connect(_))
        ));
        Ok(())
    }

    async fn abstract_names_eagerly_and_lazily(rt) {
        let name = unique_name("abstract");
        let addr = UnixSocketAddress::from_abstract_name(&name)?;
        let listener = UnixListener::bind(format!("@{name}")).await?;
        let eager = UnixStreamClient::connect_addr(&addr, protocol()).await?;
        let (mut first, _) = listener.accept().await?;
        assert_eq!(eager.peer_addr()?, addr);

        let lazy = UnixStreamClientOptions::new()
            .runtime(Arc::clone(&rt))
            .connect_addr_lazy(&addr, protocol())?;
        assert!(!lazy.is_connected());
        assert!(lazy.peer_credentials().is_err());
        let (a, b) = zip(lazy.wait_connected(), lazy.wait_connected()).await;
        a?;
        b?;
        let (mut second, _) = listener.accept().await?;
        assert_eq!(lazy.peer_addr()?, addr);
        first.send_all(b"1\n").await?;
        second.send_all(b"2\n").await?;
        assert_eq!(eager.recv_packet_within(WAIT).await?, json!(1));
        assert_eq!(lazy.recv_packet_within(WAIT).await?, json!(2));

        let by_path = UnixStreamClientOptions::new().connect_lazy(format!("@{name}"), protocol())?;
        let (sent, accepted) = zip(by_path.send_packet(&json!(3)), listener.accept()).await;
        sent?;
        assert_eq!(accepted?.0.receive_line().await?, &b"3\n"[..]);
        Ok(())
    }

    async fn peer_credentials_and_fd_passing_through_packets(rt) {
        let (a, b) = packetwire::net::socketpair()?;
        let sender = UnixStreamClient::from_socket(a, protocol());
        let receiver = UnixStreamClient::from_socket(b, protocol());
        assert_eq!(receiver.peer_credentials()?, Credentials::current());
        receiver.set_passcred(true)?;

        let (pipe_r, pipe_w) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&pipe_w).add_creds(Credentials::current());
        sender
            .send_packet_with_ancillary(&json!({"here": "a pipe"}), &out)
            .await?;
        let mut anc = SocketAncillary::new();
        let packet = receiver.recv_packet_with_ancillary(&mut anc).await?;
        assert_eq!(packet, json!({"here": "a pipe"}));
        assert_eq!(anc.credentials().next(), Some(Credentials::current()));
        let fds = anc.take_fds();
        assert_eq!(fds.len(), 1);
        std::fs::File::from(fds.into_iter().next().unwrap()).write_all(b"through")?;
        drop(pipe_w);
        let mut text = String::new();
        std::fs::File::from(pipe_r).read_to_string(&mut text)?;
        assert_eq!(text, "through");

        // A second packet with descriptors, after plain traffic both ways.
        sender.send_packet(&json!("plain")).await?;
        assert_eq!(receiver.recv_packet_within(WAIT).await?, json!("plain"));
        let (_r2, w2) = packetwire::os::pipe()?;
        let (_r3, w3) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&w2).add_fd(&w3);
        sender.send_packet_with_ancillary(&json!(["two", "pipes"]), &out).await?;
        let mut anc = SocketAncillary::new();
        assert_eq!(receiver.recv_packet_with_ancillary(&mut anc).await?, json!(["two", "pipes"]));
        assert_eq!(anc.take_fds().len(), 2);
        let _ = rt;
        Ok(())
    }

    async fn half_close_end_of_stream_and_recovery(rt) {
        let (client, mut server) = pair()?;
        server.send_all(b"1\n{bad\n2\n[3").await?;
        server.send_eof()?;
        assert_eq!(client.recv_packet_within(WAIT).await?, json!(1));
        assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::Parse(_))));
        assert_eq!(client.recv_packet_within(WAIT).await?, json!(2));
        assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::Parse(_))));
        assert!(matches!(client.recv_packet_within(WAIT).await, Err(RecvPacketError::EndOfStream)));
        client.send_packet(&json!("still sending")).await?;
        assert_eq!(server.receive_line().await?, &b"\"still sending\"\n"[..]);
        client.send_eof().await?;
        assert!(matches!(client.send_packet(&json!(0)).await, Err(SendPacketError::EofSent)));
        assert!(server.receive(1).await.unwrap_err().is_end_of_stream());
        let _ = rt;
        Ok(())
    }

    async fn close_wakes_a_waiting_receiver(rt) {
        let (client, _server) = pair()?;
        let (result, ()) = zip(
            async {
                let start = Instant::now();
                let result = client.recv_packet().await;
                assert!(start.elapsed() < WAIT);
                result
            },
            async {
                sleep(&rt, 50).await;
                client.close().await;
            },
        )
        .await;
        assert!(matches!(result, Err(RecvPacketError::Closed)), "{result:?}");
        let mut anc = SocketAncillary::new();
        assert!(matches!(
            client.recv_packet_with_ancillary(&mut anc).await,
            Err(RecvPacketError::Closed)
        ));
        assert!(matches!(
            client.send_packet_with_ancillary(&json!(1), &SocketAncillary::new()).await,
            Err(SendPacketError::Closed)
        ));
        Ok(())
    }

    async fn concurrent_senders_on_a_unix_stream(rt) {
        const TASKS: usize = 8;
        let (client, mut server) = pair()?;
        let client = Arc::new(client);
        let mut handles = Vec::new();
        for t in 0..TASKS {
            let client = Arc::clone(&client);
            handles.push(rt.spawn(Box::pin(async move {
                let pad = "u".repeat(6000);
                for i in 0..100 {
                    client.send_packet(&json!({"t": t, "i": i, "pad": pad})).await.unwrap();
                }
            })));
        }
        let reading = async {
            let mut next = [0usize; TASKS];
            for _ in 0..TASKS * 100 {
                let line = server.receive_line().await?;
                let packet: Value = serde_json::from_slice(&line)?;
                let t = packet["t"].as_u64().unwrap() as usize;
                assert_eq!(packet["i"], json!(next[t]));
                assert_eq!(packet["pad"].as_str().unwrap().len(), 6000);
                next[t] += 1;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(next)
        };
        let joining = async {
            for handle in &mut handles {
                handle.join().await;
            }
        };
        let (next, ()) = zip(reading, joining).await;
        assert_eq!(next?, [100; TASKS]);
        Ok(())
    }

    async fn iterate_with_a_budget_and_adopt_std_sockets(rt) {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        let client = UnixStreamClient::from_std(a, protocol())?;
        let mut b = b;
        b.write_all(b"1\n2\n")?;
        let got: Vec<Value> = client
            .iter_received_packets(Some(Duration::from_millis(200)))
            .collect()
            .await;
        assert_eq!(got, [json!(1), json!(2)]);
        let dgram = std::os::unix::net::UnixDatagram::unbound()?;
        let wrong = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(dgram));
        assert!(matches!(
            UnixStreamClient::from_std(wrong, protocol()),
            Err(ClientConnectError::Adopt(_))
        ));
        let _ = rt;
        Ok(())
    }
}
