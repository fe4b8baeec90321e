//! The Unix datagram packet server: lifecycle, per-client queues and ordering, refused datagrams,
//! errors, many clients, shutdown; every test on tokio and smol.
#![cfg(all(any(feature = "tokio", feature = "smol"), feature = "json"))]

mod common;
mod server_dgram_common;

use common::runtime_tests;
use server_dgram_common::Transport::Unix;

runtime_tests! {
    async fn lifecycle(rt) { server_dgram_common::lifecycle(rt, Unix).await }
    async fn bad_datagram_then_good(rt) { server_dgram_common::bad_datagram_then_good(rt, Unix).await }
    async fn ordering_and_queueing(rt) { server_dgram_common::ordering_and_queueing(rt, Unix).await }
    async fn bounded_queue_drops_the_oldest(rt) {
        server_dgram_common::bounded_queue_drops_the_oldest(rt, Unix).await
    }
    async fn refused_and_failing(rt) { server_dgram_common::refused_and_failing(rt, Unix).await }
    async fn many_clients(rt) { server_dgram_common::many_clients(rt, Unix).await }
    async fn shutdown_with_queued_datagrams(rt) {
        server_dgram_common::shutdown_with_queued_datagrams(rt, Unix).await
    }
}

mod unix_only {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    use packetwire::net::UnixDatagram;
    use packetwire::runtime::{self, Runtime};
    use packetwire::server::{DatagramServerOptions, UnixDatagramServer, UnnamedPolicy};
    use packetwire::unix::SocketAncillary;
    use serde_json::json;

    use crate::common::runtime_tests;
    use crate::server_dgram_common::{within, AnyServer, DgramHandler, TestResult, Transport};

    async fn fd_passing(rt: Arc<dyn Runtime>) -> TestResult {
        let (server, _task) =
            AnyServer::started(&rt, Transport::Unix, DatagramServerOptions::new()).await?;
        let client = server.client().await?;
        let (reader, writer) = packetwire::os::pipe()?;
        std::fs::File::from(writer).write_all(b"from the client")?;
        let mut out = SocketAncillary::new();
        out.add_fd(&reader);
        client.unix().send_with_ancillary(b"\"fds\"", &out).await?;
        drop(out);
        drop(reader);
        assert_eq!(
            within(&rt, 5000, client.recv()).await?,
            json!([1, "from the client"])
        );
        client.send(&json!("give fd")).await?;
        let mut anc = SocketAncillary::new();
        let (datagram, _) =
            within(&rt, 5000, client.unix().receive_with_ancillary(&mut anc)).await?;
        assert_eq!(datagram, "\"here\"");
        let fds = anc.take_fds();
        assert_eq!(fds.len(), 1);
        let mut text = String::new();
        std::fs::File::from(fds.into_iter().next().unwrap()).read_to_string(&mut text)?;
        assert_eq!(text, "from the server");
        server.server_close().await;
        Ok(())
    }

