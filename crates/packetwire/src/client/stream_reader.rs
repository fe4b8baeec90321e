//! The receive core of the stream clients, sans-IO: the bytes received and not decoded yet,
//! the connection's [`PacketDecoder`], and the end of the stream. The blocking and async
//! clients (and anything else that turns a byte stream into packets) drive it the same way:
//!
//! ```text
//! loop {
//!     match reader.next_packet()? {      // decode from what is buffered
//!         Some(packet) => return packet,
//!         None => reader.fill_with(read)  // one read(2) / recvmsg(2) / TLS read
//!     }
//! }
//! ```
//!
//! Only the waiting differs between the shells.

use bytes::BytesMut;
use packetwire_proto::{
    PacketDecoder, RecvConverter, SendConverter, StreamProtocol, StreamSerializer,
};

use super::error::RecvPacketError;

/// The packet type a stream client sends (may be unsized, such as `str`).
pub(crate) type Sent<S, C> = <C as SendConverter<<S as StreamSerializer>::Sent>>::Sent;

/// The packet type a stream client receives.
pub(crate) type Received<S, C> = <C as RecvConverter<<S as StreamSerializer>::Received>>::Received;

/// Default receive size of the stream clients: at most this many bytes per read (64 KiB,
/// EasyNetwork's `DEFAULT_STREAM_BUFSIZE`).
pub(crate) const DEFAULT_MAX_RECV_SIZE: usize = 64 * 1024;

/// Largest receive size accepted; larger values are cut to it.
pub(crate) const MAX_MAX_RECV_SIZE: usize = 16 * 1024 * 1024;

/// A valid receive size: at least one byte, at most [`MAX_MAX_RECV_SIZE`].
pub(crate) fn clamp_recv_size(size: usize) -> usize {
    size.clamp(1, MAX_MAX_RECV_SIZE)
}

/// Bytes received but not decoded yet, the decoder, and whether the peer ended its side.
pub(crate) struct PacketReader<S: StreamSerializer, C> {
    decoder: PacketDecoder<S, C>,
    buffer: BytesMut,
    eof: bool,
    max_recv_size: usize,
}

impl<S: StreamSerializer, C> std::fmt::Debug for PacketReader<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketReader")
            .field("buffered", &self.buffer.len())
            .field("eof", &self.eof)
            .field("max_recv_size", &self.max_recv_size)
            .finish()
    }
}

impl<S, C> PacketReader<S, C>
where
    S: StreamSerializer,
    C: SendConverter<S::Sent> + RecvConverter<S::Received>,
{
    /// An empty reader for one connection. `max_recv_size` is clamped by
    /// [`clamp_recv_size`].
    pub(crate) fn new(protocol: &StreamProtocol<S, C>, max_recv_size: usize) -> Self {
        Self {
            decoder: protocol.decoder(),
            buffer: BytesMut::new(),
            eof: false,
            max_recv_size: clamp_recv_size(max_recv_size),
        }
    }

    /// How many bytes one read asks for at most.
    pub(crate) fn max_recv_size(&self) -> usize {
        self.max_recv_size
    }

    /// The bytes received and not yet decoded.
    #[cfg_attr(not(all(test, feature = "json")), allow(dead_code))]
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buffer
    }

    /// Whether the peer ended its side (bytes may still be buffered).
    #[cfg_attr(not(all(test, feature = "json")), allow(dead_code))]
    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// The next packet from the buffered bytes: `Ok(None)` means "read more".
    ///
    /// After the end of the stream, leftover bytes that do not make a packet are one
    /// [`RecvPacketError::Parse`] error, then every call is
    /// [`RecvPacketError::EndOfStream`]. A parse error drops the bad packet; the bytes after
    /// it stay for the next call.
    pub(crate) fn next_packet(&mut self) -> Result<Option<Received<S, C>>, RecvPacketError> {
        if self.eof {
            match self.decoder.decode_eof(&mut self.buffer) {
                Ok(Some(packet)) => Ok(Some(packet)),
                Ok(None) => Err(RecvPacketError::EndOfStream),
                Err(e) => Err(RecvPacketError::Parse(e)),
            }
        } else {
            self.decoder
                .decode(&mut self.buffer)
                .map_err(RecvPacketError::Parse)
        }
    }

    /// Lets `read` write up to `max_recv_size` bytes after the buffered ones and keeps what it
    /// says it wrote; zero bytes is the end of the stream. On error nothing changes (so a
    /// `WouldBlock` can be retried, and a cancelled wait loses nothing).
    pub(crate) fn fill_with<E>(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let max = self.max_recv_size;
        let result = packetwire_proto::read_via_scratch(&mut self.buffer, max, read);
        if matches!(result, Ok(0)) {
            self.eof = true;
        }
        result
    }

    /// Appends bytes received elsewhere (bytes a socket had buffered before the client took it
    /// over, or decrypted TLS data).
    pub(crate) fn extend_from_slice(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// Records the end of the stream.
    pub(crate) fn feed_eof(&mut self) {
        self.eof = true;
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use packetwire_proto::JsonSerializer;
    use serde_json::{json, Value};

    fn reader(max: usize) -> PacketReader<JsonSerializer<Value>, packetwire_proto::NoConverter> {
        PacketReader::new(&StreamProtocol::new(JsonSerializer::new()), max)
    }

    fn feed(r: &mut PacketReader<JsonSerializer<Value>, packetwire_proto::NoConverter>, b: &[u8]) {
        let n = r
            .fill_with(|room| -> Result<usize, ()> {
                let n = b.len().min(room.len());
                room[..n].copy_from_slice(&b[..n]);
                Ok(n)
            })
            .unwrap();
        assert_eq!(n, b.len());
    }

    #[test]
    fn split_packets_and_several_in_one_read() {
        let mut r = reader(1024);
        assert!(r.next_packet().unwrap().is_none());
        feed(&mut r, b"[1,");
        assert!(r.next_packet().unwrap().is_none());
        feed(&mut r, b"2]\n{\"a\":1}\n\"ex");
        assert_eq!(r.next_packet().unwrap(), Some(json!([1, 2])));
        assert_eq!(r.next_packet().unwrap(), Some(json!({"a": 1})));
        assert!(r.next_packet().unwrap().is_none());
        assert_eq!(r.buffered(), b"\"ex");
    }

    #[test]
    fn parse_error_then_next_packet_then_eof() {
        let mut r = reader(1024);
        feed(&mut r, b"{bad\n[3]\n[4");
        assert!(matches!(r.next_packet(), Err(RecvPacketError::Parse(_))));
        assert_eq!(r.next_packet().unwrap(), Some(json!([3])));
        assert!(r.next_packet().unwrap().is_none());
        // End of stream: the leftover "[4" is one parse error, then EndOfStream for good.
        assert_eq!(r.fill_with(|_| -> Result<usize, ()> { Ok(0) }), Ok(0));
        assert!(r.is_eof());
        assert!(matches!(r.next_packet(), Err(RecvPacketError::Parse(_))));
        assert!(matches!(r.next_packet(), Err(RecvPacketError::EndOfStream)));
        assert!(matches!(r.next_packet(), Err(RecvPacketError::EndOfStream)));
    }

    #[test]
    fn failed_reads_and_the_recv_size() {
        let mut r = reader(4);
        assert_eq!(r.max_recv_size(), 4);
        assert!(r
            .fill_with(|room| {
                assert_eq!(room.len(), 4);
                Err::<usize, _>("would block")
            })
            .is_err());
        assert!(r.buffered().is_empty());
        assert!(!r.is_eof());
        assert_eq!(reader(0).max_recv_size(), 1);
    }
}
