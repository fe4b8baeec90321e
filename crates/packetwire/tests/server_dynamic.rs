//! Protocols chosen at run time (`CodecSpec`) plugged into the servers: an echo handler on
//! `Value` packets, as `packetwire serve` does; on tokio and smol.
#![cfg(all(any(feature = "tokio", feature = "smol"), feature = "json"))]

mod common;

use common::runtime_tests;
use packetwire::proto::dynamic::CodecSpec;
use packetwire::proto::Value;
use packetwire::server::{
    DatagramRequestHandler, DatagramSession, HandlerResult, RecvError, StreamRequestHandler,
    StreamSession, TcpServer, UdpServer,
};

/// Echoes every packet; a bad packet is skipped and the connection kept.
struct EchoValues;

impl StreamRequestHandler for EchoValues {
    type Request = Value;
    type Response = Value;

    async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        loop {
            match session.recv().await {
                Ok(packet) => session.send_packet(&packet).await?,
                Err(RecvError::Parse(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl DatagramRequestHandler for EchoValues {
    type Request = Value;
    type Response = Value;

    async fn handle(&self, session: &mut DatagramSession<Value, Value>) -> HandlerResult {
        match session.recv().await {
            Ok(packet) => session.send_packet(&packet).await?,
            Err(RecvError::Parse(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

runtime_tests! {
    async fn ready_made_echo_on_unix_datagram(rt) {
        use packetwire::server::{EchoHandler, UnixDatagramServer};
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("echo.sock");
        let protocol = CodecSpec::new("json").datagram_protocol()?;
        let server = UnixDatagramServer::bind(&path, protocol, EchoHandler::<Value>::new()).await?;
        let serving = rt.spawn(Box::pin({
            let server = server.clone();
            async move { server.serve_forever().await.unwrap() }
        }));
        let client = packetwire::net::UnixDatagram::connect(&path).await?;
        client.send(b"{bad").await?;
        client.send(b"{\"k\": null}").await?;
        assert_eq!(client.receive().await?, &b"{\"k\":null}"[..]);
        server.server_close().await;
        drop(serving);
        Ok(())
    }

    async fn stream_echo_with_wrapped_codec(rt) {
        let mut spec = CodecSpec::new("json");
        spec.wrap = vec!["base64".into()];
        let protocol = spec.stream_protocol()?;
        let server = TcpServer::bind("127.0.0.1", 0, protocol.clone(), EchoValues).await?;
        let port = server.local_addrs()[0].port();
        let serving = rt.spawn(Box::pin({
            let server = server.clone();
            async move { server.serve_forever().await.unwrap() }
        }));
        let mut client = packetwire::net::TcpStream::connect("127.0.0.1", port).await?;
        let mut wire = bytes::BytesMut::new();
        protocol.encode(&Value::from("first"), &mut wire)?;
        // A bad packet (base64 lines end with CRLF): skipped, the connection kept.
        wire.extend_from_slice(b"!!!not base64!!!\r\n");
        protocol.encode(&Value::Int(7), &mut wire)?;
        client.send_all(&wire).await?;
        let mut decoder = protocol.decoder();
        let mut buffer = bytes::BytesMut::new();
        let mut replies = Vec::new();
        while replies.len() < 2 {
            buffer.extend_from_slice(&client.receive(4096).await?);
            while let Some(packet) = decoder.decode(&mut buffer)? {
                replies.push(packet);
            }
        }
        assert_eq!(replies, vec![Value::from("first"), Value::Int(7)]);
        server.server_close().await;
        drop(serving);
        Ok(())
    }

    async fn datagram_echo_with_dynamic_codec(rt) {
        let protocol = CodecSpec::new("json").datagram_protocol()?;
        let server = UdpServer::bind("127.0.0.1", 0, protocol, EchoValues).await?;
        let serving = rt.spawn(Box::pin({
            let server = server.clone();
            async move { server.serve_forever().await.unwrap() }
        }));
        let client = packetwire::net::UdpSocket::connect("127.0.0.1", server.local_addr().port()).await?;
        client.send(b"{bad").await?;
        client.send(b"[1, \"two\"]").await?;
        assert_eq!(client.receive().await?, &b"[1,\"two\"]"[..]);
        server.server_close().await;
        drop(serving);
        Ok(())
    }
}
