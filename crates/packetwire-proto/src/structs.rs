//! Fixed-size binary records in Python's `struct` format language, byte-compatible with
//! EasyNetwork's `StructSerializer` and `NamedTupleStructSerializer`.
//!
//! * [`StructFormat`]: a parsed format string (`"!ii"`, `"<10sI"`, `"@bq"`), with its size, that
//!   packs and unpacks lists of [`Value`]s exactly as Python's `struct.pack` / `struct.unpack` do.
//! * [`StructSerializer`]: packets are lists of values, one per format item.
//! * [`RecordSerializer`]: packets are maps with named fields, text fields encoded and padded.
//!
//! A record has a fixed size, so the stream framing is implicit: each packet is exactly
//! [`StructFormat::size`] bytes, on streams as in datagrams.

use std::borrow::{Borrow, Cow};
use std::error::Error as StdError;
use std::ffi::{c_int, c_long, c_longlong, c_short, c_void};
use std::fmt;
use std::mem::{align_of, size_of};

use bytes::BytesMut;

use crate::error::{DeserializeError, DeserializeErrorKind, SerializeError};
use crate::line::Encoding;
use crate::serializer::{rollback_on_error, DatagramSerializer, StreamSerializer};
use crate::value::Value;

/// The byte order, size and alignment mode of a [`StructFormat`]: the first character of a
/// Python `struct` format string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ByteOrder {
    /// `@`: native byte order, native sizes and native alignment (C struct layout of the
    /// machine; the only mode that accepts the `n`, `N` and `P` codes).
    Native,
    /// `=`: native byte order, standard sizes, no alignment.
    NativeStandard,
    /// `<`: little-endian, standard sizes, no alignment.
    Little,
    /// `>`: big-endian, standard sizes, no alignment.
    Big,
    /// `!`: network order (big-endian), standard sizes, no alignment. The default, as in
    /// EasyNetwork, when a format string does not start with a byte-order character.
    #[default]
    Network,
}

impl ByteOrder {
    /// The format character of this mode (`@`, `=`, `<`, `>` or `!`).
    pub fn as_char(self) -> char {
        match self {
            Self::Native => '@',
            Self::NativeStandard => '=',
            Self::Little => '<',
            Self::Big => '>',
            Self::Network => '!',
        }
    }

    /// The mode of a byte-order character, if `c` is one.
    pub fn from_char(c: char) -> Option<Self> {
        match c {
            '@' => Some(Self::Native),
            '=' => Some(Self::NativeStandard),
            '<' => Some(Self::Little),
            '>' => Some(Self::Big),
            '!' => Some(Self::Network),
            _ => None,
        }
    }

    fn is_little(self) -> bool {
        match self {
            Self::Native | Self::NativeStandard => cfg!(target_endian = "little"),
            Self::Little => true,
            Self::Big | Self::Network => false,
        }
    }
}

/// A format string or a record description was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructFormatError {
    message: String,
}

impl StructFormatError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The human-readable message (Python's `struct.error` text where there is one).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StructFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for StructFormatError {}

/// What a format code packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `x`: a zero byte, no value.
    Pad,
    /// `c`: a byte string of length 1.
    Char,
    /// `b h i l q n`.
    Signed,
    /// `B H I L Q N`.
    Unsigned,
    /// `P`: a pointer-sized integer; Python accepts the signed and the unsigned range.
    Pointer,
    /// `?`.
    Bool,
    /// `e`: IEEE 754 binary16.
    Half,
    /// `f`: IEEE 754 binary32.
    Single,
    /// `d`: IEEE 754 binary64.
    Double,
    /// `s`: a byte string of the count's length, NUL-padded or truncated.
    Bytes,
    /// `p`: a Pascal string: one length byte, then the bytes.
    Pascal,
}

fn kind_of(code: u8) -> Option<Kind> {
    Some(match code {
        b'x' => Kind::Pad,
        b'c' => Kind::Char,
        b'b' | b'h' | b'i' | b'l' | b'q' | b'n' => Kind::Signed,
        b'B' | b'H' | b'I' | b'L' | b'Q' | b'N' => Kind::Unsigned,
        b'P' => Kind::Pointer,
        b'?' => Kind::Bool,
        b'e' => Kind::Half,
        b'f' => Kind::Single,
        b'd' => Kind::Double,
        b's' => Kind::Bytes,
        b'p' => Kind::Pascal,
        _ => return None,
    })
}

