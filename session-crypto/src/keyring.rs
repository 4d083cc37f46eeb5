//! The key ring: secrets, their HKDF subkeys and key ids.

use std::fmt;
use std::sync::Arc;

use ring::aead::{self, LessSafeKey, UnboundKey};
use ring::{hkdf, hmac};

use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::subkey::{Subkeys, BLOCK_BUDGET};

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Fixed HKDF salt: ties every derived key to this library and format version.
const HKDF_SALT: &[u8] = b"typed-sessions/session-crypto/v1";

/// What a derived key is for. Each purpose gets its own subkey, and the
/// purpose is also bound into every sealed value, so a value sealed for one
/// purpose never opens for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Sealing a whole session record into a cookie.
    Cookie,
    /// Sealing one field inside the session data.
    Field,
}

impl Purpose {
    pub(crate) fn label(self) -> &'static [u8] {
        match self {
            Purpose::Cookie => b"cookie-seal",
            Purpose::Field => b"field-seal",
        }
    }
}

/// A short public identifier of one secret, derived from it with HKDF. It
/// travels with each sealed value so that opening tries the right key first;
/// it reveals nothing about the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub(crate) [u8; 4]);

impl KeyId {
    /// The id as bytes.
    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyId({:02x}{:02x}{:02x}{:02x})",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The subkeys derived from one secret.
pub(crate) struct DerivedKeys {
    pub(crate) id: KeyId,
    /// Format 1 (random nonces): kept to open values sealed before format 2.
    cookie_v1: LessSafeKey,
    field_v1: LessSafeKey,
    /// Format 2: per-process subkeys with counter nonces.
    cookie: Subkeys,
    field: Subkeys,
    pub(crate) signing: hmac::Key,
}

impl DerivedKeys {
    fn derive(secret: &[u8], block_budget: u64) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(secret);
        DerivedKeys {
            id: KeyId(derive_bytes(&prk, b"key-id")),
            cookie_v1: derive_aead(&prk, Purpose::Cookie.label()),
            field_v1: derive_aead(&prk, Purpose::Field.label()),
            cookie: Subkeys::new(&prk, Purpose::Cookie.label(), block_budget),
            field: Subkeys::new(&prk, Purpose::Field.label(), block_budget),
            signing: derive_hmac(&prk, b"signing"),
        }
    }

    /// The format-1 key of `purpose` (opening only).
    pub(crate) fn aead_v1(&self, purpose: Purpose) -> &LessSafeKey {
        match purpose {
            Purpose::Cookie => &self.cookie_v1,
            Purpose::Field => &self.field_v1,
        }
    }

    /// The format-2 subkeys of `purpose`.
    pub(crate) fn subkeys(&self, purpose: Purpose) -> &Subkeys {
        match purpose {
            Purpose::Cookie => &self.cookie,
            Purpose::Field => &self.field,
        }
    }
}

/// An output length for HKDF where ring has no key type of its own.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

// `expand` and `fill` fail only for outputs longer than 255 hash lengths;
// ours are at most 32 bytes, so the `expect`s below cannot fire.

fn derive_aead(prk: &hkdf::Prk, label: &[u8]) -> LessSafeKey {
    let info = [label];
    let okm = prk
        .expand(&info, &aead::AES_256_GCM)
        .expect("HKDF output length is far below the limit");
    LessSafeKey::new(UnboundKey::from(okm))
}

fn derive_hmac(prk: &hkdf::Prk, label: &[u8]) -> hmac::Key {
    let info = [label];
    let okm = prk
        .expand(&info, hmac::HMAC_SHA256)
        .expect("HKDF output length is far below the limit");
    hmac::Key::from(okm)
}

fn derive_bytes<const N: usize>(prk: &hkdf::Prk, label: &[u8]) -> [u8; N] {
    let info = [label];
    let mut out = [0u8; N];
    prk.expand(&info, Len(N))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF output length is far below the limit");
    out
}

/// One or more secrets, ready to seal, open, sign and verify.
///
/// The first secret seals and signs; every secret opens and verifies. To
/// rotate, put the new secret first and keep the old one after it until the
/// values it sealed have expired. Cloning is cheap (the keys are shared,
/// and so are the per-process sealing subkeys and their nonce counters: see
/// the crate docs on the per-key budget).
///
/// `Debug` shows only the key ids, never key material.
#[derive(Clone)]
pub struct KeyRing {
    keys: Arc<[DerivedKeys]>,
}

