//! Field-level sealing: one field of the session data kept encrypted in the
//! store.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{FieldError, OpenError};
use crate::keyring::{KeyRing, Purpose};
use crate::seal::{is_format_1, Opened};
use crate::token::{decode_base64url, encode_base64url};

/// The associated data of every field sealed before fields were bound to
/// their names (format 1): one constant, so such a value opens in any field.
const LEGACY_FIELD_CONTEXT: &[u8] = b"field";

/// Opens the sealed value of field `field`. A value of format 2 (all that
/// this crate seals) opens only for the field it was sealed for; a value of
/// format 1 was sealed under the one legacy context and opens in any field.
fn open_field(ring: &KeyRing, field: &str, sealed: &[u8]) -> Result<Opened, OpenError> {
    let context = if is_format_1(sealed) {
        LEGACY_FIELD_CONTEXT
    } else {
        field.as_bytes()
    };
    ring.open(Purpose::Field, context, sealed)
}

impl KeyRing {
    /// Seals a string for storage in the field named `field`, as base64url
    /// text. The name is bound in: the text opens with
    /// [`open_str`](Self::open_str) for this field name only, so whoever can
    /// write the store cannot move it to another field (nor to another
    /// application's field of another name). Use the field's name, or a
    /// qualified one (`"billing.card"`) where two kinds of data could share
    /// a name.
    ///
    /// ```
    /// use session_crypto::KeyRing;
    ///
    /// let ring = KeyRing::generate();
    /// let sealed = ring.seal_str("card", "4111 1111 1111 1111");
    /// assert!(!sealed.contains("4111"));
    /// assert_eq!(ring.open_str("card", &sealed)?, "4111 1111 1111 1111");
    /// assert!(ring.open_str("nickname", &sealed).is_err());
    /// # Ok::<(), session_crypto::OpenError>(())
    /// ```
    pub fn seal_str(&self, field: &str, plaintext: &str) -> String {
        encode_base64url(&self.seal(Purpose::Field, field.as_bytes(), plaintext.as_bytes()))
    }

