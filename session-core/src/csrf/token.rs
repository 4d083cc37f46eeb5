//! The session's CSRF secret and the masked tokens handed out for it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use session_crypto::token::{decode_base64url_32, encode_base64url_32, random_bytes};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Bytes of the secret, and of the mask that hides it in a token.
const SECRET_LEN: usize = 32;

/// Length of a masked token in base64url characters: 64 bytes (the mask
/// and the masked secret), without padding.
pub const TOKEN_LEN: usize = 86;

/// The secret a session keeps for its CSRF tokens: 256 random bits, stored
/// in the session's envelope beside the flash messages (never in the
/// application's data), as base64url text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CsrfSecret([u8; SECRET_LEN]);

impl CsrfSecret {
    /// A new secret from the operating system's CSPRNG.
    pub(crate) fn random() -> Self {
        CsrfSecret(random_bytes())
    }

    /// A token for this secret under a fresh random mask: base64url of
    /// `mask || mask XOR secret`. Each call answers a different string, so
    /// a page that reflects it does not leak the secret through compression
    /// (BREACH), and an observed token says nothing about the next one.
    pub(crate) fn masked(&self) -> String {
        let mask: [u8; SECRET_LEN] = random_bytes();
        let mut masked = [0u8; SECRET_LEN];
        for (out, (m, s)) in masked.iter_mut().zip(mask.iter().zip(self.0.iter())) {
            *out = m ^ s;
        }
        let mut text = String::with_capacity(TOKEN_LEN);
        text.push_str(ascii(&encode_base64url_32(&mask)));
        text.push_str(ascii(&encode_base64url_32(&masked)));
        masked.zeroize();
        text
    }

    /// Whether `token` is a masked token of this secret, compared in
    /// constant time (the time taken does not depend on how many bytes
    /// match). Malformed tokens are simply not valid.
    pub(crate) fn verifies(&self, token: &str) -> bool {
        let Some(unmasked) = unmask(token) else {
            return false;
        };
        bool::from(unmasked.ct_eq(&self.0))
    }
}

/// The secret a well-formed token carries, or `None`.
fn unmask(token: &str) -> Option<[u8; SECRET_LEN]> {
    if token.len() != TOKEN_LEN || !token.is_ascii() {
        return None;
    }
    // Each half is 43 characters: 32 bytes, the last character carrying 4
    // bits of padding (which decode_base64url_32 requires to be zero).
    let (mask, masked) = token.split_at(TOKEN_LEN / 2);
    let (mask, masked) = (decode_base64url_32(mask)?, decode_base64url_32(masked)?);
    let mut secret = [0u8; SECRET_LEN];
    for (out, (m, x)) in secret.iter_mut().zip(mask.iter().zip(masked.iter())) {
        *out = m ^ x;
    }
    Some(secret)
}

fn ascii(bytes: &[u8]) -> &str {
    // base64url output is ASCII.
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl fmt::Debug for CsrfSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfSecret(<redacted>)")
    }
}

impl Drop for CsrfSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Serialize for CsrfSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(ascii(&encode_base64url_32(&self.0)))
    }
}

impl<'de> Deserialize<'de> for CsrfSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode_base64url_32(&text)
            .map(CsrfSecret)
            .ok_or_else(|| serde::de::Error::custom("a CSRF secret is 43 base64url characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_against_its_secret_and_differs_each_time() {
        let secret = CsrfSecret::random();
        let (a, b) = (secret.masked(), secret.masked());
        assert_eq!(a.len(), TOKEN_LEN);
        assert_ne!(a, b, "a fresh mask per token");
        assert!(secret.verifies(&a) && secret.verifies(&b));
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn another_secret_and_malformed_tokens_are_refused() {
        let (secret, other) = (CsrfSecret::random(), CsrfSecret::random());
        let token = other.masked();
        assert!(!secret.verifies(&token));
        let mut flipped = token.clone().into_bytes();
        flipped[60] = if flipped[60] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert!(!other.verifies(&flipped), "one character changed");
        for bad in [
            "",
            "short",
            &token[..85],
            &format!("{token}A"),
            &"é".repeat(43),
        ] {
            assert!(!other.verifies(bad), "{bad:?}");
        }
        // The unmasked secret itself is not a token.
        let bare = ascii(&encode_base64url_32(&other.0)).to_owned();
        assert!(!other.verifies(&bare));
    }

    #[test]
    fn the_secret_round_trips_as_text_and_is_not_shown() {
        let secret = CsrfSecret::random();
        let json = serde_json::to_string(&secret).expect("encodes");
        assert_eq!(json.len(), 43 + 2);
        let back: CsrfSecret = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, secret);
        assert!(serde_json::from_str::<CsrfSecret>("\"nope\"").is_err());
        assert_eq!(format!("{secret:?}"), "CsrfSecret(<redacted>)");
    }

    #[test]
    fn comparison_is_by_subtle_constant_time_equality() {
        // What `verifies` relies on: equal arrays compare equal, and a
        // difference in the first or the last byte is found alike.
        let secret = CsrfSecret::random();
        let mut first = secret.0;
        first[0] ^= 1;
        let mut last = secret.0;
        last[SECRET_LEN - 1] ^= 1;
        assert!(bool::from(secret.0.ct_eq(&secret.0)));
        assert!(!bool::from(first.ct_eq(&secret.0)));
        assert!(!bool::from(last.ct_eq(&secret.0)));
    }
}
