//! What a server needs of a protocol object, as object-safe traits over the request and
//! response types, implemented by proto's [`StreamProtocol`] and [`DatagramProtocol`].

use bytes::BytesMut;
use packetwire_proto::{
    BuildError, DatagramProtocol, DatagramSerializer, PacketDecoder, ParseError, RecvConverter,
    SendConverter, StreamProtocol, StreamSerializer,
};

/// A stream protocol as a server uses it: requests of type `Req` in, responses of type `Resp`
/// out. Implemented by [`StreamProtocol`] whose received packets are `Req` and sent packets
/// `Resp`, including one over a run-time codec
/// ([`CodecSpec::stream_protocol`](packetwire_proto::dynamic::CodecSpec::stream_protocol)).
pub trait ServerStreamProtocol<Req, Resp: ?Sized>: Send + Sync + 'static {
    /// Appends one framed response to `dst`.
    fn encode(&self, packet: &Resp, dst: &mut BytesMut) -> Result<(), BuildError>;

    /// A decoder for one connection.
    fn new_decoder(&self) -> Box<dyn StreamRequestDecoder<Req>>;
}

/// The per-connection decoding state of a [`ServerStreamProtocol`].
pub trait StreamRequestDecoder<Req>: Send {
    /// See [`PacketDecoder::decode`].
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Req>, ParseError>;

    /// See [`PacketDecoder::decode_eof`].
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Req>, ParseError>;
}

/// A datagram protocol as a server uses it. Implemented by [`DatagramProtocol`], including
/// one over a run-time codec
/// ([`CodecSpec::datagram_protocol`](packetwire_proto::dynamic::CodecSpec::datagram_protocol)).
pub trait ServerDatagramProtocol<Req, Resp: ?Sized>: Send + Sync + 'static {
    /// Appends one serialized response to `dst`.
    fn encode(&self, packet: &Resp, dst: &mut BytesMut) -> Result<(), BuildError>;

    /// Decodes one datagram.
    fn decode(&self, datagram: &[u8]) -> Result<Req, ParseError>;
}

impl<S, C>
    ServerStreamProtocol<
        <C as RecvConverter<S::Received>>::Received,
        <C as SendConverter<S::Sent>>::Sent,
    > for StreamProtocol<S, C>
where
    S: StreamSerializer + 'static,
    S::DecodeState: 'static,
    C: SendConverter<S::Sent> + RecvConverter<S::Received> + Send + Sync + 'static,
{
    fn encode(
        &self,
        packet: &<C as SendConverter<S::Sent>>::Sent,
        dst: &mut BytesMut,
    ) -> Result<(), BuildError> {
        StreamProtocol::encode(self, packet, dst)
    }

    fn new_decoder(
        &self,
    ) -> Box<dyn StreamRequestDecoder<<C as RecvConverter<S::Received>>::Received>> {
        Box::new(self.decoder())
    }
}

impl<S, C> StreamRequestDecoder<<C as RecvConverter<S::Received>>::Received> for PacketDecoder<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received> + Send + Sync,
{
    fn decode(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<<C as RecvConverter<S::Received>>::Received>, ParseError> {
        PacketDecoder::decode(self, src)
    }

    fn decode_eof(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<<C as RecvConverter<S::Received>>::Received>, ParseError> {
        PacketDecoder::decode_eof(self, src)
    }
}

impl<S, C>
    ServerDatagramProtocol<
        <C as RecvConverter<S::Received>>::Received,
        <C as SendConverter<S::Sent>>::Sent,
    > for DatagramProtocol<S, C>
where
    S: DatagramSerializer + 'static,
    C: SendConverter<S::Sent> + RecvConverter<S::Received> + Send + Sync + 'static,
{
    fn encode(
        &self,
        packet: &<C as SendConverter<S::Sent>>::Sent,
        dst: &mut BytesMut,
    ) -> Result<(), BuildError> {
        DatagramProtocol::encode(self, packet, dst)
    }

    fn decode(
        &self,
        datagram: &[u8],
    ) -> Result<<C as RecvConverter<S::Received>>::Received, ParseError> {
        DatagramProtocol::decode(self, datagram)
    }
}
