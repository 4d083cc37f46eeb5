//! The stored envelope: what a record's bytes hold around the
//! application's data, and how fields unknown to this release survive a
//! save.
//!
//! # Format
//!
//! With [`Codec::MessagePack`] and [`Codec::Json`] a record's data is
//!
//! | bytes | what |
//! |---|---|
//! | 0 | `0xC1`, the format tag (a byte that never starts a MessagePack value, nor JSON text) |
//! | 1 | the body's encoding: `0x01` MessagePack with named fields, `0x02` JSON |
//! | 2..6 | the schema version of the data, a big-endian `u32` (0: unversioned) |
//! | 6.. | the body: a map `{"data": <the session data>, "flash": [{"level", "text"}, ...], "meta": {...}, "csrf": "<base64url>"}` |
//!
//! `meta` is the library's own part of the session, beside the
//! application's data: the client's address and user agent when the
//! configuration keeps them, and the idle timeout of a remembered session
//! (see `meta.rs`). It is left out when empty, so a record without metadata
//! has the same bytes as before the key existed; a release that does not
//! know the key keeps it through its saves like any unknown field.
//! `csrf`, the secret of the session's CSRF tokens, is there only once a
//! token was asked for, and likewise left out otherwise.
//!
//! [`Codec::Bincode`] writes the untagged envelope of the releases before
//! the tag existed: bincode of `(data, flash)`, positional, without a
//! version, and therefore without `meta` (bincode cannot add a field that
//! older readers would skip); a session with a CSRF secret appends it,
//! `(data, flash, Some(csrf))`, and reading tries the short form first.
//! Reading, a tagged record is decoded by the encoding its tag
//! names whatever the configured codec; an untagged one is read as that
//! previous format: bincode with [`Codec::MessagePack`] (the previous
//! default) or [`Codec::Bincode`], untagged JSON with [`Codec::Json`]; it
//! counts as schema version 0.
//!
//! # Unknown fields
//!
//! Decoding notes whether the session type skipped anything (a field that
//! only a newer release knows; `skips.rs`, which allocates nothing, so a
//! record without such fields costs one plain decode). Only then is the
//! body decoded again, noting each skipped map key's path, and once more
//! into a MessagePack value tree, and the skipped values are kept with
//! their paths. At the next save they are put back where they were:
//! into the map at the same path, if the new data still has a map there and
//! no key of that name. Kept: fields of structs and entries of maps, at any
//! depth where every level above is a struct or map (through `Option` and
//! newtypes). Not kept: anything under a sequence element (a `Vec` of
//! structs may be reordered or resized, so the element is not known), inside
//! an enum variant, unknown enum variants (those fail to decode), and fields
//! under a map that the new data no longer has (set to `None`). A field that
//! the current type knows but omits (`skip_serializing_if`) is not unknown,
//! so an old value never comes back. Records migrated from an older schema
//! version keep nothing: the migration says what the new version holds.
//! With [`Codec::Json`], a record whose kept fields JSON cannot hold as
//! they are (read from a MessagePack body: map keys that are not text,
//! bytes, and the like) is written with a MessagePack body, so that nothing
//! is changed or refused.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer};
use serde::{Deserialize, Serialize};

use crate::codec::{Codec, CodecError};
use crate::csrf::CsrfSecret;
use crate::flash::FlashMessage;
use crate::meta::Meta;
use crate::schema::Schema;
use crate::skips::WatchSkips;

/// The first byte of a tagged envelope: `0xC1` is never used by
/// MessagePack and is not valid in UTF-8, so no MessagePack or JSON value
/// starts with it.
pub(crate) const FORMAT_TAG: u8 = 0xC1;
/// The body is MessagePack with named fields.
pub(crate) const BODY_MESSAGE_PACK: u8 = 0x01;
/// The body is JSON.
pub(crate) const BODY_JSON: u8 = 0x02;
/// Tag, body encoding, schema version.
const HEADER_LEN: usize = 6;

/// What the codec actually stores: the application's data plus the flash
/// messages that wait for a later request.
#[derive(Serialize)]
struct EnvelopeRef<'a, T> {
    data: &'a T,
    flash: &'a [FlashMessage],
    #[serde(skip_serializing_if = "Meta::is_empty")]
    meta: &'a Meta,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<&'a CsrfSecret>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
    flash: Vec<FlashMessage>,
    #[serde(default)]
    meta: Meta,
    #[serde(default)]
    csrf: Option<CsrfSecret>,
}

