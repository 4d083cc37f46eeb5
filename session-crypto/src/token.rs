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

/// `N` bytes from the operating system's CSPRNG (for tokens, nonces and
/// lock leases).
///
/// ```
/// let a: [u8; 16] = session_crypto::token::random_bytes();
/// let b: [u8; 16] = session_crypto::token::random_bytes();
/// assert_ne!(a, b);
/// ```
pub fn random_bytes<const N: usize>() -> [u8; N] {
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
    ascii_string(random_token_ascii())
}

/// [`random_token`] as its [`TOKEN_LEN`] ASCII bytes, without a heap
/// allocation (for types that keep tokens inline).
///
/// ```
/// let token = session_crypto::token::random_token_ascii();
/// assert!(session_crypto::token::is_well_formed(std::str::from_utf8(&token).unwrap()));
/// ```
pub fn random_token_ascii() -> [u8; TOKEN_LEN] {
    encode_base64url_32(&random_bytes::<32>())
}

/// base64url without padding of 32 bytes: exactly [`TOKEN_LEN`] ASCII
/// characters, without a heap allocation.
///
/// ```
/// use session_crypto::token::{decode_base64url_32, encode_base64url_32};
///
/// let text = encode_base64url_32(&[7; 32]);
/// assert_eq!(decode_base64url_32(std::str::from_utf8(&text).unwrap()), Some([7; 32]));
/// ```
// For the cookie store's format only: hidden from the docs, no stability
// promise (applications use tokens, never their bytes).
#[doc(hidden)]
pub fn encode_base64url_32(bytes: &[u8; 32]) -> [u8; TOKEN_LEN] {
    // By hand rather than through the `base64` engine, whose set-up costs
    // more than the work for 32 bytes; every request makes one token id.
    // The tests check it against the engine.
    let mut out = [0u8; TOKEN_LEN];
    let char_of = |n: u32, shift: u32| ALPHABET[((n >> shift) & 63) as usize];
    for (three, four) in bytes.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        let n = u32::from(three[0]) << 16 | u32::from(three[1]) << 8 | u32::from(three[2]);
        four[0] = char_of(n, 18);
        four[1] = char_of(n, 12);
        four[2] = char_of(n, 6);
        four[3] = char_of(n, 0);
    }
    // 30 bytes made 40 characters; the last 2 bytes make 3 more.
    let n = u32::from(bytes[30]) << 16 | u32::from(bytes[31]) << 8;
    out[40] = char_of(n, 18);
    out[41] = char_of(n, 12);
    out[42] = char_of(n, 6);
    out
}

/// The base64url alphabet.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte outside the alphabet in [`SEXTETS`].
const NOT_BASE64URL: u8 = 0xff;

/// The 6-bit value of each alphabet byte, [`NOT_BASE64URL`] for the others.
const SEXTETS: [u8; 256] = {
    let mut table = [NOT_BASE64URL; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Bytes that are all ASCII, as a `String`.
fn ascii_string(bytes: [u8; TOKEN_LEN]) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
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
    ascii_string(token_id_ascii(token))
}

/// [`token_id`] as its [`TOKEN_LEN`] ASCII bytes, without a heap
/// allocation.
///
/// ```
/// use session_crypto::token::{token_id, token_id_ascii};
///
/// assert_eq!(&token_id_ascii("abc")[..], token_id("abc").as_bytes());
/// ```
pub fn token_id_ascii(token: impl AsRef<[u8]>) -> [u8; TOKEN_LEN] {
    let digest = digest::digest(&digest::SHA256, token.as_ref());
    let mut bytes = [0u8; 32];
    // SHA-256 digests are 32 bytes.
    bytes.copy_from_slice(digest.as_ref());
    encode_base64url_32(&bytes)
}

/// The 32 bytes that `text` encodes, if it is exactly their canonical
/// base64url (no padding, no stray low bits); `None` for anything else.
// For the cookie store's format only: hidden from the docs, no stability
// promise (applications use tokens, never their bytes).
#[doc(hidden)]
pub fn decode_base64url_32(text: &str) -> Option<[u8; 32]> {
    let text: &[u8; TOKEN_LEN] = text.as_bytes().try_into().ok()?;
    let mut out = [0u8; 32];
    let mut sextets = [0u32; TOKEN_LEN];
    for (value, &c) in sextets.iter_mut().zip(text) {
        let sextet = SEXTETS[usize::from(c)];
        if sextet == NOT_BASE64URL {
            return None;
        }
        *value = u32::from(sextet);
    }
    for (four, three) in sextets.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let n = four[0] << 18 | four[1] << 12 | four[2] << 6 | four[3];
        three[0] = (n >> 16) as u8;
        three[1] = (n >> 8) as u8;
        three[2] = n as u8;
    }
    // The last 3 characters carry 16 bits and 2 unused ones, which must be
    // zero in the canonical encoding.
    let n = sextets[40] << 18 | sextets[41] << 12 | sextets[42] << 6;
    if n & 0xff != 0 {
        return None;
    }
    out[30] = (n >> 16) as u8;
    out[31] = (n >> 8) as u8;
    Some(out)
}

