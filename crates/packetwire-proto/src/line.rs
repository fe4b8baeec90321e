//! String lines, byte-compatible with EasyNetwork's `StringLineSerializer`.

use bytes::BytesMut;

use crate::error::{DeserializeError, SerializeError};
use crate::framing::{finish_separated, SeparatorScanner};
use crate::serializer::{rollback_on_error, DatagramSerializer, StreamSerializer, DEFAULT_LIMIT};

/// The line ending of a [`LineSerializer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Newline {
    /// `\n` (the default).
    #[default]
    Lf,
    /// `\r`.
    Cr,
    /// `\r\n`.
    CrLf,
}

impl Newline {
    /// The separator's bytes.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Lf => b"\n",
            Self::Cr => b"\r",
            Self::CrLf => b"\r\n",
        }
    }
}

/// The text encoding of a [`LineSerializer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// 7-bit ASCII (EasyNetwork's default).
    #[default]
    Ascii,
    /// UTF-8.
    Utf8,
    /// ISO-8859-1: one byte per character, U+0000 to U+00FF.
    Latin1,
}

impl Encoding {
    pub(crate) fn encode(self, text: &str, dst: &mut BytesMut) -> Result<(), SerializeError> {
        match self {
            Self::Utf8 => dst.extend_from_slice(text.as_bytes()),
            Self::Ascii => {
                if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
                    return Err(SerializeError::new(format!(
                        "character {c:?} cannot be encoded in ASCII"
                    )));
                }
                dst.extend_from_slice(text.as_bytes());
            }
            Self::Latin1 => {
                dst.reserve(text.len());
                for c in text.chars() {
                    let byte = u8::try_from(u32::from(c)).map_err(|_| {
                        SerializeError::new(format!("character {c:?} cannot be encoded in latin-1"))
                    })?;
                    dst.extend_from_slice(&[byte]);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn decode(self, bytes: &[u8]) -> Result<String, DeserializeError> {
        match self {
            Self::Utf8 => std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|e| DeserializeError::invalid("unicode decode error").with_source(e)),
            Self::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
                None => Ok(std::str::from_utf8(bytes)
                    .expect("ASCII is UTF-8")
                    .to_owned()),
                Some(at) => Err(DeserializeError::invalid(format!(
                    "unicode decode error: byte 0x{:02x} at position {at} is not ASCII",
                    bytes[at]
                ))),
            },
            Self::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        }
    }
}

/// Text lines: packets are `str` when sent and `String` when received.
///
/// * Streams: the encoded text and the line ending. A line that already ends with the line
///   ending is not given a second one.
/// * Datagrams: the encoded text; trailing line endings are stripped on receipt unless
///   [`keep_end`](Self::with_keep_end) is set.
///
/// Two deliberate differences from EasyNetwork, both about what is *sent* (every line this
/// serializer sends, EasyNetwork decodes): an empty string is sent as a bare line ending (one
/// empty packet) instead of nothing, and a line ending inside the text is an error instead of
/// silently becoming two packets.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{Encoding, LineSerializer, Newline, StreamSerializer};
///
/// let s = LineSerializer::new().with_newline(Newline::CrLf).with_encoding(Encoding::Utf8);
/// let mut wire = BytesMut::new();
/// s.encode("héllo", &mut wire).unwrap();
/// assert_eq!(&wire[..], "héllo\r\n".as_bytes());
/// let mut state = s.decode_state();
/// assert_eq!(s.decode(&mut state, &mut wire).unwrap().as_deref(), Some("héllo"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LineSerializer {
    newline: Newline,
    encoding: Encoding,
    keep_end: bool,
    limit: usize,
}