/// Size of a code with `= < > !`; `None` for the native-only codes `n N P`.
fn standard_size(code: u8) -> Option<usize> {
    Some(match code {
        b'x' | b'c' | b'b' | b'B' | b'?' | b's' | b'p' => 1,
        b'h' | b'H' | b'e' => 2,
        b'i' | b'I' | b'l' | b'L' | b'f' => 4,
        b'q' | b'Q' | b'd' => 8,
        _ => return None,
    })
}

/// Size and alignment of a code with `@`: those of the C type on the machine.
fn native_layout(code: u8) -> (usize, usize) {
    fn of<T>() -> (usize, usize) {
        (size_of::<T>(), align_of::<T>())
    }
    match code {
        b'?' => of::<bool>(),
        // Python lays half floats out as C `short`s.
        b'h' | b'H' | b'e' => of::<c_short>(),
        b'i' | b'I' => of::<c_int>(),
        b'l' | b'L' => of::<c_long>(),
        b'q' | b'Q' => of::<c_longlong>(),
        b'n' | b'N' => of::<usize>(),
        b'P' => of::<*const c_void>(),
        b'f' => of::<f32>(),
        b'd' => of::<f64>(),
        _ => (1, 1),
    }
}

/// Python's `Py_ISSPACE`: whitespace between items is ignored.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A run of items of one code: `count` items of `size` bytes each, from `offset`. For `s` and
/// `p`, `count` is 1 and `size` the byte length.
#[derive(Debug, Clone, Copy)]
struct Run {
    code: u8,
    kind: Kind,
    count: usize,
    size: usize,
    offset: usize,
}

/// A parsed Python `struct` format string.
///
/// The syntax is Python's: an optional byte-order character (`@ = < > !`; when there is none,
/// `!` is assumed, as EasyNetwork does, where Python would assume `@`), then items, each an
/// optional decimal repeat count and a code. Whitespace between items is ignored.
///
/// | code | value | standard size |
/// |---|---|---|
/// | `x` | none (a zero byte; ignored when unpacking) | 1 |
/// | `c` | [`Value::Bytes`] of length 1 | 1 |
/// | `b` `B` | [`Value::Int`] (signed / unsigned) | 1 |
/// | `?` | [`Value::Bool`] | 1 |
/// | `h` `H` | [`Value::Int`] | 2 |
/// | `i` `I` `l` `L` | [`Value::Int`] | 4 |
/// | `q` `Q` | [`Value::Int`] | 8 |
/// | `n` `N` `P` | [`Value::Int`] (`ssize_t`, `size_t`, pointer) | native mode only |
/// | `e` `f` `d` | [`Value::Float`] (half, single, double precision) | 2, 4, 8 |
/// | `s` | [`Value::Bytes`]: `10s` is one 10-byte string | count |
/// | `p` | [`Value::Bytes`]: Pascal string, a length byte then up to count − 1 bytes | count |
///
/// A repeat count repeats the item (`3i` is three integers), except for `s` and `p` where it
/// is the byte length, and `x` where it is the number of pad bytes. In native mode (`@`),
/// sizes are those of the machine's C types and each item is aligned as a C compiler would;
/// a count of 0 still aligns (`@b0l` is 8 bytes on 64-bit Linux).
///
/// Packing follows `struct.pack`: integers are range-checked, `bool`s count as 0 and 1,
/// floats accept integers, `?` takes any value and packs its truthiness, `s` pads with NULs
/// or truncates, a float that rounds beyond the range of `e` or `f` is an error (also in
/// native mode, where Python 3.11 silently writes an infinity for `f`).
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{StructFormat, Value};
///
/// let format = StructFormat::parse("<h3s").unwrap();
/// assert_eq!(format.size(), 5);
/// assert_eq!(format.as_str(), "<h3s");
/// let mut wire = BytesMut::new();
/// format.pack(&[Value::Int(-2), Value::Bytes(b"a".to_vec())], &mut wire).unwrap();
/// assert_eq!(&wire[..], b"\xfe\xffa\0\0");
/// assert_eq!(format.unpack(&wire).unwrap()[1], Value::Bytes(b"a\0\0".to_vec()));
/// ```
#[derive(Debug, Clone)]
pub struct StructFormat {
    text: String,
    order: ByteOrder,
    runs: Vec<Run>,
    size: usize,
    values: usize,
}

