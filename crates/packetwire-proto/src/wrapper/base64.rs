//! Base64 wrapper, byte-compatible with EasyNetwork's `Base64EncoderSerializer`.

use std::fmt;
use std::io;

use ::base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ::base64::Engine as _;
use bytes::BytesMut;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{DeserializeError, DeserializeErrorKind, SerializeError};
use crate::framing::{finish_separated, SeparatorScanner};
use crate::serializer::{rollback_on_error, DatagramSerializer, StreamSerializer, DEFAULT_LIMIT};

/// Length of a SHA-256 digest, and of an HMAC-SHA256 key.
const DIGEST_LEN: usize = 32;

/// The message of every decoding failure, as EasyNetwork words it.
const INVALID_TOKEN: &str = "Invalid token";

/// Which base64 alphabet [`Base64Wrapper`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Base64Alphabet {
    /// RFC 4648 §5, URL- and filename-safe: `-` and `_` for 62 and 63 (EasyNetwork's default,
    /// `alphabet="urlsafe"`). When decoding, `+` and `/` are accepted as well, as Python's
    /// `urlsafe_b64decode` does.
    #[default]
    UrlSafe,
    /// RFC 4648 §4: `+` and `/` (`alphabet="standard"`). When decoding, `-` and `_` are foreign
    /// bytes and are skipped.
    Standard,
}

/// The digest [`Base64Wrapper`] appends to each payload before encoding it.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Base64Checksum {
    /// No digest (EasyNetwork's `checksum=False`).
    #[default]
    None,
    /// The raw 32-byte SHA-256 of the payload (`checksum=True`): detects corruption, not
    /// tampering.
    Sha256,
    /// The raw 32-byte HMAC-SHA256 of the payload under this key (`checksum=<key>`): only holders
    /// of the key can produce packets that decode. Build it from the text form of the key with
    /// [`hmac_key`](Self::hmac_key).
    Hmac([u8; DIGEST_LEN]),
}

impl fmt::Debug for Base64Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Sha256 => f.write_str("Sha256"),
            // Never print the key.
            Self::Hmac(_) => f.write_str("Hmac(<secret key>)"),
        }
    }
}

impl Base64Checksum {
    /// An HMAC-SHA256 checksum with a key given as EasyNetwork takes it: text (or bytes) that
    /// URL-safe-base64-decodes to exactly 32 bytes, such as the output of
    /// [`Base64Wrapper::generate_key`].
    ///
    /// Decoding is as lenient as Python's `base64.urlsafe_b64decode`: bytes outside the
    /// alphabet are skipped and decoding stops at the padding (non-ASCII characters are skipped
    /// too, where Python rejects a `str` key holding them). A key that does not decode, or
    /// decodes to another length, is an error (Python's `ValueError`).
    ///
    /// ```
    /// use packetwire_proto::Base64Checksum;
    ///
    /// assert!(Base64Checksum::hmac_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_ok());
    /// assert!(Base64Checksum::hmac_key("c2hvcnQ=").is_err());
    /// ```
    pub fn hmac_key(key: impl AsRef<[u8]>) -> Result<Self, SerializeError> {
        let invalid =
            || SerializeError::new("signing key must be 32 url-safe base64-encoded bytes");
        let mut decoded = Vec::with_capacity(DIGEST_LEN);
        decode_lenient(key.as_ref(), Base64Alphabet::UrlSafe, &mut decoded)
            .map_err(|()| invalid())?;
        let key: [u8; DIGEST_LEN] = decoded.as_slice().try_into().map_err(|_| invalid())?;
        Ok(Self::Hmac(key))
    }
}

/// The checksum ready to be computed: the HMAC is keyed once, not per packet.
#[derive(Clone)]
enum Digester {
    None,
    Sha256,
    Hmac(Hmac<Sha256>),
}

