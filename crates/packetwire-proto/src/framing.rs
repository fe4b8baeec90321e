//! Separator framing: finding packet boundaries in a byte buffer.
//!
//! [`SeparatorScanner`] is the resumable, bounded search every separator-based serializer uses
//! (JSON lines, string lines, base64); [`Separated`] turns any one-shot serializer into a stream
//! serializer by appending a separator (EasyNetwork's `AutoSeparatedPacketSerializer`).

use bytes::{Buf, BytesMut};

use crate::error::{DeserializeError, SerializeError};
use crate::serializer::{rollback_on_error, DatagramSerializer, StreamSerializer, DEFAULT_LIMIT};

/// Resumable search for a separator, with a limit on the payload length.
///
/// The scanner remembers how far it has searched, so feeding a long line byte by byte is linear.
/// The limit is EasyNetwork's `read_until` rule: a payload (the bytes before the separator) of
/// at most `limit` bytes is accepted.
///
/// When a frame is too long, the scanner reports it once and then skips everything up to and
/// including the next separator, so the tail of the oversized frame is never parsed as a packet
/// of its own. (EasyNetwork discards only what was buffered and parses the tail as a new frame.)
#[derive(Debug, Clone, Default)]
pub struct SeparatorScanner {
    /// Bytes at the front of the buffer already known not to start a separator.
    scanned: usize,
    /// Skipping the rest of an oversized frame.
    discarding: bool,
}

/// One frame found by [`SeparatorScanner::next_frame`].
#[derive(Debug)]
pub struct Frame {
    /// The frame's bytes, separator included.
    pub bytes: BytesMut,
    /// The payload length: `bytes[..payload_len]` is the frame without its separator.
    pub payload_len: usize,
}

impl Frame {
    /// The payload, without the separator.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..self.payload_len]
    }
}

impl SeparatorScanner {
    /// A scanner at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the scanner is skipping the tail of an oversized frame.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Takes the next frame ending with `separator` from the front of `src`.
    ///
    /// Returns `Ok(None)` when no whole frame is buffered. A frame whose payload is longer than
    /// `limit` is removed from `src` and reported as a recoverable
    /// [`LimitExceeded`](crate::DeserializeErrorKind::LimitExceeded) error; when its separator has
    /// not arrived yet, the buffered bytes are dropped and the rest of the frame is skipped as it
    /// arrives.
    ///
    /// # Panics
    /// If `separator` is empty.
    pub fn next_frame(
        &mut self,
        src: &mut BytesMut,
        separator: &[u8],
        limit: usize,
    ) -> Result<Option<Frame>, DeserializeError> {
        assert!(!separator.is_empty(), "separator must not be empty");
        loop {
            // Resume a little before the end of the scanned part: a separator may straddle it.
            let start = self.scanned.min(src.len());
            match find(&src[start..], separator) {
                Some(pos) => {
                    let payload_len = start + pos;
                    let frame_len = payload_len + separator.len();
                    self.scanned = 0;
                    if self.discarding {
                        self.discarding = false;
                        src.advance(frame_len);
                        continue;
                    }
                    let bytes = src.split_to(frame_len);
                    if payload_len > limit {
                        return Err(DeserializeError::limit_exceeded(
                            limit,
                            format!(
                                "separator found, but the frame ({payload_len} bytes) is longer \
                                 than the limit ({limit} bytes)"
                            ),
                        ));
                    }
                    return Ok(Some(Frame { bytes, payload_len }));
                }
                None => {
                    // Keep the bytes that could be the start of a separator.
                    let keep = separator.len() - 1;
                    let safe = src.len().saturating_sub(keep);
                    if self.discarding {
                        src.advance(safe);
                        self.scanned = 0;
                        return Ok(None);
                    }
                    if safe > limit {
                        src.advance(safe);
                        self.scanned = 0;
                        self.discarding = true;
                        return Err(DeserializeError::limit_exceeded(
                            limit,
                            format!(
                                "separator not found, and the frame exceeds the limit \
                                 ({limit} bytes): skipping to the next separator"
                            ),
                        ));
                    }
                    self.scanned = safe;
                    return Ok(None);
                }
            }
        }
    }
}

