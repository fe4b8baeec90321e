//! The Unix stream packet server: lifecycle, requests, errors, timeouts, many clients, shutdown;
//! every test on tokio and smol.
#![cfg(all(any(feature = "tokio", feature = "smol"), feature = "json"))]

mod common;
mod server_common;

use common::runtime_tests;
use server_common::Transport::Unix;

runtime_tests! {
    async fn lifecycle(rt) { server_common::lifecycle(rt, Unix).await }
    async fn close_while_serving_and_concurrent_shutdowns(rt) {
        server_common::close_while_serving_and_concurrent_shutdowns(rt, Unix).await
    }
    async fn stop_from_a_handler(rt) { server_common::stop_from_a_handler(rt, Unix).await }
    async fn pipelined_and_split(rt) { server_common::pipelined_and_split(rt, Unix).await }
    async fn bad_request_then_good(rt) { server_common::bad_request_then_good(rt, Unix).await }
    async fn handler_error_closes_only_that_client(rt) {
        server_common::handler_error_closes_only_that_client(rt, Unix).await
    }
    async fn state_across_receives_and_restarts(rt) {
        server_common::state_across_receives_and_restarts(rt, Unix).await
    }
    async fn login_in_on_connection(rt) { server_common::login_in_on_connection(rt, Unix).await }
    async fn handle_returning_before_receiving_refuses(rt) {
        server_common::handle_returning_before_receiving_refuses(rt, Unix).await
    }
    async fn receive_timeout(rt) { server_common::receive_timeout(rt, Unix).await }
    async fn peer_reset_right_after_accept(rt) {
        server_common::peer_reset_right_after_accept(rt, Unix).await
    }
    async fn many_clients(rt) { server_common::many_clients(rt, Unix).await }
    async fn shutdown_with_busy_client(rt) { server_common::shutdown_with_busy_client(rt, Unix).await }
    async fn max_connections(rt) { server_common::max_connections(rt, Unix).await }
    async fn peer_metadata(rt) { server_common::peer_metadata(rt, Unix).await }
}

mod unix_only {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::Duration;

    use packetwire::runtime::{self, Runtime};
    use packetwire::server::ServerOptions;
    use packetwire::unix::SocketAncillary;
    use serde_json::json;

    use crate::common::runtime_tests;
    use crate::server_common::{AnyServer, TestHandler, TestResult, Transport};

    async fn started(rt: &Arc<dyn Runtime>) -> std::io::Result<AnyServer> {
        let server = AnyServer::bind(
            Transport::Unix,
            TestHandler::default(),
            ServerOptions::new(),
        )
        .await?;
        let (_task, _) = server.spawn_serve(rt);
        server.wait_serving(rt).await;
        Ok(server)
    }

