//! Field-level sealing: one field of the session data kept encrypted in the
//! store.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{FieldError, OpenError};
use crate::keyring::{KeyRing, Purpose};
use crate::token::{decode_base64url, encode_base64url};

/// Associated data for field sealing: fields are interchangeable among
/// themselves, but never with cookies.
const FIELD_CONTEXT: &[u8] = b"field";

impl KeyRing {
    /// Seals a string for storage, as base64url text.
    ///
    /// ```
    /// use session_crypto::KeyRing;
    ///
    /// let ring = KeyRing::generate();
    /// let sealed = ring.seal_str("4111 1111 1111 1111");
    /// assert!(!sealed.contains("4111"));
    /// assert_eq!(ring.open_str(&sealed)?, "4111 1111 1111 1111");
    /// # Ok::<(), session_crypto::OpenError>(())
    /// ```
    pub fn seal_str(&self, plaintext: &str) -> String {
        encode_base64url(&self.seal(Purpose::Field, FIELD_CONTEXT, plaintext.as_bytes()))
    }

    /// Opens text made by [`seal_str`](Self::seal_str).
    pub fn open_str(&self, sealed: &str) -> Result<String, OpenError> {
        let bytes = decode_base64url(sealed).ok_or(OpenError(()))?;
        let opened = self.open(Purpose::Field, FIELD_CONTEXT, &bytes)?;
        String::from_utf8(opened.into_plaintext()).map_err(|not_utf8| {
            not_utf8.into_bytes().zeroize();
            OpenError(())
        })
    }
}

/// A value of type `T` kept sealed inside the session data.
///
/// Put it in your session struct where a store dump must not show the value
/// (personal data, notes, tokens of other services). It serializes as the
/// ciphertext only (base64url text in human-readable formats such as JSON,
/// raw bytes otherwise), so whatever store keeps the session never sees the
/// plaintext. Sealing and opening take the [`KeyRing`] explicitly: the value
/// carries no key.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use session_crypto::{KeyRing, Sealed};
///
/// #[derive(Default, Clone, Serialize, Deserialize)]
/// struct Compliance {
///     national_id: Option<Sealed<String>>,
/// }
///
/// let ring = KeyRing::generate();
/// let data = Compliance { national_id: Some(Sealed::seal(&ring, &"756.1234".to_string())?) };
/// let dump = serde_json::to_string(&data).unwrap();
/// assert!(!dump.contains("756.1234"));
/// assert_eq!(data.national_id.unwrap().open(&ring)?, "756.1234");
/// # Ok::<(), session_crypto::FieldError>(())
/// ```
pub struct Sealed<T> {
    ciphertext: Vec<u8>,
    _value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Sealed<T> {
    /// Seals `value` with the ring's first key.
    pub fn seal(ring: &KeyRing, value: &T) -> Result<Self, FieldError> {
        // The encoded value is as secret as the value: wiped once sealed.
        let plaintext = Zeroizing::new(serde_json::to_vec(value).map_err(FieldError::Encode)?);
        Ok(Sealed {
            ciphertext: ring.seal(Purpose::Field, FIELD_CONTEXT, &plaintext),
            _value: PhantomData,
        })
    }

    /// Opens the value with any key of the ring.
    pub fn open(&self, ring: &KeyRing) -> Result<T, FieldError> {
        let opened = ring.open(Purpose::Field, FIELD_CONTEXT, &self.ciphertext)?;
        serde_json::from_slice(&opened.plaintext).map_err(FieldError::Decode)
    }
}

impl<T> Sealed<T> {
    /// The sealed bytes, as stored.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

impl<T> Clone for Sealed<T> {
    fn clone(&self) -> Self {
        Sealed {
            ciphertext: self.ciphertext.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> PartialEq for Sealed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ciphertext == other.ciphertext
    }
}

impl<T> Eq for Sealed<T> {}

impl<T> fmt::Debug for Sealed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

impl<T> Serialize for Sealed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&encode_base64url(&self.ciphertext))
        } else {
            serializer.serialize_bytes(&self.ciphertext)
        }
    }
}

impl<'de, T> Deserialize<'de> for Sealed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let ciphertext = if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            decode_base64url(&text)
                .ok_or_else(|| serde::de::Error::custom("sealed field is not base64url"))?
        } else {
            ByteBuf::deserialize(deserializer)?.0
        };
        Ok(Sealed {
            ciphertext,
            _value: PhantomData,
        })
    }
}

/// Reads bytes from formats that give them as bytes or as a sequence.
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("sealed bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ByteBuf, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(ByteBuf(out))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "secret A secret A secret A secret A";
    const B: &str = "secret B secret B secret B secret B";

    #[test]
    fn json_shows_no_plaintext_and_round_trips() {
        let ring = KeyRing::new([A]).unwrap();
        let sealed = Sealed::seal(&ring, &"my diary".to_string()).unwrap();
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(!json.contains("diary"));
        let back: Sealed<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.open(&ring).unwrap(), "my diary");
    }

    #[test]
    fn wrong_key_and_wrong_type_fail_clearly() {
        let sealed = Sealed::seal(&KeyRing::new([A]).unwrap(), &"text".to_string()).unwrap();
        assert!(matches!(
            sealed.open(&KeyRing::new([B]).unwrap()),
            Err(FieldError::Open(_))
        ));
        let as_number: Sealed<u32> =
            serde_json::from_str(&serde_json::to_string(&sealed).unwrap()).unwrap();
        assert!(matches!(
            as_number.open(&KeyRing::new([A]).unwrap()),
            Err(FieldError::Decode(_))
        ));
    }

    #[test]
    fn field_and_cookie_purposes_do_not_mix() {
        let ring = KeyRing::new([A]).unwrap();
        let cookie = ring.seal(Purpose::Cookie, FIELD_CONTEXT, b"\"x\"");
        assert!(ring.open_str(&encode_base64url(&cookie)).is_err());
    }
}
