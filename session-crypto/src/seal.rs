//! Authenticated encryption: AES-256-GCM under the ring's keys.
//!
//! Layout of a sealed value: `version (1) | key id (4) | nonce (12) |
//! ciphertext | tag (16)`. The associated data is the purpose label, a zero
//! byte, the caller's context, and the version and key id, so a value cannot
//! be moved to another purpose or context, nor relabelled with another key id.

use ring::aead::{Aad, Nonce, NONCE_LEN};

use crate::error::OpenError;
use crate::keyring::{KeyRing, Purpose};
use crate::token::random_bytes;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// Bytes a sealed value adds to its plaintext (header, nonce and tag).
pub const SEAL_OVERHEAD: usize = HEADER_LEN + 16;

/// The result of opening a sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// Whether the sealing (first) key of the ring opened it. When false, the
    /// value was sealed with an older secret and should be sealed again.
    pub sealed_with_primary: bool,
}

fn associated_data(purpose: Purpose, context: &[u8], header: &[u8]) -> Vec<u8> {
    let label = purpose.label();
    let mut aad = Vec::with_capacity(label.len() + 1 + context.len() + 5);
    aad.extend_from_slice(label);
    aad.push(0);
    aad.extend_from_slice(context);
    aad.extend_from_slice(&header[..5]);
    aad
}

impl KeyRing {
    /// Seals `plaintext` with the first key for `purpose`, binding `context`
    /// (for example the cookie name) into the result.
    ///
    /// ```
    /// use session_crypto::{KeyRing, Purpose};
    ///
    /// let ring = KeyRing::generate();
    /// let sealed = ring.seal(Purpose::Field, b"note", b"secret text");
    /// assert_eq!(ring.open(Purpose::Field, b"note", &sealed)?.plaintext, b"secret text");
    /// assert!(ring.open(Purpose::Field, b"other", &sealed).is_err());
    /// # Ok::<(), session_crypto::OpenError>(())
    /// ```
    pub fn seal(&self, purpose: Purpose, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let key = self.primary();
        let nonce = random_bytes::<NONCE_LEN>();
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        out.push(VERSION);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        let aad = associated_data(purpose, context, &out);
        out.extend_from_slice(plaintext);
        let tag = key
            .aead(purpose)
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[HEADER_LEN..],
            )
            // AES-GCM refuses only inputs beyond 64 GiB.
            .expect("AES-256-GCM seals any plaintext below 64 GiB");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens a value sealed by [`seal`](Self::seal) with any key of the ring,
    /// for the same purpose and context. Total: any input gives either the
    /// plaintext or the one opaque [`OpenError`], never a panic.
    pub fn open(
        &self,
        purpose: Purpose,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Opened, OpenError> {
        if sealed.len() < SEAL_OVERHEAD || sealed[0] != VERSION {
            return Err(OpenError(()));
        }
        let header = &sealed[..HEADER_LEN];
        let key_id: [u8; 4] = header[1..5].try_into().map_err(|_| OpenError(()))?;
        let nonce: [u8; NONCE_LEN] = header[5..].try_into().map_err(|_| OpenError(()))?;
        let aad = associated_data(purpose, context, header);
        for (index, key) in self.candidates(key_id) {
            let mut buf = sealed[HEADER_LEN..].to_vec();
            let opened = key.aead(purpose).open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                &mut buf,
            );
            if let Ok(plaintext) = opened {
                let len = plaintext.len();
                buf.truncate(len);
                return Ok(Opened {
                    plaintext: buf,
                    sealed_with_primary: index == 0,
                });
            }
        }
        Err(OpenError(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "secret A secret A secret A secret A";
    const B: &str = "secret B secret B secret B secret B";

    fn ring(secrets: &[&str]) -> KeyRing {
        KeyRing::new(secrets).unwrap()
    }

    #[test]
    fn round_trip_and_overhead() {
        let r = ring(&[A]);
        for len in [0usize, 1, 64, 1024, 3000] {
            let msg = vec![7u8; len];
            let sealed = r.seal(Purpose::Cookie, b"_session", &msg);
            assert_eq!(sealed.len(), len + SEAL_OVERHEAD);
            let opened = r.open(Purpose::Cookie, b"_session", &sealed).unwrap();
            assert_eq!(opened.plaintext, msg);
            assert!(opened.sealed_with_primary);
        }
    }

    #[test]
    fn nonces_differ() {
        let r = ring(&[A]);
        assert_ne!(
            r.seal(Purpose::Cookie, b"c", b"x"),
            r.seal(Purpose::Cookie, b"c", b"x")
        );
    }

    #[test]
    fn purpose_context_and_key_are_bound() {
        let r = ring(&[A]);
        let sealed = r.seal(Purpose::Cookie, b"_session", b"data");
        assert!(r.open(Purpose::Field, b"_session", &sealed).is_err());
        assert!(r.open(Purpose::Cookie, b"_other", &sealed).is_err());
        assert!(ring(&[B])
            .open(Purpose::Cookie, b"_session", &sealed)
            .is_err());
    }

    #[test]
    fn old_keys_open_and_report_it() {
        let old = ring(&[A]).seal(Purpose::Cookie, b"c", b"v");
        let rotated = ring(&[B, A]);
        let opened = rotated.open(Purpose::Cookie, b"c", &old).unwrap();
        assert_eq!(opened.plaintext, b"v");
        assert!(!opened.sealed_with_primary);
    }

    #[test]
    fn every_single_bit_flip_and_truncation_fails() {
        let r = ring(&[A]);
        let sealed = r.seal(Purpose::Cookie, b"c", b"some session bytes");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    r.open(Purpose::Cookie, b"c", &bad).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
        for len in 0..sealed.len() {
            assert!(r.open(Purpose::Cookie, b"c", &sealed[..len]).is_err());
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(r.open(Purpose::Cookie, b"c", &longer).is_err());
    }

    #[test]
    fn swapped_key_id_fails() {
        let both = ring(&[A, B]);
        let mut sealed = both.seal(Purpose::Cookie, b"c", b"v");
        let b_id = ring(&[B]).primary_id();
        sealed[1..5].copy_from_slice(b_id.as_bytes());
        assert!(both.open(Purpose::Cookie, b"c", &sealed).is_err());
    }
}