impl StructFormat {
    /// Parses a format string; without a byte-order character, `!` is prepended.
    pub fn parse(format: &str) -> Result<Self, StructFormatError> {
        let mut chars = format.chars();
        match chars.next().and_then(ByteOrder::from_char) {
            Some(order) => Self::with_byte_order(order, chars.as_str()),
            None => Self::with_byte_order(ByteOrder::Network, format),
        }
    }

    /// Parses the items of a format string (without a byte-order character) in the given mode.
    pub fn with_byte_order(order: ByteOrder, items: &str) -> Result<Self, StructFormatError> {
        let too_long = || StructFormatError::new("total struct size too long");
        let bytes = items.as_bytes();
        let native = order == ByteOrder::Native;
        let mut runs = Vec::new();
        let mut offset: usize = 0;
        let mut values: usize = 0;
        let mut i = 0;
        while let Some(&c) = bytes.get(i) {
            if is_space(c) {
                i += 1;
                continue;
            }
            let mut count: usize = 1;
            if c.is_ascii_digit() {
                count = 0;
                while let Some(&d) = bytes.get(i).filter(|d| d.is_ascii_digit()) {
                    count = count
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(usize::from(d - b'0')))
                        .ok_or_else(too_long)?;
                    i += 1;
                }
                if i == bytes.len() {
                    return Err(StructFormatError::new(
                        "repeat count given without format specifier",
                    ));
                }
            }
            let code = bytes[i];
            i += 1;
            let bad_char = || {
                let shown = items
                    .get(i - 1..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('?');
                StructFormatError::new(format!("bad char in struct format: {shown:?}"))
            };
            let kind = kind_of(code).ok_or_else(bad_char)?;
            let item_size = if native {
                let (size, align) = native_layout(code);
                offset = offset
                    .checked_next_multiple_of(align)
                    .ok_or_else(too_long)?;
                size
            } else {
                standard_size(code).ok_or_else(bad_char)?
            };
            let (count, size) = match kind {
                Kind::Bytes | Kind::Pascal => (1, count),
                _ => (count, item_size),
            };
            let total = count.checked_mul(size).ok_or_else(too_long)?;
            if kind != Kind::Pad && count > 0 {
                runs.push(Run {
                    code,
                    kind,
                    count,
                    size,
                    offset,
                });
                values = values.checked_add(count).ok_or_else(too_long)?;
            }
            offset = offset.checked_add(total).ok_or_else(too_long)?;
        }
        if isize::try_from(offset).is_err() {
            return Err(too_long());
        }
        let text = format!("{}{items}", order.as_char());
        Ok(Self {
            text,
            order,
            runs,
            size: offset,
            values,
        })
    }

    /// The packed size in bytes (Python's `struct.calcsize`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// The number of values a packet holds (`x` items hold none).
    pub fn value_count(&self) -> usize {
        self.values
    }

    /// The byte order and layout mode.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// The format string, always starting with its byte-order character.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Appends the packed values to `dst` (Python's `struct.pack`). On error (wrong number of
    /// values, wrong type, out of range) `dst` is left as it was.
    pub fn pack(&self, values: &[Value], dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.pack_values(values, dst)
    }

    fn pack_values<V: Borrow<Value>>(
        &self,
        values: &[V],
        dst: &mut BytesMut,
    ) -> Result<(), SerializeError> {
        if values.len() != self.values {
            return Err(SerializeError::new(format!(
                "invalid value: pack expected {} items for packing (got {})",
                self.values,
                values.len()
            )));
        }
        let little = self.order.is_little();
        rollback_on_error(dst, |dst| {
            let start = dst.len();
            dst.resize(start.checked_add(self.size).ok_or_else(too_big)?, 0);
            let buf = &mut dst[start..];
            let mut values = values.iter().map(Borrow::borrow).enumerate();
            for run in &self.runs {
                for k in 0..run.count {
                    let (index, value) = values.next().ok_or_else(too_big)?;
                    let at = run.offset + k * run.size;
                    let slot = &mut buf[at..at + run.size];
                    pack_item(run.kind, value, slot, little).map_err(|message| {
                        SerializeError::new(format!(
                            "invalid value: item {index} ('{}' format): {message}",
                            char::from(run.code)
                        ))
                    })?;
                }
            }
            Ok(())
        })
    }

