//! Encoding session data to the bytes that stores keep.

use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed};
use serde::Serialize;

/// Refuse to decode anything larger: a stored session is a few kilobytes, and
/// a corrupt length prefix must not make us allocate gigabytes.
const DECODE_LIMIT: usize = 16 << 20;

/// How session data becomes bytes.
///
/// - [`Codec::MessagePack`] (default): MessagePack with named fields
///   (`rmp-serde`). Self-describing: a struct is a map from field names to
///   values, so a session type may gain fields (with `#[serde(default)]`),
///   lose them, rename them (with `#[serde(alias)]`) or reorder them, and
///   records written before and after the change load in both versions.
///   Every serde feature works (`flatten`, `untagged`, `tag`,
///   `skip_serializing_if`, `time`'s serde helpers, `serde_json::Value`).
///   Chosen by measurement (`cargo bench -p session-bench --bench codec`,
///   `BENCHMARKS.md`): on the demo's session it is the fastest of the
///   self-describing formats measured (encode + decode about 4.4 µs, against
///   5.2 µs for JSON and 6.4 µs for CBOR via `ciborium`) and as small as
///   CBOR (370 bytes, JSON 459); it costs about 2 µs and 180 bytes more
///   than bincode (2.4 µs, 190 bytes), the price of the field names.
/// - [`Codec::Bincode`]: bincode 2, positional. Smallest and fastest, for
///   types that never change. What it cannot do: it stores no field names,
///   so *any* change to the type (a field added, removed, reordered or
///   renamed, a type changed) makes existing records fail to decode, or
///   worse decode into the wrong fields without an error (two fields of one
///   type swapped); it keeps no unknown fields and records no schema
///   version (migrations of [`SessionSchema`](crate::SessionSchema) types
///   cannot run); it cannot encode types that need a self-describing
///   format (`serde_json::Value`, `#[serde(flatten)]`, `#[serde(tag = ...)]`,
///   `untagged`, `skip_serializing_if`, `time`'s `rfc3339::option`).
/// - [`Codec::Json`]: JSON, self-describing like MessagePack, larger and
///   slower; for people who read the store (for example with
///   `redis-cli GET`).
///
/// These methods encode a plain value. The manager wraps the application's
/// data in the stored envelope (a format tag, the schema version, the data
/// and the flash messages), described in [`SessionSchema`](crate::SessionSchema).
/// Changing the codec makes existing sessions unreadable, except that
/// [`Codec::MessagePack`] also reads the envelope [`Codec::Bincode`] wrote
/// (the previous default), so an upgrade keeps every session; unreadable
/// sessions are treated as absent (fresh sessions), never as errors.
///
/// ```
/// use session_core::Codec;
///
/// let bytes = Codec::Json.encode(&vec![1, 2, 3])?;
/// assert_eq!(bytes, b"[1,2,3]");
/// let back: Vec<u8> = Codec::Bincode.decode(&Codec::Bincode.encode(&vec![1u8, 2])?)?;
/// assert_eq!(back, [1, 2]);
///
/// #[derive(serde::Serialize)]
/// struct Old { a: u8 }
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct New { a: u8, #[serde(default)] b: u8 }
/// let bytes = Codec::MessagePack.encode(&Old { a: 7 })?;
/// assert_eq!(bytes, [0x81, 0xa1, b'a', 7]); // {"a": 7}
/// assert_eq!(Codec::MessagePack.decode::<New>(&bytes)?, New { a: 7, b: 0 });
/// # Ok::<(), session_core::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// MessagePack with named struct fields (`rmp-serde`), the default.
    #[default]
    MessagePack,
    /// bincode 2 with its standard configuration: for types that never
    /// change (see the type's docs for what it cannot do).
    Bincode,
    /// JSON via serde_json.
    Json,
}