/// Position of the first occurrence of `needle` in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [] => Some(0),
        [b] => haystack.iter().position(|c| c == b),
        [first, rest @ ..] => {
            let mut offset = 0;
            while let Some(pos) = haystack[offset..].iter().position(|c| c == first) {
                let at = offset + pos;
                let tail = &haystack[at + 1..];
                if tail.len() < rest.len() {
                    return None;
                }
                if tail.starts_with(rest) {
                    return Some(at);
                }
                offset = at + 1;
            }
            None
        }
    }
}

/// Turns a one-shot serializer into a stream serializer by ending each packet with a separator
/// (EasyNetwork's `AutoSeparatedPacketSerializer`).
///
/// Encoding: the inner serializer's output, then the separator. Trailing separators the inner
/// serializer produced are not doubled; a separator anywhere else in the output is a
/// [`SerializeError`], since the receiver would see two packets.
///
/// Decoding: bytes up to the separator are handed to the inner one-shot `deserialize`; a
/// failure there is a recoverable error and the next packet follows. Payloads longer than the
/// limit ([`DEFAULT_LIMIT`] by default) are skipped as [`SeparatorScanner`] describes.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{DatagramSerializer, DeserializeError, SerializeError, Separated,
///     StreamSerializer};
///
/// /// Bytes as they are.
/// struct Raw;
/// impl DatagramSerializer for Raw {
///     type Sent = [u8];
///     type Received = Vec<u8>;
///     fn serialize(&self, p: &[u8], dst: &mut BytesMut) -> Result<(), SerializeError> {
///         dst.extend_from_slice(p);
///         Ok(())
///     }
///     fn deserialize(&self, d: &[u8]) -> Result<Vec<u8>, DeserializeError> {
///         Ok(d.to_vec())
///     }
/// }
///
/// let s = Separated::new(Raw, b"\r\n").unwrap();
/// let mut wire = BytesMut::new();
/// s.encode(b"hello", &mut wire).unwrap();
/// assert_eq!(&wire[..], b"hello\r\n");
/// let mut state = s.decode_state();
/// assert_eq!(s.decode(&mut state, &mut wire).unwrap().unwrap(), b"hello");
/// ```
#[derive(Debug, Clone)]
pub struct Separated<S> {
    inner: S,
    separator: Box<[u8]>,
    limit: usize,
    check_separator: bool,
}

impl<S> Separated<S> {
    /// Frames `inner`'s output with `separator`. Fails if the separator is empty.
    pub fn new(inner: S, separator: &[u8]) -> Result<Self, SerializeError> {
        if separator.is_empty() {
            return Err(SerializeError::new("the separator must not be empty"));
        }
        Ok(Self {
            inner,
            separator: separator.into(),
            limit: DEFAULT_LIMIT,
            check_separator: true,
        })
    }

    /// Sets the maximum payload length, in bytes.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Whether to reject serialized output that contains the separator (on by default). Turn
    /// it off only when the inner format can never contain it: it saves a scan of each packet.
    pub fn with_separator_check(mut self, check: bool) -> Self {
        self.check_separator = check;
        self
    }

    /// The separator.
    pub fn separator(&self) -> &[u8] {
        &self.separator
    }

    /// The payload limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The wrapped one-shot serializer.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

/// Appends `separator` after the payload that starts at `start` in `dst`, applying the
/// auto-separated rules: trailing separators are not doubled and, when `check` is set, a
/// separator inside the payload is an error.
pub(crate) fn finish_separated(
    dst: &mut BytesMut,
    start: usize,
    separator: &[u8],
    check: bool,
) -> Result<(), SerializeError> {
    let mut end = dst.len();
    while end - start >= separator.len() && dst[start..end].ends_with(separator) {
        end -= separator.len();
    }
    if check && find(&dst[start..end], separator).is_some() {
        return Err(SerializeError::new(
            "the serialized packet contains the separator: the peer would see several packets",
        ));
    }
    if end == dst.len() {
        dst.extend_from_slice(separator);
    } else {
        // Keep exactly one of the trailing separators.
        dst.truncate(end + separator.len());
    }
    Ok(())
}

impl<S: DatagramSerializer> DatagramSerializer for Separated<S> {
    type Sent = S::Sent;
    type Received = S::Received;