/// The positional envelope of [`Codec::Bincode`]: no room for `meta`; the
/// CSRF secret, when there is one, is appended (skipped when absent, which
/// keeps the short form).
#[derive(Serialize)]
struct BincodeRef<'a, T> {
    data: &'a T,
    flash: &'a [FlashMessage],
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<&'a CsrfSecret>,
}

/// bincode's short form, `(data, flash)`.
#[derive(Deserialize)]
struct BincodeEnvelope<T> {
    data: T,
    flash: Vec<FlashMessage>,
}

/// bincode's form with a CSRF secret, `(data, flash, Some(csrf))`.
#[derive(Deserialize)]
struct BincodeWithCsrf<T> {
    data: T,
    flash: Vec<FlashMessage>,
    csrf: Option<CsrfSecret>,
}

/// Only the library's part of a stored envelope, for listing sessions
/// without decoding the application's data.
#[derive(Deserialize)]
struct MetaOnly {
    #[serde(default)]
    meta: Meta,
}

/// A decoded record's data.
#[derive(Debug)]
pub(crate) struct Decoded<T> {
    pub(crate) data: T,
    pub(crate) flash: Vec<FlashMessage>,
    /// The library's metadata stored with the data.
    pub(crate) meta: Meta,
    /// The secret of the session's CSRF tokens, if it has one.
    pub(crate) csrf: Option<CsrfSecret>,
    /// The fields of the stored value that `T` does not know.
    pub(crate) unknown: Unknown,
    /// The schema version it was migrated from, if it was.
    pub(crate) migrated_from: Option<u32>,
}

/// Values of a stored envelope that the session type skipped, with the
/// map keys that lead to each from the envelope's root.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Unknown {
    fields: Vec<(Vec<String>, rmpv::Value)>,
}

impl Unknown {
    /// Whether nothing is kept (the fast path).
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether JSON holds every kept value as it is: not so for values read
    /// from a MessagePack body with map keys that are not text, text that
    /// is not UTF-8, bytes, extension types, 32-bit or non-finite floats.
    fn fits_json(&self) -> bool {
        self.fields.iter().all(|(_, value)| fits_json(value))
    }
}

fn fits_json(value: &rmpv::Value) -> bool {
    use rmpv::Value;
    match value {
        Value::Nil | Value::Boolean(_) | Value::Integer(_) => true,
        Value::F64(f) => f.is_finite(),
        Value::String(text) => text.is_str(),
        Value::Array(items) => items.iter().all(fits_json),
        Value::Map(entries) => entries
            .iter()
            .all(|(key, value)| matches!(key, Value::String(k) if k.is_str()) && fits_json(value)),
        Value::F32(_) | Value::Binary(_) | Value::Ext(..) => false,
    }
}

/// The body of a record, in the encoding its header names.
pub(crate) struct Body<'a> {
    codec: Codec,
    bytes: &'a [u8],
}