/// Session data could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// bincode could not encode the value.
    #[error("bincode could not encode the session data: {0}")]
    BincodeEncode(#[source] bincode::error::EncodeError),
    /// bincode could not decode the bytes.
    #[error("bincode could not decode the session data: {0}")]
    BincodeDecode(#[source] bincode::error::DecodeError),
    /// The bytes decoded but did not end where the value did.
    #[error("the session data has {0} trailing bytes")]
    TrailingBytes(usize),
    /// JSON could not encode or decode the value.
    #[error("JSON could not encode or decode the session data: {0}")]
    Json(#[source] serde_json::Error),
    /// MessagePack could not encode the value.
    #[error("MessagePack could not encode the session data: {0}")]
    MessagePackEncode(#[source] rmp_serde::encode::Error),
    /// MessagePack could not decode the bytes.
    #[error("MessagePack could not decode the session data: {0}")]
    MessagePackDecode(#[source] rmp_serde::decode::Error),
    /// The bytes are over the decoding limit (16 MiB).
    #[error("the session data is {0} bytes, over the decoding limit")]
    TooLarge(usize),
    /// The stored envelope's format tag is not one this release knows.
    #[error("the stored session has an unknown format tag {0:#04x}")]
    UnknownFormat(u8),
    /// The stored envelope ends inside its header.
    #[error("the stored session ends inside its header")]
    TruncatedHeader,
    /// The record was written by a newer schema version than this type's.
    #[error("the stored session has schema version {stored}, newer than this release's {current}")]
    NewerSchema {
        /// The version in the record.
        stored: u32,
        /// The version of the type that tried to read it.
        current: u32,
    },
    /// The record has an older schema version that no migration reaches.
    #[error("the stored session has schema version {stored}, and no migration leads from it to {current}")]
    NoMigration {
        /// The version in the record.
        stored: u32,
        /// The version of the type that tried to read it.
        current: u32,
    },
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

impl Codec {
    /// Encodes a value.
    pub fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            Codec::MessagePack => {
                rmp_serde::encode::to_vec_named(value).map_err(CodecError::MessagePackEncode)
            }
            Codec::Bincode => bincode::serde::encode_to_vec(value, bincode_config())
                .map_err(CodecError::BincodeEncode),
            Codec::Json => serde_json::to_vec(value).map_err(CodecError::Json),
        }
    }

    /// Decodes a value; the bytes must hold exactly one value.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        self.decode_seed(bytes, PhantomData)
    }

    /// Decodes with a serde seed (the envelope's decoder that notes the
    /// fields a type skips); the bytes must hold exactly one value.
    pub(crate) fn decode_seed<'de, S>(
        &self,
        bytes: &'de [u8],
        seed: S,
    ) -> Result<S::Value, CodecError>
    where
        S: DeserializeSeed<'de>,
    {
        if bytes.len() > DECODE_LIMIT {
            return Err(CodecError::TooLarge(bytes.len()));
        }
        match self {
            Codec::MessagePack => {
                // Reading from the slice itself: no read buffer to allocate
                // and no copy of each string, as a reader would need. That
                // deserializer does not tell where it stopped, so the end
                // of the value it read is found by a walk over its markers.
                let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
                let value = seed
                    .deserialize(&mut deserializer)
                    .map_err(CodecError::MessagePackDecode)?;
                match message_pack_end(bytes).map(|end| bytes.len() - end) {
                    Some(0) => Ok(value),
                    Some(extra) => Err(CodecError::TrailingBytes(extra)),
                    // The value decoded, so it is complete: not reached.
                    None => Err(CodecError::MessagePackDecode(
                        rmp_serde::decode::Error::Syntax("the value ends early".into()),
                    )),
                }
            }
            Codec::Bincode => {
                let (value, used) =
                    bincode::serde::seed_decode_from_slice(seed, bytes, bincode_config())
                        .map_err(CodecError::BincodeDecode)?;
                match bytes.len() - used {
                    0 => Ok(value),
                    extra => Err(CodecError::TrailingBytes(extra)),
                }
            }
            Codec::Json => {
                let mut deserializer = serde_json::Deserializer::from_slice(bytes);
                let value = seed
                    .deserialize(&mut deserializer)
                    .map_err(CodecError::Json)?;
                deserializer.end().map_err(CodecError::Json)?;
                Ok(value)
            }
        }
    }
}

/// Where the first MessagePack value in `bytes` ends, or `None` if it is
/// cut short. Called after that value decoded, to tell trailing bytes
/// (which the borrowing deserializer does not report) from none: a walk
/// over the markers and lengths only, each step at least one byte, so it
/// is bounded by the input whatever the lengths claim.
fn message_pack_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    // Values still to step over: one, and then the items of every array
    // and map met on the way.
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let marker = *bytes.get(at)?;
        at += 1;
        let (skip, items) = match marker {
            0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (usize::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (length(bytes, &mut at, 1)?, 0),
            0xc5 | 0xda => (length(bytes, &mut at, 2)?, 0),
            0xc6 | 0xdb => (length(bytes, &mut at, 4)?, 0),
            // ext: a length, then the type byte and the data
            0xc7 => (length(bytes, &mut at, 1)? + 1, 0),
            0xc8 => (length(bytes, &mut at, 2)? + 1, 0),
            0xc9 => (length(bytes, &mut at, 4)? + 1, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            // fixext: the type byte and 1, 2, 4, 8 or 16 bytes
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, items(length(bytes, &mut at, 2)?)?),
            0xdd => (0, items(length(bytes, &mut at, 4)?)?),
            0xde => (0, 2 * items(length(bytes, &mut at, 2)?)?),
            0xdf => (0, 2 * items(length(bytes, &mut at, 4)?)?),
            // 0xc1 is never used
            0xc1 => return None,
        };
        at = at.checked_add(skip).filter(|&end| end <= bytes.len())?;
        pending += items;
    }
    Some(at)
}

/// A big-endian length of `width` bytes at `at`, which moves past it.
fn length(bytes: &[u8], at: &mut usize, width: usize) -> Option<usize> {
    let field = bytes.get(*at..*at + width)?;
    *at += width;
    Some(field.iter().fold(0, |n, &b| (n << 8) | usize::from(b)))
}