    fn serialize(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.inner.serialize(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Self::Received, DeserializeError> {
        self.inner.deserialize(datagram)
    }
}

impl<S: DatagramSerializer> StreamSerializer for Separated<S> {
    type Sent = S::Sent;
    type Received = S::Received;
    type DecodeState = SeparatorScanner;

    fn decode_state(&self) -> SeparatorScanner {
        SeparatorScanner::new()
    }

    fn encode(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| {
            let start = dst.len();
            self.inner.serialize(packet, dst)?;
            finish_separated(dst, start, &self.separator, self.check_separator)
        })
    }

    fn decode(
        &self,
        state: &mut SeparatorScanner,
        src: &mut BytesMut,
    ) -> Result<Option<Self::Received>, DeserializeError> {
        match state.next_frame(src, &self.separator, self.limit)? {
            Some(frame) => self.inner.deserialize(frame.payload()).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeserializeErrorKind;

    #[test]
    fn find_multi_byte() {
        assert_eq!(find(b"abc\r\ndef", b"\r\n"), Some(3));
        assert_eq!(find(b"abc\r", b"\r\n"), None);
        assert_eq!(find(b"\r\r\n", b"\r\n"), Some(1));
        assert_eq!(find(b"", b"\n"), None);
    }

    fn frames(input: &[&[u8]], sep: &[u8], limit: usize) -> Vec<Result<Vec<u8>, usize>> {
        let mut scanner = SeparatorScanner::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in input {
            buf.extend_from_slice(chunk);
            loop {
                match scanner.next_frame(&mut buf, sep, limit) {
                    Ok(Some(f)) => out.push(Ok(f.payload().to_vec())),
                    Ok(None) => break,
                    Err(e) => match e.kind() {
                        DeserializeErrorKind::LimitExceeded { .. } => out.push(Err(buf.len())),
                        k => panic!("unexpected {k}"),
                    },
                }
            }
        }
        out
    }

    #[test]
    fn crlf_split_across_chunks() {
        let got = frames(&[b"ab\r", b"\ncd\r\n"], b"\r\n", 64);
        assert_eq!(got, vec![Ok(b"ab".to_vec()), Ok(b"cd".to_vec())]);
    }

    #[test]
    fn payload_of_exactly_limit_is_accepted() {
        let got = frames(&[b"01234567\n"], b"\n", 8);
        assert_eq!(got, vec![Ok(b"01234567".to_vec())]);
    }

    #[test]
    fn overrun_with_separator_keeps_rest() {
        // EasyNetwork's verified example: limit 8, remaining data "rest".
        let mut scanner = SeparatorScanner::new();
        let mut buf = BytesMut::from(&b"0123456789abcdef\nrest"[..]);
        let err = scanner.next_frame(&mut buf, b"\n", 8).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::LimitExceeded { limit: 8 });
        assert!(err.is_recoverable());
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn overrun_without_separator_skips_tail() {
        let got = frames(&[b"0123456789", b"abcdef", b"ghi\nok\n"], b"\n", 8);
        // One error for the oversized line, then its tail is skipped, then "ok".
        assert_eq!(got, vec![Err(0), Ok(b"ok".to_vec())]);
    }

    #[test]
    fn overrun_keeps_partial_separator() {
        let mut scanner = SeparatorScanner::new();
        let mut buf = BytesMut::from(&b"0123456789\r"[..]);
        assert!(scanner.next_frame(&mut buf, b"\r\n", 4).is_err());
        assert_eq!(&buf[..], b"\r");
        buf.extend_from_slice(b"\nnext\r\n");
        let f = scanner.next_frame(&mut buf, b"\r\n", 4).unwrap().unwrap();
        assert_eq!(f.payload(), b"next");
    }

    #[test]
    fn byte_by_byte_is_resumable() {
        let input = b"hello world\nsecond\n";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let got = frames(&chunks, b"\n", 64);
        assert_eq!(
            got,
            vec![Ok(b"hello world".to_vec()), Ok(b"second".to_vec())]
        );
    }

    #[test]
    fn finish_separated_rules() {
        let mut b = BytesMut::from(&b"abc\n\n"[..]);
        finish_separated(&mut b, 0, b"\n", true).unwrap();
        assert_eq!(&b[..], b"abc\n");
        let mut b = BytesMut::from(&b"a\nb"[..]);
        assert!(finish_separated(&mut b, 0, b"\n", true).is_err());
        let mut b = BytesMut::from(&b"xx"[..]);
        finish_separated(&mut b, 2, b"\n", true).unwrap();
        assert_eq!(&b[..], b"xx\n");
    }
}
