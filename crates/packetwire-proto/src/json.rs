//! JSON serializer, byte-compatible with EasyNetwork's `JSONSerializer`.

use std::io;
use std::marker::PhantomData;

use bytes::{Buf, BufMut, BytesMut};
use memchr::{memchr2, memchr3};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{DeserializeError, SerializeError};
use crate::framing::{finish_separated, SeparatorScanner};
use crate::serializer::{
    rollback_on_error, write_via_scratch, DatagramSerializer, StreamSerializer, DEFAULT_LIMIT,
};

/// JSON packets of type `T` (any serde type; [`serde_json::Value`] by default).
///
/// Output matches Python's `json.dumps` as EasyNetwork calls it: compact separators (`,` and
/// `:`), and by default every non-ASCII character escaped as `\uXXXX` (Python's
/// `ensure_ascii=True`) and floats written as Python's `repr` writes them (`1e+16`, `1.0`).
///
/// * Datagrams: the JSON text alone.
/// * Streams, lines mode (the default, `use_lines=True`): the JSON text and `\n`; the receiver
///   splits on LF, so a `\r` before it is harmless.
/// * Streams, raw mode ([`with_lines(false)`](Self::with_lines), `use_lines=False`): objects,
///   arrays and strings are sent as they are and found by scanning brackets and quotes; numbers,
///   `true`, `false` and `null` are followed by `\n`, and end at the first byte outside
///   printable ASCII.
///
/// Frames longer than the limit (64 KiB by default) are reported and skipped.
///
/// Differences from Python: non-finite floats are written as `null` (strict JSON) and the
/// `NaN`/`Infinity` tokens are rejected when decoding; integers are limited to 64 bits
/// (128 with [`crate::Value`]).
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{JsonSerializer, StreamSerializer};
/// use serde_json::json;
///
/// let s = JsonSerializer::<serde_json::Value>::new();
/// let mut wire = BytesMut::new();
/// s.encode(&json!({"name": "Zoé", "n": 1e16}), &mut wire).unwrap();
/// assert_eq!(&wire[..], b"{\"name\":\"Zo\\u00e9\",\"n\":1e+16}\n");
/// ```
pub struct JsonSerializer<T = serde_json::Value> {
    ensure_ascii: bool,
    use_lines: bool,
    limit: usize,
    _packet: PhantomData<fn(&T) -> T>,
}

impl<T> Clone for JsonSerializer<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for JsonSerializer<T> {}

impl<T> std::fmt::Debug for JsonSerializer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSerializer")
            .field("ensure_ascii", &self.ensure_ascii)
            .field("use_lines", &self.use_lines)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<T> Default for JsonSerializer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> JsonSerializer<T> {
    /// EasyNetwork's defaults: ASCII escaping, lines mode, 64 KiB limit.
    pub fn new() -> Self {
        Self {
            ensure_ascii: true,
            use_lines: true,
            limit: DEFAULT_LIMIT,
            _packet: PhantomData,
        }
    }

    /// Whether to escape non-ASCII characters (Python's `ensure_ascii`, on by default). Turning
    /// it off writes UTF-8 as is: shorter and faster, and Python decodes it all the same.
    pub fn with_ensure_ascii(mut self, ensure_ascii: bool) -> Self {
        self.ensure_ascii = ensure_ascii;
        self
    }

    /// Lines mode (`true`, the default) or raw bracket-scanning mode (`false`).
    pub fn with_lines(mut self, use_lines: bool) -> Self {
        self.use_lines = use_lines;
        self
    }

    /// The maximum size of one JSON document on a stream, in bytes.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The limit in force, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl<T: Serialize> JsonSerializer<T> {
    fn write_json(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        write_via_scratch(dst, |out| {
            let mut ser = serde_json::Serializer::with_formatter(&mut *out, PythonFormatter);
            packet
                .serialize(&mut ser)
                .map_err(|e| SerializeError::with_source("cannot encode packet as JSON", e))?;
            // Outside strings JSON text is ASCII, so escaping every non-ASCII character (and
            // DEL) of the finished text is Python's `ensure_ascii`. One fast scan usually finds
            // nothing to do.
            if self.ensure_ascii && !(out.is_ascii() && memchr::memchr(0x7f, out).is_none()) {
                *out = escape_non_ascii(out);
            }
            Ok(())
        })
    }
}