    async fn fd_passing(rt: Arc<dyn Runtime>) -> TestResult {
        let server = started(&rt).await?;
        let mut conn = server.connect().await?;
        // Into the handler: a pipe whose content the handler reads back to us.
        let (reader, writer) = packetwire::os::pipe()?;
        std::fs::File::from(writer).write_all(b"from the client")?;
        let mut out = SocketAncillary::new();
        out.add_fd(&reader);
        conn.unix()
            .send_all_with_ancillary(b"\"fds\"\n", &out)
            .await?;
        drop(out);
        drop(reader);
        assert_eq!(conn.recv().await?, json!([1, "from the client"]));
        // Out of the handler.
        conn.send(&json!("give fd")).await?;
        let mut anc = SocketAncillary::new();
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            line.extend_from_slice(&conn.unix().receive_with_ancillary(1024, &mut anc).await?);
        }
        assert_eq!(line, b"\"here\"\n");
        let fds = anc.take_fds();
        assert_eq!(fds.len(), 1);
        let mut text = String::new();
        std::fs::File::from(fds.into_iter().next().unwrap()).read_to_string(&mut text)?;
        assert_eq!(text, "from the server");
        server.server_close().await;
        Ok(())
    }

    async fn unclaimed_fds_are_closed(rt: Arc<dyn Runtime>) -> TestResult {
        let server = started(&rt).await?;
        let mut conn = server.connect().await?;
        assert_eq!(conn.request(json!("ping")).await?, json!("pong"));
        for _ in 0..10 {
            // We send the only read end of a pipe: once every copy of it is closed, writing
            // to the pipe fails with EPIPE (the test does not count the process's
            // descriptors, which tests running in parallel change).
            let (reader, writer) = packetwire::os::pipe()?;
            let mut out = SocketAncillary::new();
            out.add_fd(&reader);
            // The handler answers a plain echo request and never looks at the descriptor.
            conn.unix()
                .send_all_with_ancillary(b"\"not about fds\"\n", &out)
                .await?;
            drop(out);
            drop(reader);
            assert_eq!(conn.recv().await?, json!(["echo", "not about fds"]));
            let error = std::fs::File::from(writer).write_all(b"x").unwrap_err();
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::BrokenPipe,
                "descriptor kept open"
            );
        }
        // A descriptor received with a request that the handler did not take is closed too.
        let (reader, writer) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&reader);
        conn.unix().send_all_with_ancillary(b"5\n", &out).await?;
        drop(out);
        drop(reader);
        assert_eq!(conn.recv().await?, json!(6));
        let error = std::fs::File::from(writer).write_all(b"x").unwrap_err();
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "descriptor kept open"
        );
        server.server_close().await;
        Ok(())
    }

    /// Records the requests it receives and answers nothing (an answer would wake the
    /// server's side of the socket, hiding a read that waits when it should not).
    #[derive(Clone, Default)]
    struct Record(Arc<std::sync::Mutex<Vec<serde_json::Value>>>);

    impl packetwire::server::StreamRequestHandler for Record {
        type Request = serde_json::Value;
        type Response = serde_json::Value;

        async fn handle(
            &self,
            session: &mut packetwire::server::StreamSession<serde_json::Value, serde_json::Value>,
        ) -> packetwire::server::HandlerResult {
            let request = session.recv().await?;
            self.0.lock().unwrap().push(request);
            Ok(())
        }
    }

    /// A plain read that ends at a message carrying descriptors has not drained the socket:
    /// the request queued behind it is received without the client sending anything more.
    async fn requests_queued_behind_descriptors(rt: Arc<dyn Runtime>) -> TestResult {
        use packetwire::server::UnixStreamServer;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("record.sock");
        let record = Record::default();
        let server =
            UnixStreamServer::bind(&path, crate::server_common::protocol(), record.clone()).await?;
        // Both messages wait in the socket before the server's first read (it serves only
        // after they are sent): the first carries a descriptor, so that read stops after it.
        let mut client = packetwire::net::UnixStream::connect(&path).await?;
        let (reader, _writer) = packetwire::os::pipe()?;
        let mut out = SocketAncillary::new();
        out.add_fd(&reader);
        client
            .send_all_with_ancillary(b"\"with a descriptor\"\n", &out)
            .await?;
        drop(out);
        client.send_all(b"\"queued behind it\"\n").await?;
        let serving = rt.spawn(Box::pin({
            let server = server.clone();
            async move {
                let _ = server.serve_forever().await;
            }
        }));
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while record.0.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
            runtime::sleep(&*rt, Duration::from_millis(10)).await;
        }
        assert_eq!(
            *record.0.lock().unwrap(),
            [json!("with a descriptor"), json!("queued behind it")],
            "the request behind the descriptor was not received"
        );
        drop(client);
        server.server_close().await;
        drop(serving);
        Ok(())
    }

    async fn socket_file_left_alone_when_replaced(rt: Arc<dyn Runtime>) -> TestResult {
        let server = started(&rt).await?;
        let path = server.socket_path().unwrap();
        assert!(path.exists());
        std::fs::remove_file(&path)?;
        std::fs::write(&path, b"someone else's")?;
        server.server_close().await;
        assert_eq!(std::fs::read(&path)?, b"someone else's");
        // Removed by someone else: closing is still fine.
        let server = started(&rt).await?;
        let path = server.socket_path().unwrap();
        std::fs::remove_file(&path)?;
        server.server_close().await;
        assert!(!path.exists());
        let _ = Duration::ZERO;
        Ok(())
    }

    async fn abstract_name(rt: Arc<dyn Runtime>) -> TestResult {
        use packetwire::server::UnixStreamServer;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        // Unique per test run: the tokio and smol variants run at the same time.
        let name = format!(
            "@packetwire-server-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let server = UnixStreamServer::bind(
            &name,
            crate::server_common::protocol(),
            TestHandler::default(),
        )
        .await?;
        assert_eq!(
            server.local_addr().as_abstract_name(),
            Some(&name.as_bytes()[1..])
        );
        let serving = rt.spawn(Box::pin({
            let server = server.clone();
            async move {
                server.serve_forever().await.unwrap();
            }
        }));
        let mut client = packetwire::net::UnixStream::connect(&name).await?;
        client.send_all(b"\"ping\"\n").await?;
        assert_eq!(client.receive_line().await?, "\"pong\"\n");
        server.server_close().await;
        drop(serving);
        Ok(())
    }

    runtime_tests! {
        async fn fd_passing_into_and_out_of_the_handler(rt) { fd_passing(rt).await }
        async fn unclaimed_fds_closed(rt) { unclaimed_fds_are_closed(rt).await }
        async fn no_stall_behind_descriptors(rt) { requests_queued_behind_descriptors(rt).await }
        async fn socket_file_removed_only_if_ours(rt) { socket_file_left_alone_when_replaced(rt).await }
        async fn serves_on_an_abstract_name(rt) { abstract_name(rt).await }
    }
}