    async fn unclaimed_fds_closed(rt: Arc<dyn Runtime>) -> TestResult {
        let (server, _task) =
            AnyServer::started(&rt, Transport::Unix, DatagramServerOptions::new()).await?;
        let client = server.client().await?;
        for request in [&b"\"not about fds\""[..], b"7", b"{bad"] {
            // The only read end of a pipe: once the server closed its copy, writing fails
            // with EPIPE.
            let (reader, writer) = packetwire::os::pipe()?;
            let mut out = SocketAncillary::new();
            out.add_fd(&reader);
            client.unix().send_with_ancillary(request, &out).await?;
            drop(out);
            drop(reader);
            within(&rt, 5000, client.recv()).await?;
            let error = std::fs::File::from(writer).write_all(b"x").unwrap_err();
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::BrokenPipe,
                "descriptor kept open"
            );
        }
        server.server_close().await;
        Ok(())
    }

    async fn unnamed_senders(rt: Arc<dyn Runtime>) -> TestResult {
        for policy in [
            UnnamedPolicy::Ignore,
            UnnamedPolicy::Warn,
            UnnamedPolicy::Handle,
        ] {
            let (server, _task) = AnyServer::started(
                &rt,
                Transport::Unix,
                DatagramServerOptions::new().unnamed(policy),
            )
            .await?;
            let path = server.socket_path().unwrap();
            let unnamed = UnixDatagram::unbound()?;
            unnamed
                .send_to(
                    b"\"ping\"",
                    &packetwire::unix::UnixSocketAddress::from_pathname(&path)?,
                )
                .await?;
            // A named client right after: once it is answered, the unnamed datagram was seen.
            let named = server.client().await?;
            assert_eq!(
                within(&rt, 5000, named.request(json!("ping"))).await?,
                json!("pong")
            );
            let handler = server.handler();
            match policy {
                UnnamedPolicy::Handle => {
                    for _ in 0..100 {
                        if handler.send_failures.load(Ordering::SeqCst) == 1 {
                            break;
                        }
                        runtime::sleep(&*rt, Duration::from_millis(5)).await;
                    }
                    // Handled, but the reply cannot reach an unnamed socket.
                    assert_eq!(handler.handle_calls.load(Ordering::SeqCst), 2);
                    assert_eq!(handler.send_failures.load(Ordering::SeqCst), 1);
                }
                _ => assert_eq!(handler.handle_calls.load(Ordering::SeqCst), 1),
            }
            server.server_close().await;
        }
        Ok(())
    }

    async fn file_mode(rt: Arc<dyn Runtime>) -> TestResult {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("m.sock");
        let socket = UnixDatagram::bind(&path).await?;
        let server = UnixDatagramServer::from_socket(
            socket,
            crate::server_dgram_common::protocol(),
            DgramHandler::default(),
            DatagramServerOptions::new().mode(0o600),
        )?;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        server.server_close().await;
        assert!(!path.exists());
        let _ = rt;
        Ok(())
    }

    async fn socket_file_removed_only_if_ours(rt: Arc<dyn Runtime>) -> TestResult {
        let (server, _task) =
            AnyServer::started(&rt, Transport::Unix, DatagramServerOptions::new()).await?;
        let path = server.socket_path().unwrap();
        std::fs::remove_file(&path)?;
        std::fs::write(&path, b"someone else's")?;
        server.server_close().await;
        assert_eq!(std::fs::read(&path)?, b"someone else's");
        Ok(())
    }

    async fn idle_sessions_expire(rt: Arc<dyn Runtime>) -> TestResult {
        let dir = tempfile::tempdir()?;
        let socket = UnixDatagram::bind(dir.path().join("d.sock")).await?;
        let server = UnixDatagramServer::from_socket(
            socket,
            crate::server_dgram_common::protocol(),
            DgramHandler::default(),
            DatagramServerOptions::new()
                .idle_timeout(Duration::from_millis(50))
                .max_sessions(2),
        )?;
        let serving = rt.spawn(Box::pin({
            let server = server.clone();
            async move { server.serve_forever().await.unwrap() }
        }));
        let path = dir.path().join("d.sock");
        let a = UnixDatagram::connect(&path).await?;
        let b = UnixDatagram::connect(&path).await?;
        let c = UnixDatagram::connect(&path).await?;
        for client in [&a, &b] {
            client.send(b"\"total\"").await?;
            assert_eq!(within(&rt, 5000, client.receive()).await?, "1");
        }
        assert_eq!(server.sessions(), 2);
        // Full: a third address is dropped, until the others have been idle long enough.
        c.send(b"\"total\"").await?;
        assert!(
            runtime::timeout(&*rt, Duration::from_millis(20), c.receive())
                .await
                .is_err()
        );
        assert_eq!(server.dropped_datagrams(), 1);
        runtime::sleep(&*rt, Duration::from_millis(100)).await;
        c.send(b"\"total\"").await?;
        assert_eq!(within(&rt, 5000, c.receive()).await?, "1");
        // a's session expired: its per-client total starts over.
        a.send(b"\"total\"").await?;
        assert_eq!(within(&rt, 5000, a.receive()).await?, "1");
        server.server_close().await;
        drop(serving);
        Ok(())
    }

    runtime_tests! {
        async fn fd_passing_into_and_out_of_the_handler(rt) { fd_passing(rt).await }
        async fn unclaimed_fds_are_closed(rt) { unclaimed_fds_closed(rt).await }
        async fn unnamed_sender_policies(rt) { unnamed_senders(rt).await }
        async fn socket_file_left_alone_when_replaced(rt) { socket_file_removed_only_if_ours(rt).await }
        async fn socket_file_mode(rt) { file_mode(rt).await }
        async fn idle_sessions_expire_and_session_limit(rt) { idle_sessions_expire(rt).await }
    }
}