/// Python's `ensure_ascii` applied to JSON text: every character outside `' '..='~'` that is
/// not already escaped (serde_json escapes the control characters) becomes lowercase `\uXXXX`,
/// characters beyond the BMP a surrogate pair.
fn escape_non_ascii(json: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    // serde_json wrote the text from `&str` pieces: it is UTF-8.
    let text = String::from_utf8_lossy(json);
    let mut escaped = Vec::with_capacity(json.len() + json.len() / 2);
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if (c as u32) < 0x7f {
            continue;
        }
        escaped.extend_from_slice(&text.as_bytes()[start..i]);
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            let _ = write!(escaped, "\\u{unit:04x}");
        }
        start = i + c.len_utf8();
    }
    escaped.extend_from_slice(&text.as_bytes()[start..]);
    escaped
}

fn parse<T: DeserializeOwned>(document: &[u8]) -> Result<T, DeserializeError> {
    serde_json::from_slice(document)
        .map_err(|e| DeserializeError::invalid("JSON decode error").with_source(e))
}

impl<T: Serialize + DeserializeOwned> DatagramSerializer for JsonSerializer<T> {
    type Sent = T;
    type Received = T;

    fn serialize(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| self.write_json(packet, dst))
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<T, DeserializeError> {
        parse(datagram)
    }
}

/// Decoding state of [`JsonSerializer`] on a stream.
#[derive(Debug, Default)]
pub struct JsonDecodeState {
    lines: SeparatorScanner,
    raw: RawScanner,
}

impl<T: Serialize + DeserializeOwned> StreamSerializer for JsonSerializer<T> {
    type Sent = T;
    type Received = T;
    type DecodeState = JsonDecodeState;

    fn decode_state(&self) -> JsonDecodeState {
        JsonDecodeState::default()
    }

    fn encode(&self, packet: &T, dst: &mut BytesMut) -> Result<(), SerializeError> {
        rollback_on_error(dst, |dst| {
            let start = dst.len();
            self.write_json(packet, dst)?;
            if self.use_lines {
                // Compact JSON never holds a raw newline: skip the separator check.
                finish_separated(dst, start, b"\n", false)
            } else {
                if !matches!(dst.get(start), Some(b'{' | b'[' | b'"')) {
                    dst.put_u8(b'\n');
                }
                Ok(())
            }
        })
    }

    fn decode(
        &self,
        state: &mut JsonDecodeState,
        src: &mut BytesMut,
    ) -> Result<Option<T>, DeserializeError> {
        if self.use_lines {
            match state.lines.next_frame(src, b"\n", self.limit)? {
                Some(frame) => parse(frame.payload()).map(Some),
                None => Ok(None),
            }
        } else {
            if let Some(packet) = state.raw.try_parse_whole::<T>(src, self.limit) {
                return Ok(Some(packet));
            }
            match state.raw.next_document(src, self.limit)? {
                Some(document) => parse(&document).map(Some),
                None => Ok(None),
            }
        }
    }
}

/// Resumable scanner for the raw (bracket-scanning) JSON framing.
#[derive(Debug, Default)]
struct RawScanner {
    /// The first byte of the current document, once leading whitespace is skipped.
    kind: Option<u8>,
    /// Bytes of the current document already scanned.
    pos: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Skipping the rest of an oversized document.
    discarding: bool,
}

impl RawScanner {
    fn reset(&mut self) {
        *self = Self::default();
    }

    /// At the start of a document, tries to parse a whole object, array or string straight
    /// from the buffer: one pass instead of a scan and then a parse. Returns `None` (having
    /// consumed at most leading whitespace) when the document is incomplete, invalid or too
    /// long; the scanner then frames it. Tried once per document, so a document that arrives
    /// in many chunks costs at most one extra pass.
    fn try_parse_whole<T: DeserializeOwned>(
        &mut self,
        src: &mut BytesMut,
        limit: usize,
    ) -> Option<T> {
        if self.kind.is_some() || self.discarding {
            return None;
        }
        let ws = src
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        src.advance(ws);
        if !matches!(src.first(), Some(b'{' | b'[' | b'"')) {
            return None;
        }
        let window = &src[..src.len().min(limit)];
        let mut documents = serde_json::Deserializer::from_slice(window).into_iter::<T>();
        let packet = documents.next()?.ok()?;
        let end = documents.byte_offset();
        src.advance(end);
        Some(packet)
    }