impl Digester {
    fn new(checksum: &Base64Checksum) -> Self {
        match checksum {
            Base64Checksum::None => Self::None,
            Base64Checksum::Sha256 => Self::Sha256,
            Base64Checksum::Hmac(key) => {
                // HMAC pads keys shorter than the hash's block with zeros (RFC 2104 §2): doing
                // it here uses the infallible fixed-size constructor.
                let mut block = Key::<Hmac<Sha256>>::default();
                block[..DIGEST_LEN].copy_from_slice(key);
                Self::Hmac(<Hmac<Sha256> as KeyInit>::new(&block))
            }
        }
    }

    /// Appends the digest of `data` to it.
    fn append_digest(&self, data: &mut BytesMut) {
        match self {
            Self::None => {}
            Self::Sha256 => {
                let digest = Sha256::digest(&data[..]);
                data.extend_from_slice(&digest);
            }
            Self::Hmac(mac) => {
                let digest = mac.clone().chain_update(&data[..]).finalize().into_bytes();
                data.extend_from_slice(&digest);
            }
        }
    }

    /// Splits `data` into payload and digest and checks the digest in constant time.
    fn verify<'a>(&self, data: &'a [u8]) -> Result<&'a [u8], DeserializeError> {
        // As Python's `data[:-32], data[-32:]`: a token shorter than a digest has an empty
        // payload and a short digest, which cannot match.
        let (payload, digest) = data.split_at(data.len().saturating_sub(DIGEST_LEN));
        let expected = match self {
            Self::None => return Ok(data),
            Self::Sha256 => Sha256::digest(payload),
            Self::Hmac(mac) => mac.clone().chain_update(payload).finalize().into_bytes(),
        };
        if bool::from(expected.as_slice().ct_eq(digest)) {
            Ok(payload)
        } else {
            Err(DeserializeError::new(
                DeserializeErrorKind::Integrity,
                INVALID_TOKEN,
            ))
        }
    }
}

/// Base64 wrapper: EasyNetwork's `Base64EncoderSerializer`.
///
/// Wraps any one-shot serializer `S`. A packet is `S`'s output, followed by a 32-byte digest if
/// a [`Base64Checksum`] is set (SHA-256 of the payload, or HMAC-SHA256 under a shared key),
/// encoded in padded base64 ([`Base64Alphabet::UrlSafe`] by default).
///
/// * Datagram: the base64 text.
/// * Stream: the base64 text and a separator (`\r\n` by default). The separator must not be
///   made of base64 characters; when it is all ASCII whitespace (Python's `bytes.isspace`) the
///   output is not scanned for it, as EasyNetwork does.
///
/// Decoding follows Python's non-validating `b64decode`: bytes outside the alphabet are skipped,
/// decoding stops at the first complete padding, and only a missing padding (or a lone extra
/// character) is an error. The digest is then compared in constant time. Any failure is a
/// recoverable error with EasyNetwork's message "Invalid token": kind
/// [`Invalid`](DeserializeErrorKind::Invalid) for text that does not decode,
/// [`Integrity`](DeserializeErrorKind::Integrity) for a digest that does not match. Errors of
/// `S` are passed through; on a stream, the next packet follows in every case.
///
/// On a stream the limit ([`DEFAULT_LIMIT`] by default) applies to the base64 text of one packet
/// (so the payload can be about ¾ of it, minus 32 bytes with a checksum); longer lines are
/// reported and skipped as [`SeparatorScanner`] describes. Datagrams have no limit: their size
/// is bounded by the socket, and decoding only shrinks them.
///
/// Unlike EasyNetwork, a packet whose text is empty (an empty payload without checksum) is sent
/// as a bare separator, so the peer receives an empty packet, where EasyNetwork sends nothing.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{Base64Checksum, Base64Wrapper, JsonSerializer, StreamSerializer};
/// use serde_json::json;
///
/// let key = Base64Wrapper::generate_key();
/// let signed = Base64Wrapper::new(JsonSerializer::<serde_json::Value>::new())
///     .with_checksum(Base64Checksum::hmac_key(&key).unwrap());
///
/// let mut wire = BytesMut::new();
/// signed.encode(&json!({"data": 42}), &mut wire).unwrap();
/// assert!(wire.ends_with(b"\r\n"));
///
/// let mut state = signed.decode_state();
/// assert_eq!(signed.decode(&mut state, &mut wire).unwrap(), Some(json!({"data": 42})));
///
/// // Without the checksum: byte for byte what EasyNetwork sends.
/// let plain = Base64Wrapper::new(JsonSerializer::<serde_json::Value>::new());
/// plain.encode(&json!({"data": 42}), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"eyJkYXRhIjo0Mn0=\r\n");
/// ```
#[derive(Clone)]
pub struct Base64Wrapper<S> {
    inner: S,
    alphabet: Base64Alphabet,
    checksum: Base64Checksum,
    digester: Digester,
    separator: Box<[u8]>,
    check_separator: bool,
    limit: usize,
}

