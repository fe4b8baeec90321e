//! Serializer wrappers: they stack on any one-shot serializer and are themselves one-shot and
//! stream serializers (EasyNetwork's `serializers/wrapper/`).
//!
//! * `base64`: base64 text with an optional SHA-256 checksum or HMAC-SHA256, framed by a
//!   separator on streams (feature `base64`).
//! * `compress`: zlib, bzip2 and zstd compression, with back-to-back compressed streams on a
//!   byte stream (features `zlib`, `bz2`, `zstd`).

#[cfg(feature = "base64")]
pub(crate) mod base64;

#[cfg(any(feature = "zlib", feature = "bz2", feature = "zstd"))]
pub(crate) mod compress;

/// Serializers shared by the wrappers' tests.
#[cfg(all(
    test,
    any(
        feature = "base64",
        feature = "zlib",
        feature = "bz2",
        feature = "zstd"
    )
))]
pub(crate) mod testing {
    use bytes::BytesMut;

    use crate::error::{DeserializeError, SerializeError};
    use crate::serializer::DatagramSerializer;

    /// Bytes as they are; refuses to deserialize the payload `b"reject"`.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Raw;

    impl DatagramSerializer for Raw {
        type Sent = [u8];
        type Received = Vec<u8>;

        fn serialize(&self, packet: &[u8], dst: &mut BytesMut) -> Result<(), SerializeError> {
            dst.extend_from_slice(packet);
            Ok(())
        }

        fn deserialize(&self, datagram: &[u8]) -> Result<Vec<u8>, DeserializeError> {
            if datagram == b"reject" {
                return Err(DeserializeError::invalid("Raw refuses b\"reject\""));
            }
            Ok(datagram.to_vec())
        }
    }
}