    /// Scans from `self.pos`; returns the document's length once its end is found.
    fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        // The buffer only grows between calls; never index past it all the same.
        self.pos = self.pos.min(buf.len());
        let kind = self.kind.expect("document started");
        match kind {
            b'{' | b'[' => {
                let (open, close) = (kind, kind + 2);
                let mut i = self.pos;
                while i < buf.len() {
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                            i += 1;
                            continue;
                        }
                        // Jump to the next backslash or quote.
                        match memchr2(b'\\', b'"', &buf[i..]) {
                            Some(at) => {
                                i += at;
                                if buf[i] == b'\\' {
                                    self.escaped = true;
                                } else {
                                    self.in_string = false;
                                }
                                i += 1;
                            }
                            None => i = buf.len(),
                        }
                    } else {
                        // Jump to the next quote or bracket of the document's kind.
                        match memchr3(b'"', open, close, &buf[i..]) {
                            Some(at) => {
                                i += at;
                                let b = buf[i];
                                i += 1;
                                if b == b'"' {
                                    self.in_string = true;
                                } else if b == open {
                                    self.depth += 1;
                                } else {
                                    self.depth -= 1;
                                    if self.depth == 0 {
                                        return Some(i);
                                    }
                                }
                            }
                            None => i = buf.len(),
                        }
                    }
                }
            }
            b'"' => {
                let mut i = self.pos;
                while i < buf.len() {
                    if self.escaped {
                        self.escaped = false;
                        i += 1;
                        continue;
                    }
                    match memchr2(b'\\', b'"', &buf[i..]) {
                        Some(at) => {
                            i += at;
                            if buf[i] == b'"' {
                                return Some(i + 1);
                            }
                            self.escaped = true;
                            i += 1;
                        }
                        None => i = buf.len(),
                    }
                }
            }
            _ => {
                if let Some(i) = buf[self.pos..]
                    .iter()
                    .position(|b| !(0x20..=0x7e).contains(b))
                {
                    return Some(self.pos + i);
                }
            }
        }
        self.pos = buf.len();
        None
    }

    fn next_document(
        &mut self,
        src: &mut BytesMut,
        limit: usize,
    ) -> Result<Option<BytesMut>, DeserializeError> {
        loop {
            if self.kind.is_none() {
                let ws = src
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                    .count();
                src.advance(ws);
                match src.first() {
                    None => return Ok(None),
                    Some(&b) => {
                        self.kind = Some(b);
                        // A string's opening quote is not its closing one.
                        self.pos = usize::from(b == b'"');
                    }
                }
            }
            match self.scan(src) {
                Some(0) => {
                    // A literal cannot start with a non-printable byte: drop it.
                    src.advance(1);
                    self.reset();
                    return Err(DeserializeError::invalid(
                        "JSON decode error: unexpected non-printable byte",
                    ));
                }
                Some(end) => {
                    let discarding = self.discarding;
                    self.reset();
                    if discarding {
                        src.advance(end);
                        continue;
                    }
                    if end > limit {
                        src.advance(end);
                        return Err(DeserializeError::limit_exceeded(
                            limit,
                            format!(
                                "JSON document's end found, but the document ({end} bytes) is \
                                 longer than the limit ({limit} bytes)"
                            ),
                        ));
                    }
                    return Ok(Some(src.split_to(end)));
                }
                None => {
                    if self.discarding {
                        src.advance(src.len());
                        self.pos = 0;
                        return Ok(None);
                    }
                    if src.len() >= limit {
                        src.advance(src.len());
                        self.pos = 0;
                        self.discarding = true;
                        return Err(DeserializeError::limit_exceeded(
                            limit,
                            format!(
                                "JSON document's end not found within the limit ({limit} \
                                 bytes): skipping the rest of the document"
                            ),
                        ));
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// serde_json formatter that writes floats as Python's `json.dumps` does (the ASCII escaping
/// is a pass over the finished text, see [`escape_non_ascii`]).
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        write_python_float(writer, value)
    }
}

/// Writes a finite float as Python's `repr` does: the shortest digits that round-trip, in
/// positional notation when the decimal exponent is in `-4..16`, else as `d.ddde+XX`.
fn write_python_float<W: ?Sized + io::Write>(writer: &mut W, value: f64) -> io::Result<()> {
    // zmij gives the shortest round-trip digits, in either notation ("1.5e-7", "0.001", "1e16").
    let mut float_buf = zmij::Buffer::new();
    let text = float_buf.format_finite(value).as_bytes();
    // Fast path: in this range both write positional notation with the same digits.
    if (1e-4..1e15).contains(&value.abs()) && !text.contains(&b'e') {
        return writer.write_all(text);
    }
    write_python_float_slow(writer, text)
}

/// The general case of [`write_python_float`], from zmij's text.
fn write_python_float_slow<W: ?Sized + io::Write>(writer: &mut W, text: &[u8]) -> io::Result<()> {
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (mantissa, exp_part) = match text.iter().position(|&b| b == b'e') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    // Collect the significant digits and the decimal exponent of the first one.
    let mut digits = [0u8; 24];
    let mut len = 0usize;
    let mut int_digits = 0i32; // digits before the point, leading zeros excluded
    let mut leading_zeros = 0i32; // zeros after the point before the first significant digit
    let mut seen_point = false;
    for &b in mantissa {
        match b {
            b'.' => seen_point = true,
            b'0' if len == 0 && seen_point => leading_zeros += 1,
            b'0' if len == 0 => {}
            b'0'..=b'9' => {
                if len < digits.len() {
                    digits[len] = b;
                    len += 1;
                }
                if !seen_point {
                    int_digits += 1;
                }
            }
            _ => {}
        }
    }
    if len == 0 {
        // Zero.
        return writer.write_all(if negative { b"-0.0" } else { b"0.0" });
    }
    let mut exp = if int_digits > 0 {
        int_digits - 1
    } else {
        -(leading_zeros + 1)
    };
    if let Some(e) = exp_part {
        exp += std::str::from_utf8(e)
            .ok()
            .and_then(|e| e.parse::<i32>().ok())
            .unwrap_or(0);
    }
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    let digits = &digits[..len];

    let mut out = [0u8; 48];
    let mut n = 0usize;
    let mut push = |bytes: &[u8]| {
        out[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    if negative {
        push(b"-");
    }
    if !(-4..16).contains(&exp) {
        push(&digits[..1]);
        if digits.len() > 1 {
            push(b".");
            push(&digits[1..]);
        }
        push(if exp < 0 { b"e-" } else { b"e+" });
        let abs = exp.unsigned_abs();
        if abs >= 100 {
            push(&[b'0' + (abs / 100) as u8]);
        }
        push(&[b'0' + (abs / 10 % 10) as u8, b'0' + (abs % 10) as u8]);
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            push(digits);
            for _ in digits.len()..int_len {
                push(b"0");
            }
            push(b".0");
        } else {
            push(&digits[..int_len]);
            push(b".");
            push(&digits[int_len..]);
        }
    } else {
        push(b"0.");
        for _ in 0..(-exp - 1) {
            push(b"0");
        }
        push(digits);
    }
    writer.write_all(&out[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeserializeErrorKind;
    use serde_json::{json, Value};

    fn py_float(x: f64) -> String {
        let mut out = Vec::new();
        write_python_float(&mut out, x).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_like_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            // Edge cases checked against `python3 -c "print(repr(x))"`.
            (5e-324, "5e-324"),
            (1.23e-05, "1.23e-05"),
            (0.001, "0.001"),
            (1e22, "1e+22"),
            (9999999999999998.0, "9999999999999998.0"),
            (2.5e-300, "2.5e-300"),
            (123.0, "123.0"),
            (0.5, "0.5"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float(x), want, "{x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn python_float_fast_path_agrees(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let mut slow = Vec::new();
            write_python_float_slow(&mut slow, zmij::Buffer::new().format_finite(x).as_bytes()).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(slow).unwrap(), py_float(x));
        }

        #[test]
        fn python_float_fast_path_agrees_in_range(x in 1e-4f64..1e15) {
            let mut slow = Vec::new();
            write_python_float_slow(&mut slow, zmij::Buffer::new().format_finite(x).as_bytes()).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(slow).unwrap(), py_float(x));
        }

        #[test]
        fn python_floats_round_trip(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let text = py_float(x);
            proptest::prop_assert_eq!(text.parse::<f64>().unwrap().to_bits(), x.to_bits());
            let (mantissa, exp) = match text.split_once('e') {
                Some((m, e)) => (m, Some(e.parse::<i32>().unwrap())),
                None => (text.as_str(), None),
            };
            proptest::prop_assert!(mantissa.contains('.') || exp.is_some(), "{}", text);
            if let Some(e) = exp {
                proptest::prop_assert!(!(-4..16).contains(&e), "{}", text);
            }
        }
    }

    fn encode(s: &JsonSerializer<Value>, v: &Value) -> Vec<u8> {
        let mut b = BytesMut::new();
        StreamSerializer::encode(s, v, &mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn ascii_escaping() {
        let s = JsonSerializer::new();
        assert_eq!(
            encode(&s, &json!("é\u{7f}😀\n")),
            b"\"\\u00e9\\u007f\\ud83d\\ude00\\n\"\n"
        );
        let s = s.with_ensure_ascii(false);
        assert_eq!(encode(&s, &json!("é")), "\"é\"\n".as_bytes());
    }

    #[test]
    fn raw_mode_framing_on_encode() {
        let s = JsonSerializer::new().with_lines(false);
        assert_eq!(encode(&s, &json!({"a": [1, 2]})), b"{\"a\":[1,2]}");
        assert_eq!(encode(&s, &json!(42)), b"42\n");
        assert_eq!(encode(&s, &json!(null)), b"null\n");
        assert_eq!(encode(&s, &json!("x")), b"\"x\"");
    }

    fn decode_all(
        s: &JsonSerializer<Value>,
        chunks: &[&[u8]],
    ) -> Vec<Result<Value, DeserializeErrorKind>> {
        let mut state = s.decode_state();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            loop {
                match s.decode(&mut state, &mut buf) {
                    Ok(Some(v)) => out.push(Ok(v)),
                    Ok(None) => break,
                    Err(e) => out.push(Err(e.kind())),
                }
            }
        }
        out
    }

    #[test]
    fn raw_mode_scans_brackets_strings_and_escapes() {
        let s = JsonSerializer::new().with_lines(false);
        let input: &[u8] = b" {\"a\":\"}\\\"{\"}[1,[2]]\"s\\\"\"7\n";
        let want = vec![
            Ok(json!({"a": "}\"{"})),
            Ok(json!([1, [2]])),
            Ok(json!("s\"")),
            Ok(json!(7)),
        ];
        assert_eq!(decode_all(&s, &[input]), want);
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(decode_all(&s, &chunks), want);
    }

    #[test]
    fn decode_eof_resets_the_state() {
        // A lone literal never ends: at end of stream it is an error, and the decoder must
        // start afresh (it once kept its scan position past the cleared buffer and panicked).
        let s = JsonSerializer::<Value>::new().with_lines(false);
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&b"#"[..]);
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), None);
        let e = s.decode_eof(&mut state, &mut buf).unwrap_err();
        assert_eq!(e.kind(), DeserializeErrorKind::Incomplete);
        assert_eq!(s.decode_eof(&mut state, &mut buf).unwrap(), None);
        buf.extend_from_slice(b"[1]");
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), Some(json!([1])));
    }

    #[test]
    fn raw_mode_pretty_printed() {
        let s = JsonSerializer::new().with_lines(false);
        let doc = b"{\n  \"a\": [\n    1,\n    2\n  ]\n}\n";
        assert_eq!(decode_all(&s, &[doc]), vec![Ok(json!({"a": [1, 2]}))]);
    }

    #[test]
    fn raw_mode_literal_needs_terminator() {
        let s = JsonSerializer::new().with_lines(false);
        assert_eq!(decode_all(&s, &[b"42"]), vec![]);
        assert_eq!(
            decode_all(&s, &[b"42 7\n"]),
            vec![Err(DeserializeErrorKind::Invalid)]
        );
    }

    #[test]
    fn raw_mode_limit_then_recovery() {
        let s = JsonSerializer::new().with_lines(false).with_limit(10);
        let got = decode_all(&s, &[b"[1,2,3,4,", b"5,6,7,8]", b"[9]"]);
        assert_eq!(
            got,
            vec![
                Err(DeserializeErrorKind::LimitExceeded { limit: 10 }),
                Ok(json!([9]))
            ]
        );
        let got = decode_all(&s, &[b"[1,2,3,4,5,6]{}"]);
        assert_eq!(
            got,
            vec![
                Err(DeserializeErrorKind::LimitExceeded { limit: 10 }),
                Ok(json!({}))
            ]
        );
    }

    #[test]
    fn lines_mode_error_keeps_following_packets() {
        let s = JsonSerializer::new();
        let mut state = s.decode_state();
        let mut buf = BytesMut::from(&b"{oops}\n[1]\n"[..]);
        let err = s.decode(&mut state, &mut buf).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert_eq!(&buf[..], b"[1]\n");
        assert_eq!(s.decode(&mut state, &mut buf).unwrap(), Some(json!([1])));
    }

    #[test]
    fn crlf_lines_are_tolerated() {
        let s = JsonSerializer::new();
        assert_eq!(
            decode_all(&s, &[b"{\"a\":1}\r\n"]),
            vec![Ok(json!({"a": 1}))]
        );
    }
}
