//! HMAC-SHA256 signatures under the ring's signing subkeys.

use ring::hmac;

use crate::error::VerifyError;
use crate::keyring::KeyRing;

/// Length of a signature tag in bytes.
pub const TAG_LEN: usize = 32;

/// A signature: HMAC-SHA256 over the signed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(pub(crate) [u8; TAG_LEN]);

impl Tag {
    /// The tag's bytes.
    pub fn as_bytes(&self) -> &[u8; TAG_LEN] {
        &self.0
    }
}

impl AsRef<[u8]> for Tag {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl KeyRing {
    /// Signs `data` with the first key of the ring.
    ///
    /// ```
    /// use session_crypto::KeyRing;
    ///
    /// let ring = KeyRing::generate();
    /// let tag = ring.sign(b"user=42");
    /// assert!(ring.verify(b"user=42", tag.as_ref()).is_ok());
    /// assert!(ring.verify(b"user=43", tag.as_ref()).is_err());
    /// ```
    pub fn sign(&self, data: &[u8]) -> Tag {
        let tag = hmac::sign(&self.primary().signing, data);
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Tag(out)
    }

    /// Verifies a tag against every key of the ring, in constant time for
    /// each key (ring's `hmac::verify`).
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> Result<(), VerifyError> {
        self.all()
            .iter()
            .any(|key| hmac::verify(&key.signing, data, tag).is_ok())
            .then_some(())
            .ok_or(VerifyError(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "secret A secret A secret A secret A";
    const B: &str = "secret B secret B secret B secret B";

    #[test]
    fn rotated_ring_verifies_old_tags() {
        let tag = KeyRing::new([A]).unwrap().sign(b"x");
        assert!(KeyRing::new([B, A])
            .unwrap()
            .verify(b"x", tag.as_ref())
            .is_ok());
        assert!(KeyRing::new([B])
            .unwrap()
            .verify(b"x", tag.as_ref())
            .is_err());
    }

    #[test]
    fn truncated_tag_fails() {
        let ring = KeyRing::new([A]).unwrap();
        let tag = ring.sign(b"x");
        assert!(ring.verify(b"x", &tag.as_ref()[..31]).is_err());
        assert!(ring.verify(b"x", &[]).is_err());
    }
}
