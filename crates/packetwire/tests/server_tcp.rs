//! The TCP packet server: lifecycle, requests, errors, timeouts, many clients, shutdown;
//! every test on tokio and smol.
#![cfg(all(any(feature = "tokio", feature = "smol"), feature = "json"))]

mod common;
mod server_common;

use common::runtime_tests;
use server_common::Transport::Tcp;

runtime_tests! {
    async fn lifecycle(rt) { server_common::lifecycle(rt, Tcp).await }
    async fn close_while_serving_and_concurrent_shutdowns(rt) {
        server_common::close_while_serving_and_concurrent_shutdowns(rt, Tcp).await
    }
    async fn stop_from_a_handler(rt) { server_common::stop_from_a_handler(rt, Tcp).await }
    async fn pipelined_and_split(rt) { server_common::pipelined_and_split(rt, Tcp).await }
    async fn bad_request_then_good(rt) { server_common::bad_request_then_good(rt, Tcp).await }
    async fn handler_error_closes_only_that_client(rt) {
        server_common::handler_error_closes_only_that_client(rt, Tcp).await
    }
    async fn state_across_receives_and_restarts(rt) {
        server_common::state_across_receives_and_restarts(rt, Tcp).await
    }
    async fn login_in_on_connection(rt) { server_common::login_in_on_connection(rt, Tcp).await }
    async fn handle_returning_before_receiving_refuses(rt) {
        server_common::handle_returning_before_receiving_refuses(rt, Tcp).await
    }
    async fn receive_timeout(rt) { server_common::receive_timeout(rt, Tcp).await }
    async fn peer_reset_right_after_accept(rt) {
        server_common::peer_reset_right_after_accept(rt, Tcp).await
    }
    async fn many_clients(rt) { server_common::many_clients(rt, Tcp).await }
    async fn shutdown_with_busy_client(rt) { server_common::shutdown_with_busy_client(rt, Tcp).await }
    async fn max_connections(rt) { server_common::max_connections(rt, Tcp).await }
    async fn peer_metadata(rt) { server_common::peer_metadata(rt, Tcp).await }
}

#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;
    use std::time::Duration;

    use packetwire::net::TcpListener;
    use packetwire::runtime::Runtime;
    use packetwire::server::{ServerOptions, TcpServer};
    use packetwire::tls::{PrivateKeyDer, TlsClientConfig, TlsServerConfig};

    use crate::common::runtime_tests;
    use crate::server_common::{protocol, TestHandler, TestResult};

    async fn tls_echo(rt: Arc<dyn Runtime>) -> TestResult {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
        let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let acceptor = TlsServerConfig::new(vec![certified.cert.der().clone()], key)
            .handshake_timeout(Duration::from_secs(10))
            .build()?;
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addrs()[0].port();
        let server = TcpServer::from_listener_tls(
            listener,
            acceptor,
            protocol(),
            TestHandler::default(),
            ServerOptions::new(),
        );
        let serving = rt.spawn(Box::pin({
            let server = server.clone();
            async move { server.serve_forever().await.unwrap() }
        }));
        let connector = TlsClientConfig::new()
            .root_certificates([certified.cert.der().clone()])
            .build()?;
        // A client that fails its handshake does not disturb the server.
        let mut plain = packetwire::net::TcpStream::connect("127.0.0.1", port).await?;
        plain.send_all(b"not TLS at all\n").await?;
        let mut client = connector.connect("localhost", port).await?;
        client.send_all(b"\"ping\"\n1\n{bad\n").await?;
        assert_eq!(client.receive_line().await?, "\"pong\"\n");
        assert_eq!(client.receive_line().await?, "2\n");
        assert_eq!(
            client.receive_line().await?,
            "{\"error\":\"bad request\"}\n"
        );
        client.send_all(b"\"close\"\n").await?;
        assert_eq!(client.receive_line().await?, "\"bye\"\n");
        // close_notify: a clean end of stream.
        assert!(client.receive(1).await.unwrap_err().is_end_of_stream());
        server.server_close().await;
        drop(serving);
        Ok(())
    }

    runtime_tests! {
        async fn tls_requests(rt) { tls_echo(rt).await }
    }
}
