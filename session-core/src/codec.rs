//! Encoding session data to the bytes that stores keep.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Refuse to decode anything larger: a stored session is a few kilobytes, and
/// a corrupt length prefix must not make us allocate gigabytes.
const DECODE_LIMIT: usize = 16 << 20;

/// How session data becomes bytes.
///
/// - [`Codec::Bincode`] (default): bincode 2, compact and fast. It cannot
///   encode types that need a self-describing format (`serde_json::Value`,
///   `#[serde(flatten)]`, `#[serde(tag = ...)]`, `skip_serializing_if`).
/// - [`Codec::Json`]: JSON, for those types and for people who read the store
///   (for example with `redis-cli GET`).
///
/// Changing the codec makes existing sessions unreadable; they are then
/// treated as absent (fresh sessions), never as errors.
///
/// ```
/// use session_core::Codec;
///
/// let bytes = Codec::Json.encode(&vec![1, 2, 3])?;
/// assert_eq!(bytes, b"[1,2,3]");
/// let back: Vec<u8> = Codec::Bincode.decode(&Codec::Bincode.encode(&vec![1u8, 2])?)?;
/// assert_eq!(back, [1, 2]);
/// # Ok::<(), session_core::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// bincode 2 with its standard configuration.
    #[default]
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
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

impl Codec {
    /// Encodes a value.
    pub fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            Codec::Bincode => bincode::serde::encode_to_vec(value, bincode_config())
                .map_err(CodecError::BincodeEncode),
            Codec::Json => serde_json::to_vec(value).map_err(CodecError::Json),
        }
    }

    /// Decodes a value; the bytes must hold exactly one value.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            Codec::Bincode => {
                let (value, used) = bincode::serde::decode_from_slice(bytes, bincode_config())
                    .map_err(CodecError::BincodeDecode)?;
                match bytes.len() - used {
                    0 => Ok(value),
                    extra => Err(CodecError::TrailingBytes(extra)),
                }
            }
            Codec::Json => serde_json::from_slice(bytes).map_err(CodecError::Json),
        }
    }
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
        for codec in [Codec::Bincode, Codec::Json] {
            let bytes = codec.encode(&sample()).unwrap();
            assert_eq!(codec.decode::<Typical>(&bytes).unwrap(), sample());
        }
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
        // a huge length prefix is refused, not allocated
        assert!(Codec::Bincode
            .decode::<Vec<u8>>(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
            .is_err());
    }
}