    /// Opens text that [`seal_str`](Self::seal_str) sealed for the field
    /// named `field`.
    ///
    /// Text sealed before fields were bound to their names (session-crypto's
    /// format 1) still opens, whatever `field` is: such legacy values are not
    /// field-bound, and sealing the text again (on the session's next write)
    /// makes it so.
    pub fn open_str(&self, field: &str, sealed: &str) -> Result<String, OpenError> {
        let bytes = decode_base64url(sealed).ok_or(OpenError(()))?;
        let opened = open_field(self, field, &bytes)?;
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
/// Each value is bound to the name of its field: [`seal`](Self::seal) and
/// [`open`](Self::open) take it, and a ciphertext moved to another field (by
/// anyone who can write the store) does not open there. Pass the field's
/// name, the same at both ends; where two applications share a secret and a
/// store, qualify it (`"shop.national_id"`).
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
/// let id = Sealed::seal(&ring, "national_id", &"756.1234".to_string())?;
/// let data = Compliance { national_id: Some(id) };
/// let dump = serde_json::to_string(&data).unwrap();
/// assert!(!dump.contains("756.1234"));
/// let sealed = data.national_id.unwrap();
/// assert_eq!(sealed.open(&ring, "national_id")?, "756.1234");
/// assert!(sealed.open(&ring, "nickname").is_err());
/// # Ok::<(), session_crypto::FieldError>(())
/// ```
///
/// # Values sealed before field binding
///
/// Values sealed by earlier versions of this crate (format 1) carry one
/// constant context for every field. They still open, in whichever field
/// they are found, so sessions written before an upgrade keep working; but
/// they are not bound to their field until sealed again.
/// [`is_field_bound`](Self::is_field_bound) tells them apart: seal such a
/// value again on the next write.
pub struct Sealed<T> {
    ciphertext: Vec<u8>,
    _value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Sealed<T> {
    /// Seals `value` with the ring's first key, for the field named `field`.
    pub fn seal(ring: &KeyRing, field: &str, value: &T) -> Result<Self, FieldError> {
        // The encoded value is as secret as the value: wiped once sealed.
        let plaintext = Zeroizing::new(serde_json::to_vec(value).map_err(FieldError::Encode)?);
        Ok(Sealed {
            ciphertext: ring.seal(Purpose::Field, field.as_bytes(), &plaintext),
            _value: PhantomData,
        })
    }

    /// Opens the value of the field named `field` with any key of the ring.
    /// A value sealed for another field name fails with
    /// [`FieldError::Open`]; a legacy value (see the type's docs) opens in
    /// any field.
    pub fn open(&self, ring: &KeyRing, field: &str) -> Result<T, FieldError> {
        let opened = open_field(ring, field, &self.ciphertext)?;
        serde_json::from_slice(&opened.plaintext).map_err(FieldError::Decode)
    }
}

impl<T> Sealed<T> {
    /// The sealed bytes, as stored.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Whether the value is bound to the name of its field: true for every
    /// value this version seals, false for one sealed before field binding,
    /// which opens in any field and should be sealed again.
    ///
    /// ```
    /// use session_crypto::{KeyRing, Sealed};
    ///
    /// let ring = KeyRing::generate();
    /// assert!(Sealed::seal(&ring, "note", &"text".to_string())?.is_field_bound());
    /// # Ok::<(), session_crypto::FieldError>(())
    /// ```
    pub fn is_field_bound(&self) -> bool {
        !is_format_1(&self.ciphertext)
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
        let sealed = Sealed::seal(&ring, "diary", &"my diary".to_string()).unwrap();
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(!json.contains("diary"));
        let back: Sealed<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.open(&ring, "diary").unwrap(), "my diary");
    }

    #[test]
    fn wrong_key_and_wrong_type_fail_clearly() {
        let sealed = Sealed::seal(&KeyRing::new([A]).unwrap(), "f", &"text".to_string()).unwrap();
        assert!(matches!(
            sealed.open(&KeyRing::new([B]).unwrap(), "f"),
            Err(FieldError::Open(_))
        ));
        let as_number: Sealed<u32> =
            serde_json::from_str(&serde_json::to_string(&sealed).unwrap()).unwrap();
        assert!(matches!(
            as_number.open(&KeyRing::new([A]).unwrap(), "f"),
            Err(FieldError::Decode(_))
        ));
    }

    #[test]
    fn a_value_moved_to_another_field_does_not_open() {
        #[derive(Serialize, Deserialize)]
        struct Profile {
            nickname: Sealed<String>,
            national_id: Sealed<String>,
        }
        let ring = KeyRing::new([A]).unwrap();
        let profile = Profile {
            nickname: Sealed::seal(&ring, "nickname", &"kim".to_string()).unwrap(),
            national_id: Sealed::seal(&ring, "national_id", &"756.1234".to_string()).unwrap(),
        };
        // Whoever can write the store swaps the two ciphertexts.
        let mut json: serde_json::Value = serde_json::to_value(&profile).unwrap();
        let id = json["national_id"].take();
        json["national_id"] = json["nickname"].take();
        json["nickname"] = id;
        let swapped: Profile = serde_json::from_value(json).unwrap();
        assert!(swapped.nickname.open(&ring, "nickname").is_err());
        assert!(swapped.national_id.open(&ring, "national_id").is_err());
        // where they belong they open
        assert_eq!(profile.nickname.open(&ring, "nickname").unwrap(), "kim");
        assert!(profile.nickname.is_field_bound());
    }

    #[test]
    fn a_value_sealed_for_a_does_not_open_as_b() {
        let ring = KeyRing::new([A]).unwrap();
        let sealed = Sealed::seal(&ring, "a", &7u32).unwrap();
        assert_eq!(sealed.open(&ring, "a").unwrap(), 7);
        assert!(matches!(sealed.open(&ring, "b"), Err(FieldError::Open(_))));
        // nor under the legacy constant context
        assert!(sealed.open(&ring, "field").is_err());
        let text = ring.seal_str("a", "secret");
        assert_eq!(ring.open_str("a", &text).unwrap(), "secret");
        assert!(ring.open_str("b", &text).is_err());
        assert!(ring.open_str("", &text).is_err());
    }

    #[test]
    fn field_and_cookie_purposes_do_not_mix() {
        let ring = KeyRing::new([A]).unwrap();
        let cookie = ring.seal(Purpose::Cookie, b"f", b"\"x\"");
        assert!(ring.open_str("f", &encode_base64url(&cookie)).is_err());
    }
}