    /// Unpacks exactly [`size`](Self::size) bytes (Python's `struct.unpack`). Fewer bytes are
    /// an [`Incomplete`](DeserializeErrorKind::Incomplete) error, more a
    /// [`TrailingData`](DeserializeErrorKind::TrailingData) error.
    pub fn unpack(&self, data: &[u8]) -> Result<Vec<Value>, DeserializeError> {
        check_size(data, self.size)?;
        let little = self.order.is_little();
        let mut out = Vec::with_capacity(self.values);
        for run in &self.runs {
            for k in 0..run.count {
                let at = run.offset + k * run.size;
                out.push(unpack_item(run.kind, &data[at..at + run.size], little));
            }
        }
        Ok(out)
    }
}

impl fmt::Display for StructFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn too_big() -> SerializeError {
    SerializeError::new("the packed record does not fit in memory")
}

fn check_size(data: &[u8], size: usize) -> Result<(), DeserializeError> {
    if data.len() < size {
        Err(DeserializeError::new(
            DeserializeErrorKind::Incomplete,
            format!(
                "missing data to create packet: {} bytes, expected {size}",
                data.len()
            ),
        ))
    } else if data.len() > size {
        Err(DeserializeError::new(
            DeserializeErrorKind::TrailingData,
            format!("extra data caught: {} bytes, expected {size}", data.len()),
        ))
    } else {
        Ok(())
    }
}

/// Python's truth value of plain data.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Int(n) => *n != 0,
        Value::Float(x) => *x != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Bytes(b) => !b.is_empty(),
        Value::List(items) => !items.is_empty(),
        Value::Map(entries) => !entries.is_empty(),
    }
}

fn as_int(value: &Value) -> Result<i128, String> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Bool(b) => Ok(i128::from(*b)),
        _ => Err("required argument is not an integer".to_owned()),
    }
}

fn as_float(value: &Value) -> Result<f64, String> {
    match value {
        Value::Float(x) => Ok(*x),
        // Rounds to nearest, ties to even, as Python's int-to-float conversion.
        Value::Int(n) => Ok(*n as f64),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        _ => Err("required argument is not a float".to_owned()),
    }
}

fn as_bytes(value: &Value) -> Result<&[u8], String> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err("argument must be a bytes object".to_owned()),
    }
}

/// Writes the low `slot.len()` bytes of `n` (two's complement) in the given order.
fn write_int(slot: &mut [u8], n: i128, little: bool) {
    let le = n.to_le_bytes();
    let size = slot.len();
    if little {
        slot.copy_from_slice(&le[..size]);
    } else {
        for (dst, src) in slot.iter_mut().zip(le[..size].iter().rev()) {
            *dst = *src;
        }
    }
}

fn read_int(slot: &[u8], signed: bool, little: bool) -> i128 {
    let mut le = [0u8; 16];
    let size = slot.len().min(16);
    if little {
        le[..size].copy_from_slice(&slot[..size]);
    } else {
        for (dst, src) in le[..size].iter_mut().zip(slot[..size].iter().rev()) {
            *dst = *src;
        }
    }
    if signed && size > 0 && size < 16 && le[size - 1] & 0x80 != 0 {
        le[size..].fill(0xff);
    }
    i128::from_le_bytes(le)
}