/// A count of items as the walk's counter.
fn items(count: usize) -> Option<u64> {
    u64::try_from(count).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
    struct Typical {
        user_id: Option<u64>,
        name: String,
        roles: Vec<String>,
    }

    fn sample() -> Typical {
        Typical {
            user_id: Some(42),
            name: "alice".into(),
            roles: vec!["admin".into()],
        }
    }

    #[test]
    fn both_codecs_round_trip() {
        for codec in [Codec::MessagePack, Codec::Bincode, Codec::Json] {
            let bytes = codec.encode(&sample()).unwrap();
            assert_eq!(codec.decode::<Typical>(&bytes).unwrap(), sample());
        }
    }

    #[test]
    fn message_pack_names_the_fields() {
        let bytes = Codec::MessagePack.encode(&sample()).unwrap();
        // {"user_id": 42, "name": "alice", "roles": ["admin"]}
        let mut expected = vec![0x83, 0xa7];
        expected.extend_from_slice(b"user_id");
        expected.extend_from_slice(&[42, 0xa4]);
        expected.extend_from_slice(b"name");
        expected.push(0xa5);
        expected.extend_from_slice(b"alice");
        expected.push(0xa5);
        expected.extend_from_slice(b"roles");
        expected.extend_from_slice(&[0x91, 0xa5]);
        expected.extend_from_slice(b"admin");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn the_default_is_message_pack() {
        assert_eq!(Codec::default(), Codec::MessagePack);
    }

    #[test]
    fn bincode_is_compact() {
        let bincode = Codec::Bincode.encode(&sample()).unwrap();
        let json = Codec::Json.encode(&sample()).unwrap();
        assert!(
            bincode.len() * 2 < json.len(),
            "{} vs {}",
            bincode.len(),
            json.len()
        );
    }

    #[test]
    fn garbage_and_trailing_bytes_are_errors() {
        let mut bytes = Codec::Bincode.encode(&sample()).unwrap();
        bytes.push(0);
        assert!(matches!(
            Codec::Bincode.decode::<Typical>(&bytes),
            Err(CodecError::TrailingBytes(1))
        ));
        assert!(Codec::Bincode.decode::<Typical>(&[0xff; 8]).is_err());
        assert!(Codec::Json.decode::<Typical>(b"{").is_err());
        let mut bytes = Codec::MessagePack.encode(&sample()).unwrap();
        bytes.push(0xc0);
        assert!(matches!(
            Codec::MessagePack.decode::<Typical>(&bytes),
            Err(CodecError::TrailingBytes(1))
        ));
        assert!(Codec::MessagePack.decode::<Typical>(&[0xc1]).is_err());
        // a string that claims 4 GiB is refused at the end of the input
        assert!(Codec::MessagePack
            .decode::<String>(&[0xdb, 0xff, 0xff, 0xff, 0xff])
            .is_err());
        // a huge length prefix is refused, not allocated
        assert!(Codec::Bincode
            .decode::<Vec<u8>>(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
            .is_err());
    }
    #[test]
    fn the_walk_finds_the_end_of_every_kind_of_value() {
        use rmpv::Value;
        let long = "x".repeat(300);
        let many: Vec<Value> = (0..20).map(Value::from).collect();
        let values = [
            Value::Nil,
            Value::from(true),
            Value::from(7),
            Value::from(-3),
            Value::from(200u8),
            Value::from(60_000u16),
            Value::from(4_000_000_000u32),
            Value::from(u64::MAX),
            Value::from(-100i8),
            Value::from(-30_000i16),
            Value::from(i32::MIN),
            Value::from(i64::MIN),
            Value::F32(1.5),
            Value::F64(2.5),
            Value::from("short"),
            Value::from("y".repeat(40)),
            Value::from(long.as_str()),
            Value::from("z".repeat(70_000)),
            Value::Binary(vec![1, 2, 3]),
            Value::Binary(vec![0; 300]),
            Value::Ext(5, vec![1]),
            Value::Ext(5, vec![1, 2]),
            Value::Ext(5, vec![1; 4]),
            Value::Ext(5, vec![1; 8]),
            Value::Ext(5, vec![1; 16]),
            Value::Ext(5, vec![1; 3]),
            Value::Ext(5, vec![1; 300]),
            Value::Array(many.clone()),
            Value::Map(
                many.iter()
                    .map(|v| (v.clone(), Value::Array(vec![v.clone()])))
                    .collect(),
            ),
            Value::Map(vec![(
                Value::from("k"),
                Value::Array(vec![Value::Nil, Value::from("v")]),
            )]),
        ];
        for value in values {
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, &value).unwrap();
            let end = bytes.len();
            assert_eq!(message_pack_end(&bytes), Some(end), "{value:?}");
            bytes.extend_from_slice(&[0xc0, 0x01]);
            assert_eq!(message_pack_end(&bytes), Some(end), "{value:?} and more");
            assert_eq!(
                message_pack_end(&bytes[..end - 1]),
                None,
                "{value:?} cut short"
            );
        }
        assert_eq!(message_pack_end(&[0xc1]), None);
        // an array that claims 4 billion items ends with the input
        assert_eq!(
            message_pack_end(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]),
            None
        );
    }
}