impl<S: fmt::Debug> fmt::Debug for Base64Wrapper<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Base64Wrapper")
            .field("inner", &self.inner)
            .field("alphabet", &self.alphabet)
            .field("checksum", &self.checksum)
            .field("separator", &self.separator)
            .field("limit", &self.limit)
            .finish()
    }
}

/// Python's `bytes.isspace()`: not empty, and only ASCII whitespace (vertical tab included).
fn is_python_space(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
}

impl Base64Wrapper<()> {
    /// A fresh random key for [`Base64Checksum::hmac_key`]: 32 bytes from the operating
    /// system's random source, as 44 characters of padded URL-safe base64 (EasyNetwork's
    /// `generate_key`). Keep it secret.
    ///
    /// It is defined on `Base64Wrapper<()>` only so that `Base64Wrapper::generate_key()` needs
    /// no serializer type.
    ///
    /// # Panics
    /// If the operating system's random source fails (Python raises an exception there too);
    /// [`try_generate_key`](Self::try_generate_key) returns the error instead.
    pub fn generate_key() -> String {
        match Self::try_generate_key() {
            Ok(key) => key,
            Err(e) => panic!("cannot generate a key: {e}"),
        }
    }

    /// [`generate_key`](Self::generate_key), returning the random source's failure as an error.
    pub fn try_generate_key() -> io::Result<String> {
        let mut key = [0u8; DIGEST_LEN];
        getrandom::getrandom(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(URL_SAFE.encode(key))
    }
}

impl<S> Base64Wrapper<S> {
    /// Wraps `inner` with EasyNetwork's defaults: URL-safe alphabet, no checksum, `\r\n`
    /// separator, [`DEFAULT_LIMIT`].
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            alphabet: Base64Alphabet::UrlSafe,
            checksum: Base64Checksum::None,
            digester: Digester::None,
            separator: Box::from(&b"\r\n"[..]),
            check_separator: false,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Sets the alphabet (both ends must agree).
    pub fn with_alphabet(mut self, alphabet: Base64Alphabet) -> Self {
        self.alphabet = alphabet;
        self
    }

    /// Sets the checksum (both ends must agree).
    pub fn with_checksum(mut self, checksum: Base64Checksum) -> Self {
        self.digester = Digester::new(&checksum);
        self.checksum = checksum;
        self
    }

    /// Sets the stream separator. Fails if it is empty (Python's `ValueError`).
    ///
    /// A separator that is not all whitespace is searched for in each encoded packet, and a
    /// packet that contains it cannot be sent; it must not use base64 characters or `=`.
    pub fn with_separator(mut self, separator: &[u8]) -> Result<Self, SerializeError> {
        if separator.is_empty() {
            return Err(SerializeError::new("the separator must not be empty"));
        }
        self.check_separator = !is_python_space(separator);
        self.separator = separator.into();
        Ok(self)
    }

    /// Sets the maximum length, in bytes, of one packet's base64 text on a stream.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The alphabet.
    pub fn alphabet(&self) -> Base64Alphabet {
        self.alphabet
    }

    /// The checksum.
    pub fn checksum(&self) -> &Base64Checksum {
        &self.checksum
    }

    /// The stream separator.
    pub fn separator(&self) -> &[u8] {
        &self.separator
    }

