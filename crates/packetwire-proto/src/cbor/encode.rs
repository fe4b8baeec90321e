//! The CBOR encoder: ciborium's serde mapping, cbor2's floats, in one pass into a `Vec<u8>`.
//!
//! Packets must come out as Python's cbor2 writes them. ciborium maps serde's data model the way
//! we want (structs as maps keyed by field name, enums as one-entry maps, `i128` beyond 64 bits
//! as bignums, its `tag` types as CBOR tags), but writes every float in the shortest width that
//! keeps its value, where cbor2 writes finite floats as doubles, NaN as `F9 7E 00` and the
//! infinities as `F9 7C 00` and `F9 FC 00`. Rewriting ciborium's output afterwards means walking
//! every header a second time; wrapping its serializer to catch the floats costs nearly as much.
//! This encoder writes the same bytes as ciborium 0.2 for everything but floats, and cbor2's
//! bytes for floats, in a single pass (and faster than ciborium, whose encoder makes two writer
//! calls per header). The tests check it against ciborium's output with the floats rewritten.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

/// ciborium's markers for its `tag` types: an enum of this name...
const TAG_ENUM: &str = "@@TAG@@";
/// ...whose variant of this name holds a tag number and the tagged value...
const TAGGED: &str = "@@TAGGED@@";
/// ...and whose variant of this name holds just the value.
const UNTAGGED: &str = "@@UNTAGGED@@";

/// CBOR major types.
const UNSIGNED: u8 = 0;
const NEGATIVE: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const TAG: u8 = 6;

/// Initial bytes of the header-only items.
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;
const INDEFINITE_ARRAY: u8 = 0x9f;
const INDEFINITE_MAP: u8 = 0xbf;
const BREAK: u8 = 0xff;

/// Bignum tags (RFC 8949, 3.4.3).
const BIGNUM_POSITIVE: u64 = 2;
const BIGNUM_NEGATIVE: u64 = 3;

/// A packet that cannot be encoded: its `Serialize` implementation failed, or it misused
/// ciborium's tag types.
#[derive(Debug)]
pub(super) struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

impl ser::Error for EncodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Appends the CBOR encoding of `value` to `out`.
pub(super) fn encode<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    value.serialize(&mut Encoder { out })
}

/// cbor2's encoding of a float.
pub(super) fn python_float(value: f64) -> ([u8; 9], usize) {
    let mut bytes = [0u8; 9];
    if value.is_nan() {
        bytes[..3].copy_from_slice(&[0xf9, 0x7e, 0x00]);
        (bytes, 3)
    } else if value.is_infinite() {
        let high = if value > 0.0 { 0x7c } else { 0xfc };
        bytes[..3].copy_from_slice(&[0xf9, high, 0x00]);
        (bytes, 3)
    } else {
        bytes[0] = 0xfb;
        bytes[1..].copy_from_slice(&value.to_be_bytes());
        (bytes, 9)
    }
}

struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl Encoder<'_> {
    /// A header of major type `major` whose argument is `arg`, in its shortest form.
    #[inline]
    fn header(&mut self, major: u8, arg: u64) {
        let major = major << 5;
        if arg < 24 {
            self.out.push(major | arg as u8);
        } else if let Ok(arg) = u8::try_from(arg) {
            self.out.extend_from_slice(&[major | 24, arg]);
        } else if let Ok(arg) = u16::try_from(arg) {
            let [a, b] = arg.to_be_bytes();
            self.out.extend_from_slice(&[major | 25, a, b]);
        } else if let Ok(arg) = u32::try_from(arg) {
            let [a, b, c, d] = arg.to_be_bytes();
            self.out.extend_from_slice(&[major | 26, a, b, c, d]);
        } else {
            let [a, b, c, d, e, f, g, h] = arg.to_be_bytes();
            self.out
                .extend_from_slice(&[major | 27, a, b, c, d, e, f, g, h]);
        }
    }

    #[inline]
    fn length(&mut self, major: u8, len: usize) {
        // usize is at most 64 bits wide on every supported target.
        self.header(major, len as u64);
    }

    #[inline]
    fn text(&mut self, text: &str) {
        self.length(TEXT, text.len());
        self.out.extend_from_slice(text.as_bytes());
    }

    /// An integer beyond 64 bits: a bignum tag and the magnitude's big-endian bytes, leading
    /// zeros dropped.
    fn bignum(&mut self, tag: u64, magnitude: u128) {
        let bytes = magnitude.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        self.header(TAG, tag);
        self.length(BYTES, bytes.len() - skip);
        self.out.extend_from_slice(&bytes[skip..]);
    }

    /// The header of a one-entry map keyed by an enum variant's name (how ciborium writes
    /// variants that hold data).
    #[inline]
    fn variant_key(&mut self, variant: &str) {
        self.header(MAP, 1);
        self.text(variant);
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Encoder<'b> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), EncodeError> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), EncodeError> {
        self.serialize_i64(v.into())
    }

    #[inline]
    fn serialize_i16(self, v: i16) -> Result<(), EncodeError> {
        self.serialize_i64(v.into())
    }

    #[inline]
    fn serialize_i32(self, v: i32) -> Result<(), EncodeError> {
        self.serialize_i64(v.into())
    }

    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), EncodeError> {
        if v < 0 {
            // -1 - v, which is !v in two's complement.
            self.header(NEGATIVE, !v as u64);
        } else {
            self.header(UNSIGNED, v as u64);
        }
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), EncodeError> {
        let (major, tag, magnitude) = if v < 0 {
            (NEGATIVE, BIGNUM_NEGATIVE, !v as u128)
        } else {
            (UNSIGNED, BIGNUM_POSITIVE, v as u128)
        };
        match u64::try_from(magnitude) {
            Ok(small) => self.header(major, small),
            Err(_) => self.bignum(tag, magnitude),
        }
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), EncodeError> {
        self.serialize_u64(v.into())
    }

    #[inline]
    fn serialize_u16(self, v: u16) -> Result<(), EncodeError> {
        self.serialize_u64(v.into())
    }

    #[inline]
    fn serialize_u32(self, v: u32) -> Result<(), EncodeError> {
        self.serialize_u64(v.into())
    }

    #[inline]
    fn serialize_u64(self, v: u64) -> Result<(), EncodeError> {
        self.header(UNSIGNED, v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), EncodeError> {
        match u64::try_from(v) {
            Ok(small) => self.header(UNSIGNED, small),
            Err(_) => self.bignum(BIGNUM_POSITIVE, v),
        }
        Ok(())
    }

    #[inline]
    fn serialize_f32(self, v: f32) -> Result<(), EncodeError> {
        self.serialize_f64(v.into())
    }

    #[inline]
    fn serialize_f64(self, v: f64) -> Result<(), EncodeError> {
        let (bytes, len) = python_float(v);
        self.out.extend_from_slice(&bytes[..len]);
        Ok(())
    }

    #[inline]
    fn serialize_char(self, v: char) -> Result<(), EncodeError> {
        self.text(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), EncodeError> {
        self.text(v);
        Ok(())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), EncodeError> {
        self.length(BYTES, v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }

    #[inline]
    fn serialize_none(self) -> Result<(), EncodeError> {
        self.out.push(NULL);
        Ok(())
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), EncodeError> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), EncodeError> {
        self.serialize_none()
    }

    #[inline]
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), EncodeError> {
        self.serialize_none()
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), EncodeError> {
        self.serialize_str(variant)
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        if name != TAG_ENUM || variant != UNTAGGED {
            self.variant_key(variant);
        }
        value.serialize(self)
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, 'b>, EncodeError> {
        match len {
            Some(len) => self.length(ARRAY, len),
            None => self.out.push(INDEFINITE_ARRAY),
        }
        Ok(Compound::new(self, len.is_none()))
    }

    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, EncodeError> {
        self.serialize_seq(Some(len))
    }

    #[inline]
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, EncodeError> {
        self.serialize_seq(Some(len))
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, EncodeError> {
        if name == TAG_ENUM && variant == TAGGED {
            // A tag number, then the tagged value.
            return Ok(Compound {
                encoder: self,
                ending: false,
                tag_next: true,
            });
        }
        self.variant_key(variant);
        self.length(ARRAY, len);
        Ok(Compound::new(self, false))
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, 'b>, EncodeError> {
        match len {
            Some(len) => self.length(MAP, len),
            None => self.out.push(INDEFINITE_MAP),
        }
        Ok(Compound::new(self, len.is_none()))
    }

    #[inline]
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, EncodeError> {
        self.length(MAP, len);
        Ok(Compound::new(self, false))
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, EncodeError> {
        self.variant_key(variant);
        self.length(MAP, len);
        Ok(Compound::new(self, false))
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// An array, map, struct or tagged value being written.
pub(super) struct Compound<'a, 'b> {
    encoder: &'a mut Encoder<'b>,
    /// An indefinite length: a break byte ends it.
    ending: bool,
    /// A ciborium tag type: the next field is the tag number.
    tag_next: bool,
}

impl<'a, 'b> Compound<'a, 'b> {
    #[inline]
    fn new(encoder: &'a mut Encoder<'b>, ending: bool) -> Self {
        Self {
            encoder,
            ending,
            tag_next: false,
        }
    }

    #[inline]
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut *self.encoder)
    }

    #[inline]
    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.encoder.text(key);
        value.serialize(&mut *self.encoder)
    }

    #[inline]
    fn finish(self) -> Result<(), EncodeError> {
        if self.ending {
            self.encoder.out.push(BREAK);
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.value(value)
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.value(value)
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.value(value)
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        if !self.tag_next {
            return self.value(value);
        }
        self.tag_next = false;
        let tag = value
            .serialize(TagNumber)
            .map_err(|_| EncodeError("expected tag".to_owned()))?;
        self.encoder.header(TAG, tag);
        Ok(())
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EncodeError> {
        self.value(key)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.value(value)
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.field(key, value)
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = EncodeError;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.field(key, value)
    }

    #[inline]
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

/// Reads the tag number of a ciborium tag type: an unsigned integer of at most 64 bits, nothing
/// else.
struct TagNumber;

/// Why [`TagNumber`] refused a value (the caller reports ciborium's "expected tag").
#[derive(Debug)]
struct NotATag;

impl fmt::Display for NotATag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected tag")
    }
}

impl std::error::Error for NotATag {}

impl ser::Error for NotATag {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Self
    }
}

impl ser::Serializer for TagNumber {
    type Ok = u64;
    type Error = NotATag;
    type SerializeSeq = Impossible<u64, NotATag>;
    type SerializeTuple = Impossible<u64, NotATag>;
    type SerializeTupleStruct = Impossible<u64, NotATag>;
    type SerializeTupleVariant = Impossible<u64, NotATag>;
    type SerializeMap = Impossible<u64, NotATag>;
    type SerializeStruct = Impossible<u64, NotATag>;
    type SerializeStructVariant = Impossible<u64, NotATag>;

    fn serialize_u8(self, v: u8) -> Result<u64, NotATag> {
        Ok(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<u64, NotATag> {
        Ok(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<u64, NotATag> {
        Ok(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<u64, NotATag> {
        Ok(v)
    }

    fn serialize_bool(self, _: bool) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_i8(self, _: i8) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_i16(self, _: i16) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_i32(self, _: i32) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_i64(self, _: i64) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_i128(self, _: i128) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_u128(self, _: u128) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_f32(self, _: f32) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_f64(self, _: f64) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_char(self, _: char) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_str(self, _: &str) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_none(self) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_unit(self) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<u64, NotATag> {
        Err(NotATag)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotATag> {
        Err(NotATag)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotATag> {
        Err(NotATag)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotATag> {
        Err(NotATag)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotATag> {
        Err(NotATag)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotATag> {
        Err(NotATag)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotATag> {
        Err(NotATag)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotATag> {
        Err(NotATag)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}
