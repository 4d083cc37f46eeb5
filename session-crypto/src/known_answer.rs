//! For known-answer tests only, behind the off-by-default
//! `known-answer-tests` feature: sealing with a salt and nonce chosen by the
//! caller, so that a test can pin the exact bytes a format writes (the
//! crate's own tests and those of the stores that seal). No stability
//! promise.
//!
//! Nothing that runs in production can reach this: [`KeyRing::seal`], the
//! cookie store and [`Sealed`](crate::Sealed) always draw their salt and
//! nonces (see the crate docs), and this function builds a one-off subkey
//! that no ring ever seals with. Sealing two values with one salt and
//! nonce under one secret would be the nonce reuse that breaks AES-GCM.

use crate::keyring::{KeyRing, Purpose};

/// Bytes of the salt of a format-2 value.
pub const SALT_LEN: usize = crate::subkey::SALT_LEN;

/// Bytes of the nonce of a format-2 value.
pub const NONCE_LEN: usize = ring::aead::NONCE_LEN;

/// What [`KeyRing::seal`] writes for `plaintext`, had it drawn `salt` and
/// `nonce`: the same layout and the same sealing code, byte for byte.
///
/// ```
/// use session_crypto::{known_answer, KeyRing, Purpose};
///
/// let ring = KeyRing::new(["a fixed secret for a known answer test"])?;
/// let sealed = known_answer::seal_fixed(&ring, Purpose::Field, b"f", b"x", [7; 16], [1; 12]);
/// assert_eq!(sealed, known_answer::seal_fixed(&ring, Purpose::Field, b"f", b"x", [7; 16], [1; 12]));
/// assert_eq!(*ring.open(Purpose::Field, b"f", &sealed)?.plaintext, b"x");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seal_fixed(
    ring: &KeyRing,
    purpose: Purpose,
    context: &[u8],
    plaintext: &[u8],
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    crate::seal::seal_fixed(ring, purpose, context, plaintext, salt, nonce)
}
