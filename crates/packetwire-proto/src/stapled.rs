//! [`StapledSerializer`]: send with one serializer, receive with another (EasyNetwork's
//! `StapledPacketSerializer`).

use bytes::BytesMut;

use crate::error::{DeserializeError, SerializeError};
use crate::serializer::{DatagramSerializer, StreamSerializer};

/// Sends packets with `Tx` and receives them with `Rx`, for protocols whose two directions use
/// different formats (for example requests in JSON and responses in MessagePack).
///
/// It is a [`DatagramSerializer`] when both halves are, and a [`StreamSerializer`] when both
/// halves are; the decoding state is the receiving half's.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{JsonSerializer, LineSerializer, StapledSerializer, StreamSerializer};
///
/// // Send JSON, receive text lines.
/// let s = StapledSerializer::new(JsonSerializer::<serde_json::Value>::new(), LineSerializer::new());
/// let mut wire = BytesMut::new();
/// s.encode(&serde_json::json!({"cmd": "ls"}), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"{\"cmd\":\"ls\"}\n");
///
/// let mut reply = BytesMut::from(&b"file.txt\n"[..]);
/// let mut state = s.decode_state();
/// assert_eq!(s.decode(&mut state, &mut reply).unwrap().as_deref(), Some("file.txt"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StapledSerializer<Tx, Rx> {
    sender: Tx,
    receiver: Rx,
}

impl<Tx, Rx> StapledSerializer<Tx, Rx> {
    /// Joins a sending serializer and a receiving serializer.
    pub fn new(sender: Tx, receiver: Rx) -> Self {
        Self { sender, receiver }
    }

    /// The serializer used to send.
    pub fn sender(&self) -> &Tx {
        &self.sender
    }

    /// The serializer used to receive.
    pub fn receiver(&self) -> &Rx {
        &self.receiver
    }
}

impl<Tx: DatagramSerializer, Rx: DatagramSerializer> DatagramSerializer
    for StapledSerializer<Tx, Rx>
{
    type Sent = Tx::Sent;
    type Received = Rx::Received;

    fn serialize(&self, packet: &Tx::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.sender.serialize(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Rx::Received, DeserializeError> {
        self.receiver.deserialize(datagram)
    }
}

impl<Tx: StreamSerializer, Rx: StreamSerializer> StreamSerializer for StapledSerializer<Tx, Rx> {
    type Sent = Tx::Sent;
    type Received = Rx::Received;
    type DecodeState = Rx::DecodeState;

    fn decode_state(&self) -> Rx::DecodeState {
        self.receiver.decode_state()
    }

    fn encode(&self, packet: &Tx::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.sender.encode(packet, dst)
    }

    fn decode(
        &self,
        state: &mut Rx::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Rx::Received>, DeserializeError> {
        self.receiver.decode(state, src)
    }

    fn decode_eof(
        &self,
        state: &mut Rx::DecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<Rx::Received>, DeserializeError> {
        self.receiver.decode_eof(state, src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LineSerializer, StructSerializer, Value};

    #[test]
    fn datagram_halves() {
        let s = StapledSerializer::new(LineSerializer::new(), StructSerializer::new("!H").unwrap());
        let mut out = BytesMut::new();
        DatagramSerializer::serialize(&s, "ping", &mut out).unwrap();
        assert_eq!(&out[..], b"ping");
        assert_eq!(s.deserialize(&[0, 7]).unwrap(), vec![Value::Int(7)]);
        assert!(s.deserialize(b"ping").is_err());
    }
}
