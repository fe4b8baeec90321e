//! The stream decoder drops into tokio-util's `FramedRead` / `FramedWrite`.
#![cfg(all(feature = "codec", feature = "json"))]

use futures::{SinkExt, StreamExt};
use packetwire_proto::{JsonSerializer, StreamProtocol};
use serde_json::{json, Value};
use tokio_util::codec::{FramedRead, FramedWrite};

#[test]
fn framed_write_then_read() {
    futures::executor::block_on(async {
        let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
        let mut wire = Vec::new();
        {
            let mut sink = FramedWrite::new(&mut wire, protocol.decoder());
            sink.send(&json!({"a": 1})).await.unwrap();
            sink.send(&json!([true, null])).await.unwrap();
        }
        assert_eq!(wire, b"{\"a\":1}\n[true,null]\n");

        let mut stream = FramedRead::new(&wire[..], protocol.decoder());
        assert_eq!(stream.next().await.unwrap().unwrap(), json!({"a": 1}));
        assert_eq!(stream.next().await.unwrap().unwrap(), json!([true, null]));
        assert!(stream.next().await.is_none());
    });
}

#[test]
fn framed_read_reports_parse_errors() {
    futures::executor::block_on(async {
        let protocol = StreamProtocol::new(JsonSerializer::<Value>::new());
        let mut stream = FramedRead::new(&b"{oops}\n"[..], protocol.decoder());
        let err = stream.next().await.unwrap().unwrap_err();
        assert!(
            matches!(err, packetwire_proto::CodecError::Parse(_)),
            "{err:?}"
        );
    });
}