    /// The limit on one packet's base64 text on a stream, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The wrapped serializer.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Encodes `data` as padded base64 at the end of `dst`.
    fn encode_text(&self, data: &[u8], dst: &mut BytesMut) -> Result<(), SerializeError> {
        let len = ::base64::encoded_len(data.len(), true)
            .ok_or_else(|| SerializeError::new("packet too large to encode in base64"))?;
        let start = dst.len();
        dst.resize(start + len, 0);
        let engine = match self.alphabet {
            Base64Alphabet::UrlSafe => &URL_SAFE,
            Base64Alphabet::Standard => &STANDARD,
        };
        let written = engine
            .encode_slice(data, &mut dst[start..])
            .map_err(|e| SerializeError::with_source("base64 encoding failed", e))?;
        dst.truncate(start + written);
        Ok(())
    }
}

impl<S: DatagramSerializer> DatagramSerializer for Base64Wrapper<S> {
    type Sent = S::Sent;
    type Received = S::Received;

    fn serialize(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        let mut payload = BytesMut::new();
        self.inner.serialize(packet, &mut payload)?;
        self.digester.append_digest(&mut payload);
        rollback_on_error(dst, |dst| self.encode_text(&payload, dst))
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Self::Received, DeserializeError> {
        let mut data = Vec::with_capacity(datagram.len() / 4 * 3 + 3);
        decode_lenient(datagram, self.alphabet, &mut data)
            .map_err(|()| DeserializeError::invalid(INVALID_TOKEN))?;
        let payload = self.digester.verify(&data)?;
        self.inner.deserialize(payload)
    }
}

impl<S: DatagramSerializer> StreamSerializer for Base64Wrapper<S> {
    type Sent = S::Sent;
    type Received = S::Received;
    type DecodeState = SeparatorScanner;

    fn decode_state(&self) -> SeparatorScanner {
        SeparatorScanner::new()
    }

    fn encode(&self, packet: &Self::Sent, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| {
            let start = dst.len();
            DatagramSerializer::serialize(self, packet, dst)?;
            finish_separated(dst, start, &self.separator, self.check_separator)
        })
    }

    fn decode(
        &self,
        state: &mut SeparatorScanner,
        src: &mut BytesMut,
    ) -> Result<Option<Self::Received>, DeserializeError> {
        match state.next_frame(src, &self.separator, self.limit)? {
            Some(frame) => DatagramSerializer::deserialize(self, frame.payload()).map(Some),
            None => Ok(None),
        }
    }
}

/// The 6-bit value of a base64 character, or `None` for a byte outside the alphabet.
fn sextet(byte: u8, alphabet: Base64Alphabet) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        // Python's urlsafe_b64decode maps `-_` to `+/` and then decodes the standard alphabet.
        b'-' if alphabet == Base64Alphabet::UrlSafe => Some(62),
        b'_' if alphabet == Base64Alphabet::UrlSafe => Some(63),
        _ => None,
    }
}