fn pack_item(kind: Kind, value: &Value, slot: &mut [u8], little: bool) -> Result<(), String> {
    let bits = 8 * slot.len() as u32;
    match kind {
        Kind::Pad => {}
        Kind::Char => match value {
            Value::Bytes(b) if b.len() == 1 => slot.copy_from_slice(b),
            _ => return Err("char format requires a bytes object of length 1".to_owned()),
        },
        Kind::Signed | Kind::Unsigned | Kind::Pointer => {
            let n = as_int(value)?;
            let (min, max) = match kind {
                Kind::Signed => (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1),
                Kind::Unsigned => (0, (1i128 << bits) - 1),
                _ => (-(1i128 << (bits - 1)), (1i128 << bits) - 1),
            };
            if n < min || n > max {
                return Err(format!("format requires {min} <= number <= {max}, got {n}"));
            }
            write_int(slot, n, little);
        }
        Kind::Bool => {
            if let Some(byte) = slot.first_mut() {
                *byte = u8::from(truthy(value));
            }
        }
        Kind::Half => {
            let x = as_float(value)?;
            let half = f64_to_f16(x).ok_or("float too large to pack with e format")?;
            write_int(slot, i128::from(half), little);
        }
        Kind::Single => {
            let x = as_float(value)?;
            let y = x as f32;
            if y.is_infinite() && x.is_finite() {
                return Err("float too large to pack with f format".to_owned());
            }
            write_int(slot, i128::from(y.to_bits()), little);
        }
        Kind::Double => {
            let x = as_float(value)?;
            write_int(slot, i128::from(x.to_bits()), little);
        }
        Kind::Bytes => {
            let b = as_bytes(value)?;
            let n = b.len().min(slot.len());
            slot[..n].copy_from_slice(&b[..n]);
        }
        Kind::Pascal => {
            let b = as_bytes(value)?;
            if let Some((len_byte, data)) = slot.split_first_mut() {
                let n = b.len().min(data.len());
                data[..n].copy_from_slice(&b[..n]);
                *len_byte = u8::try_from(n).unwrap_or(u8::MAX);
            }
        }
    }
    Ok(())
}

fn unpack_item(kind: Kind, slot: &[u8], little: bool) -> Value {
    match kind {
        Kind::Pad => Value::Null,
        Kind::Char | Kind::Bytes => Value::Bytes(slot.to_vec()),
        Kind::Signed => Value::Int(read_int(slot, true, little)),
        Kind::Unsigned | Kind::Pointer => Value::Int(read_int(slot, false, little)),
        Kind::Bool => Value::Bool(slot.iter().any(|&b| b != 0)),
        Kind::Half => Value::Float(f16_to_f64(read_int(slot, false, little) as u16)),
        Kind::Single => Value::Float(f64::from(f32::from_bits(
            read_int(slot, false, little) as u32
        ))),
        Kind::Double => Value::Float(f64::from_bits(read_int(slot, false, little) as u64)),
        Kind::Pascal => match slot.split_first() {
            Some((&len, data)) => Value::Bytes(data[..usize::from(len).min(data.len())].to_vec()),
            None => Value::Bytes(Vec::new()),
        },
    }
}

/// Rounds a double to IEEE 754 binary16 (round half to even), as Python's `PyFloat_Pack2`.
/// `None` when the value rounds beyond the largest finite half (65504).
fn f64_to_f16(x: f64) -> Option<u16> {
    let sign: u16 = if x.is_sign_negative() { 0x8000 } else { 0 };
    if x.is_nan() {
        // The quiet NaN Python writes, keeping the sign.
        return Some(sign | 0x7e00);
    }
    let a = x.abs();
    if a.is_infinite() {
        return Some(sign | 0x7c00);
    }
    if a == 0.0 {
        return Some(sign);
    }
    // a = mantissa * 2^exp, mantissa an integer.
    let raw = a.to_bits();
    let biased = ((raw >> 52) & 0x7ff) as i32;
    let fraction = raw & ((1 << 52) - 1);
    let (mantissa, exp) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let log2 = 63 - mantissa.leading_zeros() as i32 + exp;
    if log2 >= 16 {
        return None;
    }
    // The result is q * 2^scale with q on 11 bits (normal) or fewer (subnormal).
    let scale = (log2 - 10).max(-24);
    let shift = scale - exp;
    let q = if shift <= 0 {
        mantissa << (-shift).min(63)
    } else if shift > 60 {
        0
    } else {
        let q = mantissa >> shift;
        let rest = mantissa & ((1 << shift) - 1);
        let half = 1 << (shift - 1);
        if rest > half || (rest == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    let bits = if scale == -24 {
        // Subnormal; q == 1024 is the smallest normal, whose encoding is the same number.
        q
    } else {
        let (q, scale) = if q == 2048 {
            (1024, scale + 1)
        } else {
            (q, scale)
        };
        let exponent = scale + 25;
        if exponent > 30 {
            return None;
        }
        ((exponent as u64) << 10) | (q - 1024)
    };
    Some(sign | bits as u16)
}

/// Widens an IEEE 754 binary16 value (exactly).
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let fraction = f64::from(h & 0x3ff);
    let magnitude = match exponent {
        0 => fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1024.0 + fraction) * 2f64.powi(exponent - 25),
    };
    sign * magnitude
}