impl Body<'_> {
    /// Decodes the body as an envelope of `U`, noting the fields `U` skips.
    pub(crate) fn decode<U: DeserializeOwned>(&self) -> Result<Decoded<U>, CodecError> {
        if self.codec == Codec::Bincode {
            // Positional: nothing can be skipped, so nothing is tracked.
            let envelope = match self.codec.decode::<BincodeEnvelope<U>>(self.bytes) {
                Ok(short) => BincodeWithCsrf {
                    data: short.data,
                    flash: short.flash,
                    csrf: None,
                },
                Err(CodecError::TrailingBytes(_)) => self.codec.decode(self.bytes)?,
                Err(error) => return Err(error),
            };
            return Ok(Decoded {
                data: envelope.data,
                flash: envelope.flash,
                meta: Meta::default(),
                csrf: envelope.csrf,
                unknown: Unknown::default(),
                migrated_from: None,
            });
        }
        // The common record: every field known, one plain decode.
        let skipped = Cell::new(false);
        let envelope = self
            .codec
            .decode_seed(self.bytes, WatchSkips::<Envelope<U>>::new(&skipped))?;
        if !skipped.get() {
            return Ok(Decoded {
                data: envelope.data,
                flash: envelope.flash,
                meta: envelope.meta,
                csrf: envelope.csrf,
                unknown: Unknown::default(),
                migrated_from: None,
            });
        }
        self.decode_keeping_unknown()
    }

    /// The rare record with fields `U` does not know (written by another
    /// release): decoded again, noting the path of each skipped field, and
    /// the values at those paths kept.
    fn decode_keeping_unknown<U: DeserializeOwned>(&self) -> Result<Decoded<U>, CodecError> {
        let mut skipped = Vec::new();
        let envelope = self.codec.decode_seed(
            self.bytes,
            NoteSkipped::<Envelope<U>, _>::new(|path: serde_ignored::Path<'_>| {
                skipped.push(keys_of(&path));
            }),
        )?;
        let unknown = match skipped.is_empty() {
            true => Unknown::default(),
            false => self.keep(skipped)?,
        };
        Ok(Decoded {
            data: envelope.data,
            flash: envelope.flash,
            meta: envelope.meta,
            csrf: envelope.csrf,
            unknown,
            migrated_from: None,
        })
    }

    /// The skipped values, from a second decode into a value tree.
    fn keep(&self, skipped: Vec<Option<Vec<String>>>) -> Result<Unknown, CodecError> {
        let tree: rmpv::Value = self.codec.decode(self.bytes)?;
        let mut fields = Vec::new();
        for path in skipped {
            let Some(path) = path else {
                tracing::debug!("a field unknown to this release is inside a sequence or enum and cannot be kept");
                continue;
            };
            if let Some(value) = find(&tree, &path) {
                fields.push((path, value.clone()));
            }
        }
        Ok(Unknown { fields })
    }
}

/// The map keys from the root to a skipped field, or `None` where the path
/// crosses a sequence element or an enum variant (which cannot be kept).
fn keys_of(path: &serde_ignored::Path<'_>) -> Option<Vec<String>> {
    use serde_ignored::Path;
    match path {
        Path::Root => Some(Vec::new()),
        Path::Map { parent, key } => {
            let mut keys = keys_of(parent)?;
            keys.push(key.clone());
            Some(keys)
        }
        // Transparent in the encodings: `Some(x)` and `Newtype(x)` are `x`.
        Path::Some { parent } | Path::NewtypeStruct { parent } => keys_of(parent),
        Path::Seq { .. } | Path::NewtypeVariant { .. } => None,
    }
}

fn entry<'t>(map: &'t [(rmpv::Value, rmpv::Value)], key: &str) -> Option<&'t rmpv::Value> {
    map.iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn find<'t>(tree: &'t rmpv::Value, path: &[String]) -> Option<&'t rmpv::Value> {
    path.iter().try_fold(tree, |node, key| match node {
        rmpv::Value::Map(map) => entry(map, key),
        _ => None,
    })
}

/// Puts `value` at `path` if the parent is still a map without that key.
fn put_back(tree: &mut rmpv::Value, path: &[String], value: rmpv::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = tree;
    for key in parents {
        let rmpv::Value::Map(map) = node else {
            return;
        };
        let Some((_, child)) = map.iter_mut().find(|(k, _)| k.as_str() == Some(key)) else {
            return;
        };
        node = child;
    }
    if let rmpv::Value::Map(map) = node {
        if entry(map, last).is_none() {
            map.push((rmpv::Value::from(last.as_str()), value));
        }
    }
}

/// A seed that decodes `T` and reports each skipped field to `F`.
struct NoteSkipped<T, F> {
    callback: F,
    _type: PhantomData<fn() -> T>,
}

impl<T, F> NoteSkipped<T, F> {
    fn new(callback: F) -> Self {
        NoteSkipped {
            callback,
            _type: PhantomData,
        }
    }
}

impl<'de, T, F> DeserializeSeed<'de> for NoteSkipped<T, F>
where
    T: Deserialize<'de>,
    F: FnMut(serde_ignored::Path<'_>),
{
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        serde_ignored::deserialize(deserializer, self.callback)
    }
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<String> = self.fields.iter().map(|(p, _)| p.join(".")).collect();
        f.write_str(&paths.join(", "))
    }
}

