//! Whether a decode skipped a value: a pass-through serde deserializer that
//! raises a flag when the type being decoded ignores something (serde's
//! derived code decodes a field it does not know as `IgnoredAny`, which
//! asks for `deserialize_ignored_any`).
//!
//! The envelope's load uses it so that the common record, one whose every
//! field this release knows, costs one plain decode: no path is built and
//! no map key is copied. Only when the flag is up does the envelope decode
//! the body again, noting each skipped field's path (`envelope.rs`). The
//! idea of wrapping a deserializer to see what it ignores is the
//! `serde_ignored` crate's, which the second decode uses; this wrapper
//! keeps no path, so it allocates nothing.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// Decodes `T` through [`Watched`], answering the value and whether any
/// part of the input was skipped.
pub(crate) struct WatchSkips<'f, T> {
    skipped: &'f Cell<bool>,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<'f, T> WatchSkips<'f, T> {
    /// A seed that raises `skipped` if `T` ignores any value.
    pub(crate) fn new(skipped: &'f Cell<bool>) -> Self {
        WatchSkips {
            skipped,
            _type: std::marker::PhantomData,
        }
    }
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for WatchSkips<'_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize(Watched::new(deserializer, self.skipped))
    }
}

/// A deserializer (or a visitor, a seed, an access) passed through
/// unchanged, with the flag that an ignored value raises. Every nested
/// value the inner deserializer hands on is wrapped again, so a skip at
/// any depth is seen.
struct Watched<'f, X> {
    inner: X,
    skipped: &'f Cell<bool>,
}

impl<'f, X> Watched<'f, X> {
    fn new(inner: X, skipped: &'f Cell<bool>) -> Self {
        Watched { inner, skipped }
    }

    /// Another value, watched with the same flag.
    fn wrap<Y>(&self, inner: Y) -> Watched<'f, Y> {
        Watched::new(inner, self.skipped)
    }
}

/// The `deserialize_*` methods that take only a visitor.
macro_rules! forward_visitor {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.$method(visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Watched<'_, D> {
    type Error = D::Error;

    forward_visitor! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16
        deserialize_i32 deserialize_i64 deserialize_i128 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    /// The one place where something is skipped: what is inside the
    /// ignored value does not matter, so it is not watched.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.skipped.set(true);
        self.inner.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The `visit_*` methods of plain values, handed on as they are.
macro_rules! forward_value {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Watched<'_, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(formatter)
    }

    forward_value! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32)
        visit_i64(i64) visit_i128(i128) visit_u8(u8) visit_u16(u16)
        visit_u32(u32) visit_u64(u64) visit_u128(u128) visit_f32(f32)
        visit_f64(f64) visit_char(char) visit_str(&str)
        visit_borrowed_str(&'de str) visit_string(String) visit_bytes(&[u8])
        visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        let deserializer = self.wrap(deserializer);
        self.inner.visit_some(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        let deserializer = self.wrap(deserializer);
        self.inner.visit_newtype_struct(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let seq = self.wrap(seq);
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let map = self.wrap(map);
        self.inner.visit_map(map)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let data = self.wrap(data);
        self.inner.visit_enum(data)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Watched<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        let deserializer = self.wrap(deserializer);
        self.inner.deserialize(deserializer)
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Watched<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Watched<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'f, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Watched<'f, A> {
    type Error = A::Error;
    type Variant = Watched<'f, A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), A::Error> {
        let skipped = self.skipped;
        let (value, variant) = self.inner.variant_seed(Watched::new(seed, skipped))?;
        Ok((value, Watched::new(variant, skipped)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Watched<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.struct_variant(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::codec::Codec;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: u8,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Choice {
        One(Inner),
        Two { inner: Inner },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Known {
        plain: Inner,
        optional: Option<Inner>,
        list: Vec<Inner>,
        map: BTreeMap<String, Inner>,
        choice: Choice,
        pair: (Inner, u8),
    }

    /// Whether decoding `Known` from `value` skipped something, and what
    /// it decoded.
    fn skips(codec: Codec, value: &serde_json::Value) -> (bool, Known) {
        let bytes = codec.encode(value).unwrap();
        let skipped = Cell::new(false);
        let known = codec
            .decode_seed(&bytes, WatchSkips::<Known>::new(&skipped))
            .unwrap();
        (skipped.get(), known)
    }

    fn known() -> serde_json::Value {
        serde_json::json!({
            "plain": {"a": 1},
            "optional": {"a": 2},
            "list": [{"a": 3}],
            "map": {"k": {"a": 4}},
            "choice": {"Two": {"inner": {"a": 5}}},
            "pair": [{"a": 6}, 7],
        })
    }

    #[test]
    fn a_value_of_known_fields_raises_nothing() {
        for codec in [Codec::MessagePack, Codec::Json] {
            let (skipped, decoded) = skips(codec, &known());
            assert!(!skipped, "{codec:?}");
            assert_eq!(
                decoded.choice,
                Choice::Two {
                    inner: Inner { a: 5 }
                }
            );
            assert_eq!(decoded.pair, (Inner { a: 6 }, 7));
        }
    }

    #[test]
    fn an_unknown_field_at_any_depth_raises_the_flag() {
        let places = [
            "/plain",
            "/optional",
            "/list/0",
            "/map/k",
            "/choice/Two/inner",
            "/pair/0",
        ];
        for codec in [Codec::MessagePack, Codec::Json] {
            let mut top = known();
            top["new"] = serde_json::json!([1, 2]);
            assert!(skips(codec, &top).0, "top level, {codec:?}");
            for place in places {
                let mut value = known();
                value.pointer_mut(place).unwrap()["new"] = serde_json::json!({"x": 1});
                let (skipped, decoded) = skips(codec, &value);
                assert!(skipped, "{place}, {codec:?}");
                assert_eq!(decoded.plain, Inner { a: 1 }, "{place}");
            }
        }
    }

    #[test]
    fn a_newtype_variant_is_watched_too() {
        let mut value = known();
        value["choice"] = serde_json::json!({"One": {"a": 8, "new": true}});
        let (skipped, decoded) = skips(Codec::MessagePack, &value);
        assert!(skipped);
        assert_eq!(decoded.choice, Choice::One(Inner { a: 8 }));
    }
}