/// Decodes base64 the way CPython's `binascii.a2b_base64` does without `strict_mode` (what
/// `b64decode(validate=False)` and `urlsafe_b64decode` use), appending the bytes to `out`.
///
/// * Bytes outside the alphabet (newlines, spaces, anything else) are skipped.
/// * `=` is padding only after two or three characters of a quantum; elsewhere it is skipped.
///   Once the quantum is completed by padding, decoding stops and the rest is ignored.
/// * Unused low bits of the last character are ignored.
/// * Input that ends inside a quantum (a lone extra character, or missing padding) is an error.
fn decode_lenient(text: &[u8], alphabet: Base64Alphabet, out: &mut Vec<u8>) -> Result<(), ()> {
    // Characters seen in the current quantum (0..=3), the bits not yet output, and the padding
    // characters seen since the last character.
    let mut quantum = 0u8;
    let mut bits = 0u8;
    let mut pads = 0u8;
    for &byte in text {
        if byte == b'=' {
            if quantum >= 2 {
                pads += 1;
                if quantum + pads >= 4 {
                    return Ok(());
                }
            }
            continue;
        }
        let Some(value) = sextet(byte, alphabet) else {
            continue;
        };
        pads = 0;
        match quantum {
            0 => {
                bits = value;
                quantum = 1;
            }
            1 => {
                out.push((bits << 2) | (value >> 4));
                bits = value & 0x0f;
                quantum = 2;
            }
            2 => {
                out.push((bits << 4) | (value >> 2));
                bits = value & 0x03;
                quantum = 3;
            }
            _ => {
                out.push((bits << 6) | value);
                quantum = 0;
            }
        }
    }
    if quantum == 0 {
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrapper::testing::Raw;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn encode<S: StreamSerializer>(s: &S, packet: &S::Sent) -> Vec<u8> {
        let mut wire = BytesMut::new();
        s.encode(packet, &mut wire).unwrap();
        wire.to_vec()
    }

    /// A decoded packet, or an error's kind and the bytes left in the buffer after it.
    type Outcome<T> = Result<T, (DeserializeErrorKind, Vec<u8>)>;

    /// Feeds `chunks` one after the other, decoding after each.
    fn decode_chunks<S: StreamSerializer>(s: &S, chunks: &[&[u8]]) -> Vec<Outcome<S::Received>> {
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match s.decode(&mut state, &mut buf) {
                    Ok(Some(p)) => out.push(Ok(p)),
                    Ok(None) => break,
                    Err(e) => {
                        assert!(e.is_recoverable());
                        out.push(Err((e.kind(), buf.to_vec())));
                    }
                }
            }
        }
        out
    }

    // Reference bytes from EasyNetwork 1.2.0 under CPython 3.11:
    //   from easynetwork.serializers.wrapper import Base64EncoderSerializer as B
    //   b"".join(B(Raw(), ...).incremental_serialize(b"hi"))
    // with Raw a one-shot serializer returning the bytes as they are.
    #[test]
    fn python_vectors() {
        assert_eq!(encode(&Base64Wrapper::new(Raw), b"hi"), b"aGk=\r\n");
        assert_eq!(encode(&Base64Wrapper::new(Raw), b"\xfb\xff"), b"-_8=\r\n");
        let standard = Base64Wrapper::new(Raw).with_alphabet(Base64Alphabet::Standard);
        assert_eq!(encode(&standard, b"\xfb\xff"), b"+/8=\r\n");
        let sha = Base64Wrapper::new(Raw).with_checksum(Base64Checksum::Sha256);
        assert_eq!(
            encode(&sha, b"hi"),
            b"aGmPQ0NGZI9rlt-J3akBxRdrEKbYOWHdPBrIi1my3DJ6pA==\r\n"
        );
        // B(Raw(), checksum="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        let signed = Base64Wrapper::new(Raw).with_checksum(Base64Checksum::hmac_key(KEY).unwrap());
        assert_eq!(
            encode(&signed, b"hi"),
            b"aGn3PsfVJAsOW2PIBTKAQrqJUpFb00fGTPlqVqTvcPsmdA==\r\n"
        );
        // Datagrams: the text alone (B(...).serialize(b"hi")).
        let mut dgram = BytesMut::new();
        DatagramSerializer::serialize(&sha, b"hi", &mut dgram).unwrap();
        assert_eq!(
            &dgram[..],
            b"aGmPQ0NGZI9rlt-J3akBxRdrEKbYOWHdPBrIi1my3DJ6pA=="
        );
        // And they decode here.
        for (s, text) in [
            (
                &sha,
                &b"aGmPQ0NGZI9rlt-J3akBxRdrEKbYOWHdPBrIi1my3DJ6pA==\r\n"[..],
            ),
            (
                &signed,
                &b"aGn3PsfVJAsOW2PIBTKAQrqJUpFb00fGTPlqVqTvcPsmdA==\r\n"[..],
            ),
        ] {
            assert_eq!(decode_chunks(s, &[text]), vec![Ok(b"hi".to_vec())]);
        }
    }

    #[cfg(feature = "json")]
    #[test]
    fn python_vectors_json() {
        use crate::JsonSerializer;
        use serde_json::{json, Value};
        // b"".join(B(JSONSerializer()).incremental_serialize({"data": 42}))
        let s = Base64Wrapper::new(JsonSerializer::<Value>::new());
        assert_eq!(encode(&s, &json!({"data": 42})), b"eyJkYXRhIjo0Mn0=\r\n");
        let got = decode_chunks(&s, &[b"eyJkYXRhIjo0Mn0=\r\n"]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap(), &json!({"data": 42}));
    }

    // B(Raw()).deserialize(text) under CPython 3.11; None for DeserializeError("Invalid token").
    #[test]
    fn lenient_decoding_matches_python() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"aGk", None),
            (b"aGk=", Some(b"hi")),
            (b"a", None),
            (b"aG", None),
            (b"aGk==", Some(b"hi")),
            (b"aGk=junk", Some(b"hi")),
            (b"a=Gk=", Some(b"hi")),
            (b"!!aG!k=", Some(b"hi")),
            (b"aGk*=", Some(b"hi")),
            (b"aGlt", Some(b"him")),
            (b"aGl", None),
            (b"=", Some(b"")),
            (b"", Some(b"")),
            (b"aGk=aGk=", Some(b"hi")),
            (b"aGk+", Some(b"hi>")),
            (b"aGk_", Some(b"hi?")),
            (b"aG=k", None),
        ];
        let s = Base64Wrapper::new(Raw);
        for &(text, want) in cases {
            let got = DatagramSerializer::deserialize(&s, text);
            match want {
                Some(want) => assert_eq!(got.unwrap(), want, "{text:?}"),
                None => {
                    let e = got.unwrap_err();
                    assert_eq!(e.kind(), DeserializeErrorKind::Invalid, "{text:?}");
                    assert_eq!(e.message(), "Invalid token");
                }
            }
        }
        // The standard alphabet skips `-` and `_`: "aGk_" is then "aGk", missing its padding.
        let standard = Base64Wrapper::new(Raw).with_alphabet(Base64Alphabet::Standard);
        assert!(DatagramSerializer::deserialize(&standard, b"aGk_").is_err());
        assert_eq!(
            DatagramSerializer::deserialize(&standard, b"+/8=").unwrap(),
            b"\xfb\xff"
        );
        assert_eq!(
            DatagramSerializer::deserialize(&standard, b"-_+/8=").unwrap(),
            b"\xfb\xff"
        );
    }

    #[test]
    fn hmac_keys() {
        // B(Raw(), checksum=k) under CPython 3.11: ValueError for each of these.
        for bad in [
            "short",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", // padding missing
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8fIA==", // 34 bytes
            "",
        ] {
            assert!(Base64Checksum::hmac_key(bad).is_err(), "{bad}");
        }
        // ...and these are accepted: text after the padding is ignored, foreign bytes skipped.
        let want = Base64Checksum::hmac_key(KEY).unwrap();
        assert_eq!(Base64Checksum::hmac_key(format!("{KEY}A")).unwrap(), want);
        let noisy = b"AAEC!AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert_eq!(Base64Checksum::hmac_key(&noisy[..]).unwrap(), want);
        let Base64Checksum::Hmac(raw) = want else {
            panic!("not an HMAC checksum")
        };
        assert_eq!(raw.to_vec(), (0u8..32).collect::<Vec<_>>());
        // The key stays out of debug output.
        assert_eq!(format!("{want:?}"), "Hmac(<secret key>)");
    }

    #[test]
    fn generated_keys() {
        let a = Base64Wrapper::<()>::generate_key();
        let b = Base64Wrapper::<()>::generate_key();
        assert_eq!(a.len(), 44);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_=".contains(&c)));
        assert!(Base64Checksum::hmac_key(&a).is_ok());
    }

    #[test]
    fn wrong_key_and_bad_tokens() {
        let key_a = Base64Checksum::hmac_key(KEY).unwrap();
        let key_b = Base64Checksum::hmac_key(Base64Wrapper::<()>::generate_key()).unwrap();
        let a = Base64Wrapper::new(Raw).with_checksum(key_a);
        let b = Base64Wrapper::new(Raw).with_checksum(key_b);
        let mut wire = encode(&a, b"secret");
        wire.extend_from_slice(&encode(&b, b"next"));
        // Wrong key: an integrity error, then the following packet decodes.
        let got = decode_chunks(&b, &[&wire]);
        assert_eq!(
            got[0],
            Err((DeserializeErrorKind::Integrity, encode(&b, b"next")))
        );
        assert_eq!(got[1], Ok(b"next".to_vec()));

        // SHA-256 checksum: a flipped character is caught; so is a token shorter than a digest.
        let sha = Base64Wrapper::new(Raw).with_checksum(Base64Checksum::Sha256);
        let mut token = encode(&sha, b"hello");
        token[1] = if token[1] == b'A' { b'B' } else { b'A' };
        let got = decode_chunks(&sha, &[&token, b"aGk=\r\n", b"!!\r\n"]);
        assert_eq!(
            got,
            vec![
                Err((DeserializeErrorKind::Integrity, vec![])),
                Err((DeserializeErrorKind::Integrity, vec![])),
                Err((DeserializeErrorKind::Integrity, vec![])),
            ]
        );
        let e = DatagramSerializer::deserialize(&sha, b"aGk=").unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (DeserializeErrorKind::Integrity, "Invalid token")
        );
        // Undecodable text, then a good packet in the same chunk.
        let got = decode_chunks(&Base64Wrapper::new(Raw), &[b"aGk\r\naGk=\r\n"]);
        assert_eq!(
            got,
            vec![
                Err((DeserializeErrorKind::Invalid, b"aGk=\r\n".to_vec())),
                Ok(b"hi".to_vec())
            ]
        );
    }

    #[test]
    fn chunking() {
        let s = Base64Wrapper::new(Raw).with_checksum(Base64Checksum::Sha256);
        let packets: Vec<Vec<u8>> = vec![
            b"one".to_vec(),
            vec![0xfb; 100],
            b"".to_vec(),
            b"x".to_vec(),
        ];
        let mut wire = Vec::new();
        for p in &packets {
            wire.extend_from_slice(&encode(&s, p));
        }
        let want: Vec<_> = packets.iter().cloned().map(Ok).collect();
        assert_eq!(decode_chunks(&s, &[&wire]), want);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_chunks(&s, &bytes), want);
        let split = wire.len() / 2;
        assert_eq!(decode_chunks(&s, &[&wire[..split], &wire[split..]]), want);
        // The CRLF itself split across chunks.
        let first = encode(&s, b"one");
        let cut = first.len() - 1;
        assert_eq!(
            decode_chunks(&s, &[&first[..cut], &first[cut..]]),
            vec![Ok(b"one".to_vec())]
        );
    }

    #[test]
    fn inner_error_keeps_remainder() {
        let s = Base64Wrapper::new(Raw);
        let mut wire = encode(&s, b"reject");
        let rest = [encode(&s, b"ok"), b"aG".to_vec()].concat();
        wire.extend_from_slice(&rest);
        let got = decode_chunks(&s, &[&wire]);
        assert_eq!(
            got,
            vec![
                Err((DeserializeErrorKind::Invalid, rest)),
                Ok(b"ok".to_vec())
            ]
        );
    }

    #[test]
    fn limit_applies_to_the_text() {
        // "aGk=" is 4 bytes of text for 2 bytes of payload.
        let s = Base64Wrapper::new(Raw).with_limit(4);
        assert_eq!(decode_chunks(&s, &[b"aGk=\r\n"]), vec![Ok(b"hi".to_vec())]);
        let got = decode_chunks(&s, &[b"aGlt\r\n", b"aGk=\r\n"]);
        assert_eq!(got, vec![Ok(b"him".to_vec()), Ok(b"hi".to_vec())]);
        let got = decode_chunks(&s, &[b"aGltaGlt", b"aGlt\r\naGk=\r\n"]);
        assert_eq!(
            got,
            vec![
                // The scanner keeps the last byte: it could start a separator.
                Err((
                    DeserializeErrorKind::LimitExceeded { limit: 4 },
                    b"t".to_vec()
                )),
                Ok(b"hi".to_vec())
            ]
        );
    }

    #[test]
    fn separators() {
        assert!(Base64Wrapper::new(Raw).with_separator(b"").is_err());
        let lf = Base64Wrapper::new(Raw).with_separator(b"\n").unwrap();
        assert_eq!(encode(&lf, b"hi"), b"aGk=\n");
        assert!(!lf.check_separator);
        // A non-whitespace separator is checked: "k" occurs in "aGk=".
        let k = Base64Wrapper::new(Raw).with_separator(b"k").unwrap();
        let mut wire = BytesMut::from(&b"kept"[..]);
        assert!(StreamSerializer::encode(&k, b"hi".as_slice(), &mut wire).is_err());
        assert_eq!(&wire[..], b"kept");
        let pipe = Base64Wrapper::new(Raw).with_separator(b"|").unwrap();
        assert_eq!(encode(&pipe, b"hi"), b"aGk=|");
        assert_eq!(
            decode_chunks(&pipe, &[b"aGk=|aGlt|"]),
            vec![Ok(b"hi".to_vec()), Ok(b"him".to_vec())]
        );
        assert!(is_python_space(b" \t\n\r\x0b\x0c"));
        assert!(!is_python_space(b""));
    }

    #[test]
    fn empty_packet_is_a_bare_separator() {
        let s = Base64Wrapper::new(Raw);
        assert_eq!(encode(&s, b""), b"\r\n");
        assert_eq!(decode_chunks(&s, &[b"\r\n"]), vec![Ok(vec![])]);
    }

    #[test]
    fn decode_eof_reports_a_partial_line() {
        let s = Base64Wrapper::new(Raw);
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&b"aGk=\r\naGk"[..]);
        assert_eq!(
            s.decode_eof(&mut state, &mut buf).unwrap(),
            Some(b"hi".to_vec())
        );
        let e = s.decode_eof(&mut state, &mut buf).unwrap_err();
        assert_eq!(e.kind(), DeserializeErrorKind::Incomplete);
        assert!(buf.is_empty());
    }

    #[cfg(feature = "zlib")]
    #[test]
    fn stacked_on_zlib() {
        use crate::ZlibWrapper;
        // b"".join(B(ZlibCompressorSerializer(JSONSerializer())).incremental_serialize(
        //     {"data": 42})) under CPython 3.11 (zlib 1.2.13); here over raw bytes.
        let s = Base64Wrapper::new(ZlibWrapper::new(Raw));
        assert_eq!(
            encode(&s, b"{\"data\":42}"),
            b"eNqrVkpJLElUsjIxqgUAFbUDdw==\r\n"
        );
        let wire = [
            encode(&s, b"first"),
            encode(&s, b"reject"),
            encode(&s, &[7u8; 1000]),
        ]
        .concat();
        let bytes: Vec<&[u8]> = wire.chunks(3).collect();
        let got = decode_chunks(&s, &bytes);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Ok(b"first".to_vec()));
        assert_eq!(
            got[1].as_ref().unwrap_err().0,
            DeserializeErrorKind::Invalid
        );
        assert_eq!(got[2], Ok(vec![7u8; 1000]));
        // Corrupt compressed data inside a good base64 line is a recoverable error here: the
        // line framing is intact.
        let bad = Base64Wrapper::new(Raw);
        let line = encode(&bad, b"\x78\xda\xff\xff\xff");
        let got = decode_chunks(&s, &[&line, b"eNqrVkpJLElUsjIxqgUAFbUDdw==\r\n"]);
        assert_eq!(got[0], Err((DeserializeErrorKind::Decompression, vec![])));
        assert_eq!(got[1], Ok(b"{\"data\":42}".to_vec()));
    }
}