fn nonzero_size(format: StructFormat) -> Result<StructFormat, StructFormatError> {
    if format.size() == 0 {
        return Err(StructFormatError::new(format!(
            "format {:?} packs to 0 bytes: a fixed-size packet must have at least one byte",
            format.as_str()
        )));
    }
    Ok(format)
}

fn decode_fixed<T>(
    size: usize,
    src: &mut BytesMut,
    unpack: impl FnOnce(&[u8]) -> Result<T, DeserializeError>,
) -> Result<Option<T>, DeserializeError> {
    if src.len() < size {
        return Ok(None);
    }
    let frame = src.split_to(size);
    unpack(&frame).map(Some)
}

/// Lists of values packed with a [`StructFormat`]: EasyNetwork's `StructSerializer`.
///
/// Packets are `[Value]` when sent and `Vec<Value>` when received, one value per format item
/// (see [`StructFormat`] for the codes). Datagrams and stream frames are the same bytes: the
/// packed record, exactly [`StructFormat::size`] bytes. A packing error (Python's
/// `struct.error`) is a [`SerializeError`]; a datagram of the wrong size is an
/// [`Incomplete`](DeserializeErrorKind::Incomplete) or
/// [`TrailingData`](DeserializeErrorKind::TrailingData) error.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{DatagramSerializer, StreamSerializer, StructSerializer, Value};
///
/// let s = StructSerializer::new("ii").unwrap(); // "!ii": network order
/// let mut wire = BytesMut::new();
/// s.encode(&[Value::Int(1), Value::Int(2)], &mut wire).unwrap();
/// assert_eq!(&wire[..], [0, 0, 0, 1, 0, 0, 0, 2]);
/// assert_eq!(s.deserialize(&wire).unwrap(), [Value::Int(1), Value::Int(2)]);
/// ```
#[derive(Debug, Clone)]
pub struct StructSerializer {
    format: StructFormat,
}

impl StructSerializer {
    /// Parses `format` (see [`StructFormat::parse`]). A format of size 0 is refused.
    pub fn new(format: &str) -> Result<Self, StructFormatError> {
        Self::from_format(StructFormat::parse(format)?)
    }

    /// Uses a parsed format. A format of size 0 is refused.
    pub fn from_format(format: StructFormat) -> Result<Self, StructFormatError> {
        Ok(Self {
            format: nonzero_size(format)?,
        })
    }

    /// The format.
    pub fn format(&self) -> &StructFormat {
        &self.format
    }
}

impl DatagramSerializer for StructSerializer {
    type Sent = [Value];
    type Received = Vec<Value>;

    fn serialize(&self, packet: &[Value], dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.format.pack(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Vec<Value>, DeserializeError> {
        self.format.unpack(datagram)
    }
}

impl StreamSerializer for StructSerializer {
    type Sent = [Value];
    type Received = Vec<Value>;
    type DecodeState = ();

    fn decode_state(&self) {}

    fn encode(&self, packet: &[Value], dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.format.pack(packet, dst)
    }

    fn decode(
        &self,
        _state: &mut (),
        src: &mut BytesMut,
    ) -> Result<Option<Vec<Value>>, DeserializeError> {
        decode_fixed(self.format.size(), src, |frame| self.format.unpack(frame))
    }
}

/// One named field of a [`RecordSerializer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordField {
    /// The field name: the key of the field in the packet map.
    pub name: String,
    /// The field format: one format character (`I`, `d`, `?`, ...; not `x`) or `<N>s` for a
    /// string of N bytes (`s` alone is one byte).
    pub format: String,
}

impl RecordField {
    /// A field with a name and a format.
    pub fn new(name: impl Into<String>, format: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            format: format.into(),
        }
    }
}

impl<N: Into<String>, F: Into<String>> From<(N, F)> for RecordField {
    fn from((name, format): (N, F)) -> Self {
        Self::new(name, format)
    }
}

