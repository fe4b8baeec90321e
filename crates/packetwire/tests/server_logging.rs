//! What the servers log through `tracing`: connections, and handler errors with the client's
//! address (one process-wide subscriber, so one test in this file).
#![cfg(all(feature = "tokio", feature = "json"))]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use packetwire::net::TcpStream;
use packetwire::server::{HandlerResult, StreamRequestHandler, StreamSession, TcpServer};
use packetwire::{JsonSerializer, StreamProtocol};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Keeps every event as "LEVEL field=value ...".
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

struct Failing;

impl StreamRequestHandler for Failing {
    type Request = Value;
    type Response = Value;

    async fn handle(&self, session: &mut StreamSession<Value, Value>) -> HandlerResult {
        let request = session.recv().await?;
        if request == "fail" {
            return Err("the handler failed (expected by the test)".into());
        }
        session.send_packet(&request).await?;
        Ok(())
    }
}

#[test]
fn handler_errors_are_logged_with_the_client_address() {
    let events = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Capture(Arc::clone(&events))).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
        let server = TcpServer::bind("127.0.0.1", 0, protocol, Failing)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let serving = tokio::spawn({
            let server = server.clone();
            async move { server.serve_forever().await }
        });
        let mut quiet = TcpStream::connect("127.0.0.1", port).await.unwrap();
        quiet.send_all(b"1\n").await.unwrap();
        assert_eq!(quiet.receive_line().await.unwrap(), "1\n");
        drop(quiet);
        let mut failing = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let client_addr = failing.local_addr().unwrap().to_string();
        failing.send_all(b"\"fail\"\n").await.unwrap();
        assert!(failing.receive(1).await.is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.server_close().await;
        serving.await.unwrap().unwrap();

        let events = events.lock().unwrap();
        let errors: Vec<&String> = events
            .iter()
            .filter(|e| e.starts_with(&Level::ERROR.to_string()))
            .collect();
        assert_eq!(errors.len(), 1, "{events:#?}");
        assert!(errors[0].contains(&client_addr), "{}", errors[0]);
        assert!(errors[0].contains("the handler failed"), "{}", errors[0]);
        assert!(
            events.iter().any(|e| e.contains("Accepted new connection")),
            "{events:#?}"
        );
        assert!(
            events.iter().any(|e| e.contains("Start serving at")),
            "{events:#?}"
        );
        assert!(
            events.iter().any(|e| e.contains("Server stopped")),
            "{events:#?}"
        );
    });
}
