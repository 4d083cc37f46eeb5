//! Random session tokens and the ids derived from them.
//!
//! The cookie carries the token; a server-side store keys the record by
//! [`token_id`], the SHA-256 of the token. A leaked store dump therefore holds
//! no value that a browser could present as a cookie.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// Length of a token (and of a token id) in base64url characters: 32 bytes.
pub const TOKEN_LEN: usize = 43;

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // `SystemRandom` fails only when the OS has no entropy source at all
    // (getrandom unavailable); no session can be made safely then.
    SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random number generator failed");
    out
}

/// A new random token: 256 bits from `SystemRandom`, base64url without
/// padding ([`TOKEN_LEN`] characters).
///
/// ```
/// let token = session_crypto::token::random_token();
/// assert_eq!(token.len(), session_crypto::token::TOKEN_LEN);
/// assert!(session_crypto::token::is_well_formed(&token));
/// ```
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The storage id of a token: base64url(SHA-256(token)), [`TOKEN_LEN`]
/// characters.
///
/// ```
/// use session_crypto::token::{random_token, token_id};
///
/// let token = random_token();
/// assert_eq!(token_id(&token), token_id(&token));
/// assert_ne!(token_id(&token), token);
/// ```
pub fn token_id(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Whether `value` has the shape of a token (or of an id): exactly
/// [`TOKEN_LEN`] base64url characters. A cheap filter before any store call.
pub fn is_well_formed(value: &str) -> bool {
    value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Encodes bytes as base64url without padding (the encoding of tokens and
/// sealed cookies).
pub fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` for anything else.
pub fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tokens_are_unique_and_well_formed() {
        let tokens: HashSet<String> = (0..1000).map(|_| random_token()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(tokens.iter().all(|t| is_well_formed(t)));
    }

    #[test]
    fn token_id_is_sha256_base64url() {
        // SHA-256("abc") is the FIPS 180-2 test vector ba7816bf...
        assert_eq!(
            token_id("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn shape_check() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed(&"a".repeat(42)));
        assert!(!is_well_formed(&"a".repeat(44)));
        assert!(!is_well_formed(&format!("{}=", "a".repeat(42))));
        assert!(!is_well_formed(&format!("{}é", "a".repeat(41))));
    }
}