/// Encodes a record's data in `codec`'s stored format, putting back the
/// unknown fields a load kept.
pub(crate) fn encode<T: Serialize>(
    codec: Codec,
    version: u32,
    data: &T,
    flash: &[FlashMessage],
    meta: &Meta,
    unknown: &Unknown,
    csrf: Option<&CsrfSecret>,
) -> Result<Vec<u8>, CodecError> {
    let envelope = EnvelopeRef {
        data,
        flash,
        meta,
        csrf,
    };
    // Fields kept from a MessagePack body (another release on the default
    // codec) that JSON cannot hold as they are would be changed or refused
    // by a JSON body: such a record is written with a MessagePack body,
    // which every reader takes whatever its codec (the tag says which).
    let codec = match codec {
        Codec::Json if !unknown.fits_json() => Codec::MessagePack,
        other => other,
    };
    let body_tag = match codec {
        Codec::Bincode => return codec.encode(&BincodeRef { data, flash, csrf }),
        Codec::MessagePack => BODY_MESSAGE_PACK,
        Codec::Json => BODY_JSON,
    };
    let mut bytes = Vec::with_capacity(256);
    bytes.push(FORMAT_TAG);
    bytes.push(body_tag);
    bytes.extend_from_slice(&version.to_be_bytes());
    let body = match unknown.is_empty() {
        true => codec.encode(&envelope)?,
        false => {
            let mut tree: rmpv::Value = codec.decode(&codec.encode(&envelope)?)?;
            for (path, value) in &unknown.fields {
                put_back(&mut tree, path, value.clone());
            }
            codec.encode(&tree)?
        }
    };
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Decodes a record's data of any format this release reads (see the
/// module's docs), migrating it to the schema's version.
pub(crate) fn decode<T: DeserializeOwned>(
    codec: Codec,
    schema: &Schema<T>,
    bytes: &[u8],
) -> Result<Decoded<T>, CodecError> {
    let legacy = Body {
        codec: match codec {
            Codec::Json => Codec::Json,
            Codec::MessagePack | Codec::Bincode => Codec::Bincode,
        },
        bytes,
    };
    if codec == Codec::Bincode {
        // bincode records carry no version: they are read as the current one.
        return legacy.decode();
    }
    if bytes.first() != Some(&FORMAT_TAG) {
        return (schema.decode)(0, &legacy);
    }
    let tagged = match tagged_body(bytes) {
        Ok(tagged) => tagged,
        // Only bincode can start with the tag byte by chance.
        Err(error) if legacy.codec == Codec::Bincode => {
            return (schema.decode)(0, &legacy).map_err(|_| error)
        }
        Err(error) => return Err(error),
    };
    let (version, body) = tagged;
    match (schema.decode)(version, &body) {
        Ok(decoded) => Ok(decoded),
        // A previous bincode record that starts like a tag and whose rest is
        // not even a value of the tagged encoding: the previous format.
        Err(error) if legacy.codec == Codec::Bincode && !body.is_well_formed() => {
            (schema.decode)(0, &legacy).map_err(|_| error)
        }
        Err(error) => Err(error),
    }
}

/// The metadata of a stored record, without decoding its data: empty for
/// a record that has none, that is untagged (bincode, or written before the
/// tag) or that does not decode.
pub(crate) fn decode_meta(bytes: &[u8]) -> Meta {
    if bytes.first() != Some(&FORMAT_TAG) {
        return Meta::default();
    }
    tagged_body(bytes)
        .and_then(|(_, body)| body.codec.decode::<MetaOnly>(body.bytes))
        .map(|only| only.meta)
        .unwrap_or_default()
}

/// The schema version and body of a tagged envelope.
fn tagged_body(bytes: &[u8]) -> Result<(u32, Body<'_>), CodecError> {
    let header = bytes.get(..HEADER_LEN).ok_or(CodecError::TruncatedHeader)?;
    let codec = match header[1] {
        BODY_MESSAGE_PACK => Codec::MessagePack,
        BODY_JSON => Codec::Json,
        other => return Err(CodecError::UnknownFormat(other)),
    };
    let version = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
    Ok((
        version,
        Body {
            codec,
            bytes: &bytes[HEADER_LEN..],
        },
    ))
}

impl Body<'_> {
    /// Whether the body is one complete value of its encoding.
    fn is_well_formed(&self) -> bool {
        self.codec
            .decode::<serde::de::IgnoredAny>(self.bytes)
            .is_ok()
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