/// Whether `value` has the shape of a token (or of an id): exactly
/// [`TOKEN_LEN`] base64url characters. A cheap filter before any store call,
/// through a table because it runs on every request that carries a session
/// cookie.
pub fn is_well_formed(value: &str) -> bool {
    value.len() == TOKEN_LEN
        && value
            .bytes()
            .all(|b| SEXTETS[usize::from(b)] != NOT_BASE64URL)
}

/// Encodes bytes as base64url without padding (the encoding of tokens and
/// sealed cookies).
pub fn encode_base64url(bytes: &[u8]) -> String {
    // Sized exactly and filled in place: `Engine::encode` would zero a
    // buffer first and then check it as UTF-8 once more. Sealed cookies go
    // through here on every response.
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
    text
}

/// Decodes base64url without padding; `None` for anything else.
pub fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    // Room for the decoder's estimate up front (a plain allocation rather
    // than `Engine::decode`'s zeroed one).
    let mut bytes = Vec::with_capacity(text.len().div_ceil(4) * 3);
    URL_SAFE_NO_PAD.decode_vec(text, &mut bytes).ok()?;
    Some(bytes)
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
    fn inline_forms_match_the_strings() {
        let token = random_token_ascii();
        let text = std::str::from_utf8(&token).unwrap();
        assert!(is_well_formed(text));
        assert_eq!(token_id_ascii(text), token_id(text).as_bytes());
        assert_eq!(
            &token_id_ascii("abc")[..],
            b"ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn inline_codec_matches_the_engine() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2000 {
            let mut bytes = [0u8; 32];
            for b in &mut bytes {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            if round == 0 {
                bytes = [0; 32];
            } else if round == 1 {
                bytes = [0xff; 32];
            }
            let text = encode_base64url_32(&bytes);
            let text = std::str::from_utf8(&text).unwrap();
            assert_eq!(text, URL_SAFE_NO_PAD.encode(bytes));
            assert_eq!(decode_base64url_32(text), Some(bytes));
        }
        // Every last character: canonical ones decode, the others not, as
        // the engine has it.
        for &c in ALPHABET.iter() {
            let text = format!("{}{}", "A".repeat(42), char::from(c));
            let engine = URL_SAFE_NO_PAD.decode(&text).ok();
            let ours = decode_base64url_32(&text).map(|b| b.to_vec());
            assert_eq!(ours, engine, "{text}");
        }
        // A byte outside the alphabet anywhere.
        for at in 0..TOKEN_LEN {
            let mut text = "A".repeat(TOKEN_LEN).into_bytes();
            for bad in [b'=', b'+', b'/', 0, 0x80] {
                text[at] = bad;
                let text = String::from_utf8_lossy(&text).into_owned();
                assert_eq!(decode_base64url_32(&text), None);
            }
        }
    }

    #[test]
    fn thirty_two_bytes_round_trip_inline() {
        let bytes = random_bytes::<32>();
        let text = encode_base64url_32(&bytes);
        let text = std::str::from_utf8(&text).unwrap();
        assert_eq!(text, encode_base64url(&bytes));
        assert_eq!(decode_base64url_32(text), Some(bytes));
        // stray low bits in the last character, wrong lengths, wrong alphabet
        let stray = format!("{}B", &"A".repeat(42));
        assert_eq!(decode_base64url_32(&stray), None);
        assert_eq!(decode_base64url(&stray).map(|v| v.len()), None);
        assert_eq!(decode_base64url_32(&text[..42]), None);
        assert_eq!(decode_base64url_32(&format!("{text}A")), None);
        assert_eq!(decode_base64url_32(&format!("{}+", &text[..42])), None);
    }

    #[test]
    fn base64url_matches_the_engine() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for len in 0..data.len() {
            let bytes = &data[..len];
            let text = encode_base64url(bytes);
            assert_eq!(text, URL_SAFE_NO_PAD.encode(bytes), "{len}");
            assert_eq!(decode_base64url(&text).as_deref(), Some(bytes), "{len}");
        }
        for bad in ["a", "ab=", "a+bc", "a/bc", "abcde", "ab cd"] {
            assert_eq!(decode_base64url(bad), None, "{bad}");
        }
    }

    #[test]
    fn shape_check() {
        let alphabet: String = ('A'..='Z').chain('a'..='z').chain('0'..='9').collect();
        assert!(is_well_formed(&format!("{}-_", &alphabet[..41])));
        assert!(is_well_formed(&alphabet[19..]));
        for bad in ['+', '/', '=', '.', ' ', '\0', '~'] {
            assert!(
                !is_well_formed(&format!("{}{bad}", "a".repeat(42))),
                "{bad:?}"
            );
        }
        assert!(!is_well_formed(""));
        assert!(!is_well_formed(&"a".repeat(42)));
        assert!(!is_well_formed(&"a".repeat(44)));
        assert!(!is_well_formed(&format!("{}=", "a".repeat(42))));
        assert!(!is_well_formed(&format!("{}é", "a".repeat(41))));
    }
}
