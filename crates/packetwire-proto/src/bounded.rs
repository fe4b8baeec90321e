//! A serde `Deserializer` adapter for parsing a stream's next item straight from the buffer.
//!
//! The stream decoders normally frame an item with a scanner before any serde code runs: the
//! scanner refuses items nesting deeper than [`MAX_DEPTH`](crate::item_scan::MAX_DEPTH), and the
//! parse then reads exactly the item. A fast path that hands the buffer straight to the serde
//! library must get the same guarantees from the parse itself, whatever the packet type's
//! `Deserialize` implementation does. [`deserialize_bounded`] wraps the library's deserializer,
//! and every visitor, `SeqAccess`, `MapAccess`, `EnumAccess` and `VariantAccess` it hands out:
//!
//! * **Depth.** One level is counted each time a visitor is given a sequence, a map or an enum,
//!   and the parse fails past `max_depth` levels. Every container a self-describing format
//!   reads is handed to a visitor as one of those, so the count is never below the item's real
//!   nesting (the libraries' own counters can be: rmp-serde does not count the one-entry map that
//!   holds an enum variant, so a recursive enum could nest without limit). It can be above it (an
//!   enum written as a bare string, byte data presented as a sequence), which only makes the fast
//!   path give up and leave the item to the scanner.
//! * **Whole values.** A visitor that returns before reading all of a sequence, map or enum
//!   variant would leave bytes of the item unread, and the caller could not tell where the item
//!   ends. After a sequence or map visitor returns, the adapter asks for one more element or
//!   entry and fails the parse if there is one (a no-op for rmp-serde's arrays and maps, which
//!   check their counts; it catches an extension's unread data); an enum visitor must use the
//!   variant's content.
//! * **Memory.** Size hints of sequences and maps are capped at `max_len`, the number of bytes
//!   the parse may read (each element takes at least one): the item may not have fully arrived,
//!   and the count its header announces must not make serde reserve memory for elements that
//!   are not there.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// Deserializes a `T` from `de` under the rules of the [module documentation](self).
pub(crate) fn deserialize_bounded<'de, T, D>(
    de: D,
    max_depth: usize,
    max_len: usize,
) -> Result<T, D::Error>
where
    T: de::Deserialize<'de>,
    D: Deserializer<'de>,
{
    let limits = Limits {
        depth_left: Cell::new(max_depth),
        variants_open: Cell::new(0),
        max_len,
    };
    T::deserialize(Bounded {
        inner: de,
        limits: &limits,
    })
}

/// The state shared by all the wrappers of one parse.
struct Limits {
    /// Levels still allowed below the current one.
    depth_left: Cell<usize>,
    /// Enums handed to a visitor whose variant content has not been read yet.
    variants_open: Cell<usize>,
    /// Largest size hint passed on.
    max_len: usize,
}

impl Limits {
    /// Runs `f` one level deeper, or fails when no level is left.
    #[inline]
    fn nested<R, E: de::Error>(&self, f: impl FnOnce() -> Result<R, E>) -> Result<R, E> {
        let left = self.depth_left.get();
        if left == 0 {
            return Err(E::custom("nested too deep"));
        }
        self.depth_left.set(left - 1);
        let result = f();
        self.depth_left.set(left);
        result
    }

    #[inline]
    fn cap(&self, hint: Option<usize>) -> Option<usize> {
        hint.map(|n| n.min(self.max_len))
    }
}

/// The wrapped deserializer.
struct Bounded<'l, D> {
    inner: D,
    limits: &'l Limits,
}

/// The wrapped visitor.
struct Wrap<'l, V> {
    inner: V,
    limits: &'l Limits,
}

/// A wrapped `SeqAccess`, `MapAccess`, `EnumAccess` or `VariantAccess`.
struct Access<'l, A> {
    inner: A,
    limits: &'l Limits,
}

/// A wrapped `DeserializeSeed`.
struct Seed<'l, S> {
    inner: S,
    limits: &'l Limits,
}

macro_rules! forward_deserialize {
    ($($method:ident ( $($arg:ident : $ty:ty),* );)*) => {
        $(
            #[inline]
            fn $method<V: Visitor<'de>>(
                self,
                $($arg: $ty,)*
                visitor: V,
            ) -> Result<V::Value, D::Error> {
                let visitor = Wrap { inner: visitor, limits: self.limits };
                self.inner.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident ( $ty:ty );)*) => {
        $(
            #[inline]
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Bounded {
            inner: d,
            limits: self.limits,
        })
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Bounded {
            inner: d,
            limits: self.limits,
        })
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let limits = self.limits;
        limits.nested(|| {
            let mut seq = Access { inner: seq, limits };
            let value = self.inner.visit_seq(&mut seq)?;
            match seq.inner.next_element::<IgnoredAny>()? {
                None => Ok(value),
                Some(_) => Err(de::Error::custom("sequence not read to its end")),
            }
        })
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let limits = self.limits;
        limits.nested(|| {
            let mut map = Access { inner: map, limits };
            let value = self.inner.visit_map(&mut map)?;
            match map.inner.next_key::<IgnoredAny>()? {
                None => Ok(value),
                Some(_) => Err(de::Error::custom("map not read to its end")),
            }
        })
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let limits = self.limits;
        limits.nested(|| {
            // The visitor must take the variant and read its content.
            let open = limits.variants_open.get();
            limits.variants_open.set(open + 1);
            let value = self.inner.visit_enum(Access {
                inner: data,
                limits,
            })?;
            if limits.variants_open.get() != open {
                return Err(de::Error::custom("enum variant not read"));
            }
            Ok(value)
        })
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Bounded {
            inner: d,
            limits: self.limits,
        })
    }
}

impl<'l, A> Access<'l, A> {
    #[inline]
    fn seed<S>(&self, inner: S) -> Seed<'l, S> {
        Seed {
            inner,
            limits: self.limits,
        }
    }

    #[inline]
    fn visitor<V>(&self, inner: V) -> Wrap<'l, V> {
        Wrap {
            inner,
            limits: self.limits,
        }
    }

    /// The variant's content is being read.
    #[inline]
    fn variant_read(&self) {
        let open = &self.limits.variants_open;
        open.set(open.get().saturating_sub(1));
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_element_seed(seed)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.limits.cap(self.inner.size_hint())
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_key_seed(seed)
    }

    #[inline]
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_value_seed(seed)
    }

    #[inline]
    fn next_entry_seed<K: DeserializeSeed<'de>, T: DeserializeSeed<'de>>(
        &mut self,
        key: K,
        value: T,
    ) -> Result<Option<(K::Value, T::Value)>, A::Error> {
        let (key, value) = (self.seed(key), self.seed(value));
        self.inner.next_entry_seed(key, value)
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.limits.cap(self.inner.size_hint())
    }
}

impl<'de, 'l, A: EnumAccess<'de>> EnumAccess<'de> for Access<'l, A> {
    type Error = A::Error;
    type Variant = Access<'l, A::Variant>;

    #[inline]
    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let seed = self.seed(seed);
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((
            value,
            Access {
                inner: variant,
                limits: self.limits,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Access<'_, A> {
    type Error = A::Error;

    #[inline]
    fn unit_variant(self) -> Result<(), A::Error> {
        self.variant_read();
        self.inner.unit_variant()
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.variant_read();
        let seed = self.seed(seed);
        self.inner.newtype_variant_seed(seed)
    }

    #[inline]
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.variant_read();
        let visitor = self.visitor(visitor);
        self.inner.tuple_variant(len, visitor)
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.variant_read();
        let visitor = self.visitor(visitor);
        self.inner.struct_variant(fields, visitor)
    }
}