/// Records with named fields: EasyNetwork's `NamedTupleStructSerializer`.
///
/// The record is described by an ordered list of [`RecordField`]s; the struct format is the
/// byte-order character followed by the field formats in order. Packets are
/// [`Value::Map`]s with one string key per field (any order when sending, field order when
/// receiving; a missing or unknown key is an error).
///
/// String fields (`<N>s`) hold [`Value::Str`]: the text is encoded ([`Encoding::Utf8`] by
/// default), then NUL-padded or truncated to N bytes; on receipt, trailing NULs are stripped
/// (unless [`with_strip_trailing_nul(false)`](Self::with_strip_trailing_nul)) and the bytes
/// decoded. A text that does not decode is a recoverable
/// [`Invalid`](DeserializeErrorKind::Invalid) error. With [`with_encoding(None)`](Self::with_encoding)
/// string fields are [`Value::Bytes`] both ways. [`Value::Bytes`] is accepted for a string
/// field when sending in either mode, as Python does.
///
/// ```
/// use bytes::BytesMut;
/// use packetwire_proto::{DatagramSerializer, RecordSerializer, Value};
///
/// let s = RecordSerializer::new([("name", "10s"), ("age", "I")]).unwrap();
/// let person = Value::Map(vec![
///     (Value::from("name"), Value::from("John")),
///     (Value::from("age"), Value::Int(20)),
/// ]);
/// let mut wire = BytesMut::new();
/// s.serialize(&person, &mut wire).unwrap();
/// assert_eq!(&wire[..], b"John\0\0\0\0\0\0\0\0\0\x14");
/// assert_eq!(s.deserialize(&wire).unwrap(), person);
/// ```
#[derive(Debug, Clone)]
pub struct RecordSerializer {
    fields: Vec<RecordField>,
    is_string: Vec<bool>,
    format: StructFormat,
    encoding: Option<Encoding>,
    strip_trailing_nul: bool,
}

impl RecordSerializer {
    /// Builds the record from its fields, in network byte order (`!`, as EasyNetwork's
    /// default), with UTF-8 string fields and trailing NULs stripped.
    ///
    /// Fails on a field format that is not one format character or `<N>s`, on duplicate or
    /// empty field names, and on an empty record.
    pub fn new<I>(fields: I) -> Result<Self, StructFormatError>
    where
        I: IntoIterator,
        I::Item: Into<RecordField>,
    {
        Self::with_byte_order(ByteOrder::Network, fields)
    }

    /// Builds the record in the given byte order (EasyNetwork's `format_endianness`); the
    /// native-only codes `n`, `N` and `P` need [`ByteOrder::Native`]. Fails as
    /// [`new`](Self::new) does.
    pub fn with_byte_order<I>(order: ByteOrder, fields: I) -> Result<Self, StructFormatError>
    where
        I: IntoIterator,
        I::Item: Into<RecordField>,
    {
        let fields: Vec<RecordField> = fields.into_iter().map(Into::into).collect();
        let mut is_string = Vec::with_capacity(fields.len());
        for (i, field) in fields.iter().enumerate() {
            if field.name.is_empty() {
                return Err(StructFormatError::new(format!(
                    "field {i}: empty field name"
                )));
            }
            if fields[..i].iter().any(|other| other.name == field.name) {
                return Err(StructFormatError::new(format!(
                    "duplicate field name {:?}",
                    field.name
                )));
            }
            is_string.push(field_is_string(field)?);
        }
        let items: String = fields.iter().map(|f| f.format.as_str()).collect();
        let format = nonzero_size(StructFormat::with_byte_order(order, &items)?)?;
        Ok(Self {
            fields,
            is_string,
            format,
            encoding: Some(Encoding::Utf8),
            strip_trailing_nul: true,
        })
    }

    /// Sets the text encoding of string fields; `None` keeps them as bytes.
    pub fn with_encoding(mut self, encoding: Option<Encoding>) -> Self {
        self.encoding = encoding;
        self
    }