impl Default for LineSerializer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineSerializer {
    /// EasyNetwork's defaults: LF, ASCII, line ending stripped, 64 KiB limit.
    pub fn new() -> Self {
        Self {
            newline: Newline::Lf,
            encoding: Encoding::Ascii,
            keep_end: false,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Sets the line ending.
    pub fn with_newline(mut self, newline: Newline) -> Self {
        self.newline = newline;
        self
    }

    /// Sets the text encoding.
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Whether received lines keep their line ending.
    pub fn with_keep_end(mut self, keep_end: bool) -> Self {
        self.keep_end = keep_end;
        self
    }

    /// Sets the maximum line length (line ending excluded), in bytes.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The limit in force, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl DatagramSerializer for LineSerializer {
    type Sent = str;
    type Received = String;

    fn serialize(&self, packet: &str, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| self.encoding.encode(packet, dst))
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<String, DeserializeError> {
        let mut data = datagram;
        if !self.keep_end {
            let sep = self.newline.as_bytes();
            while let Some(rest) = data.strip_suffix(sep) {
                data = rest;
            }
        }
        self.encoding.decode(data)
    }
}

impl StreamSerializer for LineSerializer {
    type Sent = str;
    type Received = String;
    type DecodeState = SeparatorScanner;

    fn decode_state(&self) -> SeparatorScanner {
        SeparatorScanner::new()
    }

    fn encode(&self, packet: &str, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| {
            let start = dst.len();
            self.encoding.encode(packet, dst)?;
            finish_separated(dst, start, self.newline.as_bytes(), true)
        })
    }

    fn decode(
        &self,
        state: &mut SeparatorScanner,
        src: &mut BytesMut,
    ) -> Result<Option<String>, DeserializeError> {
        match state.next_frame(src, self.newline.as_bytes(), self.limit)? {
            Some(frame) => {
                let text = if self.keep_end {
                    &frame.bytes[..]
                } else {
                    frame.payload()
                };
                self.encoding.decode(text).map(Some)
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeserializeErrorKind;

    #[test]
    fn latin1_bad_line_then_valid_line() {
        // EasyNetwork's client test: "é\nvalid\n" in latin-1 read as ASCII.
        let s = LineSerializer::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&b"\xe9\nvalid\n"[..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert_eq!(&buf[..], b"valid\n");
        assert_eq!(
            s.decode(&mut state, &mut buf).unwrap().as_deref(),
            Some("valid")
        );
    }

    #[test]
    fn keep_end_and_datagram_strip() {
        let s = LineSerializer::new().with_keep_end(true);
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&b"a\n"[..]);
        assert_eq!(
            s.decode(&mut state, &mut buf).unwrap().as_deref(),
            Some("a\n")
        );
        let s = LineSerializer::new().with_newline(Newline::CrLf);
        assert_eq!(s.deserialize(b"x\r\n\r\n").unwrap(), "x");
    }

    #[test]
    fn encode_rules() {
        let s = LineSerializer::new();
        let mut buf = BytesMut::new();
        s.encode("", &mut buf).unwrap();
        s.encode("end\n", &mut buf).unwrap();
        assert_eq!(&buf[..], b"\nend\n");
        assert!(s.encode("a\nb", &mut buf).is_err());
        assert!(s.encode("é", &mut buf).is_err());
        assert_eq!(
            &buf[..],
            b"\nend\n",
            "failed encodes leave the buffer alone"
        );
        let latin = LineSerializer::new().with_encoding(Encoding::Latin1);
        let mut buf = BytesMut::new();
        latin.encode("é", &mut buf).unwrap();
        assert_eq!(&buf[..], b"\xe9\n");
        assert!(latin.encode("€", &mut buf).is_err());
    }

    #[test]
    fn overrun_cr_lf_utf8() {
        for nl in [Newline::Lf, Newline::Cr, Newline::CrLf] {
            let s = LineSerializer::new()
                .with_newline(nl)
                .with_encoding(Encoding::Utf8)
                .with_limit(4);
            let sep = nl.as_bytes();
            let mut state = s.decode_state();
            let mut buf = BytesMut::from(&b"toolong"[..]);
            let e = s.decode(&mut state, &mut buf).unwrap_err();
            assert_eq!(e.kind(), DeserializeErrorKind::LimitExceeded { limit: 4 });
            buf.extend_from_slice(b"tail");
            buf.extend_from_slice(sep);
            buf.extend_from_slice(b"ok");
            buf.extend_from_slice(sep);
            assert_eq!(
                s.decode(&mut state, &mut buf).unwrap().as_deref(),
                Some("ok"),
                "{nl:?}"
            );
        }
    }
}