impl KeyRing {
    /// Builds a ring from secrets, the first of which seals. Each secret must
    /// be at least [`MIN_SECRET_LEN`] bytes.
    ///
    /// ```
    /// use session_crypto::{KeyError, KeyRing};
    ///
    /// assert!(KeyRing::new(["0123456789abcdef0123456789abcdef"]).is_ok());
    /// assert_eq!(
    ///     KeyRing::new(["too short"]).unwrap_err(),
    ///     KeyError::SecretTooShort { index: 0, length: 9 }
    /// );
    /// ```
    pub fn new<I, S>(secrets: I) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        Self::with_block_budget(secrets, BLOCK_BUDGET)
    }

    /// [`new`](Self::new) with another budget of AES blocks per sealing
    /// subkey: small ones let the tests watch subkeys rotate.
    pub(crate) fn with_block_budget<I, S>(secrets: I, block_budget: u64) -> Result<Self, KeyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut keys = Vec::new();
        for (index, secret) in secrets.into_iter().enumerate() {
            let secret = secret.as_ref();
            if secret.len() < MIN_SECRET_LEN {
                return Err(KeyError::SecretTooShort {
                    index,
                    length: secret.len(),
                });
            }
            keys.push(DerivedKeys::derive(secret, block_budget));
        }
        if keys.is_empty() {
            return Err(KeyError::NoSecret);
        }
        Ok(KeyRing { keys: keys.into() })
    }

    /// A ring with one fresh random secret: for development and tests, where
    /// sessions need not survive a restart.
    pub fn generate() -> Self {
        let secret = Zeroizing::new(crate::token::random_bytes::<32>());
        Self::new([&*secret]).expect("a 32-byte secret is long enough")
    }

    /// Parses a comma-separated list of secrets, the form used by the
    /// `SESSION_SECRET` environment variable (`new,old`). Blank items are
    /// ignored.
    ///
    /// ```
    /// use session_crypto::KeyRing;
    ///
    /// let ring = KeyRing::from_comma_separated(
    ///     "a brand new secret, also 32 bytes,an old secret that is at least 32 bytes long",
    /// );
    /// // a comma inside a secret splits it: choose secrets without commas
    /// assert!(ring.is_err());
    /// ```
    pub fn from_comma_separated(secrets: &str) -> Result<Self, KeyError> {
        Self::new(secrets.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }

    /// The id of the sealing (first) key.
    pub fn primary_id(&self) -> KeyId {
        self.primary().id
    }

    /// How many secrets the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring holds at least one secret.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn primary(&self) -> &DerivedKeys {
        &self.keys[0]
    }

    /// Keys whose id matches first, in ring order; a sealed value names its key.
    pub(crate) fn candidates(&self, id: [u8; 4]) -> impl Iterator<Item = (usize, &DerivedKeys)> {
        self.keys
            .iter()
            .enumerate()
            .filter(move |(_, k)| k.id.0 == id)
    }

    pub(crate) fn all(&self) -> &[DerivedKeys] {
        &self.keys
    }

    /// A ring whose keys all carry the id of the last one: key ids are 32
    /// bits, so two secrets of one ring may share one, and opening must
    /// then try both.
    #[cfg(test)]
    pub(crate) fn with_one_id(secrets: &[&str]) -> Self {
        let mut keys: Vec<DerivedKeys> = secrets
            .iter()
            .map(|s| DerivedKeys::derive(s.as_bytes(), BLOCK_BUDGET))
            .collect();
        if let Some(id) = keys.last().map(|k| k.id) {
            for key in &mut keys {
                key.id = id;
            }
        }
        KeyRing { keys: keys.into() }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field(
                "key_ids",
                &self.keys.iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "secret A secret A secret A secret A";
    const B: &str = "secret B secret B secret B secret B";

    #[test]
    fn refuses_short_and_missing_secrets() {
        assert_eq!(
            KeyRing::new(Vec::<&str>::new()).unwrap_err(),
            KeyError::NoSecret
        );
        assert_eq!(
            KeyRing::new([A, "31 bytes long.................."]).unwrap_err(),
            KeyError::SecretTooShort {
                index: 1,
                length: 31
            }
        );
        assert!(KeyRing::new(["x".repeat(32)]).is_ok());
    }

    #[test]
    fn key_ids_are_stable_and_distinct() {
        let a1 = KeyRing::new([A]).unwrap();
        let a2 = KeyRing::new([A, B]).unwrap();
        let b = KeyRing::new([B]).unwrap();
        assert_eq!(a1.primary_id(), a2.primary_id());
        assert_ne!(a1.primary_id(), b.primary_id());
    }

    #[test]
    fn comma_separated_keeps_order() {
        let ring = KeyRing::from_comma_separated(&format!(" {B} , {A} ,")).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.primary_id(), KeyRing::new([B]).unwrap().primary_id());
    }

    #[test]
    fn derived_key_bytes_are_wiped_on_drop() {
        // The byte keys the ring holds (the format-2 roots) sit in a type
        // that zeroizes on drop; ring's own key types cannot (crate docs).
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let ring = KeyRing::new([A]).unwrap();
        for purpose in [Purpose::Cookie, Purpose::Field] {
            let root = ring.primary().subkeys(purpose).root();
            wiped_on_drop(root);
            assert_ne!(**root, [0u8; 32]);
        }
        assert_ne!(
            **ring.primary().subkeys(Purpose::Cookie).root(),
            **ring.primary().subkeys(Purpose::Field).root()
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!("{:?}", KeyRing::new([A]).unwrap());
        assert!(text.starts_with("KeyRing { key_ids: [KeyId("), "{text}");
        assert!(!text.contains("secret"));
    }
}