    /// Whether trailing NUL bytes are stripped from received string fields (on by default).
    pub fn with_strip_trailing_nul(mut self, strip: bool) -> Self {
        self.strip_trailing_nul = strip;
        self
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[RecordField] {
        &self.fields
    }

    /// The struct format of the whole record.
    pub fn format(&self) -> &StructFormat {
        &self.format
    }

    fn pack(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        let Value::Map(entries) = packet else {
            return Err(SerializeError::new(
                "a record packet must be a map of field names",
            ));
        };
        let mut values: Vec<Cow<'_, Value>> = Vec::with_capacity(self.fields.len());
        for (field, &is_string) in self.fields.iter().zip(&self.is_string) {
            let value = packet.get(&field.name).ok_or_else(|| {
                SerializeError::new(format!("missing field {:?} in the record", field.name))
            })?;
            values.push(match (value, is_string, self.encoding) {
                (Value::Str(text), true, Some(encoding)) => {
                    let mut encoded = BytesMut::with_capacity(text.len());
                    encoding
                        .encode(text, &mut encoded)
                        .map_err(|e| SerializeError::new(format!("field {:?}: {e}", field.name)))?;
                    Cow::Owned(Value::Bytes(encoded.to_vec()))
                }
                (Value::Str(_), true, None) => {
                    return Err(SerializeError::new(format!(
                        "field {:?}: text given, but the record has no encoding: use bytes",
                        field.name
                    )))
                }
                _ => Cow::Borrowed(value),
            });
        }
        if entries.len() != self.fields.len() {
            // Every field was found, so some key is not a field (or is repeated).
            let unknown = entries.iter().map(|(k, _)| k).find(|k| {
                !self
                    .fields
                    .iter()
                    .any(|f| k.as_str() == Some(f.name.as_str()))
            });
            return Err(SerializeError::new(match unknown {
                Some(key) => format!("unknown field {key:?} in the record"),
                None => "repeated field in the record".to_owned(),
            }));
        }
        self.format.pack_values(&values, dst)
    }

    fn unpack(&self, data: &[u8]) -> Result<Value, DeserializeError> {
        let values = self.format.unpack(data)?;
        let mut entries = Vec::with_capacity(values.len());
        for ((field, &is_string), value) in self.fields.iter().zip(&self.is_string).zip(values) {
            let value = match (value, is_string) {
                (Value::Bytes(mut bytes), true) => {
                    if self.strip_trailing_nul {
                        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                        bytes.truncate(end);
                    }
                    match self.encoding {
                        Some(encoding) => Value::Str(encoding.decode(&bytes).map_err(|e| {
                            DeserializeError::invalid(format!("field {:?}: {e}", field.name))
                        })?),
                        None => Value::Bytes(bytes),
                    }
                }
                (value, _) => value,
            };
            entries.push((Value::Str(field.name.clone()), value));
        }
        Ok(Value::Map(entries))
    }
}

/// Checks a field format: one value-holding format character, or `<N>s`. Returns whether the
/// field is a string field.
fn field_is_string(field: &RecordField) -> Result<bool, StructFormatError> {
    let format = field.format.as_bytes();
    let invalid = || {
        StructFormatError::new(format!(
            "field {:?}: invalid field format {:?} (expected one format character or <N>s)",
            field.name, field.format
        ))
    };
    match format {
        [prefix @ .., b's'] if prefix.iter().all(u8::is_ascii_digit) => Ok(true),
        [code] if *code != b'x' && kind_of(*code).is_some() => Ok(false),
        _ => Err(invalid()),
    }
}

impl DatagramSerializer for RecordSerializer {
    type Sent = Value;
    type Received = Value;

    fn serialize(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.pack(packet, dst)
    }

    fn deserialize(&self, datagram: &[u8]) -> Result<Value, DeserializeError> {
        self.unpack(datagram)
    }
}

impl StreamSerializer for RecordSerializer {
    type Sent = Value;
    type Received = Value;
    type DecodeState = ();

    fn decode_state(&self) {}

    fn encode(&self, packet: &Value, dst: &mut BytesMut) -> Result<(), SerializeError> {
        self.pack(packet, dst)
    }

    fn decode(
        &self,
        _state: &mut (),
        src: &mut BytesMut,
    ) -> Result<Option<Value>, DeserializeError> {
        decode_fixed(self.format.size(), src, |frame| self.unpack(frame))
    }
}

#[cfg(test)]
mod tests;
